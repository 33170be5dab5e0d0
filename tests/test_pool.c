/* test_pool.c: the pool's everyday behaviour: apply, apply_async with
 * callbacks, map (fixed-size and bytes), starmap, imap and imap_unordered
 * with timeouts, task errors, chunking over a million tiny tasks, close,
 * join, terminate, and bad input. The crash and time-limit promises are in
 * test_pool_robust.c. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "mp_test.h"
#include "mproc.h"
#include "pool/pool_internal.h"
#include "pool_test_tasks.h"

static int ident_pid(const void *arg, size_t len, mp_task_out *out) {
  (void)arg;
  (void)len;
  int pid = getpid();
  return mp_task_out_set(out, &pid, sizeof pid);
}

static int sleepy(const void *arg, size_t len, mp_task_out *out) {
  (void)len;
  (void)out;
  double s = *(const double *)arg;
  struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    ;
  return 0;
}

static mp_pool *new_pool(int n) {
  mp_pool *p = mp_pool_new(&(mp_pool_opts){.processes = n});
  assert_non_null(p);
  return p;
}

static void end_pool(mp_pool *p) {
  assert_int_equal(mp_pool_close(p), 0);
  assert_int_equal(mp_pool_join(p, 30), 0);
  mp_pool_free(p);
}

static void test_apply(void **state) {
  (void)state;
  mp_test_watchdog(30);
  mp_pool *p = new_pool(2);
  assert_int_equal(mp_pool_processes(p), 2);
  int x = 7;
  void *out;
  size_t n;
  mp_error err;
  assert_int_equal(mp_pool_apply(p, square, &x, sizeof x, &out, &n, &err), 0);
  assert_int_equal(n, sizeof(int));
  assert_int_equal(*(int *)out, 49);
  mp_free(out);
  x = 5;
  assert_int_equal(mp_pool_apply(p, inv, &x, sizeof x, &out, &n, &err), MP_ETASK);
  assert_null(out);
  assert_int_equal(err.code, MP_ETASK);
  assert_int_equal(err.status, 1);
  assert_string_equal(err.message, "ZeroDivisionError: float division by zero");
  /* Big argument and result go through the arena and fragments. */
  size_t big = 1 << 20;
  char *s = malloc(big);
  for (size_t i = 0; i < big; i++)
    s[i] = (char)('a' + i % 26);
  assert_int_equal(mp_pool_apply(p, echo_upper, s, big, &out, &n, NULL), 0);
  assert_int_equal(n, big);
  for (size_t i = 0; i < big; i++)
    if (((char *)out)[i] != (char)('A' + i % 26))
      fail_msg("byte %zu", i);
  mp_free(out);
  free(s);
  end_pool(p);
}

static long long g_cb_sum;
static int g_ecb_count;
static void on_result(mp_result *r, void *ctx) {
  const void *d;
  size_t n;
  assert_int_equal(mp_result_get(r, 0, &d, &n), 0);
  __atomic_add_fetch(&g_cb_sum, *(const int *)d, __ATOMIC_RELAXED);
  assert_ptr_equal(ctx, &g_cb_sum);
}
static void on_error(mp_result *r, void *ctx) {
  (void)ctx;
  assert_non_null(mp_result_error(r));
  __atomic_add_fetch(&g_ecb_count, 1, __ATOMIC_RELAXED);
}

