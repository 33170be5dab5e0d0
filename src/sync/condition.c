/* condition.c: Condition: a sequence number in shared memory (the futex)
 * bumped by every notify, over a Lock or RLock. A waiter reads the number
 * with the lock held, releases the lock and sleeps while the number is
 * unchanged, so a notify between the release and the sleep is never lost
 * (the sleep returns at once). The price, as with pthread condition
 * variables: a notify(1) may also end the wait of a waiter that was just
 * going to sleep. A waiter spins briefly before it sleeps. The condition's private wrapper holds the lock's: the
 * two may live in different segments, so the shared part cannot point at
 * the lock (each process maps segments at its own addresses). */
#include <math.h>

#include "sync_internal.h"

#define COND_SPIN_NS 20000

struct mp_condition {
  mp__sync_obj o;
  mp_lock *lock;
  bool owns_lock;
};

int mp__cond_shm_wait(mp__cond_shm *c, mp__lock_shm *lock, const mp__deadline *dl,
                      int64_t slice_ns) {
  if (!mp__lock_shm_mine(lock))
    return MP_ENOTOWNER;
  uint32_t seq = __atomic_load_n(&c->seq, __ATOMIC_RELAXED);
  int depth = mp__lock_shm_release_all(lock);
  /* A short spin first: a notify that comes within microseconds (a
   * Barrier's other party, a busy producer) then costs no sleep and no
   * wake-up call, as we are not counted among the sleepers yet. */
  if (mp__spin_while_eq(&c->seq, seq, COND_SPIN_NS)) {
    int r2 = mp__lock_shm_reacquire(lock, depth);
    return r2 < 0 ? r2 : 0;
  }
  /* Counted before the futex compares seq, and notify bumps seq before
   * reading the count: one of the two sees the other. */
  __atomic_fetch_add(&c->nwaiters, 1, __ATOMIC_SEQ_CST);
  int r;
  if (slice_ns > 0) {
    mp__deadline sl = mp__slice_deadline(dl, slice_ns);
    r = mp__futex_wait(&c->seq, seq, &sl);
    if (r == MP_ETIMEOUT && !(dl && mp__deadline_passed(dl)))
      r = 1;
  } else {
    r = mp__futex_wait(&c->seq, seq, dl);
  }
  __atomic_fetch_sub(&c->nwaiters, 1, __ATOMIC_RELAXED);
  int r2 = mp__lock_shm_reacquire(lock, depth);
  return r2 < 0 ? r2 : r;
}

void mp__cond_shm_notify(mp__cond_shm *c, int n) {
  __atomic_fetch_add(&c->seq, 1, __ATOMIC_SEQ_CST);
  if (n > 0 && __atomic_load_n(&c->nwaiters, __ATOMIC_SEQ_CST))
    mp__futex_wake(&c->seq, n);
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
    s->nwaiters = 0;
    __atomic_store_n(&s->seq, 0, __ATOMIC_RELEASE);
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
    errno = -MP_ETYPE;
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
