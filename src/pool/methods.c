/* methods.c: the pool on every start method. Which method a pool uses and
 * what each can honour; the control region's layout (shared with spawned
 * workers, which compute it from the same numbers); the function table that
 * lets a spawn or forkserver worker, running another image of the program,
 * find a task function by (module, build-id, offset) instead of an address
 * that means nothing there; and the spawned worker's start: it maps the
 * control region and the arena from passed descriptors, rebuilds a view of
 * the pool, and runs the same worker loop as a forked worker. Also the
 * registry of pool backends (pool_backend.h: a method name such as "mpi"
 * that a library such as libmproc_mpi registers) and mp_context_pool_new. */
#include <math.h>
#include <string.h>
#include <sys/mman.h>

#include "pool_internal.h"

static const char *const g_names[] = {
    [POOL__M_FORK] = MP_START_FORK,
    [POOL__M_SPAWN] = MP_START_SPAWN,
    [POOL__M_FORKSERVER] = MP_START_FORKSERVER,
    [POOL__M_THREAD] = MP_START_THREAD,
};

const char *pool__method_name(int method) { return g_names[method]; }

/* ---- Backends (pool_backend.h) ------------------------------------------------ */

#define MAX_BACKENDS 4
static struct {
  const char *name;
  const mp__pool_backend *ops;
} g_backends[MAX_BACKENDS];
static unsigned g_nbackends; /* published after the entry */
static pthread_mutex_t g_backends_mu = PTHREAD_MUTEX_INITIALIZER;

static const mp__pool_backend *backend_find(const char *name) {
  unsigned n = POOL__LOAD(&g_nbackends);
  for (unsigned i = 0; i < n; i++)
    if (strcmp(name, g_backends[i].name) == 0)
      return g_backends[i].ops;
  return NULL;
}

MP_EXPORT int mp__pool_backend_register(const char *name,
                                        const mp__pool_backend *ops,
                                        const mp__pool_core **core) {
  if (!name || !ops || !ops->open || !ops->run || !ops->stop || !ops->close)
    return -EINVAL;
  for (int i = 0; i < (int)MP__ARRAY_SIZE(g_names); i++)
    if (strcmp(name, g_names[i]) == 0)
      return -EINVAL;
  int rc = 0;
  pthread_mutex_lock(&g_backends_mu);
  if (backend_find(name))
    rc = -EEXIST;
  else if (g_nbackends == MAX_BACKENDS)
    rc = -ENOSPC;
  else {
    g_backends[g_nbackends].name = name;
    g_backends[g_nbackends].ops = ops;
    POOL__STORE(&g_nbackends, g_nbackends + 1);
    mp__context_add(name); /* mp_get_context(name) finds it now */
  }
  pthread_mutex_unlock(&g_backends_mu);
  if (!rc && core)
    *core = &pool__core;
  return rc;
}

int pool__method(const mp_pool_opts *o, const mp__pool_backend **be,
                 const char **method_name) {
  const char *name = o->start_method;
  if (!name) /* the default method, without fixing it (see pool.h) */
    name = mp_get_start_method(true);
  if (!name)
    name = MP_START_FORK;
  int m = -1;
  for (int i = 0; i < (int)MP__ARRAY_SIZE(g_names); i++)
    if (strcmp(name, g_names[i]) == 0)
      m = i;
  if (m < 0) {
    const mp__pool_backend *ops = backend_find(name);
    if (!ops)
      return -EINVAL;
    if (be)
      *be = ops;
    if (method_name)
      *method_name = name;
    /* Initializer, time limits and memory limits apply on the remote end;
     * a bare pointer as initarg means nothing there. */
    return o->initarg && !o->initarg_len ? -EINVAL : POOL__M_BACKEND;
  }
  if (method_name)
    *method_name = g_names[m];
  bool limit = o->task_timeout > 0 && !isinf(o->task_timeout);
  if (m == POOL__M_THREAD && (limit || o->max_memory_per_child))
    return MP_ENOTSUP;
  if ((m == POOL__M_SPAWN || m == POOL__M_FORKSERVER) && o->initarg &&
      !o->initarg_len)
    return -EINVAL; /* a pointer does not survive exec */
  return m;
}

