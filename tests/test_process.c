/* test_process.c: processes: start, join, exit codes (also by signal), the
 * sentinel, names and identity, authkey, results of any size,
 * active_children and reaping (no zombies, no leaked descriptors), bad
 * input, several threads joining one process, and a program's own fork()
 * children. The suite runs once per start method (tests/mp_test.h); what a
 * thread-process cannot do (be signalled) is skipped under "thread".
 * Targets never call cmocka's asserts (they run in the child): they report
 * through their exit code or their result. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "mp_test.h"
#include "mproc.h"
#include "process/process_internal.h"

/* ---- targets --------------------------------------------------------------- */

static int t_exit_with(void *arg, size_t len) {
  int code;
  if (len != sizeof code)
    return 99;
  memcpy(&code, arg, sizeof code);
  return code;
}

/* Set to end the t_sleep_forever of thread-processes (threads of this
 * program, which no signal can stop alone); other children are killed. */
static int g_stop_threads;

static int t_sleep_forever(void *arg, size_t len) {
  while (!__atomic_load_n(&g_stop_threads, __ATOMIC_ACQUIRE))
    usleep(10000);
  return 0;
}

static int t_sleep_ms(void *arg, size_t len) {
  int ms = 0;
  if (len == sizeof ms)
    memcpy(&ms, arg, sizeof ms);
  usleep((useconds_t)ms * 1000);
  return 0;
}

static int t_raise(void *arg, size_t len) {
  int sig;
  memcpy(&sig, arg, sizeof sig);
  raise(sig);
  return 0;
}

/* Returns 0 if the argument bytes arrived intact and writable. */
static int t_check_arg(void *arg, size_t len) {
  const char *want = "hello bob";
  if (len != strlen(want) || memcmp(arg, want, len) != 0)
    return 1;
  ((char *)arg)[0] = 'j'; /* the child's own copy */
  return 0;
}

static int t_nothing(void *arg, size_t len) { return 0; }

/* ---- helpers ----------------------------------------------------------------- */

static mp_process *start_or_fail(mp_target_fn fn, const void *arg, size_t len,
                                 const mp_process_opts *o) {
  mp_process *p = mp_process_new(fn, arg, len, o);
  assert_non_null(p);
  assert_int_equal(mp_process_start(p), 0);
  return p;
}

static int run_code(mp_target_fn fn, const void *arg, size_t len) {
  mp_process *p = start_or_fail(fn, arg, len, NULL);
  assert_int_equal(mp_process_join(p, MP_FOREVER), 0);
  int code = -1000;
  assert_int_equal(mp_process_exitcode(p, &code), 1);
  mp_process_free(p);
  return code;
}

/* Ends a t_sleep_forever child: SIGTERM, or for a thread-process the
 * flag. Returns the exit code to expect. */
static int stop_sleeper(mp_process *p) {
  if (mp_test_method_is("thread")) {
    __atomic_store_n(&g_stop_threads, 1, __ATOMIC_RELEASE);
    assert_int_equal(mp_process_join(p, 30), 0);
    __atomic_store_n(&g_stop_threads, 0, __ATOMIC_RELEASE);
    return 0;
  }
  assert_int_equal(mp_process_terminate(p), 0);
  return -SIGTERM;
}

static const char g_no_signals[] =
    "a thread-process cannot be signalled (MP_ENOTSUP; tests/test_start.c)";

/* Children of this process in state Z, from /proc: must be 0. */
static int count_zombies(void) {
  DIR *d = opendir("/proc");
  assert_non_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    char path[300], buf[512];
    snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f)
      continue;
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[got] = 0;
    char *rp = strrchr(buf, ')');
    char st;
    int ppid;
    if (rp && sscanf(rp + 2, "%c %d", &st, &ppid) == 2 && ppid == getpid() &&
        st == 'Z')
      n++;
  }
  closedir(d);
  return n;
}

/* ---- tests --------------------------------------------------------------------- */

static void test_start_join_exitcode(void **state) {
  mp_test_watchdog(30);
  int codes[] = {0, 1, 7, 255, -1, 256 + 3};
  int want[] = {0, 1, 7, 255, 255, 3};
  for (size_t i = 0; i < MP__ARRAY_SIZE(codes); i++)
    assert_int_equal(run_code(t_exit_with, &codes[i], sizeof codes[i]), want[i]);
  assert_int_equal(run_code(t_check_arg, "hello bob", 9), 0);
  assert_int_equal(run_code(t_nothing, NULL, 0), 0);

  int ms = 100;
  mp_process *p = mp_process_new(t_sleep_ms, &ms, sizeof ms, NULL);
  assert_int_equal(mp_process_pid(p), 0);
  assert_false(mp_process_is_alive(p));
  int code = 42;
  assert_int_equal(mp_process_exitcode(p, &code), 0); /* None */
  assert_int_equal(code, 42);
  assert_int_equal(mp_process_start(p), 0);
  assert_true(mp_process_pid(p) > 0);
  assert_true(mp_process_is_alive(p));
  assert_int_equal(mp_process_exitcode(p, &code), 0);
  assert_int_equal(mp_process_join(p, 0), MP_ETIMEOUT);
  assert_int_equal(mp_process_join(p, -3), MP_ETIMEOUT); /* negative = 0 */
  assert_int_equal(mp_process_join(p, MP_FOREVER), 0);
  assert_int_equal(mp_process_join(p, MP_FOREVER), 0); /* repeatable */
  assert_int_equal(mp_process_join(p, 0), 0);
  assert_false(mp_process_is_alive(p));
  assert_int_equal(mp_process_exitcode(p, &code), 1);
  assert_int_equal(code, 0);
  assert_true(mp_process_pid(p) > 0);
  assert_int_equal(mp_process_close(p), 0);
  assert_int_equal(mp_process_close(p), 0);
  assert_int_equal(mp_process_exitcode(p, &code), MP_ESTATE);
  assert_int_equal(mp_process_is_alive(p), MP_ESTATE);
  assert_string_equal(mp_last_error()->message,
                      "ValueError: process object is closed");
  assert_int_equal(mp_process_join(p, 0), MP_ESTATE);
  assert_int_equal(mp_process_pid(p), 0);
  assert_int_equal(mp_process_start(p), MP_ESTATE);
  mp_process_free(p);
}

