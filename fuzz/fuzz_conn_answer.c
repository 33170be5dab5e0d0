/* fuzz_conn_answer.c: the answering side of the handshake
 * (mp_answer_challenge, what Client runs first) against a peer that sends
 * arbitrary bytes: a challenge, then a verdict, or garbage anywhere. The
 * input goes into one end of a socketpair, whose writing side is then shut;
 * the replies pile up unread in the other direction. */
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mproc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 65536) /* stays within the socket buffer: no blocking */
    return 0;
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
    int rc = mp_answer_challenge(c, "key", 3);
    (void)rc;
    mp_conn_free(c);
  }
  close(sv[1]);
  return 0;
}
