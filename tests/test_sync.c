/* test_sync.c: the semantics of Lock, RLock, Semaphore, BoundedSemaphore,
 * Event, Condition and Barrier across real processes and threads, and
 * their answers to bad input. Robustness against killed processes is in
 * test_sync_robust.c. The suite runs once per start method
 * (tests/mp_test.h): every child gets its objects as passed handles and
 * its shared scratch memory as a raw array. */
#include "sync_test_util.h"

/* ---- Lock ------------------------------------------------------------------ */

static void test_lock_basics(void **state) {
  (void)state;
  mp_test_watchdog(20);
  mp_lock *l = mp_lock_new();
  assert_non_null(l);
  assert_false(mp_lock_is_recursive(l));
  assert_false(mp_lock_locked(l));
  assert_int_equal(mp_lock_release(l), MP_EVALUE); /* released too many times */
  assert_int_equal(mp_lock_acquire(l, MP_FOREVER), 0);
  assert_true(mp_lock_locked(l));
  assert_true(mp_lock_is_mine(l));
  assert_int_equal(mp_lock_acquire(l, 0), MP_ETIMEOUT);  /* block=False */
  assert_int_equal(mp_lock_acquire(l, -1), MP_ETIMEOUT); /* negative is 0 */
  double t0 = mp_monotonic();
  assert_int_equal(mp_lock_acquire(l, 0.1), MP_ETIMEOUT);
  assert_true(mp_monotonic() - t0 >= 0.09);
  assert_int_equal(mp_lock_acquire(l, NAN), -EINVAL);
  assert_int_equal(mp_lock_consistent(l), MP_ESTATE);
  assert_int_equal(mp_lock_release(l), 0);
  assert_int_equal(mp_lock_consistent(l), MP_ENOTOWNER);
  assert_int_equal(mp_lock_acquire(NULL, 0), -EINVAL);
  assert_int_equal(mp_lock_release(NULL), -EINVAL);
  assert_false(mp_lock_locked(NULL));
  mp_lock_free(l);
  mp_lock_free(NULL);
}

typedef struct counter_ctx {
  mp_lock *lock;
  volatile long *counter;
  int n;
} counter_ctx;

static bool count_up(counter_ctx *c) {
  for (int i = 0; i < c->n; i++) {
    if (mp_lock_acquire(c->lock, 30) != 0)
      return false;
    long v = *c->counter;
    if (i % 64 == 0)
      sched_yield(); /* widen the window a lost update would need */
    *c->counter = v + 1;
    if (mp_lock_release(c->lock) != 0)
      return false;
  }
  return true;
}

/* Four children and the parent's two threads add under one lock. */
static void *count_thread(void *arg) { return count_up(arg) ? NULL : arg; }

/* Handles: 0 the lock, 1 the scratch array holding the counter. */
static int count_child(void *arg, size_t len) {
  CHILD_OPEN(mp_lock, l, 0, mp_lock_open(h));
  mp_array *a;
  volatile long *counter = mp_test_scratch_open(1, &a);
  CHILD_FAIL(counter);
  counter_ctx c = {l, counter, 20000};
  bool ok = count_up(&c);
  mp_array_free(a);
  mp_lock_free(l);
  return ok ? 0 : 1;
}

static void mutual_exclusion(mp_lock *l) {
  mp_array *a;
  volatile long *counter = mp_test_scratch(4096, &a);
  counter_ctx c = {l, counter, 20000};
  mp_handle h[2];
  assert_int_equal(mp_lock_handle(l, &h[0]), 0);
  assert_int_equal(mp_array_handle(a, &h[1]), 0);
  mp_process *p[4];
  for (int i = 0; i < 4; i++)
    p[i] = mp_test_start(count_child, NULL, 0, h, 2);
  pthread_t th[2];
  for (int i = 0; i < 2; i++)
    pthread_create(&th[i], NULL, count_thread, &c);
  for (int i = 0; i < 2; i++) {
    void *bad;
    pthread_join(th[i], &bad);
    assert_null(bad);
  }
  for (int i = 0; i < 4; i++)
    mp_test_join_ok(p[i]);
  assert_int_equal(*counter, 6 * 20000);
  mp_array_free(a);
}

