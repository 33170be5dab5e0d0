/* test_timeouts.c: every blocking call of the library against every kind
 * of timeout (issue 13, defect 3: mp_lock_acquire(lock, NAN) on a free
 * Lock took it through the fast path, which never looked at the timeout).
 *
 * The table names each call and how to put its object in a "ready" state
 * (the call succeeds without waiting: the fast paths) and a "blocked" one
 * (it would wait). For each state and each timeout in {NaN, -inf, -1, 0,
 * huge}: NaN is -EINVAL in both states, before anything is taken; -inf,
 * -1 and 0 poll (runtime.h: a negative timeout counts as 0), so a ready
 * call succeeds and a blocked one returns its documented "not now" code at
 * once; a huge timeout (1e300) succeeds on a ready object, and on a
 * blocked one waits until another thread unblocks it (no overflow into an
 * immediate timeout). */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sys/socket.h>

#include "mp_test.h"
#include "mproc.h"

enum kind {
  K_LOCK, K_RLOCK, K_SEM, K_EVENT, K_COND_ACQ, K_COND_WAIT, K_COND_WAIT_FOR, K_BARRIER,
  K_Q_PUT, K_Q_PUT_OBJ, K_Q_GET, K_Q_GET_INTO, K_Q_GET_VIEW, K_Q_GET_OBJ, K_Q_JOIN,
  K_CONN_POLL, K_WAIT, K_HANDLE_RECV, K_PROC_JOIN, K_POOL_JOIN, K_RESULT_GET,
  K_RESULT_WAIT, K_IMAP_NEXT,
};

typedef struct entry {
  enum kind kind;
  const char *name;
  bool has_ready, has_blocked;
  int ready_code;   /* what a ready call returns; INT32_MIN: any index >= 0 */
  int blocked_code; /* what a blocked call returns when it polls */
  int woken_code;   /* ... and once another thread unblocks it */
} entry;

static const entry g_table[] = {
    {K_LOCK, "mp_lock_acquire", true, true, 0, MP_ETIMEOUT, 0},
    {K_RLOCK, "mp_lock_acquire(RLock)", true, false, 0, 0, 0},
    {K_SEM, "mp_semaphore_acquire", true, true, 0, MP_ETIMEOUT, 0},
    {K_EVENT, "mp_event_wait", true, true, 0, MP_ETIMEOUT, 0},
    {K_COND_ACQ, "mp_condition_acquire", true, true, 0, MP_ETIMEOUT, 0},
    {K_COND_WAIT, "mp_condition_wait", false, true, 0, MP_ETIMEOUT, 0},
    {K_COND_WAIT_FOR, "mp_condition_wait_for", true, true, 0, MP_ETIMEOUT, 0},
    {K_BARRIER, "mp_barrier_wait_timeout", true, true, INT32_MIN, MP_EBROKEN, INT32_MIN},
    {K_Q_PUT, "mp_queue_put", true, true, 0, MP_EFULL, 0},
    {K_Q_PUT_OBJ, "mp_queue_put_obj", true, true, 0, MP_EFULL, 0},
    {K_Q_GET, "mp_queue_get", true, true, 0, MP_EEMPTY, 0},
    {K_Q_GET_INTO, "mp_queue_get_into", true, true, 0, MP_EEMPTY, 0},
    {K_Q_GET_VIEW, "mp_queue_get_view", true, true, 0, MP_EEMPTY, 0},
    {K_Q_GET_OBJ, "mp_queue_get_obj", true, true, 0, MP_EEMPTY, 0},
    {K_Q_JOIN, "mp_queue_join", true, true, 0, MP_ETIMEOUT, 0},
    {K_CONN_POLL, "mp_conn_poll", true, true, 1, 0, 1},
    {K_WAIT, "mp_wait", true, true, 1, 0, 1},
    {K_HANDLE_RECV, "mp_handle_recv", true, true, 0, MP_ETIMEOUT, 0},
    {K_PROC_JOIN, "mp_process_join", true, true, 0, MP_ETIMEOUT, 0},
    {K_POOL_JOIN, "mp_pool_join", true, true, 0, MP_ETIMEOUT, 0},
    {K_RESULT_GET, "mp_result_get", true, true, 0, MP_ETIMEOUT, 0},
    {K_RESULT_WAIT, "mp_result_wait", true, true, 0, MP_ETIMEOUT, 0},
    {K_IMAP_NEXT, "mp_imap_next", true, true, MP_ESTOP, MP_ETIMEOUT, 0},
};

