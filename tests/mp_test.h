/* mp_test.h: what every test program shares: a watchdog that fails a hung
 * test in seconds instead of hanging CI, the skip code, and small helpers.
 *
 * The watchdog makes the test its own process group and, when the alarm
 * fires, kills the whole group with SIGKILL: the hung test and every child
 * it started, so nothing outlives it and ctest sees a failure at once. */
#ifndef MP_TEST_H
#define MP_TEST_H

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
#include <unistd.h>

#include <cmocka.h>

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

#endif
