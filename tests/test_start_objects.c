/* test_start_objects.c: every shared object type works in a child started
 * by every method, passed explicitly (mp_process_pass_handle / _fd, read
 * back with mp_inherited_handle / _fd): a matrix of start method x object
 * (connection, Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition,
 * Barrier, Queue, SimpleQueue, JoinableQueue, Value, Array, the process's
 * result). Each
 * case proves the child reached the parent's object, not a copy: the child
 * sees state only the parent set, or the parent sees what the child did.
 * The matrix runs twice: with the handle calls, and with the one call per
 * side (mp_process_pass(p, obj) / mp_inherited(0, &obj)); the child learns
 * which from its argument byte. */
#include <errno.h>

#include "mp_test.h"
#include "mproc.h"

static const char *const g_methods[] = {"fork", "spawn", "forkserver",
                                        "thread"};

/* ---- child sides: 0 = success, anything else names the failing step ---- */

/* Whether the parent passed with mp_process_pass (the argument 'o'). */
static bool one_call(const void *arg, size_t len) {
  return len == 1 && *(const char *)arg == 'o';
}

/* Declares var, opened from the first passed object: by mp_inherited, or
 * from its handle (h) by the expression open; returns 10 or 11 from the
 * target when that fails. */
#define OPEN_PASSED(type, var, open)                                           \
  type *var = NULL;                                                            \
  if (one_call(arg, len)) {                                                    \
    if (mp_inherited(0, &var) != 0)                                            \
      return 10;                                                               \
  } else {                                                                     \
    mp_handle h;                                                               \
    if (mp_inherited_handle(0, &h) != 0)                                       \
      return 10;                                                               \
    var = (open);                                                              \
  }                                                                            \
  if (!var)                                                                    \
    return 11

static int c_conn(void *arg, size_t len) {
  mp_conn *c = NULL;
  if (one_call(arg, len)) {
    if (mp_inherited(0, &c) != 0)
      return 10;
  } else {
    int fd = mp_inherited_fd(0);
    if (fd < 0)
      return 10;
    c = mp_conn_from_fd(dup(fd), true, true);
  }
  char buf[8];
  size_t n;
  int r = mp_conn_recv_bytes_into(c, buf, sizeof buf, 0, &n);
  if (r < 0 || n != 4 || memcmp(buf, "ping", 4))
    return 11;
  r = mp_conn_send_bytes(c, "pong", 4);
  mp_conn_free(c);
  return r ? 12 : 0;
}

static int c_lock(void *arg, size_t len) {
  OPEN_PASSED(mp_lock, l, mp_lock_open(&h));
  /* The parent holds it for our whole life. */
  int r = mp_lock_acquire(l, 0) == MP_ETIMEOUT && mp_lock_locked(l) ? 0 : 12;
  mp_lock_free(l);
  return r;
}

static int c_sem_release(void *arg, size_t len) {
  OPEN_PASSED(mp_semaphore, s, mp_semaphore_open(&h));
  int r = mp_semaphore_release(s) ? 12 : 0;
  /* A BoundedSemaphore(1) the parent emptied: one release, not two. */
  if (!r && mp_semaphore_is_bounded(s) &&
      mp_semaphore_release(s) != MP_EVALUE)
    r = 13;
  mp_semaphore_free(s);
  return r;
}

static int c_event(void *arg, size_t len) {
  OPEN_PASSED(mp_event, e, mp_event_open(&h));
  mp_event_set(e);
  mp_event_free(e);
  return 0;
}

static int c_condition(void *arg, size_t len) {
  OPEN_PASSED(mp_condition, c, mp_condition_open(&h));
  /* Only once the parent waits (releasing the lock) do we get it. */
  int r = mp_condition_acquire(c, 30);
  if (!r)
    r = mp_condition_notify_all(c);
  if (!r)
    r = mp_condition_release(c);
  mp_condition_free(c);
  return r ? 12 : 0;
}

static int c_barrier(void *arg, size_t len) {
  OPEN_PASSED(mp_barrier, b, mp_barrier_open(&h, NULL, NULL));
  int r = mp_barrier_wait_timeout(b, 30);
  mp_barrier_free(b);
  return r >= 0 ? 0 : 12;
}

static int c_queue_put(void *arg, size_t len) {
  OPEN_PASSED(mp_queue, q, mp_queue_open(&h));
  int r = mp_queue_put(q, "hello", 5, 30);
  mp_queue_free(q);
  return r ? 12 : 0;
}

static int c_joinable(void *arg, size_t len) {
  OPEN_PASSED(mp_queue, q, mp_queue_open(&h));
  char buf[8];
  size_t n;
  int r = mp_queue_get_into(q, buf, sizeof buf, &n, 30);
  if (!r)
    r = mp_queue_task_done(q);
  mp_queue_free(q);
  return r ? 12 : 0;
}

