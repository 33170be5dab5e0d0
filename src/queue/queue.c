/* queue.c: put and get, the hot path of every queue.
 *
 * A put takes the producers' lock, appends one record at the tail (linking
 * a new chunk when this one is full), commits, unlocks, and wakes sleeping
 * consumers only if there are any. A get does the mirror image at the head.
 * Neither makes a system call unless someone has to sleep or be woken. Big
 * items are copied into their own block before the producers' lock is taken,
 * so producers do not queue behind each other's megabytes.
 *
 * Ordering (x86 needs no fence for these; the atomics say what others
 * need): P1 (producer commit: payload, then count, then pos, release) pairs
 * with C1 (consumer's acquire load of prod.pos): a consumer never sees a
 * position before the bytes behind it. The waiting protocol is a Dekker
 * pair: W1 (sleeper: set the sleeper bit seq_cst, then re-check) against W2
 * (waker: change, fence seq_cst, then read the bit): either the waker sees
 * the sleeper or the sleeper sees the change. */
#include <limits.h>
#include <sched.h>
#include <string.h>

#include "queue_internal.h"

/* Before sleeping on a futex a waiter spins briefly (about a microsecond:
 * a partner running on another core answers within it), then yields a few
 * times. Yielding matters on a busy machine: the partner we just woke is
 * often queued on our own CPU (the scheduler's wake-affine placement), and
 * a long spin would only keep it from running; measured on a loaded 2-CPU
 * VM, round-trip time grew linearly with spin length. When the spins keep
 * failing they are skipped for a while (spin_until). */
#define MP__Q_SPIN 30
#define MP__Q_YIELDS 8

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static inline uint64_t round8(uint64_t n) { return (n + 7) & ~(uint64_t)7; }

/* ---- commits and their replay -------------------------------------------- */

/* Replays a dead owner's valid redo log (the payload behind it is complete:
 * the log is written after it); an invalid log means nothing was changed.
 * A chunk the dead producer took but never linked goes back. */
typedef struct side_ref {
  mp_queue *q;
  mp__qside *s;
} side_ref;

static void release_chunk(mp_queue *q, uint64_t blk);

static void side_replay(void *arg) {
  side_ref *ref = arg;
  mp__qside *s = ref->s;
  if (__atomic_load_n(&s->log_valid, __ATOMIC_ACQUIRE)) {
    s->chunk = s->log_chunk;
    __atomic_store_n(&s->count, s->log_count, __ATOMIC_RELEASE);
    __atomic_store_n(&s->pos, s->log_pos, __ATOMIC_RELEASE);
    __atomic_store_n(&s->log_valid, 0, __ATOMIC_RELEASE);
  }
  if (s->pending && s->pending != s->chunk)
    release_chunk(ref->q, s->pending);
  s->pending = 0;
}

/* P1: count before pos, so whoever sees an item also sees it counted
 * (task_done compares against prod.count). */
static void side_commit(mp__qside *s, uint64_t pos, uint64_t count,
                        uint64_t chunk) {
  s->log_pos = pos;
  s->log_count = count;
  s->log_chunk = chunk;
  __atomic_store_n(&s->log_valid, 1, __ATOMIC_RELEASE);
  s->chunk = chunk;
  __atomic_store_n(&s->count, count, __ATOMIC_RELEASE);
  __atomic_store_n(&s->pos, pos, __ATOMIC_RELEASE);
  __atomic_store_n(&s->log_valid, 0, __ATOMIC_RELEASE);
}

static int side_lock(mp_queue *q, mp__qside *s, const mp__deadline *dl) {
  side_ref ref = {q, s};
  return mp__qlock(&s->lock, dl, side_replay, &ref);
}

/* ---- waiting --------------------------------------------------------------- */

typedef bool (*ready_fn)(mp_queue *q);

static bool data_ready(mp_queue *q) {
  /* C1 */
  return __atomic_load_n(&q->h->prod.pos, __ATOMIC_ACQUIRE) !=
         __atomic_load_n(&q->h->cons.pos, __ATOMIC_ACQUIRE);
}

