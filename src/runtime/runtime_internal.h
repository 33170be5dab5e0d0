/* runtime_internal.h: the library-private side of the runtime, shared by
 * every area: allocation through the user's hook, deadlines on the monotonic
 * clock, futex wrappers for process-shared waiting, descriptor helpers that
 * make every descriptor CLOEXEC and retry EINTR, and this process's identity.
 * Nothing here is exported; names carry the mp__ prefix. */
#ifndef MPROC_RUNTIME_INTERNAL_H
#define MPROC_RUNTIME_INTERNAL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "mproc/runtime.h"

#define MP__UNUSED(x) ((void)(x))
#define MP__LIKELY(x) __builtin_expect(!!(x), 1)
#define MP__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define MP__ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MP__CACHELINE 64

/* ---- Allocation (through mp_set_allocator's hook) ---------------------- */
/* errors.c: records this thread's last error (mp_last_error) and returns
 * code, so a failure with details reads `return mp__error_record(MP_EAUTH,
 * "digest sent was rejected");`. fmt may be NULL (no message). */
int mp__error_record(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void mp__error_record_copy(const mp_error *e);

void *mp__malloc(size_t n);
void *mp__calloc(size_t count, size_t size); /* checks count*size overflow */
void *mp__realloc(void *p, size_t n);
void mp__free(void *p);
/* Whether no allocator hook is set: the memory is libc's (so, for one,
 * madvise advice on it is ours to give). */
bool mp__alloc_is_default(void);
/* A large block already allocated (the last large one freed, kept by
 * mp__free; see alloc.c) of at least n bytes, or NULL: never a fresh
 * allocation, so a caller may ask for a size a peer merely announced. */
void *mp__malloc_cached(size_t n);
char *mp__strdup(const char *s);
void *mp__memdup(const void *p, size_t n);

/* ---- Deadlines ----------------------------------------------------------- */
/* An absolute point on CLOCK_MONOTONIC in nanoseconds; INT64_MAX = never. */
typedef struct mp__deadline {
  int64_t at_ns;
} mp__deadline;

int64_t mp__now_ns(void);
/* Converts a user timeout (MP_FOREVER, >= 0, negative as 0) into a deadline.
 * Returns -EINVAL for NaN. */
int mp__deadline_init(mp__deadline *dl, double timeout);
static inline bool mp__deadline_forever(const mp__deadline *dl) {
  return dl->at_ns == INT64_MAX;
}
/* Nanoseconds left (>= 0), INT64_MAX when forever. */
int64_t mp__deadline_left_ns(const mp__deadline *dl);
static inline bool mp__deadline_passed(const mp__deadline *dl) {
  return mp__deadline_left_ns(dl) == 0;
}
/* Milliseconds for poll(2): -1 when forever, rounded up otherwise. */
int mp__deadline_poll_ms(const mp__deadline *dl);
/* The absolute time as a timespec on CLOCK_MONOTONIC. */
struct timespec mp__deadline_timespec(const mp__deadline *dl);

/* ---- Spinning ---------------------------------------------------------------- */
/* Whether waiters may spin before they sleep: false when the environment
 * says MP_SPIN=0 (read once per process; every spin-then-sleep wait in the
 * library checks it: locks, semaphores, events, conditions, queues,
 * manager calls), so a loaded machine, or a benchmark showing what the
 * speed costs, can have the futex-only path. */
bool mp__spin_allowed(void);

/* ---- Futexes (process-shared: no FUTEX_PRIVATE_FLAG) --------------------- */
/* Sleeps while *addr == val, until woken or the deadline (NULL = forever).
 * Returns 0 when woken or when *addr != val, MP_ETIMEOUT at the deadline.
 * EINTR is absorbed: the caller re-checks its condition and calls again,
 * and the absolute deadline keeps the total wait honest. */
int mp__futex_wait(uint32_t *addr, uint32_t val, const mp__deadline *dl);
/* Wakes up to n waiters (INT32_MAX: all). Returns how many woke. */
int mp__futex_wake(uint32_t *addr, int n);

/* ---- Descriptors ---------------------------------------------------------- */
/* All return -errno on failure, never a descriptor in 0..2 unless the
 * caller passed one, and set CLOEXEC on everything they create. */
int mp__close(int fd); /* close, never retried on EINTR (Linux closes anyway) */
int mp__set_nonblock(int fd, bool on);
int mp__set_cloexec(int fd, bool on);
int mp__dup_cloexec(int fd);
/* Reads or writes exactly n bytes unless EOF/error; retries EINTR and short
 * transfers. read_full returns bytes read (< n only at EOF) or -errno. */
ssize_t mp__read_full(int fd, void *buf, size_t n);
int mp__write_full(int fd, const void *buf, size_t n);
/* poll() one descriptor until events or the deadline; returns revents,
 * 0 at the deadline, or -errno. EINTR restarts with the time left. */
int mp__poll1(int fd, short events, const mp__deadline *dl);
/* Fills buf with n secure random bytes from the kernel. */
int mp__random_bytes(void *buf, size_t n);

/* ---- This process's identity ---------------------------------------------- */
#define MP__AUTHKEY_MAX 256
#define MP__NAME_MAX 256
typedef struct mp__self {
  char name[MP__NAME_MAX];            /* "MainProcess", "Process-1:2", ... */
  unsigned char authkey[MP__AUTHKEY_MAX];
  size_t authkey_len;                 /* 32 random bytes at start */
  bool daemon;                        /* this process is a daemonic child */
  unsigned identity[16];              /* Process-N1:N2:...: the path here */
  int identity_len;
  unsigned child_counter;             /* children created so far: next N */
} mp__self;

/* This process's identity, initialised on first use (thread-safe). The
 * process area rewrites it in a new child. Callers hold no lock: fields
 * are written only at init, in a fresh child, or by explicit setters. */
mp__self *mp__self_get(void);

/* The logger's handler and its context (log.c): a spawned child gets the
 * same handler when it is code it can find and has no context. */
mp_log_handler mp__log_handler(void **ctx);

/* The current process's name for log lines and reprs. */
const char *mp__self_name(void);

#endif
