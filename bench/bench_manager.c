/* bench_manager.c: manager calls and manager start-up, against CPython's
 * multiprocessing.Manager in bench/python/bench_manager.py.
 *
 * Rows (us per operation; smaller is better):
 *   manager.start_shutdown    start a manager (server process) and shut it
 *                             down; no raw floor.
 *   manager.dict_set          d[i] = i from a child process (a forked
 *   manager.dict_get          client), d[k], and l.append(i): one call
 *   manager.list_append       each. raw: the floor of the manager's local
 *                             transport: a round trip between two processes
 *                             through shared memory, each side bumping a
 *                             word and waiting for the other's, with no
 *                             message: the better of "sleep on a futex at
 *                             once" and "spin with a pause instruction
 *                             for up to 50 us, then sleep" (the first wins
 *                             on a machine with no CPU to spare).
 *   manager.roundtrip.socket  raw only: a 1-byte round trip over a Unix
 *                             socketpair between two processes, the floor
 *                             of a socket-based design such as CPython's
 *                             (which adds pickling and its interpreter).
 *   manager.dict_set.tcp      d[i] = i over TCP on 127.0.0.1 (a manager
 *                             listening on TCP); raw: a 1-byte TCP round
 *                             trip on 127.0.0.1. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mproc.h>

#include "bench_util.h"

static int start_shutdown(void *ctx) {
  (void)ctx;
  mp_manager *m = mp_manager_start_new(NULL);
  if (!m)
    return mp_errno_code(errno);
  mp_manager_free(m);
  return 0;
}

typedef struct {
  mp_proxy *d, *l;
  int64_t i;
} fixture;

static int dict_set(void *ctx) {
  fixture *f = ctx;
  mp_obj *k = mp_obj_int(f->i++ & 1023);
  int rc = mp_proxy_setitem(f->d, k, k);
  mp_obj_free(k);
  return rc;
}

static int dict_get(void *ctx) {
  fixture *f = ctx;
  mp_obj *k = mp_obj_int(7), *v = NULL;
  int rc = mp_proxy_getitem(f->d, k, &v);
  mp_obj_free(k);
  mp_obj_free(v);
  return rc;
}

static int list_append(void *ctx) {
  fixture *f = ctx;
  mp_obj *v = mp_obj_int(f->i++);
  int rc = mp_proxy_append(f->l, v);
  mp_obj_free(v);
  if (rc == 0 && (f->i & 4095) == 0) { /* keep the list small */
    mp_obj *all = mp_proxy_slice(MP_SLICE_NONE, MP_SLICE_NONE, MP_SLICE_NONE);
    rc = mp_proxy_delitem(f->l, all); /* del l[:] */
    mp_obj_free(all);
  }
  return rc;
}

/* Runs fn in a forked child (a client process of its own) and prints the
 * rows there: latency and CPU per call of the client, the server and
 * this process (bench_spin_rows, counted from this process down). */
static void in_child(const char *id, bench_fn fn, fixture *f) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    bench_spin_rows(id, "us", 1e3, "mproc", fn, f, &(bench_opts){.cpu_root = getppid()});
    _exit(0);
  }
  int st;
  waitpid(pid, &st, 0);
  if (!WIFEXITED(st) || WEXITSTATUS(st))
    bench_fail(id, MP_EREMOTE);
}

/* ---- Raw floors: a 1-byte ping-pong with an echo process ---------------- */

static int pingpong(void *ctx) {
  int fd = *(int *)ctx;
  char b = 1;
  if (write(fd, &b, 1) != 1 || read(fd, &b, 1) != 1)
    return -EIO;
  return 0;
}

static void echo(int fd) {
  char b;
  while (read(fd, &b, 1) == 1)
    if (write(fd, &b, 1) != 1)
      break;
  _exit(0);
}

static double raw_unix(void) {
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  pid_t pid = fork();
  if (pid == 0) {
    close(sv[0]);
    echo(sv[1]);
  }
  close(sv[1]);
  double ns = bench_ns_per_op(pingpong, &sv[0], NULL);
  close(sv[0]);
  waitpid(pid, NULL, 0);
  return ns;
}

/* The shared-memory floor: word[0] the request count, word[16] the reply
 * count, word[32] / word[48] "the client / server sleeps". */
static uint64_t raw_spin_ns;

static void raw_post(uint32_t *w, uint32_t v, uint32_t *peer_sleeping) {
  __atomic_store_n(w, v, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(peer_sleeping, __ATOMIC_SEQ_CST))
    syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* Waits until *w != old. */
static void raw_wait(uint32_t *w, uint32_t old, uint32_t *sleeping) {
  uint64_t until = bench_now_ns() + raw_spin_ns;
  for (unsigned i = 1; __atomic_load_n(w, __ATOMIC_ACQUIRE) == old; i++) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
    if ((i & 31) || bench_now_ns() < until)
      continue;
    __atomic_store_n(sleeping, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(w, __ATOMIC_SEQ_CST) == old) {
      struct timespec ts = {0, 100 * 1000 * 1000};
      syscall(SYS_futex, w, FUTEX_WAIT, old, &ts, NULL, 0);
    }
    __atomic_store_n(sleeping, 0, __ATOMIC_SEQ_CST);
  }
}