static void test_bad_input(void **state) {
  mp_test_watchdog(30);
  errno = 0;
  assert_null(mp_process_new(NULL, NULL, 0, NULL));
  assert_int_equal(errno, EINVAL);
  assert_null(mp_process_new(t_nothing, NULL, 5, NULL));
  assert_int_equal(errno, EINVAL);
  mp_process_opts o = MP_PROCESS_OPTS_INIT;
  o.start_method = "nonsense";
  assert_null(mp_process_new(t_nothing, NULL, 0, &o));
  assert_int_equal(errno, EINVAL);
  /* spawn, forkserver and thread: tests/test_start.c */
  o.start_method = "fork";
  o.daemon = 7;
  assert_null(mp_process_new(t_nothing, NULL, 0, &o));
  assert_int_equal(errno, EINVAL);
  o.daemon = 0;
  o.reserved[2] = &o;
  assert_null(mp_process_new(t_nothing, NULL, 0, &o));
  o.reserved[2] = NULL;

  mp_process *p = mp_process_new(t_sleep_forever, NULL, 0, &o);
  assert_non_null(p);
  /* Before start. The record says why, in Python's words. */
  assert_int_equal(mp_process_join(p, 0), MP_ESTATE);
  assert_int_equal(mp_last_error()->code, MP_ESTATE);
  assert_string_equal(mp_last_error()->message,
                      "AssertionError: can only join a started process");
  assert_int_equal(mp_process_join(p, MP_FOREVER), MP_ESTATE);
  assert_int_equal(mp_process_terminate(p), MP_ESTATE);
  assert_int_equal(mp_process_kill(p), MP_ESTATE);
  assert_int_equal(mp_process_sentinel(p), MP_ESTATE);
  const void *data;
  size_t len;
  assert_int_equal(mp_process_result(p, &data, &len), MP_ESTATE);
  assert_int_equal(mp_process_exitcode(p, NULL), -EINVAL);
  assert_int_equal(mp_process_start(p), 0);
  assert_int_equal(mp_process_start(p), MP_ESTATE); /* twice */
  assert_string_equal(mp_last_error()->message,
                      "AssertionError: cannot start a process twice");
  assert_int_equal(mp_process_join(p, NAN), -EINVAL);
  assert_int_equal(mp_process_close(p), MP_ESTATE); /* still running */
  assert_non_null(strstr(mp_last_error()->message,
                         "Cannot close a process while it is still running"));
  assert_int_equal(mp_process_set_daemon(p, 1), MP_ESTATE);
  assert_int_equal(mp_process_result(p, &data, &len), MP_ENOTREADY);
  assert_int_equal(mp_process_result(p, NULL, &len), -EINVAL);
  assert_int_equal(mp_process_set_name(p, NULL), -EINVAL);
  assert_int_equal(mp_process_set_authkey(p, NULL, 3), -EINVAL);
  char key[300] = {0};
  assert_int_equal(mp_process_set_authkey(p, key, sizeof key), -EINVAL);
  assert_int_equal(mp_process_kill(p), 0);
  assert_int_equal(mp_process_join(p, MP_FOREVER), 0);
  assert_int_equal(mp_process_close(p), 0);
  mp_process_free(p);

  /* Calls on NULL fail cleanly. */
  mp_process_free(NULL);
  assert_int_equal(mp_process_start(NULL), -EINVAL);
  assert_int_equal(mp_process_join(NULL, 0), -EINVAL);
  assert_int_equal(mp_process_is_alive(NULL), -EINVAL);
  assert_int_equal(mp_process_describe(NULL, NULL, 0), -EINVAL);
  assert_int_equal(mp_active_children(NULL, NULL), -EINVAL);
  /* The current process cannot be joined, started, closed or freed. */
  mp_process *me = mp_current_process();
  assert_int_equal(mp_process_join(me, 0), MP_ESTATE);
  assert_int_equal(mp_process_start(me), MP_ESTATE);
  assert_int_equal(mp_process_close(me), MP_ESTATE);
  assert_int_equal(mp_process_sentinel(me), MP_ESTATE);
  mp_process_free(me);
  assert_true(mp_process_is_alive(me));
  assert_int_equal(mp_process_pid(me), getpid());
  assert_null(mp_parent_process());
  assert_int_equal(mp_process_return("x", 1), MP_ESTATE);
}

/* A name of 10 kB: stored whole, seen whole by the child, described. */
static int t_report_name(void *arg, size_t len) {
  const char *n = mp_process_name(mp_current_process());
  return mp_process_return(n, strlen(n)) == 0 ? 0 : 1;
}