static void test_apply_async(void **state) {
  (void)state;
  mp_test_watchdog(30);
  mp_pool *p = new_pool(2);
  enum { N = 2000 };
  mp_result *rs[N];
  g_cb_sum = 0;
  g_ecb_count = 0;
  mp_call_opts o = {.callback = on_result, .error_callback = on_error,
                    .ctx = &g_cb_sum};
  for (int i = 0; i < N; i++) {
    rs[i] = mp_pool_apply_async(p, square, &i, sizeof i, &o);
    assert_non_null(rs[i]);
  }
  long long sum = 0;
  for (int i = 0; i < N; i++) {
    const void *d;
    size_t n;
    assert_int_equal(mp_result_get(rs[i], MP_FOREVER, &d, &n), 0);
    assert_int_equal(*(const int *)d, i * i);
    assert_int_equal(mp_result_ready(rs[i]), 1);
    assert_int_equal(mp_result_successful(rs[i]), 1);
    assert_null(mp_result_error(rs[i]));
    sum += i * i;
    mp_result_free(rs[i]);
  }
  /* Callbacks ran before get returned. */
  assert_true(g_cb_sum == sum);
  int five = 5;
  mp_result *r = mp_pool_apply_async(p, inv, &five, sizeof five, &o);
  assert_int_equal(mp_result_get(r, MP_FOREVER, NULL, NULL), MP_ETASK);
  assert_int_equal(mp_result_successful(r), 0);
  assert_int_equal(g_ecb_count, 1);
  assert_string_equal(mp_result_error(r)->message,
                      "ZeroDivisionError: float division by zero");
  /* The same record for the thread that read it (errors.h). */
  assert_int_equal(mp_last_error()->code, MP_ETASK);
  assert_string_equal(mp_last_error()->message,
                      "ZeroDivisionError: float division by zero");
  mp_result_free(r);
  /* get with a timeout on a sleeping task; successful before ready. */
  double t = 0.5;
  r = mp_pool_apply_async(p, sleepy, &t, sizeof t, NULL);
  assert_int_equal(mp_result_get(r, 0.05, NULL, NULL), MP_ETIMEOUT);
  assert_int_equal(mp_result_ready(r), 0);
  assert_int_equal(mp_result_successful(r), MP_ENOTREADY);
  assert_int_equal(mp_result_wait(r, 10), 0);
  assert_int_equal(mp_result_successful(r), 1);
  mp_result_free(r);
  /* A result freed before it is ready still runs its callback. */
  g_cb_sum = 0;
  int three = 3;
  mp_result_free(mp_pool_apply_async(p, square, &three, sizeof three, &o));
  end_pool(p);
  assert_int_equal(g_cb_sum, 9);
}

static void test_map(void **state) {
  (void)state;
  mp_test_watchdog(60);
  mp_pool *p = new_pool(2);
  int in[10], out[10];
  for (int i = 0; i < 10; i++)
    in[i] = i;
  assert_int_equal(
      mp_pool_map(p, square, in, 10, sizeof(int), out, sizeof(int), NULL, NULL), 0);
  for (int i = 0; i < 10; i++)
    assert_int_equal(out[i], i * i);
  /* Errors: map waits for all, reports the failure of lowest index. */
  double dout[10];
  mp_error err;
  assert_int_equal(mp_pool_map(p, inv, in, 10, sizeof(int), dout,
                               sizeof(double), NULL, &err),
                   MP_ETASK);
  assert_string_equal(err.message, "ZeroDivisionError: float division by zero");
  assert_true(fabs(dout[9] - 0.25) < 1e-12);
  /* map_async with out NULL: results read in shared memory. */
  mp_result *r = mp_pool_map_async(p, square, in, 10, sizeof(int), NULL,
                                   sizeof(int), &(mp_call_opts){.chunksize = 3});
  const void *d;
  size_t n;
  assert_int_equal(mp_result_get(r, MP_FOREVER, &d, &n), 0);
  assert_int_equal(n, 10 * sizeof(int));
  for (int i = 0; i < 10; i++)
    assert_int_equal(((const int *)d)[i], i * i);
  assert_int_equal(mp_result_item(r, 4, &d, &n), 0);
  assert_int_equal(*(const int *)d, 16);
  assert_int_equal(mp_result_item(r, 10, &d, &n), MP_EINDEX);
  mp_result_free(r);
  /* Failed items of a fixed map are reported per item. */
  r = mp_pool_map_async(p, inv, in, 10, sizeof(int), dout, sizeof(double), NULL);
  assert_int_equal(mp_result_get(r, MP_FOREVER, NULL, NULL), MP_ETASK);
  assert_int_equal(mp_result_item(r, 5, &d, &n), MP_ETASK);
  assert_non_null(mp_result_item_error(r, 5));
  assert_null(mp_result_item_error(r, 4));
  assert_int_equal(mp_result_item(r, 6, &d, &n), 0);
  assert_true(fabs(*(const double *)d - 1.0) < 1e-12);
  mp_result_free(r);
  /* Empty map. */
  assert_int_equal(mp_pool_map(p, square, NULL, 0, sizeof(int), NULL, 0, NULL, NULL), 0);
  /* Tutorial 000: pool.map(worker, range(5)) returns the workers' pids. */
  int pids[5];
  assert_int_equal(mp_pool_map(p, ident_pid, in, 5, sizeof(int), pids,
                               sizeof(int), NULL, NULL), 0);
  for (int i = 0; i < 5; i++)
    assert_true(pids[i] > 0 && pids[i] != getpid());
  end_pool(p);
}

