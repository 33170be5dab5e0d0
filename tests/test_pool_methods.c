/* test_pool_methods.c: the pool on every start method (fork, spawn,
 * forkserver, thread): apply, apply_async with callbacks, map into the
 * caller's array (growing the arena after the workers started), imap with
 * an error in the middle, imap_unordered, starmap, the initializer with
 * argument bytes, maxtasksperchild, worker names, and for the process
 * methods a worker killed by SIGKILL (its task fails with MP_EWORKERDIED,
 * the pool replaces it). Spawn-specific: a task function the worker's
 * program lacks fails with MP_ESTALE, never a call to a wrong address.
 * Bad input: an unknown method, options a method cannot honour, a context
 * that disagrees with the options; no orphan is left. Tasks run in other
 * program images: they report only through results and codes. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <sys/syscall.h>

#include "mp_test.h"
#include "mproc.h"
#include "pool/pool_internal.h"
#include "pool_test_tasks.h"

static const char *const g_methods[] = {"fork", "spawn", "forkserver",
                                        "thread"};

/* ---- tasks ---------------------------------------------------------------- */

typedef struct pair {
  int a, b;
} pair;

static int mul(const void *arg, size_t len, mp_task_out *out) {
  (void)len;
  const pair *p = arg;
  int y = p->a * p->b;
  return mp_task_out_set(out, &y, sizeof y);
}

/* Its worker's name. */
static int whoami(const void *arg, size_t len, mp_task_out *out) {
  (void)arg;
  (void)len;
  const char *n = mp_process_name(mp_current_process());
  return mp_task_out_set(out, n, strlen(n) + 1);
}

/* The worker's thread id (a process's pid for the process methods). */
static int worker_id(const void *arg, size_t len, mp_task_out *out) {
  (void)arg;
  (void)len;
  int id = (int)syscall(SYS_gettid);
  return mp_task_out_set(out, &id, sizeof id);
}

/* Dies by SIGKILL on x == 3 (a real signal, as from outside). */
static int kill_on_3(const void *arg, size_t len, mp_task_out *out) {
  (void)len;
  int x = *(const int *)arg;
  if (x == 3)
    raise(SIGKILL);
  return mp_task_out_set(out, &x, sizeof x);
}

/* The initializer stores its argument; the task returns it. */
static int g_init_value = -1;
static int init_store(void *arg) {
  g_init_value = *(const int *)arg;
  return 0;
}
static int get_init(const void *arg, size_t len, mp_task_out *out) {
  (void)arg;
  (void)len;
  return mp_task_out_set(out, &g_init_value, sizeof g_init_value);
}

/* Never called: the test corrupts its reference in the function table. */
static int never_called(const void *arg, size_t len, mp_task_out *out) {
  (void)arg;
  (void)len;
  (void)out;
  _exit(42);
}

/* ---- helpers -------------------------------------------------------------- */

static int count_children(void) {
  size_t n = 0;
  assert_int_equal(mp_active_children(NULL, &n), 0);
  return (int)n;
}

static mp_pool *new_pool(const char *method, mp_pool_opts o) {
  o.start_method = method;
  mp_pool *p = mp_pool_new(&o);
  if (!p)
    fail_msg("mp_pool_new(%s): %s", method, mp_strerror(mp_errno_code(errno)));
  return p;
}

static void end_pool(mp_pool *p) {
  assert_int_equal(mp_pool_close(p), 0);
  assert_int_equal(mp_pool_join(p, 60), 0);
  mp_pool_free(p);
  assert_int_equal(count_children(), 0);
}

static long long g_cb_sum;
static int g_ecb_count;
static void on_result(mp_result *r, void *ctx) {
  const void *d;
  size_t n;
  if (mp_result_get(r, 0, &d, &n) == 0 && ctx == &g_cb_sum)
    __atomic_add_fetch(&g_cb_sum, n == sizeof(double), __ATOMIC_RELAXED);
}
static void on_error(mp_result *r, void *ctx) {
  (void)ctx;
  if (mp_result_error(r))
    __atomic_add_fetch(&g_ecb_count, 1, __ATOMIC_RELAXED);
}

/* ---- the core behaviours, once per method ---------------------------------- */

