/* test_start.c: the start methods spawn, forkserver and thread beside fork:
 * start, join, exit codes, arguments, names, results, sentinels and signals
 * on every method; what is special to each (spawn: fresh globals, only the
 * passed descriptors inherited, targets rebuilt across exec, a target in a
 * shared library, a stale or foreign program refused; forkserver: 1,000
 * children started while 8 threads hammer locks and malloc; thread: the
 * current process inside the thread); the logger crossing to spawned
 * children; no orphans when the parent is killed with SIGKILL. Targets report through exit codes
 * and results: cmocka's asserts do not work in children. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "mp_test.h"
#include "mproc.h"
#include "process/process_internal.h"

static const char *const g_methods[] = {"fork", "spawn", "forkserver",
                                        "thread"};
#define FOR_EACH_METHOD(m)                                                     \
  for (const char *const *m##_p = g_methods, *m;                              \
       m##_p < g_methods + 4 && (m = *m##_p, 1); m##_p++)

static int g_global = 1; /* a spawned child sees the initial value */

/* ---- targets --------------------------------------------------------------- */

static int t_exit_with(void *arg, size_t len) {
  int code;
  if (len != sizeof code)
    return 99;
  memcpy(&code, arg, sizeof code);
  return code;
}

static int t_check_arg(void *arg, size_t len) {
  const char *want = "hello bob";
  if (len != strlen(want) || memcmp(arg, want, len) != 0)
    return 1;
  ((char *)arg)[0] = 'j';
  return 0;
}

static int t_global(void *arg, size_t len) { return g_global; }

/* Returns its name, parent's name and its authkey length as its result. */
static int t_identity(void *arg, size_t len) {
  char buf[512];
  size_t klen;
  mp_process *par = mp_parent_process();
  mp_process_authkey(mp_current_process(), &klen);
  int n = snprintf(buf, sizeof buf, "%s|%s|%zu|%d",
                   mp_process_name(mp_current_process()),
                   par ? mp_process_name(par) : "-", klen,
                   mp_process_daemon(mp_current_process()));
  return mp_process_return(buf, (size_t)n) == 0 ? 0 : 3;
}

static int t_sleep_forever(void *arg, size_t len) {
  for (;;)
    pause();
  return 0;
}

static int t_raise(void *arg, size_t len) {
  int sig;
  memcpy(&sig, arg, sizeof sig);
  raise(sig);
  return 0;
}

/* The number of open descriptors above 2, minus passed ones. */
static int t_count_fds(void *arg, size_t len) {
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return 200;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.' && atoi(e->d_name) > 2)
      n++;
  closedir(d);
  return n - 1 /* the DIR's own */;
}

/* ---- helpers ----------------------------------------------------------------- */

static mp_process *make(const char *method, mp_target_fn fn, const void *arg,
                        size_t len) {
  mp_process_opts o = MP_PROCESS_OPTS_INIT;
  o.start_method = method;
  mp_process *p = mp_process_new(fn, arg, len, &o);
  assert_non_null(p);
  return p;
}

static int run_code(const char *method, mp_target_fn fn, const void *arg,
                    size_t len) {
  mp_process *p = make(method, fn, arg, len);
  int r = mp_process_start(p);
  if (r < 0) {
    mp_process_free(p);
    return r - 10000;
  }
  assert_int_equal(mp_process_join(p, 30), 0);
  int code = -1000;
  assert_int_equal(mp_process_exitcode(p, &code), 1);
  mp_process_free(p);
  return code;
}

static void assert_no_children(void) {
  size_t n = 99;
  assert_int_equal(mp_active_children(NULL, &n), 0);
  assert_int_equal(n, 0);
}

/* ---- tests ----------------------------------------------------------------- */

