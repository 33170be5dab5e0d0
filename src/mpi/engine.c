/* engine.c: rank 0's side of the MPI pool: the "mpi" pool backend
 * (pool_backend.h) and the one progress thread that owns every MPI call
 * after init.
 *
 * A pool's proxies (threads of the core, one per slot) each hold one chunk
 * at a time: run() packs it into a CHUNK message, puts it in the engine's
 * outbox and waits. The engine sends it to the slot's rank, matches the
 * RESULT by request id, and wakes the proxy, which posts the items through
 * the core. So each rank has as many chunks in flight as it has slots:
 * every rank stays busy when task times vary, and small tasks travel many
 * per message (the core's chunks).
 *
 * Liveness: every rank hears a BEAT from the other side each 100 ms. A
 * serving rank silent for MP_MPI_DEAD_TIMEOUT (2 s) is dead: its chunks in
 * flight fail with MP_EWORKERDIED naming the rank, its slots end without a
 * replacement (MP__POOL_SLOT_GONE), and the rest of the work goes on on the
 * others. The engine polls (MPI has nothing to sleep on together with a
 * condition variable): it spins a little after activity, then naps in
 * growing steps, and sleeps until the next beat when nothing is in flight. */
#include <mpi.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mpi_internal.h"

#define SPIN_NS 3000000 /* polling after activity, before napping */
#define PROXY_SPIN_NS 200000 /* a proxy looking for its answer, then sleeping */
/* Chunks in flight per worker (MP_MPI_DEPTH, 1..16, default 2): one runs
 * while the next is on the wire and a result on its way back, so a rank's
 * local pool seldom waits for a round trip; more raises the throughput of
 * tiny tasks but hands out work earlier (less balance when task times
 * vary). */
#define DEPTH_DEFAULT 2
static int g_depth = DEPTH_DEFAULT;
#define DEPTH g_depth

enum { RQ_NEW = 0, RQ_DONE, RQ_GONE };

typedef struct ereq {
  struct ereq *next;   /* outbox, or its rank's in-flight list */
  struct ereq *snext;  /* the sends not yet complete */
  int rank, tag;
  uint64_t id;
  void *msg;
  size_t len;
  MPI_Request sreq;
  /* CHUNK only, under E.mu. */
  int state;
  bool proxy_left;     /* the proxy stopped waiting: the engine frees it */
  bool send_pending;
  void *reply;
  size_t reply_len;
  pthread_cond_t *cv;
} ereq;

typedef struct erank {
  int64_t heard_ns;
  int64_t dead_ns;     /* when it was declared dead */
  bool dead;
  char why[96];        /* why it is gone */
  ereq *inflight;
} erank;

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  ereq *out_head, **out_tail;
  erank *ranks;
  uint64_t next_id;
  uint32_t next_pool;
  bool stop, lost, started;
  pthread_t thread;
} E = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* ---- The pool backend ---------------------------------------------------------- */

typedef struct eslot {
  pthread_cond_t cv;
  bool stopped;
} eslot;

typedef struct epool {
  uint32_t id;
  int nworkers;        /* the pool's processes, spread over the ranks */
  int nproc;           /* proxies: DEPTH per worker */
  int *slot_rank;      /* per proxy */
  eslot *slots;
  bool *has_rank;      /* ranks given an OPEN */
} epool;

static const char *host_of(int r) {
  return mpiw_g.hosts ? mpiw_g.hosts + (size_t)r * MPIW_HOST_MAX : "?";
}

/* Queues a message for the engine (mutex held). */
static void outbox_put(ereq *q) {
  q->next = NULL;
  *E.out_tail = q;
  E.out_tail = &q->next;
  pthread_cond_signal(&E.cv);
}

static int send_control(int rank, int tag, const void *msg, size_t len) {
  ereq *q = calloc(1, sizeof *q);
  void *m = malloc(len);
  if (!q || !m) {
    free(q);
    free(m);
    return -ENOMEM;
  }
  memcpy(m, msg, len);
  *q = (ereq){.rank = rank, .tag = tag, .msg = m, .len = len};
  pthread_mutex_lock(&E.mu);
  outbox_put(q);
  pthread_mutex_unlock(&E.mu);
  return 0;
}