static void core(const char *method) {
  mp_pool *p = new_pool(method, (mp_pool_opts){.processes = 2});
  assert_int_equal(mp_pool_processes(p), 2);

  /* Names as CPython gives them. */
  void *out;
  size_t n;
  assert_int_equal(mp_pool_apply(p, whoami, NULL, 0, &out, &n, NULL), 0);
  const char *want = strcmp(method, "fork") == 0         ? "ForkPoolWorker-"
                     : strcmp(method, "spawn") == 0      ? "SpawnPoolWorker-"
                     : strcmp(method, "forkserver") == 0 ? "ForkServerPoolWorker-"
                                                         : "Thread-";
  if (strncmp(out, want, strlen(want)) != 0)
    fail_msg("%s: worker named %s", method, (char *)out);
  mp_free(out);

  /* apply, and an error from a task. */
  int x = 7;
  mp_error err;
  assert_int_equal(mp_pool_apply(p, square, &x, sizeof x, &out, &n, &err), 0);
  assert_int_equal(n, sizeof(int));
  assert_int_equal(*(int *)out, 49);
  mp_free(out);
  x = 5;
  assert_int_equal(mp_pool_apply(p, inv, &x, sizeof x, &out, &n, &err), MP_ETASK);
  assert_int_equal(err.status, 1);
  assert_string_equal(err.message, "ZeroDivisionError: float division by zero");

  /* A big argument: the arena grows after the workers started. */
  size_t big = (size_t)3 << 20;
  char *s = malloc(big);
  for (size_t i = 0; i < big; i++)
    s[i] = (char)('a' + i % 26);
  assert_int_equal(mp_pool_apply(p, echo_upper, s, big, &out, &n, NULL), 0);
  assert_int_equal(n, big);
  for (size_t i = 0; i < big; i++)
    if (((char *)out)[i] != (char)('A' + i % 26))
      fail_msg("%s: byte %zu", method, i);
  mp_free(out);
  free(s);

  /* apply_async with callbacks. */
  enum { N = 200 };
  mp_result *rs[N];
  g_cb_sum = 0;
  g_ecb_count = 0;
  mp_call_opts co = {.callback = on_result, .error_callback = on_error,
                     .ctx = &g_cb_sum};
  for (int i = 0; i < N; i++) {
    int v = i % 10;
    rs[i] = mp_pool_apply_async(p, inv, &v, sizeof v, &co);
    assert_non_null(rs[i]);
  }
  for (int i = 0; i < N; i++) {
    const void *d;
    int rc = mp_result_get(rs[i], 60, &d, &n);
    if (i % 10 == 5) {
      assert_int_equal(rc, MP_ETASK);
      assert_int_equal(mp_result_successful(rs[i]), 0);
    } else {
      assert_int_equal(rc, 0);
      assert_true(fabs(*(const double *)d - 1.0 / (i % 10 - 5.0)) < 1e-12);
    }
    mp_result_free(rs[i]);
  }
  assert_int_equal(g_cb_sum, N - N / 10);
  assert_int_equal(g_ecb_count, N / 10);

  /* map of fixed-size items straight into our array. */
  enum { M = 10000 };
  int *in = malloc(M * sizeof *in), *res = malloc(M * sizeof *res);
  for (int i = 0; i < M; i++)
    in[i] = i;
  assert_int_equal(mp_pool_map(p, square, in, M, sizeof(int), res, sizeof(int),
                               NULL, NULL), 0);
  for (int i = 0; i < M; i++)
    assert_int_equal(res[i], i * i);
  /* map reports the first failure. */
  double dres[10];
  assert_int_equal(mp_pool_map(p, inv, in, 10, sizeof(int), dres, sizeof(double),
                               NULL, &err), MP_ETASK);
  assert_string_equal(err.message, "ZeroDivisionError: float division by zero");

  /* imap: the error at i == 5, then it goes on. */
  mp_imap *it = mp_pool_imap(p, inv, in, 10, sizeof(int), NULL);
  assert_non_null(it);
  for (int i = 0; i < 10; i++) {
    const void *d;
    int rc = mp_imap_next(it, 60, &d, &n);
    if (i == 5) {
      assert_int_equal(rc, MP_ETASK);
      assert_non_null(mp_imap_error(it));
    } else {
      assert_int_equal(rc, 0);
      assert_true(fabs(*(const double *)d - 1.0 / (i - 5.0)) < 1e-12);
    }
  }
  assert_int_equal(mp_imap_next(it, 1, NULL, NULL), MP_ESTOP);
  mp_imap_free(it);

  /* imap_unordered: every item once. */
  it = mp_pool_imap_unordered(p, square, in, 50, sizeof(int), NULL);
  assert_non_null(it);
  char seen[50] = {0};
  for (int i = 0; i < 50; i++) {
    const void *d;
    assert_int_equal(mp_imap_next(it, 60, &d, &n), 0);
    size_t k = mp_imap_index(it);
    assert_true(k < 50 && !seen[k]);
    seen[k] = 1;
    assert_int_equal(*(const int *)d, (int)(k * k));
  }
  assert_int_equal(mp_imap_next(it, 1, NULL, NULL), MP_ESTOP);
  mp_imap_free(it);

  /* starmap. */
  pair args[100];
  int prods[100];
  for (int i = 0; i < 100; i++)
    args[i] = (pair){i, i + 1};
  assert_int_equal(mp_pool_starmap(p, mul, args, 100, sizeof(pair), prods,
                                   sizeof(int), NULL, NULL), 0);
  for (int i = 0; i < 100; i++)
    assert_int_equal(prods[i], i * (i + 1));
  free(in);
  free(res);
  end_pool(p);
}

