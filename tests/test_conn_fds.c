/* test_conn_fds.c: passing descriptors, connections and shared objects'
 * handles over a connection (Python's reduction.send_handle/recv_handle
 * and sending a Connection through a Pipe): across fork to processes that
 * did not inherit them, interleaved with ordinary messages while the
 * receiver reads ahead, against a peer that sends garbage or closes, and
 * never a descriptor lost or leaked. The suite runs once per start method
 * (tests/mp_test.h): the child gets its end of the pipe as a passed
 * descriptor, and everything else over it. */
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "connection/conn_internal.h"
#include "mp_test.h"
#include "mproc.h"

/* ---- helpers ------------------------------------------------------------------ */

/* Child-side checks: return a code naming the line of the first failure. */
#define CHILD_CHECK(x) CHILD_FAIL(x)

static void recv_expect(mp_conn *c, const char *want) {
  void *m;
  size_t n;
  assert_int_equal(mp_conn_recv_bytes(c, &m, &n, MP_CONN_NOLIMIT), 0);
  assert_int_equal(n, strlen(want));
  assert_memory_equal(m, want, n);
  mp_free(m);
}

static void send_str(mp_conn *c, const char *s) {
  assert_int_equal(mp_conn_send_bytes(c, s, strlen(s)), 0);
}

/* A pipe whose read end we keep: the descriptor we pass is its write end;
 * what the receiver writes through it proves it got the right one. */
static void check_pipe_carries(int rfd, const char *want) {
  char buf[64] = {0};
  ssize_t n = read(rfd, buf, sizeof buf - 1);
  assert_int_equal(n, (ssize_t)strlen(want));
  assert_string_equal(buf, want);
}

/* ---- descriptors ---------------------------------------------------------------- */

static int fd_child(void *arg, size_t len) {
  mp_conn *b = mp_test_passed_conn(0, true, true);
  CHILD_CHECK(b);
  /* A thread-process shares the descriptor table with the parent. */
  bool counts = !mp_test_method_is("thread");
  int before = mp_test_count_fds();
  int fd = -1;
  CHILD_CHECK(mp_conn_recv_fd(b, &fd) == 0);
  CHILD_CHECK(fd > 2 && (fcntl(fd, F_GETFD) & FD_CLOEXEC));
  CHILD_CHECK(write(fd, "from child", 10) == 10);
  close(fd);
  /* And one the other way: the child's own pipe. */
  int p[2];
  CHILD_CHECK(pipe2(p, O_CLOEXEC) == 0);
  CHILD_CHECK(mp_conn_send_fd(b, p[1]) == 0);
  close(p[1]);
  char buf[8];
  CHILD_CHECK(read(p[0], buf, 6) == 6 && memcmp(buf, "parent", 6) == 0);
  close(p[0]);
  CHILD_CHECK(!counts || mp_test_count_fds() == before);
  mp_conn_free(b);
  return 0;
}

static void test_fd_to_child(void **state) {
  (void)state;
  mp_test_watchdog(20);
  mp_test_warm_up();
  int fds0 = mp_test_count_fds_settled();
  mp_conn *a, *b;
  assert_int_equal(mp_pipe(true, &a, &b), 0);
  mp_process *c = mp_test_start_fds(fd_child, NULL, 0, (int[]){mp_conn_fileno(b)}, 1);
  mp_conn_free(b);
  int p[2];
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  assert_int_equal(mp_conn_send_fd(a, p[1]), 0);
  close(p[1]); /* the copy in flight is the kernel's */
  check_pipe_carries(p[0], "from child");
  close(p[0]);
  int fd;
  assert_int_equal(mp_conn_recv_fd(a, &fd), 0);
  assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
  assert_int_equal(write(fd, "parent", 6), 6);
  close(fd);
  mp_test_join_ok(c);
  /* The peer is gone: end of file, not a descriptor. */
  assert_int_equal(mp_conn_recv_fd(a, &fd), MP_EEOF);
  assert_int_equal(fd, -1);
  mp_conn_free(a);
  assert_int_equal(mp_test_count_fds_settled(), fds0);
}

/* A connection made after start goes to the child, which then talks on
 * it; a simplex pipe's end keeps its direction. */
