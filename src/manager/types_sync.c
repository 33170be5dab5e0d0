/* types_sync.c: the built-in types whose methods block: Queue (Python's
 * queue.Queue, which is what SyncManager.Queue holds), Lock, RLock,
 * Semaphore, BoundedSemaphore, Condition, Event and Barrier (threading's
 * semantics, as CPython's manager holds threading objects). They live in
 * the server only, used by its threads, so they are plain pthread objects;
 * their methods run without the server lock (MP_TYPE_CONCURRENT) and every
 * wait goes through mp__mgr_cond_wait, which gives up when the server stops
 * or the waiting client went away. An RLock's owner is the calling
 * connection (CPython: the server thread serving it). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "manager/manager_internal.h"

#define ARG(i) mp__mgr_arg(c, (i))
#define NARGS(lo, hi)                                                          \
  do {                                                                         \
    int rc_ = mp__mgr_nargs(c, (lo), (hi));                                    \
    if (rc_ < 0)                                                               \
      return rc_;                                                              \
  } while (0)

static bool arg_bool(mp_method_call *c, size_t i, bool dflt) {
  mp_obj *o = ARG(i);
  return o ? mp_obj_truthy(o) : dflt;
}

static int ret_bool(mp_method_call *c, bool v) {
  c->result = mp_obj_bool(v);
  return 0;
}

/* The timeout argument at i as a deadline: None or absent is forever, or
 * `dflt` seconds when dflt is not NaN (a Barrier's own timeout). */
static int deadline_arg(mp_method_call *c, size_t i, double dflt,
                        mp__deadline *dl) {
  double t;
  int rc = mp__mgr_arg_timeout(c, i, &t);
  if (rc < 0)
    return rc;
  if (!isnan(dflt) && (!ARG(i) || mp_obj_get_type(ARG(i)) == MP_OBJ_NONE))
    t = dflt;
  return mp__deadline_init(dl, t);
}

/* Ends a wait that ran until rc: a timeout is no error, the value is. */
static int wait_result(mp_method_call *c, int rc, bool v) {
  return rc < 0 && rc != MP_ETIMEOUT ? rc : ret_bool(c, v);
}

/* (blocking=True, timeout) as threading's acquire takes them; a negative
 * or None timeout is forever. */
static int acquire_args(mp_method_call *c, mp__deadline *dl) {
  NARGS(0, 2);
  bool block = arg_bool(c, 0, true);
  double t;
  int rc = mp__mgr_arg_timeout(c, 1, &t);
  if (rc < 0)
    return rc;
  if (!block && ARG(1) && mp_obj_get_type(ARG(1)) != MP_OBJ_NONE && t >= 0)
    return mp__mgr_fail(c, MP_EVALUE, "ValueError: can't specify a timeout "
                                      "for a non-blocking call");
  if (!block)
    t = 0;
  else if (t < 0)
    t = MP_FOREVER;
  mp__deadline_init(dl, t);
  return 0;
}

/* Every sync referent starts with this: a reference count, because a
 * Condition keeps the lock it was given alive. */
typedef struct sync_base {
  int refs;
  pthread_mutex_t mu;
  pthread_cond_t cv;
} sync_base;

static void *sync_new(size_t size) {
  sync_base *b = mp__calloc(1, size);
  if (!b)
    return NULL;
  b->refs = 1;
  pthread_mutex_init(&b->mu, NULL);
  mp__mgr_cond_init(&b->cv);
  return b;
}

static void sync_destroy(void *ref) {
  sync_base *b = ref;
  if (__atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) > 0)
    return;
  pthread_mutex_destroy(&b->mu);
  pthread_cond_destroy(&b->cv);
  mp__free(b);
}

/* ---- Lock and RLock ----------------------------------------------------------------------- */

typedef struct mlock {
  sync_base b;
  bool recursive;
  uint64_t owner;
  long count;
} mlock;