static void test_basics_every_method(void **state) {
  mp_test_watchdog(60);
  FOR_EACH_METHOD(m) {
    int codes[] = {0, 7, 255, -1};
    int want[] = {0, 7, 255, 255};
    for (size_t i = 0; i < 4; i++)
      assert_int_equal(run_code(m, t_exit_with, &codes[i], sizeof codes[i]),
                       want[i]);
    assert_int_equal(run_code(m, t_check_arg, "hello bob", 9), 0);

    /* name, parent, authkey, daemon, result */
    mp_process_opts o = MP_PROCESS_OPTS_INIT;
    o.start_method = m;
    o.name = "worker-x";
    mp_process *p = mp_process_new(t_identity, NULL, 0, &o);
    assert_non_null(p);
    assert_int_equal(mp_process_start(p), 0);
    assert_true(mp_process_sentinel(p) >= 0);
    assert_int_equal(mp_process_join(p, 30), 0);
    struct pollfd pf = {mp_process_sentinel(p), POLLIN, 0};
    if (poll(&pf, 1, 0) != 1)
      fail_msg("%s: sentinel not readable after join", m);
    const void *data;
    size_t len;
    assert_int_equal(mp_process_result(p, &data, &len), 1);
    char want_id[64];
    /* A thread-process has no parent process: it is in the main one. */
    snprintf(want_id, sizeof want_id, "worker-x|%s|32|0",
             strcmp(m, "thread") ? "MainProcess" : "-");
    assert_int_equal(len, strlen(want_id));
    assert_memory_equal(data, want_id, len);
    mp_process_free(p);
  }
  assert_no_children();
}

static void test_globals_fresh_in_spawn(void **state) {
  mp_test_watchdog(30);
  g_global = 5;
  assert_int_equal(run_code("fork", t_global, NULL, 0), 5);
  assert_int_equal(run_code("thread", t_global, NULL, 0), 5);
  assert_int_equal(run_code("spawn", t_global, NULL, 0), 1);
  /* The fork server was spawned: its globals are fresh too. */
  assert_int_equal(run_code("forkserver", t_global, NULL, 0), 1);
  g_global = 1;
}

static void test_signals(void **state) {
  mp_test_watchdog(60);
  FOR_EACH_METHOD(m) {
    if (strcmp(m, "thread") == 0)
      continue;
    int sig = SIGUSR1;
    assert_int_equal(run_code(m, t_raise, &sig, sizeof sig), -SIGUSR1);
    mp_process *p = make(m, t_sleep_forever, NULL, 0);
    assert_int_equal(mp_process_start(p), 0);
    assert_true(mp_process_is_alive(p));
    assert_int_equal(mp_process_join(p, 0.05), MP_ETIMEOUT);
    assert_int_equal(mp_process_terminate(p), 0);
    assert_int_equal(mp_process_join(p, 30), 0);
    int code;
    assert_int_equal(mp_process_exitcode(p, &code), 1);
    assert_int_equal(code, -SIGTERM);
    assert_false(mp_process_is_alive(p));
    mp_process_free(p);
  }
  /* A thread cannot be signalled. */
  int ms = 0;
  mp_process *p = make("thread", t_exit_with, &ms, sizeof ms);
  assert_int_equal(mp_process_start(p), 0);
  int r = mp_process_terminate(p);
  assert_true(r == MP_ENOTSUP || r == 0); /* 0 when it had already ended */
  assert_int_equal(mp_process_join(p, 30), 0);
  mp_process_free(p);
  assert_no_children();
}

static void test_spawn_closes_descriptors(void **state) {
  mp_test_watchdog(30);
  int leak = open("/dev/null", O_RDONLY); /* not CLOEXEC on purpose */
  assert_true(leak > 2);
  /* Only the result file is open beyond 0..2 in a spawned child (and,
   * without pidfds, the socket that is its sentinel: sentinel.c). */
  int extra = mp__pidfd_missing();
  assert_int_equal(run_code("spawn", t_count_fds, NULL, 0), 1 + extra);
  mp_process *p = make("spawn", t_count_fds, NULL, 0);
  assert_int_equal(mp_process_pass_fd(p, leak), 0);
  assert_int_equal(mp_process_start(p), 0);
  assert_int_equal(mp_process_join(p, 30), 0);
  int code;
  assert_int_equal(mp_process_exitcode(p, &code), 1);
  assert_int_equal(code, 2 + extra);
  mp_process_free(p);
  close(leak);
}