static void test_lock_mutual_exclusion(void **state) {
  (void)state;
  mp_test_watchdog(60);
  mp_lock *l = mp_lock_new();
  mutual_exclusion(l);
  mp_lock_free(l);
  mp_lock *r = mp_rlock_new();
  mutual_exclusion(r);
  mp_lock_free(r);
}

/* ---- RLock ----------------------------------------------------------------- */

static void *rlock_other_thread(void *arg) {
  mp_lock *r = arg;
  intptr_t bad = 0;
  bad |= mp_lock_release(r) != MP_ENOTOWNER;
  bad |= mp_lock_acquire(r, 0) != MP_ETIMEOUT;
  bad |= mp_lock_is_mine(r);
  bad |= mp_lock_consistent(r) != MP_ENOTOWNER;
  return (void *)bad;
}

static int rlock_other_child(void *arg, size_t len) {
  CHILD_OPEN(mp_lock, r, 0, mp_lock_open(h));
  CHILD_FAIL(mp_lock_release(r) == MP_ENOTOWNER);
  CHILD_FAIL(mp_lock_acquire(r, 0.05) == MP_ETIMEOUT);
  mp_lock_free(r);
  return 0;
}

static void test_rlock(void **state) {
  (void)state;
  mp_test_watchdog(20);
  mp_lock *r = mp_rlock_new();
  assert_true(mp_lock_is_recursive(r));
  assert_int_equal(mp_lock_release(r), MP_ENOTOWNER);
  for (int i = 0; i < 3; i++)
    assert_int_equal(mp_lock_acquire(r, 0), 0);
  pthread_t th;
  void *bad;
  pthread_create(&th, NULL, rlock_other_thread, r);
  pthread_join(th, &bad);
  assert_null(bad);
  for (int i = 0; i < 3; i++) {
    assert_true(mp_lock_is_mine(r));
    assert_int_equal(mp_lock_release(r), 0);
  }
  assert_false(mp_lock_locked(r));
  assert_int_equal(mp_lock_release(r), MP_ENOTOWNER);
  /* Another process (or thread-process) cannot release it either. */
  assert_int_equal(mp_lock_acquire(r, 0), 0);
  mp_handle h;
  assert_int_equal(mp_lock_handle(r, &h), 0);
  mp_test_join_ok(mp_test_start(rlock_other_child, NULL, 0, &h, 1));
  assert_int_equal(mp_lock_release(r), 0);
  mp_lock_free(r);
}

/* Locks built in caller memory work in other processes too: here the
 * memory is a raw array's, passed as handle 0; the child attaches. */
static int caller_memory_child(void *arg, size_t len) {
  mp_array *a;
  void *mem = mp_test_scratch_open(0, &a);
  CHILD_FAIL(mem);
  mp_lock *l = mp_lock_attach(mem);
  CHILD_FAIL(l);
  CHILD_FAIL(mp_lock_acquire(l, 0) == MP_ETIMEOUT);
  CHILD_FAIL(mp_lock_release(l) == 0); /* any process may release a Lock */
  mp_lock_free(l);
  mp_array_free(a);
  return 0;
}

static void test_lock_in_caller_memory(void **state) {
  (void)state;
  mp_test_watchdog(20);
  mp_array *a;
  void *mem = mp_test_scratch(4096, &a);
  assert_true(mp_lock_memsize() <= 64);
  mp_lock *l = mp_lock_init(mem, false);
  assert_ptr_equal(mp_lock_mem(l), mem);
  assert_int_equal(mp_lock_acquire(l, 0), 0);
  mp_handle h;
  assert_int_equal(mp_array_handle(a, &h), 0);
  mp_test_join_ok(mp_test_start(caller_memory_child, NULL, 0, &h, 1));
  assert_false(mp_lock_locked(l));
  mp_lock_free(l);
  assert_null(mp_lock_attach(NULL));
  mp_array_free(a);
}

/* ---- Semaphore ------------------------------------------------------------- */

static int sem_waiter(void *arg, size_t len) {
  CHILD_OPEN(mp_semaphore, z, 0, mp_semaphore_open(h));
  int r = mp_semaphore_acquire(z, 20);
  mp_semaphore_free(z);
  CHILD_FAIL(r == 0);
  return 0;
}

