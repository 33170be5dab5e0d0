/* pool.c: the pool object: creating it (shared control region, data arena,
 * eventfd, workers, result thread), turning calls into jobs (copying their
 * input into the arena and queueing them), publishing chunks into the task
 * ring, and close / terminate / join / free. The result thread
 * (collector.c) does the rest: results, deaths, time limits, callbacks. */
#include <math.h> /* isnan: a macro, no libm */
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pool_internal.h"

/* ---- Which process are we (cached: getpid is a system call) ------------ */

/* The pools this process created, so that exit() terminates them first:
 * Python's Pool does the same through a Finalize with an exit priority.
 * Without it the process area's exit hook would stop workers that the
 * result thread restarts. A forked child starts with an empty list. */
static pid_t g_pid;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t g_pools_mu = PTHREAD_MUTEX_INITIALIZER;
static mp_pool *g_pools;

static void after_fork_child(void) {
  __atomic_store_n(&g_pid, getpid(), __ATOMIC_RELAXED);
  pthread_mutex_init(&g_pools_mu, NULL);
  g_pools = NULL;
}

static void at_exit(void) {
  if (getpid() != __atomic_load_n(&g_pid, __ATOMIC_RELAXED))
    return; /* exit() inside a task, in a worker */
  pthread_mutex_lock(&g_pools_mu);
  for (mp_pool *p = g_pools; p; p = p->reg_next)
    mp_pool_terminate(p);
  pthread_mutex_unlock(&g_pools_mu);
}

static void once_init(void) {
  __atomic_store_n(&g_pid, getpid(), __ATOMIC_RELAXED);
  pthread_atfork(NULL, NULL, after_fork_child);
  atexit(at_exit);
}

pid_t pool__getpid(void) {
  pthread_once(&g_once, once_init);
  return __atomic_load_n(&g_pid, __ATOMIC_RELAXED);
}

static void registry_add(mp_pool *p) {
  pthread_mutex_lock(&g_pools_mu);
  p->reg_next = g_pools;
  g_pools = p;
  pthread_mutex_unlock(&g_pools_mu);
}

static void registry_remove(mp_pool *p) {
  pthread_mutex_lock(&g_pools_mu);
  for (mp_pool **pp = &g_pools; *pp; pp = &(*pp)->reg_next) {
    if (*pp == p) {
      *pp = p->reg_next;
      break;
    }
  }
  pthread_mutex_unlock(&g_pools_mu);
}

/* ---- Options ------------------------------------------------------------- */

static int check_opts(const mp_pool_opts *o) {
  for (size_t i = 0; i < MP__ARRAY_SIZE(o->reserved); i++)
    if (o->reserved[i])
      return -EINVAL;
  if (o->processes < 0 || o->processes > POOL__MAX_PROCS)
    return -EINVAL;
  if (isnan(o->task_timeout) || o->task_timeout < 0)
    return -EINVAL;
  if (o->initarg_len && !o->initarg)
    return -EINVAL;
  int m = pool__method(o, NULL, NULL);
  return m < 0 ? m : 0;
}

static int check_call_opts(const mp_call_opts *o) {
  if (!o)
    return 0;
  for (size_t i = 0; i < MP__ARRAY_SIZE(o->reserved); i++)
    if (o->reserved[i])
      return -EINVAL;
  return 0;
}

/* ---- Creation ------------------------------------------------------------- */

static int map_control(mp_pool *p) {
  size_t size = pool__ctl_size(p->nproc, p->exec_fns);
  p->ctl_fd = memfd_create("mproc-pool", MFD_CLOEXEC);
  if (p->ctl_fd < 0)
    return -errno;
  if (ftruncate(p->ctl_fd, (off_t)size) < 0)
    return -errno;
  void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, p->ctl_fd, 0);
  if (m == MAP_FAILED)
    return -errno;
  p->ctl = m;
  p->ctl_size = size;
  pool__ctl_layout(p, m);
  for (uint32_t i = 0; i < POOL__NCELLS; i++)
    p->shm->cells[i].state = POOL__STATE(i, POOL__TAG_FREE);
  return 0;
}

