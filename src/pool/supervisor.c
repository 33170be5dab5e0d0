/* supervisor.c: the pool's result thread, its loop and what it does besides
 * reading records: it notices a worker's death (its pidfd is readable),
 * settles what the dead worker held (the running item fails with
 * MP_EWORKERDIED naming the signal or exit status, or MP_ETIMEOUT when we
 * killed it for its time limit; items it had not started go back into the
 * ring), starts a replacement in the same slot, enforces time limits, runs
 * callbacks and wakes waiters, and carries out close and terminate.
 *
 * It sleeps in poll() on the eventfd and the pidfds; while results keep
 * coming it never sleeps, and then looks at the pidfds every few
 * milliseconds with a zero timeout. */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pool_internal.h"

#define SPIN_IDLE 200            /* empty checks before sleeping */
#define PIDFD_CHECK_NS 5000000   /* sentinel check period when busy */
#define RESPAWN_RETRY_NS 100000000

static const char *signame(int signo) {
  const char *s = sigabbrev_np(signo);
  return s ? s : "?";
}

/* ---- A worker ended ----------------------------------------------------------------- */

static void death_error(mp_pool *p, int w, size_t item, int signo, int status,
                        pid_t pid, mp_error *e) {
  const char *name = p->workers[w].name;
  if (signo)
    mp_error_set(e, MP_EWORKERDIED, signo, -1,
                 "worker %s (pid %d) was killed by signal %d (%s) while "
                 "running item %zu", name, (int)pid, signo, signame(signo), item);
  else
    mp_error_set(e, MP_EWORKERDIED, 0, status,
                 "worker %s (pid %d) exited with status %d while running "
                 "item %zu", name, (int)pid, status, item);
}

/* Worker w died holding chunk ch: items it finished count, the one it was
 * running fails, the rest run elsewhere. */
static void settle(mp_pool *p, int w, pool__chunk *ch, uint32_t progress,
                   uint64_t running, int signo, int status, pid_t pid,
                   pool__col *c) {
  pool__worker *wk = &p->workers[w];
  mp_result *j = ch->job;
  bool fixed = j->out_kind == POOL__OUT_FIXED;
  size_t k = ch->ndone > progress ? ch->ndone : progress;
  if (k > ch->count)
    k = ch->count;
  if (fixed && k) {
    pool__copy_out(p, c, j, ch->first, k);
    pool__items_done(j, k, c);
  }
  size_t next = ch->first + k, end = ch->first + ch->count;
  if (next < end && running == next + 1) {
    mp_error e;
    if (wk->kill_timeout && wk->kill_running == running) {
      mp_error_set(&e, MP_ETIMEOUT, SIGKILL, -1,
                   "item %zu exceeded the time limit of %g s; its worker %s "
                   "(pid %d) was killed", next, p->opts.task_timeout, wk->name,
                   (int)pid);
    } else if (wk->kill_timeout) {
      /* Killed for an item that finished just then: this one is innocent. */
      pool__requeue(p, ch, next);
      return;
    } else {
      death_error(p, w, next, signo, status, pid, &e);
    }
    pool__item_fail(j, next, e.code, &e, c);
    if (fixed)
      pool__items_done(j, 1, c);
    next++;
  }
  if (next < end)
    pool__requeue(p, ch, next);
  else
    pool__chunk_free(p, ch);
}

