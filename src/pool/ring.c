/* ring.c: the producer side of the task ring. The parent keeps a record of
 * each chunk it has put in the ring (its job and item range), named in the
 * cell by a token (index and generation, so a stale or garbage token from
 * shared memory never matches). Chunks are cut from pending jobs only when a
 * cell is free, so a map of a million items costs a million chunk records
 * only one ring's worth at a time. Chunks a dead worker had not started are
 * requeued ahead of new work. All of it runs under the pool mutex. */
#include <string.h>
#include <unistd.h>

#include "pool_internal.h"

/* ---- Chunk records ------------------------------------------------------------------ */

static pool__chunk *chunk_new(mp_pool *p) {
  if (!p->free_chunk) {
    if (p->nchunks == p->chunks_cap) {
      uint32_t cap = p->chunks_cap ? p->chunks_cap * 2 : 256;
      pool__chunk *c = mp__realloc(p->chunks, cap * sizeof *c);
      if (!c)
        return NULL;
      memset(c + p->chunks_cap, 0, (cap - p->chunks_cap) * sizeof *c);
      p->chunks = c;
      p->chunks_cap = cap;
    }
    p->nchunks++;
    p->chunks[p->nchunks - 1].next = p->free_chunk;
    p->free_chunk = p->nchunks;
  }
  pool__chunk *c = &p->chunks[p->free_chunk - 1];
  p->free_chunk = c->next;
  c->next = 0;
  c->ndone = 0;
  c->state = POOL__CH_RING;
  return c;
}

void pool__chunk_free(mp_pool *p, pool__chunk *c) {
  c->gen++;
  c->state = POOL__CH_FREE;
  c->job = NULL;
  c->next = p->free_chunk;
  p->free_chunk = (uint32_t)(c - p->chunks) + 1;
}

static uint64_t chunk_token(mp_pool *p, pool__chunk *c) {
  return ((uint64_t)c->gen << 32) | (uint64_t)(c - p->chunks);
}

/* The live chunk a token names, or NULL (stale, or garbage). */
pool__chunk *pool__chunk_lookup(mp_pool *p, uint64_t token) {
  uint32_t idx = (uint32_t)token;
  if (idx >= p->nchunks)
    return NULL;
  pool__chunk *c = &p->chunks[idx];
  if (c->gen != (uint32_t)(token >> 32) || c->state != POOL__CH_RING)
    return NULL;
  return c;
}

/* ---- Publishing ------------------------------------------------------------------------ */

static void fill_cell(mp_pool *p, pool__cell *cell, pool__chunk *c) {
  mp_result *j = c->job;
  cell->token = chunk_token(p, c);
  cell->fn = j->fnid;
  cell->first = c->first;
  cell->count = (uint32_t)c->count;
  cell->in_kind = (uint16_t)j->in_kind;
  cell->out_kind = (uint16_t)j->out_kind;
  cell->in_size = j->in_size;
  cell->out_size = j->out_size;
  cell->out_off = j->out_off == POOL__NOOFF ? 0 : j->out_off + c->first * j->out_size;
  if (j->in_kind == POOL__IN_INLINE) {
    memcpy(cell->inl, j->inl, j->in_size);
    cell->in_off = 0;
  } else if (j->in_kind == POOL__IN_FIXED) {
    cell->in_off = j->in_off + c->first * j->in_size;
  } else {
    cell->in_off = j->in_off + c->first * sizeof(pool__iov);
  }
}

/* The next chunk to publish: requeued ones first, then new chunks of the
 * pending jobs in submission order. NULL when there is none (or no memory:
 * it stays queued). */
static pool__chunk *next_chunk(mp_pool *p) {
  if (p->rq_head) {
    pool__chunk *c = &p->chunks[p->rq_head - 1];
    p->rq_head = c->next;
    if (!p->rq_head)
      p->rq_tail = 0;
    c->next = 0;
    c->state = POOL__CH_RING;
    return c;
  }
  mp_result *j = p->pend_head;
  if (!j)
    return NULL;
  /* Whole chunks of copied input only (the last one may be short). */
  size_t want = j->n - j->next_submit;
  if (want > j->chunksize)
    want = j->chunksize;
  if (j->in_ready < j->n && j->in_ready - j->next_submit < want)
    return NULL;
  pool__chunk *c = chunk_new(p);
  if (!c)
    return NULL;
  c->job = j;
  c->first = j->next_submit;
  c->count = j->n - j->next_submit;
  if (c->count > j->chunksize)
    c->count = j->chunksize;
  if (c->count > UINT32_MAX)
    c->count = UINT32_MAX;
  j->next_submit += c->count;
  if (j->next_submit == j->n) {
    p->pend_head = j->pend_next;
    if (!p->pend_head)
      p->pend_tail = NULL;
    j->pend_next = NULL;
  }
  return c;
}

void pool__refill(mp_pool *p) {
  /* Nothing queued: return before touching the ring, whose cells the
   * workers are writing. */
  if (!p->rq_head && !p->pend_head)
    return;
  if (p->broken || p->state == POOL__TERMINATE)
    return;
  uint32_t published = 0;
  for (;;) {
    pool__cell *cell = &p->shm->cells[p->prod_pos & (POOL__NCELLS - 1)];
    /* A3: the claimer's copy of this cell happened before it freed it. */
    if (POOL__LOAD(&cell->state) != POOL__STATE(p->prod_pos, POOL__TAG_FREE))
      break;
    pool__chunk *c = next_chunk(p);
    if (!c)
      break;
    fill_cell(p, cell, c);
    /* A2: publish; the claimer's acquire sees the fields. */
    POOL__STORE(&cell->state, POOL__STATE(p->prod_pos, POOL__TAG_READY));
    POOL__STORER(&p->prod_pos, p->prod_pos + 1); /* proxies read it (worker.c) */
    published++;
  }
  if (!published)
    return;
  /* Dekker with a worker going to sleep (worker.c get_work). */
  POOL__FENCE();
  if (POOL__LOADR(&p->shm->idle)) {
    __atomic_add_fetch(&p->shm->work, 1, __ATOMIC_SEQ_CST);
    mp__futex_wake(&p->shm->work, (int)(published < INT32_MAX ? published : INT32_MAX));
  }
}

void pool__requeue(mp_pool *p, pool__chunk *c, size_t from) {
  c->count -= from - c->first;
  c->first = from;
  c->ndone = 0;
  c->state = POOL__CH_REQUEUED;
  c->next = 0;
  uint32_t idx = (uint32_t)(c - p->chunks) + 1;
  if (p->rq_tail)
    p->chunks[p->rq_tail - 1].next = idx;
  else
    p->rq_head = idx;
  p->rq_tail = idx;
}

void pool__wake_collector(mp_pool *p) {
  uint64_t one = 1;
  (void)!write(p->efd, &one, sizeof one);
}