static void epool_free(epool *ep) {
  if (!ep)
    return;
  if (ep->slots)
    for (int w = 0; w < ep->nproc; w++)
      pthread_cond_destroy(&ep->slots[w].cv);
  free(ep->slots);
  free(ep->slot_rank);
  free(ep->has_rank);
  free(ep);
}

/* Slots over the live serving ranks: round after round, each rank takes
 * one more slot while it has CPUs left; past the CPUs, plain round-robin. */
static int spread(epool *ep) {
  int n = mpiw_g.size, w = 0;
  bool live[n];
  int nlive = 0;
  pthread_mutex_lock(&E.mu);
  for (int r = 1; r < n; r++)
    nlive += (live[r] = !E.ranks[r].dead);
  pthread_mutex_unlock(&E.mu);
  if (!nlive)
    return 0;
  for (int round = 0; w < ep->nworkers; round++) {
    bool any = false;
    for (int r = 1; r < n && w < ep->nworkers; r++) {
      if (live[r] && mpiw_g.cpus[r] > round) {
        ep->slot_rank[w++] = r;
        any = true;
      }
    }
    if (!any)
      break;
  }
  for (int r = 1; w < ep->nworkers; r = r % (n - 1) + 1)
    if (live[r])
      ep->slot_rank[w++] = r;
  for (; w < ep->nproc; w++) /* the other proxies of each worker */
    ep->slot_rank[w] = ep->slot_rank[w % ep->nworkers];
  return nlive;
}

static int be_open(const mp_pool_opts *o, int *nproc, void **state) {
  const mp__pool_core *core = mpiw_g.core;
  if (mpiw_g.rank != 0 || mpiw_g.size < 2)
    return core->error_record(
        MP_ENOTSUP, "the \"mpi\" start method needs serving ranks: call "
                    "mp_mpi_init() first and run the program under "
                    "`mpirun -n N` with N >= 2 (this process is %s)",
        mpiw_g.rank < 0 ? "not initialised" : "alone in its MPI job");
  if (mpiw_g.finalized)
    return core->error_record(MP_ESTATE, "mp_mpi_finalize() was called");
  int total = 0;
  for (int r = 1; r < mpiw_g.size; r++)
    total += mpiw_g.cpus[r];
  if (!*nproc)
    *nproc = total > 0 ? total : mpiw_g.size - 1;
  if (*nproc <= 0 || *nproc > 4096)
    return -EINVAL;
  epool *ep = calloc(1, sizeof *ep);
  if (!ep)
    return -ENOMEM;
  *state = ep;
  ep->nworkers = *nproc;
  ep->nproc = *nproc * DEPTH;
  ep->slot_rank = calloc((size_t)ep->nproc, sizeof *ep->slot_rank);
  ep->slots = calloc((size_t)ep->nproc, sizeof *ep->slots);
  ep->has_rank = calloc((size_t)mpiw_g.size, sizeof *ep->has_rank);
  if (!ep->slot_rank || !ep->slots || !ep->has_rank)
    return -ENOMEM;
  for (int w = 0; w < ep->nproc; w++)
    pthread_cond_init(&ep->slots[w].cv, NULL);
  if (!spread(ep))
    return core->error_record(MP_ENOTSUP, "no serving MPI rank is alive");
  /* The OPEN message: each rank's local pool gets its share of slots. */
  size_t ilen = o->initarg_len;
  size_t len = sizeof(mpiw_open) + ilen;
  mpiw_open *m = calloc(1, len);
  if (!m)
    return -ENOMEM;
  pthread_mutex_lock(&E.mu);
  ep->id = ++E.next_pool;
  pthread_mutex_unlock(&E.mu);
  *m = (mpiw_open){.magic = MPIW_MAGIC, .pool = ep->id,
                   .maxtasks = o->maxtasksperchild,
                   .max_memory = o->max_memory_per_child,
                   .initarg_len = ilen, .task_timeout = o->task_timeout};
  if (o->initializer) {
    m->has_init = 1;
    if (core->fnref_make((const void *)(uintptr_t)o->initializer, &m->init)) {
      free(m);
      return -EINVAL;
    }
  }
  if (ilen)
    memcpy(m + 1, o->initarg, ilen);
  int rc = 0;
  for (int r = 1; r < mpiw_g.size && !rc; r++) {
    m->nlocal = 0;
    for (int w = 0; w < ep->nworkers; w++)
      m->nlocal += ep->slot_rank[w] == r;
    if (m->nlocal && !(rc = send_control(r, MPIW_OPEN, m, len)))
      ep->has_rank[r] = true;
  }
  free(m);
  return rc;
}

