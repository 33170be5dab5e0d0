/* test_pool_robust.c: the pool never hangs. Workers die in every way a
 * process can (segfault, abort, exit() inside the task, SIGKILL from
 * outside, at random moments under load): exactly the running item fails,
 * naming the signal or exit status; everything else completes. Tasks over
 * their time limit fail with MP_ETIMEOUT. maxtasksperchild=1 over 10,000
 * tasks leaks no process and no descriptor; a memory limit replaces a
 * bloated worker. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>

#include "mp_test.h"
#include "mproc.h"

enum { OK = 0, SEGV, ABRT, EXIT3, SELFKILL, HANG, BIG };

typedef struct job {
  int what;
  int value;
} job;

static void nap(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    ;
}

/* Descriptors open now, once the library's per-process ones (the process
 * area's result arena, made at the first start) exist. */
static int fds_baseline(void) {
  mp_pool_free(mp_pool_new(&(mp_pool_opts){.processes = 1}));
  return mp_test_count_fds();
}

/* Shared with the workers: the pids of running tasks, for the killer. */
static volatile int *g_pids;

static int victim(const void *arg, size_t len, mp_task_out *out) {
  (void)len;
  const job *j = arg;
  if (g_pids)
    g_pids[mp_task_index(out) % 64] = getpid();
  switch (j->what) {
  case SEGV:
    signal(SIGSEGV, SIG_DFL); /* past any sanitizer's handler */
    raise(SIGSEGV);
    break;
  case ABRT:
    abort();
  case EXIT3:
    if (UNDER_ASAN) /* LeakSanitizer would check the worker's heap at exit */
      _exit(3);
    exit(3);
  case SELFKILL:
    raise(SIGKILL);
    break;
  case HANG:
    nap(1000);
    break;
  case BIG: {
    size_t n = (size_t)j->value;
    unsigned char *b = mp_task_out_alloc(out, n);
    for (size_t i = 0; i < n; i++)
      b[i] = (unsigned char)(i * 7);
    return 0;
  }
  }
  int v = j->value * 2;
  return mp_task_out_set(out, &v, sizeof v);
}

/* 100 crashes of four kinds among 300 tasks, in chunks of 5 so that a dead
 * worker also holds finished and unstarted items of its chunk. */
static void test_crashes(void **state) {
  (void)state;
  mp_test_watchdog(120);
  int fds0 = fds_baseline();
  mp_pool *p = mp_pool_new(&(mp_pool_opts){.processes = 2});
  assert_non_null(p);
  enum { N = 300 };
  job in[N];
  for (int i = 0; i < N; i++) {
    in[i].value = i;
    in[i].what = i % 3 == 1 ? SEGV + (i / 3) % 4 : OK;
  }
  int out[N];
  mp_result *r = mp_pool_map_async(p, victim, in, N, sizeof(job), out,
                                   sizeof(int), &(mp_call_opts){.chunksize = 5});
  assert_non_null(r);
  assert_int_equal(mp_result_get(r, 100, NULL, NULL), MP_EWORKERDIED);
  assert_int_equal(mp_result_error(r)->code, MP_EWORKERDIED);
  int crashes = 0;
  for (int i = 0; i < N; i++) {
    const void *d;
    size_t n;
    int rc = mp_result_item(r, (size_t)i, &d, &n);
    if (in[i].what == OK) {
      if (rc)
        fail_msg("item %d: %s", i, mp_result_item_error(r, (size_t)i)->message);
      assert_int_equal(out[i], 2 * i);
      continue;
    }
    crashes++;
    if (rc != MP_EWORKERDIED)
      fail_msg("item %d (kind %d): rc %d", i, in[i].what, rc);
    const mp_error *e = mp_result_item_error(r, (size_t)i);
    assert_non_null(e);
    assert_non_null(strstr(e->message, "ForkPoolWorker-"));
    switch (in[i].what) {
    case SEGV:
      assert_int_equal(e->signo, SIGSEGV);
      assert_non_null(strstr(e->message, "SEGV"));
      break;
    case ABRT:
      assert_int_equal(e->signo, SIGABRT);
      break;
    case EXIT3:
      assert_int_equal(e->signo, 0);
      assert_int_equal(e->status, 3);
      assert_non_null(strstr(e->message, "exited with status"));
      break;
    case SELFKILL:
      assert_int_equal(e->signo, SIGKILL);
      break;
    }
  }
  assert_int_equal(crashes, 100);
  mp_result_free(r);
  /* The pool is whole: a plain map still works on all its workers. */
  for (int i = 0; i < N; i++)
    in[i].what = OK;
  assert_int_equal(mp_pool_map(p, victim, in, N, sizeof(job), out, sizeof(int),
                               NULL, NULL), 0);
  assert_int_equal(out[N - 1], 2 * (N - 1));
  mp_pool_close(p);
  assert_int_equal(mp_pool_join(p, 30), 0);
  mp_pool_free(p);
  assert_int_equal(mp_test_count_fds(), fds0);
}

