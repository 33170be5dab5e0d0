/* queue_peer: a program that did not inherit a queue by fork. It attaches
 * to the queue whose memfd it was given (as a descriptor number), takes N
 * items (each a uint32 sequence number, checked in order), then puts one
 * reply item: N + 1000. Used by test_queue.c.
 * Usage: queue_peer FD N */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "mproc.h"
#include "queue/queue_internal.h"

int main(int argc, char **argv) {
  if (argc != 3)
    return 2;
  int fd = atoi(argv[1]);
  uint32_t n = (uint32_t)strtoul(argv[2], NULL, 10);
  mp_queue *q = mp__queue_attach(fd);
  if (!q) {
    perror("queue_peer: attach");
    return 3;
  }
  mp__close(fd); /* the mapping keeps its own descriptor */
  for (uint32_t i = 0; i < n; i++) {
    uint32_t v;
    size_t len;
    int r = mp_queue_get_into(q, &v, sizeof v, &len, 10.0);
    if (r != 0 || len != sizeof v || v != i) {
      fprintf(stderr, "queue_peer: item %u: %s (len %zu, value %u)\n", i,
              mp_strerror(r), len, v);
      return 4;
    }
  }
  uint32_t reply = n + 1000;
  int r = mp_queue_put(q, &reply, sizeof reply, 10.0);
  mp_queue_free(q);
  return r == 0 ? 0 : 5;
}
