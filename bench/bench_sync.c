/* bench_sync.c: synchronization primitives (rows sync.*): an uncontended
 * Lock acquire+release, two processes incrementing a shared counter under a
 * lock, an Event ping-pong between two processes and a Barrier(2) cycle.
 * The raw floor is a robust process-shared pthread mutex in shared memory
 * (the nearest thing libc offers to a lock that survives its owner). The
 * CPython twin is bench/python/bench_sync.py. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mproc.h>

#include "bench_util.h"

#define COUNTER_N 200000 /* increments per process */

typedef struct shared {
  pthread_mutex_t mutex; /* robust, process-shared */
  volatile long counter;
  volatile int go;
} shared;

static shared *g_sh;
static mp_lock *g_lock;

static void check(int rc, const char *what) {
  if (rc < 0)
    bench_fail(what, rc);
}

static int mp_lock_op(void *ctx) {
  (void)ctx;
  int r = mp_lock_acquire(g_lock, MP_FOREVER);
  return r < 0 ? r : mp_lock_release(g_lock);
}

static int raw_lock_op(void *ctx) {
  (void)ctx;
  int r = pthread_mutex_lock(&g_sh->mutex);
  if (r)
    return -r;
  return -pthread_mutex_unlock(&g_sh->mutex);
}

/* ---- two processes incrementing a counter -------------------------------- */

static void incr_mp(void) {
  for (int i = 0; i < COUNTER_N; i++) {
    mp_lock_acquire(g_lock, MP_FOREVER);
    g_sh->counter++;
    mp_lock_release(g_lock);
  }
}

static void incr_raw(void) {
  for (int i = 0; i < COUNTER_N; i++) {
    pthread_mutex_lock(&g_sh->mutex);
    g_sh->counter++;
    pthread_mutex_unlock(&g_sh->mutex);
  }
}

/* Nanoseconds per increment, two processes at once; the median of runs. */
static double counter_ns(void (*incr)(void)) {
  double v[7];
  int runs = 0;
  uint64_t start = bench_now_ns();
  while (runs < 7 && (runs < 3 || (bench_now_ns() - start) / 1e9 < bench_budget())) {
    g_sh->counter = 0;
    g_sh->go = 0;
    pid_t pids[2];
    for (int i = 0; i < 2; i++) {
      pids[i] = fork();
      if (pids[i] == 0) {
        while (!__atomic_load_n(&g_sh->go, __ATOMIC_ACQUIRE))
          ;
        incr();
        _exit(0);
      }
    }
    uint64_t t0 = bench_now_ns();
    __atomic_store_n(&g_sh->go, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++)
      waitpid(pids[i], NULL, 0);
    v[runs++] = (double)(bench_now_ns() - t0) / (2.0 * COUNTER_N);
    if (g_sh->counter != 2 * COUNTER_N)
      bench_fail("counter", -EPROTO);
  }
  return bench_median(v, (size_t)runs);
}

/* ---- Event ping-pong, Barrier cycle -------------------------------------- */

static mp_event *g_ping, *g_pong;
static mp_barrier *g_bar;

static int pingpong_op(void *ctx) {
  (void)ctx;
  mp_event_set(g_ping);
  int r = mp_event_wait(g_pong, MP_FOREVER);
  mp_event_clear(g_pong);
  return r;
}

static int barrier_op(void *ctx) {
  (void)ctx;
  int r = mp_barrier_wait(g_bar);
  return r < 0 ? r : 0;
}

static pid_t start_partner(void (*loop)(void)) {
  pid_t pid = fork();
  if (pid == 0) {
    loop();
    _exit(0);
  }
  return pid;
}

static void pong_loop(void) {
  for (;;) {
    if (mp_event_wait(g_ping, MP_FOREVER) < 0)
      _exit(1);
    mp_event_clear(g_ping);
    mp_event_set(g_pong);
  }
}

static void barrier_loop(void) {
  for (;;)
    if (mp_barrier_wait(g_bar) < 0)
      _exit(1);
}

static void stop(pid_t pid) {
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
}

/* The Event and Barrier rows: latency and CPU per cycle (bench_spin_rows);
 * the only rows of the MP_SPIN=0 run. */
static void spinning_rows(void) {
  g_ping = mp_event_new();
  g_pong = mp_event_new();
  g_bar = mp_barrier_new(2, NULL, NULL, MP_FOREVER);
  if (!g_ping || !g_pong || !g_bar)
    bench_fail("new", mp_errno_code(errno));
  bench_desc("sync.event.pingpong", "Event ping-pong between 2 processes, round trip");
  pid_t pid = start_partner(pong_loop);
  bench_spin_rows("sync.event.pingpong", "us", 1e3, "mproc", pingpong_op, NULL, NULL);
  stop(pid);
  bench_desc("sync.barrier.cycle_2proc", "Barrier(2) wait, 2 processes, one cycle");
  pid = start_partner(barrier_loop);
  bench_spin_rows("sync.barrier.cycle_2proc", "us", 1e3, "mproc", barrier_op, NULL, NULL);
  stop(pid);
}

int main(void) {
  g_sh = mmap(NULL, sizeof *g_sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (g_sh == MAP_FAILED)
    bench_fail("mmap", -errno);
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(&g_sh->mutex, &a);
  g_lock = mp_lock_new();
  if (!g_lock)
    bench_fail("mp_lock_new", mp_errno_code(errno));
  if (bench_nospin()) { /* the lock spins before it sleeps too */
    bench_desc("sync.lock.counter_2proc.nospin",
               "sync.lock.counter_2proc with MP_SPIN=0: the lock sleeps at once when taken");
    bench_row("sync.lock.counter_2proc.nospin", "ns", "mproc", counter_ns(incr_mp));
    bench_row("sync.lock.counter_2proc.nospin", "ns", "raw", counter_ns(incr_raw));
    spinning_rows();
    return 0;
  }

  bench_desc("sync.lock.uncontended", "Lock acquire+release, uncontended, one process");
  bench_row("sync.lock.uncontended", "ns", "mproc", bench_ns_per_op(mp_lock_op, NULL, NULL));
  bench_row("sync.lock.uncontended", "ns", "raw", bench_ns_per_op(raw_lock_op, NULL, NULL));

  bench_desc("sync.lock.counter_2proc",
             "2 processes incrementing a shared counter under a lock, per increment");
  bench_row("sync.lock.counter_2proc", "ns", "mproc", counter_ns(incr_mp));
  bench_row("sync.lock.counter_2proc", "ns", "raw", counter_ns(incr_raw));

  spinning_rows();
  check(0, "done");
  mp_event_free(g_ping);
  mp_event_free(g_pong);
  mp_barrier_free(g_bar);
  mp_lock_free(g_lock);
  munmap(g_sh, sizeof *g_sh);
  return bench_rerun_nospin();
}