static void on_death(mp_pool *p, int w, pool__col *c) {
  pool__worker *wk = &p->workers[w];
  pool__slot *s = &p->slots[w];
  pool__drain(p, w, c); /* everything it committed before dying */
  wk->frag_len = 0;     /* a result cut short by death is dropped */
  pid_t pid = wk->pid;
  int signo, status;
  pool__reap(p, w, &signo, &status);
  uint64_t seq = POOL__LOAD(&s->seq);
  uint64_t running = POOL__LOAD(&s->running);
  uint32_t progress = POOL__LOAD(&s->progress);
  uint32_t wstate = POOL__LOAD(&s->state);
  if (wstate == POOL__W_INIT_FAILED && !p->broken) {
    p->broken = true;
    mp_error_set(&p->broken_err, MP_EWORKERDIED, 0, s->init_status,
                 "the pool's initializer failed in worker %s (pid %d): it "
                 "returned %d", wk->name, (int)pid, s->init_status);
  } else if (wstate == POOL__W_SETUP_FAILED && !p->broken) {
    /* A spawned worker that cannot map the pool or lacks the initializer:
     * its replacements would fail alike. */
    int code = s->init_status == MP_ESTALE ? MP_ESTALE : -ENOMEM;
    p->broken = true;
    mp_error_set(&p->broken_err, code, 0, -1,
                 "worker %s (pid %d) could not start: %s", wk->name, (int)pid,
                 code == MP_ESTALE ? "the initializer is not in its program"
                                   : "cannot map the pool's memory");
  }
  if (seq) {
    pool__chunk *ch = pool__chunk_lookup(p, s->task.token);
    if (ch && ch->first == s->task.first && ch->count == s->task.count)
      settle(p, w, ch, progress, running, signo, status, pid, c);
  }
  /* A cell it claimed but had not yet recorded in its slot never started. */
  for (uint32_t i = 0; i < POOL__NCELLS; i++) {
    pool__cell *cell = &p->shm->cells[i];
    uint64_t st = POOL__LOAD(&cell->state);
    if ((st & 0xffff) != POOL__TAG_WORKER + (uint32_t)w)
      continue;
    uint64_t pos = st >> 16;
    if (pos + 1 != seq) {
      pool__chunk *ch = pool__chunk_lookup(p, cell->token);
      if (ch)
        pool__requeue(p, ch, ch->first);
    }
    POOL__STORE(&cell->state, POOL__STATE(pos + POOL__NCELLS, POOL__TAG_FREE));
  }
  memset(&s->task, 0, sizeof s->task);
  s->seq = s->running = 0;
  s->started_ns = 0;
  s->progress = 0;
  s->state = wstate == POOL__W_GONE ? POOL__W_GONE : POOL__W_STARTING;
  s->tail = s->head = s->prod_waiting = 0;
  wk->kill_timeout = false;
  wk->dead = false;
  /* A backend's proxy whose remote end is gone is not replaced; when none
   * is left the pool cannot run anything more. */
  wk->respawn_at = wstate == POOL__W_GONE ? 0 : 1;
  if (wstate == POOL__W_GONE && !p->broken) {
    int alive = 0;
    for (int i = 0; i < p->nproc; i++)
      alive += p->slots[i].state != POOL__W_GONE;
    if (!alive) {
      p->broken = true;
      mp_error_set(&p->broken_err, MP_EWORKERDIED, 0, -1,
                   "every worker of the pool is gone (%s: no remote end "
                   "is left)", p->method_name);
    }
  }
}

/* ---- Time limits --------------------------------------------------------------------- */

/* Kills workers whose item ran too long; returns the next deadline. */
static int64_t check_time_limits(mp_pool *p) {
  if (!p->timeout_ns)
    return INT64_MAX;
  int64_t now = mp__now_ns(), next = INT64_MAX;
  for (int w = 0; w < p->nproc; w++) {
    pool__worker *wk = &p->workers[w];
    pool__slot *s = &p->slots[w];
    if (!wk->proc || wk->dead || wk->kill_timeout)
      continue;
    uint64_t run = POOL__LOAD(&s->running);
    if (!run)
      continue;
    int64_t at = POOL__LOADR(&s->started_ns) + p->timeout_ns;
    if (now >= at) {
      pool__kill(p, w);
      wk->kill_timeout = true;
      wk->kill_running = run;
    } else if (at < next) {
      next = at;
    }
  }
  return next;
}

/* ---- Ending everything ----------------------------------------------------------------- */