/* ---- The control region ---------------------------------------------------- */

size_t pool__ctl_size(int nproc, bool exec_fns) {
  return sizeof(pool__shm) + (size_t)nproc * sizeof(pool__slot) +
         (size_t)nproc * POOL__RING_CAP + (exec_fns ? sizeof(pool__fntab) : 0);
}

void pool__ctl_layout(mp_pool *p, void *m) {
  p->shm = m;
  p->slots = (pool__slot *)((char *)m + sizeof(pool__shm));
  p->rings = (char *)(p->slots + p->nproc);
  p->fntab = p->exec_fns
                 ? (pool__fntab *)(p->rings + (size_t)p->nproc * POOL__RING_CAP)
                 : NULL;
}

/* ---- Task functions across exec ----------------------------------------------- */

int pool__fn_id(mp_pool *p, mp_task_fn fn, uint64_t *id) {
  uintptr_t a = (uintptr_t)fn;
  if (!p->exec_fns) {
    *id = a;
    return 0;
  }
  uint32_t n = POOL__LOAD(&p->nfns);
  for (uint32_t i = 0; i < n; i++) {
    if (p->fn_addr[i] == a) {
      *id = i;
      return 0;
    }
  }
  pthread_mutex_lock(&p->fn_mu);
  int rc = 0;
  uint32_t i = n;
  n = p->nfns;
  while (i < n && p->fn_addr[i] != a) /* added since we looked */
    i++;
  if (i == n) {
    mp__fnref ref;
    if (n == POOL__NFNS)
      rc = -E2BIG;
    else if ((rc = mp__fnref_make((const void *)a, &ref)) == 0) {
      p->fntab->refs[n] = ref;
      p->fn_addr[n] = a;
      /* The entry before the count: a worker reads the count (acquire)
       * only after a cell naming the entry, published later still. */
      POOL__STORE(&p->fntab->n, n + 1);
      POOL__STORE(&p->nfns, n + 1);
    }
  }
  pthread_mutex_unlock(&p->fn_mu);
  *id = i;
  return rc;
}

mp_task_fn pool__fn_resolve(mp_pool *p, uint64_t id, void ***cache) {
  if (!p->exec_fns)
    return (mp_task_fn)(uintptr_t)id;
  if (id >= POOL__NFNS || id >= POOL__LOAD(&p->fntab->n))
    return NULL; /* garbage in shared memory */
  if (!*cache && !(*cache = mp__calloc(POOL__NFNS, sizeof **cache)))
    return NULL;
  void *fn = (*cache)[id];
  if (!fn) {
    mp__fnref ref = p->fntab->refs[id]; /* our own copy, then believe it */
    if (mp__fnref_resolve(&ref, &fn) != 0)
      return NULL;
    (*cache)[id] = fn;
  }
  return (mp_task_fn)fn;
}

/* ---- Spawned workers ----------------------------------------------------------- */

#define BOOT_MAGIC 0x6d70706fu /* "mppo" */

/* The argument bytes of a spawned worker; initarg_len bytes follow. */
typedef struct exec_boot {
  uint32_t magic;
  int32_t w, nproc, method;
  uint64_t ctl_size, arena_reserve;
  int64_t timeout_ns;
  uint64_t maxtasks, max_memory, initarg_len;
  uint32_t has_init;
  mp__fnref init;
  sigset_t sigmask;
} exec_boot;

/* The descriptors a spawned worker inherits, in this order. */
enum { FD_CTL = 0, FD_ARENA, FD_EVENT, NFDS };

static void setup_failed(pool__slot *s, int code) {
  s->init_status = code;
  POOL__STORE(&s->state, POOL__W_SETUP_FAILED);
}