static void test_long_name(void **state) {
  mp_test_watchdog(30);
  size_t n = 10 * 1024;
  char *name = malloc(n + 1);
  memset(name, 'x', n);
  name[n] = 0;
  mp_process_opts o = {.name = name};
  mp_process *p = mp_process_new(t_report_name, NULL, 0, &o);
  assert_non_null(p);
  assert_string_equal(mp_process_name(p), name);
  char small[64];
  int full = mp_process_describe(p, small, sizeof small);
  assert_true(full > (int)n);
  assert_int_equal(strlen(small), sizeof small - 1);
  char *big = malloc((size_t)full + 1);
  assert_int_equal(mp_process_describe(p, big, (size_t)full + 1), full);
  assert_non_null(strstr(big, name));
  free(big);
  assert_int_equal(mp_process_start(p), 0);
  assert_int_equal(mp_process_join(p, MP_FOREVER), 0);
  const void *data;
  size_t len;
  assert_int_equal(mp_process_result(p, &data, &len), 1);
  assert_int_equal(len, n);
  assert_memory_equal(data, name, n);
  assert_int_equal(mp_process_set_name(p, "short"), 0);
  assert_string_equal(mp_process_name(p), "short");
  mp_process_free(p);
  free(name);
}

static void test_signals_and_describe(void **state) {
  mp_test_watchdog(30);
  mp_test_skip_method("thread", g_no_signals);
  char buf[256];
  mp_process *p = mp_process_new(t_sleep_forever, NULL, 0, NULL);
  mp_process_describe(p, buf, sizeof buf);
  char want[256];
  snprintf(want, sizeof want, "<Process name='%s' parent=%d initial>",
           mp_process_name(p), getpid());
  assert_string_equal(buf, want);
  assert_int_equal(mp_process_start(p), 0);
  mp_process_describe(p, buf, sizeof buf);
  snprintf(want, sizeof want, "<Process name='%s' pid=%d parent=%d started>",
           mp_process_name(p), mp_process_pid(p), getpid());
  assert_string_equal(buf, want);
  assert_int_equal(mp_process_terminate(p), 0);
  assert_int_equal(mp_process_join(p, MP_FOREVER), 0);
  assert_false(mp_process_is_alive(p));
  int code;
  assert_int_equal(mp_process_exitcode(p, &code), 1);
  assert_int_equal(code, -SIGTERM);
  mp_process_describe(p, buf, sizeof buf);
  snprintf(want, sizeof want,
           "<Process name='%s' pid=%d parent=%d stopped exitcode=-SIGTERM>",
           mp_process_name(p), mp_process_pid(p), getpid());
  assert_string_equal(buf, want);
  assert_int_equal(mp_process_terminate(p), 0); /* after the end: no-op */
  assert_int_equal(mp_process_kill(p), 0);
  mp_process_close(p);
  mp_process_describe(p, buf, sizeof buf);
  snprintf(want, sizeof want, "<Process name='%s' parent=%d closed>",
           mp_process_name(p), getpid());
  assert_string_equal(buf, want);
  mp_process_free(p);

  mp_process_opts o = {.name = "it's", .daemon = MP_DAEMON_YES};
  p = start_or_fail(t_sleep_forever, NULL, 0, &o);
  assert_int_equal(mp_process_kill(p), 0);
  assert_int_equal(mp_process_join(p, MP_FOREVER), 0);
  mp_process_describe(p, buf, sizeof buf);
  snprintf(want, sizeof want,
           "<Process name=\"it's\" pid=%d parent=%d stopped exitcode=-SIGKILL "
           "daemon>",
           mp_process_pid(p), getpid());
  assert_string_equal(buf, want);
  mp_process_free(p);

  int sig = SIGUSR1;
  assert_int_equal(run_code(t_raise, &sig, sizeof sig), -SIGUSR1);
  int c = 3;
  p = start_or_fail(t_exit_with, &c, sizeof c, NULL);
  mp_process_join(p, MP_FOREVER);
  mp_process_describe(p, buf, sizeof buf);
  assert_non_null(strstr(buf, " stopped exitcode=3>"));
  mp_process_free(p);

  mp_process_describe(mp_current_process(), buf, sizeof buf);
  assert_string_equal(buf, "<_MainProcess name='MainProcess' parent=None started>");
}

static void test_sentinel(void **state) {
  mp_test_watchdog(30);
  mp_process *p = start_or_fail(t_sleep_forever, NULL, 0, NULL);
  int fd = mp_process_sentinel(p);
  assert_true(fd >= 0);
  struct pollfd pf = {.fd = fd, .events = POLLIN};
  assert_int_equal(poll(&pf, 1, 50), 0);
  stop_sleeper(p);
  assert_int_equal(poll(&pf, 1, 10000), 1);
  assert_true(pf.revents & POLLIN);
  assert_int_equal(mp_process_join(p, 0), 0);
  /* Still readable after the reap, and the same descriptor. */
  assert_int_equal(mp_process_sentinel(p), fd);
  assert_int_equal(poll(&pf, 1, 0), 1);
  assert_int_equal(mp_process_close(p), 0);
  assert_int_equal(mp_process_sentinel(p), MP_ESTATE);
  mp_process_free(p);
}

/* ---- results ---------------------------------------------------------------- */

#define BIG (64u << 20)

static int t_return_big(void *arg, size_t len) {
  unsigned char *b = malloc(BIG);
  if (!b)
    return 2;
  for (size_t i = 0; i < BIG; i++)
    b[i] = (unsigned char)(i * 7 + (i >> 12));
  int r = mp_process_return(b, BIG);
  free(b);
  return r == 0 ? 0 : 1;
}

static int t_return_twice(void *arg, size_t len) {
  if (mp_process_return("a much longer first result", 26) < 0)
    return 1;
  return mp_process_return("second", 6) < 0 ? 1 : 0;
}