typedef struct triple {
  int a, b, c;
} triple;
static int sum3(const void *arg, size_t len, mp_task_out *out) {
  assert_int_equal(len, sizeof(triple));
  const triple *t = arg;
  int s = t->a + t->b + t->c;
  return mp_task_out_set(out, &s, sizeof s);
}

static void test_starmap_and_bytes(void **state) {
  (void)state;
  mp_test_watchdog(30);
  mp_pool *p = new_pool(2);
  triple args[5];
  for (int i = 0; i < 5; i++)
    args[i] = (triple){i, i * 2, i * 3};
  int out[5];
  assert_int_equal(mp_pool_starmap(p, sum3, args, 5, sizeof(triple), out,
                                   sizeof(int), NULL, NULL), 0);
  for (int i = 0; i < 5; i++)
    assert_int_equal(out[i], 6 * i);
  mp_result *r = mp_pool_starmap_async(p, sum3, args, 5, sizeof(triple), out,
                                       sizeof(int), NULL);
  assert_int_equal(mp_result_wait(r, MP_FOREVER), 0);
  mp_result_free(r);
  const char *words[] = {"alpha", "", "gamma", "a much longer word here"};
  struct iovec iov[4];
  for (int i = 0; i < 4; i++)
    iov[i] = (struct iovec){(void *)words[i], strlen(words[i])};
  r = mp_pool_map_bytes_async(p, echo_upper, iov, 4, NULL);
  assert_non_null(r);
  assert_int_equal(mp_result_get(r, MP_FOREVER, NULL, NULL), 0);
  assert_int_equal(mp_result_count(r), 4);
  const void *d;
  size_t n;
  assert_int_equal(mp_result_item(r, 2, &d, &n), 0);
  assert_int_equal(n, 5);
  assert_memory_equal(d, "GAMMA", 5);
  assert_int_equal(mp_result_item(r, 1, &d, &n), 0);
  assert_int_equal(n, 0);
  assert_int_equal(mp_result_item(r, 3, &d, &n), 0);
  assert_memory_equal(d, "A MUCH LONGER WORD HERE", n);
  mp_result_free(r);
  end_pool(p);
}

static void test_imap(void **state) {
  (void)state;
  mp_test_watchdog(60);
  mp_pool *p = new_pool(2);
  int in[10];
  for (int i = 0; i < 10; i++)
    in[i] = i;
  mp_imap *it = mp_pool_imap(p, square, in, 10, sizeof(int), NULL);
  const void *d;
  size_t n;
  for (int i = 0; i < 10; i++) {
    assert_int_equal(mp_imap_next(it, MP_FOREVER, &d, &n), 0);
    assert_int_equal(*(const int *)d, i * i);
    assert_int_equal(mp_imap_index(it), i);
  }
  assert_int_equal(mp_imap_next(it, MP_FOREVER, &d, &n), MP_ESTOP);
  mp_imap_free(it);
  /* Unordered: every result once. */
  it = mp_pool_imap_unordered(p, square, in, 10, sizeof(int),
                              &(mp_call_opts){.chunksize = 2});
  int seen = 0;
  for (int i = 0; i < 10; i++) {
    assert_int_equal(mp_imap_next(it, MP_FOREVER, &d, &n), 0);
    int k = (int)mp_imap_index(it);
    assert_int_equal(*(const int *)d, k * k);
    seen |= 1 << k;
  }
  assert_int_equal(seen, 0x3ff);
  assert_int_equal(mp_imap_next(it, 0, &d, &n), MP_ESTOP);
  mp_imap_free(it);
  /* The reference: next() yields the error at i == 5 and goes on. */
  it = mp_pool_imap(p, inv, in, 10, sizeof(int), NULL);
  for (int i = 0; i < 10; i++) {
    int rc = mp_imap_next(it, MP_FOREVER, &d, &n);
    if (i == 5) {
      assert_int_equal(rc, MP_ETASK);
      assert_string_equal(mp_imap_error(it)->message,
                          "ZeroDivisionError: float division by zero");
    } else {
      assert_int_equal(rc, 0);
      assert_null(mp_imap_error(it));
    }
  }
  assert_int_equal(mp_imap_next(it, 0, &d, &n), MP_ESTOP);
  mp_imap_free(it);
  /* next with a timeout. */
  double ts[2] = {0.3, 0.0};
  it = mp_pool_imap(p, sleepy, ts, 2, sizeof(double), NULL);
  int timeouts = 0, rc;
  while ((rc = mp_imap_next(it, 0.02, &d, &n)) != MP_ESTOP) {
    if (rc == MP_ETIMEOUT) {
      assert_null(mp_imap_error(it));
      timeouts++;
    } else {
      assert_int_equal(rc, 0);
    }
  }
  assert_true(timeouts > 0);
  mp_imap_free(it);
  /* An iterator freed early: its tasks finish, nothing leaks. */
  it = mp_pool_imap(p, square, in, 10, sizeof(int), NULL);
  mp_imap_free(it);
  /* bytes forms */
  struct iovec iov[3] = {{"ab", 2}, {"cd", 2}, {"", 0}};
  it = mp_pool_imap_unordered_bytes(p, echo_upper, iov, 3, NULL);
  for (int i = 0; i < 3; i++)
    assert_int_equal(mp_imap_next(it, MP_FOREVER, &d, &n), 0);
  mp_imap_free(it);
  it = mp_pool_imap_bytes(p, echo_upper, iov, 3, NULL);
  assert_int_equal(mp_imap_next(it, MP_FOREVER, &d, &n), 0);
  assert_memory_equal(d, "AB", 2);
  mp_imap_free(it);
  end_pool(p);
}