/* The objects of one case; which fields are used depends on the kind. */
typedef struct ctx {
  enum kind kind;
  void *o;            /* the lock, queue, pool, ... */
  mp_lock *lock;      /* a condition's lock */
  mp_conn *c[2];      /* a pipe */
  int sv[2];          /* a socket pair */
  mp_process *proc;
  mp_result *res;
  mp_imap *it;
  volatile bool flag; /* the condition's predicate */
} ctx;

static int t_pause(void *arg, size_t len) {
  (void)arg;
  (void)len;
  for (;;)
    pause();
  return 0;
}

static int t_quick(void *arg, size_t len) {
  (void)arg;
  (void)len;
  return 0;
}

static int task_sleep(const void *arg, size_t len, mp_task_out *out) {
  (void)arg;
  (void)len;
  (void)out;
  usleep(300 * 1000);
  return 0;
}

static int task_quick(const void *arg, size_t len, mp_task_out *out) {
  (void)arg;
  (void)len;
  (void)out;
  return 0;
}

static bool pred(void *arg) { return ((ctx *)arg)->flag; }

static void put1(mp_queue *q) { assert_int_equal(mp_queue_put(q, "x", 1, MP_FOREVER), 0); }

static mp_pool *pool1(void) {
  mp_pool *p = mp_pool_new(&(mp_pool_opts){.processes = 1});
  assert_non_null(p);
  return p;
}

/* Puts x's object in the ready or the blocked state. */
static void make(ctx *x, bool ready) {
  switch (x->kind) {
  case K_LOCK:
  case K_RLOCK:
    x->o = x->kind == K_LOCK ? mp_lock_new() : mp_rlock_new();
    if (!ready) /* a Lock this process holds: acquiring it again waits */
      assert_int_equal(mp_lock_acquire(x->o, 0), 0);
    break;
  case K_SEM:
    x->o = mp_semaphore_new(ready ? 1 : 0);
    break;
  case K_EVENT:
    x->o = mp_event_new();
    if (ready)
      mp_event_set(x->o);
    break;
  case K_COND_ACQ:
  case K_COND_WAIT:
  case K_COND_WAIT_FOR:
    x->lock = mp_lock_new();
    x->o = mp_condition_new(x->lock);
    x->flag = ready;
    if (x->kind != K_COND_ACQ || !ready)
      assert_int_equal(mp_condition_acquire(x->o, 0), 0);
    break;
  case K_BARRIER:
    x->o = mp_barrier_new(ready ? 1 : 2, NULL, NULL, MP_FOREVER);
    break;
  case K_Q_PUT:
  case K_Q_PUT_OBJ:
    x->o = mp_queue_new(1);
    if (!ready)
      put1(x->o);
    break;
  case K_Q_GET:
  case K_Q_GET_INTO:
  case K_Q_GET_VIEW:
  case K_Q_GET_OBJ:
    x->o = mp_queue_new(0);
    if (ready) {
      if (x->kind == K_Q_GET_OBJ) {
        mp_obj *one = mp_obj_int(1);
        assert_int_equal(mp_queue_put_obj(x->o, one, MP_FOREVER), 0);
        mp_obj_unref(one);
      } else {
        put1(x->o);
      }
    }
    break;
  case K_Q_JOIN:
    x->o = mp_joinable_queue_new(0);
    if (!ready)
      put1(x->o);
    break;
  case K_CONN_POLL:
  case K_WAIT:
    assert_int_equal(mp_pipe(false, &x->c[0], &x->c[1]), 0);
    if (ready)
      assert_int_equal(mp_conn_send_bytes(x->c[1], "x", 1), 0);
    break;
  case K_HANDLE_RECV: {
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, x->sv), 0);
    x->o = mp_lock_new();
    if (ready) {
      mp_handle h;
      assert_int_equal(mp_lock_handle(x->o, &h), 0);
      assert_int_equal(mp_handle_send(x->sv[1], &h), 0);
    }
    break;
  }
  case K_PROC_JOIN:
    x->proc = mp_process_new(ready ? t_quick : t_pause, NULL, 0, NULL);
    assert_int_equal(mp_process_start(x->proc), 0);
    if (ready)
      assert_int_equal(mp_process_join(x->proc, 60), 0);
    break;
  case K_POOL_JOIN:
    x->o = pool1();
    if (!ready)
      x->res = mp_pool_apply_async(x->o, task_sleep, NULL, 0, NULL);
    assert_int_equal(mp_pool_close(x->o), 0);
    if (ready)
      assert_int_equal(mp_pool_join(x->o, 60), 0);
    break;
  case K_RESULT_GET:
  case K_RESULT_WAIT:
    x->o = pool1();
    x->res = mp_pool_apply_async(x->o, ready ? task_quick : task_sleep, NULL, 0, NULL);
    if (ready)
      assert_int_equal(mp_result_wait(x->res, 60), 0);
    break;
  case K_IMAP_NEXT: {
    x->o = pool1();
    int in = 0;
    x->it = mp_pool_imap(x->o, ready ? task_quick : task_sleep, &in, 1, sizeof in, NULL);
    assert_non_null(x->it);
    if (ready) { /* drained: the next is the end */
      const void *d;
      size_t len;
      assert_int_equal(mp_imap_next(x->it, 60, &d, &len), 0);
    }
    break;
  }
  }
  if (x->kind != K_CONN_POLL && x->kind != K_WAIT && x->kind != K_PROC_JOIN)
    assert_non_null(x->o);
}