static int t_return_empty(void *arg, size_t len) {
  if (mp_process_return(NULL, 1) != -EINVAL)
    return 3;
  return mp_process_return(NULL, 0) < 0 ? 1 : 0;
}

static int t_return_then_die(void *arg, size_t len) {
  mp_process_return("partial", 7);
  raise(SIGKILL);
  return 0;
}

/* An argument of 3 MiB crosses whole under every method (under spawn and
 * forkserver the bootstrap reads it in growing steps: issue 13). */
#define BIGARG ((size_t)3 << 20)
static int t_check_big_arg(void *arg, size_t len) {
  const unsigned char *b = arg;
  if (len != BIGARG)
    return 1;
  for (size_t i = 0; i < len; i++)
    if (b[i] != (unsigned char)(i * 13 + (i >> 16)))
      return 2;
  return 0;
}

static void test_big_argument(void **state) {
  mp_test_watchdog(60);
  unsigned char *b = malloc(BIGARG);
  assert_non_null(b);
  for (size_t i = 0; i < BIGARG; i++)
    b[i] = (unsigned char)(i * 13 + (i >> 16));
  mp_process *p = start_or_fail(t_check_big_arg, b, BIGARG, NULL);
  free(b);
  assert_int_equal(mp_process_join(p, 60), 0);
  int code = -1;
  assert_int_equal(mp_process_exitcode(p, &code), 1);
  assert_int_equal(code, 0);
  mp_process_free(p);
}

static void test_results(void **state) {
  mp_test_watchdog(60);
  const void *data;
  size_t len;
  mp_process *p = start_or_fail(t_return_big, NULL, 0, NULL);
  assert_int_equal(mp_process_join(p, MP_FOREVER), 0);
  int code;
  assert_int_equal(mp_process_exitcode(p, &code), 1);
  assert_int_equal(code, 0);
  assert_int_equal(mp_process_result(p, &data, &len), 1);
  assert_int_equal(len, BIG);
  const unsigned char *b = data;
  for (size_t i = 0; i < BIG; i += 4093)
    assert_int_equal(b[i], (unsigned char)(i * 7 + (i >> 12)));
  assert_int_equal(b[BIG - 1], (unsigned char)((BIG - 1) * 7 + ((BIG - 1) >> 12)));
  /* The same mapping each time, and it survives close. */
  const void *again;
  assert_int_equal(mp_process_result(p, &again, &len), 1);
  assert_ptr_equal(again, data);
  mp_process_close(p);
  assert_int_equal(b[12345], (unsigned char)(12345 * 7 + (12345 >> 12)));
  assert_int_equal(mp_process_result(p, &again, &len), MP_ESTATE);
  mp_process_free(p);

  p = start_or_fail(t_nothing, NULL, 0, NULL);
  mp_process_join(p, MP_FOREVER);
  data = "x";
  len = 9;
  assert_int_equal(mp_process_result(p, &data, &len), 0); /* returned none */
  assert_null(data);
  assert_int_equal(len, 0);
  mp_process_free(p);

  p = start_or_fail(t_return_empty, NULL, 0, NULL);
  /* Not joined yet: the result call itself notices the end. */
  int r;
  while ((r = mp_process_result(p, &data, &len)) == MP_ENOTREADY)
    usleep(1000);
  assert_int_equal(r, 1);
  assert_non_null(data);
  assert_int_equal(len, 0);
  assert_int_equal(mp_process_exitcode(p, &code), 1);
  assert_int_equal(code, 0);
  mp_process_free(p);

  p = start_or_fail(t_return_twice, NULL, 0, NULL);
  mp_process_join(p, MP_FOREVER);
  assert_int_equal(mp_process_result(p, &data, &len), 1);
  assert_int_equal(len, 6);
  assert_memory_equal(data, "second", 6);
  mp_process_free(p);

  /* A result set before a kill is still there: it was written whole.
   * (Not under "thread": SIGKILL would end the whole test program.) */
  if (mp_test_method_is("thread"))
    return;
  p = start_or_fail(t_return_then_die, NULL, 0, NULL);
  mp_process_join(p, MP_FOREVER);
  assert_int_equal(mp_process_exitcode(p, &code), 1);
  assert_int_equal(code, -SIGKILL);
  assert_int_equal(mp_process_result(p, &data, &len), 1);
  assert_memory_equal(data, "partial", 7);
  mp_process_free(p);
}

/* ---- identity ------------------------------------------------------------- */

/* Reports "name|parent name|parent pid ok|grandchild name" as its result. */
static int t_grandchild_name(void *arg, size_t len) {
  const char *n = mp_process_name(mp_current_process());
  return mp_process_return(n, strlen(n)) == 0 ? 0 : 1;
}

