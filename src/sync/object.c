/* object.c: what every synchronization object's wrapper shares: creating
 * it over a new shared block, over caller memory or over a handle's block,
 * making its handle, and freeing it. */
#include <string.h>

#include "sync_internal.h"

static void *fail(void *w, int code) {
  mp__free(w);
  errno = -code;
  return NULL;
}

void *mp__sync_new(size_t wsize, size_t memsize, uint32_t type) {
  mp__sync_obj *o = mp__calloc(1, wsize);
  if (!o)
    return fail(NULL, -ENOMEM);
  int r = mp__shm_alloc(&o->ref, memsize, type);
  if (r < 0)
    return fail(o, r);
  o->mem = o->ref.ptr;
  return o;
}

void *mp__sync_wrap(size_t wsize, void *mem) {
  if (!mem || ((uintptr_t)mem & 7))
    return fail(NULL, -EINVAL);
  mp__sync_obj *o = mp__calloc(1, wsize);
  if (!o)
    return fail(NULL, -ENOMEM);
  o->mem = mem;
  return o;
}

void *mp__sync_open(size_t wsize, const mp_handle_part *part, uint32_t type, size_t memsize) {
  mp__sync_obj *o = mp__calloc(1, wsize);
  if (!o)
    return fail(NULL, -ENOMEM);
  int r = mp__shm_open(&o->ref, part, type, memsize);
  if (r < 0)
    return fail(o, r);
  o->mem = o->ref.ptr;
  return o;
}

void *mp__sync_open1(size_t wsize, const mp_handle *h, uint32_t type, size_t memsize) {
  if (!h)
    return fail(NULL, -EINVAL);
  if (h->type != type || h->nparts != 1)
    return fail(NULL, mp__shm_wrong_type(h->type, type));
  return mp__sync_open(wsize, &h->parts[0], type, memsize);
}

int mp__sync_part(const mp__sync_obj *o, mp_handle_part *part) {
  if (!o)
    return -EINVAL;
  if (!o->ref.seg)
    return MP_ENOTSUP;
  return mp__shm_part(&o->ref, part);
}

int mp__sync_handle(const mp__sync_obj *o, uint32_t type, mp_handle *h) {
  if (!h)
    return -EINVAL;
  memset(h, 0, sizeof *h);
  for (int i = 0; i < MP_HANDLE_MAX_PARTS; i++)
    h->parts[i].fd = -1;
  int r = mp__sync_part(o, &h->parts[0]);
  if (r < 0)
    return r;
  h->type = type;
  h->nparts = 1;
  return 0;
}

void mp__sync_free(void *wrapper) {
  mp__sync_obj *o = wrapper;
  if (!o)
    return;
  mp__shm_release(&o->ref);
  mp__free(o);
}
