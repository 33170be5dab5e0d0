/* test_sync_robust.c: what happens when processes die holding or waiting on
 * synchronization objects. In the style of glibc's tst-robust8: children
 * take locks at random and kill themselves with SIGKILL, round after round,
 * and the parent must always get every lock back (accepting
 * MP_EOWNERDEAD and repairing the data). Also: a Lock released by another
 * process than its acquirer, the not-recoverable rule, an unreaped zombie
 * owner, a sleeping waiter whose owner dies, a Barrier broken by a killed
 * party, and Event waiters whose setter died. */
#include "sync_test_util.h"

enum { NLOCKS = 8, NCHILD = 4, ROUNDS = 200 };

/* Each lock guards a pair that must be equal when the lock is free: a
 * holder bumps a, then b. A death between the two leaves them apart. */
typedef struct pair {
  volatile long a, b;
} pair;

static mp_lock *g_locks[NLOCKS];
static pair *g_pairs;

/* Takes lock i, repairing its pair if the owner died. */
static int take(int i, double timeout) {
  int r = mp_lock_acquire(g_locks[i], timeout);
  if (r == MP_EOWNERDEAD) {
    g_pairs[i].b = g_pairs[i].a;
    if (mp_lock_consistent(g_locks[i]) != 0)
      return -1;
    return 1;
  }
  return r;
}

static void robust_child(void *arg) {
  unsigned seed = (unsigned)(uintptr_t)arg;
  int steps = (int)(rand_r(&seed) % 40);
  for (int s = 0;; s++) {
    int i = (int)(rand_r(&seed) % NLOCKS);
    int r = take(i, 30);
    CHILD_CHECK(r >= 0);
    CHILD_CHECK(g_pairs[i].a == g_pairs[i].b);
    g_pairs[i].a++;
    if (s == steps) /* die holding it, mid-update */
      kill(getpid(), SIGKILL);
    g_pairs[i].b++;
    CHILD_CHECK(mp_lock_release(g_locks[i]) == 0);
    if (s > steps) /* or die holding nothing */
      kill(getpid(), SIGKILL);
  }
}

static void test_robust8(void **state) {
  (void)state;
  mp_test_watchdog(120);
  g_pairs = shared_scratch(4096);
  for (int i = 0; i < NLOCKS; i++)
    g_locks[i] = i % 2 ? mp_rlock_new() : mp_lock_new();
  int died_holding = 0;
  for (int round = 0; round < ROUNDS; round++) {
    pid_t pids[NCHILD];
    for (int c = 0; c < NCHILD; c++)
      pids[c] = fork_child(robust_child, (void *)(uintptr_t)(round * 131 + c + 1));
    for (int c = 0; c < NCHILD; c++) {
      int status;
      assert_int_equal(waitpid(pids[c], &status, 0), pids[c]);
      if (!WIFSIGNALED(status))
        fprintf(stderr, "round %d: child status 0x%x\n", round, status);
      assert_true(WIFSIGNALED(status));
      assert_int_equal(WTERMSIG(status), SIGKILL);
    }
    /* The parent gets every lock, and every pair is whole again. */
    for (int i = 0; i < NLOCKS; i++) {
      int r = take(i, 10);
      assert_true(r == 0 || r == 1);
      died_holding += r;
      assert_true(g_pairs[i].a == g_pairs[i].b);
      assert_int_equal(mp_lock_release(g_locks[i]), 0);
    }
  }
  /* Every child died holding a lock (except those killed waiting). */
  assert_true(died_holding > ROUNDS);
  for (int i = 0; i < NLOCKS; i++)
    mp_lock_free(g_locks[i]);
  munmap(g_pairs, 4096);
}

