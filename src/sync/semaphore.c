/* semaphore.c: Semaphore and BoundedSemaphore: a count in shared memory
 * that is also the futex, and a count of sleepers so that a release makes
 * a system call only when someone sleeps. The sleeper count is raised
 * before the last look at the value and the releaser reads it after
 * raising the value (both sequentially consistent), so a wake-up is never
 * lost. A semaphore has no owner, so nobody can die holding it; a waiter
 * whose releaser died wakes by its timeout. */
#include <math.h>

#include "sync_internal.h"

#define SPIN 100

typedef struct sem_shm {
  uint32_t value;    /* futex */
  uint32_t nwaiters;
  uint32_t bounded;
  uint32_t max;      /* bounded: the initial value */
} sem_shm;

struct mp_semaphore {
  mp__sync_obj o;
};

static bool try_down(sem_shm *s) {
  uint32_t v = __atomic_load_n(&s->value, __ATOMIC_SEQ_CST);
  while (v > 0) {
    if (__atomic_compare_exchange_n(&s->value, &v, v - 1, true, __ATOMIC_SEQ_CST,
                                    __ATOMIC_SEQ_CST))
      return true;
  }
  return false;
}

static int sem_wait(sem_shm *s, const mp__deadline *dl) {
  bool polling = mp__deadline_passed(dl);
  for (int i = 0, n = mp__spin_count(SPIN); i < n && !polling; i++) {
    if (__atomic_load_n(&s->value, __ATOMIC_RELAXED) && try_down(s))
      return 0;
    mp__cpu_relax();
  }
  if (polling)
    return try_down(s) ? 0 : MP_ETIMEOUT;
  __atomic_fetch_add(&s->nwaiters, 1, __ATOMIC_SEQ_CST);
  int r;
  for (;;) {
    if (try_down(s)) {
      r = 0;
      break;
    }
    r = mp__futex_wait(&s->value, 0, dl);
    if (r == MP_ETIMEOUT) {
      r = try_down(s) ? 0 : MP_ETIMEOUT;
      break;
    }
    if (r < 0)
      break;
  }
  __atomic_fetch_sub(&s->nwaiters, 1, __ATOMIC_RELAXED);
  return r;
}

MP_EXPORT int mp_semaphore_acquire(mp_semaphore *sem, double timeout) {
  if (!sem || isnan(timeout))
    return -EINVAL;
  sem_shm *s = sem->o.mem;
  if (try_down(s))
    return 0;
  mp__deadline dl;
  mp__deadline_init(&dl, timeout);
  return sem_wait(s, &dl);
}

MP_EXPORT int mp_semaphore_release(mp_semaphore *sem) {
  if (!sem)
    return -EINVAL;
  sem_shm *s = sem->o.mem;
  uint32_t v = __atomic_load_n(&s->value, __ATOMIC_RELAXED);
  do {
    if (s->bounded && v >= s->max)
      return MP_EVALUE;
    if (v >= MP_SEM_VALUE_MAX)
      return -EOVERFLOW;
  } while (!__atomic_compare_exchange_n(&s->value, &v, v + 1, true, __ATOMIC_SEQ_CST,
                                        __ATOMIC_RELAXED));
  if (__atomic_load_n(&s->nwaiters, __ATOMIC_SEQ_CST))
    mp__futex_wake(&s->value, 1);
  return 0;
}

MP_EXPORT int mp_semaphore_get_value(const mp_semaphore *sem) {
  return sem ? (int)__atomic_load_n(&((sem_shm *)sem->o.mem)->value, __ATOMIC_RELAXED) : 0;
}

MP_EXPORT bool mp_semaphore_is_bounded(const mp_semaphore *sem) {
  return sem && ((sem_shm *)sem->o.mem)->bounded;
}

MP_EXPORT size_t mp_semaphore_memsize(void) { return sizeof(sem_shm); }

static int sem_setup(sem_shm *s, int value, bool bounded) {
  if (value < 0)
    return -EINVAL;
  s->value = (uint32_t)value;
  s->nwaiters = 0;
  s->bounded = bounded;
  s->max = (uint32_t)value;
  __atomic_thread_fence(__ATOMIC_RELEASE);
  return 0;
}

static mp_semaphore *sem_new(int value, bool bounded) {
  if (value < 0) {
    errno = EINVAL;
    return NULL;
  }
  mp_semaphore *s = mp__sync_new(sizeof *s, sizeof(sem_shm), MP_TYPE_SEMAPHORE);
  if (s)
    sem_setup(s->o.mem, value, bounded);
  return s;
}

MP_EXPORT mp_semaphore *mp_semaphore_new(int value) { return sem_new(value, false); }
MP_EXPORT mp_semaphore *mp_bounded_semaphore_new(int value) { return sem_new(value, true); }

MP_EXPORT mp_semaphore *mp_semaphore_init(void *mem, int value, bool bounded) {
  if (value < 0) {
    errno = EINVAL;
    return NULL;
  }
  mp_semaphore *s = mp__sync_wrap(sizeof *s, mem);
  if (s)
    sem_setup(mem, value, bounded);
  return s;
}

MP_EXPORT mp_semaphore *mp_semaphore_attach(void *mem) {
  return mp__sync_wrap(sizeof(mp_semaphore), mem);
}

MP_EXPORT int mp_semaphore_handle(const mp_semaphore *sem, mp_handle *h) {
  return mp__sync_handle(sem ? &sem->o : NULL, MP_TYPE_SEMAPHORE, h);
}

MP_EXPORT mp_semaphore *mp_semaphore_open(const mp_handle *h) {
  return mp__sync_open1(sizeof(mp_semaphore), h, MP_TYPE_SEMAPHORE, sizeof(sem_shm));
}

MP_EXPORT void mp_semaphore_free(mp_semaphore *sem) { mp__sync_free(sem); }
