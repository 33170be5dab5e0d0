/* sync_internal.h: the shared-memory layouts of the synchronization
 * objects and the raw operations on them, for the sync sources and for
 * other areas that embed a lock or a condition in their own shared
 * structures (they call these on the memory directly, no wrapper needed).
 *
 * Owner identity. A lock's word is 64 bits: the low 32 hold the owner's
 * id (a pid for Lock, a kernel thread id for RLock; both < 2^30) and two
 * flags, the high 32 a nonce: the low 32 bits of the owner's start time in
 * clock ticks (/proc/<id>/stat field 22). Taking a lock is one CAS of the
 * whole word, so the owner is known the instant the lock is held. A waiter
 * that sleeps too long checks the owner: gone, a zombie, or the id now
 * belonging to a process with another start time (pid reuse) all mean dead.
 * The futex is the low 32-bit half (little-endian). */
#ifndef MPROC_SYNC_INTERNAL_H
#define MPROC_SYNC_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h> /* runtime_internal.h uses ssize_t */

#include "mproc/sync.h"
#include "runtime/runtime_internal.h"
#include "shm/shm_internal.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "the futex is the low half of a 64-bit lock word");

#define MP__OWNER_WAITERS 0x80000000u /* someone may sleep on the futex */
#define MP__OWNER_DIED 0x40000000u    /* taken from a dead owner; not yet consistent */
#define MP__OWNER_IDMASK 0x3fffffffu
#define MP__OWNER_NOTREC 0x3fffffffu  /* the whole word: not recoverable */
#define MP__OWNER_FLAGS ((uint64_t)(MP__OWNER_WAITERS | MP__OWNER_DIED))

/* ---- identity (ident.c) --------------------------------------------------- */

/* Thread-locals read on every lock operation: initial-exec, a plain %fs
 * load instead of a __tls_get_addr call per access in the shared library
 * (the few bytes fit glibc's static TLS surplus even when dlopen'ed). */
#define MP__TLS_IE __attribute__((tls_model("initial-exec")))

extern uint32_t mp__ident_gen;           /* bumped in every fork child */
extern uint32_t mp__ident_proc_gen;
extern uint64_t mp__ident_proc;
extern __thread uint32_t mp__ident_thr_gen MP__TLS_IE;
extern __thread uint64_t mp__ident_thr MP__TLS_IE;
uint64_t mp__ident_refresh_process(void);
uint64_t mp__ident_refresh_thread(void);

/* This process's identity word (pid | nonce << 32); no system call once
 * known. */
static inline uint64_t mp__ident_process(void) {
  uint32_t gen = __atomic_load_n(&mp__ident_gen, __ATOMIC_RELAXED);
  if (MP__LIKELY(__atomic_load_n(&mp__ident_proc_gen, __ATOMIC_ACQUIRE) == gen))
    return mp__ident_proc;
  return mp__ident_refresh_process();
}

/* This thread's identity word (tid | nonce << 32). */
static inline uint64_t mp__ident_thread(void) {
  if (MP__LIKELY(mp__ident_thr_gen == __atomic_load_n(&mp__ident_gen, __ATOMIC_RELAXED)))
    return mp__ident_thr;
  return mp__ident_refresh_thread();
}

/* false when the process or thread `ident` names has surely ended (gone,
 * zombie, or its id reused by another); true otherwise. A few system calls
 * (/proc/<id>/stat); for waiters that have slept a while. */
bool mp__ident_alive(uint64_t ident);

static inline void mp__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

/* How many times to spin before sleeping, scaled from `full`: 0 when this
 * process may run on one CPU only (the one that would end our wait cannot
 * run while we spin). Cached; recomputed in fork children. */
extern uint32_t mp__spin_gen;
extern int mp__spin_ok;
int mp__spin_refresh(void);
static inline int mp__spin_count(int full) {
  if (MP__UNLIKELY(__atomic_load_n(&mp__spin_gen, __ATOMIC_ACQUIRE) !=
                   __atomic_load_n(&mp__ident_gen, __ATOMIC_RELAXED)))
    mp__spin_refresh();
  return mp__spin_ok ? full : 0;
}

/* Spins while *addr == val, for at most about max_ns nanoseconds (none on
 * one CPU). Returns true when the word changed. Bounded by time, not by
 * iterations: a pause costs 10 to 140 cycles depending on the CPU. And
 * adaptive, per thread: a spin that ends without the change halves the
 * next one's budget, a successful one doubles it. On a quiet machine the
 * partner answers within a microsecond and every spin succeeds; on a
 * loaded one the partner is often not running, spinning only takes the CPU
 * it needs, and the budget quickly falls to almost nothing. When even the
 * smallest spin keeps failing (more runnable processes than CPUs: at load
 * 17 on 2 CPUs an Event ping-pong took 13 us with it, 2 us without), the
 * next waits skip it (4, 8, ... 256 of them) before one tries again. */
