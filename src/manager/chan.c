/* chan.c: how the two ends of a shared-memory call channel wait for each
 * other. The client waits for the reply to its request; the server thread
 * serving the channel waits for the next request. Each wait spins first
 * (the peer is running on the other CPU and answers within microseconds),
 * then sleeps on the futex in slices that check the peer is still there.
 *
 * Why spin: on this kind of machine (a VM, two vCPUs) waking a sleeping
 * thread on another CPU costs 5 us on a good day and 40-300 us on a bad one,
 * and a call that sleeps on both sides pays that twice: as much as a socket
 * round trip. A spin that catches the peer costs well under a microsecond.
 *
 * The policy (the numbers and why: docs/design-notes.md, "Managers"):
 * - Spin with a pause instruction, no system call, up to the waiter's
 *   window; then sleep. (No sched_yield between looks: with two busy
 *   threads it cost 40-130 us a call against 10-20 us for sleeping.)
 * - No spin while more threads are runnable than there are CPUs
 *   (/proc/loadavg, read at most once a millisecond).
 * - A spin that got preempted (a long gap between two looks, or a
 *   sched_yield that gave the CPU away) means the machine is busier than
 *   it has CPUs: spinning then takes CPU from the very peer we wait for,
 *   so stop at once and sleep, and count it as a failure.
 * - A spin that ends in sleep while the peer was awake (we did not have to
 *   wake it) is a failure: the peer is doing something slow (a blocking
 *   method, a client thinking between calls). After two failures in a
 *   row, later waits skip the spin (4, 8, ... up to 256 waits) and then
 *   try one spin again; one caught spin restores spinning. A spin that ends
 *   in sleep because our own post had to wake the peer is no failure: the
 *   wake-up is what took long, and the peer, awake now, will be quick.
 * - At most max(1, CPUs - 1) threads of a process spin at once per role,
 *   so the spinners never take every CPU; one CPU: never spin.
 * An idle channel therefore costs nothing: the spin after the last call
 * ends within its window, and then the waiter sleeps in the kernel. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "manager/manager_internal.h"

/* A gap this long between two looks means we were not running. */
#define PREEMPTED_NS (30 * 1000)
#define LOAD_EVERY_NS (1000 * 1000)
#define SKIP_MAX 256

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield");
#endif
}

static int g_ncpu;
static int64_t g_spin_env = -2; /* -2 unread, -1 unset */

int64_t mp__mgr_spin_ns(int64_t want) {
  if (!g_ncpu)
    g_ncpu = mp_cpu_count_usable();
  if (g_spin_env == -2) {
    const char *e = getenv("MP_MGR_SPIN_NS");
    g_spin_env = e && *e ? atoll(e) : -1;
    if (g_spin_env < -1)
      g_spin_env = 0;
  }
  if (g_spin_env >= 0)
    return g_spin_env;
  return g_ncpu > 1 && mp__spin_allowed() ? want : 0;
}

int mp__mgr_max_spinners(void) {
  if (!g_ncpu)
    g_ncpu = mp_cpu_count_usable();
  return g_ncpu > 2 ? g_ncpu - 1 : 1;
}

enum { SPIN_CAUGHT, SPIN_TIMEOUT, SPIN_PREEMPTED };

static int spin(uint32_t *word, uint32_t seen, int64_t spin_ns) {
  int64_t start = mp__now_ns(), last = start, until = start + spin_ns;
  for (unsigned i = 1;; i++) {
    cpu_relax();
    if (__atomic_load_n(word, __ATOMIC_ACQUIRE) != seen)
      return SPIN_CAUGHT;
    if (i & 31)
      continue;
    int64_t now = mp__now_ns();
    if (now - last > PREEMPTED_NS)
      return SPIN_PREEMPTED;
    if (now >= until)
      return SPIN_TIMEOUT;
    last = now;
  }
}

/* Whether more threads are runnable than there are CPUs: then a spinner
 * holds a CPU someone is queueing for (maybe the peer), and sleeping is
 * faster. From /proc/loadavg's "runnable/total" field, read at most once
 * per LOAD_EVERY_NS per process (about 2 us a read). No /proc: never busy
 * (preemption detection in spin() still stops a spinner). */