static void test_target_in_shared_library(void **state) {
  mp_test_watchdog(30);
  /* getentropy(void *, size_t) is an mp_target_fn living in libc: 0 for
   * 10 bytes, -1 (exit code 255, EIO) above 256. */
  char small[10] = {0}, big[300] = {0};
  FOR_EACH_METHOD(m) {
    assert_int_equal(run_code(m, (mp_target_fn)getentropy, small, sizeof small), 0);
    assert_int_equal(run_code(m, (mp_target_fn)getentropy, big, sizeof big), 255);
  }
}

static void test_stale_and_foreign_programs(void **state) {
  mp_test_watchdog(60);
  const char *bindir = getenv("MP_TEST_BINDIR");
  if (!bindir)
    skip();
  char other[4096];
  snprintf(other, sizeof other, "%s/proc_atexit", bindir);
  int code = 0;
  /* Another mproc program: it links mproc but has not our target. */
  assert_int_equal(mp_set_executable(other), 0);
  assert_string_equal(mp_get_executable(), other);
  assert_int_equal(run_code("spawn", t_exit_with, &code, sizeof code),
                   MP_ESTALE - 10000);
  /* A program that does not link mproc never answers as one. */
  assert_int_equal(mp_set_executable("/bin/true"), 0);
  assert_int_equal(run_code("spawn", t_exit_with, &code, sizeof code),
                   MP_EPROTO - 10000);
  assert_int_equal(mp_set_executable("/nonexistent/program"), -ENOENT);
  assert_int_equal(mp_set_executable(""), -ENOENT);
  assert_int_equal(mp_set_executable("/dev/null"), -EACCES);
  assert_int_equal(mp_set_executable(NULL), 0);
  assert_string_equal(mp_get_executable(), "/proc/self/exe");
  assert_int_equal(run_code("spawn", t_exit_with, &code, sizeof code), 0);
  /* Not code: refused at start. */
  static char data[16];
  assert_int_equal(run_code("spawn", (mp_target_fn)(void *)data, NULL, 0),
                   -EINVAL - 10000);
  assert_int_equal(run_code("forkserver", (mp_target_fn)(void *)data, NULL, 0),
                   -EINVAL - 10000);
  assert_no_children();
}

/* ---- forkserver under threads that hold locks and malloc ------------------- */

static volatile int g_stop;
static pthread_mutex_t g_locks[8];

static void *busy(void *arg) {
  int i = (int)(intptr_t)arg;
  unsigned seed = (unsigned)i;
  /* Busy, but niced: the point is that they hold locks at any moment, not
   * that they starve the test of its two CPUs. */
  (void)setpriority(PRIO_PROCESS, (id_t)gettid(), 19);
  while (!__atomic_load_n(&g_stop, __ATOMIC_RELAXED)) {
    pthread_mutex_lock(&g_locks[i]);
    void *m = malloc(16 + rand_r(&seed) % 4096);
    memset(m, i, 16);
    free(m);
    pthread_mutex_unlock(&g_locks[i]);
  }
  return NULL;
}

static int t_malloc_and_lock(void *arg, size_t len) {
  /* A child that inherited a held malloc lock would hang here. */
  for (int i = 0; i < 10; i++)
    free(malloc(100 + (size_t)i * 1000));
  return 3;
}

static void test_forkserver_with_busy_threads(void **state) {
  mp_test_watchdog(240);
  pthread_t th[8];
  g_stop = 0;
  for (int i = 0; i < 8; i++) {
    pthread_mutex_init(&g_locks[i], NULL);
    assert_int_equal(pthread_create(&th[i], NULL, busy, (void *)(intptr_t)i), 0);
  }
  enum { N = 1000, BATCH = 8 };
  double t0 = mp_monotonic();
  for (int i = 0; i < N; i += BATCH) {
    mp_process *ps[BATCH];
    for (int k = 0; k < BATCH; k++) {
      ps[k] = make("forkserver", t_malloc_and_lock, NULL, 0);
      assert_int_equal(mp_process_start(ps[k]), 0);
    }
    for (int k = 0; k < BATCH; k++) {
      assert_int_equal(mp_process_join(ps[k], 60), 0);
      int code;
      assert_int_equal(mp_process_exitcode(ps[k], &code), 1);
      assert_int_equal(code, 3);
      mp_process_free(ps[k]);
    }
  }
  g_stop = 1;
  for (int i = 0; i < 8; i++)
    pthread_join(th[i], NULL);
  fprintf(stderr, "forkserver: %d children beside 8 busy threads in %.2f s\n",
          N, mp_monotonic() - t0);
  assert_no_children();
}

