/* barrier.c: Barrier, Python's threading.Barrier state machine (filling,
 * draining, resetting, broken) kept in shared memory under an internal
 * robust lock with a condition beside it.
 *
 * Robustness: each party that has arrived writes its thread identity in a
 * slot. Waiters sleep in slices (10 ms growing to 100 ms) and after each
 * one check the identities in the slots: a dead party is removed and the
 * barrier broken, so the others get MP_EBROKEN instead of waiting forever.
 * A party that dies holding the internal lock (in the action, say) is
 * found by the lock itself (MP_EOWNERDEAD), which breaks the barrier too.
 * A party that dies before arriving cannot be told from a slow one: then
 * the others wait for their timeout, as in Python.
 *
 * A completed round lets every party out at once: the last to arrive
 * empties the slots, sets the count to 0 and bumps the round number, and
 * the waiters, seeing it moved, return without touching the state again.
 * Python's "draining" phase (new arrivals wait until the last waiter has
 * left) then never holds anyone up: a 2-party cycle needs one wake-up
 * instead of two, which on a machine with no idle CPU is the difference
 * between one scheduling delay and two. What a caller can observe is the
 * same: indices, the action on the last arriver, n_waiting (0 once a
 * round is complete), reset and abort while parties wait. */
#include <math.h>
#include <string.h>

#include "sync_internal.h"

#define SLICE_MIN_NS 10000000
#define SLICE_MAX_NS 100000000
#define PARTIES_MAX 65536

enum { FILLING = 0, DRAINING = 1, RESETTING = -1, BROKEN = -2 };

typedef struct barrier_shm {
  mp__lock_shm mu;
  mp__cond_shm cond;
  int32_t state;
  uint32_t count;   /* parties inside wait() */
  uint32_t parties;
  uint32_t gen;     /* rounds completed (wraps): a waiter whose round's
                       number moved on was let out by the last arriver */
  double timeout;   /* the default; +inf for none */
  uint64_t slots[]; /* identities of the parties inside wait(); 0 free */
} barrier_shm;

struct mp_barrier {
  mp__sync_obj o;
  mp_barrier_action action;
  void *arg;
};

static void brk(barrier_shm *b) {
  b->state = BROKEN;
  mp__cond_shm_notify(&b->cond, INT32_MAX);
}

/* Takes the internal lock. Its owner dying mid-update leaves the state
 * unknown: break the barrier and carry on. */
static void bar_lock(barrier_shm *b) {
  int r = mp__lock_shm_acquire(&b->mu, NULL);
  if (r == MP_EOWNERDEAD) {
    brk(b);
    __atomic_fetch_and(&b->mu.word, ~(uint64_t)MP__OWNER_DIED, __ATOMIC_RELEASE);
  }
}

static void bar_unlock(barrier_shm *b) { mp__lock_shm_release(&b->mu); }

/* Removes dead parties; breaks the barrier if there was one. */
static void reap_dead(barrier_shm *b, uint64_t me) {
  bool dead = false;
  for (uint32_t i = 0; i < b->parties; i++) {
    uint64_t id = b->slots[i];
    if (id && id != me && !mp__ident_alive(id)) {
      b->slots[i] = 0;
      b->count--;
      dead = true;
    }
  }
  if (dead)
    brk(b);
}

/* One sleep on the internal condition. Returns MP_ETIMEOUT once the
 * caller's deadline passed, 0 otherwise. */
static int bar_sleep(barrier_shm *b, const mp__deadline *dl, int64_t *slice, uint64_t me) {
  int r = mp__cond_shm_wait(&b->cond, &b->mu, dl, *slice);
  if (r == MP_EOWNERDEAD) {
    brk(b);
    __atomic_fetch_and(&b->mu.word, ~(uint64_t)MP__OWNER_DIED, __ATOMIC_RELEASE);
  }
  if (r == 1 || r == MP_ETIMEOUT) { /* slept a whole slice: anyone dead? */
    reap_dead(b, me);
    *slice = *slice * 2 > SLICE_MAX_NS ? SLICE_MAX_NS : *slice * 2;
  }
  return mp__deadline_passed(dl) ? MP_ETIMEOUT : 0;
}

static int bar_wait(mp_barrier *w, double timeout) {
  barrier_shm *b = w->o.mem;
  mp__deadline dl;
  int r = mp__deadline_init(&dl, timeout);
  if (r < 0)
    return r;
  uint64_t me = mp__ident_thread();
  int64_t slice = SLICE_MIN_NS;
  bar_lock(b);
  /* Python's _enter: wait while the previous round drains or resets. */
  while (b->state == DRAINING || b->state == RESETTING) {
    if (bar_sleep(b, &dl, &slice, me) == MP_ETIMEOUT &&
        (b->state == DRAINING || b->state == RESETTING)) {
      brk(b);
      break;
    }
  }
  if (b->state != FILLING) {
    bar_unlock(b);
    return MP_EBROKEN;
  }
  int index = (int)b->count++;
  for (uint32_t i = 0; i < b->parties; i++) {
    if (!b->slots[i]) {
      b->slots[i] = me;
      break;
    }
  }
  int result = index;
  uint32_t gen = b->gen;
  if ((uint32_t)index + 1 == b->parties) {
    /* The last to arrive runs the action, then lets everyone out. */
    int ar = w->action ? w->action(w->arg) : 0;
    if (ar < 0) {
      brk(b);
      result = ar;
    } else if (b->state == FILLING) {
      memset(b->slots, 0, (size_t)b->parties * sizeof *b->slots);
      b->count = 0;
      b->gen = gen + 1;
      mp__cond_shm_notify(&b->cond, INT32_MAX);
      bar_unlock(b);
      return result;
    } else {
      result = MP_EBROKEN;
    }
  } else {
    while (b->state == FILLING && b->gen == gen) {
      if (bar_sleep(b, &dl, &slice, me) == MP_ETIMEOUT && b->state == FILLING &&
          b->gen == gen) {
        brk(b);
        break;
      }
    }
    if (b->gen != gen) { /* our round completed: the last arriver let us out */
      bar_unlock(b);
      return result;
    }
    if (b->state < 0)
      result = MP_EBROKEN;
  }
  /* Python's _exit. */
  for (uint32_t i = 0; i < b->parties; i++) {
    if (b->slots[i] == me) {
      b->slots[i] = 0;
      b->count--;
      break;
    }
  }
  if (b->count == 0 && (b->state == DRAINING || b->state == RESETTING)) {
    b->state = FILLING;
    mp__cond_shm_notify(&b->cond, INT32_MAX);
  }
  bar_unlock(b);
  return result;
}