/* The call under test. */
static int call(ctx *x, double t) {
  char buf[8];
  size_t len;
  void *data;
  const void *cdata;
  mp_obj *obj;
  mp_handle h;
  mp_queue_item item;
  int r;
  switch (x->kind) {
  case K_LOCK:
  case K_RLOCK:
    return mp_lock_acquire(x->o, t);
  case K_SEM:
    return mp_semaphore_acquire(x->o, t);
  case K_EVENT:
    return mp_event_wait(x->o, t);
  case K_COND_ACQ:
    return mp_condition_acquire(x->o, t);
  case K_COND_WAIT:
    return mp_condition_wait(x->o, t);
  case K_COND_WAIT_FOR:
    return mp_condition_wait_for(x->o, pred, x, t);
  case K_BARRIER:
    return mp_barrier_wait_timeout(x->o, t);
  case K_Q_PUT:
    return mp_queue_put(x->o, "y", 1, t);
  case K_Q_PUT_OBJ:
    obj = mp_obj_int(2);
    r = mp_queue_put_obj(x->o, obj, t);
    mp_obj_unref(obj);
    return r;
  case K_Q_GET:
    r = mp_queue_get(x->o, &data, &len, t);
    if (r == 0)
      mp_free(data);
    return r;
  case K_Q_GET_INTO:
    return mp_queue_get_into(x->o, buf, sizeof buf, &len, t);
  case K_Q_GET_VIEW:
    r = mp_queue_get_view(x->o, &item, t);
    if (r == 0)
      mp_queue_item_release(&item);
    return r;
  case K_Q_GET_OBJ:
    r = mp_queue_get_obj(x->o, &obj, t);
    if (r == 0)
      mp_obj_unref(obj);
    return r;
  case K_Q_JOIN:
    return mp_queue_join(x->o, t);
  case K_CONN_POLL:
    return mp_conn_poll(x->c[0], t);
  case K_WAIT: {
    mp_wait_item it = MP_WAIT_CONN(x->c[0]);
    return mp_wait(&it, 1, t);
  }
  case K_HANDLE_RECV:
    r = mp_handle_recv(x->sv[0], &h, t);
    if (r == 0)
      mp_handle_close(&h);
    return r;
  case K_PROC_JOIN:
    return mp_process_join(x->proc, t);
  case K_POOL_JOIN:
    return mp_pool_join(x->o, t);
  case K_RESULT_GET:
    return mp_result_get(x->res, t, &cdata, &len);
  case K_RESULT_WAIT:
    return mp_result_wait(x->res, t);
  case K_IMAP_NEXT:
    return mp_imap_next(x->it, t, &cdata, &len);
  }
  return -1;
}

/* From another thread: what ends a blocked call's wait. */
static void *unblock(void *arg) {
  ctx *x = arg;
  usleep(50 * 1000);
  void *data;
  size_t len;
  switch (x->kind) {
  case K_LOCK:
    mp_lock_release(x->o); /* any process (or thread) may release a Lock */
    break;
  case K_SEM:
    mp_semaphore_release(x->o);
    break;
  case K_EVENT:
    mp_event_set(x->o);
    break;
  case K_COND_ACQ:
    mp_condition_release(x->o);
    break;
  case K_COND_WAIT:
  case K_COND_WAIT_FOR:
    mp_condition_acquire(x->o, MP_FOREVER);
    x->flag = true;
    mp_condition_notify_all(x->o);
    mp_condition_release(x->o);
    break;
  case K_BARRIER:
    mp_barrier_wait_timeout(x->o, 30);
    break;
  case K_Q_PUT:
  case K_Q_PUT_OBJ:
    if (mp_queue_get(x->o, &data, &len, 30) == 0)
      mp_free(data);
    break;
  case K_Q_GET:
  case K_Q_GET_INTO:
  case K_Q_GET_VIEW:
    put1(x->o);
    break;
  case K_Q_GET_OBJ: {
    mp_obj *one = mp_obj_int(1);
    mp_queue_put_obj(x->o, one, MP_FOREVER);
    mp_obj_unref(one);
    break;
  }
  case K_Q_JOIN:
    if (mp_queue_get(x->o, &data, &len, 30) == 0)
      mp_free(data);
    mp_queue_task_done(x->o);
    break;
  case K_CONN_POLL:
  case K_WAIT:
    mp_conn_send_bytes(x->c[1], "x", 1);
    break;
  case K_HANDLE_RECV: {
    mp_handle h;
    if (mp_lock_handle(x->o, &h) == 0)
      mp_handle_send(x->sv[1], &h);
    break;
  }
  case K_PROC_JOIN:
    mp_process_kill(x->proc);
    break;
  default: /* the pool's task ends by itself */
    break;
  }
  return NULL;
}