static void test_thread_current_process(void **state) {
  mp_test_watchdog(30);
  /* In the thread: its own object; outside: the main process. */
  assert_string_equal(mp_process_name(mp_current_process()), "MainProcess");
  assert_int_equal(run_code("thread", t_identity, NULL, 0), 0);
  assert_string_equal(mp_process_name(mp_current_process()), "MainProcess");
  assert_int_equal(mp_process_return("x", 1), MP_ESTATE);
  /* Named as multiprocessing.dummy names it: "Thread-N (target)", N
   * counting thread-processes only, as threading counts threads. */
  mp_process *t0 = make("thread", t_identity, NULL, 0);
  unsigned n = 0;
  assert_int_equal(sscanf(mp_process_name(t0), "Thread-%u (t_identity)", &n), 1);
  mp_process *f = make("fork", t_identity, NULL, 0);
  mp_process *t = make("thread", t_identity, NULL, 0);
  char want[64];
  snprintf(want, sizeof want, "Thread-%u (t_identity)", n + 1);
  assert_string_equal(mp_process_name(t), want);
  mp_process_free(t0);
  assert_int_equal(mp_process_start(t), 0);
  assert_int_equal(mp_process_join(t, 30), 0);
  const void *data;
  size_t len;
  assert_int_equal(mp_process_result(t, &data, &len), 1);
  assert_true(len > strlen(want) && memcmp(data, want, strlen(want)) == 0);
  mp_process_free(t);
  mp_process_free(f);
}

static int t_daemon_thread_then_return(void *arg, size_t len) {
  mp_process_opts o = MP_PROCESS_OPTS_INIT;
  o.start_method = "thread";
  o.daemon = MP_DAEMON_YES;
  mp_process *p = mp_process_new(t_sleep_forever, NULL, 0, &o);
  if (!p || mp_process_start(p) != 0)
    return 1;
  mp_process_free(p);
  return 0; /* the exit function must not wait for the thread */
}

static void test_daemon_thread_left_at_exit(void **state) {
  mp_test_watchdog(30);
  assert_int_equal(run_code("fork", t_daemon_thread_then_return, NULL, 0), 0);
}

static void test_daemon_spawn(void **state) {
  mp_test_watchdog(30);
  FOR_EACH_METHOD(m) {
    mp_process_opts o = MP_PROCESS_OPTS_INIT;
    o.start_method = m;
    o.daemon = MP_DAEMON_YES;
    mp_process *p = mp_process_new(t_identity, NULL, 0, &o);
    int r = mp_process_start(p);
    if (r)
      fail_msg("%s: start: %s", m, mp_strerror(r));
    assert_int_equal(mp_process_join(p, 30), 0);
    const void *data;
    size_t len;
    assert_int_equal(mp_process_result(p, &data, &len), 1);
    if (strcmp(m, "thread") != 0) /* a thread shares the process's flag */
      assert_int_equal(((const char *)data)[len - 1], '1');
    mp_process_free(p);
  }
}

static int t_nothing(void *arg, size_t len) { return 0; }

/* Python's spawn passes log_to_stderr's level; so do spawn and forkserver
 * (the handler crosses like a target), and a forkserver child writes to the
 * program's stderr of the moment, not the server's. */