/* Python's Lock: released by another process than the acquirer. */
static void test_release_by_other_process(void **state) {
  (void)state;
  mp_test_watchdog(20);
  mp_lock *l = mp_lock_new();
  assert_int_equal(mp_lock_acquire(l, 0), 0);
  pid_t pid = fork();
  if (pid == 0) {
    CHILD_CHECK(mp_lock_release(l) == 0);
    CHILD_CHECK(mp_lock_release(l) == MP_EVALUE);
    CHILD_CHECK(mp_lock_acquire(l, 0) == 0); /* and the child's hold is released here */
    _exit(0);
  }
  reap_ok(pid);
  /* The child ended holding it, so its taker is told. Then, released by
   * a third party while the child sleeps waiting on it: */
  assert_int_equal(mp_lock_acquire(l, 5), MP_EOWNERDEAD);
  assert_int_equal(mp_lock_consistent(l), 0);
  pid = fork();
  if (pid == 0) {
    CHILD_CHECK(mp_lock_acquire(l, 20) == 0);
    CHILD_CHECK(mp_lock_release(l) == 0);
    _exit(0);
  }
  sleep_s(0.05);
  assert_int_equal(mp_lock_release(l), 0);
  reap_ok(pid);
  mp_lock_free(l);
}

/* Released without mp_lock_consistent: not recoverable, at once, for all. */
static void test_not_recoverable(void **state) {
  (void)state;
  mp_test_watchdog(20);
  mp_lock *kinds[2] = {mp_lock_new(), mp_rlock_new()};
  for (int k = 0; k < 2; k++) {
    mp_lock *l = kinds[k];
    pid_t pid = fork();
    if (pid == 0) {
      CHILD_CHECK(mp_lock_acquire(l, 0) == 0);
      kill(getpid(), SIGKILL);
    }
    int status;
    waitpid(pid, &status, 0);
    assert_int_equal(mp_lock_acquire(l, 5), MP_EOWNERDEAD);
    assert_true(mp_lock_is_mine(l));
    assert_int_equal(mp_lock_release(l), 0);
    double t0 = mp_monotonic();
    assert_int_equal(mp_lock_acquire(l, 5), MP_ENOTRECOVERABLE);
    assert_int_equal(mp_lock_acquire(l, 0), MP_ENOTRECOVERABLE);
    assert_true(mp_monotonic() - t0 < 1);
    mp_lock_free(l);
  }
}

/* An owner that exited but was not reaped (a zombie) is dead too; so is a
 * thread that ended holding an RLock while its process lives on. */
static void *hold_and_exit(void *arg) {
  mp_lock_acquire(arg, 0);
  return NULL;
}

static void test_zombie_and_thread_owner(void **state) {
  (void)state;
  mp_test_watchdog(20);
  mp_lock *l = mp_lock_new();
  pid_t pid = fork();
  if (pid == 0) {
    mp_lock_acquire(l, 0);
    _exit(0);
  }
  /* Wait for the exit without reaping it. */
  siginfo_t si;
  assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
  assert_int_equal(mp_lock_acquire(l, 5), MP_EOWNERDEAD);
  assert_int_equal(mp_lock_consistent(l), 0);
  assert_int_equal(mp_lock_release(l), 0);
  reap_ok(pid);
  mp_lock_free(l);

  mp_lock *r = mp_rlock_new();
  pthread_t th;
  pthread_create(&th, NULL, hold_and_exit, r);
  pthread_join(th, NULL);
  assert_int_equal(mp_lock_acquire(r, 5), MP_EOWNERDEAD);
  assert_int_equal(mp_lock_consistent(r), 0);
  assert_int_equal(mp_lock_release(r), 0);
  assert_int_equal(mp_lock_acquire(r, 0), 0);
  assert_int_equal(mp_lock_release(r), 0);
  mp_lock_free(r);
}

/* Waiters already asleep when the owner is killed get the lock, one of
 * them with MP_EOWNERDEAD, all promptly. */
