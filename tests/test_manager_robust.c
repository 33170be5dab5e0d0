/* test_manager_robust.c: what a manager's server survives and how clients
 * fail: garbage from authenticated and unauthenticated peers, half-sent
 * requests, a client killed while blocked in a call, a server killed under
 * its clients (an error, not a hang), and a server whose starting process
 * is killed (it ends too). */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <signal.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "manager/manager_internal.h"
#include "mp_test.h"
#include "mproc.h"

static void still_serves(mp_manager *m) {
  mp_proxy *d = mp_manager_dict(m, NULL);
  assert_non_null(d);
  mp_obj *k = mp_obj_int(1);
  assert_int_equal(mp_proxy_setitem(d, k, k), 0);
  assert_int_equal(mp_proxy_contains(d, k), 1);
  mp_obj_free(k);
  mp_proxy_free(d);
}

static void test_garbage(void **state) {
  (void)state;
  mp_test_watchdog(30);
  mp_manager *m = mp_manager_start_new(NULL);
  assert_non_null(m);
  mp__self *me = mp__self_get();
  mp_conn_opts o = {.authkey = me->authkey, .authkey_len = me->authkey_len};
  /* Authenticated, then garbage instead of HELLO: dropped. */
  mp_conn *c = mp_client(mp_manager_address(m), &o);
  assert_non_null(c);
  assert_int_equal(mp_conn_send_bytes(c, "\xff\xff garbage", 10), 0);
  void *rep;
  size_t len;
  assert_true(mp_conn_recv_bytes(c, &rep, &len, 1 << 20) < 0);
  mp_conn_free(c);
  /* A proper HELLO (no channel), then garbage requests: error replies. */
  c = mp_client(mp_manager_address(m), &o);
  mgr_buf b = {0};
  mp__mgr_put_header(&b, MGR_OP_HELLO, 42, 0, NULL);
  mp_obj *args = mp_obj_build("[i b]", 1, 0);
  mp_obj_encode_append(args, (void **)&b.data, &b.len, &b.cap);
  mp_obj_free(args);
  assert_int_equal(mp_conn_send_bytes(c, b.data, b.len), 0);
  assert_int_equal(mp_conn_recv_bytes(c, &rep, &len, 1 << 20), 0);
  mp_free(rep);
  const char *bad[] = {"", "\x01", "\x63\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
                       "\x00\x00\x00\x00\x00\x00", "\x01\xff", "\x01\x00\x01\x00"
                       "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xc1"};
  size_t badlen[] = {0, 1, 18, 2, 19};
  for (size_t i = 0; i < 5; i++) {
    assert_int_equal(mp_conn_send_bytes(c, bad[i], badlen[i]), 0);
    assert_int_equal(mp_conn_recv_bytes(c, &rep, &len, 1 << 20), 0);
    assert_int_equal(((unsigned char *)rep)[0], MGR_R_ERR);
    mp_free(rep);
  }
  /* Valid header, unknown object, random method. */
  b.len = 0;
  mp__mgr_put_header(&b, MGR_OP_CALL, 123456789, 0, "__getitem__");
  assert_int_equal(mp_conn_send_bytes(c, b.data, b.len), 0);
  assert_int_equal(mp_conn_recv_bytes(c, &rep, &len, 1 << 20), 0);
  assert_int_equal(((unsigned char *)rep)[0], MGR_R_ERR);
  mp_free(rep);
  /* A decref of nothing held, then a half-sent frame and a hang-up. */
  b.len = 0;
  mp__mgr_put_header(&b, MGR_OP_DECREF, 1, 0, NULL);
  mp_conn_send_bytes(c, b.data, b.len);
  mp_conn_recv_bytes(c, &rep, &len, 1 << 20);
  mp_free(rep);
  int fd = mp_conn_fileno(c);
  assert_int_equal(write(fd, "\x00\x00\x10\x00" "abc", 7), 7);
  mp_conn_free(c);
  mp__mgr_buf_free(&b);
  /* Unauthenticated junk, and a huge announced length. */
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  const mp_address *a = mp_manager_address(m);
  size_t plen = 1 + strlen(a->path + 1);
  memcpy(sa.sun_path, a->path, plen);
  assert_int_equal(connect(s, (struct sockaddr *)&sa,
                           (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen)),
                   0);
  assert_int_equal(write(s, "\x7f\xff\xff\xff junk", 9), 9);
  close(s);
  still_serves(m);
  mp_manager_free(m);
}

