/* context.c: contexts and the default start method (Python's
 * multiprocessing.context): get_context, set/get_start_method,
 * get_all_start_methods, set_executable, freeze_support, and the library's
 * constructors reached through a context.
 *
 * The default is a process-wide choice guarded by a mutex. As in Python,
 * using the default (asking for it, or creating a process without a method)
 * fixes it, so a later mp_set_start_method without force is refused: the
 * program would otherwise run children with two methods without meaning to. */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "context_internal.h"
#include "process/process_internal.h"

struct mp_context {
  const char *method;
};

static mp_context g_contexts[] = {
    {MP_START_FORK}, {MP_START_SPAWN}, {MP_START_FORKSERVER}, {MP_START_THREAD}};
static const char *const g_names[] = {MP_START_FORK, MP_START_SPAWN,
                                      MP_START_FORKSERVER, MP_START_THREAD, NULL};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *g_default; /* NULL: not set (nor used) yet */
static char *g_executable;    /* NULL: /proc/self/exe */

static mp_context *find(const char *method) {
  for (size_t i = 0; i < MP__ARRAY_SIZE(g_contexts); i++)
    if (strcmp(method, g_contexts[i].method) == 0)
      return &g_contexts[i];
  return NULL;
}

/* Pool-only methods a backend registered (src/pool/pool_backend.h): a
 * context for mp_context_pool_new, never a default or a process method. */
static mp_context g_added[4];
static unsigned g_nadded; /* published after the entry */

void mp__context_add(const char *method) {
  pthread_mutex_lock(&g_lock);
  if (g_nadded < MP__ARRAY_SIZE(g_added)) {
    g_added[g_nadded].method = method;
    __atomic_store_n(&g_nadded, g_nadded + 1, __ATOMIC_RELEASE);
  }
  pthread_mutex_unlock(&g_lock);
}

static mp_context *find_added(const char *method) {
  unsigned n = __atomic_load_n(&g_nadded, __ATOMIC_ACQUIRE);
  for (unsigned i = 0; i < n; i++)
    if (strcmp(method, g_added[i].method) == 0)
      return &g_added[i];
  return NULL;
}

const char *mp__start_method_default(void) {
  /* Fast path: once fixed it never changes except by a forced set. */
  const char *m = __atomic_load_n(&g_default, __ATOMIC_ACQUIRE);
  if (m)
    return m;
  pthread_mutex_lock(&g_lock);
  if (!g_default)
    __atomic_store_n(&g_default, MP_START_FORK, __ATOMIC_RELEASE);
  m = g_default;
  pthread_mutex_unlock(&g_lock);
  return m;
}

MP_EXPORT mp_context *mp_get_context(const char *method) {
  mp_context *c = find(method ? method : mp__start_method_default());
  if (!c && method)
    c = find_added(method);
  if (!c)
    errno = EINVAL;
  return c;
}

MP_EXPORT const char *mp_context_start_method(const mp_context *ctx) {
  return ctx ? ctx->method : "";
}

MP_EXPORT int mp_set_start_method(const char *method, bool force) {
  mp_context *c = NULL;
  if (method && !(c = find(method)))
    return -EINVAL;
  if (!method && !force)
    return -EINVAL;
  pthread_mutex_lock(&g_lock);
  int r = 0;
  if (g_default && !force)
    r = MP_ESTATE;
  else
    __atomic_store_n(&g_default, c ? c->method : NULL, __ATOMIC_RELEASE);
  pthread_mutex_unlock(&g_lock);
  return r;
}

MP_EXPORT const char *mp_get_start_method(bool allow_none) {
  if (allow_none)
    return __atomic_load_n(&g_default, __ATOMIC_ACQUIRE);
  return mp__start_method_default();
}

MP_EXPORT const char *const *mp_get_all_start_methods(size_t *n) {
  if (n)
    *n = MP__ARRAY_SIZE(g_names) - 1;
  return g_names;
}

MP_EXPORT int mp_set_executable(const char *path) {
  char *copy = NULL;
  if (path) {
    if (!*path)
      return -ENOENT;
    if (strlen(path) >= PATH_MAX)
      return -ENAMETOOLONG;
    if (access(path, F_OK) < 0 || access(path, X_OK) < 0)
      return -errno;
    if (!(copy = mp__strdup(path)))
      return -ENOMEM;
  }
  pthread_mutex_lock(&g_lock);
  char *old = g_executable;
  g_executable = copy;
  pthread_mutex_unlock(&g_lock);
  mp__free(old);
  return 0;
}

