/* test_runtime.c: the runtime layer: error table, deadlines and futexes,
 * descriptor helpers, the allocator hook, logging and CPU counts. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sys/wait.h>

#include "mp_test.h"
#include "mproc.h"
#include "runtime/runtime_internal.h"

static void test_errors(void **state) {
  (void)state;
  mp_test_watchdog(10);
  assert_string_equal(mp_err_name(MP_ETIMEOUT), "MP_ETIMEOUT");
  assert_string_equal(mp_strerror(MP_ETIMEOUT), "operation timed out");
  assert_string_equal(mp_err_name(-ENOMEM), "ENOMEM");
  assert_string_equal(mp_err_name(0), "MP_OK");
  assert_string_equal(mp_err_name(12345), "UNKNOWN");
  assert_string_equal(mp_strerror(-99999), "unknown error");
  assert_non_null(strstr(mp_strerror(-EINVAL), "nvalid"));
  assert_int_equal(mp_errno_code(EINVAL), -EINVAL);
  assert_int_equal(mp_errno_code(-MP_EEMPTY), MP_EEMPTY);
  /* What a failed constructor leaves in errno names its code as it is. */
  errno = 0;
  assert_null(mp_queue_new(MP_QUEUE_MAXSIZE_MAX + 1L));
  assert_int_not_equal(errno, 0);
  assert_string_equal(mp_strerror(errno), mp_strerror(mp_errno_code(errno)));
  assert_string_equal(mp_strerror(-MP_EVALUE), mp_strerror(MP_EVALUE));
  assert_string_equal(mp_err_name(-MP_EVALUE), "MP_EVALUE");
  assert_string_equal(mp_err_name(ENOMEM), "ENOMEM");
  /* The thread's record: what a failure with details says, per thread. */
  assert_int_equal(mp__error_record(MP_EAUTH, "digest %d rejected", 3), MP_EAUTH);
  assert_int_equal(mp_last_error()->code, MP_EAUTH);
  assert_string_equal(mp_last_error()->message, "digest 3 rejected");
  assert_ptr_equal(mp_last_error(), mp_manager_last_error());
  /* Every library code has a distinct name and stays out of errno's range. */
#define CHECK(name, val, msg)                                                  \
  assert_true((val) <= -1000);                                                 \
  assert_string_equal(mp_err_name(val), "MP_" #name);
  MP_ERRNO_MAP(CHECK)
#undef CHECK
  mp_error e;
  assert_int_equal(mp_error_set(&e, MP_ETASK, 0, 3, "x=%d", 7), MP_ETASK);
  assert_string_equal(e.message, "x=7");
  assert_int_equal(e.status, 3);
  assert_int_equal(mp_error_set(NULL, MP_ETASK, 0, 0, NULL), MP_ETASK);
  char big[1000];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = 0;
  mp_error_set(&e, MP_ETASK, 0, 0, "%s", big);
  assert_int_equal(strlen(e.message), MP_ERROR_MESSAGE_MAX - 1);
  assert_true(mp_version() == MP_VERSION_HEX);
  assert_string_equal(mp_version_string(), MP_VERSION_STRING);
}

static void test_deadlines(void **state) {
  (void)state;
  mp_test_watchdog(10);
  mp__deadline dl;
  assert_int_equal(mp__deadline_init(&dl, MP_FOREVER), 0);
  assert_true(mp__deadline_forever(&dl));
  assert_int_equal(mp__deadline_poll_ms(&dl), -1);
  assert_int_equal(mp__deadline_init(&dl, -5), 0);
  assert_true(mp__deadline_passed(&dl));
  assert_int_equal(mp__deadline_init(&dl, NAN), -EINVAL);
  assert_int_equal(mp__deadline_init(&dl, 1e300), 0);
  assert_true(mp__deadline_forever(&dl));
  mp__deadline_init(&dl, 0.05);
  assert_false(mp__deadline_passed(&dl));
  assert_true(mp__deadline_poll_ms(&dl) <= 50);
  /* A futex wait times out at its deadline, not before. */
  uint32_t word = 0;
  double t0 = mp_monotonic();
  int r;
  do
    r = mp__futex_wait(&word, 0, &dl);
  while (r == 0);
  assert_int_equal(r, MP_ETIMEOUT);
  assert_true(mp_monotonic() - t0 >= 0.049);
  /* A changed word returns at once. */
  assert_int_equal(mp__futex_wait(&word, 1, NULL), 0);
}