static void pool_release(mp_pool *p) {
  if (p->efd >= 0)
    mp__close(p->efd);
  if (p->ctl)
    munmap(p->ctl, p->ctl_size);
  if (p->ctl_fd >= 0)
    mp__close(p->ctl_fd);
  pool__arena_unref(p->arena);
  if (p->workers)
    for (int i = 0; i < p->nproc; i++)
      mp__free(p->workers[i].frag);
  mp__free(p->workers);
  mp__free(p->chunks);
  mp__free(p->fn_addr);
  mp__free(p->initarg_copy);
  pthread_mutex_destroy(&p->fn_mu);
  pthread_mutex_destroy(&p->mu);
  mp__free(p);
}

mp_pool *mp_pool_new(const mp_pool_opts *opts) {
  mp_pool_opts o = opts ? *opts : (mp_pool_opts)MP_POOL_OPTS_INIT;
  int rc = check_opts(&o);
  if (rc) {
    errno = -rc;
    return NULL;
  }
  mp_pool *p = mp__calloc(1, sizeof *p);
  if (!p)
    return NULL;
  p->owner = pool__getpid();
  p->method = pool__method(&o, &p->backend, &p->method_name);
  /* A backend's chunks leave this program: functions go as references. */
  p->exec_fns = p->method == POOL__M_SPAWN || p->method == POOL__M_FORKSERVER ||
                p->method == POOL__M_BACKEND;
  p->opts = o;
  p->nproc = o.processes ? o.processes : mp_cpu_count_usable();
  p->nworkers = p->nproc;
  if (o.task_timeout > 0 && o.task_timeout < 9e9 && !p->backend)
    p->timeout_ns = (int64_t)(o.task_timeout * 1e9) + 1;
  p->ctl_fd = -1;
  if (p->backend) { /* the backend decides the default size */
    p->nproc = o.processes;
    rc = p->backend->open(&o, &p->nproc, &p->bstate);
    int depth = p->backend->depth > 0 ? p->backend->depth : 1;
    if (!rc && (p->nproc <= 0 || p->nproc > POOL__MAX_PROCS / depth))
      rc = -EINVAL;
    p->nworkers = p->nproc;
    p->nproc *= depth; /* proxies: depth chunks in flight per worker */
    if (rc) {
      if (p->bstate)
        p->backend->close(p->bstate);
      mp__free(p);
      errno = -rc;
      return NULL;
    }
  }
  p->efd = -1;
  pthread_sigmask(SIG_SETMASK, NULL, &p->sigmask);
  pthread_mutex_init(&p->mu, NULL);
  pthread_mutex_init(&p->fn_mu, NULL);
  if (o.initarg_len) {
    if (!(p->initarg_copy = mp__memdup(o.initarg, o.initarg_len)))
      rc = -ENOMEM;
    p->opts.initarg = p->initarg_copy; /* fork and thread workers read it */
  }
  if (!rc && p->exec_fns &&
      !(p->fn_addr = mp__calloc(POOL__NFNS, sizeof *p->fn_addr)))
    rc = -ENOMEM;
  if (!rc)
    rc = map_control(p);
  if (!rc && !(p->arena = pool__arena_new()))
    rc = -errno;
  if (!rc) {
    p->abase = pool__arena_base(p->arena);
    p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (p->efd < 0)
      rc = -errno;
  }
  if (!rc && !(p->workers = mp__calloc((size_t)p->nproc, sizeof *p->workers)))
    rc = -ENOMEM;
  int started = 0;
  for (; !rc && started < p->nproc; started++) {
    p->workers[started].pidfd = -1;
    rc = pool__spawn(p, started);
  }
  if (!rc) {
    /* The thread takes no signals: the program's handlers run elsewhere. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = -pthread_create(&p->thread, NULL, pool__collector_main, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    p->thread_started = rc == 0;
  }
  if (rc) {
    if (p->workers) { /* thread workers stop on their own */
      POOL__STORE(&p->shm->stop, 1);
      POOL__STORE(&p->shm->shutdown, 2);
      __atomic_add_fetch(&p->shm->work, 1, __ATOMIC_SEQ_CST);
      mp__futex_wake(&p->shm->work, INT32_MAX);
    }
    if (p->workers)
      for (int i = 0; i < p->nproc; i++) {
        pool__kill(p, i);
        int sig, st;
        pool__reap(p, i, &sig, &st);
      }
    if (p->backend)
      p->backend->close(p->bstate);
    pool_release(p);
    errno = -rc;
    return NULL;
  }
  registry_add(p);
  return p;
}

