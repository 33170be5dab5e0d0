/* barrier.c: Barrier, Python's threading.Barrier state machine (filling,
 * resetting, broken) kept in shared memory under an internal robust lock
 * with a condition beside it.
 *
 * A completed round lets every party out at once: the last to arrive sets
 * the count to 0, takes the ARRIVED mark off the round's slots and bumps
 * the round number, and the waiters, seeing it moved, leave without
 * touching the count. Python's "draining" phase (new arrivals wait until
 * the last waiter has left) is gone: a 2-party cycle needs one wake-up
 * instead of two, which on a machine with no idle CPU is one scheduling
 * delay instead of two. What a caller observes is the same: indices, the
 * action on the last arriver, n_waiting (0 once a round is complete),
 * reset and abort while parties wait.
 *
 * Robustness: a party writes its thread identity in a slot the moment it
 * enters wait, before it takes the internal lock, and clears it when it
 * leaves; the slot is marked ARRIVED once the party is counted. So a party
 * killed anywhere inside wait -- counted, blocked on the internal lock, or
 * let out of a completed round but not yet gone -- is in a slot. Waiters sleep in
 * short slices (2 ms growing to 16 ms) and after a slice one of them (at
 * most one every CHECK_NS, whoever wakes first) checks the identities: a
 * dead party is removed and the barrier broken, so every waiter of that
 * round gets MP_EBROKEN within milliseconds instead of waiting forever. The
 * last party to arrive checks too before it completes the round, so a
 * party that died counted is not taken for one that arrived -- the
 * parties that have waited YOUNG_NS (1 ms) or more: a quick round makes no
 * system call, and a party that dies within 1 ms of its arrival counts as
 * arrived, as if it had died just after the round (its slot stays, and
 * the next round sees the death and breaks, as it does for a party that
 * dies let out but still in its slot). A party
 * that dies holding the internal lock (in the action, say) is found by the
 * lock itself (MP_EOWNERDEAD), which breaks the barrier too. There are
 * 2 x parties slots (a round's parties leaving while the next fills); a caller
 * beyond that waits unwatched. A party that dies outside wait (between two
 * waits) cannot be told from a slow one: then the others wait for their
 * timeout, as in Python. */
#include <math.h>
#include <string.h>

#include "sync_internal.h"

#define SLICE_MIN_NS 2000000
#define SLICE_MAX_NS 16000000
#define CHECK_NS 2000000
#define YOUNG_NS 1000000
#define ARRIVED 0x80000000u /* in a slot: counted in this round */
#define PARTIES_MAX 65536

enum { FILLING = 0, RESETTING = -1, BROKEN = -2 };

