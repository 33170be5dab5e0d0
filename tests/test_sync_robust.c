/* test_sync_robust.c: what happens when processes die holding or waiting on
 * synchronization objects. In the style of glibc's tst-robust8: children
 * take locks at random and kill themselves with SIGKILL, round after round,
 * and the parent must always get every lock back (accepting
 * MP_EOWNERDEAD and repairing the data). Also: a Lock released by another
 * process than its acquirer, the not-recoverable rule, an unreaped zombie
 * owner, a sleeping waiter whose owner dies, a Barrier broken by a killed
 * party, and Event waiters whose setter died. The suite runs once per
 * start method (tests/mp_test.h): children get their objects as passed
 * handles. Under "thread" a child cannot be killed alone, so the tests
 * whose point is a SIGKILLed owner skip; a thread ending while it holds
 * an RLock stands in where that is a death too. */
#include "sync_test_util.h"

static const char g_no_kill[] =
    "a thread-process cannot be killed alone (and a plain Lock's owner is "
    "the process, which lives on)";

/* Ends the calling child as if killed: SIGKILL, or under "thread" a
 * return from the target (the caller's `return`). */
#define DIE()                                                                  \
  do {                                                                         \
    if (!mp_test_method_is("thread"))                                          \
      kill(getpid(), SIGKILL);                                                 \
  } while (0)

enum { NLOCKS = 8, NCHILD = 4, ROUNDS = 200 };

/* Each lock guards a pair that must be equal when the lock is free: a
 * holder bumps a, then b. A death between the two leaves them apart. */
typedef struct pair {
  volatile long a, b;
} pair;

/* Takes lock i of locks, repairing its pair if the owner died. */
static int take(mp_lock **locks, pair *pairs, int i, double timeout) {
  int r = mp_lock_acquire(locks[i], timeout);
  if (r == MP_EOWNERDEAD) {
    pairs[i].b = pairs[i].a;
    if (mp_lock_consistent(locks[i]) != 0)
      return -1;
    return 1;
  }
  return r;
}

/* Handles 0..NLOCKS-1: the locks; NLOCKS: the scratch array of pairs.
 * arg: the random seed. Never returns: dies by SIGKILL. */
static int robust_child(void *arg, size_t len) {
  unsigned seed;
  memcpy(&seed, arg, sizeof seed);
  mp_lock *locks[NLOCKS];
  for (int i = 0; i < NLOCKS; i++) {
    mp_handle h = mp_test_handle((size_t)i);
    CHILD_FAIL((locks[i] = mp_lock_open(&h)));
  }
  mp_array *a;
  pair *pairs = mp_test_scratch_open(NLOCKS, &a);
  CHILD_FAIL(pairs);
  int steps = (int)(rand_r(&seed) % 40);
  for (int s = 0;; s++) {
    int i = (int)(rand_r(&seed) % NLOCKS);
    int r = take(locks, pairs, i, 30);
    CHILD_FAIL(r >= 0);
    CHILD_FAIL(pairs[i].a == pairs[i].b);
    pairs[i].a++;
    if (s == steps) /* die holding it, mid-update */
      kill(getpid(), SIGKILL);
    pairs[i].b++;
    CHILD_FAIL(mp_lock_release(locks[i]) == 0);
    if (s > steps) /* or die holding nothing */
      kill(getpid(), SIGKILL);
  }
}