static void test_sleeping_waiters(void **state) {
  (void)state;
  mp_test_watchdog(30);
  mp_lock *l = mp_lock_new();
  int *res = shared_scratch(4096);
  int go[2];
  assert_int_equal(pipe(go), 0);
  pid_t owner = fork();
  if (owner == 0) {
    CHILD_CHECK(mp_lock_acquire(l, 0) == 0);
    CHILD_CHECK(write(go[1], "x", 1) == 1);
    pause();
    _exit(0);
  }
  char c;
  assert_int_equal(read(go[0], &c, 1), 1);
  pid_t waiters[3];
  for (int i = 0; i < 3; i++) {
    waiters[i] = fork();
    if (waiters[i] == 0) {
      int r = mp_lock_acquire(l, 20);
      CHILD_CHECK(r == 0 || r == MP_EOWNERDEAD);
      if (r == MP_EOWNERDEAD) {
        __atomic_fetch_add(&res[0], 1, __ATOMIC_RELAXED);
        CHILD_CHECK(mp_lock_consistent(l) == 0);
      }
      CHILD_CHECK(mp_lock_release(l) == 0);
      _exit(0);
    }
  }
  sleep_s(0.2);
  double t0 = mp_monotonic();
  kill(owner, SIGKILL);
  for (int i = 0; i < 3; i++)
    reap_ok(waiters[i]);
  assert_true(mp_monotonic() - t0 < 5);
  assert_int_equal(res[0], 1);
  int status;
  waitpid(owner, &status, 0);
  close(go[0]);
  close(go[1]);
  munmap(res, 4096);
  mp_lock_free(l);
}

/* A party killed while waiting breaks the barrier for the others, who
 * would otherwise wait forever (no timeout given). */
static void test_barrier_killed_party(void **state) {
  (void)state;
  mp_test_watchdog(30);
  mp_barrier *b = mp_barrier_new(3, NULL, NULL, MP_FOREVER);
  pid_t victim = fork();
  if (victim == 0) {
    mp_barrier_wait(b);
    _exit(0);
  }
  pid_t other = fork();
  if (other == 0) {
    CHILD_CHECK(mp_barrier_wait(b) == MP_EBROKEN);
    _exit(0);
  }
  for (int i = 0; i < 2000 && mp_barrier_n_waiting(b) < 2; i++)
    sleep_s(0.005);
  assert_int_equal(mp_barrier_n_waiting(b), 2);
  double t0 = mp_monotonic();
  kill(victim, SIGKILL);
  reap_ok(other);
  assert_true(mp_monotonic() - t0 < 5);
  assert_true(mp_barrier_broken(b));
  assert_int_equal(mp_barrier_wait(b), MP_EBROKEN);
  int status;
  waitpid(victim, &status, 0);
  /* Reset makes it usable again; the dead party's slot is free. */
  mp_barrier_reset(b);
  assert_false(mp_barrier_broken(b));
  pid_t p1 = fork();
  if (p1 == 0) {
    CHILD_CHECK(mp_barrier_wait_timeout(b, 20) >= 0);
    _exit(0);
  }
  pid_t p2 = fork();
  if (p2 == 0) {
    CHILD_CHECK(mp_barrier_wait_timeout(b, 20) >= 0);
    _exit(0);
  }
  assert_true(mp_barrier_wait_timeout(b, 20) >= 0);
  reap_ok(p1);
  reap_ok(p2);
  mp_barrier_free(b);
}

/* Event and Condition waiters whose peer died wake by their timeout. */
static void test_waiters_of_dead_peers(void **state) {
  (void)state;
  mp_test_watchdog(20);
  mp_event *e = mp_event_new();
  mp_condition *c = mp_condition_new(NULL);
  pid_t pid = fork();
  if (pid == 0)
    kill(getpid(), SIGKILL); /* the peer that would have set it */
  int status;
  waitpid(pid, &status, 0);
  double t0 = mp_monotonic();
  assert_int_equal(mp_event_wait(e, 0.2), MP_ETIMEOUT);
  assert_int_equal(mp_condition_acquire(c, 1), 0);
  assert_int_equal(mp_condition_wait(c, 0.2), MP_ETIMEOUT);
  assert_int_equal(mp_condition_release(c), 0);
  assert_true(mp_monotonic() - t0 < 3);
  mp_event_free(e);
  mp_condition_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_robust8),
      cmocka_unit_test(test_release_by_other_process),
      cmocka_unit_test(test_not_recoverable),
      cmocka_unit_test(test_zombie_and_thread_owner),
      cmocka_unit_test(test_sleeping_waiters),
      cmocka_unit_test(test_barrier_killed_party),
      cmocka_unit_test(test_waiters_of_dead_peers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