static int lock_make(mp_method_call *c, bool recursive) {
  NARGS(0, 0);
  mlock *l = sync_new(sizeof *l);
  if (!l)
    return -ENOMEM;
  l->recursive = recursive;
  c->referent = l;
  return 0;
}
static int lock_create(void *ctx, mp_method_call *c) { return lock_make(c, false); }
static int rlock_create(void *ctx, mp_method_call *c) { return lock_make(c, true); }

/* With l->b.mu held: takes the lock for caller, waiting until dl. */
static int lock_take(mlock *l, uint64_t caller, const mp__deadline *dl) {
  if (l->recursive && l->count && l->owner == caller) {
    l->count++;
    return 1;
  }
  while (l->count) {
    int rc = mp__mgr_cond_wait(&l->b.cv, &l->b.mu, dl);
    if (rc == MP_ETIMEOUT)
      return 0;
    if (rc < 0)
      return rc;
  }
  l->count = 1;
  l->owner = caller;
  return 1;
}

static int lock_acquire(void *self, mp_method_call *c) {
  mlock *l = self;
  mp__deadline dl;
  int rc = acquire_args(c, &dl);
  if (rc < 0)
    return rc;
  pthread_mutex_lock(&l->b.mu);
  rc = lock_take(l, c->caller, &dl);
  pthread_mutex_unlock(&l->b.mu);
  return rc < 0 ? rc : ret_bool(c, rc);
}

static int lock_release_locked(mlock *l, mp_method_call *c) {
  if (l->recursive && (!l->count || l->owner != c->caller))
    return mp__mgr_fail(c, MP_ENOTOWNER,
                        "RuntimeError: cannot release un-acquired lock");
  if (!l->count)
    /* MP_EVALUE, the code of mp_lock_release's "not locked". */
    return mp__mgr_fail(c, MP_EVALUE, "RuntimeError: release unlocked lock");
  if (--l->count == 0) /* broadcast: a waiter may be one whose client died */
    pthread_cond_broadcast(&l->b.cv);
  return 0;
}

static int lock_release(void *self, mp_method_call *c) {
  NARGS(0, 0);
  mlock *l = self;
  pthread_mutex_lock(&l->b.mu);
  int rc = lock_release_locked(l, c);
  pthread_mutex_unlock(&l->b.mu);
  return rc;
}

static int lock_locked(void *self, mp_method_call *c) {
  mlock *l = self;
  pthread_mutex_lock(&l->b.mu);
  bool v = l->count > 0;
  pthread_mutex_unlock(&l->b.mu);
  return ret_bool(c, v);
}

static int lock_repr(void *self, char **out) {
  mlock *l = self;
  char buf[160];
  pthread_mutex_lock(&l->b.mu);
  if (l->recursive)
    snprintf(buf, sizeof buf, "<%s _thread.RLock owner=%llu count=%ld at %p>",
             l->count ? "locked" : "unlocked",
             (unsigned long long)(l->count ? l->owner : 0), l->count, self);
  else
    snprintf(buf, sizeof buf, "<%s _thread.lock object at %p>",
             l->count ? "locked" : "unlocked", self);
  pthread_mutex_unlock(&l->b.mu);
  *out = mp__strdup(buf);
  return *out ? 0 : -ENOMEM;
}

static const mp_method_def lock_methods[] = {
    {"acquire", lock_acquire, NULL},
    {"release", lock_release, NULL},
    {"locked", lock_locked, NULL},
    {"__enter__", lock_acquire, NULL},
};

/* ---- Semaphore and BoundedSemaphore --------------------------------------------------------- */

typedef struct msem {
  sync_base b;
  long value, initial;
  bool bounded;
} msem;

static int sem_make(mp_method_call *c, bool bounded) {
  NARGS(0, 1);
  int64_t v = 1;
  if (ARG(0) && mp_obj_int_value(ARG(0), &v) < 0)
    return mp__mgr_fail(c, MP_ETYPE, "TypeError: semaphore value must be int");
  if (v < 0 || v > INT32_MAX)
    return mp__mgr_fail(c, MP_EVALUE,
                        "ValueError: semaphore initial value must be >= 0");
  msem *s = sync_new(sizeof *s);
  if (!s)
    return -ENOMEM;
  s->value = s->initial = (long)v;
  s->bounded = bounded;
  c->referent = s;
  return 0;
}
static int sem_create(void *ctx, mp_method_call *c) { return sem_make(c, false); }
static int bsem_create(void *ctx, mp_method_call *c) { return sem_make(c, true); }