typedef struct barrier_shm {
  mp__lock_shm mu;
  mp__cond_shm cond;
  int32_t state;
  uint32_t count;   /* parties inside wait() */
  uint32_t parties;
  uint32_t gen;     /* rounds completed (wraps): a waiter whose round's
                       number moved on was let out by the last arriver */
  double timeout;   /* the default; +inf for none */
  int64_t checked_ns; /* when a waiter last checked the slots (monotonic) */
  uint64_t slots[]; /* 2 x parties: identity (| ARRIVED) of each party
                     * inside wait(); 0 free. Claimed by CAS without the
                     * lock, otherwise changed under it. Then 2 x parties
                     * arrival times (monotonic ns), set with ARRIVED. */
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

static uint32_t nslots(const barrier_shm *b) { return 2 * b->parties; }
static int64_t *arrived_at(barrier_shm *b) { return (int64_t *)(b->slots + nslots(b)); }

/* Removes the parties that died inside wait (a counted one from the
 * count too); with `breaks`, breaks the barrier if there was one. Looks
 * at every slot when arrived_before is INT64_MAX, else only at the
 * parties counted by then. Called with the lock held. */
static void reap_dead(barrier_shm *b, uint64_t me, bool breaks, int64_t arrived_before) {
  bool dead = false;
  if (arrived_before == INT64_MAX)
    b->checked_ns = mp__now_ns();
  for (uint32_t i = 0; i < nslots(b); i++) {
    uint64_t s = __atomic_load_n(&b->slots[i], __ATOMIC_ACQUIRE);
    uint64_t id = s & ~(uint64_t)ARRIVED;
    if (arrived_before != INT64_MAX && (!(s & ARRIVED) || arrived_at(b)[i] > arrived_before))
      continue;
    if (s && id != me && !mp__ident_alive(id)) {
      __atomic_store_n(&b->slots[i], 0, __ATOMIC_RELEASE);
      if (s & ARRIVED)
        b->count--;
      dead = true;
    }
  }
  if (dead && breaks)
    brk(b);
}

/* After the internal lock was taken from a dead owner: its update may be
 * half done, so break the barrier, and drop the dead from the slots. */
static void owner_died(barrier_shm *b, uint64_t me) {
  brk(b);
  reap_dead(b, me, false, INT64_MAX);
  __atomic_fetch_and(&b->mu.word, ~(uint64_t)MP__OWNER_DIED, __ATOMIC_RELEASE);
}

static void bar_lock(barrier_shm *b, uint64_t me) {
  if (mp__lock_shm_acquire(&b->mu, NULL) == MP_EOWNERDEAD)
    owner_died(b, me);
}

static void bar_unlock(barrier_shm *b) { mp__lock_shm_release(&b->mu); }

/* One sleep on the internal condition. Returns MP_ETIMEOUT once the
 * caller's deadline passed, 0 otherwise. */
static int bar_sleep(barrier_shm *b, const mp__deadline *dl, int64_t *slice, uint64_t me) {
  int r = mp__cond_shm_wait(&b->cond, &b->mu, dl, *slice);
  if (r == MP_EOWNERDEAD)
    owner_died(b, me);
  if (r == 1 || r == MP_ETIMEOUT) { /* slept a whole slice: anyone dead? */
    if (mp__now_ns() - b->checked_ns >= CHECK_NS)
      reap_dead(b, me, true, INT64_MAX);
    *slice = *slice * 2 > SLICE_MAX_NS ? SLICE_MAX_NS : *slice * 2;
  }
  return mp__deadline_passed(dl) ? MP_ETIMEOUT : 0;
}

/* Claims a free slot for `me` (no lock: the others only clear theirs or
 * a dead one's). Returns its index, or -1 when all are taken. */
static int claim_slot(barrier_shm *b, uint64_t me) {
  for (uint32_t i = 0; i < nslots(b); i++) {
    uint64_t zero = 0;
    if (__atomic_load_n(&b->slots[i], __ATOMIC_RELAXED) == 0 &&
        __atomic_compare_exchange_n(&b->slots[i], &zero, me, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_RELAXED))
      return (int)i;
  }
  return -1;
}

/* The last arriver ends its round (lock held; releases it): the count
 * goes to 0 and the round's slots lose their ARRIVED mark, so the next
 * round counts from scratch while the let-out parties, still in their
 * slots until they run, stay watched (one that dies there breaks the next
 * round, which would wait for it forever) without being counted. */
static void complete_round(barrier_shm *b, int slot) {
  if (slot >= 0)
    __atomic_store_n(&b->slots[slot], 0, __ATOMIC_RELEASE);
  for (uint32_t i = 0; i < nslots(b); i++) {
    uint64_t s = __atomic_load_n(&b->slots[i], __ATOMIC_RELAXED);
    if (s & ARRIVED) /* nonzero: only its owner or a reaper, under the lock, changes it */
      __atomic_store_n(&b->slots[i], s & ~(uint64_t)ARRIVED, __ATOMIC_RELAXED);
  }
  b->count = 0;
  b->gen++;
  mp__cond_shm_notify(&b->cond, INT32_MAX);
  bar_unlock(b);
}

static int bar_wait(mp_barrier *w, double timeout) {
  barrier_shm *b = w->o.mem;
  mp__deadline dl;
  int r = mp__deadline_init(&dl, timeout);
  if (r < 0)
    return r;
  uint64_t me = mp__ident_thread();
  int64_t slice = SLICE_MIN_NS;
  int slot = claim_slot(b, me);
  bar_lock(b, me);
  /* Python's _enter: wait while a reset lets the waiters out. */
  while (b->state == RESETTING) {
    if (bar_sleep(b, &dl, &slice, me) == MP_ETIMEOUT && b->state == RESETTING) {
      brk(b);
      break;
    }
  }
  if (b->state != FILLING) {
    if (slot >= 0)
      __atomic_store_n(&b->slots[slot], 0, __ATOMIC_RELEASE);
    bar_unlock(b);
    return MP_EBROKEN;
  }
  int index = (int)b->count++;
  int64_t now = mp__now_ns();
  if (slot >= 0) {
    arrived_at(b)[slot] = now;
    __atomic_store_n(&b->slots[slot], me | ARRIVED, __ATOMIC_RELEASE);
  }
  int result = index;
  uint32_t gen = b->gen;
  if ((uint32_t)index + 1 == b->parties) {
    /* The last to arrive: a party counted but dead has not arrived. */
    reap_dead(b, me, true, now - YOUNG_NS);
    /* Then runs the action, then lets everyone out. */
    int ar = b->state != FILLING ? 0 : w->action ? w->action(w->arg) : 0;
    if (ar < 0) {
      brk(b);
      result = ar;
    } else if (b->state == FILLING) {
      complete_round(b, slot);
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
    if (b->gen != gen) { /* our round completed: not counted any more */
      if (slot >= 0)
        __atomic_store_n(&b->slots[slot], 0, __ATOMIC_RELEASE);
      bar_unlock(b);
      return result;
    }
    if (b->state < 0)
      result = MP_EBROKEN;
  }
  /* Python's _exit (a broken or reset round's parties leave one by one). */
  if (slot >= 0)
    __atomic_store_n(&b->slots[slot], 0, __ATOMIC_RELEASE);
  b->count--;
  if (b->count == 0 && b->state == RESETTING) {
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
  uint64_t me = mp__ident_thread();
  bar_lock(b, me);
  reap_dead(b, me, false, INT64_MAX); /* the dead wait for no release */
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
  bar_lock(b, mp__ident_thread());
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
  return sizeof(barrier_shm) + 4 * (size_t)parties * sizeof(uint64_t);
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
