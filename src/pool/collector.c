/* collector.c: the result thread's reading side. It drains each worker's
 * ring of result records, reassembles results that came in fragments, and
 * turns records into finished items: a copy of the bytes for record-output
 * jobs, the caller's out array for fixed-size maps (copied outside the pool
 * mutex), the failure of lowest index per job, and the job's readiness once
 * no item is left. Records are checked before they are believed: a worker
 * that wrote garbage into shared memory is killed, not trusted. */
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pool_internal.h"

/* ---- Finishing items and jobs ------------------------------------------------------------ */

static void push_copy(pool__col *c, void *dst, const void *src, size_t len) {
  if (!len)
    return;
  if (c->ncopies == c->copies_cap) {
    size_t cap = c->copies_cap ? c->copies_cap * 2 : 16;
    pool__copy *v = mp__realloc(c->copies, cap * sizeof *v);
    if (!v) { /* no room to defer: copy now, under the lock */
      memcpy(dst, src, len);
      return;
    }
    c->copies = v;
    c->copies_cap = cap;
  }
  c->copies[c->ncopies++] = (pool__copy){dst, src, len};
}

/* The fixed outputs of items [first, first + count) go to the caller's out. */
void pool__copy_out(mp_pool *p, pool__col *c, mp_result *j, size_t first, size_t count) {
  if (j->user_out && j->out_size)
    push_copy(c, (char *)j->user_out + first * j->out_size,
              p->abase + j->out_off + first * j->out_size, count * j->out_size);
}

void pool__job_ready(pool__col *c, mp_result *j) {
  j->pend_next = NULL;
  *c->done_tail = j;
  c->done_tail = &j->pend_next;
}

static void note_failure(mp_result *j, size_t idx, int code, const mp_error *e) {
  if (j->code == 0 || idx < j->err_index) {
    j->code = code;
    j->err_index = idx;
    if (!j->err)
      j->err = mp__malloc(sizeof *j->err);
    if (j->err)
      *j->err = *e;
  }
}

void pool__items_done(mp_result *j, size_t k, pool__col *c) {
  __atomic_add_fetch(&j->ndone, k, __ATOMIC_RELAXED);
  j->nleft -= k;
  if (j->kind == POOL__JOB_IMAP) {
    __atomic_add_fetch(&j->seq, 1, __ATOMIC_SEQ_CST);
    if (POOL__LOAD(&j->waiters))
      mp__futex_wake(&j->seq, INT32_MAX);
  }
  pool__progress_draw(j, false);
  if (j->nleft == 0)
    pool__job_ready(c, j);
}

/* Item idx of a record-output job is final: data (ours now; or NULL and
 * small, the bytes of a result of at most POOL__SMALL), or a failure. */
static void item_final(mp_result *j, size_t idx, void *data, size_t len,
                       int code, const mp_error *e, pool__col *c,
                       const void *small) {
  pool__item *it = &j->items[idx];
  if (POOL__LOADR(&it->done)) { /* never twice */
    mp__free(data);
    return;
  }
  if (small) {
    memcpy(it->small, small, len);
    data = it->small;
  }
  it->data = data;
  it->len = len;
  it->code = code;
  if (code) {
    it->err = mp__memdup(e, sizeof *e);
    note_failure(j, idx, code, e);
  }
  POOL__STORE(&it->done, 1);
  if (j->fifo) {
    size_t t = POOL__LOADR(&j->fifo_tail);
    j->fifo[t] = idx;
    POOL__STORE(&j->fifo_tail, t + 1);
  }
  pool__items_done(j, 1, c);
}

/* A failed item of a fixed-output job (the element keeps its zeroes). */
static void fixed_fail(mp_result *j, size_t idx, int code, const mp_error *e) {
  for (size_t i = 0; i < j->nfails; i++)
    if (j->fails[i].index == idx)
      return;
  if (j->nfails == j->fails_cap) {
    size_t cap = j->fails_cap ? j->fails_cap * 2 : 4;
    pool__fail *f = mp__realloc(j->fails, cap * sizeof *f);
    if (f) {
      j->fails = f;
      j->fails_cap = cap;
    }
  }
  if (j->nfails < j->fails_cap)
    j->fails[j->nfails++] = (pool__fail){idx, *e};
  j->fails[j->nfails - 1].err.code = code;
  note_failure(j, idx, code, e);
}

void pool__item_fail(mp_result *j, size_t idx, int code, const mp_error *e,
                      pool__col *c) {
  if (j->out_kind == POOL__OUT_FIXED)
    fixed_fail(j, idx, code, e);
  else
    item_final(j, idx, NULL, 0, code, e, c, NULL);
}

/* ---- Reading result records ---------------------------------------------------------------- */