static int sem_acquire(void *self, mp_method_call *c) {
  msem *s = self;
  mp__deadline dl;
  int rc = acquire_args(c, &dl);
  if (rc < 0)
    return rc;
  pthread_mutex_lock(&s->b.mu);
  while (s->value == 0 && (rc = mp__mgr_cond_wait(&s->b.cv, &s->b.mu, &dl)) == 0)
    ;
  bool got = s->value > 0;
  if (got)
    s->value--;
  pthread_mutex_unlock(&s->b.mu);
  return wait_result(c, rc, got);
}

static int sem_release(void *self, mp_method_call *c) {
  NARGS(0, 1);
  msem *s = self;
  int64_t n = 1;
  if (ARG(0) && (mp_obj_int_value(ARG(0), &n) < 0 || n < 1))
    return mp__mgr_fail(c, MP_EVALUE, "ValueError: n must be one or more");
  int rc = 0;
  pthread_mutex_lock(&s->b.mu);
  if (s->bounded && s->value + n > s->initial)
    rc = mp__mgr_fail(c, MP_EVALUE, "ValueError: Semaphore released too many "
                                    "times");
  else
    s->value += (long)n;
  pthread_cond_broadcast(&s->b.cv);
  pthread_mutex_unlock(&s->b.mu);
  return rc;
}

static int sem_get_value(void *self, mp_method_call *c) {
  msem *s = self;
  pthread_mutex_lock(&s->b.mu);
  long v = s->value;
  pthread_mutex_unlock(&s->b.mu);
  c->result = mp_obj_int(v);
  return c->result ? 0 : -ENOMEM;
}

static const mp_method_def sem_methods[] = {
    {"acquire", sem_acquire, NULL},
    {"release", sem_release, NULL},
    {"get_value", sem_get_value, NULL},
    {"__enter__", sem_acquire, NULL},
};

/* ---- Condition --------------------------------------------------------------------------------- */

typedef struct cwaiter {
  bool notified;
  struct cwaiter *next;
} cwaiter;

typedef struct mcond {
  sync_base b; /* b.mu unused: the lock's mutex guards everything */
  mlock *lock;
  cwaiter *head;
} mcond;

static int cond_create(void *ctx, mp_method_call *c) {
  NARGS(0, 1);
  mlock *lock = NULL;
  if (ARG(0) && mp_obj_get_type(ARG(0)) != MP_OBJ_NONE) {
    const mgr_type *t;
    lock = mp__mgr_resolve_token(ARG(0), &t);
    if (!lock || (strcmp(t->def.type_id, "Lock") && strcmp(t->def.type_id, "RLock")))
      return mp__mgr_fail(c, MP_ETYPE, "TypeError: Condition needs a Lock or "
                                       "RLock proxy of this manager");
    __atomic_add_fetch(&lock->b.refs, 1, __ATOMIC_RELAXED);
  } else {
    int rc = lock_make(c, true);
    if (rc < 0)
      return rc;
    lock = c->referent;
  }
  mcond *cd = sync_new(sizeof *cd);
  if (!cd) {
    sync_destroy(lock);
    return -ENOMEM;
  }
  cd->lock = lock;
  c->referent = cd;
  return 0;
}

static void cond_destroy(void *ref) {
  mcond *cd = ref;
  if (__atomic_load_n(&cd->b.refs, __ATOMIC_ACQUIRE) == 1)
    sync_destroy(cd->lock);
  sync_destroy(cd);
}

static bool cond_owned(mcond *cd, uint64_t caller) {
  mlock *l = cd->lock;
  return l->count && (!l->recursive || l->owner == caller);
}

static int cond_acquire(void *self, mp_method_call *c) {
  return lock_acquire(((mcond *)self)->lock, c);
}

static int cond_release(void *self, mp_method_call *c) {
  return lock_release(((mcond *)self)->lock, c);
}

