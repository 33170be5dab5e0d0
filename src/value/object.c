/* object.c: the life of a Value or Array: creating it in a new shared block
 * (checking the element type and the size), its lock (a new RLock, the
 * caller's, or none), opening it from a handle (checking the shape in the
 * block's header against the block's size), copying it, wrapping it again
 * with a lock (sharedctypes.synchronized), and freeing it. */
#include <string.h>

#include "value_internal.h"

MP_EXPORT size_t mp_typecode_size(char code) { return mp__typecode_size(code); }

static void *fail(int code) {
  errno = -code;
  return NULL;
}

/* The element size of t: 0 for a bad type. A typecode with an explicit
 * size must agree with it. */
static size_t ctype_size(mp_ctype t) {
  if (!t.code)
    return t.size;
  size_t n = mp__typecode_size(t.code);
  return (t.size && t.size != n) ? 0 : n;
}

/* The wrapper and its block; no lock yet. */
static mp__sv *sv_alloc(uint32_t type, char code, size_t esize, size_t count) {
  size_t bytes;
  if (__builtin_mul_overflow(esize, count, &bytes) ||
      __builtin_add_overflow(bytes, sizeof(mp__sv_hdr), &bytes))
    return fail(-EOVERFLOW);
  mp__sv *sv = mp__calloc(1, sizeof *sv);
  if (!sv)
    return fail(-ENOMEM);
  int r = mp__shm_alloc(&sv->ref, bytes, type);
  if (r < 0) {
    mp__free(sv);
    return fail(r);
  }
  mp__sv_hdr *h = sv->ref.ptr;
  h->code = (uint8_t)code;
  h->esize = esize;
  h->count = count;
  __atomic_store_n(&h->magic, MP__SV_MAGIC, __ATOMIC_RELEASE);
  sv->data = (char *)sv->ref.ptr + sizeof *h;
  sv->esize = esize;
  sv->count = count;
  sv->code = code;
  sv->type = type;
  return sv;
}

/* Gives sv the lock opts asks for: 0 or a negative code. */
static int sv_set_lock(mp__sv *sv, const mp_value_opts *opts) {
  if (opts && opts->raw)
    return opts->lock ? -EINVAL : 0;
  if (opts && opts->lock) {
    sv->lock = opts->lock;
  } else {
    if (!(sv->lock = mp_rlock_new()))
      return -errno;
    sv->owns_lock = true;
  }
  sv->lock_shm = mp_lock_mem(sv->lock);
  return 0;
}

mp__sv *mp__sv_new(uint32_t type, mp_ctype t, size_t count, const void *init,
                   const mp_value_opts *opts) {
  size_t esize = ctype_size(t);
  if (!esize || (opts && opts->raw && opts->lock))
    return fail(-EINVAL);
  mp__sv *sv = sv_alloc(type, t.code, esize, count);
  if (!sv)
    return NULL;
  int r = sv_set_lock(sv, opts);
  if (r < 0) {
    mp__sv_free(sv);
    return fail(r);
  }
  if (init && count)
    memcpy(sv->data, init, esize * count);
  return sv;
}

mp__sv *mp__sv_copy(const mp__sv *sv) {
  if (!sv)
    return fail(-EINVAL);
  mp__sv *c = sv_alloc(sv->type, sv->code, sv->esize, sv->count);
  if (!c)
    return NULL;
  int r = mp__sv_read(sv, 0, sv->count, c->data);
  if (r < 0) {
    mp__sv_free(c);
    return fail(r);
  }
  return c;
}

/* A second wrapper (and shared reference) over sv's block, no lock. */
static mp__sv *sv_reopen(const mp_handle_part *part, uint32_t type) {
  mp__sv *sv = mp__calloc(1, sizeof *sv);
  if (!sv)
    return fail(-ENOMEM);
  int r = mp__shm_open(&sv->ref, part, type, sizeof(mp__sv_hdr));
  if (r < 0) {
    mp__free(sv);
    return fail(r);
  }
  /* Read the shape once, then trust only our copy. */
  const mp__sv_hdr *h = sv->ref.ptr;
  uint32_t magic = __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE);
  uint32_t code = h->code;
  uint64_t esize = h->esize, count = h->count, bytes;
  r = MP_EDECODE;
  if (magic != MP__SV_MAGIC || code > 127 || esize == 0 || esize > SIZE_MAX ||
      (code && esize != mp__typecode_size((char)code)) ||
      (type == MP_TYPE_VALUE && count != 1) ||
      __builtin_mul_overflow(esize, count, &bytes) ||
      bytes > sv->ref.size - sizeof *h) {
    mp__shm_release(&sv->ref);
    mp__free(sv);
    return fail(r);
  }
  sv->data = (char *)sv->ref.ptr + sizeof *h;
  sv->esize = (size_t)esize;
  sv->count = (size_t)count;
  sv->code = (char)code;
  sv->type = type;
  return sv;
}

mp__sv *mp__sv_synchronized(const mp__sv *sv, mp_lock *lock) {
  if (!sv)
    return fail(-EINVAL);
  mp_handle_part part;
  int r = mp__shm_part(&sv->ref, &part);
  if (r < 0)
    return fail(r);
  mp__sv *w = sv_reopen(&part, sv->type);
  if (!w)
    return NULL;
  r = sv_set_lock(w, &(mp_value_opts){.lock = lock});
  if (r < 0) {
    mp__sv_free(w);
    return fail(r);
  }
  return w;
}

int mp__sv_handle(const mp__sv *sv, mp_handle *h) {
  if (!sv || !h)
    return -EINVAL;
  memset(h, 0, sizeof *h);
  for (int i = 0; i < MP_HANDLE_MAX_PARTS; i++)
    h->parts[i].fd = -1;
  int r = mp__shm_part(&sv->ref, &h->parts[0]);
  if (r < 0)
    return r;
  h->type = sv->type;
  h->nparts = 1;
  if (sv->lock) {
    mp_handle lh;
    if ((r = mp_lock_handle(sv->lock, &lh)) < 0)
      return r;
    h->parts[1] = lh.parts[0];
    h->nparts = 2;
  }
  return 0;
}

mp__sv *mp__sv_open(const mp_handle *h, uint32_t type) {
  if (!h)
    return fail(-EINVAL);
  if (h->type != type || h->nparts < 1 || h->nparts > 2)
    return fail(mp__shm_wrong_type(h->type, type));
  mp__sv *sv = sv_reopen(&h->parts[0], type);
  if (!sv)
    return NULL;
  if (h->nparts == 2) {
    mp_handle lh = {.type = MP_TYPE_LOCK, .nparts = 1, .parts = {h->parts[1]}};
    if (!(sv->lock = mp_lock_open(&lh))) {
      int e = errno;
      mp__sv_free(sv);
      errno = e;
      return NULL;
    }
    sv->owns_lock = true;
    sv->lock_shm = mp_lock_mem(sv->lock);
  }
  return sv;
}

void mp__sv_free(mp__sv *sv) {
  if (!sv)
    return;
  if (sv->owns_lock)
    mp_lock_free(sv->lock);
  mp__shm_release(&sv->ref);
  mp__free(sv);
}
