/* sync_test_util.h: what test_sync and test_sync_robust share: checks that
 * work inside forked children (cmocka's asserts must not run there), a
 * fork helper, reaping, and shared scratch memory. */
#ifndef SYNC_TEST_UTIL_H
#define SYNC_TEST_UTIL_H

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "mp_test.h"
#include "mproc.h"

/* In a child: exit with a status naming the failed line. */
#define CHILD_CHECK(cond)                                                      \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "child %d: check failed at line %d: %s\n", (int)getpid(), \
              __LINE__, #cond);                                                \
      _exit(100 + __LINE__ % 100);                                             \
    }                                                                          \
  } while (0)

/* Forks a child that runs fn(arg) and exits 0 when it returns. */
static inline pid_t fork_child(void (*fn)(void *), void *arg) {
  pid_t pid = fork();
  if (pid == 0) {
    fn(arg);
    _exit(0);
  }
  return pid;
}

/* Waits for pid and checks it exited 0. */
static inline void reap_ok(pid_t pid) {
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fprintf(stderr, "child %d: status 0x%x\n", (int)pid, status);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

/* Zeroed memory shared with children created later. */
static inline void *shared_scratch(size_t n) {
  void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  assert_true(p != MAP_FAILED);
  return p;
}

static inline void sleep_s(double s) { usleep((useconds_t)(s * 1e6)); }

#endif
