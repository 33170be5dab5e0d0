/* conn_fds_peer: the C side of the descriptor-passing interop test with
 * CPython (tests/python/conn_fds_interop.py, run by
 * tests/test_conn_interop.sh). Its argument is the descriptor number of a
 * Unix socket (one end of the script's multiprocessing.Pipe()), which it
 * inherited; it then follows the script, step for step:
 *
 *   1. receives "before" (plain framing still in step);
 *   2. receives a file's descriptor sent with reduction.send_handle, and
 *      sends back what the file holds;
 *   3. sends the reading end of a pipe holding "pipe from C" with
 *      mp_conn_send_fd, for reduction.recv_handle;
 *   4. sends one end of a Pipe() of its own with mp_conn_send_conn; the
 *      script wraps it in a multiprocessing Connection, which receives
 *      "over a passed connection" and answers "reply from Python";
 *   5. receives, with mp_conn_recv_conn, the reading end of the script's
 *      Pipe(duplex=False) (so a receive-only connection) and reads
 *      "simplex from Python" from it;
 *   6. receives "after", sends "done", and expects end of file.
 *
 * Exit status: 0 when every step went as the script says, 1 otherwise
 * (with a message on stderr). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mproc.h"

static int fail(const char *what, int code) {
  fprintf(stderr, "conn_fds_peer: %s: %s (%s)\n", what, mp_strerror(code),
          mp_err_name(code));
  return 1;
}

static int expect(mp_conn *c, const char *want) {
  void *m;
  size_t n;
  int rc = mp_conn_recv_bytes(c, &m, &n, MP_CONN_NOLIMIT);
  if (rc)
    return fail(want, rc);
  bool ok = n == strlen(want) && memcmp(m, want, n) == 0;
  if (!ok)
    fprintf(stderr, "conn_fds_peer: got \"%.*s\", want \"%s\"\n", (int)n,
            (const char *)m, want);
  mp_free(m);
  return ok ? 0 : 1;
}

static int send_str(mp_conn *c, const char *s) {
  int rc = mp_conn_send_bytes(c, s, strlen(s));
  return rc ? fail("send_bytes", rc) : 0;
}

/* Step 2: a descriptor from Python; what its file holds goes back. */
static int file_from_python(mp_conn *c) {
  int fd;
  int rc = mp_conn_recv_fd(c, &fd);
  if (rc)
    return fail("recv_fd", rc);
  char buf[64];
  ssize_t n = pread(fd, buf, sizeof buf, 0);
  close(fd);
  if (n < 0)
    return fail("pread", -errno);
  rc = mp_conn_send_bytes(c, buf, (size_t)n);
  return rc ? fail("send_bytes", rc) : 0;
}

/* Step 3: a pipe's reading end, with bytes already waiting in the pipe. */
static int pipe_to_python(mp_conn *c) {
  int p[2];
  if (pipe(p) < 0)
    return fail("pipe", -errno);
  const char *s = "pipe from C";
  ssize_t w = write(p[1], s, strlen(s));
  close(p[1]);
  int rc = w == (ssize_t)strlen(s) ? mp_conn_send_fd(c, p[0]) : -EIO;
  close(p[0]);
  return rc ? fail("send_fd", rc) : 0;
}

/* Step 4: one end of our Pipe() goes to Python, we keep the other. */
static int conn_to_python(mp_conn *c) {
  mp_conn *mine, *theirs;
  int rc = mp_pipe(true, &mine, &theirs);
  if (rc)
    return fail("mp_pipe", rc);
  rc = mp_conn_send_conn(c, theirs);
  mp_conn_free(theirs);
  if (rc) {
    mp_conn_free(mine);
    return fail("send_conn", rc);
  }
  rc = send_str(mine, "over a passed connection");
  if (!rc)
    rc = expect(mine, "reply from Python");
  mp_conn_free(mine);
  return rc;
}

/* Step 5: the receiving end of Python's Pipe(duplex=False). */
static int conn_from_python(mp_conn *c) {
  mp_conn *r;
  int rc = mp_conn_recv_conn(c, &r);
  if (rc)
    return fail("recv_conn", rc);
  if (!mp_conn_readable(r) || mp_conn_writable(r)) {
    mp_conn_free(r);
    fprintf(stderr, "conn_fds_peer: a receive-only end should come as one\n");
    return 1;
  }
  rc = expect(r, "simplex from Python");
  mp_conn_free(r);
  return rc;
}

int main(int argc, char **argv) {
  alarm(60); /* the script's own timeout is shorter; never outlive it */
  if (argc != 2) {
    fprintf(stderr, "usage: conn_fds_peer FD\n");
    return 2;
  }
  mp_conn *c = mp_conn_from_fd(atoi(argv[1]), true, true);
  if (!c)
    return fail("mp_conn_from_fd", -errno);
  int rc = expect(c, "before");
  if (!rc)
    rc = file_from_python(c);
  if (!rc)
    rc = pipe_to_python(c);
  if (!rc)
    rc = conn_to_python(c);
  if (!rc)
    rc = conn_from_python(c);
  if (!rc)
    rc = expect(c, "after");
  if (!rc)
    rc = send_str(c, "done");
  if (!rc) {
    void *m;
    size_t n;
    int e = mp_conn_recv_bytes(c, &m, &n, MP_CONN_NOLIMIT);
    if (e != MP_EEOF) {
      mp_free(m);
      rc = fail("expected end of file", e);
    }
  }
  mp_conn_free(c);
  return rc;
}
