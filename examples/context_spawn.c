/* context_spawn.c: the reference's get_context example (17.2.1.2):
 *
 *   import multiprocessing as mp
 *
 *   def foo(q):
 *       q.put('hello')
 *
 *   if __name__ == '__main__':
 *       ctx = mp.get_context('spawn')
 *       q = ctx.Queue()
 *       p = ctx.Process(target=foo, args=(q,))
 *       p.start()
 *       print(q.get())
 *       p.join()
 *
 * A context leaves the program's default start method alone: what a
 * library should use. The queue crosses to the spawned child in one call
 * on each side: mp_process_pass(p, q) and mp_inherited(0, &q) (a handle
 * underneath, as Python pickles it). */
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
  mp_context *ctx = CHECKP(mp_get_context(MP_START_SPAWN));
  mp_queue *q = CHECKP(mp_context_queue_new(ctx, 0));
  mp_process *p = mp_context_process_new(ctx, foo, NULL, 0, NULL);
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
