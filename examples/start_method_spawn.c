/* start_method_spawn.c: the reference's set_start_method example (17.2.1.2):
 *
 *   import multiprocessing as mp
 *
 *   def foo(q):
 *       q.put('hello')
 *
 *   if __name__ == '__main__':
 *       mp.set_start_method('spawn')
 *       q = mp.Queue()
 *       p = mp.Process(target=foo, args=(q,))
 *       p.start()
 *       print(q.get())
 *       p.join()
 *
 * A spawned child runs this program again but never enters main: the
 * library recognises it first and runs foo. A pointer to the queue would
 * mean nothing there, so the queue is passed explicitly, in one call on
 * each side: mp_process_pass(p, q) here, mp_inherited(0, &q) in foo (a
 * handle underneath, as Python pickles it; the handle calls
 * mp_queue_handle / mp_process_pass_handle / mp_inherited_handle /
 * mp_queue_open are the general form). */
#include <stdio.h>

#include <mproc.h>
#include "check.h"

static int foo(void *arg, size_t len) {
  (void)arg;
  (void)len;
  mp_queue *q;
  CHECK(mp_inherited(0, &q)); /* the queue the parent passed */
  int rc = mp_queue_put(q, "hello", 5, MP_FOREVER);
  mp_queue_free(q);
  return rc == 0 ? 0 : 1;
}

int main(void) {
  CHECK(mp_set_start_method(MP_START_SPAWN, false));
  mp_queue *q = CHECKP(mp_queue_new(0));
  mp_process *p = mp_process_new(foo, NULL, 0, NULL);
  if (!q || !p || mp_process_pass(p, q) < 0 || mp_process_start(p) != 0) {
    fprintf(stderr, "could not start the process\n");
    return 1;
  }
  char buf[64];
  size_t len;
  int rc = mp_queue_get_into(q, buf, sizeof buf, &len, MP_FOREVER);
  if (rc != 0) {
    fprintf(stderr, "get: %s\n", mp_strerror(rc));
    return 1;
  }
  printf("%.*s\n", (int)len, buf); /* print(q.get()) */
  CHECK(mp_process_join(p, MP_FOREVER));
  mp_process_free(p);
  mp_queue_free(q);
  return 0;
}