static void test_robust8(void **state) {
  (void)state;
  mp_test_watchdog(120);
  mp_test_skip_method("thread", g_no_kill);
  mp_array *a;
  pair *pairs = mp_test_scratch(4096, &a);
  mp_lock *locks[NLOCKS];
  mp_handle h[NLOCKS + 1];
  for (int i = 0; i < NLOCKS; i++) {
    locks[i] = i % 2 ? mp_rlock_new() : mp_lock_new();
    assert_int_equal(mp_lock_handle(locks[i], &h[i]), 0);
  }
  assert_int_equal(mp_array_handle(a, &h[NLOCKS]), 0);
  int died_holding = 0;
  for (int round = 0; round < ROUNDS; round++) {
    mp_process *p[NCHILD];
    for (int c = 0; c < NCHILD; c++) {
      unsigned seed = (unsigned)(round * 131 + c + 1);
      p[c] = mp_test_start(robust_child, &seed, sizeof seed, h, NLOCKS + 1);
    }
    for (int c = 0; c < NCHILD; c++) {
      int code = mp_test_join_code(p[c]);
      if (code != -SIGKILL)
        fprintf(stderr, "round %d: child exit code %d\n", round, code);
      assert_int_equal(code, -SIGKILL);
      mp_process_free(p[c]);
    }
    /* The parent gets every lock, and every pair is whole again. */
    for (int i = 0; i < NLOCKS; i++) {
      int r = take(locks, pairs, i, 10);
      assert_true(r == 0 || r == 1);
      died_holding += r;
      assert_true(pairs[i].a == pairs[i].b);
      assert_int_equal(mp_lock_release(locks[i]), 0);
    }
  }
  /* Every child died holding a lock (except those killed waiting). */
  assert_true(died_holding > ROUNDS);
  for (int i = 0; i < NLOCKS; i++)
    mp_lock_free(locks[i]);
  mp_array_free(a);
}

/* Python's Lock: released by another process than the acquirer. */
static int release_other_child(void *arg, size_t len) {
  CHILD_OPEN(mp_lock, l, 0, mp_lock_open(h));
  CHILD_FAIL(mp_lock_release(l) == 0);
  CHILD_FAIL(mp_lock_release(l) == MP_EVALUE);
  /* and the child's hold is released by the parent (a process) */
  CHILD_FAIL(mp_lock_acquire(l, 0) == 0);
  mp_lock_free(l);
  return 0;
}

static int acquire_release_child(void *arg, size_t len) {
  CHILD_OPEN(mp_lock, l, 0, mp_lock_open(h));
  CHILD_FAIL(mp_lock_acquire(l, 20) == 0);
  CHILD_FAIL(mp_lock_release(l) == 0);
  mp_lock_free(l);
  return 0;
}

static void test_release_by_other_process(void **state) {
  (void)state;
  mp_test_watchdog(20);
  mp_lock *l = mp_lock_new();
  mp_handle h;
  assert_int_equal(mp_lock_handle(l, &h), 0);
  assert_int_equal(mp_lock_acquire(l, 0), 0);
  mp_test_join_ok(mp_test_start(release_other_child, NULL, 0, &h, 1));
  /* The child ended holding it, so its taker is told; a thread-process's
   * owner is the program, which lives: we release it for it. */
  if (mp_test_method_is("thread")) {
    assert_int_equal(mp_lock_release(l), 0);
    assert_int_equal(mp_lock_acquire(l, 5), 0);
  } else {
    assert_int_equal(mp_lock_acquire(l, 5), MP_EOWNERDEAD);
    assert_int_equal(mp_lock_consistent(l), 0);
  }
  /* Released by a third party while the child sleeps waiting on it. */
  mp_process *p = mp_test_start(acquire_release_child, NULL, 0, &h, 1);
  sleep_s(0.05);
  assert_int_equal(mp_lock_release(l), 0);
  mp_test_join_ok(p);
  mp_lock_free(l);
}

/* Released without mp_lock_consistent: not recoverable, at once, for all.
 * Under "thread" only the RLock: its owner is the thread, which ends. */
static int hold_and_die(void *arg, size_t len) {
  CHILD_OPEN(mp_lock, l, 0, mp_lock_open(h));
  CHILD_FAIL(mp_lock_acquire(l, 0) == 0);
  DIE();
  mp_lock_free(l); /* the wrapper only: the hold stays */
  return 0;
}

