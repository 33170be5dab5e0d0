/* sync_test_util.h: what test_sync, test_sync_robust, test_value and
 * test_shared_memory share beyond tests/mp_test.h: caller memory mapped
 * shared (for the _init forms of the objects), sleeping, and telling that
 * a process sleeps in a futex. Children are started with mp_test.h's
 * helpers (every start method), never with fork() here. */
#ifndef SYNC_TEST_UTIL_H
#define SYNC_TEST_UTIL_H

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "mp_test.h"
#include "mproc.h"

/* Zeroed memory mapped shared (inherited only by fork: pass a raw array,
 * mp_test_scratch, to a child instead). */
static inline void *shared_scratch(size_t n) {
  void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  assert_true(p != MAP_FAILED);
  return p;
}

static inline void sleep_s(double s) { usleep((useconds_t)(s * 1e6)); }

/* Waits (up to 20 s) until process pid sleeps in a futex wait, as the
 * kernel reports in /proc/PID/syscall; false when it cannot tell (no such
 * file, or no permission): the caller then falls back to a pause. Lets a
 * test know a waiter has really gone to sleep however loaded the machine. */
static inline bool asleep_in_futex(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/syscall", (int)pid);
  double end = mp_monotonic() + 20;
  while (mp_monotonic() < end) {
    FILE *f = fopen(path, "r");
    if (!f)
      return false;
    long nr = -1, op = -1;
    int n = fscanf(f, "%ld %*x %lx", &nr, &op);
    fclose(f);
    /* "running" (no number) or "-1 ..." (not in a system call): not yet. */
    if (n == 2 && nr == SYS_futex &&
        ((op & FUTEX_CMD_MASK) == FUTEX_WAIT || (op & FUTEX_CMD_MASK) == FUTEX_WAIT_BITSET))
      return true;
    sleep_s(0.002);
  }
  return false;
}

#endif