/* arg: the parent's pid (under forkserver getppid() is the server's). */
static int t_family(void *arg, size_t len) {
  char out[512];
  mp_process *par = mp_parent_process();
  pid_t ppid;
  memcpy(&ppid, arg, sizeof ppid);
  if (!par || mp_process_pid(par) != ppid || !mp_process_is_alive(par))
    return 10;
  if (mp_process_pid(mp_current_process()) != getpid())
    return 11;
  /* The parent's sentinel is not readable while it lives. */
  struct pollfd pf = {.fd = mp_process_sentinel(par), .events = POLLIN};
  if (pf.fd < 0 || poll(&pf, 1, 0) != 0 || mp_process_join(par, 0.01) != MP_ETIMEOUT)
    return 14;
  mp_process *g1 = mp_process_new(t_grandchild_name, NULL, 0, NULL);
  mp_process *g2 = mp_process_new(t_grandchild_name, NULL, 0, NULL);
  if (!g1 || !g2 || mp_process_start(g2) < 0 ||
      mp_process_join(g2, MP_FOREVER) < 0)
    return 12;
  const void *d;
  size_t n;
  if (mp_process_result(g2, &d, &n) != 1)
    return 13;
  char cur[128], parent[128];
  mp_process_describe(mp_current_process(), cur, sizeof cur);
  mp_process_describe(par, parent, sizeof parent);
  snprintf(out, sizeof out, "%s|%s|%.*s|%s|%s|%d",
           mp_process_name(mp_current_process()), mp_process_name(par), (int)n,
           (const char *)d, cur, parent, mp_process_daemon(g1));
  mp_process_free(g1);
  mp_process_free(g2);
  return mp_process_return(out, strlen(out)) == 0 ? 0 : 1;
}

/* The grandchild: waits for its parent's sentinel to turn readable (the
 * parent ended), then writes 'Y' (or 'N' after 20 s) on the pipe *arg. */
static int t_watch_parent(void *arg, size_t len) {
  int wfd;
  memcpy(&wfd, arg, sizeof wfd);
  struct pollfd pf = {.fd = mp_process_sentinel(mp_parent_process()), .events = POLLIN};
  char c = pf.fd >= 0 && poll(&pf, 1, 20000) == 1 ? 'Y' : 'N';
  return write(wfd, &c, 1) == 1 ? 0 : 1;
}

/* The middle process: starts the watcher and ends at once, without the
 * exit function (which would join the watcher). */
static int t_start_watcher_and_die(void *arg, size_t len) {
  mp_process *w = mp_process_new(t_watch_parent, arg, len, NULL);
  if (!w || mp_process_start(w) < 0)
    _exit(2);
  _exit(0);
}

/* A child learns that its parent ended through mp_parent_process()'s
 * sentinel, with pidfds and without (test_process@nopidfd: there it is
 * the socket pair's other end, sentinel.c). */
static void test_parent_sentinel_fires(void **state) {
  mp_test_watchdog(60);
  mp_test_skip_method("thread", "a thread-process has no parent process");
  mp_test_skip_method("spawn", "the result pipe is inherited by fork only");
  mp_test_skip_method("forkserver", "the result pipe is inherited by fork only");
  int pfd[2];
  assert_int_equal(pipe(pfd), 0);
  mp_process *mid = mp_process_new(t_start_watcher_and_die, &pfd[1], sizeof pfd[1], NULL);
  assert_non_null(mid);
  assert_int_equal(mp_process_start(mid), 0);
  assert_int_equal(mp_process_join(mid, 30), 0);
  close(pfd[1]);
  char c = 0;
  struct pollfd pf = {.fd = pfd[0], .events = POLLIN};
  assert_int_equal(poll(&pf, 1, 30000), 1);
  assert_int_equal(read(pfd[0], &c, 1), 1);
  assert_int_equal(c, 'Y');
  close(pfd[0]);
  mp_process_free(mid);
}

static void test_names_and_family(void **state) {
  mp_test_watchdog(30);
  mp_test_skip_method("thread", "a thread-process has no parent process "
                                "(mp_parent_process() is NULL, as in Python's "
                                "multiprocessing.dummy)");
  mp_process *a = mp_process_new(t_nothing, NULL, 0, NULL);
  pid_t me = getpid();
  mp_process *b = mp_process_new(t_family, &me, sizeof me, NULL);
  const char *an = mp_process_name(a);
  assert_int_equal(strncmp(an, "Process-", 8), 0);
  unsigned na = (unsigned)atoi(an + 8);
  char want[64];
  snprintf(want, sizeof want, "Process-%u", na + 1);
  assert_string_equal(mp_process_name(b), want);
  assert_int_equal(mp_process_start(b), 0);
  assert_int_equal(mp_process_join(b, MP_FOREVER), 0);
  int code;
  mp_process_exitcode(b, &code);
  assert_int_equal(code, 0);
  const void *d;
  size_t n;
  assert_int_equal(mp_process_result(b, &d, &n), 1);
  char got[600];
  snprintf(got, sizeof got, "%.*s", (int)n, (const char *)d);
  char expect[600];
  snprintf(expect, sizeof expect,
           "Process-%u|MainProcess|Process-%u:2|<Process name='Process-%u' "
           "parent=%d started>|<_ParentProcess name='MainProcess' parent=None "
           "unknown>|0",
           na + 1, na + 1, na + 1, getpid());
  assert_string_equal(got, expect);
  mp_process_free(a);
  mp_process_free(b);
}

static int t_report_key(void *arg, size_t len) {
  size_t n;
  const unsigned char *k = mp_process_authkey(mp_current_process(), &n);
  return mp_process_return(k, n) == 0 ? 0 : 1;
}