MP_EXPORT int mp_barrier_wait(mp_barrier *b) {
  return b ? bar_wait(b, ((barrier_shm *)b->o.mem)->timeout) : -EINVAL;
}

MP_EXPORT int mp_barrier_wait_timeout(mp_barrier *b, double timeout) {
  return b ? bar_wait(b, timeout) : -EINVAL;
}

MP_EXPORT void mp_barrier_reset(mp_barrier *w) {
  if (!w)
    return;
  barrier_shm *b = w->o.mem;
  bar_lock(b);
  if (b->count > 0) {
    if (b->state == FILLING || b->state == BROKEN)
      b->state = RESETTING;
  } else {
    b->state = FILLING;
  }
  mp__cond_shm_notify(&b->cond, INT32_MAX);
  bar_unlock(b);
}

MP_EXPORT void mp_barrier_abort(mp_barrier *w) {
  if (!w)
    return;
  barrier_shm *b = w->o.mem;
  bar_lock(b);
  brk(b);
  bar_unlock(b);
}

MP_EXPORT int mp_barrier_parties(const mp_barrier *w) {
  return w ? (int)((barrier_shm *)w->o.mem)->parties : 0;
}

MP_EXPORT int mp_barrier_n_waiting(const mp_barrier *w) {
  if (!w)
    return 0;
  const barrier_shm *b = w->o.mem;
  return __atomic_load_n(&b->state, __ATOMIC_RELAXED) == FILLING
             ? (int)__atomic_load_n(&b->count, __ATOMIC_RELAXED)
             : 0;
}

MP_EXPORT bool mp_barrier_broken(const mp_barrier *w) {
  return w && __atomic_load_n(&((barrier_shm *)w->o.mem)->state, __ATOMIC_RELAXED) == BROKEN;
}

MP_EXPORT size_t mp_barrier_memsize(int parties) {
  if (parties < 1 || parties > PARTIES_MAX)
    return 0;
  return sizeof(barrier_shm) + (size_t)parties * sizeof(uint64_t);
}

static bool bad_args(int parties, double timeout) {
  if (parties < 1 || parties > PARTIES_MAX || isnan(timeout)) {
    errno = EINVAL;
    return true;
  }
  return false;
}

static void bar_setup(barrier_shm *b, int parties, double timeout) {
  memset(b, 0, mp_barrier_memsize(parties));
  mp__lock_shm_init(&b->mu, false);
  b->parties = (uint32_t)parties;
  b->timeout = timeout < 0 ? 0 : timeout;
  __atomic_thread_fence(__ATOMIC_RELEASE);
}

MP_EXPORT mp_barrier *mp_barrier_new(int parties, mp_barrier_action action, void *arg,
                                     double timeout) {
  if (bad_args(parties, timeout))
    return NULL;
  mp_barrier *b = mp__sync_new(sizeof *b, mp_barrier_memsize(parties), MP_TYPE_BARRIER);
  if (b) {
    bar_setup(b->o.mem, parties, timeout);
    b->action = action;
    b->arg = arg;
  }
  return b;
}

MP_EXPORT mp_barrier *mp_barrier_attach(void *mem, mp_barrier_action action, void *arg) {
  mp_barrier *b = mp__sync_wrap(sizeof *b, mem);
  if (b) {
    b->action = action;
    b->arg = arg;
  }
  return b;
}

MP_EXPORT mp_barrier *mp_barrier_init(void *mem, int parties, mp_barrier_action action,
                                      void *arg, double timeout) {
  if (bad_args(parties, timeout))
    return NULL;
  mp_barrier *b = mp_barrier_attach(mem, action, arg);
  if (b)
    bar_setup(mem, parties, timeout);
  return b;
}

MP_EXPORT int mp_barrier_handle(const mp_barrier *b, mp_handle *h) {
  return mp__sync_handle(b ? &b->o : NULL, MP_TYPE_BARRIER, h);
}

MP_EXPORT mp_barrier *mp_barrier_open(const mp_handle *h, mp_barrier_action action,
                                      void *arg) {
  mp_barrier *b = mp__sync_open1(sizeof *b, h, MP_TYPE_BARRIER, sizeof(barrier_shm));
  if (!b)
    return NULL;
  barrier_shm *s = b->o.mem;
  if (s->parties < 1 || s->parties > PARTIES_MAX ||
      b->o.ref.size < mp_barrier_memsize((int)s->parties)) {
    mp__sync_free(b);
    errno = -MP_EDECODE;
    return NULL;
  }
  b->action = action;
  b->arg = arg;
  return b;
}

MP_EXPORT void mp_barrier_free(mp_barrier *b) { mp__sync_free(b); }