static uint32_t g_word;
static void *waker(void *arg) {
  (void)arg;
  usleep(20000);
  __atomic_store_n(&g_word, 1, __ATOMIC_RELEASE);
  mp__futex_wake(&g_word, INT32_MAX);
  return NULL;
}

static void on_usr1(int s) { (void)s; }

static void test_futex_wake_and_eintr(void **state) {
  (void)state;
  mp_test_watchdog(10);
  /* A signal arriving during the wait must not end it early. */
  struct sigaction sa = {.sa_handler = on_usr1};
  sigaction(SIGUSR1, &sa, NULL);
  pthread_t th;
  pthread_create(&th, NULL, waker, NULL);
  kill(getpid(), SIGUSR1);
  while (__atomic_load_n(&g_word, __ATOMIC_ACQUIRE) == 0)
    assert_int_equal(mp__futex_wait(&g_word, 0, NULL), 0);
  pthread_join(th, NULL);
  /* The same across processes, on a shared page. */
  uint32_t *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  assert_true(w != MAP_FAILED);
  pid_t pid = fork();
  if (pid == 0) {
    usleep(20000);
    __atomic_store_n(w, 7, __ATOMIC_RELEASE);
    mp__futex_wake(w, 1);
    _exit(0);
  }
  while (__atomic_load_n(w, __ATOMIC_ACQUIRE) != 7)
    mp__futex_wait(w, 0, NULL);
  int st;
  waitpid(pid, &st, 0);
  assert_true(WIFEXITED(st));
  munmap(w, 4096);
}

static void test_fd_helpers(void **state) {
  (void)state;
  mp_test_watchdog(10);
  int p[2];
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  int d = mp__dup_cloexec(p[0]);
  assert_true(d > 2);
  assert_true(fcntl(d, F_GETFD) & FD_CLOEXEC);
  assert_int_equal(mp__write_full(p[1], "hello", 5), 0);
  char buf[8];
  mp__deadline dl;
  mp__deadline_init(&dl, 1);
  assert_true(mp__poll1(d, POLLIN, &dl) & POLLIN);
  assert_int_equal(mp__read_full(d, buf, 5), 5);
  assert_memory_equal(buf, "hello", 5);
  mp__deadline_init(&dl, 0.01);
  assert_int_equal(mp__poll1(d, POLLIN, &dl), 0);
  mp__close(p[1]);
  assert_int_equal(mp__read_full(d, buf, 5), 0); /* EOF */
  assert_int_equal(mp__set_nonblock(d, true), 0);
  assert_true(fcntl(d, F_GETFL) & O_NONBLOCK);
  mp__close(d);
  mp__close(p[0]);
  assert_int_equal(mp__close(-1), 0);
  unsigned char r1[32] = {0}, r2[32] = {0};
  assert_int_equal(mp__random_bytes(r1, 32), 0);
  assert_int_equal(mp__random_bytes(r2, 32), 0);
  assert_memory_not_equal(r1, r2, 32);
}

static int g_allocs, g_fail_after = -1;
static void *t_malloc(void *ctx, size_t n) {
  (void)ctx;
  if (g_fail_after >= 0 && g_allocs >= g_fail_after)
    return NULL;
  g_allocs++;
  return malloc(n);
}
static void *t_realloc(void *ctx, void *p, size_t n) {
  (void)ctx;
  return realloc(p, n);
}
static void t_free(void *ctx, void *p) {
  (void)ctx;
  free(p);
}