static void test_authkey(void **state) {
  mp_test_watchdog(30);
  size_t n;
  const unsigned char *mine = mp_process_authkey(mp_current_process(), &n);
  assert_int_equal(n, 32);
  mp_process *p = mp_process_new(t_report_key, NULL, 0, NULL);
  size_t pn;
  const unsigned char *pk = mp_process_authkey(p, &pn);
  assert_int_equal(pn, 32);
  assert_memory_equal(pk, mine, 32); /* inherited */
  assert_int_equal(mp_process_start(p), 0);
  mp_process_join(p, MP_FOREVER);
  const void *d;
  assert_int_equal(mp_process_result(p, &d, &pn), 1);
  assert_int_equal(pn, 32);
  assert_memory_equal(d, mine, 32);
  mp_process_free(p);

  p = mp_process_new(t_report_key, NULL, 0, NULL);
  assert_int_equal(mp_process_set_authkey(p, "secret", 6), 0);
  assert_int_equal(mp_process_start(p), 0);
  mp_process_join(p, MP_FOREVER);
  assert_int_equal(mp_process_result(p, &d, &pn), 1);
  assert_int_equal(pn, 6);
  assert_memory_equal(d, "secret", 6);
  mp_process_free(p);
}

/* ---- daemons ---------------------------------------------------------------- */

/* In a daemonic child: new objects inherit the flag; starting one fails. */
static int t_daemon_child(void *arg, size_t len) {
  if (!mp_process_daemon(mp_current_process()))
    return 10;
  mp_process *c = mp_process_new(t_nothing, NULL, 0, NULL);
  if (!c || !mp_process_daemon(c))
    return 11;
  int r = mp_process_start(c);
  mp_process_free(c);
  return r == MP_EDAEMON ? 0 : 12;
}

static int t_not_daemon_child(void *arg, size_t len) {
  if (mp_process_daemon(mp_current_process()))
    return 10;
  mp_process_opts o = {.daemon = MP_DAEMON_YES};
  mp_process *c = mp_process_new(t_nothing, NULL, 0, &o);
  int r = mp_process_start(c);
  if (r == 0)
    r = mp_process_join(c, MP_FOREVER);
  mp_process_free(c);
  return r == 0 ? 0 : 11;
}

static void test_daemon_flags(void **state) {
  mp_test_watchdog(30);
  mp_process *p = mp_process_new(t_daemon_child, NULL, 0, NULL);
  assert_int_equal(mp_process_daemon(p), 0); /* inherited from main */
  assert_int_equal(mp_process_set_daemon(p, 1), 0);
  assert_int_equal(mp_process_daemon(p), 1);
  assert_int_equal(mp_process_start(p), 0);
  assert_int_equal(mp_process_set_daemon(p, 0), MP_ESTATE);
  mp_process_join(p, MP_FOREVER);
  int code;
  mp_process_exitcode(p, &code);
  assert_int_equal(code, 0);
  mp_process_free(p);

  mp_process_opts o = {.daemon = MP_DAEMON_NO};
  assert_int_equal(run_code(t_not_daemon_child, NULL, 0), 0);
  p = start_or_fail(t_not_daemon_child, NULL, 0, &o);
  mp_process_join(p, MP_FOREVER);
  mp_process_exitcode(p, &code);
  assert_int_equal(code, 0);
  mp_process_free(p);
}

/* ---- reaping ---------------------------------------------------------------- */

static void test_active_children_and_zombies(void **state) {
  mp_test_watchdog(60);
  int c = 0;
  run_code(t_exit_with, &c, sizeof c); /* the result arena exists now */
  int fds = mp_test_count_fds_settled();
  mp_process *sleeper = start_or_fail(t_sleep_forever, NULL, 0, NULL);
  /* Quick children: some kept, some freed while (maybe) running. */
  mp_process *kept[4];
  for (int i = 0; i < 4; i++)
    kept[i] = start_or_fail(t_nothing, NULL, 0, NULL);
  for (int i = 0; i < 4; i++)
    mp_process_free(start_or_fail(t_nothing, NULL, 0, NULL));
  mp_process **list;
  size_t n = 99;
  /* Eventually only the sleeper is active, and nothing is a zombie. */
  for (int tries = 0;; tries++) {
    assert_int_equal(mp_active_children(&list, &n), 0);
    if (n == 1)
      break;
    mp_process_list_free(list, n);
    assert_true(tries < 5000);
    usleep(2000);
  }
  assert_ptr_equal(list[0], sleeper);
  mp_process_list_free(list, n);
  assert_int_equal(count_zombies(), 0);
  for (int i = 0; i < 4; i++) {
    assert_false(mp_process_is_alive(kept[i]));
    int code;
    assert_int_equal(mp_process_exitcode(kept[i], &code), 1);
    assert_int_equal(code, 0);
    mp_process_free(kept[i]);
  }
  /* A freed running process is still listed, reaped after it ends. */
  pid_t spid = mp_process_pid(sleeper);
  mp_process_free(sleeper);
  assert_int_equal(mp_active_children(NULL, &n), 0);
  assert_int_equal(n, 1);
  if (mp_test_method_is("thread"))
    __atomic_store_n(&g_stop_threads, 1, __ATOMIC_RELEASE);
  else
    kill(spid, SIGKILL);
  for (int tries = 0;; tries++) {
    assert_int_equal(mp_active_children(NULL, &n), 0);
    if (n == 0)
      break;
    assert_true(tries < 5000);
    usleep(2000);
  }
  __atomic_store_n(&g_stop_threads, 0, __ATOMIC_RELEASE);
  assert_int_equal(count_zombies(), 0);
  assert_int_equal(mp_test_count_fds_settled(), fds);
}

/* Returns its argument bytes, reversed, as its result. */
static int t_return_reversed(void *arg, size_t len) {
  unsigned char *b = arg;
  for (size_t i = 0; i < len / 2; i++) {
    unsigned char t = b[i];
    b[i] = b[len - 1 - i];
    b[len - 1 - i] = t;
  }
  return mp_process_return(b, len) == 0 ? 0 : 1;
}

/* Many children at once, each with its own result; then more processes
 * than an arena has slots, one after another (slots are reused). */