/* Fails every outstanding job with e and forgets queued work. */
static void abort_all(mp_pool *p, const mp_error *e, pool__col *c) {
  p->pend_head = p->pend_tail = NULL;
  p->rq_head = p->rq_tail = 0;
  /* Take back unclaimed cells (a racing claim wins the CAS and runs a task
   * whose result is then dropped), and forget every chunk: records that
   * still arrive name a stale token and are ignored. */
  for (uint32_t i = 0; i < POOL__NCELLS; i++) {
    pool__cell *cell = &p->shm->cells[i];
    uint64_t st = POOL__LOAD(&cell->state);
    if ((st & 0xffff) == POOL__TAG_READY)
      __atomic_compare_exchange_n(
          &cell->state, &st,
          POOL__STATE((st >> 16) + POOL__NCELLS, POOL__TAG_FREE), false,
          __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
  }
  for (uint32_t i = 0; i < p->nchunks; i++)
    if (p->chunks[i].state != POOL__CH_FREE)
      pool__chunk_free(p, &p->chunks[i]);
  for (mp_result *j = p->live; j; j = j->live_next)
    pool__job_abort(j, e, c);
}

static void terminate_all(mp_pool *p, pool__col *c) {
  /* Processes are killed; threads (which cannot be) stop between items. */
  POOL__STORE(&p->shm->stop, 1);
  POOL__STORE(&p->shm->shutdown, 2);
  POOL__FENCE();
  __atomic_add_fetch(&p->shm->work, 1, __ATOMIC_SEQ_CST);
  mp__futex_wake(&p->shm->work, INT32_MAX);
  for (int w = 0; w < p->nproc; w++)
    pool__kill(p, w);
  for (int w = 0; w < p->nproc; w++) {
    if (!p->workers[w].proc)
      continue;
    /* Drain until it is gone: a thread may be waiting for ring space. */
    struct pollfd pfd = {.fd = p->workers[w].pidfd, .events = POLLIN};
    do
      pool__drain(p, w, c);
    while (!p->workers[w].dead && poll(&pfd, 1, 10) == 0);
    int signo, status;
    pool__reap(p, w, &signo, &status);
  }
  mp_error e;
  mp_error_set(&e, MP_ECLOSED, 0, -1, "the pool was terminated");
  abort_all(p, &e, c);
}

/* ---- Sleeping ------------------------------------------------------------------------- */

/* Polls the live workers' pidfds (and, when sleeping, the eventfd) and
 * marks the ended ones. Sleeping drops the mutex for the wait. */
static void mark_dead(mp_pool *p, struct pollfd *fds, int *who, int timeout_ms,
                      bool sleeping) {
  int n = 0;
  for (int w = 0; w < p->nproc; w++) {
    if (p->workers[w].proc && !p->workers[w].dead) {
      fds[n] = (struct pollfd){.fd = p->workers[w].pidfd, .events = POLLIN};
      who[n++] = w;
    }
  }
  if (sleeping) {
    fds[n] = (struct pollfd){.fd = p->efd, .events = POLLIN};
    who[n++] = -1;
    pthread_mutex_unlock(&p->mu);
  }
  int r = poll(fds, (nfds_t)n, timeout_ms);
  if (sleeping)
    pthread_mutex_lock(&p->mu);
  for (int i = 0; r > 0 && i < n; i++) {
    if (!fds[i].revents)
      continue;
    if (who[i] < 0) {
      uint64_t v;
      (void)!read(p->efd, &v, sizeof v);
    } else {
      p->workers[who[i]].dead = true;
    }
  }
}

static int poll_ms(int64_t deadline) {
  if (deadline == INT64_MAX)
    return -1;
  int64_t left = deadline - mp__now_ns();
  if (left <= 0)
    return 0;
  int64_t ms = (left + 999999) / 1000000;
  return ms > 60000 ? 60000 : (int)ms;
}

static void sleep_until(mp_pool *p, int64_t deadline, struct pollfd *fds,
                        int *who) {
  __atomic_store_n(&p->shm->collector_sleeping, 1, __ATOMIC_SEQ_CST);
  POOL__FENCE();
  if (pool__rings_nonempty(p)) {
    POOL__STORER(&p->shm->collector_sleeping, 0);
    return;
  }
  int ms = poll_ms(deadline);
  mark_dead(p, fds, who, ms, true);
  POOL__STORER(&p->shm->collector_sleeping, 0);
}

/* ---- The loop -------------------------------------------------------------------------- */

static int64_t respawn(mp_pool *p, bool shutting) {
  int64_t next = INT64_MAX;
  if (p->broken || p->state == POOL__TERMINATE || shutting)
    return next;
  for (int w = 0; w < p->nproc; w++) {
    pool__worker *wk = &p->workers[w];
    if (wk->proc || !wk->respawn_at)
      continue;
    int64_t now = mp__now_ns();
    if (now < wk->respawn_at) {
      next = wk->respawn_at < next ? wk->respawn_at : next;
      continue;
    }
    /* fork without the mutex: only this thread touches p->workers. */
    pthread_mutex_unlock(&p->mu);
    int rc = pool__spawn(p, w);
    pthread_mutex_lock(&p->mu);
    if (rc) {
      mp_log(MP_LOG_WARNING, "pool: cannot start a worker: %s", mp_strerror(rc));
      wk->respawn_at = now + RESPAWN_RETRY_NS;
      next = wk->respawn_at < next ? wk->respawn_at : next;
    } else {
      wk->respawn_at = 0;
    }
  }
  return next;
}

static bool any_alive(mp_pool *p) {
  for (int w = 0; w < p->nproc; w++)
    if (p->workers[w].proc)
      return true;
  return false;
}

void *pool__collector_main(void *arg) {
  mp_pool *p = arg;
  pool__col c = {.done_tail = &c.done};
  struct pollfd *fds = mp__calloc((size_t)p->nproc + 1, sizeof *fds);
  int *who = mp__calloc((size_t)p->nproc + 1, sizeof *who);
  bool shutting = false;
  int idle = 0;
  int64_t last_check = mp__now_ns();
  pthread_mutex_lock(&p->mu);
  for (;;) {
    bool work = pool__drain_all(p, &c);
    int64_t now = mp__now_ns();
    if (now - last_check >= PIDFD_CHECK_NS && fds) {
      mark_dead(p, fds, who, 0, false);
      last_check = now;
    }
    for (int w = 0; w < p->nproc; w++) {
      if (p->workers[w].proc && p->workers[w].dead) {
        on_death(p, w, &c);
        work = true;
      }
    }
    if (p->state == POOL__TERMINATE) {
      terminate_all(p, &c);
      pool__flush(p, &c, true);
      break;
    }
    if (p->broken && p->live)
      abort_all(p, &p->broken_err, &c);
    pool__refill(p);
    if (p->state == POOL__CLOSE && p->outstanding == 0 && !shutting) {
      shutting = true;
      POOL__STORE(&p->shm->shutdown, 1);
      POOL__FENCE();
      __atomic_add_fetch(&p->shm->work, 1, __ATOMIC_SEQ_CST);
      mp__futex_wake(&p->shm->work, INT32_MAX);
    }
    int64_t deadline = respawn(p, shutting);
    int64_t limit = check_time_limits(p);
    if (limit < deadline)
      deadline = limit;
    limit = pool__progress_tick(p); /* a bar moves while chunks run */
    if (limit < deadline)
      deadline = limit;
    if (p->handoff) { /* ready jobs a helping waiter left us */
      *c.done_tail = p->handoff;
      while (*c.done_tail)
        c.done_tail = &(*c.done_tail)->pend_next;
      p->handoff = NULL;
    }
    if (c.done || c.ncopies) {
      pool__flush(p, &c, true);
      continue;
    }
    if (shutting && !any_alive(p))
      break;
    if (work) {
      idle = 0;
      continue;
    }
    /* A short spin, without the mutex, before sleeping (not under MP_SPIN=0). */
    if (idle++ < 1 && mp__spin_allowed()) {
      pthread_mutex_unlock(&p->mu);
      for (int i = 0; i < SPIN_IDLE && !pool__rings_nonempty(p); i++)
        pool__cpu_relax();
      pthread_mutex_lock(&p->mu);
      continue;
    }
    idle = 0;
    if (!fds || !who) { /* no memory for poll: nap instead */
      pthread_mutex_unlock(&p->mu);
      usleep(1000);
      pthread_mutex_lock(&p->mu);
      continue;
    }
    sleep_until(p, deadline, fds, who);
    last_check = mp__now_ns();
  }
  pthread_mutex_unlock(&p->mu);
  if (p->backend) /* no proxy is left: the remote ends may go */
    p->backend->close(p->bstate);
  mp__free(c.copies);
  mp__free(fds);
  mp__free(who);
  __atomic_store_n(&p->thread_done, 1, __ATOMIC_SEQ_CST);
  mp__futex_wake(&p->thread_done, INT32_MAX);
  return NULL;
}
