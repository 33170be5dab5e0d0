/* proc_atexit: a main process that returns from main while it still has
 * children: a daemonic one that would sleep forever and a non-daemonic one
 * that sleeps 300 ms. Prints "pids DAEMON OTHER" and logs at INFO to
 * stderr. test_process_daemon checks that the exit function terminated
 * the first and waited for the second, as Python's _exit_function does.
 * The children use the start method MP_TEST_START_METHOD names (default:
 * fork), as the suite that runs it. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "mproc.h"

static int sleep_forever(void *arg, size_t len) {
  for (;;)
    pause();
  return 0;
}

static int sleep_300ms(void *arg, size_t len) {
  usleep(300 * 1000);
  return 0;
}

int main(void) {
  const char *m = getenv("MP_TEST_START_METHOD");
  if (m && *m && mp_set_start_method(m, true) != 0)
    return 2;
  mp_log_to_stderr(MP_LOG_INFO);
  mp_process_opts d = {.name = "sleeper", .daemon = MP_DAEMON_YES};
  mp_process_opts n = {.name = "worker"};
  mp_process *a = mp_process_new(sleep_forever, NULL, 0, &d);
  mp_process *b = mp_process_new(sleep_300ms, NULL, 0, &n);
  if (!a || !b || mp_process_start(a) < 0 || mp_process_start(b) < 0)
    return 1;
  printf("pids %d %d\n", (int)mp_process_pid(a), (int)mp_process_pid(b));
  fflush(stdout);
  /* Dropped without join, as a Python program may leave them. */
  mp_process_free(a);
  mp_process_free(b);
  return 0;
}