static void test_core_fork(void **state) {
  (void)state;
  mp_test_watchdog(120);
  core("fork");
}
static void test_core_spawn(void **state) {
  (void)state;
  mp_test_watchdog(120);
  core("spawn");
}
static void test_core_forkserver(void **state) {
  (void)state;
  mp_test_watchdog(120);
  core("forkserver");
}
static void test_core_thread(void **state) {
  (void)state;
  mp_test_watchdog(120);
  core("thread");
}

/* ---- initializer and maxtasksperchild ----------------------------------------- */

static void test_initializer_and_maxtasks(void **state) {
  (void)state;
  mp_test_watchdog(240);
  for (size_t m = 0; m < MP__ARRAY_SIZE(g_methods); m++) {
    const char *method = g_methods[m];
    int v = 1234 + (int)m;
    mp_pool *p = new_pool(method, (mp_pool_opts){.processes = 2,
                                                 .initializer = init_store,
                                                 .initarg = &v,
                                                 .initarg_len = sizeof v});
    v = 0; /* copied at creation */
    int got[8];
    int dummy[8] = {0};
    assert_int_equal(mp_pool_map(p, get_init, dummy, 8, sizeof(int), got,
                                 sizeof(int), &(mp_call_opts){.chunksize = 1},
                                 NULL), 0);
    for (int i = 0; i < 8; i++)
      assert_int_equal(got[i], 1234 + (int)m);
    end_pool(p);

    /* maxtasksperchild=1: every chunk in a fresh worker. */
    p = new_pool(method, (mp_pool_opts){.processes = 2, .maxtasksperchild = 1});
    enum { K = 12 };
    int ids[K], in[K] = {0};
    assert_int_equal(mp_pool_map(p, worker_id, in, K, sizeof(int), ids,
                                 sizeof(int), &(mp_call_opts){.chunksize = 1},
                                 NULL), 0);
    int distinct = 0;
    for (int i = 0; i < K; i++) {
      bool dup = false;
      for (int k = 0; k < i; k++)
        dup |= ids[k] == ids[i];
      distinct += !dup;
    }
    if (distinct <= 2)
      fail_msg("%s: %d distinct workers for %d tasks", method, distinct, K);
    end_pool(p);
  }
}

/* ---- a worker killed ----------------------------------------------------------- */

static void test_worker_killed(void **state) {
  (void)state;
  mp_test_watchdog(180);
  for (size_t m = 0; m < 3; m++) { /* not thread: it would kill us */
    const char *method = g_methods[m];
    mp_pool *p = new_pool(method, (mp_pool_opts){.processes = 2});
    int in[10], res[10];
    for (int i = 0; i < 10; i++)
      in[i] = i;
    mp_error err;
    assert_int_equal(mp_pool_map(p, kill_on_3, in, 10, sizeof(int), res,
                                 sizeof(int), &(mp_call_opts){.chunksize = 1},
                                 &err), MP_EWORKERDIED);
    assert_int_equal(err.code, MP_EWORKERDIED);
    if (!strstr(err.message, "SIGKILL") && !strstr(err.message, "signal 9"))
      fail_msg("%s: %s", method, err.message);
    for (int i = 0; i < 10; i++)
      if (i != 3)
        assert_int_equal(res[i], i);
    /* The replacement works. */
    int x = 9;
    void *out;
    size_t n;
    assert_int_equal(mp_pool_apply(p, square, &x, sizeof x, &out, &n, NULL), 0);
    assert_int_equal(*(int *)out, 81);
    mp_free(out);
    end_pool(p);
  }
}

/* ---- functions across exec ------------------------------------------------------ */