static void test_semaphore(void **state) {
  (void)state;
  mp_test_watchdog(20);
  errno = 0;
  assert_null(mp_semaphore_new(-1));
  assert_int_equal(errno, EINVAL);
  assert_null(mp_bounded_semaphore_new(-5));
  mp_semaphore *s = mp_semaphore_new(2);
  assert_non_null(s);
  assert_false(mp_semaphore_is_bounded(s));
  assert_int_equal(mp_semaphore_get_value(s), 2);
  assert_int_equal(mp_semaphore_acquire(s, 0), 0);
  assert_int_equal(mp_semaphore_acquire(s, MP_FOREVER), 0);
  assert_int_equal(mp_semaphore_acquire(s, 0), MP_ETIMEOUT);
  assert_int_equal(mp_semaphore_acquire(s, 0.05), MP_ETIMEOUT);
  assert_int_equal(mp_semaphore_acquire(s, NAN), -EINVAL);
  assert_int_equal(mp_semaphore_get_value(s), 0);
  for (int i = 0; i < 5; i++) /* unbounded: may go past the initial value */
    assert_int_equal(mp_semaphore_release(s), 0);
  assert_int_equal(mp_semaphore_get_value(s), 5);
  mp_semaphore_free(s);

  mp_semaphore *b = mp_bounded_semaphore_new(1);
  assert_true(mp_semaphore_is_bounded(b));
  assert_int_equal(mp_semaphore_release(b), MP_EVALUE);
  assert_int_equal(mp_semaphore_acquire(b, 0), 0);
  assert_int_equal(mp_semaphore_release(b), 0);
  assert_int_equal(mp_semaphore_release(b), MP_EVALUE);
  mp_semaphore_free(b);

  mp_semaphore *big = mp_semaphore_new(MP_SEM_VALUE_MAX);
  assert_int_equal(mp_semaphore_release(big), -EOVERFLOW);
  mp_semaphore_free(big);

  /* A waiter in another process is woken by a release here. */
  mp_semaphore *z = mp_semaphore_new(0);
  mp_handle h;
  assert_int_equal(mp_semaphore_handle(z, &h), 0);
  mp_process *p[3];
  for (int i = 0; i < 3; i++)
    p[i] = mp_test_start(sem_waiter, NULL, 0, &h, 1);
  sleep_s(0.05);
  for (int i = 0; i < 3; i++)
    assert_int_equal(mp_semaphore_release(z), 0);
  for (int i = 0; i < 3; i++)
    mp_test_join_ok(p[i]);
  assert_int_equal(mp_semaphore_get_value(z), 0);
  mp_semaphore_free(z);
  mp_semaphore_free(NULL);
}

/* ---- Event ------------------------------------------------------------------ */

static int event_waiter(void *arg, size_t len) {
  CHILD_OPEN(mp_event, e, 0, mp_event_open(h));
  int r = mp_event_wait(e, 20);
  mp_event_free(e);
  CHILD_FAIL(r == 0);
  return 0;
}

static void test_event(void **state) {
  (void)state;
  mp_test_watchdog(20);
  mp_event *e = mp_event_new();
  assert_false(mp_event_is_set(e));
  assert_int_equal(mp_event_wait(e, 0), MP_ETIMEOUT);
  double t0 = mp_monotonic();
  assert_int_equal(mp_event_wait(e, 0.1), MP_ETIMEOUT);
  assert_true(mp_monotonic() - t0 >= 0.09);
  assert_int_equal(mp_event_wait(e, NAN), -EINVAL);
  mp_event_set(e);
  assert_true(mp_event_is_set(e));
  assert_int_equal(mp_event_wait(e, 0), 0);
  assert_int_equal(mp_event_wait(e, MP_FOREVER), 0);
  mp_event_clear(e);
  assert_false(mp_event_is_set(e));
  /* Many waiters in other processes; one set wakes them all. */
  mp_handle h;
  assert_int_equal(mp_event_handle(e, &h), 0);
  mp_process *p[4];
  for (int i = 0; i < 4; i++)
    p[i] = mp_test_start(event_waiter, NULL, 0, &h, 1);
  sleep_s(0.1);
  mp_event_set(e);
  for (int i = 0; i < 4; i++)
    mp_test_join_ok(p[i]);
  mp_event_free(e);
  mp_event_set(NULL);
  mp_event_clear(NULL);
  assert_false(mp_event_is_set(NULL));
}