static void drop(ctx *x) {
  switch (x->kind) {
  case K_LOCK:
  case K_RLOCK:
    mp_lock_free(x->o);
    break;
  case K_SEM:
    mp_semaphore_free(x->o);
    break;
  case K_EVENT:
    mp_event_free(x->o);
    break;
  case K_COND_ACQ:
  case K_COND_WAIT:
  case K_COND_WAIT_FOR:
    mp_condition_free(x->o);
    mp_lock_free(x->lock);
    break;
  case K_BARRIER:
    mp_barrier_free(x->o);
    break;
  case K_CONN_POLL:
  case K_WAIT:
    mp_conn_free(x->c[0]);
    mp_conn_free(x->c[1]);
    break;
  case K_HANDLE_RECV:
    close(x->sv[0]);
    close(x->sv[1]);
    mp_lock_free(x->o);
    break;
  case K_PROC_JOIN:
    mp_process_kill(x->proc);
    assert_int_equal(mp_process_join(x->proc, 60), 0);
    mp_process_free(x->proc);
    break;
  case K_POOL_JOIN:
  case K_RESULT_GET:
  case K_RESULT_WAIT:
  case K_IMAP_NEXT:
    mp_imap_free(x->it);
    mp_result_free(x->res);
    mp_pool_terminate(x->o);
    mp_pool_free(x->o);
    break;
  default:
    mp_queue_free(x->o);
    break;
  }
}

static bool is(int got, int want) { return want == INT32_MIN ? got >= 0 : got == want; }

static const double g_values[] = {NAN, -INFINITY, -1, 0, 1e300};
static const char *const g_value_names[] = {"NaN", "-inf", "-1", "0", "1e300"};

static void run_case(const entry *e, bool ready, int v, int *failures) {
  ctx x = {.kind = e->kind};
  make(&x, ready);
  double t = g_values[v];
  pthread_t th;
  bool waits = !ready && v == 4; /* huge, blocked: a thread ends the wait */
  if (waits)
    assert_int_equal(pthread_create(&th, NULL, unblock, &x), 0);
  int want = isnan(t) ? -EINVAL : ready ? e->ready_code : waits ? e->woken_code : e->blocked_code;
  int got = call(&x, t);
  if (waits)
    assert_int_equal(pthread_join(th, NULL), 0);
  if (!is(got, want)) {
    print_message("%s(%s, %s): %d (%s), expected %d (%s)\n", e->name,
                  ready ? "ready" : "blocked", g_value_names[v], got, mp_err_name(got),
                  want, mp_err_name(want));
    (*failures)++;
  }
  /* A call refused for NaN took nothing: the ready object is still so. */
  if (isnan(t) && ready && e->kind != K_IMAP_NEXT && e->kind != K_PROC_JOIN &&
      e->kind != K_POOL_JOIN && e->kind != K_RESULT_GET && e->kind != K_RESULT_WAIT &&
      e->kind != K_CONN_POLL && e->kind != K_WAIT && !is(call(&x, 0), e->ready_code)) {
    print_message("%s(ready, NaN) changed the object's state\n", e->name);
    (*failures)++;
  }
  drop(&x); /* a lock still held goes with its memory */
}

static void test_every_blocking_call(void **state) {
  (void)state;
  int failures = 0, cases = 0;
  for (size_t i = 0; i < sizeof g_table / sizeof g_table[0]; i++) {
    const entry *e = &g_table[i];
    for (int ready = 0; ready < 2; ready++) {
      if (ready ? !e->has_ready : !e->has_blocked)
        continue;
      for (int v = 0; v < 5; v++) {
        mp_test_watchdog(30);
        run_case(e, ready, v, &failures);
        cases++;
      }
    }
  }
  print_message("%d cases over %zu calls, %d wrong\n", cases,
                sizeof g_table / sizeof g_table[0], failures);
  assert_int_equal(failures, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_blocking_call),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
