/* serve.c: what a serving rank (rank > 0) does from mp_mpi_init until it
 * exits: it keeps one local fork pool per pool of rank 0 that gave it slots
 * (as many workers as slots, with the pool's initializer and limits), runs
 * each CHUNK there as one map, and answers with one RESULT per chunk. The
 * local pool is what isolates crashes: a task that segfaults or overruns
 * its time limit fails alone (MP_EWORKERDIED, MP_ETIMEOUT come back as that
 * item's error) and the rank goes on.
 *
 * Only the main thread calls MPI. It polls rank 0's messages and the local
 * completions (the local pools' callbacks queue them and signal a condition
 * variable), beats every 100 ms, and leaves when told to stop, or when rank
 * 0 has been silent too long (it died under --enable-recovery, where
 * nothing else would end us). */
#include <mpi.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "mpi_internal.h"

#define SPIN_NS 3000000 /* polling after activity, before napping */

typedef struct lpool {
  struct lpool *next;
  uint32_t id;
  mp_pool *pool;       /* NULL when it could not start: */
  mp_error err;        /* why, for each of its chunks */
  void *initarg;
} lpool;

/* One chunk of a batch: a local job, or a failure for all its items. */
typedef struct ljob {
  uint32_t count;
  uint64_t out_size;
  mp_result *r;        /* set by the callback */
  bool failed;
  mp_error err;
  struct lbatch *b;
} ljob;

/* One CHUNK message: answered once all its jobs are done. */
typedef struct lbatch {
  struct lbatch *next; /* S.done */
  uint64_t id;
  uint32_t pool, n;
  uint32_t left;       /* jobs not finished, +1 while submitting (S.mu) */
  ljob jobs[];
} lbatch;

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  lbatch *done;        /* finished batches, from the callbacks */
  lpool *pools;
} S = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* One job of b is finished (or the submitter let go). */
static void batch_release(lbatch *b) {
  pthread_mutex_lock(&S.mu);
  if (--b->left == 0) {
    b->next = S.done;
    S.done = b;
    pthread_cond_signal(&S.cv);
  }
  pthread_mutex_unlock(&S.mu);
}

static void on_done(mp_result *r, void *ctx) {
  ljob *j = ctx;
  j->r = r; /* read by the main thread after the release below */
  batch_release(j->b);
}

static lpool *find_pool(uint32_t id) {
  for (lpool *p = S.pools; p; p = p->next)
    if (p->id == id)
      return p;
  return NULL;
}

/* ---- Answers -------------------------------------------------------------------- */

static void send_to_0(int tag, const void *buf, size_t len) {
  if (len > INT32_MAX ||
      MPI_Send(buf, (int)len, MPI_BYTE, 0, tag, MPI_COMM_WORLD) != MPI_SUCCESS) {
    mpiw_log("cannot send to rank 0: leaving");
    _exit(1); /* rank 0 is gone; our local pools' workers die with us */
  }
}

/* A growing message buffer. */
typedef struct mbuf {
  char *p;
  size_t len, cap;
  bool oom;
} mbuf;

static void *mb_add(mbuf *b, size_t n) {
  if (b->oom)
    return NULL;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n)
      cap *= 2;
    char *q = realloc(b->p, cap);
    if (!q) {
      b->oom = true;
      return NULL;
    }
    b->p = q;
    b->cap = cap;
  }
  void *at = b->p + b->len;
  memset(at, 0, n);
  b->len += n;
  return at;
}

static void mb_item(mbuf *b, uint32_t k, const mp_error *e, const void *data,
                    size_t len) {
  char msg[MP_ERROR_MESSAGE_MAX + 32];
  mpiw_item it = {.k = k};
  if (e) { /* the task's own message as it wrote it; ours name the rank */
    it.code = e->code;
    it.signo = e->signo;
    it.status = e->status;
    int n = e->code == MP_ETASK
                ? snprintf(msg, sizeof msg, "%s", e->message)
                : snprintf(msg, sizeof msg, "on MPI rank %d: %s", mpiw_g.rank, e->message);
    data = msg;
    len = n < 0 ? 0 : (size_t)n < MP_ERROR_MESSAGE_MAX ? (size_t)n : MP_ERROR_MESSAGE_MAX - 1;
  }
  it.len = len;
  char *h = mb_add(b, sizeof it + MPIW_PAD8(len)); /* one piece: mb_add moves */
  if (h) {
    memcpy(h, &it, sizeof it);
    if (len)
      memcpy(h + sizeof it, data, len);
  }
}