static int conn_child(void *arg, size_t len) {
  mp_conn *b = mp_test_passed_conn(0, true, true);
  CHILD_CHECK(b);
  {
    mp_conn *x, *w;
    CHILD_CHECK(mp_conn_recv_conn(b, &x) == 0);
    CHILD_CHECK(mp_conn_readable(x) && mp_conn_writable(x));
    CHILD_CHECK(mp_conn_send_bytes(x, "hello from child", 16) == 0);
    void *m;
    size_t n;
    CHILD_CHECK(mp_conn_recv_bytes(x, &m, &n, MP_CONN_NOLIMIT) == 0);
    CHILD_CHECK(n == 5 && memcmp(m, "reply", 5) == 0);
    mp_free(m);
    CHILD_CHECK(mp_conn_recv_conn(b, &w) == 0);
    CHILD_CHECK(!mp_conn_readable(w) && mp_conn_writable(w));
    CHILD_CHECK(mp_conn_send_bytes(w, "via pipe", 8) == 0);
    CHILD_CHECK(mp_conn_send_bytes(b, "done", 4) == 0);
    mp_conn_free(w);
    mp_conn_free(x);
    mp_conn_free(b);
  }
  return 0;
}

static void test_send_connection(void **state) {
  (void)state;
  mp_test_watchdog(20);
  mp_test_warm_up();
  int fds0 = mp_test_count_fds_settled();
  mp_conn *a, *b;
  assert_int_equal(mp_pipe(true, &a, &b), 0);
  mp_process *c = mp_test_start_fds(conn_child, NULL, 0, (int[]){mp_conn_fileno(b)}, 1);
  mp_conn_free(b);
  mp_conn *x1, *x2, *r, *w;
  assert_int_equal(mp_pipe(true, &x1, &x2), 0);
  assert_int_equal(mp_pipe(false, &r, &w), 0);
  assert_int_equal(mp_conn_send_conn(a, x2), 0);
  mp_conn_free(x2); /* Python: close it here once the child has it */
  recv_expect(x1, "hello from child");
  send_str(x1, "reply");
  assert_int_equal(mp_conn_send_conn(a, w), 0);
  mp_conn_free(w);
  recv_expect(r, "via pipe");
  recv_expect(a, "done");
  mp_test_join_ok(c);
  void *m;
  size_t n;
  assert_int_equal(mp_conn_recv_bytes(x1, &m, &n, MP_CONN_NOLIMIT), MP_EEOF);
  /* A connection holding bytes read ahead cannot be sent: they would stay. */
  mp_conn *y1, *y2;
  assert_int_equal(mp_pipe(true, &y1, &y2), 0);
  send_str(y2, "one");
  send_str(y2, "two");
  recv_expect(y1, "one"); /* "two" was read ahead with it */
  assert_int_equal(mp_conn_send_conn(a, y1), MP_ESTATE);
  recv_expect(y1, "two");
  assert_int_equal(mp_conn_send_conn(a, NULL), -EINVAL);
  mp_conn_close(y2);
  assert_int_equal(mp_conn_send_conn(a, y2), MP_ECLOSED);
  mp_conn_free(y1);
  mp_conn_free(y2);
  mp_conn_free(x1);
  mp_conn_free(r);
  mp_conn_free(a);
  assert_int_equal(mp_test_count_fds_settled(), fds0);
}

/* A Lock and a Queue created after start reach the child only as handles
 * sent over the connection. */
static int handles_child(void *arg, size_t len) {
  mp_conn *b = mp_test_passed_conn(0, true, true);
  CHILD_CHECK(b);
  {
    mp_handle h;
    CHILD_CHECK(mp_conn_recv_handle(b, &h) == 0);
    CHILD_CHECK(h.type == MP_TYPE_LOCK);
    mp_lock *l = mp_lock_open(&h);
    mp_handle_close(&h);
    CHILD_CHECK(l);
    CHILD_CHECK(mp_lock_acquire(l, 0) == MP_ETIMEOUT); /* the parent holds it */
    CHILD_CHECK(mp_conn_send_bytes(b, "tried", 5) == 0);
    CHILD_CHECK(mp_lock_acquire(l, MP_FOREVER) == 0);
    CHILD_CHECK(mp_conn_recv_handle(b, &h) == 0);
    mp_queue *q = mp_queue_open(&h);
    mp_handle_close(&h);
    CHILD_CHECK(q);
    CHILD_CHECK(mp_queue_put(q, "item", 4, MP_FOREVER) == 0);
    CHILD_CHECK(mp_lock_release(l) == 0);
    mp_queue_free(q);
    mp_lock_free(l);
    mp_conn_free(b);
  }
  return 0;
}