typedef struct {
  uint32_t *w;
  uint32_t n;
} shm_fixture;

static int shm_pingpong(void *ctx) {
  shm_fixture *f = ctx;
  raw_post(&f->w[0], f->n + 1, &f->w[48]);
  raw_wait(&f->w[16], f->n, &f->w[32]);
  f->n++;
  return 0;
}

static double raw_shm(uint64_t spin_ns) {
  raw_spin_ns = spin_ns;
  uint32_t *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (w == MAP_FAILED)
    bench_fail("mmap", -errno);
  pid_t pid = fork();
  if (pid == 0) {
    for (uint32_t n = 0;; n++) {
      raw_wait(&w[0], n, &w[48]);
      if (__atomic_load_n(&w[0], __ATOMIC_ACQUIRE) == UINT32_MAX)
        _exit(0);
      raw_post(&w[16], n + 1, &w[32]);
    }
  }
  shm_fixture f = {w, 0};
  double ns = bench_ns_per_op(shm_pingpong, &f, NULL);
  raw_post(&w[0], UINT32_MAX, &w[48]); /* stop */
  waitpid(pid, NULL, 0);
  munmap(w, 4096);
  return ns;
}

static double raw_tcp(void) {
  int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  bind(l, (struct sockaddr *)&a, sizeof a);
  listen(l, 1);
  getsockname(l, (struct sockaddr *)&a, &len);
  pid_t pid = fork();
  if (pid == 0) {
    int c = accept(l, NULL, NULL);
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    echo(c);
  }
  int c = socket(AF_INET, SOCK_STREAM, 0);
  connect(c, (struct sockaddr *)&a, sizeof a);
  setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  double ns = bench_ns_per_op(pingpong, &c, NULL);
  close(c);
  close(l);
  waitpid(pid, NULL, 0);
  return ns;
}

/* The calls from a child on a local manager: the spinning rows (the only
 * rows of the MP_SPIN=0 run). */
static void call_rows(void) {
  mp_manager *m = mp_manager_start_new(NULL);
  if (!m)
    bench_fail("manager start", mp_errno_code(errno));
  fixture f = {mp_manager_dict(m, NULL), mp_manager_list(m, NULL), 0};
  mp_obj *k = mp_obj_int(7);
  mp_proxy_setitem(f.d, k, k);
  mp_obj_free(k);
  in_child("manager.dict_set", dict_set, &f);
  in_child("manager.dict_get", dict_get, &f);
  in_child("manager.list_append", list_append, &f);
  mp_proxy_free(f.d);
  mp_proxy_free(f.l);
  mp_manager_free(m);
}

int main(void) {
  if (bench_nospin()) {
    call_rows();
    /* The floor without spinning: the futex-only shared-memory round trip. */
    double rs = raw_shm(0) / 1e3;
    bench_row("manager.dict_set.nospin", "us", "raw", rs);
    bench_row("manager.dict_get.nospin", "us", "raw", rs);
    bench_row("manager.list_append.nospin", "us", "raw", rs);
    return 0;
  }
  bench_desc("manager.start_shutdown", "Manager start + shutdown");
  bench_desc("manager.dict_set", "manager dict d[k] = v from a child process");
  bench_desc("manager.dict_get", "manager dict d[k] from a child process");
  bench_desc("manager.list_append", "manager list append from a child process");
  bench_desc("manager.roundtrip.socket",
             "raw 1-byte Unix-socket round trip between two processes");
  bench_desc("manager.dict_set.tcp", "manager dict d[k] = v over TCP 127.0.0.1");

  bench_row("manager.start_shutdown", "us", "mproc",
            bench_ns_per_op(start_shutdown, NULL, NULL) / 1e3);

  call_rows();
  double futex_only = raw_shm(0);
  bench_stats rs = bench_last_stats();
  if (raw_shm(50000) < futex_only)
    rs = bench_last_stats();
  rs = bench_stats_map(rs, 1e-3, 0);
  bench_row_stats("manager.dict_set", "us", "raw", rs);
  bench_row_stats("manager.dict_get", "us", "raw", rs);
  bench_row_stats("manager.list_append", "us", "raw", rs);
  bench_row("manager.roundtrip.socket", "us", "raw", raw_unix() / 1e3);

  mp_address tcp = mp_address_inet("127.0.0.1", 0);
  mp_manager_opts o = {.address = &tcp};
  mp_manager *m = mp_manager_start_new(&o);
  if (!m)
    bench_fail("manager start on TCP", mp_errno_code(errno));
  fixture t = {mp_manager_dict(m, NULL), NULL, 0};
  in_child("manager.dict_set.tcp", dict_set, &t);
  mp_proxy_free(t.d);
  mp_manager_free(m);
  bench_row("manager.dict_set.tcp", "us", "raw", raw_tcp() / 1e3);
  return bench_rerun_nospin();
}