/* Appends job j's RESULT section. */
static void answer_job(mbuf *b, ljob *j) {
  size_t start = b->len;
  if (!mb_add(b, sizeof(mpiw_result)))
    return;
  size_t outs = b->len;
  if (j->out_size && !mb_add(b, MPIW_PAD8((size_t)j->count * j->out_size)))
    return; /* padded: sections and items stay 8-aligned */
  uint32_t nitems = 0;
  const void *all = NULL;
  size_t all_len = 0;
  if (j->r) /* the callback that finished it may still be returning */
    mp_result_wait(j->r, MP_FOREVER);
  bool whole = !j->failed && j->out_size &&
               mp_result_get(j->r, 0, &all, &all_len) == 0 &&
               all_len == (size_t)j->count * j->out_size;
  if (whole) /* no failure: the outputs in one copy */
    memcpy(b->p + outs, all, all_len);
  for (uint32_t k = 0; k < j->count && !b->oom && !whole; k++) {
    const void *data = NULL;
    size_t len = 0;
    const mp_error *e = &j->err;
    mp_error fallback;
    if (!j->failed) {
      int rc = mp_result_item(j->r, k, &data, &len);
      if (rc == 0 && j->out_size) {
        memcpy(b->p + outs + (size_t)k * j->out_size, data,
               len < j->out_size ? len : j->out_size);
        continue;
      }
      e = rc ? mp_result_item_error(j->r, k) : NULL;
      if (rc && !e) /* a failure of the whole job (terminated, broken) */
        e = mp_result_error(j->r);
      if (rc && (!e || e->code != rc)) {
        mp_error_set(&fallback, rc, 0, -1, "%s", mp_strerror(rc));
        e = &fallback;
      }
    }
    mb_item(b, k, e, data, len);
    nitems++;
  }
  if (!b->oom)
    *(mpiw_result *)(b->p + start) =
        (mpiw_result){b->len - start, j->count, nitems, j->out_size};
}

static void answer_batch(lbatch *bt) {
  mbuf b = {0};
  mpiw_batch h = {MPIW_MAGIC, bt->pool, bt->id, bt->n, 0};
  void *at = mb_add(&b, sizeof h);
  if (at)
    memcpy(at, &h, sizeof h);
  for (uint32_t i = 0; i < bt->n; i++)
    answer_job(&b, &bt->jobs[i]);
  if (b.oom) { /* say so in the smallest answer: every item failed */
    b.len = 0;
    b.oom = false;
    if ((at = mb_add(&b, sizeof h)))
      memcpy(at, &h, sizeof h);
    for (uint32_t i = 0; i < bt->n; i++) {
      ljob *j = &bt->jobs[i];
      mp_result_free(j->r);
      j->r = NULL;
      j->failed = true;
      mp_error_set(&j->err, -ENOMEM, 0, -1, "no memory for the results");
      answer_job(&b, j);
    }
  }
  if (!b.oom)
    send_to_0(MPIW_RESULT, b.p, b.len);
  free(b.p);
  for (uint32_t i = 0; i < bt->n; i++)
    mp_result_free(bt->jobs[i].r);
  free(bt);
}

/* ---- Messages from rank 0 ------------------------------------------------------------ */

static void on_open(const char *buf, size_t len) {
  mpiw_open o;
  if (len < sizeof o)
    return;
  memcpy(&o, buf, sizeof o);
  if (o.magic != MPIW_MAGIC || o.initarg_len != len - sizeof o || o.nlocal <= 0 ||
      o.nlocal > 4096 || find_pool(o.pool))
    return;
  lpool *lp = calloc(1, sizeof *lp);
  if (!lp)
    return;
  lp->id = o.pool;
  mp_pool_opts po = {.processes = o.nlocal, .start_method = MP_START_FORK,
                     .maxtasksperchild = o.maxtasks,
                     .max_memory_per_child = o.max_memory,
                     .task_timeout = o.task_timeout, .initarg_len = o.initarg_len};
  void *init = NULL;
  if (o.initarg_len && !(lp->initarg = malloc(o.initarg_len))) {
    mp_error_set(&lp->err, -ENOMEM, 0, -1, "no memory for the initializer's argument");
  } else if (o.has_init && mpiw_g.core->fnref_resolve(&o.init, &init) != 0) {
    mp_error_set(&lp->err, MP_ESTALE, 0, -1, "the pool's initializer is not in "
                 "this rank's program (another build?)");
  } else {
    if (o.initarg_len)
      memcpy(lp->initarg, buf + sizeof o, o.initarg_len);
    po.initializer = (int (*)(void *))init;
    po.initarg = lp->initarg;
    if (!(lp->pool = mp_pool_new(&po)))
      mp_error_set(&lp->err, mp_errno_code(errno), 0, -1,
                   "cannot start a local pool of %d workers: %s", o.nlocal,
                   mp_strerror(mp_errno_code(errno)));
  }
  lp->next = S.pools;
  S.pools = lp;
}