/* ---- Condition --------------------------------------------------------------- */

typedef struct box {
  int items;
  int taken;
} box;

static bool has_item(void *arg) { return ((box *)arg)->items > 0; }

static void test_condition_basics(void **state) {
  (void)state;
  mp_test_watchdog(20);
  mp_condition *c = mp_condition_new(NULL);
  assert_non_null(c);
  assert_true(mp_lock_is_recursive(mp_condition_get_lock(c)));
  assert_int_equal(mp_condition_wait(c, 0), MP_ENOTOWNER);
  assert_int_equal(mp_condition_notify(c, 1), MP_ENOTOWNER);
  assert_int_equal(mp_condition_notify_all(c), MP_ENOTOWNER);
  box b = {0, 0};
  assert_int_equal(mp_condition_wait_for(c, has_item, &b, 0), MP_ENOTOWNER);
  assert_int_equal(mp_condition_acquire(c, MP_FOREVER), 0);
  assert_int_equal(mp_condition_acquire(c, MP_FOREVER), 0); /* RLock: twice */
  double t0 = mp_monotonic();
  assert_int_equal(mp_condition_wait(c, 0.1), MP_ETIMEOUT);
  assert_true(mp_monotonic() - t0 >= 0.09);
  /* The wait gave back both levels. */
  assert_int_equal(mp_condition_release(c), 0);
  assert_int_equal(mp_condition_release(c), 0);
  assert_int_equal(mp_condition_release(c), MP_ENOTOWNER);
  assert_int_equal(mp_condition_acquire(c, 0), 0);
  assert_int_equal(mp_condition_wait_for(c, has_item, &b, 0.05), MP_ETIMEOUT);
  b.items = 1;
  assert_int_equal(mp_condition_wait_for(c, has_item, &b, 0), 0);
  assert_int_equal(mp_condition_wait(c, NAN), -EINVAL);
  assert_int_equal(mp_condition_notify(c, 1), 0); /* nobody waits: fine */
  assert_int_equal(mp_condition_release(c), 0);
  mp_condition_free(c);
  mp_condition_free(NULL);
}

/* A producer/consumer over a plain Lock between processes. Handles: 0 the
 * condition, 1 the scratch array holding the box. */
enum { CONSUMERS = 3, PER = 200 };

static int consumer(void *arg, size_t len) {
  CHILD_OPEN(mp_condition, c, 0, mp_condition_open(h));
  mp_array *a;
  box *b = mp_test_scratch_open(1, &a);
  CHILD_FAIL(b);
  int r = 0;
  for (int k = 0; k < PER && !r; k++) {
    if (mp_condition_acquire(c, 30) != 0)
      r = 1;
    else if (mp_condition_wait_for(c, has_item, b, 30) != 0)
      r = 2;
    else {
      b->items--;
      b->taken++;
    }
    if (r != 1 && mp_condition_release(c) != 0)
      r = 3;
  }
  mp_array_free(a);
  mp_condition_free(c);
  return r;
}

static void test_condition_processes(void **state) {
  (void)state;
  mp_test_watchdog(60);
  mp_lock *l = mp_lock_new();
  mp_condition *c = mp_condition_new(l);
  assert_false(mp_lock_is_recursive(mp_condition_get_lock(c)));
  mp_array *a;
  box *b = mp_test_scratch(4096, &a);
  mp_handle h[2];
  assert_int_equal(mp_condition_handle(c, &h[0]), 0);
  assert_int_equal(mp_array_handle(a, &h[1]), 0);
  mp_process *p[CONSUMERS];
  for (int i = 0; i < CONSUMERS; i++)
    p[i] = mp_test_start(consumer, NULL, 0, h, 2);
  for (int k = 0; k < CONSUMERS * PER; k++) {
    assert_int_equal(mp_condition_acquire(c, 30), 0);
    b->items++;
    assert_int_equal(mp_condition_notify(c, 1), 0);
    assert_int_equal(mp_condition_release(c), 0);
    if (k % 50 == 0)
      sched_yield();
  }
  for (int i = 0; i < CONSUMERS; i++)
    mp_test_join_ok(p[i]);
  assert_int_equal(b->taken, CONSUMERS * PER);
  assert_int_equal(b->items, 0);
  mp_condition_free(c);
  mp_lock_free(l);
  mp_array_free(a);
}

