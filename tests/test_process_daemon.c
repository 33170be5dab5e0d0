/* test_process_daemon.c: children do not outlive their parent's wish.
 * - A parent killed with SIGKILL takes its daemonic children with it
 *   (PR_SET_PDEATHSIG), over several rounds.
 * - A child that returns from its target terminates its daemonic children
 *   and joins the others before it exits (Python's _exit_function).
 * - So does the main process at exit (a helper program).
 * This test makes itself a child subreaper, so orphaned grandchildren come
 * back to it: it can wait for them and nothing is left behind. The suite
 * runs once per start method (tests/mp_test.h); under "thread" the tests
 * about a process's death or exit skip (a thread-process is neither killed
 * nor exits: its children are the program's). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "mp_test.h"
#include "mproc.h"
#include "runtime/runtime_internal.h"

#define NGRAND 3

static int t_sleep_forever(void *arg, size_t len) {
  for (;;)
    pause();
  return 0;
}

static int t_sleep_200ms(void *arg, size_t len) {
  usleep(200 * 1000);
  return 4;
}

/* The middle process: starts daemonic grandchildren, reports their pids on
 * the pipe whose write end is passed to it, then waits to be killed. */
static int t_middle(void *arg, size_t len) {
  int fd = mp_inherited_fd(0);
  pid_t pids[NGRAND];
  mp_process_opts o = {.daemon = MP_DAEMON_YES};
  for (int i = 0; i < NGRAND; i++) {
    mp_process *g = mp_process_new(t_sleep_forever, NULL, 0, &o);
    if (!g || mp_process_start(g) < 0)
      return 1;
    pids[i] = mp_process_pid(g);
  }
  if (mp__write_full(fd, pids, sizeof pids) < 0)
    return 2;
  for (;;)
    pause();
}

/* Waits up to `seconds` for pid (our child by subreaping) to end; returns
 * its wait status, or -1 after killing it if it did not end in time. */
static int wait_gone(pid_t pid, double seconds) {
  double end = mp_monotonic() + seconds;
  for (;;) {
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid)
      return st;
    if (r < 0)
      return errno == ECHILD ? 0 : -1; /* reaped by someone else: gone */
    if (mp_monotonic() > end) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      return -1;
    }
    usleep(2000);
  }
}

static const char g_not_a_process[] =
    "a thread-process is not killed and does not exit: its children are "
    "the program's";

/* Starts a middle process running fn and reads its grandchildren's pids
 * into pids; pfd gets the pipe, closed by kill_middle. */
static mp_process *start_middle(mp_target_fn fn, int pfd[2], pid_t *pids) {
  assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
  mp_process *mid = mp_test_process(fn, NULL, 0);
  mp_test_pass_fd(mid, pfd[1]);
  assert_int_equal(mp_process_start(mid), 0);
  assert_int_equal(mp__read_full(pfd[0], pids, NGRAND * sizeof *pids),
                   NGRAND * sizeof *pids);
  return mid;
}

/* SIGKILLs the middle process; its daemonic grandchildren must die of
 * SIGKILL with it. Frees mid and closes pfd. */
static void kill_middle(mp_process *mid, int pfd[2], const pid_t *pids) {
  assert_int_equal(mp_process_kill(mid), 0);
  assert_int_equal(mp_process_join(mid, MP_FOREVER), 0);
  int code;
  assert_int_equal(mp_process_exitcode(mid, &code), 1);
  assert_int_equal(code, -SIGKILL);
  for (int i = 0; i < NGRAND; i++) {
    int st = wait_gone(pids[i], 5.0);
    assert_true(st != -1);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGKILL);
  }
  mp_process_free(mid);
  close(pfd[0]);
  close(pfd[1]);
}

static void test_sigkilled_parent_takes_daemons(void **state) {
  mp_test_skip_method("thread", g_not_a_process);
  for (int round = 0; round < 5; round++) {
    mp_test_watchdog(30);
    int pfd[2];
    pid_t pids[NGRAND];
    mp_process *mid = start_middle(t_middle, pfd, pids);
    kill_middle(mid, pfd, pids);
  }
}

/* Issue 13, defect 2: a daemonic child's death signal follows the thread
 * that started it. t_middle_threaded starts its grandchildren from a
 * thread that ends at once; they must live on until the middle process
 * itself is killed, and then die with it. */
static void *start_daemons(void *arg) {
  pid_t *pids = arg;
  mp_process_opts o = {.daemon = MP_DAEMON_YES};
  for (int i = 0; i < NGRAND; i++) {
    mp_process *g = mp_process_new(t_sleep_forever, NULL, 0, &o);
    if (!g || mp_process_start(g) < 0)
      return NULL;
    pids[i] = mp_process_pid(g);
  }
  return pids;
}

static int t_middle_threaded(void *arg, size_t len) {
  int fd = mp_inherited_fd(0);
  pid_t pids[NGRAND];
  pthread_t t;
  void *ok = NULL;
  if (pthread_create(&t, NULL, start_daemons, pids) != 0 || pthread_join(t, &ok) != 0 ||
      !ok)
    return 1;
  if (mp__write_full(fd, pids, sizeof pids) < 0)
    return 2;
  for (;;)
    pause();
}

/* Whether pid runs (exists and is no zombie). */
static bool running(pid_t pid) {
  char path[64], st = 0;
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return false;
  int n = fscanf(f, "%*d (%*[^)]) %c", &st);
  fclose(f);
  return n == 1 && st != 'Z' && st != 'X';
}