static void end_pool(lpool *lp) {
  mp_pool_free(lp->pool); /* terminates: callbacks answer what was running */
  free(lp->initarg);
  free(lp);
}

static void on_end(const char *buf, size_t len) {
  mpiw_end m;
  if (len < sizeof m)
    return;
  memcpy(&m, buf, sizeof m);
  for (lpool **pp = &S.pools; *pp; pp = &(*pp)->next) {
    if ((*pp)->id == m.pool && m.magic == MPIW_MAGIC) {
      lpool *lp = *pp;
      *pp = lp->next;
      end_pool(lp);
      return;
    }
  }
}

/* Starts job j for the section at buf (len bytes) or marks it failed. */
static void chunk_job(lbatch *bt, ljob *j, const char *buf, size_t len) {
  mpiw_chunk c;
  mp_error *e = &j->err;
  j->failed = true;
  if (len < sizeof c) {
    mp_error_set(e, MP_EPROTO, 0, -1, "a malformed chunk message");
    return;
  }
  memcpy(&c, buf, sizeof c);
  j->count = c.count;
  j->out_size = c.out_size;
  const char *p = buf + sizeof c;
  size_t left = len - sizeof c, n = c.count;
  /* The inputs, checked against the section's size. */
  struct iovec *iov = NULL;
  bool ok = n > 0;
  if (ok && c.in_size) {
    ok = left / c.in_size >= n;
    if (ok && !c.out_size && (iov = malloc(n * sizeof *iov))) /* imap */
      for (size_t k = 0; k < n; k++)
        iov[k] = (struct iovec){(void *)(p + k * c.in_size), c.in_size};
  } else if (ok) {
    ok = left / sizeof(uint64_t) >= n;
    const uint64_t *lens = (const uint64_t *)p;
    const char *d = p + n * sizeof(uint64_t);
    size_t have = ok ? left - n * sizeof(uint64_t) : 0;
    if (ok && (iov = malloc(n * sizeof *iov)))
      for (size_t k = 0; ok && k < n; k++) {
        uint64_t l;
        memcpy(&l, lens + k, sizeof l);
        ok = l <= have;
        iov[k] = (struct iovec){(void *)d, (size_t)(ok ? l : 0)};
        d += ok ? l : 0;
        have -= ok ? l : 0;
      }
  }
  if (!ok || (c.out_size && !c.in_size)) {
    free(iov);
    mp_error_set(e, MP_EPROTO, 0, -1, "a malformed chunk message");
    return;
  }
  if (!c.out_size && !iov) {
    mp_error_set(e, -ENOMEM, 0, -1, "no memory for %zu items", n);
    return;
  }
  lpool *lp = find_pool(bt->pool);
  void *fn = NULL;
  if (!lp)
    mp_error_set(e, MP_EPROTO, 0, -1, "no pool %u here", bt->pool);
  else if (!lp->pool)
    *e = lp->err;
  else if (mpiw_g.core->fnref_resolve(&c.fn, &fn) != 0)
    mp_error_set(e, MP_ESTALE, 0, -1, "the task function is not in this "
                 "rank's program (another build?)");
  if (!fn) {
    free(iov);
    return;
  }
  mp_call_opts co = {.callback = on_done, .error_callback = on_done, .ctx = j};
  pthread_mutex_lock(&S.mu);
  bt->left++; /* the callback's */
  pthread_mutex_unlock(&S.mu);
  mp_result *r = c.out_size
                     ? mp_pool_map_async(lp->pool, (mp_task_fn)fn, p, n, c.in_size,
                                         NULL, c.out_size, &co)
                     : mp_pool_map_bytes_async(lp->pool, (mp_task_fn)fn, iov, n, &co);
  free(iov);
  if (!r) {
    int code = mp_errno_code(errno ? errno : ENOMEM);
    mp_error_set(e, code, 0, -1, "the local pool refused the chunk: %s",
                 mp_strerror(code));
    batch_release(bt); /* no callback will */
    return;
  }
  j->failed = false;
}

