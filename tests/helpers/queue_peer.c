/* queue_peer: a program that did not inherit a queue by fork. It receives
 * the queue's handle on a Unix socket (mp_handle_recv), opens it, takes N
 * items (each a uint32 sequence number, checked in order), then puts one
 * reply item: N + 1000. Used by test_queue.c.
 * Usage: queue_peer SOCKFD N */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "mproc.h"

int main(int argc, char **argv) {
  if (argc != 3)
    return 2;
  int sock = atoi(argv[1]);
  uint32_t n = (uint32_t)strtoul(argv[2], NULL, 10);
  mp_handle h;
  int r = mp_handle_recv(sock, &h, 10.0);
  if (r != 0) {
    fprintf(stderr, "queue_peer: recv: %s\n", mp_strerror(r));
    return 3;
  }
  mp_queue *q = mp_queue_open(&h);
  mp_handle_close(&h); /* the queue keeps its own descriptor */
  if (!q) {
    fprintf(stderr, "queue_peer: open: %s\n", mp_strerror(mp_errno_code(errno)));
    return 3;
  }
  for (uint32_t i = 0; i < n; i++) {
    uint32_t v;
    size_t len;
    r = mp_queue_get_into(q, &v, sizeof v, &len, 10.0);
    if (r != 0 || len != sizeof v || v != i) {
      fprintf(stderr, "queue_peer: item %u: %s (len %zu, value %u)\n", i,
              mp_strerror(r), len, v);
      return 4;
    }
  }
  uint32_t reply = n + 1000;
  r = mp_queue_put(q, &reply, sizeof reply, 10.0);
  mp_queue_free(q);
  return r == 0 ? 0 : 5;
}