static int add_one(const void *arg, size_t len, mp_task_out *out) {
  (void)len;
  int *y = mp_task_out_alloc(out, sizeof(int));
  *y = *(const int *)arg + 1;
  return 0;
}

static void test_million(void **state) {
  (void)state;
  mp_test_watchdog(60);
  mp_pool *p = new_pool(2);
  size_t n = 1000000;
  int *in = malloc(n * sizeof(int)), *out = malloc(n * sizeof(int));
  for (size_t i = 0; i < n; i++)
    in[i] = (int)i;
  assert_int_equal(mp_pool_map(p, add_one, in, n, sizeof(int), out, sizeof(int),
                               NULL, NULL), 0);
  for (size_t i = 0; i < n; i++)
    if (out[i] != (int)i + 1)
      fail_msg("out[%zu] = %d", i, out[i]);
  /* And through imap_unordered with chunks of 1000. */
  mp_imap *it = mp_pool_imap_unordered(p, add_one, in, n, sizeof(int),
                                       &(mp_call_opts){.chunksize = 1000});
  long long sum = 0;
  const void *d;
  size_t len;
  int rc;
  while ((rc = mp_imap_next(it, MP_FOREVER, &d, &len)) == 0)
    sum += *(const int *)d;
  assert_int_equal(rc, MP_ESTOP);
  assert_true(sum == (long long)n * (long long)(n + 1) / 2);
  mp_imap_free(it);
  free(in);
  free(out);
  end_pool(p);
}

static void *submitter(void *arg) {
  mp_pool *p = arg;
  for (int i = 0; i < 500; i++) {
    int x = i;
    void *out;
    size_t n;
    if (i % 2) {
      assert_int_equal(mp_pool_apply(p, square, &x, sizeof x, &out, &n, NULL), 0);
      assert_int_equal(*(int *)out, i * i);
      mp_free(out);
    } else {
      int in[3] = {i, i + 1, i + 2}, o[3];
      assert_int_equal(mp_pool_map(p, square, in, 3, sizeof(int), o,
                                   sizeof(int), NULL, NULL), 0);
      assert_int_equal(o[2], (i + 2) * (i + 2));
    }
  }
  return NULL;
}

static void test_threads(void **state) {
  (void)state;
  mp_test_watchdog(60);
  mp_pool *p = new_pool(2);
  pthread_t t[4];
  for (int i = 0; i < 4; i++)
    pthread_create(&t[i], NULL, submitter, p);
  for (int i = 0; i < 4; i++)
    pthread_join(t[i], NULL);
  end_pool(p);
}

static int g_init_calls;
static int init_ok(void *arg) {
  *(int *)arg = 42; /* in the worker's copy */
  return 0;
}
static int read_global(const void *arg, size_t len, mp_task_out *out) {
  (void)arg;
  (void)len;
  return mp_task_out_set(out, &g_init_calls, sizeof g_init_calls);
}
static int init_fail(void *arg) {
  (void)arg;
  return 7;
}