static bool space_ready(mp_queue *q) {
  uint64_t got = __atomic_load_n(&q->h->cons.count, __ATOMIC_ACQUIRE);
  uint64_t put = __atomic_load_n(&q->h->prod.count, __ATOMIC_ACQUIRE);
  return put - got < (uint64_t)q->h->maxsize;
}

static bool join_ready(mp_queue *q) {
  uint64_t done = __atomic_load_n(&q->h->ndone, __ATOMIC_ACQUIRE);
  return done == __atomic_load_n(&q->h->prod.count, __ATOMIC_ACQUIRE);
}

/* Waits until ready(q) may have become true: spins a little, then sleeps on
 * *seq. Bit 0 of *seq says "someone may be asleep"; the rest counts wakes.
 * A sleeper killed in its sleep leaves the bit set only until the next
 * wake clears it: no count of sleepers can be left wrong by a death.
 * Returns 0 (the caller re-checks under its lock) or MP_ETIMEOUT. */
/* The spin is adaptive, per thread: on a machine with more runnable
 * processes than CPUs the partner is rarely running while we spin, and
 * each sched_yield hands our CPU to some other process for its whole
 * slice (measured at load 12 on 2 CPUs: a 16-byte ping-pong took a
 * median 111 us with the spin, 2.1 us without). Two spins in a row that
 * end in sleep make the next waits skip it (4, 8, ... up to 256 waits),
 * then one spin is tried again; one that catches restores spinning. */
static __thread int q_spin_fails, q_spin_skip;

static bool spin_until(mp_queue *q, ready_fn ready) {
  if (!mp__spin_allowed())
    return false;
  if (q_spin_skip > 0) {
    q_spin_skip--;
    return false;
  }
  for (int i = 0; i < MP__Q_SPIN; i++) {
    cpu_relax();
    if (ready(q))
      goto caught;
  }
  for (int i = 0; i < MP__Q_YIELDS; i++) {
    sched_yield();
    if (ready(q))
      goto caught;
  }
  if (++q_spin_fails >= 2) {
    int shift = q_spin_fails - 2 < 6 ? q_spin_fails - 2 : 6;
    q_spin_skip = 4 << shift;
  }
  return false;
caught:
  q_spin_fails = 0;
  return true;
}

static int wait_until(mp_queue *q, uint32_t *seq, ready_fn ready,
                      const mp__deadline *dl) {
  if (ready(q))
    return 0;
  if (mp__deadline_passed(dl))
    return MP_ETIMEOUT;
  if (spin_until(q, ready))
    return 0;
  /* W1. The sleep is sliced: a waker killed between clearing the bit and
   * its futex_wake leaves us asleep only until the slice ends. */
  uint32_t s = __atomic_fetch_or(seq, 1, __ATOMIC_SEQ_CST) | 1;
  if (!ready(q)) {
    mp__deadline slice = mp__qslice(dl);
    (void)mp__futex_wait(seq, s, &slice);
  }
  return !ready(q) && mp__deadline_passed(dl) ? MP_ETIMEOUT : 0;
}

/* W2: called after the change is committed. Only when the sleeper bit is
 * set: clear it and bump the count in one step (odd + 1), then wake. */
static void wake_all(uint32_t *seq) {
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  uint32_t v = __atomic_load_n(seq, __ATOMIC_RELAXED);
  while (v & 1) {
    if (__atomic_compare_exchange_n(seq, &v, v + 1, false, __ATOMIC_SEQ_CST,
                                    __ATOMIC_RELAXED)) {
      MP__QHOOK(MP__QHOOK_WAKE);
      mp__futex_wake(seq, INT_MAX);
      return;
    }
  }
}

/* Copies a big payload; with a test hook installed it stops halfway so a
 * test can kill the process in the middle of a copy. */