static int cond_wait(void *self, mp_method_call *c) {
  NARGS(0, 1);
  mcond *cd = self;
  mlock *l = cd->lock;
  mp__deadline dl;
  int rc = deadline_arg(c, 0, NAN, &dl);
  if (rc < 0)
    return rc;
  pthread_mutex_lock(&l->b.mu);
  if (!cond_owned(cd, c->caller)) {
    pthread_mutex_unlock(&l->b.mu);
    return mp__mgr_fail(c, MP_ENOTOWNER,
                        "RuntimeError: cannot wait on un-acquired lock");
  }
  long saved = l->count;
  l->count = 0;
  pthread_cond_broadcast(&l->b.cv);
  cwaiter w = {0}, **pp = &cd->head;
  while (*pp)
    pp = &(*pp)->next;
  *pp = &w;
  rc = 0;
  while (!w.notified && rc == 0)
    rc = mp__mgr_cond_wait(&cd->b.cv, &l->b.mu, &dl);
  if (!w.notified)
    for (pp = &cd->head; *pp; pp = &(*pp)->next)
      if (*pp == &w) {
        *pp = w.next;
        break;
      }
  mp__deadline forever;
  mp__deadline_init(&forever, MP_FOREVER);
  int lr = 0;
  while (l->count && lr == 0)
    lr = mp__mgr_cond_wait(&l->b.cv, &l->b.mu, &forever);
  if (lr == 0) {
    l->count = saved;
    l->owner = c->caller;
  }
  pthread_mutex_unlock(&l->b.mu);
  return lr < 0 ? lr : wait_result(c, rc, w.notified);
}

static int cond_notify_n(mcond *cd, mp_method_call *c, long n) {
  mlock *l = cd->lock;
  pthread_mutex_lock(&l->b.mu);
  if (!cond_owned(cd, c->caller)) {
    pthread_mutex_unlock(&l->b.mu);
    return mp__mgr_fail(c, MP_ENOTOWNER,
                        "RuntimeError: cannot notify on un-acquired lock");
  }
  while (cd->head && n-- > 0) {
    cd->head->notified = true;
    cd->head = cd->head->next;
  }
  pthread_cond_broadcast(&cd->b.cv);
  pthread_mutex_unlock(&l->b.mu);
  return 0;
}

static int cond_notify(void *self, mp_method_call *c) {
  NARGS(0, 1);
  int64_t n = 1;
  if (ARG(0) && mp_obj_int_value(ARG(0), &n) < 0)
    return mp__mgr_fail(c, MP_ETYPE, "TypeError: n must be an int");
  return cond_notify_n(self, c, (long)n);
}

static int cond_notify_all(void *self, mp_method_call *c) {
  NARGS(0, 0);
  return cond_notify_n(self, c, LONG_MAX);
}

static const mp_method_def cond_methods[] = {
    {"acquire", cond_acquire, NULL},       {"release", cond_release, NULL},
    {"wait", cond_wait, NULL},             {"notify", cond_notify, NULL},
    {"notify_all", cond_notify_all, NULL}, {"__enter__", cond_acquire, NULL},
};

/* ---- Event -------------------------------------------------------------------------------------- */

typedef struct mevent {
  sync_base b;
  bool flag;
} mevent;

static int event_create(void *ctx, mp_method_call *c) {
  NARGS(0, 0);
  c->referent = sync_new(sizeof(mevent));
  return c->referent ? 0 : -ENOMEM;
}

static int event_set_to(mevent *e, bool v) {
  pthread_mutex_lock(&e->b.mu);
  e->flag = v;
  if (v)
    pthread_cond_broadcast(&e->b.cv);
  pthread_mutex_unlock(&e->b.mu);
  return 0;
}
static int event_set(void *self, mp_method_call *c) { return event_set_to(self, true); }
static int event_clear(void *self, mp_method_call *c) { return event_set_to(self, false); }

static int event_is_set(void *self, mp_method_call *c) {
  mevent *e = self;
  pthread_mutex_lock(&e->b.mu);
  bool v = e->flag;
  pthread_mutex_unlock(&e->b.mu);
  return ret_bool(c, v);
}

