/* result.c: the caller's side of results: AsyncResult (mp_result_*) and the
 * imap iterators (mp_imap_*). A result is the job itself, reference-counted
 * between the caller and the pool; the result thread fills it and then
 * publishes readiness with a release store, so everything here reads it
 * without the pool's mutex and keeps working after the pool is freed. */
#include <string.h>

#include "pool_internal.h"

_Thread_local mp_result *pool__cb_job;

/* Whether r's value may be read by this thread. */
static bool is_ready(const mp_result *r) {
  uint32_t st = POOL__LOAD(&r->state);
  return st == POOL__ST_READY || (st == POOL__ST_FINAL && pool__cb_job == r);
}

/* Waits until *word != val (a futex word the result thread bumps), at most
 * until dl. Returns 0 or MP_ETIMEOUT. */
static int wait_change(mp_result *r, uint32_t *word, uint32_t val,
                       const mp__deadline *dl) {
  /* Dekker with the result thread: it stores then reads waiters; we raise
   * waiters then read the word. */
  __atomic_add_fetch(&r->waiters, 1, __ATOMIC_SEQ_CST);
  int rc = 0;
  if (__atomic_load_n(word, __ATOMIC_SEQ_CST) == val)
    rc = mp__futex_wait(word, val, dl);
  __atomic_sub_fetch(&r->waiters, 1, __ATOMIC_SEQ_CST);
  return rc;
}

/* The record of a failure whose own record could not be allocated. */
static const mp_error no_memory = {
    .code = -ENOMEM, .status = -1, .message = "the task failed; no memory for its record"};

static bool ready_fn(void *r) { return is_ready(r); }

int mp_result_wait(mp_result *r, double timeout) {
  if (!r || timeout != timeout) /* NaN */
    return -EINVAL;
  if (is_ready(r))
    return 0;
  mp__deadline dl;
  if (mp__deadline_init(&dl, timeout))
    return -EINVAL;
  if (!mp__deadline_passed(&dl) && pool__help(r->pool, ready_fn, r, &dl))
    return 0;
  for (;;) {
    uint32_t st = POOL__LOAD(&r->state);
    if (st == POOL__ST_READY || is_ready(r))
      return 0;
    if (wait_change(r, &r->state, st, &dl) == MP_ETIMEOUT && !is_ready(r))
      return MP_ETIMEOUT;
  }
}

int mp_result_get(mp_result *r, double timeout, const void **data,
                  size_t *len) {
  int rc = mp_result_wait(r, timeout);
  if (rc)
    return rc;
  if (r->code) { /* the task's record is also the thread's (errors.h) */
    mp__error_record_copy(mp_result_error(r));
    return r->code;
  }
  const void *d = NULL;
  size_t n = 0;
  if (r->kind == POOL__JOB_APPLY) {
    d = r->one.data;
    n = r->one.len;
  } else if (r->kind == POOL__JOB_MAP) {
    n = r->n * r->out_size;
    d = r->user_out ? r->user_out
                    : (n ? pool__arena_base(r->arena) + r->out_off : NULL);
  }
  if (data)
    *data = d;
  if (len)
    *len = n;
  return 0;
}

int mp_result_ready(const mp_result *r) {
  return r && is_ready(r) ? 1 : 0;
}

int mp_result_successful(const mp_result *r) {
  if (!r)
    return -EINVAL;
  if (!is_ready(r))
    return MP_ENOTREADY;
  return r->code == 0;
}

const mp_error *mp_result_error(const mp_result *r) {
  if (!r || !is_ready(r) || r->code == 0)
    return NULL;
  return r->err ? r->err : &no_memory;
}

size_t mp_result_count(const mp_result *r) { return r ? r->n : 0; }

const mp_error *mp_result_item_error(const mp_result *r, size_t i) {
  if (!r || !is_ready(r) || i >= r->n)
    return NULL;
  if (r->items)
    return r->items[i].code ? r->items[i].err ? r->items[i].err : &no_memory : NULL;
  for (size_t k = 0; k < r->nfails; k++)
    if (r->fails[k].index == i)
      return &r->fails[k].err;
  return NULL;
}

int mp_result_item(mp_result *r, size_t i, const void **data, size_t *len) {
  if (!r)
    return -EINVAL;
  if (!is_ready(r))
    return MP_ENOTREADY;
  if (i >= r->n)
    return MP_EINDEX;
  const void *d = NULL;
  size_t n = 0;
  int code = 0;
  if (r->items) {
    d = r->items[i].data;
    n = r->items[i].len;
    code = r->items[i].code;
  } else {
    const mp_error *e = mp_result_item_error(r, i);
    if (e)
      code = e->code;
    else if (r->code && r->err_index >= r->n)
      code = r->code; /* terminated: which items ran is not known */
    n = r->out_size;
    char *base = r->user_out ? r->user_out : pool__arena_base(r->arena) + r->out_off;
    d = n ? base + i * n : NULL;
  }
  if (code)
    return code;
  if (data)
    *data = d;
  if (len)
    *len = n;
  return 0;
}

void mp_result_free(mp_result *r) { pool__job_unref(r); }

/* ---- imap -------------------------------------------------------------------------- */

typedef struct seq_wait {
  mp_result *j;
  uint32_t seq;
} seq_wait;
static bool seq_moved(void *arg) {
  seq_wait *w = arg;
  return POOL__LOAD(&w->j->seq) != w->seq;
}

int mp_imap_next(mp_imap *it, double timeout, const void **data, size_t *len) {
  mp__deadline dl;
  if (!it || mp__deadline_init(&dl, timeout)) /* before the end is told */
    return -EINVAL;
  mp__free(it->last);
  it->last = NULL;
  it->last_err = NULL;
  mp_result *j = it->job;
  if (it->next >= j->n)
    return MP_ESTOP; /* StopIteration: errors.h's one code for it */
  size_t idx;
  bool helped = mp__deadline_passed(&dl);
  for (;;) {
    uint32_t seq = POOL__LOAD(&j->seq);
    if (j->unordered) {
      if (it->next < POOL__LOAD(&j->fifo_tail)) {
        idx = j->fifo[it->next];
        break;
      }
    } else if (POOL__LOAD(&j->items[it->next].done)) {
      idx = it->next;
      break;
    }
    if (!helped) {
      helped = true;
      pool__help(j->pool, seq_moved, &(seq_wait){j, seq}, &dl);
      continue;
    }
    if (wait_change(j, &j->seq, seq, &dl) == MP_ETIMEOUT &&
        POOL__LOAD(&j->seq) == seq)
      return MP_ETIMEOUT;
  }
  it->next++;
  it->index = idx;
  pool__item *item = &j->items[idx];
  if (item->data != item->small) {
    it->last = item->data; /* ours now; freed at the next call */
    item->data = NULL;
  }
  if (item->code) {
    if (item->err)
      it->errbuf = *item->err;
    else
      mp_error_set(&it->errbuf, item->code, 0, -1, "%s", mp_strerror(item->code));
    it->last_err = &it->errbuf;
    mp__error_record_copy(&it->errbuf);
    return item->code;
  }
  if (data)
    *data = it->last ? it->last : item->data;
  if (len)
    *len = item->len;
  return 0;
}

size_t mp_imap_index(const mp_imap *it) { return it ? it->index : 0; }

const mp_error *mp_imap_error(const mp_imap *it) {
  return it ? it->last_err : NULL;
}

void mp_imap_free(mp_imap *it) {
  if (!it)
    return;
  mp__free(it->last);
  pool__job_unref(it->job);
  mp__free(it);
}