MP_EXPORT const char *mp_get_executable(void) {
  return g_executable ? g_executable : "/proc/self/exe";
}

MP_EXPORT void mp_freeze_support(void) {}

/* ---- constructors through a context ---------------------------------------- */

MP_EXPORT mp_process *mp_context_process_new(mp_context *ctx,
                                             mp_target_fn target,
                                             const void *arg, size_t len,
                                             const mp_process_opts *opts) {
  mp_process_opts o = MP_PROCESS_OPTS_INIT;
  if (opts)
    o = *opts;
  if (!ctx || (o.start_method && strcmp(o.start_method, ctx->method) != 0)) {
    errno = EINVAL;
    return NULL;
  }
  o.start_method = ctx->method;
  return mp_process_new(target, arg, len, &o);
}

#define CHECK_CTX(ctx)                                                         \
  do {                                                                         \
    if (!(ctx)) {                                                              \
      errno = EINVAL;                                                          \
      return NULL;                                                             \
    }                                                                          \
  } while (0)

MP_EXPORT mp_queue *mp_context_queue_new(mp_context *ctx, long maxsize) {
  CHECK_CTX(ctx);
  return mp_queue_new(maxsize);
}

MP_EXPORT mp_queue *mp_context_simple_queue_new(mp_context *ctx) {
  CHECK_CTX(ctx);
  return mp_simple_queue_new();
}

MP_EXPORT mp_queue *mp_context_joinable_queue_new(mp_context *ctx,
                                                  long maxsize) {
  CHECK_CTX(ctx);
  return mp_joinable_queue_new(maxsize);
}

MP_EXPORT mp_lock *mp_context_lock_new(mp_context *ctx) {
  CHECK_CTX(ctx);
  return mp_lock_new();
}

MP_EXPORT mp_lock *mp_context_rlock_new(mp_context *ctx) {
  CHECK_CTX(ctx);
  return mp_rlock_new();
}

MP_EXPORT mp_semaphore *mp_context_semaphore_new(mp_context *ctx, int value) {
  CHECK_CTX(ctx);
  return mp_semaphore_new(value);
}

MP_EXPORT mp_semaphore *mp_context_bounded_semaphore_new(mp_context *ctx,
                                                         int value) {
  CHECK_CTX(ctx);
  return mp_bounded_semaphore_new(value);
}

MP_EXPORT mp_event *mp_context_event_new(mp_context *ctx) {
  CHECK_CTX(ctx);
  return mp_event_new();
}

MP_EXPORT mp_condition *mp_context_condition_new(mp_context *ctx,
                                                 mp_lock *lock) {
  CHECK_CTX(ctx);
  return mp_condition_new(lock);
}

MP_EXPORT mp_barrier *mp_context_barrier_new(mp_context *ctx, int parties,
                                             mp_barrier_action action,
                                             void *arg, double timeout) {
  CHECK_CTX(ctx);
  return mp_barrier_new(parties, action, arg, timeout);
}

MP_EXPORT mp_value *mp_context_value_new(mp_context *ctx, mp_ctype t,
                                         const void *init,
                                         const mp_value_opts *opts) {
  CHECK_CTX(ctx);
  return mp_value_new(t, init, opts);
}

MP_EXPORT mp_value *mp_context_raw_value_new(mp_context *ctx, mp_ctype t,
                                             const void *init) {
  CHECK_CTX(ctx);
  return mp_raw_value_new(t, init);
}

MP_EXPORT mp_array *mp_context_array_new(mp_context *ctx, mp_ctype t,
                                         size_t len, const void *init,
                                         const mp_value_opts *opts) {
  CHECK_CTX(ctx);
  return mp_array_new(t, len, init, opts);
}

MP_EXPORT mp_array *mp_context_raw_array_new(mp_context *ctx, mp_ctype t,
                                             size_t len, const void *init) {
  CHECK_CTX(ctx);
  return mp_raw_array_new(t, len, init);
}

MP_EXPORT int mp_context_pipe(mp_context *ctx, bool duplex, mp_conn **c1,
                              mp_conn **c2) {
  if (!ctx)
    return -EINVAL;
  return mp_pipe(duplex, c1, c2);
}

void mp__executable_copy(char *buf, size_t n) {
  pthread_mutex_lock(&g_lock);
  snprintf(buf, n, "%s", g_executable ? g_executable : "/proc/self/exe");
  pthread_mutex_unlock(&g_lock);
}