static void test_allocator(void **state) {
  (void)state;
  mp_test_watchdog(10);
  mp_allocator a = {t_malloc, t_realloc, t_free, NULL};
  mp_set_allocator(&a);
  char *s = mp__strdup("abc");
  assert_string_equal(s, "abc");
  assert_int_equal(g_allocs, 1);
  mp_free(s);
  mp_free(NULL);
  g_fail_after = 0;
  assert_null(mp__malloc(10));
  g_fail_after = -1;
  assert_null(mp__calloc(SIZE_MAX / 2, 4)); /* overflow, not a tiny block */
  mp_set_allocator(NULL);
}

static char g_lines[4096];
static size_t g_len;
static void capture(void *ctx, int level, const char *line, size_t len) {
  (void)ctx;
  (void)level;
  memcpy(g_lines + g_len, line, len);
  g_len += len;
  g_lines[g_len] = 0;
}

static void test_logging(void **state) {
  (void)state;
  mp_test_watchdog(10);
  mp_logger *lg = mp_get_logger();
  assert_ptr_equal(lg, mp_get_logger());
  mp_log(MP_LOG_CRITICAL, "nothing: no handler");
  mp_logger_set_handler(lg, capture, NULL);
  mp_logger_set_level(lg, MP_LOG_INFO);
  assert_int_equal(mp_logger_get_level(lg), MP_LOG_INFO);
  mp_log(MP_LOG_DEBUG, "dropped");
  mp_log(MP_LOG_INFO, "child process calling self.run() %d", 1);
  mp_log(MP_LOG_SUBWARNING, "sub");
  mp_log(45, "odd");
  assert_string_equal(g_lines, "[INFO/MainProcess] child process calling self.run() 1\n"
                               "[Level 25/MainProcess] sub\n"
                               "[Level 45/MainProcess] odd\n");
  g_len = 0;
  char big[3000];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = 0;
  mp_log(MP_LOG_ERROR, "%s", big);
  assert_true(g_len < 1024 && g_lines[g_len - 1] == '\n');
  assert_string_equal(mp_log_level_name(MP_LOG_SUBDEBUG), "Level 5");
  assert_string_equal(mp_log_level_name(MP_LOG_SUBWARNING), "Level 25");
  assert_string_equal(mp_log_level_name(MP_LOG_WARNING), "WARNING");
  mp_log(MP_LOG_SUBDEBUG, "subdebug");
  mp_logger_set_level(lg, MP_LOG_SUBDEBUG);
  g_len = 0;
  mp_log(MP_LOG_SUBDEBUG, "subdebug");
  assert_string_equal(g_lines, "[Level 5/MainProcess] subdebug\n");
  mp_logger_set_level(lg, MP_LOG_INFO);
  assert_ptr_equal(mp_log_to_stderr(-1), lg);
  assert_int_equal(mp_logger_get_level(lg), MP_LOG_INFO);
  mp_logger_set_handler(lg, NULL, NULL);
}

/* The authkey exists before anything touches the library, so a plain
 * fork() gives parent and child the same key. */
static void test_authkey_before_fork(void **state) {
  (void)state;
  mp_test_watchdog(10);
  int p[2];
  assert_int_equal(pipe(p), 0);
  pid_t pid = fork();
  if (pid == 0) {
    mp__self *s = mp__self_get();
    (void)!write(p[1], s->authkey, s->authkey_len);
    _exit(0);
  }
  unsigned char key[32];
  assert_int_equal(mp__read_full(p[0], key, 32), 32);
  waitpid(pid, NULL, 0);
  mp__self *s = mp__self_get();
  assert_int_equal(s->authkey_len, 32);
  assert_memory_equal(key, s->authkey, 32);
  close(p[0]);
  close(p[1]);
}

static void test_cpus(void **state) {
  (void)state;
  assert_true(mp_cpu_count() >= 1);
  assert_true(mp_cpu_count_usable() >= 1);
  assert_true(mp_cpu_count_usable() <= mp_cpu_count());
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_authkey_before_fork), /* first: nothing touched yet */
      cmocka_unit_test(test_errors),     cmocka_unit_test(test_deadlines),
      cmocka_unit_test(test_futex_wake_and_eintr),
      cmocka_unit_test(test_fd_helpers), cmocka_unit_test(test_allocator),
      cmocka_unit_test(test_logging),    cmocka_unit_test(test_cpus),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
