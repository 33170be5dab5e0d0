/* worker.c: what a pool worker process does. It claims chunks from the
 * shared task ring, runs each item, and writes result records into its own
 * ring, which only the parent's result thread reads. It keeps its slot
 * current (held chunk, running item, items finished) so that the parent can
 * tell, if this process dies at any instant, which item was running and
 * which never started. It sleeps on a futex when there is no work, and
 * wakes the result thread through an eventfd only when that thread has said
 * it is asleep, so a busy pool makes no system calls per task. A backend's
 * proxy thread (pool_backend.h) runs the same loop but hands its chunks, with
 * others already waiting, to the backend, which posts the items through the
 * services here (pool__core). Also here: the task-side API (mp_task_out_*). */
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pool_internal.h"

#define SPIN_PAUSE 100 /* claim attempts with a pause between */
#define SPIN_CLAIM 150 /* then with sched_yield, up to this; then sleep */

typedef struct wctx {
  mp_pool *p;
  int w;
  pool__slot *slot;
  char *ring;
  uint32_t tail;
  char *scratch;
  size_t scap;
  int statm_fd;
  void **fns;         /* spawned workers: resolved task functions */
} wctx;

struct mp_task_out {
  wctx *c;
  uint64_t index;
  char *fixed;        /* fixed output element, or NULL */
  size_t fixed_size;
  size_t len;         /* result length (in scratch, or in the element) */
  bool has_msg;
  char msg[MP_ERROR_MESSAGE_MAX];
};

/* ---- Result ring (producer side) ---------------------------------------------- */

/* Room for a record of size bytes (a multiple of 8, at most half the ring)
 * at the tail, after a pad record if it would cross the end. Waits for the
 * result thread to make room. */
static pool__rec *ring_reserve(wctx *c, uint32_t size) {
  pool__slot *s = c->slot;
  for (;;) {
    uint32_t pos = c->tail & (POOL__RING_CAP - 1);
    uint32_t contig = POOL__RING_CAP - pos;
    uint32_t need = size <= contig ? size : contig + size;
    uint32_t head = POOL__LOAD(&s->head); /* A1: pairs with the reader's R2 */
    if (c->tail + need - head <= POOL__RING_CAP) {
      if (size > contig) {
        pool__rec *pad = (pool__rec *)(c->ring + pos);
        pad->size = contig;
        pad->type = POOL__REC_PAD;
        c->tail += contig;
        pos = 0;
      }
      return (pool__rec *)(c->ring + pos);
    }
    POOL__STORE(&s->prod_waiting, 1);
    POOL__FENCE();
    if (POOL__LOAD(&s->head) == head) {
      pool__notify_collector(c->p, true); /* someone must drain */
      mp__futex_wait(&s->head, head, NULL);
    }
    POOL__STORE(&s->prod_waiting, 0);
  }
}

static void ring_commit(wctx *c, pool__rec *r) {
  c->tail += r->size;
  POOL__STORE(&c->slot->tail, c->tail); /* R1: pairs with the reader's load */
  pool__notify_collector(c->p, false);
}

static void post(wctx *c, int type, unsigned flags, uint64_t token,
                 uint64_t item, int32_t status, const void *data, size_t len) {
  const char *src = data;
  do {
    size_t part = len > POOL__FRAG_MAX ? POOL__FRAG_MAX : len;
    bool more = part < len;
    uint32_t size = (uint32_t)((sizeof(pool__rec) + part + 7) & ~(size_t)7);
    pool__rec *r = ring_reserve(c, size);
    r->size = size;
    r->type = (uint16_t)type;
    r->flags = (uint16_t)(more ? POOL__F_MORE : flags);
    r->token = token;
    r->item = item;
    r->status = status;
    r->len = (uint32_t)part;
    if (part)
      memcpy(r + 1, src, part);
    ring_commit(c, r);
    src += part;
    len -= part;
  } while (len > 0);
}

/* ---- Claiming work ---------------------------------------------------------------- */

/* Claims the next published cell into the slot, or (dst not NULL: a
 * backend's proxy gathering a batch, which no death settles) into dst. */