static void test_initializer(void **state) {
  (void)state;
  mp_test_watchdog(30);
  mp_pool *p = mp_pool_new(&(mp_pool_opts){.processes = 2,
                                          .initializer = init_ok,
                                          .initarg = &g_init_calls});
  assert_non_null(p);
  int x = 0;
  void *out;
  size_t n;
  assert_int_equal(mp_pool_apply(p, read_global, &x, sizeof x, &out, &n, NULL), 0);
  assert_int_equal(*(int *)out, 42);
  assert_int_equal(g_init_calls, 0);
  mp_free(out);
  end_pool(p);
  /* A failing initializer fails tasks instead of restarting forever. */
  p = mp_pool_new(&(mp_pool_opts){.processes = 2, .initializer = init_fail});
  assert_non_null(p);
  mp_error err;
  assert_int_equal(mp_pool_apply(p, read_global, &x, sizeof x, &out, &n, &err),
                   MP_EWORKERDIED);
  assert_int_equal(err.status, 7);
  assert_non_null(strstr(err.message, "initializer"));
  end_pool(p);
}

static void test_close_terminate(void **state) {
  (void)state;
  mp_test_watchdog(30);
  mp_pool *p = new_pool(2);
  int x = 3;
  /* join before close is refused */
  assert_int_equal(mp_pool_join(p, 0), MP_ESTATE);
  /* close lets outstanding work finish */
  double t = 0.2;
  mp_result *r = mp_pool_apply_async(p, sleepy, &t, sizeof t, NULL);
  assert_int_equal(mp_pool_close(p), 0);
  assert_int_equal(mp_pool_close(p), 0);
  assert_null(mp_pool_apply_async(p, square, &x, sizeof x, NULL));
  assert_int_equal(errno, -MP_ECLOSED);
  assert_int_equal(mp_pool_apply(p, square, &x, sizeof x, NULL, NULL, NULL), MP_ECLOSED);
  assert_int_equal(mp_pool_join(p, 30), 0);
  assert_int_equal(mp_result_get(r, 0, NULL, NULL), 0);
  mp_result_free(r);
  mp_pool_free(p);
  /* terminate while tasks run: prompt, tasks fail with MP_ECLOSED */
  p = new_pool(2);
  t = 30;
  mp_result *rs[4];
  for (int i = 0; i < 4; i++)
    rs[i] = mp_pool_apply_async(p, sleepy, &t, sizeof t, NULL);
  mp_imap *it = mp_pool_imap(p, sleepy, &t, 1, sizeof t, NULL);
  usleep(100000);
  double t0 = mp_monotonic();
  assert_int_equal(mp_pool_terminate(p), 0);
  assert_true(mp_monotonic() - t0 < 15); /* not the tasks' 30 s */
  for (int i = 0; i < 4; i++) {
    assert_int_equal(mp_result_get(rs[i], 0, NULL, NULL), MP_ECLOSED);
    mp_result_free(rs[i]);
  }
  assert_int_equal(mp_imap_next(it, 0, NULL, NULL), MP_ECLOSED);
  assert_int_equal(mp_imap_next(it, 0, NULL, NULL), MP_ESTOP);
  mp_imap_free(it);
  assert_int_equal(mp_pool_join(p, 10), 0);
  assert_int_equal(mp_pool_apply(p, square, &x, sizeof x, NULL, NULL, NULL), MP_ECLOSED);
  mp_pool_free(p);
  /* free of a running pool terminates it */
  p = new_pool(1);
  r = mp_pool_apply_async(p, sleepy, &t, sizeof t, NULL);
  mp_pool_free(p);
  assert_int_equal(mp_result_get(r, 0, NULL, NULL), MP_ECLOSED);
  mp_result_free(r);
  mp_pool_free(NULL);
  /* No child left behind. */
  while (waitpid(-1, NULL, WNOHANG) > 0)
    ;
  assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
  assert_int_equal(errno, ECHILD);
}