int mp_pool_processes(const mp_pool *p) { return p ? p->nworkers : 0; }

/* ---- Jobs ------------------------------------------------------------------ */

int pool__check(mp_pool *p) {
  if (!p)
    return -EINVAL;
  if (pool__getpid() != p->owner)
    return MP_ENOTOWNER;
  return 0;
}

static void job_free(mp_result *j) {
  if (j->items) {
    for (size_t i = 0; i < j->n; i++) {
      if (j->items[i].data != j->items[i].small)
        mp__free(j->items[i].data);
      mp__free(j->items[i].err);
    }
    if (j->items != &j->one)
      mp__free(j->items);
  }
  mp__free(j->fails);
  mp__free(j->fifo);
  mp__free(j->err);
  if (j->arena) {
    pool__arena_free(j->arena, j->in_off, j->in_bytes);
    pool__arena_free(j->arena, j->out_off, j->out_bytes);
    pool__arena_unref(j->arena);
  }
  pool__job_release(j);
}

void pool__job_unref(mp_result *j) {
  if (j && __atomic_sub_fetch(&j->refs, 1, __ATOMIC_ACQ_REL) == 0)
    job_free(j);
}

static mp_result *job_new(mp_pool *p, int kind, mp_task_fn fn, size_t n,
                          const mp_call_opts *o) {
  uint64_t fnid;
  int rc = pool__fn_id(p, fn, &fnid);
  if (rc) {
    errno = -rc;
    return NULL;
  }
  mp_result *j = pool__job_alloc();
  if (!j)
    return NULL;
  j->pool = p;
  j->kind = kind;
  j->fn = fn;
  j->fnid = fnid;
  j->n = n;
  j->nleft = n;
  j->in_ready = n;
  j->in_off = j->out_off = POOL__NOOFF;
  j->err_index = (size_t)-1;
  if (o) {
    j->cb = o->callback;
    j->ecb = o->error_callback;
    j->ctx = o->ctx;
    j->progress = o->progress && kind != POOL__JOB_APPLY && isatty(2);
    j->chunksize = o->chunksize;
  }
  j->arena = p->arena;
  pool__arena_ref(p->arena);
  return j;
}

/* A map's input from this size on is copied after submission, a slice at
 * a time, each slice's chunks published as soon as it is in: the workers
 * start on the first while the rest is copied (and keep going if this
 * thread is descheduled). */
#define FEED_MIN ((size_t)1 << 20)
#define FEED_SLICE ((size_t)256 << 10)

/* Copies n elements of size bytes into a new arena block (later, by
 * feed_input, when defer). */
static int copy_in_fixed(mp_result *j, const void *in, size_t n, size_t size,
                         bool defer) {
  if (size && n > SIZE_MAX / size)
    return -ENOMEM;
  j->in_bytes = n * size;
  j->in_off = pool__arena_alloc(j->arena, j->in_bytes);
  if (j->in_off == POOL__NOOFF)
    return -ENOMEM;
  if (defer)
    j->in_ready = 0;
  else if (j->in_bytes)
    memcpy(pool__arena_base(j->arena) + j->in_off, in, j->in_bytes);
  j->in_kind = POOL__IN_FIXED;
  j->in_size = size;
  return 0;
}