/* notify(n) ends exactly min(n, waiting) waits, never more, round after
 * round: N waiters, each counted under the lock as waiting before its
 * wait (so registered once the parent holds the lock and sees all N) and
 * counting its wake-ups after. Each round the parent, seeing all N
 * waiting, notifies k < N, then waits until the k woke and all N wait
 * again. A wait ending without its notify (a waiter woken on its way to
 * sleep, say: waiters re-enter their wait just before each notify) is
 * counted too, and never cancels out: at the end, after notify_all sends
 * all N home, the total must be exactly the sum of the k plus N. */
enum { NWAITERS = 4, NROUNDS = 300 };

typedef struct notify_board {
  int waiting; /* under the condition's lock, as all below */
  int woke;
  int stop;
  int failed;
} notify_board;

static int notified_waiter(void *arg, size_t len) {
  CHILD_OPEN(mp_condition, c, 0, mp_condition_open(h));
  mp_array *a;
  notify_board *nb = mp_test_scratch_open(1, &a);
  CHILD_FAIL(nb);
  int r = 0;
  CHILD_FAIL(mp_condition_acquire(c, 30) == 0);
  while (!nb->stop && !r) {
    nb->waiting++;
    int w = mp_condition_wait(c, 60);
    nb->waiting--;
    if (w == 0)
      nb->woke++;
    else
      r = nb->failed = 1; /* a lost notify: the parent stops waiting */
  }
  CHILD_FAIL(mp_condition_release(c) == 0);
  mp_array_free(a);
  mp_condition_free(c);
  return r;
}

/* With the lock held, waits until pred holds over the board. */
static void hold_when(mp_condition *c, notify_board *nb, int waiting, int woke) {
  for (;;) {
    assert_int_equal(mp_condition_acquire(c, 30), 0);
    assert_int_equal(nb->failed, 0);
    if (nb->waiting == waiting && nb->woke >= woke)
      return;
    assert_int_equal(mp_condition_release(c), 0);
    usleep(200);
  }
}

static void test_condition_notify_exact(void **state) {
  (void)state;
  mp_test_watchdog(120);
  mp_condition *c = mp_condition_new(NULL);
  mp_array *a;
  notify_board *nb = mp_test_scratch(4096, &a);
  mp_handle h[2];
  assert_int_equal(mp_condition_handle(c, &h[0]), 0);
  assert_int_equal(mp_array_handle(a, &h[1]), 0);
  mp_process *p[NWAITERS];
  for (int i = 0; i < NWAITERS; i++)
    p[i] = mp_test_start(notified_waiter, NULL, 0, h, 2);
  int sent = 0;
  for (int round = 0; round < NROUNDS; round++) {
    hold_when(c, nb, NWAITERS, sent);
    assert_int_equal(nb->woke, sent); /* none woke without a notify */
    int k = 1 + round % (NWAITERS - 1);
    assert_int_equal(mp_condition_notify(c, k), 0);
    sent += k;
    assert_int_equal(mp_condition_release(c), 0);
  }
  hold_when(c, nb, NWAITERS, sent);
  nb->stop = 1;
  assert_int_equal(mp_condition_notify_all(c), 0);
  assert_int_equal(mp_condition_notify(c, 0), 0); /* nothing: n <= 0 */
  assert_int_equal(mp_condition_release(c), 0);
  for (int i = 0; i < NWAITERS; i++)
    mp_test_join_ok(p[i]);
  assert_int_equal(nb->waiting, 0);
  assert_int_equal(nb->woke, sent + NWAITERS);
  mp_condition_free(c);
  mp_array_free(a);
}

