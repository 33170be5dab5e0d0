/* lock.c: Lock and RLock: a 64-bit word in shared memory holding the
 * owner's identity (see sync_internal.h), taken with one CAS and released
 * with another; no system call unless someone sleeps.
 *
 * Contention: spin briefly, then set the WAITERS flag and sleep on the
 * futex (the word's low half) in slices that grow from 1 ms to 50 ms.
 * After each slice without a wake-up the waiter checks the owner's
 * liveness, and takes the lock from a dead owner with a CAS from the exact
 * word it saw (so two waiters cannot both take it, and a live owner's
 * release is never overwritten). The taker's word carries DIED until
 * mp_lock_consistent(); a release with DIED still set stores NOTREC
 * instead of 0, and every acquire sees that and fails.
 *
 * Why not a glibc robust mutex: Python's Lock may be released by another
 * process than the one that acquired it, which a robust mutex forbids,
 * and the kernel's robust list is per thread, owned by glibc. One design
 * serves Lock and RLock; an RLock's owner is a thread (its tid), a Lock's a
 * process (its pid). */
#include <math.h>
#include <string.h>

#include "sync_internal.h"

#define SPIN 100
#define SLICE_MIN_NS 1000000
#define SLICE_MAX_NS 50000000

static inline uint64_t owner_of(uint64_t w) { return w & ~MP__OWNER_FLAGS; }

static inline uint64_t me_for(const mp__lock_shm *s) {
  return s->kind ? mp__ident_thread() : mp__ident_process();
}

static inline bool cas(uint64_t *p, uint64_t *expect, uint64_t val) {
  return __atomic_compare_exchange_n(p, expect, val, false, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED);
}

void mp__lock_shm_init(mp__lock_shm *s, bool recursive) {
  s->kind = recursive ? 1 : 0;
  s->count = 0;
  __atomic_store_n(&s->word, 0, __ATOMIC_RELEASE);
}

/* Takes the lock from its dead owner if the word is still w. */
static int take_from_dead(mp__lock_shm *s, uint64_t w, uint64_t me) {
  if (mp__ident_alive(owner_of(w)))
    return 1;
  if (!cas(&s->word, &w, me | MP__OWNER_WAITERS | MP__OWNER_DIED))
    return 1;
  return MP_EOWNERDEAD;
}

static int acquire_slow(mp__lock_shm *s, uint64_t me, const mp__deadline *dl) {
  uint32_t *fw = mp__lock_futex(s);
  bool polling = dl && mp__deadline_passed(dl);
  for (int i = 0, n = mp__spin_count(SPIN); i < n && !polling; i++) {
    uint64_t w = __atomic_load_n(&s->word, __ATOMIC_RELAXED);
    if (w == 0 && cas(&s->word, &w, me))
      return 0;
    mp__cpu_relax();
  }
  int64_t slice = SLICE_MIN_NS;
  for (;;) {
    uint64_t w = __atomic_load_n(&s->word, __ATOMIC_RELAXED);
    if (w == 0) {
      /* Others may sleep: keep WAITERS so our release wakes them. */
      if (cas(&s->word, &w, me | MP__OWNER_WAITERS))
        return 0;
      continue;
    }
    if ((uint32_t)w == MP__OWNER_NOTREC)
      return MP_ENOTRECOVERABLE;
    if (polling) {
      int r = take_from_dead(s, w, me);
      if (r <= 0)
        return r;
      if (__atomic_load_n(&s->word, __ATOMIC_RELAXED) == w)
        return MP_ETIMEOUT;
      continue;
    }
    if (!(w & MP__OWNER_WAITERS)) {
      uint64_t nw = w | MP__OWNER_WAITERS;
      if (!__atomic_compare_exchange_n(&s->word, &w, nw, false, __ATOMIC_RELAXED,
                                       __ATOMIC_RELAXED))
        continue;
      w = nw;
    }
    mp__deadline sl = mp__slice_deadline(dl, slice);
    int r = mp__futex_wait(fw, (uint32_t)w, &sl);
    if (r == MP_ETIMEOUT) {
      /* A slice (or the caller's time) passed without a wake-up. */
      if (__atomic_load_n(&s->word, __ATOMIC_RELAXED) == w) {
        r = take_from_dead(s, w, me);
        if (r <= 0)
          return r;
      }
      if (dl && mp__deadline_passed(dl))
        polling = true; /* one last try, then MP_ETIMEOUT */
      slice = slice * 2 > SLICE_MAX_NS ? SLICE_MAX_NS : slice * 2;
    } else if (r < 0) {
      return r;
    }
  }
}