static int c_value(void *arg, size_t len) {
  OPEN_PASSED(mp_value, v, mp_value_open(&h));
  int64_t x = 0;
  int r = mp_value_get_int(v, &x) || x != 5 || mp_value_set_int(v, 42);
  mp_value_free(v);
  return r ? 12 : 0;
}

static int c_array(void *arg, size_t len) {
  OPEN_PASSED(mp_array, a, mp_array_open(&h));
  int64_t x = 0;
  int r = mp_array_len(a) != 8 || mp_array_get_int(a, 2, &x) || x != 2 ||
          mp_array_set_int(a, 3, 7);
  mp_array_free(a);
  return r ? 12 : 0;
}

/* Handed a queue, asked for a lock: the kind is checked, not assumed. */
static int c_wrong_kind(void *arg, size_t len) {
  mp_lock *l = NULL;
  mp_conn *c = NULL;
  if (mp_inherited(0, &l) != MP_ETYPE || l)
    return 10;
  if (strcmp(mp_last_error()->message, "the handle names a Queue, not a Lock"))
    return 12;
  if (mp_inherited(0, &c) != MP_ETYPE || mp_inherited(1, &l) != MP_EINDEX)
    return 11;
  return 0;
}

static int c_result(void *arg, size_t len) {
  return mp_process_return("result bytes", 12) ? 10 : 0;
}

/* ---- the matrix ------------------------------------------------------------- */

static bool g_one_call; /* this round passes with mp_process_pass */

static mp_process *child(const char *m, mp_target_fn fn) {
  mp_process_opts o = MP_PROCESS_OPTS_INIT;
  o.start_method = m;
  mp_process *p = mp_process_new(fn, g_one_call ? "o" : "h", 1, &o);
  assert_non_null(p);
  return p;
}

/* Passes obj, by mp_process_pass or by its handle (handle_fn). */
#define PASS(p, obj, handle_fn)                                                \
  do {                                                                         \
    if (g_one_call) {                                                          \
      assert_int_equal(mp_process_pass(p, obj), 0);                            \
    } else {                                                                   \
      mp_handle h_;                                                            \
      assert_int_equal(handle_fn(obj, &h_), 0);                                \
      assert_int_equal(mp_process_pass_handle(p, &h_), 0);                     \
    }                                                                          \
  } while (0)

static void start(mp_process *p) { assert_int_equal(mp_process_start(p), 0); }

static void finish(const char *m, const char *what, mp_process *p) {
  assert_int_equal(mp_process_join(p, 60), 0);
  int code = -1;
  assert_int_equal(mp_process_exitcode(p, &code), 1);
  if (code != 0)
    fail_msg("%s x %s: child failed at step %d", m, what, code);
  mp_process_free(p);
}

static void run_round(const char *m);

static void run_matrix(const char *m) {
  for (int round = 0; round < 2; round++) {
    g_one_call = round == 1;
    run_round(m);
  }
}