static void test_many_results(void **state) {
  mp_test_watchdog(120);
  enum { N = 40 };
  mp_process *ps[N];
  for (int i = 0; i < N; i++) {
    char buf[64];
    int n = snprintf(buf, sizeof buf, "result number %d, %*s|", i, i, "");
    ps[i] = start_or_fail(t_return_reversed, buf, (size_t)n, NULL);
  }
  for (int i = N - 1; i >= 0; i--) {
    char buf[64], want[64];
    int n = snprintf(buf, sizeof buf, "result number %d, %*s|", i, i, "");
    for (int k = 0; k < n; k++)
      want[k] = buf[n - 1 - k];
    assert_int_equal(mp_process_join(ps[i], MP_FOREVER), 0);
    const void *d;
    size_t len;
    assert_int_equal(mp_process_result(ps[i], &d, &len), 1);
    assert_int_equal(len, n);
    assert_memory_equal(d, want, (size_t)n);
    mp_process_free(ps[i]);
  }
  for (int i = 0; i < 1100; i++) {
    mp_process *p = start_or_fail(t_return_reversed, &i, sizeof i, NULL);
    mp_process_join(p, MP_FOREVER);
    const void *d;
    size_t len;
    assert_int_equal(mp_process_result(p, &d, &len), 1);
    assert_int_equal(len, sizeof i);
    mp_process_free(p);
  }
}

/* White box: more children outstanding than an arena has slots get a
 * second arena; given-back slots are reused. */
static void test_arena_overflow(void **state) {
  mp_test_watchdog(30);
  enum { N = 1100 };
  mp_process **ps = calloc(N, sizeof *ps);
  mp__proc_lock();
  for (int i = 0; i < N; i++) {
    ps[i] = mp_process_new(t_nothing, NULL, 0, NULL);
    assert_non_null(ps[i]);
    assert_int_equal(mp__result_slot_take(ps[i]), 0);
  }
  int arenas = 1;
  for (int i = 1; i < N; i++)
    if (ps[i]->arena != ps[i - 1]->arena)
      arenas++;
  assert_true(arenas >= 2);
  for (int i = 0; i < N; i++)
    for (int j = i + 1; j < N && j < i + 1030; j++)
      assert_false(ps[i]->arena == ps[j]->arena && ps[i]->slot == ps[j]->slot);
  for (int i = 0; i < N; i++)
    mp__result_slot_drop(ps[i]);
  mp__proc_unlock();
  for (int i = 0; i < N; i++)
    mp_process_free(ps[i]);
  free(ps);
  /* Real children still get their results afterwards. */
  mp_process *p = start_or_fail(t_return_twice, NULL, 0, NULL);
  mp_process_join(p, MP_FOREVER);
  const void *d;
  size_t len;
  assert_int_equal(mp_process_result(p, &d, &len), 1);
  assert_memory_equal(d, "second", 6);
  mp_process_free(p);
}

static void test_no_leaked_fds(void **state) {
  mp_test_watchdog(60);
  /* The first start creates this process's result arena, kept for good. */
  int c = 0;
  run_code(t_exit_with, &c, sizeof c);
  int before = mp_test_count_fds_settled();
  for (int i = 0; i < 20; i++) {
    mp_process *p = start_or_fail(i % 2 ? t_return_twice : t_nothing, NULL, 0,
                                  NULL);
    if (i % 3 == 0)
      assert_true(mp_process_sentinel(p) >= 0);
    mp_process_join(p, MP_FOREVER);
    const void *d;
    size_t n;
    mp_process_result(p, &d, &n);
    if (i % 4 == 0)
      mp_process_close(p);
    mp_process_free(p);
  }
  /* Start failures leave nothing behind either. */
  mp_process *p = start_or_fail(t_nothing, NULL, 0, NULL);
  assert_int_equal(mp_process_start(p), MP_ESTATE);
  mp_process_join(p, MP_FOREVER);
  mp_process_free(p);
  assert_int_equal(mp_test_count_fds_settled(), before);
  assert_int_equal(count_zombies(), 0);
}

/* ---- threads ------------------------------------------------------------------ */

static void *joiner(void *arg) {
  mp_process *p = arg;
  int r = mp_process_join(p, MP_FOREVER);
  int code = 0;
  if (r == 0 && mp_process_exitcode(p, &code) == 1 && code == 5)
    return (void *)1;
  return NULL;
}

static void test_threads_join_one(void **state) {
  mp_test_watchdog(30);
  int c = 5;
  for (int round = 0; round < 5; round++) {
    mp_process *p = start_or_fail(t_exit_with, &c, sizeof c, NULL);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
      pthread_create(&th[i], NULL, joiner, p);
    for (int i = 0; i < 4; i++) {
      void *ok;
      pthread_join(th[i], &ok);
      assert_non_null(ok);
    }
    mp_process_free(p);
  }
  assert_int_equal(count_zombies(), 0);
}

/* A program reaping with waitpid(-1) steals the exit code; join still
 * returns, the code is unknown (Python's None). */
static void test_reaped_by_someone_else(void **state) {
  mp_test_watchdog(30);
  mp_test_skip_method("forkserver", "the child is the server's, not ours: "
                                    "this program cannot reap it");
  mp_test_skip_method("thread", "a thread-process is no child to reap");
  int c = 3;
  mp_process *p = start_or_fail(t_exit_with, &c, sizeof c, NULL);
  int st;
  assert_int_equal(waitpid(mp_process_pid(p), &st, 0), mp_process_pid(p));
  assert_int_equal(mp_process_join(p, MP_FOREVER), 0);
  int code = 77;
  assert_int_equal(mp_process_exitcode(p, &code), 0);
  assert_int_equal(code, 77);
  assert_false(mp_process_is_alive(p));
  mp_process_free(p);
}

