/* condition.c: Condition, over a Lock or RLock, with Python's exact
 * semantics: notify(n) ends at most n waits, only waits that began before
 * it, and a wait never ends without a notify (no spurious wake-ups).
 *
 * Waits and notifies both run with the lock held, so a notify knows
 * exactly which waits have begun: each wait registers under the lock (a
 * ticket, and one more in the count of registered waits) before it lets
 * the lock go. notify(n) grants k = min(n, registered - already granted)
 * wake-ups, allows every ticket issued so far to take one (limit), bumps
 * the futex word and wakes k sleepers. A waiter ends its wait only by
 * taking a granted wake-up (one atomic step leaves the count and takes
 * the grant); a wait that began after the notify has a ticket past the
 * limit and cannot steal a wake-up meant for an earlier one. A waiter
 * whose timeout ends its sleep takes the lock back and then, under the
 * lock, either takes a wake-up granted meanwhile (the notify won: 0) or
 * leaves the count (MP_ETIMEOUT), so no grant is ever lost.
 * Caveat: a waiter killed while waiting stays counted; a wake-up granted
 * to it goes to a later waiter instead (after a later notify).
 *
 * A waiter spins briefly before it sleeps. The condition's private wrapper
 * holds the lock's: the two may live in different segments, so the shared
 * part cannot point at the lock (each process maps segments at its own
 * addresses). */
#include <math.h>

#include "sync_internal.h"

#define COND_SPIN_NS 20000
#define ONE_WAIT ((uint64_t)1 << 32)

struct mp_condition {
  mp__sync_obj o;
  mp_lock *lock;
  bool owns_lock;
};

/* Whether the wait with ticket t began before the last notify. */
static bool eligible(const mp__cond_shm *c, uint32_t t) {
  return (int32_t)(t - __atomic_load_n(&c->limit, __ATOMIC_ACQUIRE)) < 0;
}

/* Takes a granted wake-up, if any, leaving the registered waits. */
static bool take(mp__cond_shm *c) {
  uint64_t s = __atomic_load_n(&c->state, __ATOMIC_ACQUIRE);
  while ((uint32_t)s != 0)
    if (__atomic_compare_exchange_n(&c->state, &s, s - ONE_WAIT - 1, true,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
      return true;
  return false;
}

int mp__cond_shm_wait(mp__cond_shm *c, mp__lock_shm *lock, const mp__deadline *dl,
                      int64_t slice_ns) {
  if (!mp__lock_shm_mine(lock))
    return MP_ENOTOWNER;
  uint32_t t = __atomic_fetch_add(&c->tickets, 1, __ATOMIC_RELAXED);
  __atomic_fetch_add(&c->state, ONE_WAIT, __ATOMIC_ACQ_REL);
  /* Read before every attempt to take: a notify grants, then bumps seq,
   * so a grant we miss has moved seq and the sleep returns at once. */
  uint32_t seq = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE);
  int depth = mp__lock_shm_release_all(lock);
  mp__deadline sl;
  const mp__deadline *until = dl;
  if (slice_ns > 0) {
    sl = mp__slice_deadline(dl, slice_ns);
    until = &sl;
  }
  int r;
  bool spun = false;
  for (;;) {
    if (eligible(c, t) && take(c)) {
      r = 0;
      break;
    }
    /* A short spin first: a notify that comes within microseconds (a
     * Barrier's other party, a busy producer) then costs no sleep and no
     * wake-up call, as we are not counted among the sleepers yet. */
    if (!spun) {
      spun = true;
      if (mp__spin_while_eq(&c->seq, seq, COND_SPIN_NS)) {
        seq = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE);
        continue;
      }
    }
    /* Counted before the futex compares seq, and notify bumps seq before
     * reading the count: one of the two sees the other. */
    __atomic_fetch_add(&c->sleepers, 1, __ATOMIC_SEQ_CST);
    r = mp__futex_wait(&c->seq, seq, until);
    __atomic_fetch_sub(&c->sleepers, 1, __ATOMIC_RELAXED);
    if (r == MP_ETIMEOUT) {
      r = slice_ns > 0 && !(dl && mp__deadline_passed(dl)) ? 1 : MP_ETIMEOUT;
      break;
    }
    seq = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE);
  }
  int r2 = mp__lock_shm_reacquire(lock, depth);
  if (r != 0) {
    /* Under the lock, no notify runs: take what one granted while we
     * were timing out, or leave the count for good. */
    if (eligible(c, t) && take(c))
      r = 0;
    else
      __atomic_fetch_sub(&c->state, ONE_WAIT, __ATOMIC_ACQ_REL);
  }
  return r2 < 0 ? r2 : r;
}

void mp__cond_shm_notify(mp__cond_shm *c, int n) {
  if (n <= 0)
    return;
  /* Every wait registered so far may take what this grants. */
  __atomic_store_n(&c->limit, __atomic_load_n(&c->tickets, __ATOMIC_RELAXED),
                   __ATOMIC_RELEASE);
  uint64_t s = __atomic_load_n(&c->state, __ATOMIC_ACQUIRE);
  uint32_t k;
  do {
    uint32_t waits = (uint32_t)(s >> 32), granted = (uint32_t)s;
    k = waits > granted ? waits - granted : 0;
    if ((uint32_t)n < k)
      k = (uint32_t)n;
    if (k == 0)
      return;
  } while (!__atomic_compare_exchange_n(&c->state, &s, s + k, true, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE));
  __atomic_fetch_add(&c->seq, 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&c->sleepers, __ATOMIC_SEQ_CST))
    mp__futex_wake(&c->seq, (int)k);
}

