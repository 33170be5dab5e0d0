/* test_manager_chan.c: the manager's shared-memory call channel: the wait
 * policy (spin, then sleep; failures and skips; the alive check), that an
 * idle server and a client blocked in a long call burn no CPU, and many
 * client processes and threads calling at once on one object. Timing is
 * never asserted beyond generous CPU-time bounds. */
#include <errno.h>
#include <pthread.h>
#include <sys/wait.h>
#include <time.h>

#include "manager/manager_internal.h"
#include "mp_test.h"
#include "mproc.h"

/* ---- The wait policy, between two threads -------------------------------- */

typedef struct {
  uint32_t word, sleeping;
  int delay_ms;
  mgr_waiter w;
} poster;

static void *post_later(void *arg) {
  poster *p = arg;
  struct timespec ts = {p->delay_ms / 1000, (p->delay_ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
  mp__mgr_chan_post(&p->w, &p->word, p->word + 1, &p->sleeping);
  return NULL;
}

static void wait_for_post(mgr_waiter *w, int delay_ms) {
  poster p = {.word = 5, .delay_ms = delay_ms};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, post_later, &p), 0);
  assert_int_equal(mp__mgr_chan_wait(w, &p.word, 5, &p.sleeping), 0);
  assert_int_equal(p.word, 6);
  pthread_join(t, NULL);
}

static int dead(void *ctx) {
  (*(int *)ctx)++;
  return MP_EEOF;
}

static void test_wait_policy(void **state) {
  (void)state;
  mp_test_watchdog(30);
  /* Already there: no wait at all. */
  mgr_waiter w = {.spin_ns = 1000, .slice_ns = 10 * 1000 * 1000};
  uint32_t word = 1, sl = 0;
  assert_int_equal(mp__mgr_chan_wait(&w, &word, 0, &sl), 0);
  /* Never spinning: sleeps until posted. */
  mgr_waiter w0 = {.spin_ns = 0, .slice_ns = 5 * 1000 * 1000};
  wait_for_post(&w0, 30);
  assert_int_equal(w0.fails, 0);
  /* A spin that ends in sleep while the peer was awake is a failure; two
   * in a row skip the next spins. */
  w.woke_peer = false;
  wait_for_post(&w, 20);
  wait_for_post(&w, 20);
  if (w.fails == 2) /* a busy machine skips spinning: nothing counted */
    assert_int_equal(w.skip, 4);
  int skip = w.skip;
  if (skip > 0) {
    wait_for_post(&w, 1);
    assert_int_equal(w.skip, skip - 1);
  }
  /* When our own post had to wake the peer, a long wait is no failure. */
  mgr_waiter w2 = {.spin_ns = 1000, .slice_ns = 10 * 1000 * 1000,
                   .woke_peer = true};
  wait_for_post(&w2, 20);
  assert_int_equal(w2.fails, 0);
  /* The alive check runs between slices and ends the wait. */
  int calls = 0;
  mgr_waiter wd = {.spin_ns = 0, .slice_ns = 2 * 1000 * 1000, .alive = dead,
                   .ctx = &calls};
  word = 3;
  assert_int_equal(mp__mgr_chan_wait(&wd, &word, 3, &sl), MP_EEOF);
  assert_int_equal(calls, 1);
  assert_int_equal(sl, 0);
  /* The post wakes a sleeper and says so. */
  mgr_waiter wp = {0};
  sl = 1;
  mp__mgr_chan_post(&wp, &word, 4, &sl);
  assert_true(wp.woke_peer);
  sl = 0;
  mp__mgr_chan_post(&wp, &word, 5, &sl);
  assert_false(wp.woke_peer);
}

/* ---- CPU time of idle ends ------------------------------------------------ */

/* utime + stime of a process, in seconds. */
static double cpu_seconds(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  const char *p = strrchr(buf, ')'); /* the name may hold spaces */
  unsigned long ut = 0, st = 0;
  if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                   &ut, &st) != 2)
    return -1;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void sleep_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    ;
}