static void be_close(void *state) {
  epool *ep = state;
  if (!ep)
    return;
  mpiw_end end = {MPIW_MAGIC, ep->id};
  for (int r = 1; r < mpiw_g.size && ep->has_rank; r++)
    if (ep->has_rank[r])
      send_control(r, MPIW_END, &end, sizeof end);
  /* Every proxy has left (the core calls this once none is left): no
   * request points at our slots any more. */
  epool_free(ep);
}

static void be_stop(void *state, int w) {
  epool *ep = state;
  pthread_mutex_lock(&E.mu);
  __atomic_store_n(&ep->slots[w].stopped, true, __ATOMIC_RELAXED);
  pthread_cond_broadcast(&ep->slots[w].cv);
  pthread_mutex_unlock(&E.mu);
}

/* Fails items [from, count) of c with e. */
static void fail_rest(const mp__pool_chunk *c, size_t from, const mp_error *e) {
  for (size_t k = from; k < c->count; k++)
    mpiw_g.core->post_error(c, k, e);
  if (c->out_size)
    mpiw_g.core->set_progress(c, c->count);
}

static void fail_all(const mp__pool_chunk *c, size_t n, const mp_error *e) {
  for (size_t i = 0; i < n; i++)
    fail_rest(&c[i], 0, e);
}

/* The bytes of chunk c's section in a CHUNK message. */
static size_t chunk_bytes(const mp__pool_chunk *c) {
  size_t bytes = 0;
  if (c->in_size) {
    bytes = c->count * c->in_size;
  } else {
    for (size_t k = 0; k < c->count; k++) {
      size_t l;
      mpiw_g.core->input(c, k, &l);
      bytes += l;
    }
    bytes += c->count * sizeof(uint64_t);
  }
  return MPIW_PAD8(sizeof(mpiw_chunk) + bytes);
}

/* Writes chunk c's section (size bytes) at p. */
static void pack_one(const mp__pool_chunk *c, char *p, size_t size) {
  const mp__pool_core *core = mpiw_g.core;
  mpiw_chunk *m = (mpiw_chunk *)p;
  *m = (mpiw_chunk){.bytes = size, .fn = c->fn, .first = c->first,
                    .count = (uint32_t)c->count, .in_size = c->in_size,
                    .out_size = c->out_size};
  p += sizeof *m;
  size_t l, n = c->count;
  if (c->in_size) {
    const void *in = core->input(c, 0, &l);
    memcpy(p, in, n * c->in_size);
  } else {
    uint64_t *lens = (uint64_t *)p;
    char *d = p + n * sizeof(uint64_t);
    for (size_t k = 0; k < n; k++) {
      const void *in = core->input(c, k, &l);
      lens[k] = l;
      if (l)
        memcpy(d, in, l);
      d += l;
    }
  }
}

/* Packs the n chunks into one CHUNK message; NULL when out of memory (or
 * errno E2BIG: over what one MPI message counts). */