static void test_daemons_outlive_starting_thread(void **state) {
  mp_test_skip_method("thread", g_not_a_process);
  int rounds = 20, survived = 0;
  for (int round = 0; round < rounds; round++) {
    mp_test_watchdog(30);
    int pfd[2];
    pid_t pids[NGRAND];
    mp_process *mid = start_middle(t_middle_threaded, pfd, pids);
    usleep(100 * 1000); /* the death signal, if any, came long ago */
    int alive = 0;
    for (int i = 0; i < NGRAND; i++)
      alive += running(pids[i]);
    survived += alive == NGRAND;
    kill_middle(mid, pfd, pids);
  }
  print_message("daemons started by an ended thread: alive in %d/%d rounds, all "
                "killed with their parent\n", survived, rounds);
  assert_int_equal(survived, rounds);
}

/* Returns from its target while it has a daemonic child that would run
 * forever and a non-daemonic one that ends after 200 ms. */
static int t_leaves_children(void *arg, size_t len) {
  mp_process_opts d = {.daemon = MP_DAEMON_YES};
  mp_process *a = mp_process_new(t_sleep_forever, NULL, 0, &d);
  mp_process *b = mp_process_new(t_sleep_200ms, NULL, 0, NULL);
  if (!a || !b || mp_process_start(a) < 0 || mp_process_start(b) < 0)
    return 1;
  pid_t pids[2] = {mp_process_pid(a), mp_process_pid(b)};
  mp_process_free(a);
  mp_process_free(b);
  return mp_process_return(pids, sizeof pids) == 0 ? 0 : 2;
}

static void test_child_exit_function(void **state) {
  mp_test_watchdog(30);
  mp_test_skip_method("thread", g_not_a_process);
  double t0 = mp_monotonic();
  mp_process *p = mp_process_new(t_leaves_children, NULL, 0, NULL);
  assert_int_equal(mp_process_start(p), 0);
  assert_int_equal(mp_process_join(p, MP_FOREVER), 0);
  assert_true(mp_monotonic() - t0 >= 0.19); /* it waited for the worker */
  int code;
  assert_int_equal(mp_process_exitcode(p, &code), 1);
  assert_int_equal(code, 0);
  const void *d;
  size_t n;
  assert_int_equal(mp_process_result(p, &d, &n), 1);
  assert_int_equal(n, 2 * sizeof(pid_t));
  pid_t pids[2];
  memcpy(pids, d, sizeof pids);
  /* Both were reaped by the child itself: not running, not our orphans. */
  for (int i = 0; i < 2; i++) {
    errno = 0;
    int alive = kill(pids[i], 0) == 0;
    if (alive)
      wait_gone(pids[i], 0);
    assert_false(alive);
    assert_int_equal(errno, ESRCH);
  }
  mp_process_free(p);
}

static const char *helper_path(const char *name, char *buf, size_t n) {
  const char *dir = getenv("MP_TEST_BINDIR");
  if (dir) {
    snprintf(buf, n, "%s/%s", dir, name);
    return buf;
  }
  ssize_t len = readlink("/proc/self/exe", buf, n - 1);
  assert_true(len > 0);
  buf[len] = 0;
  char *slash = strrchr(buf, '/');
  snprintf(slash + 1, n - (size_t)(slash + 1 - buf), "%s", name);
  return buf;
}

/* The helper's children use the suite's method (it reads the variable). */
static void test_main_exit_function(void **state) {
  mp_test_watchdog(30);
  mp_test_skip_method("thread", "a daemonic thread-process is left running "
                                "at exit, not terminated (mproc/context.h)");
  char path[4096];
  helper_path("proc_atexit", path, sizeof path);
  if (access(path, X_OK) != 0)
    mp_test_skip("helper proc_atexit not built");
  int pfd[2];
  assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
  double t0 = mp_monotonic();
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    dup2(pfd[1], 1);
    dup2(pfd[1], 2);
    execl(path, path, (char *)NULL);
    _exit(127);
  }
  close(pfd[1]);
  char out[8192];
  ssize_t got = mp__read_full(pfd[0], out, sizeof out - 1);
  close(pfd[0]);
  assert_true(got > 0);
  out[got] = 0;
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
  assert_true(mp_monotonic() - t0 >= 0.29); /* it joined the worker */
  int dpid = 0, wpid = 0;
  char *line = strstr(out, "pids ");
  assert_non_null(line);
  assert_int_equal(sscanf(line, "pids %d %d", &dpid, &wpid), 2);
  for (int i = 0; i < 2; i++) {
    pid_t q = i ? wpid : dpid;
    int alive = kill(q, 0) == 0;
    if (alive)
      wait_gone(q, 0);
    assert_false(alive);
  }
  assert_non_null(strstr(out, "[INFO/MainProcess] process shutting down\n"));
  assert_non_null(strstr(out, "[INFO/MainProcess] calling terminate() for daemon sleeper\n"));
  assert_non_null(strstr(out, "[INFO/MainProcess] calling join() for process "));
  assert_non_null(strstr(out, "[INFO/worker] child process calling self.run()\n"));
  assert_non_null(strstr(out, "[INFO/worker] process exiting with exitcode 0\n"));
}

int main(void) {
  mp_test_use_start_method();
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
    mp_test_skip("PR_SET_CHILD_SUBREAPER not available");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sigkilled_parent_takes_daemons),
      cmocka_unit_test(test_daemons_outlive_starting_thread),
      cmocka_unit_test(test_child_exit_function),
      cmocka_unit_test(test_main_exit_function),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