/* ---- Barrier ----------------------------------------------------------------- */

static int count_action(void *arg) {
  __atomic_fetch_add((int *)arg, 1, __ATOMIC_RELAXED);
  return 0;
}

enum { P = 4, ROUNDS = 50 };

/* Handles: 0 the barrier, 1 the scratch array (the action counts in
 * [0], the parties' indexes in [1..]): the action's argument points into
 * this process's mapping of it. */
static int barrier_party(void *arg, size_t len) {
  mp_array *a;
  int *shared = mp_test_scratch_open(1, &a);
  CHILD_FAIL(shared);
  CHILD_OPEN(mp_barrier, b, 0, mp_barrier_open(h, count_action, &shared[0]));
  int bad = 0;
  for (int r = 0; r < ROUNDS && !bad; r++) {
    int idx = mp_barrier_wait_timeout(b, 30);
    if (idx < 0 || idx >= P)
      bad = 1;
    else
      __atomic_fetch_add(&shared[1 + r * P + idx], 1, __ATOMIC_RELAXED);
  }
  mp_barrier_free(b);
  mp_array_free(a);
  return bad;
}

static void test_barrier_rounds(void **state) {
  (void)state;
  mp_test_watchdog(60);
  errno = 0;
  assert_null(mp_barrier_new(0, NULL, NULL, MP_FOREVER));
  assert_int_equal(errno, EINVAL);
  assert_null(mp_barrier_new(-3, NULL, NULL, MP_FOREVER));
  assert_null(mp_barrier_new(2, NULL, NULL, NAN));
  assert_int_equal(mp_barrier_memsize(0), 0);
  mp_array *a;
  int *shared = mp_test_scratch(4096, &a); /* [0] action runs, [1..] index seen */
  mp_barrier *b = mp_barrier_new(P, count_action, &shared[0], MP_FOREVER);
  assert_int_equal(mp_barrier_parties(b), P);
  assert_int_equal(mp_barrier_n_waiting(b), 0);
  mp_handle h[2];
  assert_int_equal(mp_barrier_handle(b, &h[0]), 0);
  assert_int_equal(mp_array_handle(a, &h[1]), 0);
  mp_process *p[P - 1];
  for (int i = 0; i < P - 1; i++)
    p[i] = mp_test_start(barrier_party, NULL, 0, h, 2);
  for (int r = 0; r < ROUNDS; r++) {
    int idx = mp_barrier_wait(b);
    assert_true(idx >= 0 && idx < P);
    __atomic_fetch_add(&shared[1 + r * P + idx], 1, __ATOMIC_RELAXED);
  }
  for (int i = 0; i < P - 1; i++)
    mp_test_join_ok(p[i]);
  assert_int_equal(shared[0], ROUNDS); /* the action ran once per round */
  for (int r = 0; r < ROUNDS; r++)     /* every index once per round */
    for (int i = 0; i < P; i++)
      assert_int_equal(shared[1 + r * P + i], 1);
  assert_false(mp_barrier_broken(b));
  mp_barrier_free(b);
  mp_array_free(a);
}

/* Back-to-back rounds with no work between them (a completed round lets
 * its parties out at once, so a quick one is already in the next round
 * while the others are still waking): a party that sees round r complete
 * must see all P arrivals of round r counted, and fewer than P of round
 * r + 1, or a round let someone through early. Handles: 0 the barrier,
 * 1 the scratch ([0] arrivals, [1] failures). */
enum { FAST_ROUNDS = 2000 };

static int fast_rounds(int *shared, mp_barrier *b) {
  int bad = 0;
  for (int r = 0; r < FAST_ROUNDS; r++) {
    __atomic_fetch_add(&shared[0], 1, __ATOMIC_SEQ_CST);
    int idx = mp_barrier_wait_timeout(b, 30);
    int n = __atomic_load_n(&shared[0], __ATOMIC_SEQ_CST);
    if (idx < 0 || idx >= P || n < (r + 1) * P || n >= (r + 2) * P) {
      __atomic_fetch_add(&shared[1], 1, __ATOMIC_RELAXED);
      mp_barrier_abort(b); /* the others get MP_EBROKEN, not a hang */
      bad = 1;
      break;
    }
  }
  return bad;
}

