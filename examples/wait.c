/* wait.c: the reference's wait() example (17.2.2.10): four processes send
 * ten messages each on their own pipe; the main process waits on all the
 * reading ends at once and prints what arrives until every writer is gone.
 *
 *   def foo(w):
 *       for i in range(10):
 *           w.send((i, current_process().name))
 *       w.close()
 *
 *   if __name__ == '__main__':
 *       readers = []
 *       for i in range(4):
 *           r, w = Pipe(duplex=False)
 *           readers.append(r)
 *           p = Process(target=foo, args=(w,))
 *           p.start()
 *           # We close the writable end of the pipe now to be sure that
 *           # p is the only process which owns a handle for it.  This
 *           # ensures that when p closes its handle for the writable end,
 *           # wait() will promptly report the readable end as being ready.
 *           w.close()
 *
 *       while readers:
 *           for r in wait(readers):
 *               try:
 *                   msg = r.recv()
 *               except EOFError:
 *                   readers.remove(r)
 *               else:
 *                   print(msg)
 *
 * The messages of the four processes interleave differently on each run,
 * as in Python. */
#include <stdio.h>

#include <mproc.h>
#include "check.h"

#define N 4

static int foo(void *arg, size_t len) {
  (void)len;
  mp_conn *w = *(mp_conn **)arg;
  const char *name = mp_process_name(mp_current_process());
  for (int i = 0; i < 10; i++) {
    mp_obj *msg = mp_obj_build("(i s)", i, name);
    int rc = mp_conn_send_obj(w, msg);
    mp_obj_free(msg);
    if (rc)
      return 1;
  }
  CHECK(mp_conn_close(w));
  return 0;
}

int main(void) {
  mp_conn *readers[N];
  mp_process *procs[N];
  size_t nreaders = 0;
  for (int i = 0; i < N; i++) {
    mp_conn *r, *w;
    CHECK(mp_pipe(false, &r, &w));
    readers[nreaders++] = r;
    procs[i] = mp_process_new(foo, &w, sizeof w, NULL);
    if (!procs[i] || mp_process_start(procs[i]) != 0)
      return 1;
    /* Close the writable end now, so that p is the only process holding
     * it: when p closes it, wait() reports the readable end at once. */
    mp_conn_free(w);
  }

  while (nreaders) {
    mp_wait_item items[N];
    for (size_t i = 0; i < nreaders; i++)
      items[i] = MP_WAIT_CONN(readers[i]);
    CHECK(mp_wait(items, nreaders, MP_FOREVER));
    /* Walk backwards so removing a reader keeps the others' indices. */
    for (size_t i = nreaders; i-- > 0;) {
      if (!items[i].ready)
        continue;
      mp_obj *msg;
      int rc = mp_conn_recv_obj(readers[i], &msg);
      if (rc == MP_EEOF) {
        mp_conn_free(readers[i]);
        readers[i] = readers[--nreaders];
      } else if (rc == 0) {
        CHECK(mp_obj_print(msg, stdout));
        mp_obj_free(msg);
      } else {
        fprintf(stderr, "recv: %s\n", mp_strerror(rc));
        return 1;
      }
    }
  }
  for (int i = 0; i < N; i++) {
    CHECK(mp_process_join(procs[i], MP_FOREVER));
    mp_process_free(procs[i]);
  }
  return 0;
}
