/* help.c: finishing jobs, and waiters that help. A thread that waits for a
 * result does not just sleep: for a few tens of microseconds it drains the
 * workers' result rings itself (when the pool mutex is free), so a short
 * task's round trip needs no thread hop and no system call: the worker
 * publishes a record, the waiter reads it and finds its own job ready.
 * While a waiter helps, workers do not wake the result thread for results.
 * Jobs with callbacks still complete on the result thread (Python runs
 * callbacks on its result-handler thread): a helper hands them over. Deaths,
 * time limits, close and terminate stay with the result thread. */
#include <string.h>
#include <unistd.h>

#include "pool_internal.h"

#define HELP_NS 50000 /* how long a waiter helps before sleeping */

/* Threads inside pool__help, over all pools. A helper counts itself before
 * it looks at its job; mp_pool_free, once every job is ready, waits until
 * the count is zero: so a helper never touches a pool that is gone (it saw
 * its job ready, or the pool waited for it). Helpers stay at most HELP_NS. */
uint32_t pool__g_helping;

void pool__notify_collector(mp_pool *p, bool force) {
  /* Pairs with the result thread's store of collector_sleeping and its
   * re-check of the rings: one of us sees the other. */
  POOL__FENCE();
  if (!force && POOL__LOADR(&p->shm->helpers_active))
    return; /* a waiter is draining: it will see the record */
  if (POOL__LOADR(&p->shm->collector_sleeping) &&
      __atomic_exchange_n(&p->shm->collector_sleeping, 0, __ATOMIC_SEQ_CST)) {
    uint64_t one = 1;
    (void)!write(p->efd, &one, sizeof one);
  }
}

static void mark_ready(mp_result *j) {
  /* Pairs with the waiter's raise of waiters (result.c). */
  __atomic_store_n(&j->state, POOL__ST_READY, __ATOMIC_SEQ_CST);
  if (POOL__LOAD(&j->waiters))
    mp__futex_wake(&j->state, INT32_MAX);
  if (j->kind == POOL__JOB_IMAP) {
    __atomic_add_fetch(&j->seq, 1, __ATOMIC_SEQ_CST);
    if (POOL__LOAD(&j->waiters))
      mp__futex_wake(&j->seq, INT32_MAX);
  }
}

void pool__flush(mp_pool *p, pool__col *c, bool collector) {
  if (!c->ncopies && !c->done)
    return;
  mp_result *done = c->done, *handoff = NULL, **htail = &handoff;
  c->done = NULL;
  c->done_tail = &c->done;
  size_t ncopies = c->ncopies;
  c->ncopies = 0;
  pthread_mutex_unlock(&p->mu);
  for (size_t i = 0; i < ncopies; i++)
    memcpy(c->copies[i].dst, c->copies[i].src, c->copies[i].len);
  mp_result **link = &done;
  for (mp_result *j = done, *next; j; j = next) {
    next = j->pend_next;
    mp_result_cb cb = j->code ? j->ecb : j->cb;
    if (cb && !collector) { /* its callback runs on the result thread */
      *link = next;
      j->pend_next = NULL;
      *htail = j;
      htail = &j->pend_next;
      continue;
    }
    link = &j->pend_next;
    pool__progress_draw(j, true);
    if (cb) {
      /* Final for its own callback, not yet for anyone else (Python runs
       * the callback before get() returns). */
      POOL__STORE(&j->state, POOL__ST_FINAL);
      pool__cb_job = j;
      cb(j, j->ctx);
      pool__cb_job = NULL;
    }
    mark_ready(j);
  }
  pthread_mutex_lock(&p->mu);
  for (mp_result *j = done, *next; j; j = next) {
    next = j->pend_next;
    if (j->live_prev)
      j->live_prev->live_next = j->live_next;
    else
      p->live = j->live_next;
    if (j->live_next)
      j->live_next->live_prev = j->live_prev;
    p->live_bars -= j->progress != 0;
    p->outstanding--;
    pool__job_unref(j);
  }
  if (handoff) {
    *htail = p->handoff;
    p->handoff = handoff;
  }
  /* The result thread acts on these; it may be asleep. */
  if (!collector && (handoff || p->state != POOL__RUN))
    pool__notify_collector(p, true);
}

bool pool__help(mp_pool *p, bool (*done)(void *), void *arg,
                const mp__deadline *dl) {
  __atomic_add_fetch(&pool__g_helping, 1, __ATOMIC_SEQ_CST);
  bool ok = done(arg);
  /* Not done: the pool is alive (see pool__g_helping). The result thread
   * itself, waiting inside a callback, does not help; nor does anyone
   * under MP_SPIN=0 (helping is a spin). */
  if (!ok && mp__spin_allowed() && !POOL__LOAD(&p->thread_done) &&
      !(p->thread_started && pthread_equal(pthread_self(), p->thread))) {
    __atomic_add_fetch(&p->shm->helpers_active, 1, __ATOMIC_SEQ_CST);
    int64_t end = mp__now_ns() + HELP_NS;
    if (!mp__deadline_forever(dl) && dl->at_ns < end)
      end = dl->at_ns;
    pool__col c = {.done_tail = &c.done};
    for (int spin = 0; !(ok = done(arg)); spin++) {
      if (pool__rings_nonempty(p) && pthread_mutex_trylock(&p->mu) == 0) {
        pool__drain_all(p, &c);
        pool__refill(p); /* cells the drained results freed */
        pool__flush(p, &c, false);
        pthread_mutex_unlock(&p->mu);
        continue;
      }
      pool__cpu_relax();
      if ((spin & 63) == 0 && mp__now_ns() >= end)
        break;
    }
    mp__free(c.copies);
    __atomic_sub_fetch(&p->shm->helpers_active, 1, __ATOMIC_SEQ_CST);
    POOL__FENCE(); /* pairs with the worker's fence after publishing */
    /* Records that arrived while we helped and we did not take: make sure
     * the result thread sees them. */
    if (pool__rings_nonempty(p))
      pool__notify_collector(p, false);
  }
  __atomic_sub_fetch(&pool__g_helping, 1, __ATOMIC_SEQ_CST);
  return ok;
}