static int g_load_fd = -2;
static int64_t g_load_at;
static bool g_load_busy;

static bool machine_busy(void) {
  int64_t now = mp__now_ns();
  int64_t at = __atomic_load_n(&g_load_at, __ATOMIC_RELAXED);
  if (now - at < LOAD_EVERY_NS ||
      !__atomic_compare_exchange_n(&g_load_at, &at, now, false,
                                   __ATOMIC_RELAXED, __ATOMIC_RELAXED))
    return __atomic_load_n(&g_load_busy, __ATOMIC_RELAXED);
  /* Only the thread that moved g_load_at reads (and opens) the file. */
  if (g_load_fd == -2)
    g_load_fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
  char b[128];
  ssize_t n = g_load_fd >= 0 ? pread(g_load_fd, b, sizeof b - 1, 0) : -1;
  bool busy = false;
  if (n > 0) {
    b[n] = 0;
    /* "0.50 0.40 0.30 3/120 4567": the runnable count follows the third
     * space. */
    const char *p = b;
    for (int sp = 0; *p && sp < 3; p++)
      sp += *p == ' ';
    busy = atol(p) > g_ncpu;
  }
  __atomic_store_n(&g_load_busy, busy, __ATOMIC_RELAXED);
  return busy;
}

/* Whether to spin this time, by the waiter's record. */
static bool spin_wanted(mgr_waiter *w) {
  if (w->spin_ns <= 0)
    return false;
  if (w->skip > 0) {
    w->skip--;
    return false;
  }
  return !machine_busy();
}

static void spin_failed(mgr_waiter *w) {
  w->fails++;
  if (w->fails >= 2) {
    int sh = w->fails < 9 ? w->fails : 8;
    w->skip = 1 << sh;
    if (w->skip > SKIP_MAX)
      w->skip = SKIP_MAX;
  }
}

int mp__mgr_chan_wait(mgr_waiter *w, uint32_t *word, uint32_t seen,
                      uint32_t *sleeping) {
  if (__atomic_load_n(word, __ATOMIC_ACQUIRE) != seen)
    return 0;
  if (spin_wanted(w)) {
    int r = SPIN_TIMEOUT;
    int *n = w->spinners;
    if (!n || __atomic_add_fetch(n, 1, __ATOMIC_RELAXED) <= w->max_spinners)
      r = spin(word, seen, w->spin_ns);
    if (n)
      __atomic_sub_fetch(n, 1, __ATOMIC_RELAXED);
    if (r == SPIN_CAUGHT) {
      w->fails = 0;
      return 0;
    }
    if (r == SPIN_PREEMPTED || !w->woke_peer)
      spin_failed(w);
  }
  for (;;) {
    /* S1 pairs with P1: either we see the new value, or the poster sees
     * *sleeping set and wakes us. */
    __atomic_store_n(sleeping, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(word, __ATOMIC_SEQ_CST) != seen) {
      __atomic_store_n(sleeping, 0, __ATOMIC_RELAXED);
      return 0;
    }
    mp__deadline dl = {.at_ns = mp__now_ns() + w->slice_ns};
    mp__futex_wait(word, seen, &dl);
    __atomic_store_n(sleeping, 0, __ATOMIC_RELAXED);
    if (__atomic_load_n(word, __ATOMIC_ACQUIRE) != seen)
      return 0;
    /* After a slice, or a wake-up that brought nothing (a stopping
     * server wakes its waiters): is the peer still there? */
    if (w->alive) {
      int a = w->alive(w->ctx);
      if (a < 0)
        return a;
    }
  }
}

void mp__mgr_chan_post(mgr_waiter *w, uint32_t *word, uint32_t val,
                       uint32_t *sleeping) {
  __atomic_store_n(word, val, __ATOMIC_SEQ_CST); /* P1 */
  w->woke_peer = __atomic_load_n(sleeping, __ATOMIC_SEQ_CST) != 0;
  if (w->woke_peer)
    mp__futex_wake(word, 1);
}