static void *pack_batch(const mp__pool_chunk *c, size_t n, uint32_t pool,
                        uint64_t id, size_t *lenp) {
  size_t len = sizeof(mpiw_batch);
  for (size_t i = 0; i < n; i++)
    len += chunk_bytes(&c[i]);
  if (len > INT32_MAX) {
    errno = E2BIG;
    return NULL;
  }
  char *m = calloc(1, len);
  if (!m)
    return NULL;
  *(mpiw_batch *)m = (mpiw_batch){MPIW_MAGIC, pool, id, (uint32_t)n, 0};
  size_t off = sizeof(mpiw_batch);
  for (size_t i = 0; i < n; i++) {
    size_t b = chunk_bytes(&c[i]);
    pack_one(&c[i], m + off, b);
    off += b;
  }
  *lenp = len;
  return m;
}

/* Posts what a RESULT section says; a malformed one fails what it did not
 * cover. Returns whether it was well formed. */
static bool unpack_result(const mp__pool_chunk *c, int rank, const char *buf,
                          size_t len) {
  const mp__pool_core *core = mpiw_g.core;
  const mpiw_result *h = (const mpiw_result *)buf;
  size_t k = 0, off = sizeof *h;
  bool ok = len >= sizeof *h && h->count == c->count && h->out_size == c->out_size;
  if (ok && c->out_size) { /* the outputs, then the failed items */
    size_t outs = c->count * c->out_size; /* no overflow: the chunk exists */
    ok = len - off >= MPIW_PAD8(outs);
    if (ok) { /* the chunk's elements are contiguous */
      memcpy(core->output(c, 0), buf + off, outs);
      off += MPIW_PAD8(outs);
    }
  }
  for (uint32_t i = 0; ok && i < h->nitems; i++) {
    mpiw_item it;
    if (len - off < sizeof it) {
      ok = false;
      break;
    }
    memcpy(&it, buf + off, sizeof it);
    off += sizeof it;
    if (it.len > len - off || it.k >= c->count || (!c->out_size && it.k != k)) {
      ok = false;
      break;
    }
    const char *data = buf + off;
    off += MPIW_PAD8(it.len) <= len - off ? MPIW_PAD8(it.len) : len - off;
    if (it.code == 0 && !c->out_size) {
      core->post_result(c, it.k, data, it.len);
    } else if (it.code != 0) {
      mp_error e;
      int code = it.code < 0 ? it.code : MP_ETASK;
      mp_error_set(&e, code, it.signo, it.status, "%.*s",
                   (int)(it.len < MP_ERROR_MESSAGE_MAX ? it.len : MP_ERROR_MESSAGE_MAX - 1),
                   data);
      core->post_error(c, it.k, &e);
    }
    k = it.k + 1;
  }
  if (ok && !c->out_size && k != c->count)
    ok = false;
  if (!ok) {
    mp_error e;
    mp_error_set(&e, MP_EPROTO, 0, -1, "MPI rank %d (host %s) sent a "
                 "malformed result message (%zu bytes)", rank, host_of(rank), len);
    fail_rest(c, c->out_size ? 0 : k, &e);
  } else if (c->out_size) {
    core->set_progress(c, c->count);
  }
  return ok;
}

/* Posts a whole RESULT message, section by section. */
static void unpack_batch(const mp__pool_chunk *c, size_t n, int rank,
                         uint64_t id, const char *buf, size_t len) {
  const mpiw_batch *h = (const mpiw_batch *)buf;
  size_t i = 0, off = sizeof *h;
  if (len >= sizeof *h && h->magic == MPIW_MAGIC && h->id == id && h->n == n) {
    for (; i < n; i++) {
      uint64_t b;
      if (len - off < sizeof b)
        break;
      memcpy(&b, buf + off, sizeof b);
      if (b < sizeof(mpiw_result) || b > len - off ||
          !unpack_result(&c[i], rank, buf + off, (size_t)b)) {
        i++; /* unpack_result failed what it left */
        break;
      }
      off += (size_t)b;
    }
  }
  if (i < n) {
    mp_error e;
    mp_error_set(&e, MP_EPROTO, 0, -1, "MPI rank %d (host %s) sent a "
                 "malformed result message (%zu bytes)", rank, host_of(rank), len);
    fail_all(c + i, n - i, &e);
  }
}