/* A table of (offset, length) followed by the bytes, in one block. */
static int copy_in_iov(mp_result *j, const struct iovec *in, size_t n) {
  if (n > SIZE_MAX / 2 / sizeof(pool__iov))
    return -ENOMEM;
  size_t total = n * sizeof(pool__iov);
  for (size_t i = 0; i < n; i++) {
    if (!in[i].iov_base && in[i].iov_len)
      return -EINVAL;
    size_t add = (in[i].iov_len + 7) & ~(size_t)7;
    if (add < in[i].iov_len || total + add < total)
      return -ENOMEM;
    total += add;
  }
  j->in_bytes = total;
  j->in_off = pool__arena_alloc(j->arena, total);
  if (j->in_off == POOL__NOOFF)
    return -ENOMEM;
  char *base = pool__arena_base(j->arena);
  pool__iov *tab = (pool__iov *)(base + j->in_off);
  uint64_t at = j->in_off + n * sizeof(pool__iov);
  for (size_t i = 0; i < n; i++) {
    tab[i].off = at;
    tab[i].len = in[i].iov_len;
    if (in[i].iov_len)
      memcpy(base + at, in[i].iov_base, in[i].iov_len);
    at += (in[i].iov_len + 7) & ~(size_t)7;
  }
  j->in_kind = POOL__IN_IOV;
  return 0;
}

/* The deferred copy of a submitted job's input, in slices of whole chunks. */
static void feed_input(mp_pool *p, mp_result *j, const char *in) {
  size_t per = j->chunksize;
  size_t chunk_bytes = per * j->in_size;
  if (chunk_bytes < FEED_SLICE)
    per *= (FEED_SLICE + chunk_bytes - 1) / chunk_bytes;
  char *dst = pool__arena_base(j->arena) + j->in_off;
  for (size_t at = 0; at < j->n;) {
    size_t end = j->n - at > per ? at + per : j->n;
    memcpy(dst + at * j->in_size, in + at * j->in_size, (end - at) * j->in_size);
    pthread_mutex_lock(&p->mu);
    j->in_ready = end;
    pool__refill(p);
    pthread_mutex_unlock(&p->mu);
    at = end;
  }
}

static int alloc_items(mp_result *j) {
  if (j->n == 1 && j->kind == POOL__JOB_APPLY) {
    j->items = &j->one;
    return 0;
  }
  j->items = mp__calloc(j->n ? j->n : 1, sizeof *j->items);
  return j->items ? 0 : -ENOMEM;
}

/* Queues j and publishes what fits into the ring. On failure j is freed. */
static int submit(mp_pool *p, mp_result *j) {
  j->refs = 2; /* the caller's, and the pool's until it is ready */
  if (j->progress) { /* a clock read per task otherwise: apply_async's cost */
    j->t_start = mp_monotonic();
    pool__progress_start(j);
  }
  pthread_mutex_lock(&p->mu);
  if (p->state != POOL__RUN) {
    pthread_mutex_unlock(&p->mu);
    job_free(j);
    return MP_ECLOSED;
  }
  if (j->n == 0) { /* nothing to run: ready now, no callback (as Python) */
    pthread_mutex_unlock(&p->mu);
    j->refs = 1;
    j->state = POOL__ST_READY;
    return 0;
  }
  j->live_next = p->live;
  if (p->live)
    p->live->live_prev = j;
  p->live = j;
  p->live_bars += j->progress != 0;
  p->outstanding++;
  if (p->pend_tail)
    p->pend_tail->pend_next = j;
  else
    p->pend_head = j;
  p->pend_tail = j;
  pool__refill(p);
  bool broken = p->broken;
  pthread_mutex_unlock(&p->mu);
  if (broken) /* the result thread fails it */
    pool__wake_collector(p);
  return 0;
}

static int fail_new(mp_result *j, int rc) {
  if (j)
    job_free(j);
  errno = -rc;
  return rc;
}

