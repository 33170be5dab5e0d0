/* pass.c: shared objects passed explicitly to a child, the C form of
 * Python's "pass resources to child processes as arguments". The parent
 * lists handles and descriptors on the process object before start (each
 * descriptor duplicated at once, so the caller may free its object); each
 * start method delivers them its own way (fork and thread: the child sees
 * the parent's list; spawn and forkserver: sent with SCM_RIGHTS in the
 * bootstrap); the child reads them back by index from its own object. */
#include <fcntl.h>
#include <string.h>

#include "context_internal.h"
#include "process/process_internal.h"

size_t mp__passed_nfds(const mp__passed *l) {
  size_t n = 0;
  for (size_t i = 0; l && i < l->n; i++)
    n += l->items[i].is_fd ? 1 : l->items[i].h.nparts;
  return n;
}

void mp__passed_free(mp__passed *l) {
  if (!l)
    return;
  for (size_t i = 0; i < l->n; i++)
    for (uint32_t k = 0; k < l->items[i].h.nparts; k++)
      mp__close(l->items[i].h.parts[k].fd);
  mp__free(l);
}

/* Appends item (its descriptors not yet duplicated) under the lock. */
static int add(mp_process *p, const mp__passed_item *item) {
  uint32_t nfds = item->is_fd ? 1 : item->h.nparts;
  for (uint32_t k = 0; k < nfds; k++)
    if (item->h.parts[k].fd < 0 || fcntl(item->h.parts[k].fd, F_GETFD) < 0)
      return -EINVAL;
  mp__proc_lock();
  int r = 0;
  if (p->kind != MP__PROC_CHILD || p->state != MP__ST_INITIAL || p->closed ||
      !mp__proc_is_ours(p))
    r = MP_ESTATE;
  else if (!p->passed && !(p->passed = mp__calloc(1, sizeof *p->passed)))
    r = -ENOMEM;
  else if (p->passed->n == MP__PASS_MAX ||
           mp__passed_nfds(p->passed) + nfds > MP__PASS_FDS)
    r = -E2BIG;
  if (r == 0) {
    mp__passed_item *dst = &p->passed->items[p->passed->n];
    *dst = *item;
    uint32_t k = 0;
    for (; k < nfds; k++) {
      int fd = mp__dup_cloexec(item->h.parts[k].fd);
      if (fd < 0) {
        r = fd;
        break;
      }
      dst->h.parts[k].fd = fd;
    }
    if (r == 0) {
      dst->h.nparts = nfds;
      r = (int)p->passed->n++;
    } else {
      while (k--)
        mp__close(dst->h.parts[k].fd);
    }
  }
  mp__proc_unlock();
  return r;
}

MP_EXPORT int mp_process_pass_handle(mp_process *p, const mp_handle *h) {
  if (!p || !h || h->nparts < 1 || h->nparts > MP_HANDLE_MAX_PARTS)
    return -EINVAL;
  mp__passed_item item = {.is_fd = false, .h = *h};
  return add(p, &item);
}

MP_EXPORT int mp_process_pass_fd(mp_process *p, int fd) {
  if (!p)
    return -EINVAL;
  mp__passed_item item = {.is_fd = true};
  item.h.nparts = 1;
  item.h.parts[0].fd = fd;
  return add(p, &item);
}

static const mp__passed_item *get(size_t i) {
  const mp__passed *l = mp_current_process()->passed;
  return l && i < l->n ? &l->items[i] : NULL;
}

MP_EXPORT size_t mp_inherited_count(void) {
  const mp__passed *l = mp_current_process()->passed;
  return l ? l->n : 0;
}

MP_EXPORT int mp_inherited_handle(size_t i, mp_handle *h) {
  if (!h)
    return -EINVAL;
  const mp__passed_item *it = get(i);
  if (!it)
    return MP_EINDEX;
  if (it->is_fd)
    return MP_ETYPE;
  *h = it->h;
  return 0;
}

MP_EXPORT int mp_inherited_fd(size_t i) {
  const mp__passed_item *it = get(i);
  if (!it)
    return MP_EINDEX;
  return it->is_fd ? it->h.parts[0].fd : MP_ETYPE;
}

/* ---- one call per side: mp_process_pass / mp_inherited (context.h) ------ */

/* The handle kinds: the parent passes obj's handle; the child opens it. */
#define PASS_BY_HANDLE(k, open_expr)                                           \
  MP_EXPORT int mp_process_pass_##k(mp_process *p, const mp_##k *obj) {        \
    mp_handle h;                                                               \
    int rc = obj ? mp_##k##_handle(obj, &h) : -EINVAL;                         \
    return rc < 0 ? rc : mp_process_pass_handle(p, &h);                        \
  }                                                                            \
  MP_EXPORT int mp_inherited_##k(size_t i, mp_##k **out) {                     \
    mp_handle h;                                                               \
    int rc = out ? mp_inherited_handle(i, &h) : -EINVAL;                       \
    if (rc < 0)                                                                \
      return rc;                                                               \
    *out = open_expr;                                                          \
    return *out ? 0 : mp_errno_code(errno);                                    \
  }
PASS_BY_HANDLE(lock, mp_lock_open(&h))
PASS_BY_HANDLE(semaphore, mp_semaphore_open(&h))
PASS_BY_HANDLE(event, mp_event_open(&h))
PASS_BY_HANDLE(condition, mp_condition_open(&h))
PASS_BY_HANDLE(barrier, mp_barrier_open(&h, NULL, NULL))
PASS_BY_HANDLE(queue, mp_queue_open(&h))
PASS_BY_HANDLE(value, mp_value_open(&h))
PASS_BY_HANDLE(array, mp_array_open(&h))

/* A connection crosses as its descriptor; the child's end reads and writes
 * as the descriptor allows (a pipe end one way, a socket both). */
MP_EXPORT int mp_process_pass_conn(mp_process *p, const mp_conn *obj) {
  int fd = obj ? mp_conn_fileno(obj) : -EINVAL;
  return fd < 0 ? fd : mp_process_pass_fd(p, fd);
}

MP_EXPORT int mp_inherited_conn(size_t i, mp_conn **out) {
  if (!out)
    return -EINVAL;
  int fd = mp_inherited_fd(i);
  if (fd < 0)
    return fd;
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0)
    return -errno;
  int own = mp__dup_cloexec(fd); /* the passed one stays the library's */
  if (own < 0)
    return own;
  int mode = fl & O_ACCMODE;
  *out = mp_conn_from_fd(own, mode != O_WRONLY, mode != O_RDONLY);
  return *out ? 0 : mp_errno_code(errno);
}