static void test_killed_client(void **state) {
  (void)state;
  mp_test_watchdog(30);
  mp_manager *m = mp_manager_start_new(NULL);
  mp_proxy *lk = mp_manager_lock(m);
  mp_proxy *d = mp_manager_dict(m, NULL);
  assert_int_equal(mp_proxy_acquire(lk, true, MP_FOREVER), 0);
  pid_t pid = fork();
  if (pid == 0) {
    mp_proxy *mine = mp_manager_list(m, NULL); /* a reference of its own */
    (void)mine;
    mp_proxy_acquire(lk, true, MP_FOREVER); /* blocks: killed here */
    _exit(0);
  }
  assert_int_equal(mp__mgr_wait_busy(m, 1, 20), 0); /* it is blocked */
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  still_serves(m);
  assert_int_equal(mp_proxy_release(lk), 0);
  /* The dead child's blocked acquire must not take the lock for good:
   * our acquire waits (up to 5 s) for the server to notice the death. */
  assert_int_equal(mp_proxy_acquire(lk, true, 5), 0);
  assert_int_equal(mp_proxy_release(lk), 0);
  size_t objs = 99, conns;
  for (int i = 0; i < 100 && objs != 2; i++) {
    mp__mgr_info(m, &objs, &conns);
    usleep(20000);
  }
  assert_int_equal(objs, 2); /* the child's list went with it */
  mp_proxy_free(lk);
  mp_proxy_free(d);
  mp_manager_free(m);
}

static void test_killed_server(void **state) {
  (void)state;
  mp_test_watchdog(30);
  mp_manager *m = mp_manager_start_new(NULL);
  mp_proxy *q = mp_manager_queue(m, 0);
  pid_t pid = fork();
  if (pid == 0) {
    mp_obj *v;
    int rc = mp_proxy_get(q, true, MP_FOREVER, &v); /* blocked when killed */
    _exit(rc == MP_EEOF || rc < 0 ? 0 : 1);
  }
  assert_int_equal(mp__mgr_wait_busy(m, 1, 20), 0); /* it is blocked */
  kill(mp_manager_pid(m), SIGKILL);
  int st;
  waitpid(pid, &st, 0);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  mp_obj *one = mp_obj_int(1);
  int rc = mp_proxy_put(q, one, true, MP_FOREVER);
  assert_true(rc < 0);
  mp_obj_free(one);
  mp_proxy_free(q);
  mp_manager_free(m); /* shutdown of a dead server returns */
}

static void test_server_follows_parent(void **state) {
  (void)state;
  mp_test_watchdog(30);
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  int p[2];
  assert_int_equal(pipe(p), 0);
  pid_t pid = fork();
  if (pid == 0) {
    mp_manager *m = mp_manager_start_new(NULL);
    pid_t s = m ? mp_manager_pid(m) : 0;
    (void)!write(p[1], &s, sizeof s);
    pause();
    _exit(0);
  }
  pid_t server = 0;
  assert_int_equal(read(p[0], &server, sizeof server), sizeof server);
  assert_true(server > 0);
  /* The server is ours once its parent dies (we are a subreaper): wait
   * on its pidfd for it to follow. */
  int pfd = (int)syscall(SYS_pidfd_open, server, 0);
  assert_true(pfd >= 0);
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  struct pollfd pf = {.fd = pfd, .events = POLLIN};
  assert_int_equal(poll(&pf, 1, 20000), 1);
  assert_int_equal(waitpid(server, NULL, 0), server);
  close(pfd);
  close(p[0]);
  close(p[1]);
  prctl(PR_SET_CHILD_SUBREAPER, 0);
}

/* ---- Unauthenticated peers (issue 13, defect 5) ------------------------ */

/* The number of descriptors process pid has open. */
static int fds_of(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
  DIR *d = opendir(path);
  assert_non_null(d);
  int n = 0;
  for (struct dirent *e; (e = readdir(d));)
    n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

/* Waits (up to `seconds`) until the server holds `want` descriptors. */
static int server_fds_settle(pid_t pid, int want, double seconds) {
  double end = mp_monotonic() + seconds;
  int n;
  while ((n = fds_of(pid)) != want && mp_monotonic() < end)
    usleep(10000);
  return n;
}

/* A raw connection to the manager that never authenticates. */
static int raw_peer(mp_manager *m) {
  mp_conn *c = mp_client(mp_manager_address(m), NULL);
  assert_non_null(c);
  int fd = dup(mp_conn_fileno(c));
  mp_conn_free(c);
  return fd;
}

/* Reads fd until end of file, for at most `seconds`: the time it took, or
 * -1; *got counts the bytes that came first (the server's challenge). */
static double time_to_eof(int fd, double seconds, size_t *got) {
  double t0 = mp_monotonic(), end = t0 + seconds;
  char buf[512];
  *got = 0;
  while (mp_monotonic() < end) {
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    if (poll(&pf, 1, 50) <= 0)
      continue;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno == ECONNRESET))
      return mp_monotonic() - t0;
    if (n > 0)
      *got += (size_t)n;
  }
  return -1;
}

/* A good client with a connection of its own, as a remote one would be. */
static bool good_client(mp_manager *m) {
  mp_manager_opts o = {.address = mp_manager_address(m)};
  mp_manager *c = mp_manager_new(&o);
  bool ok = c && mp_manager_connect(c) == 0;
  if (ok)
    still_serves(c);
  mp_manager_free(c);
  return ok;
}

typedef struct trickle {
  int fds[5];
  double end;
} trickle;

/* Peers that send a byte of a frame header every 100 ms: each byte would
 * restart a per-read timeout, never the whole handshake's. */