mp_result *mp_pool_apply_async(mp_pool *p, mp_task_fn fn, const void *arg,
                               size_t len, const mp_call_opts *opts) {
  int rc = pool__check(p);
  if (!rc && (!fn || (!arg && len)))
    rc = -EINVAL;
  if (!rc)
    rc = check_call_opts(opts);
  if (rc)
    return fail_new(NULL, rc), NULL;
  mp_result *j = job_new(p, POOL__JOB_APPLY, fn, 1, opts);
  if (!j)
    return NULL;
  j->out_kind = POOL__OUT_RECORD;
  j->chunksize = 1;
  if (len <= POOL__INLINE) {
    j->in_kind = POOL__IN_INLINE;
    j->in_size = len;
    if (len)
      memcpy(j->inl, arg, len);
  } else {
    rc = copy_in_fixed(j, arg, 1, len, false);
  }
  if (!rc)
    rc = alloc_items(j);
  if (!rc)
    rc = submit(p, j);
  else
    job_free(j);
  if (rc) {
    errno = -rc;
    return NULL;
  }
  return j;
}

static size_t default_chunksize(const mp_pool *p, size_t n) {
  size_t per = 4 * (size_t)p->nworkers;
  return n / per + (n % per ? 1 : 0);
}

static mp_result *map_job(mp_pool *p, int kind, mp_task_fn fn, const void *in,
                          const struct iovec *iov, size_t n, size_t in_size,
                          void *out, size_t out_size, const mp_call_opts *opts,
                          bool unordered) {
  int rc = pool__check(p);
  if (!rc && (!fn || (!in && !iov && n) || (!iov && in_size == 0 && n)))
    rc = -EINVAL;
  if (!rc)
    rc = check_call_opts(opts);
  if (rc)
    return fail_new(NULL, rc), NULL;
  mp_result *j = job_new(p, kind, fn, n, opts);
  if (!j)
    return NULL;
  if (kind == POOL__JOB_IMAP)
    j->cb = j->ecb = NULL;
  if (!j->chunksize)
    j->chunksize = kind == POOL__JOB_IMAP ? 1 : default_chunksize(p, n);
  bool defer = !iov && in_size && n > 1 && n * in_size >= FEED_MIN &&
               n <= SIZE_MAX / in_size;
  rc = iov ? copy_in_iov(j, iov, n) : copy_in_fixed(j, in, n, in_size, defer);
  if (!rc && kind == POOL__JOB_MAP) {
    j->out_kind = POOL__OUT_FIXED;
    j->out_size = out_size;
    j->user_out = out;
    if (out_size && n > SIZE_MAX / out_size)
      rc = -ENOMEM;
    if (!rc) {
      j->out_bytes = n * out_size;
      j->out_off = pool__arena_alloc(j->arena, j->out_bytes);
      if (j->out_off == POOL__NOOFF)
        rc = -ENOMEM;
    }
  } else if (!rc) {
    j->out_kind = POOL__OUT_RECORD;
    rc = alloc_items(j);
  }
  if (!rc && unordered) {
    j->unordered = true;
    if (!(j->fifo = mp__calloc(n ? n : 1, sizeof *j->fifo)))
      rc = -ENOMEM;
  }
  if (!rc)
    rc = submit(p, j);
  else
    job_free(j);
  if (rc) {
    errno = -rc;
    return NULL;
  }
  if (j->in_ready < j->n)
    feed_input(p, j, in);
  return j;
}

static const struct iovec no_iov;

mp_result *mp_pool_map_async(mp_pool *p, mp_task_fn fn, const void *in,
                             size_t n, size_t in_size, void *out,
                             size_t out_size, const mp_call_opts *opts) {
  return map_job(p, POOL__JOB_MAP, fn, in, NULL, n, in_size, out, out_size,
                 opts, false);
}

