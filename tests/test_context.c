/* test_context.c: contexts and the default start method: get_context for
 * every method and bad names, set_start_method once (twice is MP_ESTATE
 * unless forced), get_start_method(allow_none), get_all_start_methods with
 * the default first, the default fixed by first use, set_executable's bad
 * input, freeze_support, and every constructor reached through a context
 * (a process of each method, queue, locks, semaphores, event, condition,
 * barrier, pipe). */
#include <errno.h>

#include "mp_test.h"
#include "mproc.h"

static int t_put_hello(void *arg, size_t len) {
  mp_handle h;
  if (mp_inherited_handle(0, &h) != 0)
    return 10;
  mp_queue *q = mp_queue_open(&h);
  if (!q)
    return 11;
  int r = mp_queue_put(q, "hello", 5, MP_FOREVER);
  mp_queue_free(q);
  return r ? 12 : 0;
}

/* Runs first: nothing has used the default yet. */
static void test_start_method_once(void **state) {
  mp_test_watchdog(30);
  assert_null(mp_get_start_method(true));
  assert_int_equal(mp_set_start_method("bogus", false), -EINVAL);
  assert_int_equal(mp_set_start_method(NULL, false), -EINVAL);
  assert_null(mp_get_start_method(true));
  assert_int_equal(mp_set_start_method("spawn", false), 0);
  assert_string_equal(mp_get_start_method(true), "spawn");
  assert_int_equal(mp_set_start_method("fork", false), MP_ESTATE);
  assert_int_equal(mp_set_start_method("spawn", false), MP_ESTATE);
  assert_string_equal(mp_get_start_method(false), "spawn");
  assert_string_equal(mp_context_start_method(mp_get_context(NULL)), "spawn");
  assert_int_equal(mp_set_start_method("thread", true), 0);
  assert_string_equal(mp_get_start_method(false), "thread");
  /* unset with force: the next use fixes the default, fork */
  assert_int_equal(mp_set_start_method(NULL, true), 0);
  assert_null(mp_get_start_method(true));
  mp_process *p = mp_process_new(t_put_hello, NULL, 0, NULL);
  assert_non_null(p);
  mp_process_free(p);
  assert_string_equal(mp_get_start_method(true), "fork");
  assert_int_equal(mp_set_start_method("spawn", false), MP_ESTATE);
  assert_int_equal(mp_set_start_method("fork", true), 0);
}

static void test_all_methods_and_contexts(void **state) {
  mp_test_watchdog(30);
  size_t n = 0;
  const char *const *all = mp_get_all_start_methods(&n);
  assert_int_equal(n, 4);
  assert_string_equal(all[0], "fork");
  assert_string_equal(all[1], "spawn");
  assert_string_equal(all[2], "forkserver");
  assert_string_equal(all[3], "thread");
  assert_null(all[4]);
  assert_non_null(mp_get_all_start_methods(NULL));
  for (size_t i = 0; i < n; i++) {
    mp_context *c = mp_get_context(all[i]);
    assert_non_null(c);
    assert_string_equal(mp_context_start_method(c), all[i]);
    assert_ptr_equal(mp_get_context(all[i]), c); /* static */
  }
  errno = 0;
  assert_null(mp_get_context("bogus"));
  assert_int_equal(errno, EINVAL);
  assert_null(mp_get_context(""));
  mp_freeze_support();
  /* Bad input on the constructors. */
  errno = 0;
  assert_null(mp_context_lock_new(NULL));
  assert_int_equal(errno, EINVAL);
  mp_conn *a, *b;
  assert_int_equal(mp_context_pipe(NULL, true, &a, &b), -EINVAL);
  mp_process_opts o = MP_PROCESS_OPTS_INIT;
  o.start_method = "fork";
  errno = 0;
  assert_null(mp_context_process_new(mp_get_context("spawn"), t_put_hello,
                                     NULL, 0, &o));
  assert_int_equal(errno, EINVAL);
  o.start_method = "nope";
  assert_null(mp_process_new(t_put_hello, NULL, 0, &o));
  assert_int_equal(errno, EINVAL);
}

static void test_executable(void **state) {
  mp_test_watchdog(30);
  assert_string_equal(mp_get_executable(), "/proc/self/exe");
  assert_int_equal(mp_set_executable("/no/such/file"), -ENOENT);
  assert_int_equal(mp_set_executable("/dev/null"), -EACCES);
  char longp[5000];
  memset(longp, 'a', sizeof longp - 1);
  longp[sizeof longp - 1] = 0;
  assert_int_equal(mp_set_executable(longp), -ENAMETOOLONG);
  assert_int_equal(mp_set_executable("/proc/self/exe"), 0);
  assert_int_equal(mp_set_executable(NULL), 0);
}

/* The reference's get_context('spawn') example, on every context: a queue
 * passed to the child, which puts "hello". */