/* Frees a request nobody holds any more; one whose buffer MPI may still
 * read (a send to a rank that died) is left alone. Mutex held. */
static void req_free(ereq *q) {
  if (q->send_pending)
    return;
  free(q->msg);
  free(q->reply);
  free(q);
}

static int be_run(void *state, int w, mp__pool_chunk *c, size_t n) {
  epool *ep = state;
  eslot *s = &ep->slots[w];
  int rank = ep->slot_rank[w];
  mp_error e;
  ereq *q = calloc(1, sizeof *q);
  pthread_mutex_lock(&E.mu);
  uint64_t id = ++E.next_id;
  bool dead = E.ranks[rank].dead;
  pthread_mutex_unlock(&E.mu);
  if (dead) {
    free(q);
    mp_error_set(&e, MP_EWORKERDIED, 0, -1, "MPI rank %d (host %s) is gone "
                 "(%s)", rank, host_of(rank), E.ranks[rank].why);
    fail_all(c, n, &e);
    return MP__POOL_SLOT_GONE;
  }
  size_t len = 0;
  void *msg = q ? pack_batch(c, n, ep->id, id, &len) : NULL;
  if (!msg) {
    int code = errno == E2BIG ? MP_ETOOBIG : -ENOMEM;
    free(q);
    mp_error_set(&e, code, 0, -1, "cannot pack %zu items for MPI rank %d: %s",
                 c->count, rank, mp_strerror(code));
    fail_all(c, n, &e);
    return 0;
  }
  *q = (ereq){.rank = rank, .tag = MPIW_CHUNK, .id = id, .msg = msg,
              .len = len, .cv = &s->cv};
  pthread_mutex_lock(&E.mu);
  outbox_put(q);
  pthread_mutex_unlock(&E.mu);
  /* A short answer usually comes within a few tens of microseconds: look
   * for it a while (yielding) before sleeping, which saves a wake-up. */
  int64_t spin_until = mpiw_now_ns() + PROXY_SPIN_NS;
  while (__atomic_load_n(&q->state, __ATOMIC_ACQUIRE) == RQ_NEW &&
         !__atomic_load_n(&s->stopped, __ATOMIC_RELAXED) &&
         mpiw_now_ns() < spin_until)
    sched_yield();
  pthread_mutex_lock(&E.mu);
  while (q->state == RQ_NEW && !s->stopped)
    pthread_cond_wait(&s->cv, &E.mu);
  int st = q->state;
  void *reply = q->reply;
  size_t reply_len = q->reply_len;
  q->reply = NULL;
  q->cv = NULL;
  if (st == RQ_NEW || q->send_pending)
    q->proxy_left = true; /* the engine still holds it: it frees it */
  else
    req_free(q);
  pthread_mutex_unlock(&E.mu);
  if (st == RQ_NEW) /* terminate: the core drops what is not posted */
    return 0;
  int rc = 0;
  if (st == RQ_DONE) {
    unpack_batch(c, n, rank, id, reply, reply_len);
  } else {
    size_t items = 0;
    for (size_t i = 0; i < n; i++)
      items += c[i].count;
    mp_error_set(&e, MP_EWORKERDIED, 0, -1, "MPI rank %d (host %s) is gone "
                 "(%s) while it held %zu items from item %zu on", rank,
                 host_of(rank), E.ranks[rank].why, items, c->first);
    fail_all(c, n, &e);
    rc = MP__POOL_SLOT_GONE;
  }
  free(reply);
  return rc;
}

static mp__pool_backend g_ops = { /* depth: set at registration */
    .open = be_open, .run = be_run, .stop = be_stop, .close = be_close,
    .worker_prefix = "MPIPoolWorker"};