static void test_not_recoverable(void **state) {
  (void)state;
  mp_test_watchdog(20);
  mp_lock *kinds[2] = {mp_lock_new(), mp_rlock_new()};
  for (int k = 0; k < 2; k++) {
    mp_lock *l = kinds[k];
    if (k == 0 && mp_test_method_is("thread")) {
      mp_lock_free(l);
      continue;
    }
    mp_handle h;
    assert_int_equal(mp_lock_handle(l, &h), 0);
    mp_process *p = mp_test_start(hold_and_die, NULL, 0, &h, 1);
    assert_int_equal(mp_test_join_code(p), mp_test_method_is("thread") ? 0 : -SIGKILL);
    mp_process_free(p);
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

static int hold_and_exit_child(void *arg, size_t len) {
  CHILD_OPEN(mp_lock, l, 0, mp_lock_open(h));
  CHILD_FAIL(mp_lock_acquire(l, 0) == 0);
  return 0;
}

static void test_zombie_and_thread_owner(void **state) {
  (void)state;
  mp_test_watchdog(20);
  /* A zombie needs a child of this very process: not so under
   * forkserver (the server's child) nor thread (no process). */
  if (!mp_test_method_is("forkserver") && !mp_test_method_is("thread")) {
    mp_lock *l = mp_lock_new();
    mp_handle h;
    assert_int_equal(mp_lock_handle(l, &h), 0);
    mp_process *p = mp_test_start(hold_and_exit_child, NULL, 0, &h, 1);
    /* Wait for the exit without reaping it. */
    siginfo_t si;
    assert_int_equal(waitid(P_PID, (id_t)mp_process_pid(p), &si, WEXITED | WNOWAIT), 0);
    assert_int_equal(mp_lock_acquire(l, 5), MP_EOWNERDEAD);
    assert_int_equal(mp_lock_consistent(l), 0);
    assert_int_equal(mp_lock_release(l), 0);
    mp_test_join_ok(p);
    mp_lock_free(l);
  }

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
static int owner_child(void *arg, size_t len) {
  CHILD_OPEN(mp_lock, l, 0, mp_lock_open(h));
  int go = mp_inherited_fd(1);
  CHILD_FAIL(mp_lock_acquire(l, 0) == 0);
  CHILD_FAIL(write(go, "x", 1) == 1);
  for (;;)
    pause();
}

/* Handles: 0 the lock, 1 the scratch array counting MP_EOWNERDEAD. */
static int waiter_child(void *arg, size_t len) {
  CHILD_OPEN(mp_lock, l, 0, mp_lock_open(h));
  mp_array *a;
  int *res = mp_test_scratch_open(1, &a);
  CHILD_FAIL(res);
  int r = mp_lock_acquire(l, 20);
  CHILD_FAIL(r == 0 || r == MP_EOWNERDEAD);
  if (r == MP_EOWNERDEAD) {
    __atomic_fetch_add(&res[0], 1, __ATOMIC_RELAXED);
    CHILD_FAIL(mp_lock_consistent(l) == 0);
  }
  CHILD_FAIL(mp_lock_release(l) == 0);
  mp_array_free(a);
  mp_lock_free(l);
  return 0;
}

static void test_sleeping_waiters(void **state) {
  (void)state;
  mp_test_watchdog(30);
  mp_test_skip_method("thread", g_no_kill);
  mp_lock *l = mp_lock_new();
  mp_array *a;
  int *res = mp_test_scratch(4096, &a);
  mp_handle h[2];
  assert_int_equal(mp_lock_handle(l, &h[0]), 0);
  assert_int_equal(mp_array_handle(a, &h[1]), 0);
  int go[2];
  assert_int_equal(pipe2(go, O_CLOEXEC), 0);
  mp_process *owner = mp_test_process(owner_child, NULL, 0);
  mp_test_pass(owner, &h[0]);
  mp_test_pass_fd(owner, go[1]);
  assert_int_equal(mp_process_start(owner), 0);
  char c;
  assert_int_equal(read(go[0], &c, 1), 1);
  mp_process *waiters[3];
  for (int i = 0; i < 3; i++)
    waiters[i] = mp_test_start(waiter_child, NULL, 0, h, 2);
  bool known = true;
  for (int i = 0; i < 3; i++)
    known = asleep_in_futex(mp_process_pid(waiters[i])) && known;
  if (!known)
    sleep_s(0.2); /* /proc cannot tell: give them time to fall asleep */
  double t0 = mp_monotonic();
  assert_int_equal(mp_process_kill(owner), 0);
  for (int i = 0; i < 3; i++)
    mp_test_join_ok(waiters[i]);
  assert_true(mp_monotonic() - t0 < 5);
  assert_int_equal(res[0], 1);
  assert_int_equal(mp_test_join_code(owner), -SIGKILL);
  mp_process_free(owner);
  close(go[0]);
  close(go[1]);
  mp_array_free(a);
  mp_lock_free(l);
}

/* A party killed while waiting breaks the barrier for the others, who
 * would otherwise wait forever (no timeout given). arg: what the party
 * expects: 0 dies waiting (the victim), 1 sees it break, 2 passes. */
static int party_child(void *arg, size_t len) {
  int role = *(int *)arg;
  CHILD_OPEN(mp_barrier, b, 0, mp_barrier_open(h, NULL, NULL));
  int r = role == 2 ? mp_barrier_wait_timeout(b, 20) : mp_barrier_wait(b);
  mp_barrier_free(b);
  CHILD_FAIL(role == 0 || (role == 1 ? r == MP_EBROKEN : r >= 0));
  return 0;
}

static void test_barrier_killed_party(void **state) {
  (void)state;
  mp_test_watchdog(30);
  mp_test_skip_method("thread", g_no_kill);
  mp_barrier *b = mp_barrier_new(3, NULL, NULL, MP_FOREVER);
  mp_handle h;
  assert_int_equal(mp_barrier_handle(b, &h), 0);
  int role = 0;
  mp_process *victim = mp_test_start(party_child, &role, sizeof role, &h, 1);
  role = 1;
  mp_process *other = mp_test_start(party_child, &role, sizeof role, &h, 1);
  for (int i = 0; i < 2000 && mp_barrier_n_waiting(b) < 2; i++)
    sleep_s(0.005);
  assert_int_equal(mp_barrier_n_waiting(b), 2);
  double t0 = mp_monotonic();
  assert_int_equal(mp_process_kill(victim), 0);
  mp_test_join_ok(other);
  assert_true(mp_monotonic() - t0 < 5);
  assert_true(mp_barrier_broken(b));
  assert_int_equal(mp_barrier_wait(b), MP_EBROKEN);
  assert_int_equal(mp_test_join_code(victim), -SIGKILL);
  mp_process_free(victim);
  /* Reset makes it usable again; the dead party's slot is free. */
  mp_barrier_reset(b);
  assert_false(mp_barrier_broken(b));
  role = 2;
  mp_process *p1 = mp_test_start(party_child, &role, sizeof role, &h, 1);
  mp_process *p2 = mp_test_start(party_child, &role, sizeof role, &h, 1);
  assert_true(mp_barrier_wait_timeout(b, 20) >= 0);
  mp_test_join_ok(p1);
  mp_test_join_ok(p2);
  mp_barrier_free(b);
}

/* 200 rounds; 40 where every child is a fresh program under ASan (spawn:
 * ~0.1 s a start, five starts a round). */
#define BAR_ROUNDS (UNDER_ASAN && mp_test_method_is("spawn") ? 40 : 200)

/* Issue 13, defect 1: a party killed inside wait was counted as arrived,
 * so the last party completed the round. Each round: two parties wait,
 * one is killed (and reaped), then the parent arrives last: it and the
 * survivor must both get MP_EBROKEN; reset makes the barrier usable. */
static void test_barrier_dead_party_not_arrived(void **state) {
  (void)state;
  mp_test_watchdog(240);
  mp_test_skip_method("thread", g_no_kill);
  mp_barrier *b = mp_barrier_new(3, NULL, NULL, 30);
  mp_handle h;
  assert_int_equal(mp_barrier_handle(b, &h), 0);
  double worst = 0;
  for (int round = 0; round < BAR_ROUNDS; round++) {
    mp_test_watchdog(60);
    int role = 0;
    mp_process *victim = mp_test_start(party_child, &role, sizeof role, &h, 1);
    role = 1;
    mp_process *other = mp_test_start(party_child, &role, sizeof role, &h, 1);
    while (mp_barrier_n_waiting(b) < 2)
      sleep_s(0.001);
    double t0 = mp_monotonic();
    assert_int_equal(mp_process_kill(victim), 0);
    assert_int_equal(mp_test_join_code(victim), -SIGKILL);
    mp_process_free(victim);
    /* The victim has waited over 1 ms: a death within 1 ms of arriving
     * counts as one just after the round (sync.h). */
    sleep_s(0.002);
    assert_int_equal(mp_barrier_wait(b), MP_EBROKEN);
    mp_test_join_ok(other);
    double dt = mp_monotonic() - t0;
    worst = dt > worst ? dt : worst;
    mp_barrier_reset(b);
    assert_false(mp_barrier_broken(b));
    assert_int_equal(mp_barrier_n_waiting(b), 0);
  }
  /* Still a working barrier after all those deaths. */
  int role = 2;
  mp_process *p1 = mp_test_start(party_child, &role, sizeof role, &h, 1);
  mp_process *p2 = mp_test_start(party_child, &role, sizeof role, &h, 1);
  assert_true(mp_barrier_wait_timeout(b, 20) >= 0);
  mp_test_join_ok(p1);
  mp_test_join_ok(p2);
  print_message("barrier: %d/%d rounds broken, worst %.1f ms from kill to the "
                "survivor's end\n", BAR_ROUNDS, BAR_ROUNDS, worst * 1e3);
  mp_barrier_free(b);
}

/* A party that loops on wait until the barrier breaks (then returns 0);
 * its default timeout (30 s) would fail it. */
static int looping_party(void *arg, size_t len) {
  (void)arg;
  (void)len;
  CHILD_OPEN(mp_barrier, b, 0, mp_barrier_open(h, NULL, NULL));
  int r;
  while ((r = mp_barrier_wait(b)) >= 0)
    ;
  mp_barrier_free(b);
  CHILD_FAIL(r == MP_EBROKEN);
  return 0;
}

/* Stops pid and tells whether it was inside a futex wait, which in a
 * looping_party means inside mp_barrier_wait (a futex wake may be the
 * release of the internal lock on the way out). -1: cannot tell. */
static int stopped_in_futex(pid_t pid) {
  char path[64];
  kill(pid, SIGSTOP);
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  for (;;) { /* until the kernel reports it stopped */
    FILE *f = fopen(path, "r");
    char st = 0;
    int n = f ? fscanf(f, "%*d (%*[^)]) %c", &st) : 0;
    if (f)
      fclose(f);
    if (n != 1)
      return -1;
    if (st == 'T' || st == 't')
      break;
    sleep_s(0.0002);
  }
  snprintf(path, sizeof path, "/proc/%d/syscall", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  long nr = -2, op = -1;
  int n = fscanf(f, "%ld %*x %lx", &nr, &op);
  fclose(f);
  if (n < 1)
    return -1;
  op &= FUTEX_CMD_MASK;
  return n == 2 && nr == SYS_futex && (op == FUTEX_WAIT || op == FUTEX_WAIT_BITSET);
}

/* The same under load: three parties loop on the barrier, one is killed
 * at a random moment inside its wait (stopped, seen in a futex wait by
 * /proc, then SIGKILLed): both others must end with MP_EBROKEN soon,
 * not by their 30 s timeout. */
static void test_barrier_dead_party_under_load(void **state) {
  (void)state;
  mp_test_watchdog(240);
  mp_test_skip_method("thread", g_no_kill);
  unsigned seed = (unsigned)getpid();
  double worst = 0, sum = 0;
  for (int round = 0; round < BAR_ROUNDS; round++) {
    mp_test_watchdog(60);
    mp_barrier *b = mp_barrier_new(3, NULL, NULL, 30);
    mp_handle h;
    assert_int_equal(mp_barrier_handle(b, &h), 0);
    mp_process *ps[3];
    for (int i = 0; i < 3; i++)
      ps[i] = mp_test_start(looping_party, NULL, 0, &h, 1);
    int v = round % 3;
    pid_t vp = mp_process_pid(ps[v]);
    for (;;) {
      sleep_s((rand_r(&seed) % 3000) * 1e-6);
      int in = stopped_in_futex(vp);
      if (in < 0) {
        for (int i = 0; i < 3; i++)
          mp_process_kill(ps[i]);
        for (int i = 0; i < 3; i++)
          mp_process_free(ps[i]);
        mp_barrier_free(b);
        skip(); /* no /proc/PID/syscall here (permissions) */
      }
      if (in)
        break;
      kill(vp, SIGCONT);
    }
    double t0 = mp_monotonic();
    assert_int_equal(mp_process_kill(ps[v]), 0);
    for (int i = 0; i < 3; i++) {
      if (i == v)
        assert_int_equal(mp_test_join_code(ps[i]), -SIGKILL);
      else
        mp_test_join_ok(ps[i]);
    }
    double dt = mp_monotonic() - t0;
    /* Generous (the machine may be loaded); the defect took 1.5 s+. */
    if (dt > 5)
      fail_msg("round %d: the survivors took %.2f s to see the death", round, dt);
    worst = dt > worst ? dt : worst;
    sum += dt;
    mp_process_free(ps[v]);
    assert_true(mp_barrier_broken(b));
    mp_barrier_reset(b);
    assert_int_equal(mp_barrier_n_waiting(b), 0);
    assert_false(mp_barrier_broken(b));
    mp_barrier_free(b);
  }
  print_message("barrier under load: %d/%d rounds broken at the death: mean %.1f "
                "ms, worst %.1f ms\n", BAR_ROUNDS, BAR_ROUNDS, sum / BAR_ROUNDS * 1e3,
                worst * 1e3);
}

/* Event and Condition waiters whose peer died wake by their timeout. */
static int dead_peer(void *arg, size_t len) {
  CHILD_OPEN(mp_event, e, 0, mp_event_open(h));
  CHILD_OPEN(mp_condition, c, 1, mp_condition_open(h));
  DIE();
  mp_event_free(e);
  mp_condition_free(c);
  return 0;
}

static void test_waiters_of_dead_peers(void **state) {
  (void)state;
  mp_test_watchdog(20);
  mp_event *e = mp_event_new();
  mp_condition *c = mp_condition_new(NULL);
  mp_handle h[2];
  assert_int_equal(mp_event_handle(e, &h[0]), 0);
  assert_int_equal(mp_condition_handle(c, &h[1]), 0);
  /* The peer that would have set it or notified. */
  mp_process *p = mp_test_start(dead_peer, NULL, 0, h, 2);
  assert_int_equal(mp_test_join_code(p), mp_test_method_is("thread") ? 0 : -SIGKILL);
  mp_process_free(p);
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
  mp_test_use_start_method();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_robust8),
      cmocka_unit_test(test_release_by_other_process),
      cmocka_unit_test(test_not_recoverable),
      cmocka_unit_test(test_zombie_and_thread_owner),
      cmocka_unit_test(test_sleeping_waiters),
      cmocka_unit_test(test_barrier_killed_party),
      cmocka_unit_test(test_barrier_dead_party_not_arrived),
      cmocka_unit_test(test_barrier_dead_party_under_load),
      cmocka_unit_test(test_waiters_of_dead_peers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