static int event_wait(void *self, mp_method_call *c) {
  NARGS(0, 1);
  mevent *e = self;
  mp__deadline dl;
  int rc = deadline_arg(c, 0, NAN, &dl);
  if (rc < 0)
    return rc;
  pthread_mutex_lock(&e->b.mu);
  while (!e->flag && (rc = mp__mgr_cond_wait(&e->b.cv, &e->b.mu, &dl)) == 0)
    ;
  bool v = e->flag;
  pthread_mutex_unlock(&e->b.mu);
  return wait_result(c, rc, v);
}

static const mp_method_def event_methods[] = {
    {"is_set", event_is_set, NULL},
    {"set", event_set, NULL},
    {"clear", event_clear, NULL},
    {"wait", event_wait, NULL},
};

/* ---- Barrier (threading.Barrier's state machine) ----------------------------------------------- */

enum { B_FILLING = 0, B_DRAINING = 1, B_RESETTING = -1, B_BROKEN = -2 };

typedef struct mbarrier {
  sync_base b;
  long parties, count;
  int state;
  double timeout;
  void (*action)(void); /* run by the last to arrive, before the others go */
} mbarrier;

static int barrier_create(void *ctx, mp_method_call *c) {
  NARGS(1, 3);
  int64_t n;
  if (mp_obj_int_value(ARG(0), &n) < 0 || n < 1 || n > INT32_MAX)
    return mp__mgr_fail(c, MP_EVALUE, "ValueError: parties must be >= 1");
  /* The action: a function reference (module build-id + offset, as a
   * spawn target crosses exec), found in this server's program. */
  void *action;
  int fr = mp__mgr_fn_of(ARG(1), &action);
  if (fr == MP_EDECODE)
    return mp__mgr_fail(c, MP_ETYPE, "TypeError: a Barrier action must be "
                                     "a function reference");
  if (fr < 0)
    return mp__mgr_fail(c, MP_ESTALE, "the Barrier action is not in the "
                                      "server's program");
  double t;
  int rc = mp__mgr_arg_timeout(c, 2, &t);
  if (rc < 0)
    return rc;
  mbarrier *br = sync_new(sizeof *br);
  if (!br)
    return -ENOMEM;
  br->parties = (long)n;
  br->timeout = t;
  br->action = (void (*)(void))action;
  c->referent = br;
  return 0;
}

static void barrier_break(mbarrier *br) {
  br->state = B_BROKEN;
  pthread_cond_broadcast(&br->b.cv);
}

static void barrier_exit(mbarrier *br) {
  if (br->count == 0 && (br->state == B_RESETTING || br->state == B_DRAINING)) {
    br->state = B_FILLING;
    pthread_cond_broadcast(&br->b.cv);
  }
}

static int barrier_wait(void *self, mp_method_call *c) {
  NARGS(0, 1);
  mbarrier *br = self;
  mp__deadline dl, forever;
  int rc = deadline_arg(c, 0, br->timeout, &dl);
  if (rc < 0)
    return rc;
  mp__deadline_init(&forever, MP_FOREVER);
  pthread_mutex_lock(&br->b.mu);
  rc = 0;
  while ((br->state == B_DRAINING || br->state == B_RESETTING) && rc == 0)
    rc = mp__mgr_cond_wait(&br->b.cv, &br->b.mu, &forever);
  if (rc == 0 && br->state < 0)
    rc = MP_EBROKEN;
  if (rc < 0) {
    pthread_mutex_unlock(&br->b.mu);
    return mp__mgr_fail(c, rc == MP_EBROKEN ? rc : MP_ECLOSED,
                        "BrokenBarrierError");
  }
  long index = br->count++;
  if (index + 1 == br->parties) {
    if (br->action)
      br->action();
    br->state = B_DRAINING;
    pthread_cond_broadcast(&br->b.cv);
  } else {
    while (br->state == B_FILLING && rc == 0)
      rc = mp__mgr_cond_wait(&br->b.cv, &br->b.mu, &dl);
    if (rc < 0) {
      barrier_break(br);
      rc = rc == MP_ETIMEOUT ? MP_EBROKEN : rc;
    } else if (br->state < 0) {
      rc = MP_EBROKEN;
    }
  }
  br->count--;
  barrier_exit(br);
  pthread_mutex_unlock(&br->b.mu);
  if (rc < 0)
    return mp__mgr_fail(c, rc, "BrokenBarrierError");
  c->result = mp_obj_int(index);
  return c->result ? 0 : -ENOMEM;
}

