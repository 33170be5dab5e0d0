/* mp_test.h: what every test program shares: a watchdog that fails a hung
 * test in seconds instead of hanging CI, the skip code, small helpers, and
 * what runs a suite once per start method (see "Start methods" below).
 *
 * The watchdog makes the test its own process group and, when the alarm
 * fires, kills the whole group with SIGKILL: the hung test and every child
 * it started, so nothing outlives it and ctest sees a failure at once. */
#ifndef MP_TEST_H
#define MP_TEST_H

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "mproc.h"

#define MP_TEST_SKIP 77

static void mp_test__on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "\nwatchdog: the test hung; killing its process group\n";
  (void)!write(2, msg, sizeof msg - 1);
  kill(0, SIGKILL);
  _exit(99);
}

/* (Re)arms the watchdog: the test program dies, children and all, unless
 * the watchdog is re-armed or the program ends within `seconds`. Call it at
 * the start of each test; the first call makes this a process group. */
static inline void mp_test_watchdog(unsigned seconds) {
  static int installed;
  if (!installed) {
    installed = 1;
    if (getpgrp() != getpid())
      (void)setpgid(0, 0);
    signal(SIGALRM, mp_test__on_alarm);
  }
  alarm(seconds);
}

/* Exits with the skip code after saying why. */
static inline void mp_test_skip(const char *why) {
  fprintf(stderr, "SKIP: %s\n", why);
  exit(MP_TEST_SKIP);
}

/* The number of open descriptors: tests compare it before and after to
 * prove nothing leaked. */
static inline int mp_test_count_fds(void) {
  int n = 0;
  for (int fd = 0; fd < 4096; fd++) {
    if (fcntl(fd, F_GETFD) >= 0)
      n++;
  }
  return n;
}

/* Reads fd until end of file (or EIO: a pseudo-terminal whose last user is
 * gone) into buf, NUL-terminated, at most cap - 1 bytes. Returns the count. */
static inline size_t mp_test_read_all(int fd, char *buf, size_t cap) {
  size_t n = 0;
  for (;;) {
    ssize_t r = read(fd, buf + n, cap - 1 - n);
    if (r > 0 && (n += (size_t)r) < cap - 1)
      continue;
    if (r < 0 && errno == EINTR)
      continue;
    break;
  }
  buf[n] = 0;
  return n;
}

/* ---- Start methods: one suite, run once per method -----------------------
 * A suite whose main() calls mp_test_use_start_method() is registered by
 * CMakeLists.txt once per start method: test_x (fork), test_x@spawn,
 * test_x@forkserver, test_x@thread, with MP_TEST_START_METHOD naming the
 * method. Its children are then started by that method, so they may use
 * only what they are given explicitly: argument bytes, handles passed with
 * mp_test_pass() (read back with mp_test_handle(i) and the area's _open),
 * descriptors passed with mp_process_pass_fd. Never a pointer into the
 * parent's memory, never a closure over a local.
 * A child target reports failure by returning a nonzero code (CHILD_FAIL
 * below), never by exit()/_exit(): under "thread" the child is a thread of
 * the test program, and exiting would end the whole suite. */

/* The suite's start method: MP_TEST_START_METHOD, or "fork". */
static inline const char *mp_test_method(void) {
  const char *m = getenv("MP_TEST_START_METHOD");
  return m && *m ? m : "fork";
}

static inline bool mp_test_method_is(const char *m) {
  return strcmp(mp_test_method(), m) == 0;
}

/* Call first in main(): makes the suite's method the default of
 * mp_process_new (mp_set_start_method) and says which it is. */
static inline void mp_test_use_start_method(void) {
  const char *m = mp_test_method();
  if (mp_set_start_method(m, true) != 0) {
    fprintf(stderr, "MP_TEST_START_METHOD=%s: not a start method\n", m);
    exit(2);
  }
  fprintf(stderr, "start method: %s\n", m);
}

/* In a test: skips it (cmocka's skip()) unless the suite runs with method
 * m, printing why. For tests inherently about one method (fork semantics,
 * killing a child that under "thread" is a thread). */
#define mp_test_only_method(m, why)                                            \
  do {                                                                         \
    if (!mp_test_method_is(m)) {                                               \
      print_message("[   SKIP   ] on %s: %s\n", mp_test_method(), (why));      \
      skip();                                                                  \
    }                                                                          \
  } while (0)

/* Skips the test when the suite runs with method m, printing why. */
#define mp_test_skip_method(m, why)                                            \
  do {                                                                         \
    if (mp_test_method_is(m)) {                                                \
      print_message("[   SKIP   ] on %s: %s\n", mp_test_method(), (why));      \
      skip();                                                                  \
    }                                                                          \
  } while (0)

/* In a child target: return a code naming the failed line (100..199) when
 * cond is false, after saying so on stderr. */
#define CHILD_FAIL(cond)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "child: check failed at %s:%d: %s\n", __FILE__,          \
              __LINE__, #cond);                                                \
      return 100 + __LINE__ % 100;                                             \
    }                                                                          \
  } while (0)

/* In a child target: declares var, opened from passed handle i by the
 * expression open, in which h names the handle (e.g. mp_lock_open(h));
 * returns a failure code from the target when that fails. */