extern __thread int64_t mp__spin_budget_ns MP__TLS_IE;
extern __thread int mp__spin_fails MP__TLS_IE, mp__spin_skip MP__TLS_IE;
static inline bool mp__spin_while_eq(const uint32_t *addr, uint32_t val, int64_t max_ns) {
  if (!mp__spin_count(1))
    return false;
  if (mp__spin_skip > 0) {
    mp__spin_skip--;
    return false;
  }
  int64_t budget = mp__spin_budget_ns;
  if (budget <= 0 || budget > max_ns)
    budget = max_ns;
  int64_t end = 0;
  for (uint32_t i = 1;; i++) {
    if (__atomic_load_n(addr, __ATOMIC_ACQUIRE) != val) {
      mp__spin_budget_ns = budget * 2 > max_ns ? max_ns : budget * 2;
      mp__spin_fails = 0;
      return true;
    }
    mp__cpu_relax();
    if ((i & 31) == 0) {
      int64_t now = mp__now_ns();
      if (!end) {
        end = now + budget;
      } else if (now >= end) {
        mp__spin_budget_ns = budget / 2 < 500 ? 500 : budget / 2;
        if (budget <= 500 && ++mp__spin_fails >= 2)
          mp__spin_skip = 4 << (mp__spin_fails - 2 < 6 ? mp__spin_fails - 2 : 6);
        return false;
      }
    }
  }
}

/* The deadline of one sleep: the caller's, or `slice` ns from now if that
 * comes first. */
mp__deadline mp__slice_deadline(const mp__deadline *dl, int64_t slice_ns);

/* ---- Lock and RLock ------------------------------------------------------- */

typedef struct mp__lock_shm {
  uint64_t word;  /* 0 unlocked; owner ident | flags; MP__OWNER_NOTREC */
  uint32_t kind;  /* 0 Lock, 1 RLock */
  uint32_t count; /* RLock: recursion depth, touched by the owner only */
} mp__lock_shm;

static inline uint32_t *mp__lock_futex(mp__lock_shm *s) { return (uint32_t *)&s->word; }

void mp__lock_shm_init(mp__lock_shm *s, bool recursive);
/* Acquires: 0, MP_EOWNERDEAD (acquired), MP_ETIMEOUT, MP_ENOTRECOVERABLE,
 * -EOVERFLOW (RLock depth). dl NULL: forever. */
int mp__lock_shm_acquire(mp__lock_shm *s, const mp__deadline *dl);
/* 0, MP_EVALUE (Lock not held), MP_ENOTOWNER (RLock not ours). */
int mp__lock_shm_release(mp__lock_shm *s);
/* Held by this thread (RLock) or this process (Lock). */
bool mp__lock_shm_mine(const mp__lock_shm *s);

/* For Condition.wait: releases an RLock completely (or a Lock) and returns
 * the depth to restore, or a negative code when the caller does not hold
 * it (MP_ENOTOWNER). */
int mp__lock_shm_release_all(mp__lock_shm *s);
/* Reacquires and restores the depth: 0 or MP_EOWNERDEAD, ... */
int mp__lock_shm_reacquire(mp__lock_shm *s, int depth);

/* ---- wrappers (object.c) ----------------------------------------------------
 * Every public object is a private wrapper that starts with this. */
typedef struct mp__sync_obj {
  mp__shm_ref ref; /* zeroed when the memory is the caller's */
  void *mem;       /* the shared state */
} mp__sync_obj;

/* A wrapper of wsize bytes over a new zeroed block of memsize bytes (NULL
 * with errno set). */
void *mp__sync_new(size_t wsize, size_t memsize, uint32_t type);
/* A wrapper over caller memory (NULL with errno EINVAL / ENOMEM). */
void *mp__sync_wrap(size_t wsize, void *mem);
/* A wrapper over the block a part names. */
void *mp__sync_open(size_t wsize, const mp_handle_part *part, uint32_t type, size_t memsize);
/* Fills part for the wrapper's block: 0 or MP_ENOTSUP (caller memory). */
int mp__sync_part(const mp__sync_obj *o, mp_handle_part *part);
/* A one-part handle. */
int mp__sync_handle(const mp__sync_obj *o, uint32_t type, mp_handle *h);
/* The block the handle's only part names, for the one-block types. */
void *mp__sync_open1(size_t wsize, const mp_handle *h, uint32_t type, size_t memsize);
/* Drops the reference (if any) and frees the wrapper; NULL does nothing. */
void mp__sync_free(void *wrapper);

struct mp_lock {
  mp__sync_obj o;
};

/* ---- Condition (used by Barrier too) -------------------------------------- */

typedef struct mp__cond_shm {
  uint32_t seq;      /* futex: bumped by every notify that grants wake-ups */
  uint32_t sleepers; /* in the futex wait or about to be */
  uint32_t tickets;  /* waits begun so far: each wait's ticket */
  uint32_t limit;    /* waits with a ticket before this may take a wake-up */
  uint64_t state;    /* waits registered (high 32 bits), wake-ups granted
                      * and not yet taken (low 32 bits) */
} mp__cond_shm;

/* Waits for a notify with the lock held; the lock is released while
 * sleeping and held again on return, whatever the result: 0 (notified),
 * MP_ETIMEOUT, MP_EOWNERDEAD (reacquired from a dead owner), MP_ENOTOWNER
 * (lock not held: nothing done). A sleep lasts at most slice_ns when
 * slice_ns > 0, then 1 is returned: Barrier uses it to check on its
 * participants. A wait ends with 0 only by taking a wake-up a notify
 * granted while it waited: never spuriously. */
int mp__cond_shm_wait(mp__cond_shm *c, mp__lock_shm *lock, const mp__deadline *dl,
                      int64_t slice_ns);
/* Grants n wake-ups (INT32_MAX: all), at most one per wait registered now
 * and not yet granted one, and wakes as many sleepers. Call it with the
 * lock held. */
void mp__cond_shm_notify(mp__cond_shm *c, int n);

#endif