static int barrier_abort(void *self, mp_method_call *c) {
  mbarrier *br = self;
  pthread_mutex_lock(&br->b.mu);
  barrier_break(br);
  pthread_mutex_unlock(&br->b.mu);
  return 0;
}

static int barrier_reset(void *self, mp_method_call *c) {
  mbarrier *br = self;
  pthread_mutex_lock(&br->b.mu);
  if (br->count > 0) {
    if (br->state == B_FILLING || br->state == B_BROKEN)
      br->state = B_RESETTING;
  } else {
    br->state = B_FILLING;
  }
  pthread_cond_broadcast(&br->b.cv);
  pthread_mutex_unlock(&br->b.mu);
  return 0;
}

static int barrier_attr(mbarrier *br, mp_method_call *c, const char *name) {
  pthread_mutex_lock(&br->b.mu);
  if (!strcmp(name, "parties"))
    c->result = mp_obj_int(br->parties);
  else if (!strcmp(name, "n_waiting"))
    c->result = mp_obj_int(br->state == B_FILLING ? br->count : 0);
  else if (!strcmp(name, "broken"))
    c->result = mp_obj_bool(br->state == B_BROKEN);
  pthread_mutex_unlock(&br->b.mu);
  if (!c->result)
    return mp__mgr_fail(c, MP_EATTR, "AttributeError: '%s'", name);
  return 0;
}

static int barrier_getattr(void *self, mp_method_call *c) {
  NARGS(1, 1);
  const char *name;
  if (mp_obj_str_value(ARG(0), &name, NULL) < 0)
    return mp__mgr_fail(c, MP_ETYPE, "TypeError: attribute name must be string");
  return barrier_attr(self, c, name);
}
static int barrier_parties(void *self, mp_method_call *c) { return barrier_attr(self, c, "parties"); }
static int barrier_n_waiting(void *self, mp_method_call *c) { return barrier_attr(self, c, "n_waiting"); }
static int barrier_broken(void *self, mp_method_call *c) { return barrier_attr(self, c, "broken"); }

static const mp_method_def barrier_methods[] = {
    {"__getattribute__", barrier_getattr, NULL},
    {"wait", barrier_wait, NULL},
    {"abort", barrier_abort, NULL},
    {"reset", barrier_reset, NULL},
    {"parties", barrier_parties, NULL},
    {"n_waiting", barrier_n_waiting, NULL},
    {"broken", barrier_broken, NULL},
};

/* ---- Queue (queue.Queue) -------------------------------------------------------------------------- */

typedef struct mqueue {
  sync_base b; /* b.cv: not_empty */
  pthread_cond_t not_full, all_done;
  mp_obj **ring;
  size_t head, count, cap;
  long maxsize, unfinished;
} mqueue;

static int queue_create(void *ctx, mp_method_call *c) {
  NARGS(0, 1);
  int64_t max = 0;
  if (ARG(0) && mp_obj_int_value(ARG(0), &max) < 0)
    return mp__mgr_fail(c, MP_ETYPE, "TypeError: maxsize must be an int");
  mqueue *q = sync_new(sizeof *q);
  if (!q)
    return -ENOMEM;
  mp__mgr_cond_init(&q->not_full);
  mp__mgr_cond_init(&q->all_done);
  q->maxsize = max > 0 && max < LONG_MAX ? (long)max : 0;
  c->referent = q;
  return 0;
}

static void queue_destroy(void *ref) {
  mqueue *q = ref;
  if (__atomic_load_n(&q->b.refs, __ATOMIC_ACQUIRE) == 1) {
    for (size_t i = 0; i < q->count; i++)
      mp_obj_unref(q->ring[(q->head + i) % q->cap]);
    mp__free(q->ring);
    pthread_cond_destroy(&q->not_full);
    pthread_cond_destroy(&q->all_done);
  }
  sync_destroy(q);
}