mp_result *mp_pool_map_bytes_async(mp_pool *p, mp_task_fn fn,
                                   const struct iovec *in, size_t n,
                                   const mp_call_opts *opts) {
  if (!in && n) {
    errno = EINVAL;
    return NULL;
  }
  return map_job(p, POOL__JOB_MAPB, fn, NULL, in ? in : &no_iov, n, 0, NULL, 0,
                 opts, false);
}

mp_result *mp_pool_starmap_async(mp_pool *p, mp_task_fn fn, const void *args,
                                 size_t n, size_t args_size, void *out,
                                 size_t out_size, const mp_call_opts *opts) {
  return mp_pool_map_async(p, fn, args, n, args_size, out, out_size, opts);
}

static mp_imap *imap_new(mp_pool *p, mp_task_fn fn, const void *in,
                         const struct iovec *iov, size_t n, size_t in_size,
                         bool unordered, const mp_call_opts *opts) {
  if (!in && !iov && n) {
    errno = EINVAL;
    return NULL;
  }
  mp_imap *it = mp__calloc(1, sizeof *it);
  if (!it)
    return NULL;
  if (!in && !iov)
    iov = &no_iov;
  it->job = map_job(p, POOL__JOB_IMAP, fn, in, iov, n, in_size, NULL, 0, opts,
                    unordered);
  if (!it->job) {
    int e = errno;
    mp__free(it);
    errno = e;
    return NULL;
  }
  return it;
}

mp_imap *mp_pool_imap(mp_pool *p, mp_task_fn fn, const void *in, size_t n,
                      size_t in_size, const mp_call_opts *opts) {
  return imap_new(p, fn, in, NULL, n, in_size, false, opts);
}
mp_imap *mp_pool_imap_unordered(mp_pool *p, mp_task_fn fn, const void *in,
                                size_t n, size_t in_size,
                                const mp_call_opts *opts) {
  return imap_new(p, fn, in, NULL, n, in_size, true, opts);
}
mp_imap *mp_pool_imap_bytes(mp_pool *p, mp_task_fn fn, const struct iovec *in,
                            size_t n, const mp_call_opts *opts) {
  if (!in && n) {
    errno = EINVAL;
    return NULL;
  }
  return imap_new(p, fn, NULL, in ? in : &no_iov, n, 0, false, opts);
}
mp_imap *mp_pool_imap_unordered_bytes(mp_pool *p, mp_task_fn fn,
                                      const struct iovec *in, size_t n,
                                      const mp_call_opts *opts) {
  if (!in && n) {
    errno = EINVAL;
    return NULL;
  }
  return imap_new(p, fn, NULL, in ? in : &no_iov, n, 0, true, opts);
}

/* ---- Blocking forms ------------------------------------------------------------ */

static void copy_err(mp_error *err, mp_result *r, int rc) {
  if (!err)
    return;
  const mp_error *e = mp_result_error(r);
  if (e)
    *err = *e;
  else
    mp_error_set(err, rc, 0, -1, "%s", mp_strerror(rc));
}

int mp_pool_apply(mp_pool *p, mp_task_fn fn, const void *arg, size_t len,
                  void **out, size_t *outlen, mp_error *err) {
  if (out)
    *out = NULL;
  if (outlen)
    *outlen = 0;
  mp_result *r = mp_pool_apply_async(p, fn, arg, len, NULL);
  if (!r) {
    int rc = mp_errno_code(errno);
    mp_error_set(err, rc, 0, -1, "%s", mp_strerror(rc));
    return rc;
  }
  const void *data;
  size_t n;
  int rc = mp_result_get(r, MP_FOREVER, &data, &n);
  if (rc == 0 && out) {
    /* The result owns its bytes: hand them over rather than copy. */
    if (r->one.data == r->one.small) {
      if (!(*out = mp__malloc(n ? n : 1)))
        rc = -ENOMEM;
      else
        memcpy(*out, r->one.small, n);
    } else {
      *out = r->one.data;
      r->one.data = NULL;
      if (!*out && !(*out = mp__malloc(1)))
        rc = -ENOMEM;
    }
  }
  if (rc == 0 && outlen)
    *outlen = n;
  if (rc)
    copy_err(err, r, rc);
  mp_result_free(r);
  return rc;
}