static void test_bad_input(void **state) {
  (void)state;
  mp_test_watchdog(30);
  errno = 0;
  assert_null(mp_pool_new(&(mp_pool_opts){.processes = -1}));
  assert_int_equal(errno, EINVAL);
  assert_null(mp_pool_new(&(mp_pool_opts){.task_timeout = NAN}));
  assert_int_equal(errno, EINVAL);
  assert_null(mp_pool_new(&(mp_pool_opts){.start_method = "thread",
                                          .task_timeout = 1}));
  assert_int_equal(errno, -MP_ENOTSUP);
  assert_null(mp_pool_new(&(mp_pool_opts){.start_method = "bogus"}));
  assert_int_equal(errno, EINVAL);
  assert_null(mp_pool_new(&(mp_pool_opts){.reserved = {(void *)1}}));
  mp_pool *p = new_pool(1);
  int x = 1;
  assert_null(mp_pool_apply_async(p, NULL, &x, sizeof x, NULL));
  assert_int_equal(errno, EINVAL);
  assert_null(mp_pool_apply_async(p, square, NULL, 4, NULL));
  assert_null(mp_pool_apply_async(NULL, square, &x, sizeof x, NULL));
  assert_int_equal(mp_pool_map(p, square, NULL, 3, 4, &x, 4, NULL, NULL), -EINVAL);
  assert_int_equal(mp_pool_map(p, square, &x, 1, 0, &x, 4, NULL, NULL), -EINVAL);
  assert_int_equal(mp_pool_map(p, square, &x, 1, 4, NULL, 4, NULL, NULL), -EINVAL);
  assert_null(mp_pool_imap(p, square, NULL, 2, 4, NULL));
  assert_null(mp_pool_map_bytes_async(p, square, NULL, 2, NULL));
  assert_int_equal(mp_result_get(NULL, 0, NULL, NULL), -EINVAL);
  mp_result *r = mp_pool_apply_async(p, square, &x, sizeof x, NULL);
  assert_int_equal(mp_result_get(r, NAN, NULL, NULL), -EINVAL);
  assert_int_equal(mp_result_wait(r, MP_FOREVER), 0);
  mp_result_free(r);
  mp_result_free(NULL);
  mp_imap_free(NULL);
  assert_int_equal(mp_imap_next(NULL, 0, NULL, NULL), -EINVAL);
  /* From a child process: not the owner. */
  pid_t pid = fork();
  if (pid == 0) {
    int ok = mp_pool_apply(p, square, &x, sizeof x, NULL, NULL, NULL) == MP_ENOTOWNER &&
             mp_pool_close(p) == MP_ENOTOWNER && mp_pool_join(p, 0) == MP_ENOTOWNER &&
             mp_pool_terminate(p) == MP_ENOTOWNER;
    _exit(ok ? 0 : 1);
  }
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  end_pool(p);
}

/* ---- the progress bar ------------------------------------------------------- */

/* In a child whose stderr is fd: a map of 1000 items with the bar on. */
static int progress_child(void) {
  mp_pool *p = mp_pool_new(&(mp_pool_opts){.processes = 2});
  if (!p)
    return 2;
  int in[1000], out[1000];
  for (int i = 0; i < 1000; i++)
    in[i] = i;
  int rc = mp_pool_map(p, square, in, 1000, sizeof(int), out, sizeof(int),
                       &(mp_call_opts){.progress = 1, .chunksize = 10}, NULL);
  mp_pool_free(p);
  return rc == 0 && out[999] == 999 * 999 ? 0 : 3;
}

/* Everything the child writes to fd until it is gone, then its status. */
static int read_all(int fd, pid_t pid, char *buf, size_t cap) {
  mp_test_read_all(fd, buf, cap);
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
    ;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void test_progress_bar(void **state) {
  (void)state;
  mp_test_watchdog(60);
  static char buf[1 << 16];
  /* A terminal: the bar is drawn, ending at 1000/1000. */
  int master;
  pid_t pid = forkpty(&master, NULL, NULL, NULL);
  if (pid < 0)
    mp_test_skip("no pseudo-terminal (forkpty)");
  if (pid == 0)
    _exit(progress_child());
  assert_int_equal(read_all(master, pid, buf, sizeof buf), 0);
  close(master);
  if (!strstr(buf, "1000/1000 (100%)") || !strstr(buf, "it/s"))
    fail_msg("no progress bar on a terminal: \"%s\"", buf);
  /* Not a terminal: nothing. */
  int pfd[2];
  assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    dup2(pfd[1], 2);
    _exit(progress_child());
  }
  close(pfd[1]);
  assert_int_equal(read_all(pfd[0], pid, buf, sizeof buf), 0);
  close(pfd[0]);
  assert_string_equal(buf, "");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_apply),
      cmocka_unit_test(test_apply_async),
      cmocka_unit_test(test_map),
      cmocka_unit_test(test_starmap_and_bytes),
      cmocka_unit_test(test_imap),
      cmocka_unit_test(test_million),
      cmocka_unit_test(test_threads),
      cmocka_unit_test(test_initializer),
      cmocka_unit_test(test_close_terminate),
      cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_progress_bar),
  };
  if (getenv("MP_TEST_FILTER"))
    cmocka_set_test_filter(getenv("MP_TEST_FILTER"));
  return cmocka_run_group_tests(tests, NULL, NULL);
}