/* The same through every kind of call: apply, imap, bytes map. */
static void test_crash_every_api(void **state) {
  (void)state;
  mp_test_watchdog(60);
  mp_pool *p = mp_pool_new(&(mp_pool_opts){.processes = 2});
  job segv = {SEGV, 0}, ok = {OK, 21};
  mp_error err;
  void *o;
  size_t n;
  assert_int_equal(mp_pool_apply(p, victim, &segv, sizeof segv, &o, &n, &err),
                   MP_EWORKERDIED);
  assert_int_equal(err.signo, SIGSEGV);
  assert_int_equal(mp_pool_apply(p, victim, &ok, sizeof ok, &o, &n, &err), 0);
  assert_int_equal(*(int *)o, 42);
  mp_free(o);
  job in[10];
  for (int i = 0; i < 10; i++)
    in[i] = (job){i == 5 ? ABRT : OK, i};
  mp_imap *it = mp_pool_imap(p, victim, in, 10, sizeof(job),
                             &(mp_call_opts){.chunksize = 3});
  for (int i = 0; i < 10; i++) {
    const void *d;
    int rc = mp_imap_next(it, 30, &d, &n);
    if (i == 5) {
      assert_int_equal(rc, MP_EWORKERDIED);
      assert_int_equal(mp_imap_error(it)->signo, SIGABRT);
    } else {
      assert_int_equal(rc, 0);
      assert_int_equal(*(const int *)d, 2 * i);
    }
  }
  mp_imap_free(it);
  /* A worker dies right after sending a result bigger than its ring (in
   * fragments): the big result arrives whole. */
  job two[2] = {{BIG, 1 << 20}, {SELFKILL, 0}};
  mp_result *r = mp_pool_map_bytes_async(
      p, victim, (struct iovec[]){{&two[0], sizeof(job)}, {&two[1], sizeof(job)}},
      2, &(mp_call_opts){.chunksize = 2});
  assert_int_equal(mp_result_wait(r, 30), 0);
  const void *d;
  assert_int_equal(mp_result_item(r, 0, &d, &n), 0);
  assert_int_equal(n, 1 << 20);
  for (size_t i = 0; i < n; i++)
    if (((const unsigned char *)d)[i] != (unsigned char)(i * 7))
      fail_msg("byte %zu", i);
  assert_int_equal(mp_result_item(r, 1, &d, &n), MP_EWORKERDIED);
  mp_result_free(r);
  mp_pool_free(p);
}

/* Workers SIGKILLed from outside at random moments while a stream of tiny
 * tasks runs: the map completes; each failure is a worker death; and no
 * more items fail than workers were killed. */