static void test_spawn_stale_function(void **state) {
  (void)state;
  mp_test_watchdog(60);
  for (size_t m = 1; m <= 2; m++) {
    mp_pool *p = new_pool(g_methods[m], (mp_pool_opts){.processes = 1});
    /* A function the worker's program lacks: register it, then make its
     * reference name another build. */
    uint64_t id;
    assert_int_equal(pool__fn_id(p, never_called, &id), 0);
    p->fntab->refs[id].id[0] ^= 0xff;
    int x = 1;
    mp_error err;
    assert_int_equal(mp_pool_apply(p, never_called, &x, sizeof x, NULL, NULL,
                                   &err), MP_ESTALE);
    int in[4] = {0}, out[4];
    assert_int_equal(mp_pool_map(p, never_called, in, 4, sizeof(int), out,
                                 sizeof(int), NULL, NULL), MP_ESTALE);
    /* The worker is fine and runs what it has. */
    void *r;
    size_t n;
    x = 3;
    assert_int_equal(mp_pool_apply(p, square, &x, sizeof x, &r, &n, NULL), 0);
    assert_int_equal(*(int *)r, 9);
    mp_free(r);
    /* Not code at all: refused at submission. */
    static const char not_code[16];
    errno = 0;
    assert_null(mp_pool_apply_async(p, (mp_task_fn)(uintptr_t)not_code, &x,
                                    sizeof x, NULL));
    assert_int_equal(errno, EINVAL);
    end_pool(p);
  }
}

/* ---- bad input ------------------------------------------------------------------- */

static void test_bad_input(void **state) {
  (void)state;
  mp_test_watchdog(60);
  errno = 0;
  assert_null(mp_pool_new(&(mp_pool_opts){.start_method = "bogus"}));
  assert_int_equal(errno, EINVAL);
  assert_null(mp_pool_new(&(mp_pool_opts){.start_method = ""}));
  assert_int_equal(errno, EINVAL);
  /* A thread cannot be killed: no time limits, no memory limits. */
  assert_null(mp_pool_new(&(mp_pool_opts){.start_method = "thread",
                                          .task_timeout = 1}));
  assert_int_equal(mp_errno_code(errno), MP_ENOTSUP);
  assert_null(mp_pool_new(&(mp_pool_opts){.start_method = "thread",
                                          .max_memory_per_child = 1 << 30}));
  assert_int_equal(mp_errno_code(errno), MP_ENOTSUP);
  /* A pointer does not cross exec. */
  int v = 1;
  assert_null(mp_pool_new(&(mp_pool_opts){.start_method = "spawn",
                                          .initializer = init_store,
                                          .initarg = &v}));
  assert_int_equal(errno, EINVAL);
  assert_null(mp_pool_new(&(mp_pool_opts){.initarg_len = 4}));
  assert_int_equal(errno, EINVAL);
  /* Contexts. */
  assert_null(mp_context_pool_new(NULL, NULL));
  assert_int_equal(errno, EINVAL);
  mp_context *ctx = mp_get_context("spawn");
  assert_non_null(ctx);
  assert_null(mp_context_pool_new(ctx, &(mp_pool_opts){.start_method = "fork"}));
  assert_int_equal(errno, EINVAL);
  assert_int_equal(count_children(), 0);
  /* And the context's pool is a spawn pool. */
  mp_pool *p = mp_context_pool_new(ctx, &(mp_pool_opts){.processes = 1});
  assert_non_null(p);
  void *out;
  size_t n;
  assert_int_equal(mp_pool_apply(p, whoami, NULL, 0, &out, &n, NULL), 0);
  assert_true(strncmp(out, "SpawnPoolWorker-", 16) == 0);
  mp_free(out);
  end_pool(p);
  /* terminate of a thread pool while tasks are queued: prompt between
   * items, the rest fail with MP_ECLOSED. */
  p = new_pool("thread", (mp_pool_opts){.processes = 2});
  int in[1000];
  for (int i = 0; i < 1000; i++)
    in[i] = i;
  mp_result *r = mp_pool_map_async(p, square, in, 1000, sizeof(int), NULL,
                                   sizeof(int), &(mp_call_opts){.chunksize = 1});
  assert_non_null(r);
  assert_int_equal(mp_pool_terminate(p), 0);
  int rc = mp_result_get(r, 30, NULL, NULL);
  assert_true(rc == 0 || rc == MP_ECLOSED);
  mp_result_free(r);
  assert_int_equal(mp_pool_join(p, 30), 0);
  mp_pool_free(p);
  assert_int_equal(count_children(), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_core_fork),
      cmocka_unit_test(test_core_spawn),
      cmocka_unit_test(test_core_forkserver),
      cmocka_unit_test(test_core_thread),
      cmocka_unit_test(test_initializer_and_maxtasks),
      cmocka_unit_test(test_worker_killed),
      cmocka_unit_test(test_spawn_stale_function),
      cmocka_unit_test(test_bad_input),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
