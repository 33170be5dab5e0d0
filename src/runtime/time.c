/* time.c: deadlines on the monotonic clock and the futex wrappers that wait
 * on them. Absolute deadlines are why EINTR never stretches or cuts a wait:
 * a restarted wait asks for the same end point, not the same duration. */
#include <limits.h>
#include <linux/futex.h>
#include <math.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime_internal.h"

int64_t mp__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

MP_EXPORT double mp_monotonic(void) { return (double)mp__now_ns() / 1e9; }

int mp__deadline_init(mp__deadline *dl, double timeout) {
  if (isnan(timeout)) {
    dl->at_ns = 0;
    return -EINVAL;
  }
  if (timeout < 0)
    timeout = 0;
  /* Anything beyond ~290 years is forever; it also keeps the sum below from
   * overflowing. */
  if (timeout > 9.0e9) {
    dl->at_ns = INT64_MAX;
    return 0;
  }
  dl->at_ns = mp__now_ns() + (int64_t)(timeout * 1e9);
  return 0;
}

int64_t mp__deadline_left_ns(const mp__deadline *dl) {
  if (dl->at_ns == INT64_MAX)
    return INT64_MAX;
  int64_t left = dl->at_ns - mp__now_ns();
  return left > 0 ? left : 0;
}

int mp__deadline_poll_ms(const mp__deadline *dl) {
  int64_t left = mp__deadline_left_ns(dl);
  if (left == INT64_MAX)
    return -1;
  int64_t ms = (left + 999999) / 1000000;
  return ms > INT_MAX ? INT_MAX : (int)ms;
}

struct timespec mp__deadline_timespec(const mp__deadline *dl) {
  struct timespec ts;
  ts.tv_sec = (time_t)(dl->at_ns / 1000000000);
  ts.tv_nsec = (long)(dl->at_ns % 1000000000);
  return ts;
}

int mp__futex_wait(uint32_t *addr, uint32_t val, const mp__deadline *dl) {
  struct timespec ts, *tsp = NULL;
  if (dl && !mp__deadline_forever(dl)) {
    if (mp__deadline_passed(dl))
      return MP_ETIMEOUT;
    ts = mp__deadline_timespec(dl);
    tsp = &ts;
  }
  /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time. */
  long r = syscall(SYS_futex, addr, FUTEX_WAIT_BITSET, val, tsp, NULL,
                   FUTEX_BITSET_MATCH_ANY);
  if (r == 0)
    return 0;
  switch (errno) {
  case ETIMEDOUT:
    return MP_ETIMEOUT;
  case EAGAIN: /* *addr != val */
  case EINTR:
    return 0;
  default:
    return -errno;
  }
}

int mp__futex_wake(uint32_t *addr, int n) {
  long r = syscall(SYS_futex, addr, FUTEX_WAKE, n, NULL, NULL, 0);
  return r < 0 ? -errno : (int)r;
}