static void handle_rec(mp_pool *p, int w, const pool__rec *r, pool__col *c) {
  pool__worker *wk = &p->workers[w];
  pool__chunk *ch = pool__chunk_lookup(p, r->token);
  if (!ch || r->item < ch->first || r->item - ch->first >= ch->count)
    return; /* stale or garbage: nothing of ours */
  mp_result *j = ch->job;
  size_t idx = (size_t)r->item;
  const char *payload = (const char *)(r + 1);
  if (r->flags & POOL__F_MORE) {
    size_t need = wk->frag_len + r->len;
    if (need > wk->frag_cap) {
      size_t cap = wk->frag_cap ? wk->frag_cap : 4096;
      while (cap < need)
        cap *= 2;
      char *b = mp__realloc(wk->frag, cap);
      if (!b)
        return; /* the final fragment will see a short buffer: fails below */
      wk->frag = b;
      wk->frag_cap = cap;
    }
    memcpy(wk->frag + wk->frag_len, payload, r->len);
    wk->frag_len += r->len;
    return;
  }
  if (r->type == POOL__REC_DONE) {
    if (j->out_kind != POOL__OUT_FIXED)
      return;
    pool__copy_out(p, c, j, ch->first, ch->count);
    size_t k = ch->count;
    pool__chunk_free(p, ch);
    pool__items_done(j, k, c);
    return;
  }
  if (r->type != POOL__REC_RESULT && r->type != POOL__REC_ERROR)
    return;
  /* Whole payload: the fragments so far plus this one. */
  size_t len = wk->frag_len + r->len;
  if (r->type == POOL__REC_RESULT && !wk->frag_len && len <= POOL__SMALL &&
      j->out_kind != POOL__OUT_FIXED) { /* no allocation */
    ch->ndone = idx - ch->first + 1;
    item_final(j, idx, NULL, len, 0, NULL, c, payload);
    if (r->flags & POOL__F_LAST)
      pool__chunk_free(p, ch);
    return;
  }
  char *data = NULL;
  if (r->type == POOL__REC_RESULT && len) {
    if (wk->frag_len && wk->frag_cap >= len) {
      memcpy(wk->frag + wk->frag_len, payload, r->len);
      data = wk->frag; /* steal the buffer */
      wk->frag = NULL;
      wk->frag_cap = 0;
    } else if ((data = mp__malloc(len))) {
      if (wk->frag_len)
        memcpy(data, wk->frag, wk->frag_len);
      memcpy(data + wk->frag_len, payload, r->len);
    }
  }
  size_t flen = wk->frag_len;
  wk->frag_len = 0;
  ch->ndone = idx - ch->first + 1;
  if (r->type == POOL__REC_ERROR || (len && !data)) {
    mp_error e;
    int code = r->type != POOL__REC_ERROR ? -ENOMEM
               : r->flags & POOL__F_STALE ? MP_ESTALE
                                          : MP_ETASK;
    pool__rec_err h;
    if (r->type == POOL__REC_ERROR && (r->flags & POOL__F_CODE) &&
        r->len >= sizeof h && !flen) { /* a backend's: code and all */
      memcpy(&h, payload, sizeof h);
      code = h.code < 0 ? h.code : MP_ETASK;
      mp_error_set(&e, code, h.signo, h.status, "%.*s",
                   (int)(r->len - sizeof h), payload + sizeof h);
    } else if (r->type == POOL__REC_ERROR)
      mp_error_set(&e, code, 0, r->status, "%.*s", (int)(len - flen), payload);
    else
      mp_error_set(&e, -ENOMEM, 0, -1, "no memory for a result of %zu bytes", len);
    if (j->out_kind == POOL__OUT_FIXED) {
      fixed_fail(j, idx, code, &e);
      return; /* its DONE record will count it */
    }
    item_final(j, idx, NULL, 0, code, &e, c, NULL);
  } else if (j->out_kind != POOL__OUT_FIXED) {
    item_final(j, idx, data, len, 0, NULL, c, NULL);
  } else {
    mp__free(data);
  }
  if (r->flags & POOL__F_LAST)
    pool__chunk_free(p, ch);
}

/* Reads worker w's committed records. Returns whether there were any. */
bool pool__drain(mp_pool *p, int w, pool__col *c) {
  pool__slot *s = &p->slots[w];
  uint32_t head = POOL__LOADR(&s->head);
  uint32_t tail = POOL__LOAD(&s->tail); /* R1 */
  if (head == tail)
    return false;
  char *ring = p->rings + (size_t)w * POOL__RING_CAP;
  while (head != tail) {
    uint32_t pos = head & (POOL__RING_CAP - 1);
    const pool__rec *r = (const pool__rec *)(ring + pos);
    uint32_t size = r->size;
    if (size < 8 || (size & 7) || size > tail - head ||
        size > POOL__RING_CAP - pos ||
        (r->type != POOL__REC_PAD &&
         (size < sizeof *r || r->len > size - sizeof *r))) {
      /* Garbage from a worker that scribbled on shared memory: stop
       * trusting it. Its death fails what it held. */
      mp_log(MP_LOG_WARNING, "pool: worker %d wrote a malformed record", w);
      pool__kill(p, w);
      head = tail;
      break;
    }
    if (r->type != POOL__REC_PAD)
      handle_rec(p, w, r, c);
    head += size;
  }
  POOL__STORE(&s->head, head); /* R2: the space is free for the worker */
  POOL__FENCE();
  if (POOL__LOADR(&s->prod_waiting))
    mp__futex_wake(&s->head, 1);
  return true;
}

bool pool__drain_all(mp_pool *p, pool__col *c) {
  bool any = false;
  for (int w = 0; w < p->nproc; w++)
    any |= pool__drain(p, w, c);
  return any;
}

bool pool__rings_nonempty(mp_pool *p) {
  for (int w = 0; w < p->nproc; w++)
    if (POOL__LOADR(&p->slots[w].head) != POOL__LOAD(&p->slots[w].tail))
      return true;
  return false;
}

void pool__job_abort(mp_result *j, const mp_error *e, pool__col *c) {
  if (j->nleft == 0)
    return;
  if (j->out_kind == POOL__OUT_FIXED) {
    if (j->code == 0 || j->code == MP_ECLOSED)
      note_failure(j, j->n, e->code, e);
    pool__items_done(j, j->nleft, c);
    return;
  }
  for (size_t i = 0; i < j->n && j->nleft; i++)
    if (!POOL__LOADR(&j->items[i].done))
      item_final(j, i, NULL, 0, e->code, e, c, NULL);
}
