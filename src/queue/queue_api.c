/* queue_api.c: making queues (Queue, SimpleQueue, JoinableQueue), handles
 * for processes that did not inherit them, and the calls around put and
 * get: sizes, close, and the feeder-thread calls that have nothing to do
 * here because there is no feeder thread. */
#include <string.h>

#include "queue_internal.h"
#include "shm/shm_internal.h"

static mp_queue *make(int kind, long maxsize) {
  if (maxsize > MP_QUEUE_MAXSIZE_MAX) {
    errno = -MP_EVALUE;
    return NULL;
  }
  mp__qparams p = {.kind = kind, .maxsize = maxsize > 0 ? maxsize : 0};
  return mp__queue_create(&p);
}

MP_EXPORT mp_queue *mp_queue_new(long maxsize) {
  return make(MP__Q_QUEUE, maxsize);
}

MP_EXPORT mp_queue *mp_simple_queue_new(void) { return make(MP__Q_SIMPLE, 0); }

MP_EXPORT mp_queue *mp_joinable_queue_new(long maxsize) {
  return make(MP__Q_JOINABLE, maxsize);
}

MP_EXPORT int mp_queue_handle(const mp_queue *q, mp_handle *h) {
  if (!q || !h)
    return -EINVAL;
  memset(h, 0, sizeof *h);
  h->type = MP_TYPE_QUEUE;
  h->nparts = 1;
  h->parts[0].fd = q->fd;
  h->parts[0].type = MP_TYPE_QUEUE;
  h->parts[0].offset = 0;
  h->parts[0].size = q->map_len;
  for (int i = 1; i < MP_HANDLE_MAX_PARTS; i++)
    h->parts[i].fd = -1;
  return 0;
}

MP_EXPORT mp_queue *mp_queue_open(const mp_handle *h) {
  if (!h) {
    errno = EINVAL;
    return NULL;
  }
  if (h->type != MP_TYPE_QUEUE || h->nparts != 1 ||
      h->parts[0].type != MP_TYPE_QUEUE || h->parts[0].offset != 0) {
    errno = -mp__shm_wrong_type(h->type, MP_TYPE_QUEUE);
    return NULL;
  }
  if (h->parts[0].fd < 0) {
    errno = EINVAL;
    return NULL;
  }
  mp_queue *q = mp__queue_attach(h->parts[0].fd);
  if (q && q->map_len != h->parts[0].size) {
    mp_queue_free(q);
    errno = -MP_EPROTO;
    return NULL;
  }
  return q;
}

MP_EXPORT size_t mp_queue_qsize(mp_queue *q) {
  if (!q)
    return 0;
  /* Got first: put only grows, so put - got never goes negative. */
  uint64_t got = __atomic_load_n(&q->h->cons.count, __ATOMIC_ACQUIRE);
  uint64_t put = __atomic_load_n(&q->h->prod.count, __ATOMIC_ACQUIRE);
  return (size_t)(put - got);
}

MP_EXPORT bool mp_queue_empty(mp_queue *q) {
  if (!q)
    return true;
  return __atomic_load_n(&q->h->prod.pos, __ATOMIC_ACQUIRE) ==
         __atomic_load_n(&q->h->cons.pos, __ATOMIC_ACQUIRE);
}

MP_EXPORT bool mp_queue_full(mp_queue *q) {
  if (!q || q->h->maxsize <= 0)
    return false;
  return mp_queue_qsize(q) >= (size_t)q->h->maxsize;
}

MP_EXPORT long mp_queue_maxsize(mp_queue *q) {
  return q ? (long)q->h->maxsize : 0;
}

MP_EXPORT int mp_queue_close(mp_queue *q) {
  if (!q)
    return -EINVAL;
  __atomic_store_n(&q->closed, 1, __ATOMIC_RELEASE);
  return 0;
}

MP_EXPORT int mp_queue_join_thread(mp_queue *q) {
  if (!q)
    return -EINVAL;
  return __atomic_load_n(&q->closed, __ATOMIC_ACQUIRE) ? 0 : MP_ESTATE;
}

MP_EXPORT int mp_queue_cancel_join_thread(mp_queue *q) {
  return q ? 0 : -EINVAL;
}