int mpiw_register(void) {
  const char *d = getenv("MP_MPI_DEPTH");
  char *end;
  long v = d ? strtol(d, &end, 10) : 0;
  if (d && end != d && !*end && v >= 1 && v <= 16)
    g_depth = (int)v;
  g_ops.depth = g_depth;
  int rc = mp__pool_backend_register(MP_START_MPI, &g_ops, &mpiw_g.core);
  return rc == -EEXIST ? 0 : rc;
}

/* ---- The progress thread ----------------------------------------------------------- */

/* Ends rank r's chunks in flight (mutex held): their proxies learn the
 * rank is gone. */
static void abandon(int r) {
  for (ereq *q = E.ranks[r].inflight, *next; q; q = next) {
    next = q->next;
    __atomic_store_n(&q->state, RQ_GONE, __ATOMIC_RELEASE);
    if (q->proxy_left)
      req_free(q);
    else if (q->cv)
      pthread_cond_broadcast(q->cv);
  }
  E.ranks[r].inflight = NULL;
}

/* Rank r is dead (mutex held): its chunks fail, its slots end. */
static void rank_dead(int r, const char *why) {
  erank *k = &E.ranks[r];
  if (k->dead)
    return;
  k->dead = true;
  k->dead_ns = mpiw_now_ns();
  snprintf(k->why, sizeof k->why, "%s", why);
  if (!E.stop)
    mpiw_log("rank %d (host %s) is gone: %s", r, host_of(r), why);
  abandon(r);
}

static ereq *inflight_take(int r, uint64_t id) {
  for (ereq **pp = &E.ranks[r].inflight; *pp; pp = &(*pp)->next) {
    if ((*pp)->id == id) {
      ereq *q = *pp;
      *pp = q->next;
      return q;
    }
  }
  return NULL;
}

static void on_message(int src, int tag, char *buf, int n) {
  pthread_mutex_lock(&E.mu);
  E.ranks[src].heard_ns = mpiw_now_ns();
  const mpiw_batch *h = (const mpiw_batch *)buf;
  if (tag == MPIW_RESULT && (size_t)n >= sizeof *h && h->magic == MPIW_MAGIC) {
    ereq *q = inflight_take(src, h->id);
    if (q) {
      if (q->proxy_left) {
        q->state = RQ_DONE;
        req_free(q);
      } else {
        q->reply = buf;
        q->reply_len = (size_t)n;
        buf = NULL;
        /* After the reply: a spinning proxy reads it once it sees this. */
        __atomic_store_n(&q->state, RQ_DONE, __ATOMIC_RELEASE);
        if (q->cv)
          pthread_cond_broadcast(q->cv);
      }
    }
  }
  pthread_mutex_unlock(&E.mu);
  free(buf);
}

/* Receives what has arrived; returns whether anything did. */
static bool receive(void) {
  bool any = false;
  for (int i = 0; i < 64; i++) {
    int flag = 0, n = 0;
    MPI_Status st;
    if (MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st) !=
            MPI_SUCCESS || !flag)
      break;
    MPI_Get_count(&st, MPI_BYTE, &n);
    char *buf = malloc(n > 0 ? (size_t)n : 1);
    if (!buf)
      break; /* retried on the next round */
    int src = st.MPI_SOURCE, tag = st.MPI_TAG;
    int rc = MPI_Recv(buf, n, MPI_BYTE, src, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS || src <= 0 || src >= mpiw_g.size) {
      free(buf);
      continue;
    }
    on_message(src, tag, buf, n);
    any = true;
  }
  return any;
}