static void test_random_kills(void **state) {
  (void)state;
  mp_test_watchdog(120);
  g_pids = mmap(NULL, 64 * sizeof(int), PROT_READ | PROT_WRITE,
                MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  mp_pool *p = mp_pool_new(&(mp_pool_opts){.processes = 3});
  enum { N = 200000 };
  job *in = calloc(N, sizeof *in);
  int *out = calloc(N, sizeof *out);
  for (int i = 0; i < N; i++)
    in[i] = (job){OK, i};
  int rounds = UNDER_ASAN ? 3 : 10, total_kills = 0;
  for (int round = 0; round < rounds; round++) {
    mp_result *r = mp_pool_map_async(p, victim, in, N, sizeof(job), out,
                                     sizeof(int),
                                     &(mp_call_opts){.chunksize = (size_t)(1 + round * 50)});
    int kills = 0;
    unsigned seed = (unsigned)round * 7919u + 1;
    while (!mp_result_ready(r)) {
      nap(0.001 + (rand_r(&seed) % 1000) / 1e6);
      int pid = g_pids[rand_r(&seed) % 64];
      if (pid > 0 && !mp_result_ready(r) && kill(pid, SIGKILL) == 0)
        kills++;
      if (kills >= 10)
        break;
    }
    assert_int_equal(mp_result_wait(r, 60), 0);
    size_t failed = 0;
    for (int i = 0; i < N; i++) {
      const void *d;
      size_t n;
      int rc = mp_result_item(r, (size_t)i, &d, &n);
      if (rc) {
        assert_int_equal(rc, MP_EWORKERDIED);
        assert_int_equal(mp_result_item_error(r, (size_t)i)->signo, SIGKILL);
        failed++;
      } else if (out[i] != 2 * i) {
        fail_msg("round %d: out[%d] = %d", round, i, out[i]);
      }
    }
    assert_true(failed <= (size_t)kills);
    total_kills += kills;
    mp_result_free(r);
  }
  assert_true(total_kills > 0);
  mp_pool_free(p);
  munmap((void *)g_pids, 64 * sizeof(int));
  g_pids = NULL;
  free(in);
  free(out);
}

static void test_time_limit(void **state) {
  (void)state;
  mp_test_watchdog(60);
  /* The limit must exceed what an OK item can take on a loaded machine
   * (preempted between its start and its result): a killed OK item fails. */
  mp_pool *p = mp_pool_new(&(mp_pool_opts){.processes = 2, .task_timeout = 1});
  enum { N = 100 };
  job in[N];
  for (int i = 0; i < N; i++)
    in[i] = (job){i % 10 == 4 ? HANG : OK, i};
  int out[N];
  double t0 = mp_monotonic();
  mp_result *r = mp_pool_map_async(p, victim, in, N, sizeof(job), out,
                                   sizeof(int), &(mp_call_opts){.chunksize = 4});
  assert_int_equal(mp_result_get(r, 60, NULL, NULL), MP_ETIMEOUT);
  assert_int_equal(mp_result_ready(r), 1);
  assert_true(mp_monotonic() - t0 < 30);
  for (int i = 0; i < N; i++) {
    int rc = mp_result_item(r, (size_t)i, NULL, NULL);
    if (in[i].what == HANG) {
      assert_int_equal(rc, MP_ETIMEOUT);
      const mp_error *e = mp_result_item_error(r, (size_t)i);
      assert_int_equal(e->signo, SIGKILL);
      assert_non_null(strstr(e->message, "time limit"));
    } else {
      assert_int_equal(rc, 0);
      assert_int_equal(out[i], 2 * i);
    }
  }
  mp_result_free(r);
  /* apply too */
  job hang = {HANG, 0};
  mp_error err;
  assert_int_equal(mp_pool_apply(p, victim, &hang, sizeof hang, NULL, NULL, &err),
                   MP_ETIMEOUT);
  assert_int_equal(err.code, MP_ETIMEOUT);
  mp_pool_free(p);
}

static int count_children(void) {
  size_t n = 0;
  assert_int_equal(mp_active_children(NULL, &n), 0);
  return (int)n;
}

static void test_maxtasksperchild(void **state) {
  (void)state;
  mp_test_watchdog(240);
  int fds0 = fds_baseline();
  mp_pool *p = mp_pool_new(&(mp_pool_opts){.processes = 2, .maxtasksperchild = 1});
  int n = UNDER_ASAN ? 2000 : 10000;
  job *in = calloc((size_t)n, sizeof *in);
  int *out = calloc((size_t)n, sizeof *out);
  for (int i = 0; i < n; i++)
    in[i] = (job){OK, i};
  /* chunksize 1: every task is a fresh process. */
  assert_int_equal(mp_pool_map(p, victim, in, (size_t)n, sizeof(job), out,
                               sizeof(int), &(mp_call_opts){.chunksize = 1}, NULL), 0);
  for (int i = 0; i < n; i++)
    assert_int_equal(out[i], 2 * i);
  /* Workers retiring after their last task, and fresh ones: at most one of
   * each per slot once the retiring ones are reaped. */
  for (int i = 0; count_children() > 4; i++) {
    if (i == 3000)
      fail_msg("%d children 30 s after the map", count_children());
    usleep(10000);
  }
  assert_int_equal(mp_pool_close(p), 0);
  assert_int_equal(mp_pool_join(p, 60), 0);
  assert_int_equal(count_children(), 0);
  mp_pool_free(p);
  assert_int_equal(mp_test_count_fds(), fds0);
  free(in);
  free(out);
}

static void *volatile g_leak;
static int bloat(const void *arg, size_t len, mp_task_out *out) {
  (void)len;
  size_t mb = *(const size_t *)arg;
  if (mb) {
    char *leak = malloc(mb << 20);
    memset(leak, 1, mb << 20); /* resident, and never freed */
    g_leak = leak;
  }
  int pid = getpid();
  return mp_task_out_set(out, &pid, sizeof pid);
}

static void test_memory_limit(void **state) {
  (void)state;
  mp_test_watchdog(60);
  mp_pool *p = mp_pool_new(&(mp_pool_opts){
      .processes = 1, .max_memory_per_child = (size_t)(UNDER_ASAN ? 600 : 200) << 20});
  size_t small = 0, huge = UNDER_ASAN ? 700 : 300;
  void *o;
  size_t n;
  assert_int_equal(mp_pool_apply(p, bloat, &small, sizeof small, &o, &n, NULL), 0);
  int pid1 = *(int *)o;
  mp_free(o);
  assert_int_equal(mp_pool_apply(p, bloat, &small, sizeof small, &o, &n, NULL), 0);
  assert_int_equal(*(int *)o, pid1); /* same worker while it stays small */
  mp_free(o);
  assert_int_equal(mp_pool_apply(p, bloat, &huge, sizeof huge, &o, &n, NULL), 0);
  assert_int_equal(*(int *)o, pid1); /* the task that bloated it completes */
  mp_free(o);
  assert_int_equal(mp_pool_apply(p, bloat, &small, sizeof small, &o, &n, NULL), 0);
  assert_int_not_equal(*(int *)o, pid1); /* then a fresh worker */
  mp_free(o);
  mp_pool_free(p);
}

/* A worker killed while idle is replaced; nothing fails. */
static void test_idle_kill(void **state) {
  (void)state;
  mp_test_watchdog(30);
  mp_pool *p = mp_pool_new(&(mp_pool_opts){.processes = 1});
  size_t zero = 0;
  void *o;
  size_t n;
  assert_int_equal(mp_pool_apply(p, bloat, &zero, sizeof zero, &o, &n, NULL), 0);
  int pid = *(int *)o;
  mp_free(o);
  nap(0.05);
  assert_int_equal(kill(pid, SIGKILL), 0);
  nap(0.05);
  for (int i = 0; i < 20; i++) {
    assert_int_equal(mp_pool_apply(p, bloat, &zero, sizeof zero, &o, &n, NULL), 0);
    assert_int_not_equal(*(int *)o, pid);
    mp_free(o);
  }
  mp_pool_close(p);
  assert_int_equal(mp_pool_join(p, 10), 0);
  mp_pool_free(p);
}

/* Issue 13, defect 2: the kernel's death signal follows the thread that
 * forked, so a pool created in a thread that exits lost its workers (the
 * tasks they ran failed "killed by signal 9"). The creating thread starts
 * a slow task on each worker and exits while they run; then another
 * thread runs 10^4 tasks: none fails, and the workers are the first ones
 * throughout (none was replaced). */
typedef struct maker {
  mp_pool *pool;
  mp_result *slow[2];
  pid_t workers[2];
  size_t nworkers;
} maker;

static int slow_pid(const void *arg, size_t len, mp_task_out *out) {
  (void)arg;
  (void)len;
  nap(0.3);
  int pid = getpid();
  return mp_task_out_set(out, &pid, sizeof pid);
}

static int pid_of(const void *arg, size_t len, mp_task_out *out) {
  (void)arg;
  (void)len;
  int pid = getpid();
  return mp_task_out_set(out, &pid, sizeof pid);
}

static void *make_pool(void *arg) {
  maker *m = arg;
  m->pool = mp_pool_new(&(mp_pool_opts){.processes = 2});
  if (!m->pool)
    return NULL;
  mp_process **list;
  if (mp_active_children(&list, &m->nworkers) == 0) {
    for (size_t i = 0; i < m->nworkers && i < 2; i++)
      m->workers[i] = mp_process_pid(list[i]);
    mp_process_list_free(list, m->nworkers);
  }
  for (int i = 0; i < 2; i++)
    m->slow[i] = mp_pool_apply_async(m->pool, slow_pid, NULL, 0, NULL);
  return NULL; /* the thread ends while both tasks run */
}

static void test_pool_outlives_creating_thread(void **state) {
  (void)state;
  mp_test_watchdog(120);
  maker m = {0};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, make_pool, &m), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_non_null(m.pool);
  assert_int_equal(m.nworkers, 2);
  int failures = 0;
  for (int i = 0; i < 2; i++) {
    assert_non_null(m.slow[i]);
    const void *d;
    size_t len;
    int r = mp_result_get(m.slow[i], 30, &d, &len);
    if (r != 0)
      print_message("slow task %d: %s\n", i, mp_strerror(r));
    failures += r != 0;
    mp_result_free(m.slow[i]);
  }
  int n = UNDER_ASAN ? 2000 : 10000;
  int *in = calloc((size_t)n, sizeof *in), *out = calloc((size_t)n, sizeof *out);
  mp_error err = {0};
  int r = mp_pool_map(m.pool, pid_of, in, (size_t)n, sizeof(int), out, sizeof(int),
                      &(mp_call_opts){.chunksize = 1}, &err);
  if (r != 0)
    print_message("map: %s: %s\n", mp_strerror(r), err.message);
  failures += r != 0;
  int strangers = 0;
  for (int i = 0; i < n; i++)
    strangers += out[i] != m.workers[0] && out[i] != m.workers[1];
  print_message("pool from an ended thread: %d failures, %d of %d tasks run by "
                "a replacement worker\n", failures, strangers, n);
  assert_int_equal(failures, 0);
  assert_int_equal(strangers, 0);
  assert_int_equal(mp_pool_close(m.pool), 0);
  assert_int_equal(mp_pool_join(m.pool, 60), 0);
  mp_pool_free(m.pool);
  free(in);
  free(out);
}

