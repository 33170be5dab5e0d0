/* queue_deadlock.c: the reference's "Joining processes that use queues"
 * example, which deadlocks in Python:
 *
 *   def f(q):
 *       q.put('X' * 1000000)
 *
 *   queue = Queue()
 *   p = Process(target=f, args=(queue,))
 *   p.start()
 *   p.join()                    # this deadlocks
 *   obj = queue.get()
 *
 * In Python the child cannot exit until a feeder thread has pushed the
 * megabyte through a pipe nobody reads. mproc has no feeder thread: when
 * put returns the item is in the queue's shared memory, so the child exits,
 * join returns, and get finds the item. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mproc.h>
#include "check.h"

static int f(void *arg, size_t len) {
  mp_queue *q = *(mp_queue **)arg;
  (void)len;
  size_t n = 1000000;
  char *x = malloc(n);
  if (!x)
    return 1;
  memset(x, 'X', n);
  int rc = mp_queue_put(q, x, n, MP_FOREVER);
  free(x);
  return rc == 0 ? 0 : 1;
}

int main(void) {
  mp_queue *queue = mp_queue_new(0);
  if (!queue) {
    fprintf(stderr, "mp_queue_new: %s\n", mp_strerror(errno));
    return 1;
  }
  mp_process *p = mp_process_new(f, &queue, sizeof queue, NULL);
  if (!p || mp_process_start(p) != 0) {
    fprintf(stderr, "could not start the process\n");
    return 1;
  }
  mp_process_join(p, MP_FOREVER); /* does not deadlock here */
  int code = -1;
  CHECK(mp_process_exitcode(p, &code));
  void *obj;
  size_t len;
  int rc = mp_queue_get(queue, &obj, &len, MP_FOREVER);
  if (rc != 0) {
    fprintf(stderr, "get: %s\n", mp_strerror(rc));
    return 1;
  }
  size_t xs = 0;
  while (xs < len && ((char *)obj)[xs] == 'X')
    xs++;
  printf("joined the child (exit code %d), then got %zu bytes, %s\n", code,
         len, xs == len ? "all 'X'" : "corrupt");
  mp_free(obj);
  mp_process_free(p);
  mp_queue_free(queue);
  return 0;
}
