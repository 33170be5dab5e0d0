/* send_connection.c: a connection, and a plain descriptor, handed to a
 * process that is already running, so it could not inherit them. Python
 * does it with Connection.send() (3.3+: connections pickle as their
 * descriptor) and multiprocessing.reduction.send_handle:
 *
 *   import os
 *   from multiprocessing import Process, Pipe
 *   from multiprocessing.reduction import send_handle, recv_handle
 *
 *   def worker(control):
 *       conn = control.recv()        # a Connection made after we started
 *       fd = recv_handle(control)    # the write end of the parent's os.pipe()
 *       os.write(fd, b'written by the worker through a passed descriptor\n')
 *       os.close(fd)
 *       conn.send(['hello', 'over a connection the worker did not inherit'])
 *       conn.close()
 *
 *   if __name__ == '__main__':
 *       control, worker_end = Pipe()
 *       p = Process(target=worker, args=(worker_end,))
 *       p.start()
 *       a, b = Pipe()                # too late for the worker to inherit
 *       control.send(b)
 *       b.close()
 *       r, w = os.pipe()
 *       send_handle(control, w, p.pid)
 *       os.close(w)
 *       print(a.recv())
 *       print(os.read(r, 100).decode(), end='')
 *       p.join()
 *
 * In C the connection goes with mp_conn_send_conn / mp_conn_recv_conn and
 * the descriptor with mp_conn_send_fd / mp_conn_recv_fd, on CPython's wire
 * (one byte carrying the descriptor with SCM_RIGHTS), so either side may
 * be a Python program. Both need a Unix-domain connection: Pipe(true), or
 * an AF_UNIX Listener/Client. The sender keeps its copy and closes it once
 * sent, as the Python program does. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <mproc.h>
#include "check.h"

static int worker(void *arg, size_t len) {
  (void)len;
  mp_conn *control = *(mp_conn **)arg;
  mp_conn *conn;
  int fd;
  if (mp_conn_recv_conn(control, &conn) != 0 || mp_conn_recv_fd(control, &fd) != 0)
    return 1;
  const char *line = "written by the worker through a passed descriptor\n";
  ssize_t n = write(fd, line, strlen(line));
  close(fd);
  mp_obj *msg = mp_obj_build("[s s]", "hello", "over a connection the worker did not inherit");
  int rc = mp_conn_send_obj(conn, msg);
  mp_obj_free(msg);
  mp_conn_free(conn);
  return rc == 0 && n == (ssize_t)strlen(line) ? 0 : 1;
}

int main(void) {
  mp_conn *control, *worker_end;
  CHECK(mp_pipe(true, &control, &worker_end));
  mp_process *p = mp_process_new(worker, &worker_end, sizeof worker_end, NULL);
  if (!p || mp_process_start(p) != 0) {
    fprintf(stderr, "could not start the worker\n");
    return 1;
  }
  mp_conn *a, *b;
  CHECK(mp_pipe(true, &a, &b));
  int rc = mp_conn_send_conn(control, b);
  mp_conn_free(b);
  int fds[2];
  if (rc != 0 || pipe(fds) != 0) {
    fprintf(stderr, "send_conn: %s\n", mp_strerror(rc));
    return 1;
  }
  rc = mp_conn_send_fd(control, fds[1]);
  close(fds[1]);
  if (rc != 0) {
    fprintf(stderr, "send_fd: %s\n", mp_strerror(rc));
    return 1;
  }
  mp_obj *msg;
  CHECK(mp_conn_recv_obj(a, &msg));
  CHECK(mp_obj_print(msg, stdout));
  mp_obj_free(msg);
  char buf[100];
  ssize_t n = read(fds[0], buf, sizeof buf);
  if (n > 0)
    fwrite(buf, 1, (size_t)n, stdout);
  close(fds[0]);
  CHECK(mp_process_join(p, MP_FOREVER));
  mp_process_free(p);
  mp_conn_free(a);
  mp_conn_free(control);
  mp_conn_free(worker_end);
  return 0;
}