static int fast_party(void *arg, size_t len) {
  mp_array *a;
  int *shared = mp_test_scratch_open(1, &a);
  CHILD_FAIL(shared);
  CHILD_OPEN(mp_barrier, b, 0, mp_barrier_open(h, NULL, NULL));
  int bad = fast_rounds(shared, b);
  mp_barrier_free(b);
  mp_array_free(a);
  return bad;
}

static void test_barrier_fast_rounds(void **state) {
  (void)state;
  mp_test_watchdog(120);
  mp_array *a;
  int *shared = mp_test_scratch(4096, &a);
  mp_barrier *b = mp_barrier_new(P, NULL, NULL, MP_FOREVER);
  mp_handle h[2];
  assert_int_equal(mp_barrier_handle(b, &h[0]), 0);
  assert_int_equal(mp_array_handle(a, &h[1]), 0);
  mp_process *p[P - 1];
  for (int i = 0; i < P - 1; i++)
    p[i] = mp_test_start(fast_party, NULL, 0, h, 2);
  int bad = fast_rounds(shared, b);
  for (int i = 0; i < P - 1; i++)
    mp_test_join_ok(p[i]);
  assert_int_equal(bad, 0);
  assert_int_equal(shared[1], 0);
  assert_int_equal(shared[0], FAST_ROUNDS * P);
  assert_int_equal(mp_barrier_n_waiting(b), 0);
  assert_false(mp_barrier_broken(b));
  mp_barrier_free(b);
  mp_array_free(a);
}

static int failing_action(void *arg) {
  (void)arg;
  return -EIO;
}

/* One wait on the barrier (handle 0); arg: whether it must break. */
static int barrier_once(void *arg, size_t len) {
  bool broken = *(bool *)arg;
  CHILD_OPEN(mp_barrier, b, 0, mp_barrier_open(h, NULL, NULL));
  int i = mp_barrier_wait_timeout(b, 30);
  mp_barrier_free(b);
  CHILD_FAIL(broken ? i == MP_EBROKEN : i == 0 || i == 1);
  return 0;
}

static void test_barrier_break_reset(void **state) {
  (void)state;
  mp_test_watchdog(30);
  /* A timeout breaks the barrier, for the waiter and later callers. */
  mp_barrier *b = mp_barrier_new(2, NULL, NULL, 0.1);
  assert_int_equal(mp_barrier_wait(b), MP_EBROKEN);
  assert_true(mp_barrier_broken(b));
  assert_int_equal(mp_barrier_wait_timeout(b, 5), MP_EBROKEN);
  mp_barrier_reset(b);
  assert_false(mp_barrier_broken(b));
  /* Reset while a party waits: the waiter gets MP_EBROKEN. */
  mp_handle h;
  assert_int_equal(mp_barrier_handle(b, &h), 0);
  bool broken = true;
  mp_process *p = mp_test_start(barrier_once, &broken, sizeof broken, &h, 1);
  for (int i = 0; i < 2000 && mp_barrier_n_waiting(b) < 1; i++)
    sleep_s(0.005);
  assert_int_equal(mp_barrier_n_waiting(b), 1);
  mp_barrier_reset(b);
  mp_test_join_ok(p);
  assert_false(mp_barrier_broken(b));
  assert_int_equal(mp_barrier_n_waiting(b), 0);
  /* It works again after the reset. */
  broken = false;
  p = mp_test_start(barrier_once, &broken, sizeof broken, &h, 1);
  int i = mp_barrier_wait_timeout(b, 30);
  assert_true(i == 0 || i == 1);
  mp_test_join_ok(p);
  /* abort() wakes a waiter with MP_EBROKEN. */
  broken = true;
  p = mp_test_start(barrier_once, &broken, sizeof broken, &h, 1);
  for (int k = 0; k < 2000 && mp_barrier_n_waiting(b) < 1; k++)
    sleep_s(0.005);
  mp_barrier_abort(b);
  mp_test_join_ok(p);
  assert_true(mp_barrier_broken(b));
  mp_barrier_free(b);
  /* A failing action breaks it: its caller gets the action's code. */
  mp_barrier *f = mp_barrier_new(1, failing_action, NULL, MP_FOREVER);
  assert_int_equal(mp_barrier_wait(f), -EIO);
  assert_true(mp_barrier_broken(f));
  mp_barrier_free(f);
  /* One party: never waits. */
  mp_barrier *one = mp_barrier_new(1, NULL, NULL, MP_FOREVER);
  assert_int_equal(mp_barrier_wait(one), 0);
  assert_int_equal(mp_barrier_wait_timeout(one, NAN), -EINVAL);
  mp_barrier_free(one);
  mp_barrier_free(NULL);
  assert_int_equal(mp_barrier_wait(NULL), -EINVAL);
}