static void test_constructors_every_context(void **state) {
  mp_test_watchdog(60);
  size_t n;
  const char *const *all = mp_get_all_start_methods(&n);
  for (size_t i = 0; i < n; i++) {
    mp_context *ctx = mp_get_context(all[i]);
    mp_queue *q = mp_context_queue_new(ctx, 0);
    assert_non_null(q);
    mp_process *p = mp_context_process_new(ctx, t_put_hello, NULL, 0, NULL);
    assert_non_null(p);
    mp_handle h;
    assert_int_equal(mp_queue_handle(q, &h), 0);
    assert_int_equal(mp_process_pass_handle(p, &h), 0);
    assert_int_equal(mp_process_start(p), 0);
    assert_int_equal(mp_process_pass_handle(p, &h), MP_ESTATE);
    char buf[16];
    size_t len;
    assert_int_equal(mp_queue_get_into(q, buf, sizeof buf, &len, 30), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(mp_process_join(p, 30), 0);
    int code;
    assert_int_equal(mp_process_exitcode(p, &code), 1);
    assert_int_equal(code, 0);
    mp_process_free(p);
    mp_queue_free(q);

    mp_queue *sq = mp_context_simple_queue_new(ctx);
    mp_queue *jq = mp_context_joinable_queue_new(ctx, 3);
    mp_lock *l = mp_context_lock_new(ctx);
    mp_lock *rl = mp_context_rlock_new(ctx);
    mp_semaphore *s = mp_context_semaphore_new(ctx, 2);
    mp_semaphore *bs = mp_context_bounded_semaphore_new(ctx, 1);
    mp_event *e = mp_context_event_new(ctx);
    mp_condition *c = mp_context_condition_new(ctx, NULL);
    mp_barrier *b = mp_context_barrier_new(ctx, 1, NULL, NULL, MP_FOREVER);
    mp_conn *c1, *c2;
    assert_int_equal(mp_context_pipe(ctx, true, &c1, &c2), 0);
    int seven = 7;
    mp_value *v = mp_context_value_new(ctx, MP_CTYPE('i'), &seven, NULL);
    mp_value *rv = mp_context_raw_value_new(ctx, MP_CTYPE('d'), NULL);
    mp_array *a = mp_context_array_new(ctx, MP_CTYPE('i'), 4, NULL, NULL);
    mp_array *ra = mp_context_raw_array_new(ctx, MP_CTYPE('c'), 3, "abc");
    assert_true(v && rv && a && ra);
    assert_non_null(mp_value_get_lock(v));
    assert_null(mp_value_get_lock(rv));
    assert_int_equal(mp_array_len(a), 4);
    mp_array_free(ra);
    mp_array_free(a);
    mp_value_free(rv);
    mp_value_free(v);
    assert_true(sq && jq && l && rl && s && bs && e && c && b);
    assert_true(mp_lock_is_recursive(rl) && !mp_lock_is_recursive(l));
    assert_true(mp_semaphore_is_bounded(bs));
    assert_int_equal(mp_semaphore_get_value(s), 2);
    assert_int_equal(mp_queue_maxsize(jq), 3);
    assert_int_equal(mp_barrier_parties(b), 1);
    mp_conn_free(c1);
    mp_conn_free(c2);
    mp_barrier_free(b);
    mp_condition_free(c);
    mp_event_free(e);
    mp_semaphore_free(bs);
    mp_semaphore_free(s);
    mp_lock_free(rl);
    mp_lock_free(l);
    mp_queue_free(jq);
    mp_queue_free(sq);
  }
}

static void test_pass_bad_input(void **state) {
  mp_test_watchdog(30);
  mp_process *p = mp_process_new(t_put_hello, NULL, 0, NULL);
  assert_int_equal(mp_process_pass_fd(NULL, 0), -EINVAL);
  assert_int_equal(mp_process_pass_fd(p, -1), -EINVAL);
  assert_int_equal(mp_process_pass_fd(p, 4000), -EINVAL);
  assert_int_equal(mp_process_pass_handle(p, NULL), -EINVAL);
  mp_handle h = {0};
  assert_int_equal(mp_process_pass_handle(p, &h), -EINVAL);
  for (int i = 0; i < 64; i++)
    assert_int_equal(mp_process_pass_fd(p, 1), i);
  assert_int_equal(mp_process_pass_fd(p, 1), -E2BIG);
  mp_process_free(p);
  /* In the main process nothing was passed. */
  assert_int_equal(mp_inherited_count(), 0);
  assert_int_equal(mp_inherited_fd(0), MP_EINDEX);
  assert_int_equal(mp_inherited_handle(0, &h), MP_EINDEX);
  assert_int_equal(mp_inherited_handle(0, NULL), -EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_start_method_once),
      cmocka_unit_test(test_all_methods_and_contexts),
      cmocka_unit_test(test_executable),
      cmocka_unit_test(test_constructors_every_context),
      cmocka_unit_test(test_pass_bad_input),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