/* A program that exits with its pool still running (tasks in flight, never
 * closed or freed) exits at once and leaves no process behind. */
static void test_exit_with_live_pool(void **state) {
  (void)state;
  mp_test_watchdog(30);
  int pfd[2];
  assert_int_equal(pipe(pfd), 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(pfd[0]);
    mp_pool *p = mp_pool_new(&(mp_pool_opts){.processes = 2});
    job hang = {HANG, 0};
    for (int i = 0; i < 4; i++) /* results let go, the pool never */
      mp_result_free(mp_pool_apply_async(p, victim, &hang, sizeof hang, NULL));
    nap(0.1);
    exit(0);
  }
  close(pfd[1]);
  double t0 = mp_monotonic();
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  assert_true(mp_monotonic() - t0 < 20); /* its tasks never end */
  /* Its workers held the pipe's write end: EOF means they are all gone. */
  char c;
  assert_int_equal(read(pfd[0], &c, 1), 0);
  close(pfd[0]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      /* First: its plain fork() child must not inherit the process area's
       * state (LeakSanitizer reports that copy in the child at exit). */
      cmocka_unit_test(test_exit_with_live_pool),
      cmocka_unit_test(test_pool_outlives_creating_thread),
      cmocka_unit_test(test_crashes),
      cmocka_unit_test(test_crash_every_api),
      cmocka_unit_test(test_random_kills),
      cmocka_unit_test(test_time_limit),
      cmocka_unit_test(test_maxtasksperchild),
      cmocka_unit_test(test_memory_limit),
      cmocka_unit_test(test_idle_kill),
  };
  if (getenv("MP_TEST_FILTER"))
    cmocka_set_test_filter(getenv("MP_TEST_FILTER"));
  return cmocka_run_group_tests(tests, NULL, NULL);
}