int mp__lock_shm_acquire(mp__lock_shm *s, const mp__deadline *dl) {
  uint64_t me = me_for(s);
  uint64_t w = 0;
  if (cas(&s->word, &w, me)) {
    if (s->kind)
      s->count = 1;
    return 0;
  }
  if (s->kind && owner_of(w) == me) {
    if (s->count == UINT32_MAX)
      return -EOVERFLOW;
    s->count++;
    return 0;
  }
  int r = acquire_slow(s, me, dl);
  if (s->kind && (r == 0 || r == MP_EOWNERDEAD))
    s->count = 1;
  return r;
}

/* Lets go of the word: 0 for a consistent lock, NOTREC for one whose
 * owner died and nobody repaired; wakes sleepers. */
static void unlock_word(mp__lock_shm *s, uint64_t w) {
  uint64_t nw;
  do
    nw = (w & MP__OWNER_DIED) ? MP__OWNER_NOTREC : 0;
  while (!__atomic_compare_exchange_n(&s->word, &w, nw, false, __ATOMIC_RELEASE,
                                      __ATOMIC_RELAXED));
  if (nw)
    mp__futex_wake(mp__lock_futex(s), INT32_MAX);
  else if (w & MP__OWNER_WAITERS)
    mp__futex_wake(mp__lock_futex(s), 1);
}

int mp__lock_shm_release(mp__lock_shm *s) {
  uint64_t w = __atomic_load_n(&s->word, __ATOMIC_RELAXED);
  if (s->kind) {
    if (w == 0 || owner_of(w) != mp__ident_thread())
      return MP_ENOTOWNER;
    if (s->count > 1) {
      s->count--;
      return 0;
    }
    s->count = 0;
  } else {
    /* Any process may release a Lock, as in CPython. */
    if (w == 0 || (uint32_t)w == MP__OWNER_NOTREC)
      return MP_EVALUE;
  }
  unlock_word(s, w);
  return 0;
}

bool mp__lock_shm_mine(const mp__lock_shm *s) {
  uint64_t w = __atomic_load_n(&s->word, __ATOMIC_RELAXED);
  return w != 0 && (uint32_t)w != MP__OWNER_NOTREC && owner_of(w) == me_for(s);
}

int mp__lock_shm_release_all(mp__lock_shm *s) {
  if (!mp__lock_shm_mine(s))
    return MP_ENOTOWNER;
  int depth = s->kind ? (int)(s->count > INT32_MAX ? INT32_MAX : s->count) : 1;
  s->count = 0;
  unlock_word(s, __atomic_load_n(&s->word, __ATOMIC_RELAXED));
  return depth;
}

int mp__lock_shm_reacquire(mp__lock_shm *s, int depth) {
  int r = mp__lock_shm_acquire(s, NULL);
  if (s->kind && (r == 0 || r == MP_EOWNERDEAD))
    s->count = (uint32_t)depth;
  return r;
}

/* ---- the public wrapper ------------------------------------------------- */

MP_EXPORT size_t mp_lock_memsize(void) { return sizeof(mp__lock_shm); }