/* Semaphore, Event and Barrier travel by handle as well. */
static void test_handles_of_all(void **state) {
  (void)state;
  mp_test_watchdog(20);
  mp_semaphore *s = mp_bounded_semaphore_new(3);
  mp_barrier *b = mp_barrier_new(2, NULL, NULL, 7.5);
  mp_handle hs, hb;
  assert_int_equal(mp_semaphore_handle(s, &hs), 0);
  assert_int_equal(mp_barrier_handle(b, &hb), 0);
  mp_semaphore *s2 = mp_semaphore_open(&hs);
  mp_barrier *b2 = mp_barrier_open(&hb, NULL, NULL);
  assert_non_null(s2);
  assert_non_null(b2);
  assert_true(mp_semaphore_is_bounded(s2));
  assert_int_equal(mp_semaphore_acquire(s2, 0), 0);
  assert_int_equal(mp_semaphore_get_value(s), 2);
  assert_int_equal(mp_barrier_parties(b2), 2);
  assert_null(mp_semaphore_open(&hb));
  assert_int_equal(mp_errno_code(errno), MP_ETYPE);
  mp_semaphore_free(s2);
  mp_barrier_free(b2);
  mp_semaphore_free(s);
  mp_barrier_free(b);
  /* The init forms. */
  void *mem = shared_scratch(4096);
  mp_semaphore *si = mp_semaphore_init(mem, 0, false);
  assert_int_equal(mp_semaphore_handle(si, &hs), MP_ENOTSUP);
  assert_null(mp_semaphore_init(mem, -1, false));
  mp_semaphore_free(si);
  mp_event *ei = mp_event_init(mem);
  mp_event_set(ei);
  mp_event *ea = mp_event_attach(mem);
  assert_true(mp_event_is_set(ea));
  mp_event_free(ea);
  mp_event_free(ei);
  mp_lock *l = mp_lock_init((char *)mem + 64, true);
  mp_condition *ci = mp_condition_init((char *)mem + 128, l);
  assert_non_null(ci);
  assert_null(mp_condition_init((char *)mem + 128, NULL));
  assert_int_equal(mp_condition_acquire(ci, 0), 0);
  assert_int_equal(mp_condition_wait(ci, 0.01), MP_ETIMEOUT);
  assert_int_equal(mp_condition_release(ci), 0);
  mp_condition_free(ci);
  mp_lock_free(l);
  mp_barrier *bi = mp_barrier_init((char *)mem + 256, 2, NULL, NULL, MP_FOREVER);
  assert_non_null(bi);
  assert_null(mp_barrier_init(mem, 0, NULL, NULL, MP_FOREVER));
  mp_barrier_free(bi);
  munmap(mem, 4096);
}

int main(void) {
  mp_test_use_start_method();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lock_basics),
      cmocka_unit_test(test_lock_mutual_exclusion),
      cmocka_unit_test(test_rlock),
      cmocka_unit_test(test_lock_in_caller_memory),
      cmocka_unit_test(test_semaphore),
      cmocka_unit_test(test_event),
      cmocka_unit_test(test_condition_basics),
      cmocka_unit_test(test_condition_processes),
      cmocka_unit_test(test_condition_notify_exact),
      cmocka_unit_test(test_barrier_rounds),
      cmocka_unit_test(test_barrier_fast_rounds),
      cmocka_unit_test(test_barrier_break_reset),
      cmocka_unit_test(test_handles_of_all),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