/* A child the program forks itself (not through mproc) may use mproc:
 * it starts with no children and arenas of its own, and the parent's
 * objects are not its to join. */
static void test_raw_fork_child_uses_mproc(void **state) {
  mp_test_watchdog(30);
  mp_process *sleeper = start_or_fail(t_sleep_forever, NULL, 0, NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int code = 0;
    size_t n = 9;
    if (mp_active_children(NULL, &n) != 0 || n != 0)
      code = 10;
    else if (mp_process_join(sleeper, 0) != MP_ESTATE)
      code = 11;
    else {
      mp_process *p = mp_process_new(t_return_twice, NULL, 0, NULL);
      const void *d;
      size_t len;
      if (!p || mp_process_start(p) != 0 ||
          mp_process_join(p, MP_FOREVER) != 0 ||
          mp_process_result(p, &d, &len) != 1 || len != 6 ||
          memcmp(d, "second", 6) != 0)
        code = 12;
      mp_process_free(p);
    }
    _exit(code);
  }
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
  assert_true(mp_process_is_alive(sleeper));
  /* A fork child freeing its copy of an object whose result was read
   * leaves the parent's result alone (the arena is shared). */
  mp_process *done = start_or_fail(t_return_twice, NULL, 0, NULL);
  assert_int_equal(mp_process_join(done, MP_FOREVER), 0);
  const void *d;
  size_t len;
  assert_int_equal(mp_process_result(done, &d, &len), 1);
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    mp_process_free(done);
    _exit(0);
  }
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_int_equal(mp_process_result(done, &d, &len), 1);
  assert_int_equal(len, 6);
  assert_memory_equal(d, "second", 6);
  mp_process_free(done);
  stop_sleeper(sleeper);
  assert_int_equal(mp_process_join(sleeper, MP_FOREVER), 0);
  mp_process_free(sleeper);
}

/* A child the program forks itself and that leaves through exit(): the
 * exit handlers run there, and under the ASan build LeakSanitizer checks
 * that the parent's bookkeeping the fork child forgets (its children's
 * result arenas, its running children whose objects it freed) is still
 * reachable, not reported as a leak. */
static void test_raw_fork_child_exits(void **state) {
  mp_test_watchdog(30);
  mp_process *done = start_or_fail(t_return_twice, NULL, 0, NULL);
  assert_int_equal(mp_process_join(done, MP_FOREVER), 0);
  mp_process_free(done);
  int ms = 300;
  pid_t sleeper = mp_process_pid(start_or_fail(t_sleep_ms, &ms, sizeof ms, NULL));
  /* The object is freed while it runs: the library keeps it. */
  size_t n = 0;
  mp_process **list;
  assert_int_equal(mp_active_children(&list, &n), 0);
  for (size_t i = 0; i < n; i++)
    if (mp_process_pid(list[i]) == sleeper)
      mp_process_free(list[i]);
  mp_process_list_free(list, n);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    /* One level down: what this child forgets joins what it forgot. */
    mp_process *p = mp_process_new(t_return_twice, NULL, 0, NULL);
    if (!p || mp_process_start(p) || mp_process_join(p, MP_FOREVER))
      exit(10);
    mp_process_free(p);
    pid_t gpid = fork();
    if (gpid == 0)
      exit(0);
    int gst;
    if (gpid < 0 || waitpid(gpid, &gst, 0) != gpid || !WIFEXITED(gst))
      exit(11);
    exit(WEXITSTATUS(gst));
  }
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    fail_msg("the fork child's exit() failed: status 0x%x (a leak report?)", st);
  do
    assert_int_equal(mp_active_children(NULL, &n), 0);
  while (n > 0 && usleep(10000) == 0);
}

static int g_hook_runs;
static void hook(void) { g_hook_runs++; }
static int t_hook_ran(void *arg, size_t len) { return g_hook_runs; }

static void test_atfork_child_hook(void **state) {
  mp_test_watchdog(10);
  mp_test_only_method("fork", "atfork hooks run in children this program "
                              "forks itself, only with the fork method");
  assert_int_equal(mp__atfork_child(hook), 0);
  assert_int_equal(run_code(t_hook_ran, NULL, 0), 1);
  assert_int_equal(g_hook_runs, 0); /* only in the child */
}

int main(void) {
  mp_test_use_start_method();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_start_join_exitcode),
      cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_long_name),
      cmocka_unit_test(test_signals_and_describe),
      cmocka_unit_test(test_sentinel),
      cmocka_unit_test(test_results),
      cmocka_unit_test(test_big_argument),
      cmocka_unit_test(test_names_and_family),
      cmocka_unit_test(test_parent_sentinel_fires),
      cmocka_unit_test(test_authkey),
      cmocka_unit_test(test_daemon_flags),
      cmocka_unit_test(test_active_children_and_zombies),
      cmocka_unit_test(test_many_results),
      cmocka_unit_test(test_arena_overflow),
      cmocka_unit_test(test_no_leaked_fds),
      cmocka_unit_test(test_threads_join_one),
      cmocka_unit_test(test_reaped_by_someone_else),
      cmocka_unit_test(test_atfork_child_hook),
      cmocka_unit_test(test_raw_fork_child_uses_mproc),
      cmocka_unit_test(test_raw_fork_child_exits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