static mp_lock *lock_new(bool recursive) {
  mp_lock *l = mp__sync_new(sizeof *l, sizeof(mp__lock_shm), MP_TYPE_LOCK);
  if (l)
    mp__lock_shm_init(l->o.mem, recursive);
  return l;
}

MP_EXPORT mp_lock *mp_lock_new(void) { return lock_new(false); }
MP_EXPORT mp_lock *mp_rlock_new(void) { return lock_new(true); }

MP_EXPORT mp_lock *mp_lock_init(void *mem, bool recursive) {
  mp_lock *l = mp__sync_wrap(sizeof *l, mem);
  if (l)
    mp__lock_shm_init(mem, recursive);
  return l;
}

MP_EXPORT mp_lock *mp_lock_attach(void *mem) { return mp__sync_wrap(sizeof(mp_lock), mem); }

MP_EXPORT void *mp_lock_mem(const mp_lock *lock) { return lock ? lock->o.mem : NULL; }

MP_EXPORT int mp_lock_acquire(mp_lock *lock, double timeout) {
  /* Arguments before the fast path: a NaN must not take a free lock. */
  if (!lock || isnan(timeout))
    return -EINVAL;
  mp__lock_shm *s = lock->o.mem;
  if (MP__LIKELY(s->kind == 0)) {
    uint64_t w = 0;
    if (MP__LIKELY(cas(&s->word, &w, mp__ident_process())))
      return 0;
  }
  mp__deadline dl;
  int r = mp__deadline_init(&dl, timeout);
  return r < 0 ? r : mp__lock_shm_acquire(s, &dl);
}

MP_EXPORT int mp_lock_release(mp_lock *lock) {
  if (!lock)
    return -EINVAL;
  mp__lock_shm *s = lock->o.mem;
  if (MP__LIKELY(s->kind == 0)) {
    uint64_t w = __atomic_load_n(&s->word, __ATOMIC_RELAXED);
    if (MP__LIKELY(w != 0 && !(w & MP__OWNER_FLAGS)) &&
        __atomic_compare_exchange_n(&s->word, &w, 0, false, __ATOMIC_RELEASE,
                                    __ATOMIC_RELAXED))
      return 0;
  }
  return mp__lock_shm_release(s);
}

MP_EXPORT int mp_lock_consistent(mp_lock *lock) {
  if (!lock)
    return -EINVAL;
  mp__lock_shm *s = lock->o.mem;
  uint64_t w = __atomic_load_n(&s->word, __ATOMIC_RELAXED);
  if (!mp__lock_shm_mine(s))
    return MP_ENOTOWNER;
  if (!(w & MP__OWNER_DIED))
    return MP_ESTATE;
  __atomic_fetch_and(&s->word, ~(uint64_t)MP__OWNER_DIED, __ATOMIC_RELEASE);
  return 0;
}

MP_EXPORT bool mp_lock_locked(const mp_lock *lock) {
  if (!lock)
    return false;
  uint64_t w = __atomic_load_n(&((mp__lock_shm *)lock->o.mem)->word, __ATOMIC_RELAXED);
  return w != 0;
}

MP_EXPORT bool mp_lock_is_mine(const mp_lock *lock) {
  return lock && mp__lock_shm_mine(lock->o.mem);
}

MP_EXPORT bool mp_lock_is_recursive(const mp_lock *lock) {
  return lock && ((mp__lock_shm *)lock->o.mem)->kind != 0;
}

MP_EXPORT int mp_lock_handle(const mp_lock *lock, mp_handle *h) {
  return mp__sync_handle(lock ? &lock->o : NULL, MP_TYPE_LOCK, h);
}

MP_EXPORT mp_lock *mp_lock_open(const mp_handle *h) {
  return mp__sync_open1(sizeof(mp_lock), h, MP_TYPE_LOCK, sizeof(mp__lock_shm));
}

MP_EXPORT void mp_lock_free(mp_lock *lock) { mp__sync_free(lock); }