/* (block=True, timeout=None) as queue.Queue takes them, starting at arg i. */
static int queue_args(mp_method_call *c, size_t i, mp__deadline *dl) {
  bool block = arg_bool(c, i, true);
  double t;
  int rc = mp__mgr_arg_timeout(c, i + 1, &t);
  if (rc < 0)
    return rc;
  if (t < 0)
    return mp__mgr_fail(c, MP_EVALUE,
                        "ValueError: 'timeout' must be a non-negative number");
  return mp__deadline_init(dl, block ? t : 0);
}

static int queue_put_impl(mqueue *q, mp_method_call *c, mp_obj *item,
                          const mp__deadline *dl) {
  int rc = 0;
  pthread_mutex_lock(&q->b.mu);
  while (q->maxsize && q->count >= (size_t)q->maxsize && rc == 0)
    rc = mp__mgr_cond_wait(&q->not_full, &q->b.mu, dl);
  if (rc == 0 && q->count == q->cap) {
    size_t n = q->cap ? q->cap * 2 : 16;
    mp_obj **r = mp__malloc(n * sizeof *r);
    if (!r) {
      rc = -ENOMEM;
    } else {
      for (size_t i = 0; i < q->count; i++)
        r[i] = q->ring[(q->head + i) % q->cap];
      mp__free(q->ring);
      q->ring = r;
      q->head = 0;
      q->cap = n;
    }
  }
  if (rc == 0) {
    q->ring[(q->head + q->count++) % q->cap] = mp_obj_ref(item);
    q->unfinished++;
    pthread_cond_broadcast(&q->b.cv);
  }
  pthread_mutex_unlock(&q->b.mu);
  if (rc == MP_ETIMEOUT)
    return mp__mgr_fail(c, MP_EFULL, "queue.Full");
  return rc;
}

static int queue_put(void *self, mp_method_call *c) {
  NARGS(1, 3);
  mp__deadline dl;
  int rc = queue_args(c, 1, &dl);
  return rc < 0 ? rc : queue_put_impl(self, c, ARG(0), &dl);
}

static const mp__deadline now_ = {0}; /* at 0: passed already */

static int queue_put_nowait(void *self, mp_method_call *c) {
  NARGS(1, 1);
  return queue_put_impl(self, c, ARG(0), &now_);
}

static int queue_get_impl(mqueue *q, mp_method_call *c, const mp__deadline *dl) {
  int rc = 0;
  pthread_mutex_lock(&q->b.mu);
  while (q->count == 0 && rc == 0)
    rc = mp__mgr_cond_wait(&q->b.cv, &q->b.mu, dl);
  if (q->count) {
    rc = 0;
    c->result = q->ring[q->head];
    q->head = (q->head + 1) % q->cap;
    q->count--;
    pthread_cond_broadcast(&q->not_full);
  }
  pthread_mutex_unlock(&q->b.mu);
  if (rc == MP_ETIMEOUT)
    return mp__mgr_fail(c, MP_EEMPTY, "queue.Empty");
  return rc;
}

static int queue_get(void *self, mp_method_call *c) {
  NARGS(0, 2);
  mp__deadline dl;
  int rc = queue_args(c, 0, &dl);
  return rc < 0 ? rc : queue_get_impl(self, c, &dl);
}

static int queue_get_nowait(void *self, mp_method_call *c) {
  NARGS(0, 0);
  return queue_get_impl(self, c, &now_);
}

static int queue_size(mqueue *q, mp_method_call *c, int what) {
  pthread_mutex_lock(&q->b.mu);
  size_t n = q->count;
  pthread_mutex_unlock(&q->b.mu);
  if (what == 0)
    c->result = mp_obj_int((int64_t)n);
  else if (what == 1)
    c->result = mp_obj_bool(n == 0);
  else
    c->result = mp_obj_bool(q->maxsize > 0 && n >= (size_t)q->maxsize);
  return c->result ? 0 : -ENOMEM;
}
static int queue_qsize(void *self, mp_method_call *c) { return queue_size(self, c, 0); }
static int queue_empty(void *self, mp_method_call *c) { return queue_size(self, c, 1); }
static int queue_full(void *self, mp_method_call *c) { return queue_size(self, c, 2); }