static mp__lock_shm *lock_shm(const mp_condition *c) { return mp_lock_mem(c->lock); }

MP_EXPORT mp_lock *mp_condition_get_lock(const mp_condition *c) { return c ? c->lock : NULL; }

MP_EXPORT int mp_condition_acquire(mp_condition *c, double timeout) {
  return c ? mp_lock_acquire(c->lock, timeout) : -EINVAL;
}

MP_EXPORT int mp_condition_release(mp_condition *c) {
  return c ? mp_lock_release(c->lock) : -EINVAL;
}

MP_EXPORT int mp_condition_wait(mp_condition *c, double timeout) {
  if (!c)
    return -EINVAL;
  mp__deadline dl;
  int r = mp__deadline_init(&dl, timeout);
  return r < 0 ? r : mp__cond_shm_wait(c->o.mem, lock_shm(c), &dl, 0);
}

MP_EXPORT int mp_condition_wait_for(mp_condition *c, bool (*pred)(void *arg), void *arg,
                                    double timeout) {
  if (!c || !pred)
    return -EINVAL;
  mp__deadline dl;
  int r = mp__deadline_init(&dl, timeout);
  if (r < 0)
    return r;
  if (!mp__lock_shm_mine(lock_shm(c)))
    return MP_ENOTOWNER;
  while (!pred(arg)) {
    if (mp__deadline_passed(&dl))
      return MP_ETIMEOUT;
    r = mp__cond_shm_wait(c->o.mem, lock_shm(c), &dl, 0);
    if (r < 0 && r != MP_ETIMEOUT)
      return r;
  }
  return 0;
}

MP_EXPORT int mp_condition_notify(mp_condition *c, int n) {
  if (!c)
    return -EINVAL;
  if (!mp__lock_shm_mine(lock_shm(c)))
    return MP_ENOTOWNER;
  mp__cond_shm_notify(c->o.mem, n);
  return 0;
}

MP_EXPORT int mp_condition_notify_all(mp_condition *c) { return mp_condition_notify(c, INT32_MAX); }

MP_EXPORT size_t mp_condition_memsize(void) { return sizeof(mp__cond_shm); }

MP_EXPORT mp_condition *mp_condition_new(mp_lock *lock) {
  mp_lock *own = NULL;
  if (!lock && !(lock = own = mp_rlock_new()))
    return NULL;
  mp_condition *c = mp__sync_new(sizeof *c, sizeof(mp__cond_shm), MP_TYPE_CONDITION);
  if (!c) {
    int e = errno;
    mp_lock_free(own);
    errno = e;
    return NULL;
  }
  c->lock = lock;
  c->owns_lock = own != NULL;
  return c;
}

MP_EXPORT mp_condition *mp_condition_attach(void *mem, mp_lock *lock) {
  if (!lock) {
    errno = EINVAL;
    return NULL;
  }
  mp_condition *c = mp__sync_wrap(sizeof *c, mem);
  if (c)
    c->lock = lock;
  return c;
}

MP_EXPORT mp_condition *mp_condition_init(void *mem, mp_lock *lock) {
  mp_condition *c = mp_condition_attach(mem, lock);
  if (c) {
    mp__cond_shm *s = mem;
    *s = (mp__cond_shm){0};
    __atomic_thread_fence(__ATOMIC_RELEASE);
  }
  return c;
}

MP_EXPORT int mp_condition_handle(const mp_condition *c, mp_handle *h) {
  int r = mp__sync_handle(c ? &c->o : NULL, MP_TYPE_CONDITION, h);
  if (r < 0)
    return r;
  mp_handle lh;
  r = mp_lock_handle(c->lock, &lh);
  if (r < 0)
    return r;
  h->parts[1] = lh.parts[0];
  h->nparts = 2;
  return 0;
}

MP_EXPORT mp_condition *mp_condition_open(const mp_handle *h) {
  if (!h) {
    errno = EINVAL;
    return NULL;
  }
  if (h->type != MP_TYPE_CONDITION || h->nparts != 2) {
    errno = -mp__shm_wrong_type(h->type, MP_TYPE_CONDITION);
    return NULL;
  }
  mp_handle lh = {.type = MP_TYPE_LOCK, .nparts = 1, .parts = {h->parts[1]}};
  mp_lock *lock = mp_lock_open(&lh);
  if (!lock)
    return NULL;
  mp_condition *c =
      mp__sync_open(sizeof *c, &h->parts[0], MP_TYPE_CONDITION, sizeof(mp__cond_shm));
  if (!c) {
    int e = errno;
    mp_lock_free(lock);
    errno = e;
    return NULL;
  }
  c->lock = lock;
  c->owns_lock = true;
  return c;
}

MP_EXPORT void mp_condition_free(mp_condition *c) {
  if (!c)
    return;
  if (c->owns_lock)
    mp_lock_free(c->lock);
  mp__sync_free(c);
}