int mp_pool_map(mp_pool *p, mp_task_fn fn, const void *in, size_t n,
                size_t in_size, void *out, size_t out_size,
                const mp_call_opts *opts, mp_error *err) {
  if (!out && out_size && n) {
    mp_error_set(err, -EINVAL, 0, -1, "out is NULL");
    return -EINVAL;
  }
  mp_result *r = mp_pool_map_async(p, fn, in, n, in_size, out, out_size, opts);
  if (!r) {
    int rc = mp_errno_code(errno);
    mp_error_set(err, rc, 0, -1, "%s", mp_strerror(rc));
    return rc;
  }
  int rc = mp_result_get(r, MP_FOREVER, NULL, NULL);
  if (rc)
    copy_err(err, r, rc);
  mp_result_free(r);
  return rc;
}

int mp_pool_starmap(mp_pool *p, mp_task_fn fn, const void *args, size_t n,
                    size_t args_size, void *out, size_t out_size,
                    const mp_call_opts *opts, mp_error *err) {
  return mp_pool_map(p, fn, args, n, args_size, out, out_size, opts, err);
}

/* ---- Stopping ------------------------------------------------------------------- */

int mp_pool_close(mp_pool *p) {
  int rc = pool__check(p);
  if (rc)
    return rc;
  pthread_mutex_lock(&p->mu);
  if (p->state == POOL__RUN)
    p->state = POOL__CLOSE;
  pthread_mutex_unlock(&p->mu);
  pool__wake_collector(p);
  return 0;
}

static int wait_thread(mp_pool *p, const mp__deadline *dl) {
  while (!POOL__LOAD(&p->thread_done)) {
    if (mp__futex_wait(&p->thread_done, 0, dl) == MP_ETIMEOUT &&
        !POOL__LOAD(&p->thread_done))
      return MP_ETIMEOUT;
  }
  pthread_mutex_lock(&p->mu);
  bool join = p->thread_started && !p->joined;
  p->joined = true;
  pthread_mutex_unlock(&p->mu);
  if (join)
    pthread_join(p->thread, NULL);
  return 0;
}

int mp_pool_terminate(mp_pool *p) {
  int rc = pool__check(p);
  if (rc)
    return rc;
  pthread_mutex_lock(&p->mu);
  p->state = POOL__TERMINATE;
  pthread_mutex_unlock(&p->mu);
  pool__wake_collector(p);
  /* From a callback (the result thread itself) we cannot wait for it. */
  if (p->thread_started && pthread_equal(pthread_self(), p->thread))
    return 0;
  return wait_thread(p, &(mp__deadline){INT64_MAX});
}

int mp_pool_join(mp_pool *p, double timeout) {
  int rc = pool__check(p);
  if (rc)
    return rc;
  mp__deadline dl;
  if (mp__deadline_init(&dl, timeout))
    return -EINVAL;
  pthread_mutex_lock(&p->mu);
  int st = p->state;
  pthread_mutex_unlock(&p->mu);
  if (st == POOL__RUN)
    return MP_ESTATE;
  if (p->thread_started && pthread_equal(pthread_self(), p->thread))
    return MP_ESTATE;
  return wait_thread(p, &dl);
}

void mp_pool_free(mp_pool *p) {
  if (!p)
    return;
  if (pool__getpid() != p->owner) {
    /* A forked child's copy: let go of the mappings only. */
    munmap(p->ctl, p->ctl_size);
    return;
  }
  mp_pool_terminate(p);
  if (p->thread_started && pthread_equal(pthread_self(), p->thread))
    return; /* from a callback: cannot free the thread running us */
  wait_thread(p, &(mp__deadline){INT64_MAX});
  while (POOL__LOAD(&pool__g_helping)) /* waiters still helping (help.c) */
    sched_yield();
  registry_remove(p);
  pool_release(p);
}