static bool claim_cell(wctx *c, pool__cell *dst) {
  pool__shm *sh = c->p->shm;
  for (;;) {
    uint64_t pos = POOL__LOAD(&sh->cons_pos);
    pool__cell *cell = &sh->cells[pos & (POOL__NCELLS - 1)];
    uint64_t st = POOL__LOAD(&cell->state); /* A2: pairs with the producer's publish */
    uint64_t lap = st >> 16;
    uint32_t tag = (uint32_t)(st & 0xffff);
    if (lap == pos && tag == POOL__TAG_READY) {
      uint64_t mine = POOL__STATE(pos, POOL__TAG_WORKER + (uint32_t)c->w);
      if (!__atomic_compare_exchange_n(&cell->state, &st, mine, false,
                                       __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        continue;
      uint64_t exp = pos;
      __atomic_compare_exchange_n(&sh->cons_pos, &exp, pos + 1, false,
                                  __ATOMIC_RELEASE, __ATOMIC_RELAXED);
      pool__slot *s = c->slot;
      if (dst) {
        memcpy(dst, cell, sizeof *dst);
      } else {
        memcpy(&s->task, cell, sizeof s->task);
        POOL__STORER(&s->progress, 0);
        POOL__STORE(&s->seq, pos + 1); /* the copy is complete before seq */
      }
      /* Free the cell for the producer's next lap: the slot now says what
       * we hold. A3: pairs with the producer's acquire of the state. */
      POOL__STORE(&cell->state, POOL__STATE(pos + POOL__NCELLS, POOL__TAG_FREE));
      return true;
    }
    if (lap > pos || (lap == pos && tag >= POOL__TAG_WORKER)) {
      /* Taken already (or even freed): help the hint along. */
      uint64_t exp = pos;
      __atomic_compare_exchange_n(&sh->cons_pos, &exp, pos + 1, false,
                                  __ATOMIC_RELEASE, __ATOMIC_RELAXED);
      continue;
    }
    return false; /* the cell at the hint is not published yet: empty */
  }
}

static bool claim(wctx *c) { return claim_cell(c, NULL); }

/* A chunk to run, or false when the pool shuts down. Spins a little,
 * then yields the CPU between looks (the parent that feeds us may be
 * waiting for one: workers usually number the CPUs), then sleeps; under
 * MP_SPIN=0 it sleeps at once. */
static bool get_work(wctx *c) {
  pool__shm *sh = c->p->shm;
  const int spins = mp__spin_allowed() ? SPIN_CLAIM : 0;
  for (int spin = 0;; spin++) {
    if (MP__UNLIKELY(POOL__LOADR(&sh->shutdown) == 2))
      return false; /* terminate */
    if (claim(c))
      return true;
    if (POOL__LOAD(&sh->shutdown))
      return false;
    if (spin < spins) {
      if (spin < SPIN_PAUSE)
        pool__cpu_relax();
      else
        sched_yield();
      continue;
    }
    /* Dekker with the producer: it publishes then reads idle; we raise idle
     * then look again, so a publish is never missed. */
    __atomic_add_fetch(&sh->idle, 1, __ATOMIC_SEQ_CST);
    uint32_t v = POOL__LOAD(&sh->work);
    bool got = claim(c);
    if (!got && !POOL__LOAD(&sh->shutdown))
      mp__futex_wait(&sh->work, v, NULL);
    __atomic_sub_fetch(&sh->idle, 1, __ATOMIC_SEQ_CST);
    if (got)
      return true;
    spin = 0;
  }
}

/* ---- Running a chunk -------------------------------------------------------------- */

/* The chunk's function is not in this program (a spawned worker's image
 * lacks the module): every item fails with MP_ESTALE, nothing is called. */
static void fail_stale(wctx *c, const pool__cell *t) {
  static const char msg[] = "the task function is not in the worker's "
                            "program (a library opened later, or rebuilt)";
  const bool fixed_out = t->out_kind == POOL__OUT_FIXED;
  for (uint32_t k = 0; k < t->count; k++) {
    unsigned last = k + 1 == t->count && !fixed_out ? POOL__F_LAST : 0;
    post(c, POOL__REC_ERROR, last | POOL__F_STALE, t->token, t->first + k, -1,
         msg, sizeof msg - 1);
    POOL__STORE(&c->slot->progress, k + 1);
  }
  if (fixed_out)
    post(c, POOL__REC_DONE, POOL__F_LAST, t->token, t->first,
         (int32_t)t->count, NULL, 0);
}

/* ---- A backend's proxy (pool_backend.h) ------------------------------------------ */

typedef struct bchunk {
  wctx *c;
  const pool__cell *t;
} bchunk;

static const void *core_input(const mp__pool_chunk *v, size_t k, size_t *len) {
  const bchunk *b = v->impl;
  const pool__cell *t = b->t;
  char *abase = b->c->p->abase;
  *len = 0;
  if (k >= t->count)
    return NULL;
  if (t->in_kind == POOL__IN_FIXED) {
    *len = t->in_size;
    return abase + t->in_off + k * t->in_size;
  }
  if (t->in_kind == POOL__IN_INLINE) {
    *len = t->in_size;
    return t->inl;
  }
  const pool__iov *e = (const pool__iov *)(abase + t->in_off) + k;
  *len = e->len;
  return abase + e->off;
}

static void *core_output(const mp__pool_chunk *v, size_t k) {
  const bchunk *b = v->impl;
  const pool__cell *t = b->t;
  if (t->out_kind != POOL__OUT_FIXED || k >= t->count)
    return NULL;
  return b->c->p->abase + t->out_off + k * t->out_size;
}

static void core_post_result(const mp__pool_chunk *v, size_t k,
                             const void *data, size_t len) {
  const bchunk *b = v->impl;
  const pool__cell *t = b->t;
  if (t->out_kind == POOL__OUT_FIXED || k >= t->count)
    return;
  post(b->c, POOL__REC_RESULT, k + 1 == t->count ? POOL__F_LAST : 0, t->token,
       t->first + k, 0, data, len);
  POOL__STORE(&b->c->slot->progress, (uint32_t)k + 1);
}

static void core_post_error(const mp__pool_chunk *v, size_t k,
                            const mp_error *e) {
  const bchunk *b = v->impl;
  const pool__cell *t = b->t;
  if (k >= t->count)
    return;
  const bool fixed_out = t->out_kind == POOL__OUT_FIXED;
  struct {
    pool__rec_err h;
    char msg[MP_ERROR_MESSAGE_MAX];
  } buf = {.h = {e->code, e->signo, e->status, 0}};
  size_t n = strnlen(e->message, sizeof e->message);
  memcpy(buf.msg, e->message, n);
  unsigned last = k + 1 == t->count && !fixed_out ? POOL__F_LAST : 0;
  post(b->c, POOL__REC_ERROR, last | POOL__F_CODE, t->token, t->first + k,
       e->status, &buf, sizeof buf.h + n);
  if (!fixed_out)
    POOL__STORE(&b->c->slot->progress, (uint32_t)k + 1);
}

static void core_set_progress(const mp__pool_chunk *v, size_t done) {
  const bchunk *b = v->impl;
  POOL__STORE(&b->c->slot->progress, (uint32_t)done);
}

const mp__pool_core pool__core = {
    .input = core_input, .output = core_output,
    .post_result = core_post_result, .post_error = core_post_error,
    .set_progress = core_set_progress, .fnref_make = mp__fnref_make,
    .fnref_resolve = mp__fnref_resolve,
    .error_record = mp__error_record};

/* The proxy's run_chunk: the backend runs the held chunk elsewhere, with
 * more of the chunks already published when many are: so tiny tasks
 * travel many per message. A batch takes at most a quarter of a fair share
 * of the backlog (as the default chunksize gives each worker four chunks),
 * and at most POOL__BATCH chunks, so that work stays spread when task
 * times vary. */
#define POOL__BATCH 64
static int backend_chunk(wctx *c) {
  mp_pool *p = c->p;
  pool__slot *s = c->slot;
  pool__cell t[POOL__BATCH];
  bchunk b[POOL__BATCH];
  mp__pool_chunk v[POOL__BATCH];
  t[0] = s->task;
  uint64_t backlog = POOL__LOADR(&p->prod_pos) - POOL__LOADR(&p->shm->cons_pos);
  uint64_t share = backlog / (4 * (uint64_t)p->nproc);
  size_t n = 1, most = share < POOL__BATCH ? (size_t)share + 1 : POOL__BATCH;
  while (n < most && claim_cell(c, &t[n]))
    n++;
  size_t nv = 0;
  for (size_t i = 0; i < n; i++) {
    if (t[i].fn >= POOL__LOAD(&p->fntab->n)) { /* garbage: never shipped */
      fail_stale(c, &t[i]);
      continue;
    }
    const bool fixed_in = t[i].in_kind == POOL__IN_FIXED || t[i].in_kind == POOL__IN_INLINE;
    const bool fixed_out = t[i].out_kind == POOL__OUT_FIXED;
    b[nv] = (bchunk){c, &t[i]};
    v[nv] = (mp__pool_chunk){.fn = p->fntab->refs[t[i].fn], .token = t[i].token,
                             .first = t[i].first, .count = t[i].count,
                             .in_size = fixed_in ? t[i].in_size : 0,
                             .out_size = fixed_out ? t[i].out_size : 0,
                             .impl = &b[nv]};
    nv++;
  }
  int rc = nv ? p->backend->run(p->bstate, c->w, v, nv) : 0;
  /* Terminated: run() returned before its items were posted; they fail
   * as the pool's abort says, not as finished. */
  for (size_t i = 0; i < nv && !POOL__LOAD(&p->shm->stop); i++) {
    const pool__cell *ti = b[i].t;
    if (ti->out_kind == POOL__OUT_FIXED)
      post(c, POOL__REC_DONE, POOL__F_LAST, ti->token, ti->first,
           (int32_t)ti->count, NULL, 0);
  }
  POOL__STORE(&s->seq, 0);
  return rc;
}

static void run_chunk(wctx *c) {
  mp_pool *p = c->p;
  pool__slot *s = c->slot;
  /* Locals: the stores to the slot and the task's call would otherwise
   * make the compiler reload every field for every item. */
  const pool__cell t = s->task;
  char *const abase = p->abase;
  const bool timed = p->timeout_ns != 0;
  mp_task_fn fn = pool__fn_resolve(p, t.fn, &c->fns);
  if (MP__UNLIKELY(!fn)) {
    fail_stale(c, &t);
    POOL__STORE(&s->seq, 0);
    return;
  }
  const bool fixed_out = t.out_kind == POOL__OUT_FIXED;
  const uint32_t *const stop = &p->shm->stop;
  const char *in = abase + t.in_off;
  char *outp = abase + t.out_off;
  mp_task_out out;
  out.c = c;
  for (uint32_t k = 0; k < t.count; k++) {
    uint64_t idx = t.first + k;
    const void *arg;
    size_t len;
    if (t.in_kind == POOL__IN_FIXED) {
      arg = in + k * t.in_size;
      len = t.in_size;
    } else if (t.in_kind == POOL__IN_INLINE) {
      arg = t.inl;
      len = t.in_size;
    } else {
      const pool__iov *e = (const pool__iov *)in + k;
      arg = abase + e->off;
      len = e->len;
    }
    out.index = idx;
    out.len = 0;
    out.has_msg = false;
    out.fixed = fixed_out ? outp + k * t.out_size : NULL;
    out.fixed_size = fixed_out ? t.out_size : 0;
    if (timed)
      POOL__STORER(&s->started_ns, mp__now_ns());
    POOL__STORE(&s->running, idx + 1);
    if (timed) /* a sleeping result thread must learn the deadline */
      pool__notify_collector(p, true);
    int rc = fn(arg, len, &out);
    /* What the task did not write of its element reads as zero: each
     * element is written once, by the task and then this. */
    if (fixed_out && out.len < out.fixed_size)
      memset(out.fixed + out.len, 0, out.fixed_size - out.len);
    if (MP__UNLIKELY(rc != 0)) {
      unsigned last = k + 1 == t.count && !fixed_out ? POOL__F_LAST : 0;
      char msg[MP_ERROR_MESSAGE_MAX];
      int n = out.has_msg ? (int)strlen(out.msg)
                          : snprintf(msg, sizeof msg, "task returned %d", rc);
      post(c, POOL__REC_ERROR, last, t.token, idx, rc,
           out.has_msg ? out.msg : msg, (size_t)n);
    } else if (!fixed_out) {
      unsigned last = k + 1 == t.count ? POOL__F_LAST : 0;
      post(c, POOL__REC_RESULT, last, t.token, idx, 0, c->scratch, out.len);
    }
    POOL__STORE(&s->running, 0);
    POOL__STORE(&s->progress, k + 1);
    if (MP__UNLIKELY(POOL__LOADR(stop)))
      return; /* terminate: thread workers stop between items */
  }
  if (fixed_out)
    post(c, POOL__REC_DONE, POOL__F_LAST, t.token, t.first, (int32_t)t.count,
         NULL, 0);
  POOL__STORE(&s->seq, 0);
}

static size_t resident_bytes(wctx *c) {
  if (c->statm_fd < 0)
    c->statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  char buf[128];
  ssize_t n = c->statm_fd < 0 ? -1 : pread(c->statm_fd, buf, sizeof buf - 1, 0);
  if (n <= 0)
    return 0;
  buf[n] = 0;
  unsigned long size = 0, res = 0;
  if (sscanf(buf, "%lu %lu", &size, &res) != 2)
    return 0;
  return (size_t)res * (size_t)sysconf(_SC_PAGESIZE);
}

int pool__worker_main(mp_pool *p, int w) {
  wctx c = {.p = p, .w = w, .slot = &p->slots[w],
            .ring = p->rings + (size_t)w * POOL__RING_CAP, .statm_fd = -1};
  c.tail = POOL__LOADR(&c.slot->tail);
  /* A replacement is forked by the result thread, which blocks every
   * signal: run tasks with the mask of the thread that made the pool. */
  pthread_sigmask(SIG_SETMASK, &p->sigmask, NULL);
  if (p->backend) { /* a proxy: the initializer and limits apply remotely */
    POOL__STORE(&c.slot->state, POOL__W_READY);
    while (get_work(&c))
      if (backend_chunk(&c) == MP__POOL_SLOT_GONE) {
        POOL__STORE(&c.slot->state, POOL__W_GONE);
        break;
      }
    mp__free(c.scratch);
    return 0;
  }
  if (p->opts.initializer) {
    int r = p->opts.initializer(p->opts.initarg);
    if (r != 0) {
      c.slot->init_status = r;
      POOL__STORE(&c.slot->state, POOL__W_INIT_FAILED);
      return 1;
    }
  }
  POOL__STORE(&c.slot->state, POOL__W_READY);
  unsigned long ntasks = 0;
  while (get_work(&c)) {
    run_chunk(&c);
    ntasks++;
    if (p->opts.maxtasksperchild && ntasks >= p->opts.maxtasksperchild)
      break;
    if (p->opts.max_memory_per_child &&
        resident_bytes(&c) > p->opts.max_memory_per_child)
      break;
  }
  if (c.statm_fd >= 0)
    mp__close(c.statm_fd);
  mp__free(c.scratch);
  mp__free(c.fns);
  return 0;
}

/* ---- The task-side API -------------------------------------------------------------- */

/* The buffer for a result of len bytes. In a fixed element, run_chunk
 * zeroes what lies past the final length once the task returns. */
static void *out_alloc(mp_task_out *out, size_t len) {
  if (out->fixed) {
    if (MP__UNLIKELY(len > out->fixed_size)) {
      errno = -MP_ETOOBIG;
      return NULL;
    }
    if (MP__UNLIKELY(out->len > len)) /* shrunk: zero what it had written */
      memset(out->fixed + len, 0, out->len - len);
    out->len = len;
    return out->fixed;
  }
  wctx *c = out->c;
  if (len > c->scap) {
    size_t cap = c->scap ? c->scap : 256;
    while (cap < len)
      cap *= 2;
    char *b = mp__realloc(c->scratch, cap);
    if (!b) {
      errno = ENOMEM;
      return NULL;
    }
    c->scratch = b;
    c->scap = cap;
  }
  out->len = len;
  return c->scratch ? c->scratch : (void *)out->msg; /* len 0: any pointer */
}

void *mp_task_out_alloc(mp_task_out *out, size_t len) {
  if (!out) {
    errno = EINVAL;
    return NULL;
  }
  return out_alloc(out, len);
}

int mp_task_out_set(mp_task_out *out, const void *data, size_t len) {
  if (MP__UNLIKELY(!out || (!data && len)))
    return -EINVAL;
  char *dst = out_alloc(out, len);
  if (MP__UNLIKELY(!dst))
    return mp_errno_code(errno);
  switch (len) { /* the common small results without a call to memcpy */
  case 4:
    memcpy(dst, data, 4);
    break;
  case 8:
    memcpy(dst, data, 8);
    break;
  default:
    if (len)
      memcpy(dst, data, len);
  }
  return 0;
}

int mp_task_fail(mp_task_out *out, int status, const char *fmt, ...) {
  if (out && fmt) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->msg, sizeof out->msg, fmt, ap);
    va_end(ap);
    out->has_msg = true;
  }
  return status ? status : -1;
}

size_t mp_task_index(const mp_task_out *out) {
  return out ? (size_t)out->index : 0;
}