static void test_logger_crosses(void **state) {
  mp_test_watchdog(30);
  FOR_EACH_METHOD(m) {
    if (strcmp(m, "thread") == 0)
      continue; /* a thread logs nothing of its own, as in Python's dummy */
    char path[] = "/tmp/mproc-test-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    mp_log_to_stderr(MP_LOG_INFO);
    mp_process_opts o = MP_PROCESS_OPTS_INIT;
    o.start_method = m;
    o.name = "log-child";
    mp_process *p = mp_process_new(t_nothing, NULL, 0, &o);
    int r = mp_process_start(p);
    if (r == 0)
      r = mp_process_join(p, 30);
    mp_logger_set_handler(mp_get_logger(), NULL, NULL);
    mp_logger_set_level(mp_get_logger(), MP_LOG_NOTSET);
    dup2(saved, 2);
    close(saved);
    assert_int_equal(r, 0);
    mp_process_free(p);
    char buf[4096] = {0};
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    assert_true(n > 0);
    if (!strstr(buf, "[INFO/log-child] child process calling self.run()"))
      fail_msg("%s: the child did not log: %s", m, buf);
  }
}

/* ---- no orphans when the parent is killed -------------------------------- */

static int t_report_and_sleep(void *arg, size_t len) {
  int fd = mp_inherited_fd(0);
  pid_t ids[2] = {getpid(), getppid()};
  if (fd < 0 || write(fd, ids, sizeof ids) != sizeof ids)
    return 1;
  for (;;)
    pause();
}

/* In a forked middle process: starts a daemonic grandchild with the method
 * named in arg, which reports (its pid, its parent's pid) on the pipe. */
static int t_middle(void *arg, size_t len) {
  char method[32] = {0};
  memcpy(method, arg, len < 31 ? len : 31);
  mp_process_opts o = MP_PROCESS_OPTS_INIT;
  o.start_method = method;
  o.daemon = MP_DAEMON_YES;
  mp_process *p = mp_process_new(t_report_and_sleep, NULL, 0, &o);
  if (!p || mp_process_pass_fd(p, mp_inherited_fd(0)) < 0 ||
      mp_process_start(p) != 0)
    return 1;
  for (;;)
    pause();
}

static bool reaped_within(pid_t pid, double seconds) {
  double end = mp_monotonic() + seconds;
  while (mp_monotonic() < end) {
    if (waitpid(pid, NULL, WNOHANG) == pid)
      return true;
    usleep(10000);
  }
  return false;
}

static void test_parent_killed_no_orphans(void **state) {
  mp_test_watchdog(60);
  /* Orphans come to us, so we can see them end. */
  assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  const char *methods[] = {"spawn", "forkserver"};
  for (int i = 0; i < 2; i++) {
    int pfd[2];
    assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
    mp_process *mid = make("fork", t_middle, methods[i], strlen(methods[i]));
    assert_int_equal(mp_process_pass_fd(mid, pfd[1]), 0);
    assert_int_equal(mp_process_start(mid), 0);
    pid_t ids[2];
    assert_int_equal(read(pfd[0], ids, sizeof ids), sizeof ids);
    assert_int_equal(mp_process_kill(mid), 0);
    assert_int_equal(mp_process_join(mid, 30), 0);
    mp_process_free(mid);
    /* The daemonic grandchild dies with its parent (spawn), or with the
     * fork server, which leaves when its program is gone (forkserver). */
    if (!reaped_within(ids[0], 20))
      fail_msg("%s: the daemonic grandchild outlived its parent", methods[i]);
    if (i == 1 && !reaped_within(ids[1], 20))
      fail_msg("the fork server outlived its program");
    close(pfd[0]);
    close(pfd[1]);
  }
  assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_basics_every_method),
      cmocka_unit_test(test_globals_fresh_in_spawn),
      cmocka_unit_test(test_signals),
      cmocka_unit_test(test_spawn_closes_descriptors),
      cmocka_unit_test(test_target_in_shared_library),
      cmocka_unit_test(test_stale_and_foreign_programs),
      cmocka_unit_test(test_thread_current_process),
      cmocka_unit_test(test_daemon_spawn),
      cmocka_unit_test(test_logger_crosses),
      cmocka_unit_test(test_daemon_thread_left_at_exit),
      cmocka_unit_test(test_parent_killed_no_orphans),
      cmocka_unit_test(test_forkserver_with_busy_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