/* Sends what the proxies and the backend queued. */
static bool send_outbox(ereq **sending) {
  pthread_mutex_lock(&E.mu);
  ereq *batch = E.out_head;
  E.out_head = NULL;
  E.out_tail = &E.out_head;
  pthread_mutex_unlock(&E.mu);
  bool any = batch != NULL;
  for (ereq *q = batch, *next; q; q = next) {
    next = q->next;
    bool chunk = q->tag == MPIW_CHUNK;
    pthread_mutex_lock(&E.mu);
    /* Control messages go to dead ranks too: one declared dead by mistake
     * (a long stall) must still hear END and STOP, and leave. */
    bool dead = chunk && (E.ranks[q->rank].dead || E.stop);
    if (q->proxy_left) {
      req_free(q);
      pthread_mutex_unlock(&E.mu);
      continue;
    }
    if (dead) { /* its proxy frees it */
      __atomic_store_n(&q->state, RQ_GONE, __ATOMIC_RELEASE);
      if (q->cv)
        pthread_cond_broadcast(q->cv);
      pthread_mutex_unlock(&E.mu);
      continue;
    }
    if (chunk) { /* in flight before the send: the reply may come at once */
      q->next = E.ranks[q->rank].inflight;
      E.ranks[q->rank].inflight = q;
    }
    q->send_pending = true;
    pthread_mutex_unlock(&E.mu);
    int rc = MPI_Isend(q->msg, (int)q->len, MPI_BYTE, q->rank, q->tag,
                       MPI_COMM_WORLD, &q->sreq);
    pthread_mutex_lock(&E.mu);
    if (rc != MPI_SUCCESS) {
      q->send_pending = false;
      int r = q->rank;
      if (!chunk)
        req_free(q);
      rank_dead(r, "a send to it failed"); /* fails the chunk */
    } else {
      q->snext = *sending;
      *sending = q;
    }
    pthread_mutex_unlock(&E.mu);
  }
  return any;
}

/* Completes sends; frees what nobody holds any more. A send to a rank
 * that died is dropped from the list without completing (MPI may still
 * read its buffer: it is leaked). */
static void test_sends(ereq **sending) {
  for (ereq **pp = sending; *pp;) {
    ereq *q = *pp;
    int flag = 0;
    pthread_mutex_lock(&E.mu);
    bool dead = E.ranks[q->rank].dead;
    pthread_mutex_unlock(&E.mu);
    if (!dead && MPI_Test(&q->sreq, &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
      pthread_mutex_lock(&E.mu);
      rank_dead(q->rank, "a send to it failed");
      pthread_mutex_unlock(&E.mu);
      dead = true;
    }
    if (!flag && !dead) {
      pp = &q->snext;
      continue;
    }
    *pp = q->snext;
    if (dead)
      continue;
    pthread_mutex_lock(&E.mu);
    q->send_pending = false;
    if (q->tag != MPIW_CHUNK || (q->proxy_left && q->state != RQ_NEW))
      req_free(q);
    pthread_mutex_unlock(&E.mu);
  }
}

static void beat(int64_t now) {
  static const int one = 1;
  pthread_mutex_lock(&E.mu);
  for (int r = 1; r < mpiw_g.size; r++) {
    erank *k = &E.ranks[r];
    if (!k->dead && now - k->heard_ns > mpiw_g.dead_ns) {
      char why[96];
      snprintf(why, sizeof why, "no word from it for %.1f s",
               (double)(now - k->heard_ns) / 1e9);
      rank_dead(r, why);
    }
  }
  pthread_mutex_unlock(&E.mu);
  /* Dead ranks too: one declared dead by mistake must not leave for want
   * of word from rank 0 (with mpirun's default, its exit would end the
   * job). It gets no more work. */
  for (int r = 1; r < mpiw_g.size; r++) {
    MPI_Request rq;
    if (MPI_Isend(&one, 1, MPI_INT, r, MPIW_BEAT, MPI_COMM_WORLD, &rq) == MPI_SUCCESS)
      MPI_Request_free(&rq); /* the buffer is constant: never waited for */
  }
}

static bool anything_inflight(void) {
  for (int r = 1; r < mpiw_g.size; r++)
    if (E.ranks[r].inflight)
      return true;
  return false;
}

static void *engine_main(void *arg) {
  (void)arg;
  ereq *sending = NULL;
  int64_t last_beat = 0, stop_at = 0, last_busy = 0;
  int idle = 0;
  for (;;) {
    bool busy = send_outbox(&sending);
    if (sending)
      test_sends(&sending);
    busy |= receive();
    int64_t now = mpiw_now_ns();
    if (now - last_beat >= MPIW_BEAT_NS) {
      beat(now);
      last_beat = now;
    }
    pthread_mutex_lock(&E.mu);
    bool stop = E.stop, inflight = anything_inflight();
    bool empty = !E.out_head;
    if (stop && !stop_at)
      stop_at = now;
    /* Stopping: once the STOPs are out (or after 2 s: a rank that does
     * not take them is beyond help). */
    if (stop && empty && (!sending || now - stop_at > 2000000000LL)) {
      pthread_mutex_unlock(&E.mu);
      break;
    }
    if (busy) {
      idle = 0;
      last_busy = now;
      pthread_mutex_unlock(&E.mu);
      continue;
    }
    /* Poll for SPIN_NS after the last activity (a program that just got
     * a result often submits the next at once: no wake-up then), then nap
     * in growing steps while something is in flight, else sleep until the
     * next beat (a proxy's submission wakes us). */
    if (now - last_busy < SPIN_NS) {
      pthread_mutex_unlock(&E.mu);
      sched_yield();
      continue;
    }
    int64_t nap = inflight || sending ? 50000LL << (idle < 4 ? idle : 4)
                                      : MPIW_BEAT_NS;
    idle++;
    if (nap > MPIW_BEAT_NS)
      nap = MPIW_BEAT_NS;
    if (empty && !stop) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      int64_t t = (int64_t)ts.tv_nsec + nap;
      ts.tv_sec += t / 1000000000LL;
      ts.tv_nsec = t % 1000000000LL;
      pthread_cond_timedwait(&E.cv, &E.mu, &ts);
    }
    pthread_mutex_unlock(&E.mu);
  }
  return NULL;
}