static void test_idle_costs_nothing(void **state) {
  (void)state;
  mp_test_watchdog(40);
  mp_manager *m = mp_manager_start_new(NULL);
  assert_non_null(m);
  pid_t srv = mp_manager_pid(m);
  mp_proxy *d = mp_manager_dict(m, NULL);
  mp_proxy *q = mp_manager_queue(m, 0);
  assert_non_null(d);
  assert_non_null(q);
  for (int i = 0; i < 2000; i++) {
    mp_obj *k = mp_obj_int(i & 63);
    assert_int_equal(mp_proxy_setitem(d, k, k), 0);
    mp_obj_free(k);
  }
  /* The connections stay open; nobody calls. Generous: < 20% of a CPU. */
  double c0 = cpu_seconds(srv);
  assert_true(c0 >= 0);
  sleep_s(2.0);
  double idle = cpu_seconds(srv) - c0;
  fprintf(stderr, "idle server: %.2f s of CPU in 2 s\n", idle);
  assert_true(idle < 0.4);
  /* A client blocked in a long call (get on an empty queue) sleeps too,
   * and so does the server thread serving it. */
  c0 = cpu_seconds(getpid());
  double s0 = cpu_seconds(srv);
  mp_obj *v = NULL;
  assert_int_equal(mp_proxy_get(q, true, 1.5, &v), MP_EEMPTY);
  double blocked = cpu_seconds(getpid()) - c0, sblocked = cpu_seconds(srv) - s0;
  fprintf(stderr, "blocked 1.5 s: client %.2f s, server %.2f s of CPU\n",
          blocked, sblocked);
  assert_true(blocked < 0.3);
  assert_true(sblocked < 0.3);
  mp_proxy_free(d);
  mp_proxy_free(q);
  mp_manager_free(m);
}

/* ---- Many callers at once ---------------------------------------------------- */

enum { PROCS = 3, THREADS = 3, CALLS = 600 };

typedef struct {
  mp_proxy *d, *l;
  int base;
} caller;

static void *call_many(void *arg) {
  caller *c = arg;
  for (int i = 0; i < CALLS; i++) {
    mp_obj *k = mp_obj_int(c->base + i);
    if (mp_proxy_setitem(c->d, k, k) < 0 || mp_proxy_append(c->l, k) < 0)
      _exit(3);
    mp_obj *v = NULL;
    int64_t x = -1;
    if (mp_proxy_getitem(c->d, k, &v) < 0 || mp_obj_int_value(v, &x) < 0 ||
        x != c->base + i)
      _exit(4);
    mp_obj_free(v);
    mp_obj_free(k);
  }
  return NULL;
}

static void test_many_callers(void **state) {
  (void)state;
  mp_test_watchdog(60);
  mp_manager *m = mp_manager_start_new(NULL);
  assert_non_null(m);
  mp_proxy *d = mp_manager_dict(m, NULL), *l = mp_manager_list(m, NULL);
  assert_non_null(d);
  assert_non_null(l);
  pid_t pids[PROCS];
  for (int p = 0; p < PROCS; p++) {
    pids[p] = fork();
    assert_true(pids[p] >= 0);
    if (pids[p] == 0) {
      pthread_t t[THREADS];
      caller c[THREADS];
      for (int i = 0; i < THREADS; i++) {
        c[i] = (caller){d, l, (p * THREADS + i) * CALLS};
        if (pthread_create(&t[i], NULL, call_many, &c[i]))
          _exit(2);
      }
      for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
      _exit(0);
    }
  }
  for (int p = 0; p < PROCS; p++) {
    int st;
    assert_int_equal(waitpid(pids[p], &st, 0), pids[p]);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
  }
  size_t n = 0;
  assert_int_equal(mp_proxy_len(d, &n), 0);
  assert_int_equal(n, PROCS * THREADS * CALLS);
  assert_int_equal(mp_proxy_len(l, &n), 0);
  assert_int_equal(n, PROCS * THREADS * CALLS);
  mp_proxy_free(d);
  mp_proxy_free(l);
  mp_manager_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_wait_policy),
      cmocka_unit_test(test_idle_costs_nothing),
      cmocka_unit_test(test_many_callers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
