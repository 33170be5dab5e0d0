/* queue.c: the reference's first Queue example (17.2.1.3):
 *
 *   from multiprocessing import Process, Queue
 *
 *   def f(q):
 *       q.put([42, None, 'hello'])
 *
 *   if __name__ == '__main__':
 *       q = Queue()
 *       p = Process(target=f, args=(q,))
 *       p.start()
 *       print(q.get())    # prints "[42, None, 'hello']"
 *       p.join()
 *
 * Python pickles the list; here it is an mp_obj, which travels encoded and
 * prints as Python's repr. The queue pointer is the process's argument: a
 * forked child uses the parent's queue as is. */
#include <stdio.h>

#include <mproc.h>
#include "check.h"

static int f(void *arg, size_t len) {
  mp_queue *q = *(mp_queue **)arg;
  (void)len;
  mp_obj *item = mp_obj_build("[i N s]", 42, "hello");
  int rc = mp_queue_put_obj(q, item, MP_FOREVER);
  mp_obj_free(item);
  return rc == 0 ? 0 : 1;
}

int main(void) {
  mp_queue *q = mp_queue_new(0);
  if (!q) {
    fprintf(stderr, "mp_queue_new: %s\n", mp_strerror(errno));
    return 1;
  }
  mp_process *p = mp_process_new(f, &q, sizeof q, NULL);
  if (!p || mp_process_start(p) != 0) {
    fprintf(stderr, "could not start the process\n");
    return 1;
  }
  mp_obj *item;
  int rc = mp_queue_get_obj(q, &item, MP_FOREVER);
  if (rc != 0) {
    fprintf(stderr, "get: %s\n", mp_strerror(rc));
    return 1;
  }
  mp_obj_print(item, stdout); /* print(q.get()): "[42, None, 'hello']" */
  mp_obj_free(item);
  CHECK(mp_process_join(p, MP_FOREVER));
  mp_process_free(p);
  mp_queue_free(q);
  return 0;
}