static void test_send_handles(void **state) {
  (void)state;
  mp_test_watchdog(30);
  /* The shm area keeps a segment open for later objects: warm it up first. */
  mp_lock_free(mp_lock_new());
  mp_queue_free(mp_queue_new(0));
  mp_test_warm_up();
  int fds0 = mp_test_count_fds_settled();
  mp_conn *a, *b;
  assert_int_equal(mp_pipe(true, &a, &b), 0);
  mp_process *c = mp_test_start_fds(handles_child, NULL, 0, (int[]){mp_conn_fileno(b)}, 1);
  mp_conn_free(b);
  mp_lock *l = mp_lock_new();
  mp_queue *q = mp_queue_new(0);
  assert_non_null(l);
  assert_non_null(q);
  assert_int_equal(mp_lock_acquire(l, MP_FOREVER), 0);
  mp_handle h;
  assert_int_equal(mp_lock_handle(l, &h), 0);
  assert_int_equal(mp_conn_send_handle(a, &h), 0);
  recv_expect(a, "tried");
  assert_int_equal(mp_queue_handle(q, &h), 0);
  assert_int_equal(mp_conn_send_handle(a, &h), 0);
  assert_int_equal(mp_lock_release(l), 0);
  void *m;
  size_t n;
  assert_int_equal(mp_queue_get(q, &m, &n, 10.0), 0);
  assert_int_equal(n, 4);
  assert_memory_equal(m, "item", 4);
  mp_free(m);
  mp_test_join_ok(c);
  assert_int_equal(mp_lock_acquire(l, 10.0), 0); /* the child released it */
  assert_int_equal(mp_lock_release(l), 0);
  mp_queue_free(q);
  mp_lock_free(l);
  mp_conn_free(a);
  assert_int_equal(mp_test_count_fds_settled(), fds0);
}

/* Read-ahead on: byte messages, descriptors and handles interleaved, all
 * sent before the first receive, so one read fetches several of them. */
static void test_readahead_interleaved(void **state) {
  (void)state;
  mp_test_watchdog(20);
  mp_lock_free(mp_lock_new()); /* warm up the shm area's segment */
  int fds0 = mp_test_count_fds();
  mp_conn *a, *b;
  assert_int_equal(mp_pipe(true, &a, &b), 0);
  mp_lock *l = mp_lock_new();
  assert_non_null(l);
  mp_handle h;
  assert_int_equal(mp_lock_handle(l, &h), 0);
  enum { ROUNDS = 20 };
  int pipes[ROUNDS][2];
  for (int i = 0; i < ROUNDS; i++) {
    char msg[32];
    snprintf(msg, sizeof msg, "message %d", i);
    send_str(a, msg);
    assert_int_equal(pipe2(pipes[i], O_CLOEXEC), 0);
    assert_int_equal(mp_conn_send_fd(a, pipes[i][1]), 0);
    close(pipes[i][1]);
    if (i % 4 == 0)
      assert_int_equal(mp_conn_send_handle(a, &h), 0);
  }
  for (int i = 0; i < ROUNDS; i++) {
    char msg[32];
    snprintf(msg, sizeof msg, "message %d", i);
    recv_expect(b, msg);
    if (i == 0)
      assert_true(mp__conn_buffered(b)); /* it did read ahead */
    int fd;
    assert_int_equal(mp_conn_recv_fd(b, &fd), 0);
    snprintf(msg, sizeof msg, "pipe %d", i);
    assert_int_equal(write(fd, msg, strlen(msg)), (ssize_t)strlen(msg));
    close(fd);
    check_pipe_carries(pipes[i][0], msg);
    close(pipes[i][0]);
    if (i % 4 == 0) {
      mp_handle got;
      assert_int_equal(mp_conn_recv_handle(b, &got), 0);
      mp_lock *l2 = mp_lock_open(&got);
      mp_handle_close(&got);
      assert_non_null(l2);
      assert_int_equal(mp_lock_acquire(l2, 0), 0);
      assert_true(mp_lock_locked(l));
      assert_int_equal(mp_lock_release(l2), 0);
      mp_lock_free(l2);
    }
  }
  assert_int_equal(mp_conn_poll(b, 0), 0);

  /* A handle received as plain bytes: its descriptor waits in the
   * connection and is closed by the next claim past it, or at free. */
  int before = mp_test_count_fds();
  assert_int_equal(mp_conn_send_handle(a, &h), 0);
  void *m;
  size_t n;
  assert_int_equal(mp_conn_recv_bytes(b, &m, &n, MP_CONN_NOLIMIT), 0);
  assert_int_equal(n, MP_HANDLE_WIRE_SIZE);
  mp_free(m);
  assert_int_equal(mp_test_count_fds(), before + 1);
  int p[2];
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  assert_int_equal(mp_conn_send_fd(a, p[1]), 0);
  int fd;
  assert_int_equal(mp_conn_recv_fd(b, &fd), 0);
  close(fd);
  close(p[0]);
  close(p[1]);
  assert_int_equal(mp_test_count_fds(), before);
  assert_int_equal(mp_conn_send_handle(a, &h), 0);
  assert_int_equal(mp_conn_recv_bytes(b, &m, &n, MP_CONN_NOLIMIT), 0);
  mp_free(m);
  mp_conn_free(b); /* closes the unclaimed one */
  mp_conn_free(a);
  mp_lock_free(l);
  assert_int_equal(mp_test_count_fds(), fds0);
}

