/* event.c: Event: a flag in shared memory that is also the futex, and a
 * count of sleepers so that set() makes a system call only when someone
 * sleeps (the same lost-wake-up argument as semaphore.c). A waiter spins a
 * little first: an event ping-pong between two processes on two CPUs then
 * costs no sleep at all. */
#include <math.h>

#include "sync_internal.h"

#define SPIN_NS 20000

typedef struct event_shm {
  uint32_t flag;     /* futex: 0 clear, 1 set */
  uint32_t nwaiters;
} event_shm;

struct mp_event {
  mp__sync_obj o;
};

MP_EXPORT void mp_event_set(mp_event *ev) {
  if (!ev)
    return;
  event_shm *e = ev->o.mem;
  __atomic_store_n(&e->flag, 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&e->nwaiters, __ATOMIC_SEQ_CST))
    mp__futex_wake(&e->flag, INT32_MAX);
}

MP_EXPORT void mp_event_clear(mp_event *ev) {
  if (ev)
    __atomic_store_n(&((event_shm *)ev->o.mem)->flag, 0, __ATOMIC_SEQ_CST);
}

MP_EXPORT bool mp_event_is_set(const mp_event *ev) {
  return ev && __atomic_load_n(&((event_shm *)ev->o.mem)->flag, __ATOMIC_ACQUIRE);
}

MP_EXPORT int mp_event_wait(mp_event *ev, double timeout) {
  if (!ev || isnan(timeout))
    return -EINVAL;
  event_shm *e = ev->o.mem;
  if (__atomic_load_n(&e->flag, __ATOMIC_ACQUIRE))
    return 0;
  mp__deadline dl;
  mp__deadline_init(&dl, timeout);
  if (mp__deadline_passed(&dl))
    return MP_ETIMEOUT;
  if (mp__spin_while_eq(&e->flag, 0, SPIN_NS))
    return 0;
  __atomic_fetch_add(&e->nwaiters, 1, __ATOMIC_SEQ_CST);
  int r;
  for (;;) {
    if (__atomic_load_n(&e->flag, __ATOMIC_SEQ_CST)) {
      r = 0;
      break;
    }
    r = mp__futex_wait(&e->flag, 0, &dl);
    if (r == MP_ETIMEOUT) {
      r = __atomic_load_n(&e->flag, __ATOMIC_ACQUIRE) ? 0 : MP_ETIMEOUT;
      break;
    }
    if (r < 0)
      break;
  }
  __atomic_fetch_sub(&e->nwaiters, 1, __ATOMIC_RELAXED);
  return r;
}

MP_EXPORT size_t mp_event_memsize(void) { return sizeof(event_shm); }

MP_EXPORT mp_event *mp_event_new(void) {
  return mp__sync_new(sizeof(mp_event), sizeof(event_shm), MP_TYPE_EVENT);
}

MP_EXPORT mp_event *mp_event_init(void *mem) {
  mp_event *e = mp__sync_wrap(sizeof *e, mem);
  if (e) {
    event_shm *s = mem;
    s->nwaiters = 0;
    __atomic_store_n(&s->flag, 0, __ATOMIC_RELEASE);
  }
  return e;
}

MP_EXPORT mp_event *mp_event_attach(void *mem) { return mp__sync_wrap(sizeof(mp_event), mem); }

MP_EXPORT int mp_event_handle(const mp_event *ev, mp_handle *h) {
  return mp__sync_handle(ev ? &ev->o : NULL, MP_TYPE_EVENT, h);
}

MP_EXPORT mp_event *mp_event_open(const mp_handle *h) {
  return mp__sync_open1(sizeof(mp_event), h, MP_TYPE_EVENT, sizeof(event_shm));
}

MP_EXPORT void mp_event_free(mp_event *ev) { mp__sync_free(ev); }
