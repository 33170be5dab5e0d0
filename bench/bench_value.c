/* bench_value.c: shared values (rows value.*): two processes incrementing
 * a locked shared Value, the way the reference says to (`with
 * counter.get_lock(): counter.value += 1`): take the Value's lock (the
 * default RLock), read, write, release. The raw floor is a long under a
 * robust process-shared pthread mutex in shared memory. The CPython twin
 * is bench/python/bench_value.py. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <mproc.h>

#include "bench_util.h"

#define COUNTER_N 200000 /* increments per process */

typedef struct raw_shared {
  pthread_mutex_t mutex; /* robust, process-shared */
  volatile long counter;
} raw_shared;

static mp_value *g_v;    /* Value('l'), with its default RLock */
static mp_value *g_go;   /* RawValue('i'): the start signal */
static raw_shared *g_raw;

static int incr_value(void *arg, size_t len) {
  (void)arg;
  (void)len;
  mp_lock *l = mp_value_get_lock(g_v);
  for (int i = 0; i < COUNTER_N; i++) {
    int64_t x;
    if (mp_lock_acquire(l, MP_FOREVER) != 0 || mp_value_get_int(g_v, &x) != 0 ||
        mp_value_set_int(g_v, x + 1) != 0 || mp_lock_release(l) != 0)
      return 1;
  }
  return 0;
}

static int incr_raw(void *arg, size_t len) {
  (void)arg;
  (void)len;
  for (int i = 0; i < COUNTER_N; i++) {
    pthread_mutex_lock(&g_raw->mutex);
    g_raw->counter++;
    pthread_mutex_unlock(&g_raw->mutex);
  }
  return 0;
}

static int wait_go_then(mp_target_fn fn) {
  volatile int *go = mp_value_get_obj(g_go);
  while (!__atomic_load_n(go, __ATOMIC_ACQUIRE))
    ;
  return fn(NULL, 0);
}
static int child_value(void *arg, size_t len) { return wait_go_then(incr_value); }
static int child_raw(void *arg, size_t len) { return wait_go_then(incr_raw); }

/* Nanoseconds per increment with two processes at once: the median of a
 * few runs. */
static double counter_ns(mp_target_fn child, int64_t (*total)(void)) {
  double v[7];
  int runs = 0;
  uint64_t start = bench_now_ns();
  while (runs < 7 && (runs < 3 || (bench_now_ns() - start) / 1e9 < bench_budget())) {
    mp_value_set_int(g_v, 0);
    g_raw->counter = 0;
    mp_value_set_int(g_go, 0);
    mp_process *ps[2];
    for (int i = 0; i < 2; i++) {
      ps[i] = mp_process_new(child, NULL, 0, NULL);
      if (!ps[i])
        bench_fail("mp_process_new", mp_errno_code(errno));
      int r = mp_process_start(ps[i]);
      if (r < 0)
        bench_fail("mp_process_start", r);
    }
    uint64_t t0 = bench_now_ns();
    mp_value_set_int(g_go, 1);
    for (int i = 0; i < 2; i++) {
      int code = -1;
      mp_process_join(ps[i], MP_FOREVER);
      if (mp_process_exitcode(ps[i], &code) != 1 || code != 0)
        bench_fail("child", -EPROTO);
      mp_process_free(ps[i]);
    }
    v[runs++] = (double)(bench_now_ns() - t0) / (2.0 * COUNTER_N);
    if (total() != 2 * COUNTER_N)
      bench_fail("counter", -EPROTO);
  }
  return bench_median(v, (size_t)runs);
}

static int64_t total_value(void) {
  int64_t x = -1;
  mp_value_get_int(g_v, &x);
  return x;
}
static int64_t total_raw(void) { return g_raw->counter; }

int main(void) {
  g_raw = mmap(NULL, sizeof *g_raw, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (g_raw == MAP_FAILED)
    bench_fail("mmap", -errno);
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(&g_raw->mutex, &a);
  g_v = mp_value_new(MP_CTYPE('l'), NULL, NULL);
  g_go = mp_raw_value_new(MP_CTYPE('i'), NULL);
  if (!g_v || !g_go)
    bench_fail("mp_value_new", mp_errno_code(errno));

  bench_desc("value.incr_locked.2proc",
             "2 processes incrementing Value('l') under get_lock(), per increment");
  bench_row("value.incr_locked.2proc", "ns", "mproc", counter_ns(child_value, total_value));
  bench_row("value.incr_locked.2proc", "ns", "raw", counter_ns(child_raw, total_raw));

  mp_value_free(g_v);
  mp_value_free(g_go);
  munmap(g_raw, sizeof *g_raw);
  return 0;
}