static int exec_worker_target(void *arg, size_t len) {
  exec_boot b;
  if (len < sizeof b)
    return 70;
  memcpy(&b, arg, sizeof b);
  if (b.magic != BOOT_MAGIC || b.nproc <= 0 || b.nproc > POOL__MAX_PROCS ||
      b.w < 0 || b.w >= b.nproc || b.initarg_len != len - sizeof b ||
      b.ctl_size != pool__ctl_size(b.nproc, true))
    return 70;
  int fds[NFDS];
  for (int i = 0; i < NFDS; i++)
    if ((fds[i] = mp_inherited_fd((size_t)i)) < 0)
      return 70;
  mp_pool *v = mp__calloc(1, sizeof *v);
  if (!v)
    return 71;
  v->nproc = b.nproc;
  v->method = b.method;
  v->exec_fns = true;
  v->in_worker = true;
  v->ctl_size = b.ctl_size;
  v->ctl = mmap(NULL, b.ctl_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                fds[FD_CTL], 0);
  if (v->ctl == MAP_FAILED) {
    mp__free(v);
    return 71;
  }
  pool__ctl_layout(v, v->ctl);
  pool__slot *s = &v->slots[b.w];
  int rc = 1;
  /* The whole reserve, as the parent maps it: the file grows under it as
   * the parent allocates, and offsets stay valid. */
  void *a = mmap(NULL, b.arena_reserve, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_NORESERVE, fds[FD_ARENA], 0);
  void *init = NULL;
  if (a == MAP_FAILED) {
    setup_failed(s, -ENOMEM);
    a = NULL;
  } else if (b.has_init && mp__fnref_resolve(&b.init, &init) != 0) {
    setup_failed(s, MP_ESTALE);
  } else {
    v->abase = a;
    v->efd = fds[FD_EVENT];
    v->timeout_ns = b.timeout_ns;
    v->sigmask = b.sigmask;
    v->opts.maxtasksperchild = b.maxtasks;
    v->opts.max_memory_per_child = b.max_memory;
    v->opts.initializer = (int (*)(void *))init;
    v->opts.initarg = b.initarg_len ? (char *)arg + sizeof b : NULL;
    rc = pool__worker_main(v, b.w);
  }
  if (a)
    munmap(a, b.arena_reserve);
  munmap(v->ctl, v->ctl_size);
  mp__free(v);
  return rc;
}

mp_process *pool__exec_process(mp_pool *p, int w, const mp_process_opts *po) {
  const mp_pool_opts *o = &p->opts;
  size_t ilen = o->initarg_len;
  size_t len = sizeof(exec_boot) + ilen;
  exec_boot *b = mp__calloc(1, len);
  if (!b)
    return NULL;
  *b = (exec_boot){
      .magic = BOOT_MAGIC, .w = w, .nproc = p->nproc, .method = p->method,
      .ctl_size = p->ctl_size, .arena_reserve = pool__arena_reserve(p->arena),
      .timeout_ns = p->timeout_ns, .maxtasks = o->maxtasksperchild,
      .max_memory = o->max_memory_per_child, .initarg_len = ilen,
      .sigmask = p->sigmask};
  if (o->initializer) {
    b->has_init = 1;
    if (mp__fnref_make((const void *)(uintptr_t)o->initializer, &b->init)) {
      mp__free(b);
      errno = EINVAL;
      return NULL;
    }
  }
  if (ilen)
    memcpy(b + 1, p->initarg_copy, ilen);
  mp_process *proc = mp_process_new(exec_worker_target, b, len, po);
  mp__free(b);
  if (!proc)
    return NULL;
  int fds[NFDS] = {p->ctl_fd, pool__arena_fd(p->arena), p->efd};
  for (int i = 0; i < NFDS; i++) {
    int r = mp_process_pass_fd(proc, fds[i]);
    if (r != i) {
      mp_process_free(proc);
      errno = r < 0 ? -r : EPROTO;
      return NULL;
    }
  }
  return proc;
}

/* ---- Contexts -------------------------------------------------------------------- */

MP_EXPORT mp_pool *mp_context_pool_new(mp_context *ctx,
                                       const mp_pool_opts *opts) {
  if (!ctx) {
    errno = EINVAL;
    return NULL;
  }
  mp_pool_opts o = opts ? *opts : (mp_pool_opts)MP_POOL_OPTS_INIT;
  const char *m = mp_context_start_method(ctx);
  if (o.start_method && strcmp(o.start_method, m) != 0) {
    errno = EINVAL;
    return NULL;
  }
  o.start_method = m;
  return mp_pool_new(&o);
}
