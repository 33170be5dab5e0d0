/* fuzz_bootstrap.c: the bootstrap decoder of spawn and forkserver children
 * (src/process/bootstrap.c), fed arbitrary bytes through a real socket with
 * real descriptors attached (data[0] % 9 of them, copies of /dev/null).
 * Decoding must fail with a code or give a bootstrap that frees cleanly,
 * never crash, read past the message or leak a descriptor: after each
 * input the lowest free descriptor is the one it was before it. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "process/start_internal.h"
#include "shm/shm_internal.h"

static int g_null = -1;

static _Noreturn void die(const char *why) {
  fprintf(stderr, "fuzz_bootstrap: %s\n", why);
  abort();
}

static int lowest_free(void) {
  int fd = dup(0 <= g_null ? g_null : 0);
  if (fd >= 0)
    close(fd);
  return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (g_null < 0) {
    g_null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (g_null < 0)
      die("open /dev/null");
  }
  if (size < 2 || size > 60000)
    return 0;
  int lowest = lowest_free();
  size_t nfds = data[0] % 9;
  int fds[8];
  for (size_t i = 0; i < nfds; i++)
    fds[i] = g_null;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    die("socketpair");
  int big = 1 << 20;
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  if (mp__send_fds(sv[0], data + 1, size - 1, fds, nfds) < 0)
    die("send");
  shutdown(sv[0], SHUT_WR);
  mp__deadline dl;
  mp__deadline_init(&dl, 0);
  mp__boot b;
  if (mp__boot_recv(sv[1], &b, &dl) == 0) {
    /* What a child would look at. */
    if (b.passed)
      for (size_t i = 0; i < b.passed->n; i++)
        if (b.passed->items[i].h.nparts > MP_HANDLE_MAX_PARTS)
          die("a passed handle with too many parts");
    if (b.len && !b.arg)
      die("argument bytes missing");
    mp__boot_free(&b);
  }
  close(sv[0]);
  close(sv[1]);
  if (lowest_free() != lowest)
    die("a received descriptor leaked");
  return 0;
}