static void *trickler(void *arg) {
  trickle *t = arg;
  while (mp_monotonic() < t->end) {
    for (int i = 0; i < 5; i++)
      (void)!send(t->fds[i], "", 1, MSG_NOSIGNAL);
    usleep(100000);
  }
  return NULL;
}

enum { IDLE = 500 };
#define LIMIT 1.0

static void test_idle_peers_dropped(void **state) {
  (void)state;
  mp_test_watchdog(60);
  mp_manager *m = mp_manager_start_new(&(mp_manager_opts){.handshake_timeout = LIMIT});
  assert_non_null(m);
  still_serves(m);
  pid_t srv = mp_manager_pid(m);
  int fds0 = server_fds_settle(srv, fds_of(srv), 0);
  int idle[IDLE];
  double t0 = mp_monotonic();
  for (int i = 0; i < IDLE; i++)
    idle[i] = raw_peer(m);
  trickle tr = {.end = t0 + LIMIT + 3};
  for (int i = 0; i < 5; i++)
    tr.fds[i] = raw_peer(m);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, trickler, &tr), 0);
  /* Good clients are served while all those are held. */
  int good = 0;
  for (int i = 0; i < 5; i++)
    good += good_client(m);
  double held = mp_monotonic() - t0;
  /* Then every one of them is closed at the limit, not after. */
  double worst = 0;
  int dropped = 0;
  size_t got;
  for (int i = 0; i < IDLE; i++) {
    double dt = time_to_eof(idle[i], LIMIT + 5, &got);
    dropped += dt >= 0 && got > 0;
    worst = mp_monotonic() - t0 > worst ? mp_monotonic() - t0 : worst;
    close(idle[i]);
  }
  int tdropped = 0;
  for (int i = 0; i < 5; i++)
    tdropped += time_to_eof(tr.fds[i], LIMIT + 5, &got) >= 0;
  double tworst = mp_monotonic() - t0;
  assert_int_equal(pthread_join(t, NULL), 0);
  for (int i = 0; i < 5; i++)
    close(tr.fds[i]);
  int fds1 = server_fds_settle(srv, fds0, 10);
  good += good_client(m);
  print_message("%d idle + 5 trickling peers (limit %.1f s): %d and %d dropped, the "
                "last idle at %.2f s, the last trickler at %.2f s; %d/6 good clients "
                "served (5 within %.2f s of the flood); server fds %d -> %d\n", IDLE,
                LIMIT, dropped, tdropped, worst, tworst, good, held, fds0, fds1);
  assert_int_equal(dropped, IDLE);
  assert_int_equal(tdropped, 5);
  assert_true(worst < LIMIT + 5);
  assert_int_equal(good, 6);
  assert_int_equal(fds1, fds0);
  mp_manager_free(m);
}

static void test_handshake_cap(void **state) {
  (void)state;
  mp_test_watchdog(60);
  enum { CAP = 20, PEERS = 50 };
  mp_manager *m = mp_manager_start_new(
      &(mp_manager_opts){.handshake_timeout = 5, .max_handshakes = CAP});
  assert_non_null(m);
  still_serves(m);
  int fds[PEERS];
  for (int i = 0; i < PEERS; i++)
    fds[i] = raw_peer(m);
  /* The first CAP were challenged; the others closed at once, unread. */
  int refused = 0, challenged = 0;
  for (int i = 0; i < PEERS; i++) {
    struct pollfd pf = {.fd = fds[i], .events = POLLIN};
    assert_int_equal(poll(&pf, 1, 3000), 1);
    char buf[512];
    ssize_t n = read(fds[i], buf, sizeof buf);
    challenged += n > 0;
    refused += n == 0 || (n < 0 && errno == ECONNRESET);
  }
  print_message("cap %d, %d silent peers: %d challenged, %d refused at once\n", CAP,
                PEERS, challenged, refused);
  assert_int_equal(challenged, CAP);
  assert_int_equal(refused, PEERS - CAP);
  for (int i = 0; i < PEERS; i++)
    close(fds[i]);
  /* Closed by their peers: the room is back, good clients are served. */
  size_t objs, conns = 99;
  for (int i = 0; i < 500 && conns > 0; i++) {
    mp__mgr_info(m, &objs, &conns);
    if (conns > 0)
      usleep(10000);
  }
  assert_true(good_client(m));
  mp_manager_free(mp_manager_new(&(mp_manager_opts){.max_handshakes = 0}));
  errno = 0;
  assert_null(mp_manager_new(&(mp_manager_opts){.handshake_timeout = NAN}));
  assert_int_equal(errno, EINVAL);
  assert_null(mp_manager_new(&(mp_manager_opts){.max_handshakes = -1}));
  mp_manager_free(m);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_garbage),
      cmocka_unit_test(test_killed_client),
      cmocka_unit_test(test_killed_server),
      cmocka_unit_test(test_server_follows_parent),
      cmocka_unit_test(test_idle_peers_dropped),
      cmocka_unit_test(test_handshake_cap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