static void copy_hooked(void *dst, const void *src, size_t len) {
  if (MP__UNLIKELY(mp__queue_hook != NULL)) {
    memcpy(dst, src, len / 2);
    MP__QHOOK(MP__QHOOK_OOL_COPY);
    memcpy((char *)dst + len / 2, (const char *)src + len / 2, len - len / 2);
    return;
  }
  memcpy(dst, src, len);
}

/* ---- put ------------------------------------------------------------------- */

/* Appends one record after the tail (not yet visible). On success *pos and
 * *chunk are the tail to commit. Producers' lock held. */
static int write_record(mp_queue *q, const void *data, size_t len,
                        uint64_t ool, uint64_t *pos_out, uint64_t *chunk_out) {
  mp__qhdr *h = q->h;
  uint64_t pos = h->prod.pos, chunk = h->prod.chunk;
  uint64_t need = ool ? MP__OOL_SIZE : 8 + round8(len);
  uint64_t end = chunk + mp__qblk(q, chunk)->size;
  if (pos + need + MP__JUMP_SIZE > end) {
    uint64_t nc = __atomic_exchange_n(&h->spare_chunk, 0, __ATOMIC_ACQ_REL);
    if (!nc)
      nc = mp__qheap_alloc(q, h->chunk_size - MP__QBLK_HDR);
    if (!nc)
      return -ENOMEM;
    h->prod.pending = nc; /* reclaimed if we die before the commit */
    uint64_t *j = mp__qptr(q, pos);
    j[1] = nc + MP__QBLK_HDR;
    j[2] = chunk;
    j[0] = MP__REC_WORD(MP__REC_JUMP, 0);
    MP__QHOOK(MP__QHOOK_JUMP);
    pos = nc + MP__QBLK_HDR;
    chunk = nc;
  }
  uint64_t *r = mp__qptr(q, pos);
  if (ool) {
    r[1] = ool;
    r[0] = MP__REC_WORD(MP__REC_OOL, len);
  } else {
    r[0] = MP__REC_WORD(MP__REC_INLINE, len);
    if (len)
      memcpy(r + 1, data, len);
  }
  *pos_out = pos + need;
  *chunk_out = chunk;
  return 0;
}

static int check_open(mp_queue *q) {
  if (MP__UNLIKELY(__atomic_load_n(&q->closed, __ATOMIC_RELAXED)))
    return MP_ECLOSED;
  return 0;
}

MP_EXPORT int mp_queue_put(mp_queue *q, const void *data, size_t len,
                           double timeout) {
  if (!q || (!data && len))
    return -EINVAL;
  int r = check_open(q);
  if (r)
    return r;
  mp__deadline dl;
  if ((r = mp__deadline_init(&dl, timeout)) < 0)
    return r;
  mp__qhdr *h = q->h;
  bool bounded = h->maxsize > 0;
  uint64_t ool = 0;
  if (len > h->inline_max) {
    /* Wait for room first, so a put that will fail copies nothing. */
    while (bounded && !space_ready(q)) {
      if (wait_until(q, &h->space_seq, space_ready, &dl))
        return MP_EFULL;
    }
    ool = mp__qheap_alloc(q, len);
    if (!ool)
      return -ENOMEM;
    copy_hooked(q->base + ool + MP__QBLK_HDR, data, len);
  }
  for (;;) {
    if ((r = side_lock(q, &h->prod, &dl)) < 0) {
      if (r == MP_ETIMEOUT)
        r = MP_EFULL;
      goto fail;
    }
    if (!bounded || space_ready(q))
      break;
    mp__qunlock(&h->prod.lock);
    if (wait_until(q, &h->space_seq, space_ready, &dl)) {
      r = MP_EFULL;
      goto fail;
    }
  }
  uint64_t pos, chunk;
  r = write_record(q, data, len, ool, &pos, &chunk);
  if (r) {
    mp__qunlock(&h->prod.lock);
    goto fail;
  }
  MP__QHOOK(MP__QHOOK_PUT_WRITTEN);
  side_commit(&h->prod, pos, h->prod.count + 1, chunk);
  h->prod.pending = 0;
  mp__qunlock(&h->prod.lock);
  wake_all(&h->data_seq);
  return 0;
fail:
  mp__qheap_free(q, ool);
  return r;
}