int mpiw_engine_start(void) {
  E.ranks = calloc((size_t)mpiw_g.size, sizeof *E.ranks);
  if (!E.ranks)
    return -ENOMEM;
  int64_t now = mpiw_now_ns();
  for (int r = 0; r < mpiw_g.size; r++)
    E.ranks[r].heard_ns = now;
  E.out_tail = &E.out_head;
  int rc = pthread_create(&E.thread, NULL, engine_main, NULL);
  if (rc)
    return -rc;
  E.started = true;
  return 0;
}

void mpiw_engine_stop(void) {
  if (!E.started)
    return;
  /* A rank is lost when it was declared dead and is not heard from again
   * within the dead timeout (one that was only stalled speaks again: wait
   * for that). After a loss the serving ranks must not wait in
   * MPI_Finalize for the dead one either. */
  int64_t until = mpiw_now_ns() + mpiw_g.dead_ns;
  for (;;) {
    bool lost = false;
    pthread_mutex_lock(&E.mu);
    for (int r = 1; r < mpiw_g.size; r++)
      lost |= E.ranks[r].dead && E.ranks[r].heard_ns <= E.ranks[r].dead_ns;
    E.lost = lost;
    pthread_mutex_unlock(&E.mu);
    if (!lost || mpiw_now_ns() >= until)
      break;
    struct timespec ts = {0, 10000000};
    nanosleep(&ts, NULL);
  }
  mpiw_stop stop = {MPIW_MAGIC, E.lost};
  for (int r = 1; r < mpiw_g.size; r++)
    send_control(r, MPIW_STOP, &stop, sizeof stop);
  pthread_mutex_lock(&E.mu);
  E.stop = true;
  /* Proxies still waiting (a pool not freed before finalize) end now. */
  for (int r = 1; r < mpiw_g.size; r++) {
    if (!E.ranks[r].dead)
      snprintf(E.ranks[r].why, sizeof E.ranks[r].why,
               "mp_mpi_finalize() ended the job");
    abandon(r);
  }
  pthread_cond_signal(&E.cv);
  pthread_mutex_unlock(&E.mu);
  pthread_join(E.thread, NULL);
  E.started = false;
}

bool mpiw_engine_lost_rank(void) { return E.lost; }