/* ---- errors ------------------------------------------------------------------ */

static void test_not_unix(void **state) {
  (void)state;
  mp_test_watchdog(20);
  int fds0 = mp_test_count_fds();
  mp_conn *r, *w;
  assert_int_equal(mp_pipe(false, &r, &w), 0);
  int fd;
  mp_handle h;
  mp_conn *x;
  assert_int_equal(mp_conn_send_fd(w, 0), MP_ENOTSUP);
  assert_int_equal(mp_conn_send_conn(w, r), MP_ENOTSUP);
  assert_int_equal(mp_conn_recv_fd(r, &fd), MP_ENOTSUP);
  assert_int_equal(mp_conn_recv_conn(r, &x), MP_ENOTSUP);
  assert_null(x);
  assert_int_equal(mp_conn_recv_handle(r, &h), MP_ENOTSUP);
  assert_int_equal(mp_conn_send_fd(r, 0), MP_ESTATE); /* receive-only end */
  mp_conn_free(r);
  mp_conn_free(w);

  /* TCP on 127.0.0.1. */
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof sa;
  assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(listen(ls, 1), 0);
  assert_int_equal(getsockname(ls, (struct sockaddr *)&sa, &sl), 0);
  int cs = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_int_equal(connect(cs, (struct sockaddr *)&sa, sizeof sa), 0);
  int as = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
  assert_true(as >= 0);
  close(ls);
  mp_conn *t1 = mp_conn_from_fd(cs, true, true);
  mp_conn *t2 = mp_conn_from_fd(as, true, true);
  assert_int_equal(mp_conn_send_fd(t1, 0), MP_ENOTSUP);
  assert_int_equal(mp_conn_recv_fd(t2, &fd), MP_ENOTSUP);
  assert_int_equal(mp_conn_send_handle(t1, &h), MP_ENOTSUP);
  send_str(t1, "tcp still works"); /* and plain messages still flow */
  recv_expect(t2, "tcp still works");
  mp_conn_free(t1);
  mp_conn_free(t2);

  /* Bad arguments. */
  mp_conn *a, *b;
  assert_int_equal(mp_pipe(true, &a, &b), 0);
  assert_int_equal(mp_conn_send_fd(a, -1), -EBADF);
  assert_int_equal(mp_conn_send_fd(a, 4000), -EBADF);
  assert_int_equal(mp_conn_recv_fd(b, NULL), -EINVAL);
  assert_int_equal(mp_conn_recv_conn(b, NULL), -EINVAL);
  assert_int_equal(mp_conn_recv_handle(b, NULL), -EINVAL);
  memset(&h, 0, sizeof h); /* nparts 0: not a handle */
  assert_int_equal(mp_conn_send_handle(a, &h), -EINVAL);
  mp_conn_close(a);
  assert_int_equal(mp_conn_send_fd(a, 0), MP_ECLOSED);
  assert_int_equal(mp_conn_recv_fd(a, &fd), MP_ECLOSED);
  mp_conn_free(a);
  mp_conn_free(b);
  assert_int_equal(mp_test_count_fds(), fds0);
}

/* Sends count descriptors (copies of fd) with one byte, as a raw peer. */
static void raw_send_fds(int sock, unsigned char byte, int fd, size_t count) {
  int fds[32];
  for (size_t i = 0; i < count; i++)
    fds[i] = fd;
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(32 * sizeof(int))];
  } ctl;
  memset(&ctl, 0, sizeof ctl);
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                       .msg_controllen = CMSG_SPACE(count * sizeof(int))};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(count * sizeof(int));
  memcpy(CMSG_DATA(c), fds, count * sizeof(int));
  assert_int_equal(sendmsg(sock, &msg, MSG_NOSIGNAL), 1);
}