MP_EXPORT int mp_queue_put_nowait(mp_queue *q, const void *data, size_t len) {
  return mp_queue_put(q, data, len, 0);
}

/* ---- get ------------------------------------------------------------------- */

/* A drained chunk goes to the spare slot for the producers' next jump, or
 * back to the heap when the slot is taken. */
static void release_chunk(mp_queue *q, uint64_t blk) {
  uint64_t expected = 0;
  if (!__atomic_compare_exchange_n(&q->h->spare_chunk, &expected, blk, false,
                                   __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
    mp__qheap_free(q, blk);
}

/* Whether the record at pos stays inside the segment, so a queue whose
 * memory was overwritten by a buggy process fails with MP_EPROTO instead
 * of sending this one outside its mapping. Two or three compares. */
static bool record_sane(mp_queue *q, uint64_t pos, uint64_t w) {
  uint64_t lim = q->map_len, len = MP__REC_LEN(w);
  if (pos < MP__Q_HDR_SIZE || pos > lim - MP__JUMP_SIZE)
    return false;
  const uint64_t *rec = mp__qptr(q, pos);
  switch (MP__REC_TYPE(w)) {
  case MP__REC_INLINE:
    return len <= lim - pos - 8;
  case MP__REC_OOL:
    return rec[1] >= MP__Q_HDR_SIZE && rec[1] < lim &&
           len <= lim - rec[1] - MP__QBLK_HDR;
  case MP__REC_JUMP:
    return rec[1] >= MP__Q_HDR_SIZE && rec[1] < lim - MP__JUMP_SIZE &&
           rec[2] >= MP__Q_HDR_SIZE && rec[2] < lim;
  default:
    return false;
  }
}

/* Where a get delivers: into buf (cap bytes), a new buffer in *out, or,
 * for a view, in place (big items) or a new buffer (small ones). */
typedef struct sink {
  void *buf;
  size_t cap;
  void **out;
  size_t *len;
  mp_queue_item *view;
} sink;

static int get_common(mp_queue *q, sink *sk, double timeout) {
  int r = check_open(q);
  if (r)
    return r;
  mp__deadline dl;
  if ((r = mp__deadline_init(&dl, timeout)) < 0)
    return r;
  mp__qhdr *h = q->h;
  for (;;) {
    if ((r = side_lock(q, &h->cons, &dl)) < 0)
      return r == MP_ETIMEOUT ? MP_EEMPTY : r;
    uint64_t head = h->cons.pos;
    /* C1. Records up to the tail some consumer saw are committed and stay
     * until consumed; read the producers' tail again only on reaching
     * it (the acquire then, and the consumers' lock between consumers,
     * make those records visible). */
    uint64_t tail = h->cons.tail_seen;
    if (tail == head || tail == 0) {
      tail = __atomic_load_n(&h->prod.pos, __ATOMIC_ACQUIRE);
      h->cons.tail_seen = tail;
    }
    while (head != tail) {
      uint64_t *rec = mp__qptr(q, head);
      uint64_t w = rec[0];
      if (MP__UNLIKELY(!record_sane(q, head, w))) {
        mp__qunlock(&h->cons.lock);
        return MP_EPROTO; /* someone scribbled on the shared memory */
      }
      if (MP__REC_TYPE(w) == MP__REC_JUMP) {
        /* One store moves the head: no log needed. */
        uint64_t old = rec[2];
        head = rec[1];
        __atomic_store_n(&h->cons.pos, head, __ATOMIC_RELEASE);
        release_chunk(q, old);
        continue;
      }
      size_t len = (size_t)MP__REC_LEN(w);
      uint64_t ool = MP__REC_TYPE(w) == MP__REC_OOL ? rec[1] : 0;
      const void *src = ool ? q->base + ool + MP__QBLK_HDR : (void *)(rec + 1);
      *sk->len = len;
      if (sk->view && ool) {
        sk->view->data = src; /* the block is the caller's until release */
        sk->view->blk_ = ool;
        ool = 0;
      } else if (sk->out) {
        void *p = mp__malloc(len);
        if (!p) {
          mp__qunlock(&h->cons.lock);
          return -ENOMEM;
        }
        copy_hooked(p, src, len);
        *sk->out = p;
      } else {
        if (len > sk->cap) {
          mp__qunlock(&h->cons.lock);
          return MP_ETOOSHORT;
        }
        copy_hooked(sk->buf, src, len);
      }
      MP__QHOOK(MP__QHOOK_GET_COPIED);
      bool was_ool = MP__REC_TYPE(w) == MP__REC_OOL;
      uint64_t next = head + (was_ool ? MP__OOL_SIZE : 8 + round8(len));
      side_commit(&h->cons, next, h->cons.count + 1, 0);
      mp__qunlock(&h->cons.lock);
      mp__qheap_free(q, ool);
      if (h->maxsize > 0)
        wake_all(&h->space_seq);
      return 0;
    }
    mp__qunlock(&h->cons.lock);
    if (wait_until(q, &h->data_seq, data_ready, &dl))
      return MP_EEMPTY;
  }
}

MP_EXPORT int mp_queue_get(mp_queue *q, void **data, size_t *len,
                           double timeout) {
  if (!q || !data || !len)
    return -EINVAL;
  sink sk = {.out = data, .len = len};
  return get_common(q, &sk, timeout);
}

MP_EXPORT int mp_queue_get_nowait(mp_queue *q, void **data, size_t *len) {
  return mp_queue_get(q, data, len, 0);
}

MP_EXPORT int mp_queue_get_view(mp_queue *q, mp_queue_item *item,
                                double timeout) {
  if (!q || !item)
    return -EINVAL;
  memset(item, 0, sizeof *item);
  void *copy = NULL;
  sink sk = {.out = &copy, .len = &item->len, .view = item};
  int r = get_common(q, &sk, timeout);
  if (r == 0) {
    item->q_ = q;
    if (!item->blk_)
      item->data = item->buf_ = copy;
  } else {
    memset(item, 0, sizeof *item);
  }
  return r;
}

MP_EXPORT void mp_queue_item_release(mp_queue_item *item) {
  if (!item)
    return;
  if (item->blk_ && item->q_)
    mp__qheap_free(item->q_, item->blk_);
  mp_free(item->buf_);
  memset(item, 0, sizeof *item);
}

MP_EXPORT int mp_queue_get_into(mp_queue *q, void *buf, size_t cap,
                                size_t *len, double timeout) {
  if (!q || !len || (!buf && cap))
    return -EINVAL;
  sink sk = {.buf = buf, .cap = cap, .len = len};
  return get_common(q, &sk, timeout);
}

/* ---- JoinableQueue ------------------------------------------------------- */

MP_EXPORT int mp_queue_task_done(mp_queue *q) {
  if (!q)
    return -EINVAL;
  mp__qhdr *h = q->h;
  if (h->kind != MP__Q_JOINABLE)
    return MP_ENOTSUP;
  uint64_t done = __atomic_load_n(&h->ndone, __ATOMIC_ACQUIRE);
  do {
    if (done >= __atomic_load_n(&h->prod.count, __ATOMIC_ACQUIRE))
      return MP_EVALUE;
  } while (!__atomic_compare_exchange_n(&h->ndone, &done, done + 1, true,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
  wake_all(&h->join_seq);
  return 0;
}

MP_EXPORT int mp_queue_join(mp_queue *q, double timeout) {
  if (!q)
    return -EINVAL;
  mp__qhdr *h = q->h;
  if (h->kind != MP__Q_JOINABLE)
    return MP_ENOTSUP;
  mp__deadline dl;
  int r = mp__deadline_init(&dl, timeout);
  if (r < 0)
    return r;
  while (!join_ready(q)) {
    if (wait_until(q, &h->join_seq, join_ready, &dl))
      return MP_ETIMEOUT;
  }
  return 0;
}