static void run_round(const char *m) {
  /* connection */
  mp_conn *a, *b;
  assert_int_equal(mp_pipe(true, &a, &b), 0);
  mp_process *p = child(m, c_conn);
  if (g_one_call)
    assert_int_equal(mp_process_pass(p, b), 0);
  else
    assert_int_equal(mp_process_pass_fd(p, mp_conn_fileno(b)), 0);
  start(p);
  assert_int_equal(mp_conn_send_bytes(a, "ping", 4), 0);
  char buf[16];
  size_t n;
  assert_int_equal(mp_conn_recv_bytes_into(a, buf, sizeof buf, 0, &n), 0);
  assert_memory_equal(buf, "pong", 4);
  finish(m, "connection", p);
  mp_conn_free(a);
  mp_conn_free(b);

  /* Lock and RLock, held by the parent */
  for (int rec = 0; rec < 2; rec++) {
    mp_lock *l = rec ? mp_rlock_new() : mp_lock_new();
    assert_int_equal(mp_lock_acquire(l, 0), 0);
    p = child(m, c_lock);
    PASS(p, l, mp_lock_handle);
    start(p);
    finish(m, rec ? "rlock" : "lock", p);
    assert_int_equal(mp_lock_release(l), 0);
    mp_lock_free(l);
  }

  /* Semaphore(0) and BoundedSemaphore(1) emptied: the child releases */
  for (int bounded = 0; bounded < 2; bounded++) {
    mp_semaphore *s = bounded ? mp_bounded_semaphore_new(1) : mp_semaphore_new(0);
    if (bounded)
      assert_int_equal(mp_semaphore_acquire(s, 0), 0);
    p = child(m, c_sem_release);
    PASS(p, s, mp_semaphore_handle);
    start(p);
    finish(m, bounded ? "bounded semaphore" : "semaphore", p);
    assert_int_equal(mp_semaphore_get_value(s), 1);
    assert_int_equal(mp_semaphore_acquire(s, 0), 0);
    mp_semaphore_free(s);
  }

  /* Event */
  mp_event *e = mp_event_new();
  p = child(m, c_event);
  PASS(p, e, mp_event_handle);
  start(p);
  assert_int_equal(mp_event_wait(e, 30), 0);
  finish(m, "event", p);
  mp_event_free(e);

  /* Condition: the parent waits holding its lock; the child notifies */
  mp_condition *c = mp_condition_new(NULL);
  assert_int_equal(mp_condition_acquire(c, 0), 0);
  p = child(m, c_condition);
  PASS(p, c, mp_condition_handle);
  start(p);
  assert_int_equal(mp_condition_wait(c, 30), 0);
  assert_int_equal(mp_condition_release(c), 0);
  finish(m, "condition", p);
  mp_condition_free(c);

  /* Barrier(2) */
  mp_barrier *bar = mp_barrier_new(2, NULL, NULL, MP_FOREVER);
  p = child(m, c_barrier);
  PASS(p, bar, mp_barrier_handle);
  start(p);
  assert_true(mp_barrier_wait_timeout(bar, 30) >= 0);
  finish(m, "barrier", p);
  mp_barrier_free(bar);

  /* Queue and SimpleQueue: the child puts */
  for (int simple = 0; simple < 2; simple++) {
    mp_queue *q = simple ? mp_simple_queue_new() : mp_queue_new(0);
    p = child(m, c_queue_put);
    PASS(p, q, mp_queue_handle);
    start(p);
    assert_int_equal(mp_queue_get_into(q, buf, sizeof buf, &n, 30), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(buf, "hello", 5);
    finish(m, simple ? "simple queue" : "queue", p);
    mp_queue_free(q);
  }

  /* JoinableQueue: the child takes the item and calls task_done */
  mp_queue *jq = mp_joinable_queue_new(0);
  assert_int_equal(mp_queue_put(jq, "task", 4, 0), 0);
  p = child(m, c_joinable);
  PASS(p, jq, mp_queue_handle);
  start(p);
  assert_int_equal(mp_queue_join(jq, 30), 0);
  finish(m, "joinable queue", p);
  mp_queue_free(jq);

  /* Value('i', 5) and Array('l', range(8)): the child writes them */
  int five = 5;
  mp_value *v = mp_value_new(MP_CTYPE('i'), &five, NULL);
  assert_non_null(v);
  p = child(m, c_value);
  PASS(p, v, mp_value_handle);
  start(p);
  finish(m, "value", p);
  int64_t x = 0;
  assert_int_equal(mp_value_get_int(v, &x), 0);
  assert_int_equal(x, 42);
  mp_value_free(v);
  long init[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  mp_array *arr = mp_array_new(MP_CTYPE('l'), 8, init, NULL);
  assert_non_null(arr);
  p = child(m, c_array);
  PASS(p, arr, mp_array_handle);
  start(p);
  finish(m, "array", p);
  assert_int_equal(mp_array_get_int(arr, 3, &x), 0);
  assert_int_equal(x, 7);
  mp_array_free(arr);

  /* one call per side: the wrong kind and an object without a handle */
  if (g_one_call) {
    mp_queue *q = mp_queue_new(0);
    p = child(m, c_wrong_kind);
    assert_int_equal(mp_process_pass(p, q), 0);
    static _Alignas(8) unsigned char mem[256];
    assert_true(mp_lock_memsize() <= sizeof mem);
    mp_lock *own = mp_lock_init(mem, false);
    assert_int_equal(mp_process_pass(p, own), MP_ENOTSUP);
    mp_lock_free(own);
    start(p);
    finish(m, "wrong kind", p);
    mp_queue_free(q);
  }

  /* the process's result */
  p = child(m, c_result);
  start(p);
  assert_int_equal(mp_process_join(p, 30), 0);
  const void *data;
  assert_int_equal(mp_process_result(p, &data, &n), 1);
  assert_int_equal(n, 12);
  assert_memory_equal(data, "result bytes", 12);
  finish(m, "result", p);
}

static void test_fork(void **state) {
  mp_test_watchdog(120);
  run_matrix(g_methods[0]);
}
static void test_spawn(void **state) {
  mp_test_watchdog(120);
  run_matrix(g_methods[1]);
}
static void test_forkserver(void **state) {
  mp_test_watchdog(120);
  run_matrix(g_methods[2]);
}
static void test_thread(void **state) {
  mp_test_watchdog(120);
  run_matrix(g_methods[3]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fork),
      cmocka_unit_test(test_spawn),
      cmocka_unit_test(test_forkserver),
      cmocka_unit_test(test_thread),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