static void on_batch(const char *buf, size_t len) {
  mpiw_batch h;
  if (len < sizeof h)
    return;
  memcpy(&h, buf, sizeof h);
  if (h.magic != MPIW_MAGIC || h.n == 0 || h.n > (len - sizeof h) / sizeof(mpiw_chunk))
    return; /* not from our rank 0: nothing to answer to */
  lbatch *bt = calloc(1, sizeof *bt + h.n * sizeof(ljob));
  if (!bt) {
    mpiw_log("no memory for a batch of %u chunks: leaving", h.n);
    _exit(1); /* rank 0 would wait for an answer forever */
  }
  *bt = (lbatch){.id = h.id, .pool = h.pool, .n = h.n, .left = 1};
  size_t off = sizeof h;
  for (uint32_t i = 0; i < h.n; i++) {
    ljob *j = &bt->jobs[i];
    j->b = bt;
    uint64_t b = 0;
    if (len - off >= sizeof b)
      memcpy(&b, buf + off, sizeof b);
    if (b < sizeof(mpiw_chunk) || b > len - off)
      break; /* count 0 here and after: rank 0 fails them as malformed */
    chunk_job(bt, j, buf + off, (size_t)b);
    off += (size_t)b;
  }
  batch_release(bt); /* the submitter's hold */
}

/* Ends the local pools and leaves: 0 after MPI_Finalize, else at once. */
_Noreturn static void leave(int code) {
  while (S.pools) {
    lpool *lp = S.pools;
    S.pools = lp->next;
    end_pool(lp);
  }
  if (code == 0) {
    MPI_Finalize();
    exit(0);
  }
  /* -1: stopped after a rank died; MPI_Finalize would wait for it. */
  fflush(NULL);
  _exit(code < 0 ? 0 : code);
}

/* Handles what rank 0 sent; returns whether anything came. */
static bool receive(int64_t *heard) {
  bool any = false;
  for (int i = 0; i < 64; i++) {
    int flag = 0, n = 0;
    MPI_Status st;
    if (MPI_Iprobe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st) != MPI_SUCCESS) {
      mpiw_log("cannot reach rank 0: leaving");
      leave(1);
    }
    if (!flag)
      break;
    MPI_Get_count(&st, MPI_BYTE, &n);
    char *buf = malloc(n > 0 ? (size_t)n : 1);
    if (!buf)
      break;
    if (MPI_Recv(buf, n, MPI_BYTE, 0, st.MPI_TAG, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE) != MPI_SUCCESS) {
      free(buf);
      mpiw_log("cannot receive from rank 0: leaving");
      leave(1);
    }
    *heard = mpiw_now_ns();
    any = true;
    size_t len = (size_t)n;
    switch (st.MPI_TAG) {
    case MPIW_OPEN:
      on_open(buf, len);
      break;
    case MPIW_CHUNK:
      on_batch(buf, len);
      break;
    case MPIW_END:
      on_end(buf, len);
      break;
    case MPIW_STOP: {
      mpiw_stop m = {0, 1};
      if (len >= sizeof m)
        memcpy(&m, buf, sizeof m);
      free(buf);
      leave(m.lost ? -1 : 0);
    }
    default: /* BEAT */
      break;
    }
    free(buf);
  }
  return any;
}

_Noreturn void mpiw_serve(void) {
  int64_t heard = mpiw_now_ns(), last_beat = 0, last_busy = 0;
  int idle = 0;
  for (;;) {
    bool busy = receive(&heard);
    pthread_mutex_lock(&S.mu);
    lbatch *done = S.done;
    S.done = NULL;
    pthread_mutex_unlock(&S.mu);
    for (lbatch *bt = done, *next; bt; bt = next) {
      next = bt->next;
      answer_batch(bt);
      busy = true;
    }
    int64_t now = mpiw_now_ns();
    if (now - last_beat >= MPIW_BEAT_NS) {
      static const int one = 1;
      send_to_0(MPIW_BEAT, &one, sizeof one);
      last_beat = now;
    }
    /* Silence: unless what came meanwhile (we may have been stopped
     * ourselves) says otherwise. */
    if (now - heard > 2 * mpiw_g.dead_ns && !receive(&heard)) {
      mpiw_log("no word from rank 0 for %.1f s: leaving",
               (double)(now - heard) / 1e9);
      leave(1);
    }
    if (busy) {
      last_busy = now;
      idle = 0;
      continue;
    }
    /* Poll for SPIN_NS after the last activity (the next chunk usually
     * comes within a round trip), yielding the CPU between looks; then nap
     * in growing steps up to 1 ms (a local completion wakes us). */
    if (now - last_busy < SPIN_NS) {
      sched_yield();
      continue;
    }
    int64_t nap = 50000LL << (idle < 5 ? idle : 5);
    idle++;
    if (nap > 1000000)
      nap = 1000000;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t t = (int64_t)ts.tv_nsec + nap;
    ts.tv_sec += t / 1000000000LL;
    ts.tv_nsec = t % 1000000000LL;
    pthread_mutex_lock(&S.mu);
    if (!S.done)
      pthread_cond_timedwait(&S.cv, &S.mu, &ts);
    pthread_mutex_unlock(&S.mu);
  }
}