static void test_garbage_peer(void **state) {
  (void)state;
  mp_test_watchdog(20);
  int fds0 = mp_test_count_fds();
  int fd;
  mp_handle h;
  for (int ra = 0; ra < 2; ra++) {
    /* Bytes where a descriptor was expected: MP_EPROTO, no longer readable. */
    mp_conn *a, *b;
    assert_int_equal(mp_pipe(true, &a, &b), 0);
    assert_int_equal(mp_conn_set_readahead(b, ra), 0);
    send_str(a, "not a descriptor");
    assert_int_equal(mp_conn_recv_fd(b, &fd), MP_EPROTO);
    assert_int_equal(fd, -1);
    assert_false(mp_conn_readable(b));
    assert_int_equal(mp_conn_recv_fd(b, &fd), MP_ECLOSED);
    mp_conn_free(b);
    mp_conn_free(a);

    /* The right byte without a descriptor; the wrong byte with one. */
    assert_int_equal(mp_pipe(true, &a, &b), 0);
    assert_int_equal(mp_conn_set_readahead(b, ra), 0);
    assert_int_equal(write(mp_conn_fileno(a), "\1", 1), 1);
    assert_int_equal(mp_conn_recv_fd(b, &fd), MP_EPROTO);
    mp_conn_free(b);
    mp_conn_free(a);
    assert_int_equal(mp_pipe(true, &a, &b), 0);
    assert_int_equal(mp_conn_set_readahead(b, ra), 0);
    raw_send_fds(mp_conn_fileno(a), 7, 0, 1);
    assert_int_equal(mp_conn_recv_fd(b, &fd), MP_EPROTO);
    assert_int_equal(mp_test_count_fds(), fds0 + 2);

    /* More descriptors than fit the control buffer: MSG_CTRUNC. */
    mp_conn_free(b);
    mp_conn_free(a);
    assert_int_equal(mp_pipe(true, &a, &b), 0);
    assert_int_equal(mp_conn_set_readahead(b, ra), 0);
    raw_send_fds(mp_conn_fileno(a), 20, 0, 20);
    assert_int_equal(mp_conn_recv_fd(b, &fd), MP_EPROTO);
    assert_int_equal(mp_test_count_fds(), fds0 + 2);
    mp_conn_free(b);
    mp_conn_free(a);

    /* A plain message where a handle was expected: consumed, stream kept. */
    assert_int_equal(mp_pipe(true, &a, &b), 0);
    assert_int_equal(mp_conn_set_readahead(b, ra), 0);
    send_str(a, "plain");
    send_str(a, "next");
    assert_int_equal(mp_conn_recv_handle(b, &h), MP_EPROTO);
    recv_expect(b, "next");
    /* Handle-sized bytes that are not a handle, with a descriptor. */
    unsigned char junk[4 + MP_HANDLE_WIRE_SIZE];
    memset(junk, 0x5a, sizeof junk);
    mp__conn_frame_header(MP_HANDLE_WIRE_SIZE, junk);
    int one = 0;
    int sock = mp_conn_fileno(a);
    union {
      struct cmsghdr align;
      char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct iovec iov = {.iov_base = junk, .iov_len = sizeof junk};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                         .msg_controllen = sizeof ctl.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &one, sizeof one);
    assert_int_equal(sendmsg(sock, &msg, MSG_NOSIGNAL), (ssize_t)sizeof junk);
    send_str(a, "after");
    assert_int_equal(mp_conn_recv_handle(b, &h), MP_EDECODE);
    assert_int_equal(mp_test_count_fds(), fds0 + 2);
    recv_expect(b, "after");

    /* Closed peer; a peer gone mid-handle. */
    mp_conn_close(a);
    assert_int_equal(mp_conn_recv_handle(b, &h), MP_EEOF);
    assert_int_equal(mp_conn_recv_fd(b, &fd), MP_EEOF);
    mp_conn_free(b);
    mp_conn_free(a);
    assert_int_equal(mp_pipe(true, &a, &b), 0);
    assert_int_equal(mp_conn_set_readahead(b, ra), 0);
    raw_send_fds(mp_conn_fileno(a), 0, 0, 1); /* a header's first byte + fd */
    mp_conn_close(a);
    assert_int_equal(mp_conn_recv_handle(b, &h), MP_ETRUNCATED);
    assert_int_equal(mp_test_count_fds(), fds0 + 1);
    mp_conn_free(b);
    mp_conn_free(a);
    assert_int_equal(mp_test_count_fds(), fds0);
  }
}

int main(void) {
  mp_test_use_start_method();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fd_to_child),
      cmocka_unit_test(test_send_connection),
      cmocka_unit_test(test_send_handles),
      cmocka_unit_test(test_readahead_interleaved),
      cmocka_unit_test(test_not_unix),
      cmocka_unit_test(test_garbage_peer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
