/* value_internal.h: what Value and Array share. Both are one shared block:
 * a 32-byte header (typecode, element size, count: so a process that opens
 * a handle knows the shape) followed by the elements, 16-byte aligned. The
 * lock, if any, is an mp_lock in a block of its own; the private wrapper
 * (mp__sv) holds this process's reference, a copy of the shape it checked
 * once, and the lock's wrapper. mp_value and mp_array are this wrapper
 * under two names. */
#ifndef MPROC_VALUE_INTERNAL_H
#define MPROC_VALUE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h> /* runtime_internal.h uses ssize_t */

#include "mproc/value.h"
#include "runtime/runtime_internal.h"
#include "shm/shm_internal.h"
#include "sync/sync_internal.h"

#define MP__SV_MAGIC 0x6c61566du /* "mVal" */

typedef struct mp__sv_hdr {
  uint32_t magic;
  uint32_t code;  /* the typecode, or 0 for a type given by size */
  uint64_t esize; /* one element's size */
  uint64_t count; /* elements (1 for a value) */
  uint64_t pad;   /* the elements start 16-byte aligned */
} mp__sv_hdr;
_Static_assert(sizeof(mp__sv_hdr) == 32, "elements must stay 16-byte aligned");

typedef struct mp__sv {
  mp__shm_ref ref;
  char *data;      /* the first element */
  size_t esize, count;
  char code;
  uint32_t type;   /* MP_TYPE_VALUE or MP_TYPE_ARRAY */
  mp_lock *lock;   /* NULL: raw */
  mp__lock_shm *lock_shm; /* the lock's shared state */
  bool owns_lock;
} mp__sv;

struct mp_value {
  mp__sv s;
};
struct mp_array {
  mp__sv s;
};

/* The size of a typecode's element, 0 for an unknown one. */
static inline size_t mp__typecode_size(char code) {
  switch (code) {
  case 'c': case 'b': case 'B': return 1;
  case 'h': case 'H': return sizeof(short);
  case 'i': case 'I': return sizeof(int);
  case 'l': case 'L': return sizeof(long);
  case 'q': case 'Q': return sizeof(long long);
  case 'f': return sizeof(float);
  case 'd': return sizeof(double);
  default: return 0;
  }
}

/* ---- object.c -------------------------------------------------------------- */

/* A new object of count elements of type t (init: count elements, or NULL
 * for zeros). opts NULL: a new RLock; raw: no lock. NULL with errno set. */
mp__sv *mp__sv_new(uint32_t type, mp_ctype t, size_t count, const void *init,
                   const mp_value_opts *opts);
/* A raw copy of sv's elements, taken under its lock. */
mp__sv *mp__sv_copy(const mp__sv *sv);
/* A new wrapper over sv's elements with lock (borrowed), or a new RLock. */
mp__sv *mp__sv_synchronized(const mp__sv *sv, mp_lock *lock);
int mp__sv_handle(const mp__sv *sv, mp_handle *h);
mp__sv *mp__sv_open(const mp_handle *h, uint32_t type);
void mp__sv_free(mp__sv *sv);

/* Takes sv's lock: 0 (taken), 1 (nothing to take: a raw object, or an
 * RLock this thread holds already), or a negative code, the lock held only
 * for MP_EOWNERDEAD (the caller's to repair). Skipping the inner level of
 * an RLock changes nothing (acquire + release at depth > 1 is a no-op) and
 * keeps `with v.get_lock(): v.value += 1` from writing the contended lock
 * line four more times per increment. A Lock is not skipped: "held by
 * this process" may mean another thread of it. */
static inline int mp__sv_enter(const mp__sv *sv) {
  if (!sv->lock)
    return 1;
  if (sv->lock_shm->kind && mp__lock_shm_mine(sv->lock_shm))
    return 1;
  return mp_lock_acquire(sv->lock, MP_FOREVER);
}
/* Undoes mp__sv_enter's result e (>= 0). */
static inline void mp__sv_leave(const mp__sv *sv, int e) {
  if (e == 0)
    (void)mp_lock_release(sv->lock);
}

/* ---- access.c ---------------------------------------------------------------- */

/* Element i (negative: from the end) as a pointer, or NULL (MP_EINDEX). */
static inline char *mp__sv_elem(const mp__sv *sv, ptrdiff_t i) {
  if (i < 0)
    i += (ptrdiff_t)sv->count;
  if (i < 0 || (size_t)i >= sv->count)
    return NULL;
  return sv->data + (size_t)i * sv->esize;
}

enum { MP__SV_INT, MP__SV_UINT, MP__SV_DOUBLE };

/* Reads / writes element i through the lock, converting from / to the
 * kind's C type (int64_t, uint64_t, double) with the rules in value.h. */
int mp__sv_get_num(const mp__sv *sv, ptrdiff_t i, int kind, void *out);
int mp__sv_set_num(mp__sv *sv, ptrdiff_t i, int kind, const void *in);
/* Copies n elements from start out / in, under the lock. */
int mp__sv_read(const mp__sv *sv, size_t start, size_t n, void *out);
int mp__sv_write(mp__sv *sv, size_t start, size_t n, const void *in);

#endif
