/* pool_test_tasks.h: tasks the pool's test programs share: square, the
 * reference's 1 / (x - 5) that fails at 5, and an upper-casing echo of any
 * size. They report only through results and codes (they run in workers,
 * spawned ones included). */
#ifndef POOL_TEST_TASKS_H
#define POOL_TEST_TASKS_H

#include "mproc.h"

#define POOL_TEST_TASK static __attribute__((unused))

POOL_TEST_TASK int square(const void *arg, size_t len, mp_task_out *out) {
  (void)len;
  int x = *(const int *)arg;
  int y = x * x;
  return mp_task_out_set(out, &y, sizeof y);
}

/* Python's f(x) = 1.0 / (x - 5.0): fails at x == 5. */
POOL_TEST_TASK int inv(const void *arg, size_t len, mp_task_out *out) {
  (void)len;
  int x = *(const int *)arg;
  if (x == 5)
    return mp_task_fail(out, 1, "ZeroDivisionError: float division by zero");
  double y = 1.0 / (x - 5.0);
  return mp_task_out_set(out, &y, sizeof y);
}

POOL_TEST_TASK int echo_upper(const void *arg, size_t len, mp_task_out *out) {
  char *buf = mp_task_out_alloc(out, len);
  if (!buf && len)
    return -1;
  for (size_t i = 0; i < len; i++) {
    char c = ((const char *)arg)[i];
    buf[i] = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
  }
  return 0;
}

#endif
