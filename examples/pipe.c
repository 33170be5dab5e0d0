/* pipe.c: the reference's Pipe example (17.2.1.3):
 *
 *   from multiprocessing import Process, Pipe
 *
 *   def f(conn):
 *       conn.send([42, None, 'hello'])
 *       conn.close()
 *
 *   if __name__ == '__main__':
 *       parent_conn, child_conn = Pipe()
 *       p = Process(target=f, args=(child_conn,))
 *       p.start()
 *       print(parent_conn.recv())   # prints "[42, None, 'hello']"
 *       p.join()
 *
 * Python pickles the list; here it is an mp_obj, which travels
 * MessagePack-encoded and prints as Python's repr. The connection pointer
 * is the process's argument: a forked child uses it as is. */
#include <stdio.h>

#include <mproc.h>
#include "check.h"

static int f(void *arg, size_t len) {
  (void)len;
  mp_conn *conn = *(mp_conn **)arg;
  mp_obj *msg = mp_obj_build("[i N s]", 42, "hello");
  int rc = mp_conn_send_obj(conn, msg);
  mp_obj_free(msg);
  CHECK(mp_conn_close(conn));
  return rc == 0 ? 0 : 1;
}

int main(void) {
  mp_conn *parent_conn, *child_conn;
  CHECK(mp_pipe(true, &parent_conn, &child_conn));
  mp_process *p = mp_process_new(f, &child_conn, sizeof child_conn, NULL);
  if (!p || mp_process_start(p) != 0) {
    fprintf(stderr, "could not start the process\n");
    return 1;
  }
  mp_obj *msg;
  int rc = mp_conn_recv_obj(parent_conn, &msg);
  if (rc != 0) {
    fprintf(stderr, "recv: %s\n", mp_strerror(rc));
    return 1;
  }
  mp_obj_print(msg, stdout); /* prints "[42, None, 'hello']" */
  mp_obj_free(msg);
  CHECK(mp_process_join(p, MP_FOREVER));
  mp_process_free(p);
  mp_conn_free(parent_conn);
  mp_conn_free(child_conn);
  return 0;
}