#define CHILD_OPEN(type, var, i, open)                                         \
  mp_handle h_##var = mp_test_handle(i);                                       \
  type *var = ({                                                               \
    const mp_handle *h = &h_##var;                                             \
    (open);                                                                    \
  });                                                                          \
  CHILD_FAIL(var)

/* A process of the suite's method running fn on a copy of arg[0..len),
 * not started yet (pass objects to it first). Fails the test on error. */
static inline mp_process *mp_test_process(mp_target_fn fn, const void *arg,
                                          size_t len) {
  mp_process *p = mp_process_new(fn, arg, len, NULL);
  assert_non_null(p);
  return p;
}

/* Passes h to p; the child reads it back as mp_test_handle(i), where i
 * (returned) counts the handles and descriptors passed before it. */
static inline int mp_test_pass(mp_process *p, const mp_handle *h) {
  int i = mp_process_pass_handle(p, h);
  assert_true(i >= 0);
  return i;
}

/* Passes descriptor fd (duplicated) to p; the child reads it back with
 * mp_inherited_fd(i) (borrowed: dup it to own it). Returns i. */
static inline int mp_test_pass_fd(mp_process *p, int fd) {
  int i = mp_process_pass_fd(p, fd);
  assert_true(i >= 0);
  return i;
}

/* Creates, passes the n handles hs[0..n) (indexes 0..n-1) and starts. */
static inline mp_process *mp_test_start(mp_target_fn fn, const void *arg,
                                        size_t len, const mp_handle *hs,
                                        size_t n) {
  mp_process *p = mp_test_process(fn, arg, len);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(mp_test_pass(p, &hs[i]), (int)i);
  assert_int_equal(mp_process_start(p), 0);
  return p;
}

/* Creates, passes the n descriptors fds[0..n) (indexes 0..n-1) and
 * starts. */
static inline mp_process *mp_test_start_fds(mp_target_fn fn, const void *arg,
                                            size_t len, const int *fds,
                                            size_t n) {
  mp_process *p = mp_test_process(fn, arg, len);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(mp_test_pass_fd(p, fds[i]), (int)i);
  assert_int_equal(mp_process_start(p), 0);
  return p;
}

/* Joins p (60 s at most) and returns its exit code (the target's return
 * value, or -signal). Does not free p. */
static inline int mp_test_join_code(mp_process *p) {
  assert_int_equal(mp_process_join(p, 60), 0);
  int code = -1000;
  assert_int_equal(mp_process_exitcode(p, &code), 1);
  return code;
}

/* Joins p, checks that its target returned 0, and frees it. */
static inline void mp_test_join_ok(mp_process *p) {
  int code = mp_test_join_code(p);
  if (code != 0)
    fail_msg("child %s (%s) ended with code %d", mp_process_name(p),
             mp_test_method(), code);
  mp_process_free(p);
}

static inline int mp_test__nothing(void *arg, size_t len) {
  (void)arg;
  (void)len;
  return 0;
}

/* Starts and joins one child of the suite's method, so that what this
 * process keeps for good once it has started one (the result arena, the
 * forkserver's connection) exists before a test counts descriptors. */
static inline void mp_test_warm_up(void) {
  mp_test_join_ok(mp_test_start(mp_test__nothing, NULL, 0, NULL, 0));
}

/* In a child: the i-th passed handle (a zero handle, which every _open
 * refuses, when there is none). Borrowed: do not close it. */
static inline mp_handle mp_test_handle(size_t i) {
  mp_handle h;
  if (mp_inherited_handle(i, &h) != 0)
    memset(&h, 0, sizeof h);
  return h;
}

/* In a child: a connection of its own (over a duplicate) on passed
 * descriptor i, or NULL. Free it with mp_conn_free. */
static inline mp_conn *mp_test_passed_conn(size_t i, bool readable,
                                           bool writable) {
  int fd = mp_inherited_fd(i);
  if (fd < 0)
    return NULL;
  int own = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  mp_conn *c = own < 0 ? NULL : mp_conn_from_fd(own, readable, writable);
  if (!c && own >= 0)
    close(own);
  return c;
}

/* Shared scratch memory for any start method: n zeroed bytes in a raw
 * array (*a, free it with mp_array_free) whose handle a child opens with
 * mp_test_scratch_open. Returns the memory. */
static inline void *mp_test_scratch(size_t n, mp_array **a) {
  *a = mp_raw_array_new(MP_CTYPE('B'), n, NULL);
  assert_non_null(*a);
  return mp_array_get_obj(*a);
}

/* In a child: the scratch memory passed as handle i (*a to free at the
 * end), or NULL. */
static inline void *mp_test_scratch_open(size_t i, mp_array **a) {
  mp_handle h = mp_test_handle(i);
  *a = mp_array_open(&h);
  return *a ? mp_array_get_obj(*a) : NULL;
}


/* mp_test_count_fds once this process runs no thread but the calling one
 * (waiting up to 20 s): a thread-process (the thread start method) closes
 * its own descriptors just after its end is reported, so counts taken
 * while one is finishing are off by one. */
static inline int mp_test_count_fds_settled(void) {
  for (int i = 0; i < 2000; i++) {
    struct stat st;
    if (stat("/proc/self/task", &st) != 0 || st.st_nlink <= 3)
      break;
    usleep(10000);
  }
  return mp_test_count_fds();
}

/* UNDER_ASAN: 1 in an AddressSanitizer build (gcc or clang), where tests
 * that start a fresh program per child run fewer rounds. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

#endif
