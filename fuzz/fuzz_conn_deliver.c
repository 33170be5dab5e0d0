/* fuzz_conn_deliver.c: the delivering side of the handshake
 * (mp_deliver_challenge_digest, what Listener.accept runs first) against
 * a peer whose reply is arbitrary bytes. The first byte picks the
 * challenge's digest (or the legacy form); the rest is the peer's stream.
 * A random challenge cannot be answered correctly, so a success here would
 * be a forged authentication: the target traps on it. */
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mproc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *const digests[] = {"sha256", "md5", "sha384", "sha3_256",
                                        "sha3_384", NULL};
  if (size < 1 || size > 65536)
    return 0;
  const char *digest = digests[data[0] % 6];
  data++;
  size--;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    return 0;
  if (size && write(sv[1], data, size) != (ssize_t)size) {
    close(sv[0]);
    close(sv[1]);
    return 0;
  }
  shutdown(sv[1], SHUT_WR);
  mp_conn *c = mp_conn_from_fd(sv[0], true, true);
  if (c) {
    if (mp_deliver_challenge_digest(c, "key", 3, digest) == 0)
      __builtin_trap();
    mp_conn_free(c);
  }
  close(sv[1]);
  return 0;
}