static int queue_task_done(void *self, mp_method_call *c) {
  mqueue *q = self;
  int rc = 0;
  pthread_mutex_lock(&q->b.mu);
  if (q->unfinished <= 0)
    rc = mp__mgr_fail(c, MP_EVALUE, "ValueError: task_done() called too many "
                                    "times");
  else if (--q->unfinished == 0)
    pthread_cond_broadcast(&q->all_done);
  pthread_mutex_unlock(&q->b.mu);
  return rc;
}

static int queue_join(void *self, mp_method_call *c) {
  mqueue *q = self;
  mp__deadline dl;
  mp__deadline_init(&dl, MP_FOREVER);
  int rc = 0;
  pthread_mutex_lock(&q->b.mu);
  while (q->unfinished > 0 && rc == 0)
    rc = mp__mgr_cond_wait(&q->all_done, &q->b.mu, &dl);
  pthread_mutex_unlock(&q->b.mu);
  return rc;
}

static int queue_repr(void *self, char **out) {
  char buf[64];
  snprintf(buf, sizeof buf, "<queue.Queue object at %p>", self);
  *out = mp__strdup(buf);
  return *out ? 0 : -ENOMEM;
}

static const mp_method_def queue_methods[] = {
    {"empty", queue_empty, NULL},         {"full", queue_full, NULL},
    {"get", queue_get, NULL},             {"get_nowait", queue_get_nowait, NULL},
    {"join", queue_join, NULL},           {"put", queue_put, NULL},
    {"put_nowait", queue_put_nowait, NULL}, {"qsize", queue_qsize, NULL},
    {"task_done", queue_task_done, NULL},
};

/* ---- The table ------------------------------------------------------------------------------------- */

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define SYNC (MP_TYPE_CONCURRENT | MGR_TYPE_ALL_EXPOSED)

const mp_type_def mp__mgr_sync_types[] = {
    {.type_id = "Queue", .create = queue_create, .destroy = queue_destroy,
     .repr = queue_repr, .methods = queue_methods, .n_methods = N(queue_methods),
     .flags = SYNC},
    {.type_id = "Lock", .create = lock_create, .destroy = sync_destroy,
     .repr = lock_repr, .methods = lock_methods, .n_methods = N(lock_methods),
     .proxytype = "AcquirerProxy", .flags = SYNC},
    {.type_id = "RLock", .create = rlock_create, .destroy = sync_destroy,
     .repr = lock_repr, .methods = lock_methods, .n_methods = N(lock_methods),
     .proxytype = "AcquirerProxy", .flags = SYNC},
    {.type_id = "Semaphore", .create = sem_create, .destroy = sync_destroy,
     .methods = sem_methods, .n_methods = N(sem_methods),
     .proxytype = "AcquirerProxy", .flags = SYNC},
    {.type_id = "BoundedSemaphore", .create = bsem_create,
     .destroy = sync_destroy, .methods = sem_methods,
     .n_methods = N(sem_methods), .proxytype = "AcquirerProxy", .flags = SYNC},
    {.type_id = "Condition", .create = cond_create, .destroy = cond_destroy,
     .methods = cond_methods, .n_methods = N(cond_methods),
     .proxytype = "ConditionProxy", .flags = SYNC},
    {.type_id = "Event", .create = event_create, .destroy = sync_destroy,
     .methods = event_methods, .n_methods = N(event_methods),
     .proxytype = "EventProxy", .flags = SYNC},
    {.type_id = "Barrier", .create = barrier_create, .destroy = sync_destroy,
     .methods = barrier_methods, .n_methods = N(barrier_methods),
     .proxytype = "BarrierProxy", .flags = SYNC},
};
const size_t mp__mgr_n_sync_types = N(mp__mgr_sync_types);
