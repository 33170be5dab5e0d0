/* mproc/value.h: shared values and arrays, the reference's 17.2.2.6
 * (multiprocessing.Value, Array) and 17.2.2.6.1 (multiprocessing.
 * sharedctypes: RawValue, RawArray, copy, synchronized).
 *
 * A value is one element, an array `len` elements, in shared memory: a
 * child started after the object was created (mp_process_start, fork)
 * sees and changes the same memory; any other process opens it from a
 * handle (mp_value_handle / mp_value_open, see mproc/shm.h).
 *
 * Element types. Python's typecodes, with their C types on Linux:
 *   'c' char (a byte)   'b' signed char   'B' unsigned char
 *   'h' short           'H' unsigned short
 *   'i' int             'I' unsigned int
 *   'l' long            'L' unsigned long
 *   'q' long long       'Q' unsigned long long
 *   'f' float           'd' double
 * or any fixed-size C type, e.g. a struct (ctypes' Structure analogue):
 * MP_CTYPE('d'), MP_CTYPE_OF(struct point). Anything else is -EINVAL.
 * ('u', ctypes' c_wchar, is not supported.)
 *
 * Locks. A "synchronized" object (mp_value_new / mp_array_new, Python's
 * Value / Array with lock=True) carries a lock: by default a new RLock,
 * or the Lock/RLock given in the options (borrowed: it must outlive the
 * object; several objects may share one). A "raw" object (mp_raw_value_new
 * / mp_raw_array_new, or opts.raw) has none. The accessors below take the
 * lock around each single read or write, as Python's synchronized wrapper
 * does for `.value` and `a[i]`. A read-modify-write needs the lock around
 * the whole: with the default RLock,
 *     mp_lock_acquire(mp_value_get_lock(v), MP_FOREVER);
 *     mp_value_get_int(v, &x); mp_value_set_int(v, x + 1);
 *     mp_lock_release(mp_value_get_lock(v));
 * (With a non-recursive Lock the accessors would wait for the lock the
 * caller holds, as in Python: then work on mp_value_get_obj() directly.)
 * The lock is an ordinary mp_lock: robust. A process killed while holding
 * it makes the next acquire return MP_EOWNERDEAD (mproc/sync.h). An
 * accessor that meets that returns MP_EOWNERDEAD without reading or
 * writing, and leaves the lock held by the caller: check or repair the
 * data, call mp_lock_consistent(), release the lock, and go on.
 *
 * Errors: -EINVAL (a NULL object, a bad type), MP_ETYPE (an accessor that
 * does not fit the element type), MP_EINDEX (an index out of range),
 * -ERANGE (a number the element type cannot hold: ctypes truncates
 * silently, we refuse), -EOVERFLOW (len x element size overflows, or is
 * more than the shared memory layer can map: 2^46 bytes), -ENOMEM or
 * another -errno from creating shared memory. Constructors return NULL
 * with errno set to the positive errno or the negated library code
 * (mp_errno_code(errno) gives the code).
 *
 * Ownership: every object is a wrapper private to this process over
 * shared memory; mp_value_free / mp_array_free frees the wrapper (and the
 * lock, if the object created or opened it) and drops this process's
 * reference: the memory goes when the last process lets go. _free(NULL)
 * does nothing. Threads: every function may be called from several
 * threads at once; raw objects give no atomicity beyond that of the CPU. */
#ifndef MPROC_VALUE_H
#define MPROC_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "shm.h"
#include "sync.h"

MP_EXTERN_C_BEGIN

/* An element type: a typecode (size 0: the typecode's own), or code 0 and
 * the size of any C type. */
typedef struct mp_ctype {
  char code;
  size_t size;
} mp_ctype;
/* Compound literals in C; aggregate temporaries in C++ (which has none). */
#ifdef __cplusplus
#define MP_CTYPE(code) (mp_ctype{(code), 0})
#define MP_CTYPE_OF(T) (mp_ctype{0, sizeof(T)})
#else
#define MP_CTYPE(code) ((mp_ctype){(code), 0})
#define MP_CTYPE_OF(T) ((mp_ctype){0, sizeof(T)})
#endif

/* Options for the synchronized constructors; all-zero (or NULL) is
 * Python's default, lock=True: a new RLock. */
typedef struct mp_value_opts {
  mp_lock *lock; /* this Lock or RLock (borrowed) instead of a new RLock */
  bool raw;      /* no lock at all (Python's lock=False); lock must be NULL */
  void *reserved[4];
} mp_value_opts;

/* The size in bytes of a typecode's element, or 0 for an unknown one. */
MP_EXPORT size_t mp_typecode_size(char code);

/* ---- Value and RawValue -------------------------------------------------- */
typedef struct mp_value mp_value;

/* A new value of type t in shared memory, a copy of the element at init
 * (t's C type), or zeros when init is NULL. opts: see above. */
MP_EXPORT mp_value *mp_value_new(mp_ctype t, const void *init, const mp_value_opts *opts);
/* The same without a lock (Python's RawValue). */
MP_EXPORT mp_value *mp_raw_value_new(mp_ctype t, const void *init);

/* The lock (borrowed; NULL for a raw value). */
MP_EXPORT mp_lock *mp_value_get_lock(const mp_value *v);
/* The shared element itself (Python's get_obj(); valid while v is open in
 * this process; 16-byte aligned). Touching it takes no lock. */
MP_EXPORT void *mp_value_get_obj(const mp_value *v);
/* The typecode (0 for a type given by size) and the element's size. */
MP_EXPORT char mp_value_typecode(const mp_value *v);
MP_EXPORT size_t mp_value_size(const mp_value *v);

/* Typed access (`.value`), under the lock. get_int: any integer type and
 * 'c' (a byte 0..255); get_uint: the same, MP_EVALUE for a negative value;
 * get_double: any typecode. set_int / set_uint: any typecode, -ERANGE when
 * the number does not fit; set_double: 'f' and 'd' only (ctypes refuses a
 * float for an integer type). Others: MP_ETYPE. */
MP_EXPORT int mp_value_get_int(const mp_value *v, int64_t *out);
MP_EXPORT int mp_value_get_uint(const mp_value *v, uint64_t *out);
MP_EXPORT int mp_value_get_double(const mp_value *v, double *out);
MP_EXPORT int mp_value_set_int(mp_value *v, int64_t x);
MP_EXPORT int mp_value_set_uint(mp_value *v, uint64_t x);
MP_EXPORT int mp_value_set_double(mp_value *v, double x);
/* The element's bytes (mp_value_size of them), for any type, under the
 * lock: reads into out / writes from in. */
MP_EXPORT int mp_value_read(const mp_value *v, void *out);
MP_EXPORT int mp_value_write(mp_value *v, const void *in);

/* sharedctypes.copy(): a new RawValue holding a copy (taken under v's
 * lock, if any). NULL with errno set. */
MP_EXPORT mp_value *mp_value_copy(const mp_value *v);
/* sharedctypes.synchronized(): a new wrapper over the same shared element
 * with `lock` (borrowed), or a new RLock when lock is NULL. v stays valid
 * and is freed on its own. NULL with errno set. */
MP_EXPORT mp_value *mp_value_synchronized(const mp_value *v, mp_lock *lock);

/* Handle (descriptors borrowed, see mproc/shm.h): one part (the element),
 * or two (the element, then its lock) for a synchronized value. */
MP_EXPORT int mp_value_handle(const mp_value *v, mp_handle *h);
/* Opens a value from a handle (and its lock, owned by the new wrapper).
 * NULL with errno: -MP_ETYPE (not a value), -MP_EDECODE / EINVAL (not a
 * valid handle), -MP_ESTATE (freed by every process), ENOMEM. */
MP_EXPORT mp_value *mp_value_open(const mp_handle *h);
MP_EXPORT void mp_value_free(mp_value *v);

/* ---- Array and RawArray --------------------------------------------------- */
typedef struct mp_array mp_array;

/* A new array of len elements of type t (len may be 0), copied from the
 * len elements at init, or zeros when init is NULL (Python's
 * size_or_initializer). */
MP_EXPORT mp_array *mp_array_new(mp_ctype t, size_t len, const void *init,
                                 const mp_value_opts *opts);
MP_EXPORT mp_array *mp_raw_array_new(mp_ctype t, size_t len, const void *init);

/* get_lock(): the lock that guards the array (borrowed: lives as long as
 * the array); NULL for a RawArray or one made with lock = false. */
MP_EXPORT mp_lock *mp_array_get_lock(const mp_array *a);
/* The first element (get_obj(); the elements follow, contiguous). */
MP_EXPORT void *mp_array_get_obj(const mp_array *a);
MP_EXPORT char mp_array_typecode(const mp_array *a);
/* One element's size, and the number of elements (len(a)). */
MP_EXPORT size_t mp_array_elem_size(const mp_array *a);
MP_EXPORT size_t mp_array_len(const mp_array *a);

/* Element access (`a[i]`), under the lock. i counts from the end when
 * negative, as in Python; out of range: MP_EINDEX. Types as for values. */
MP_EXPORT int mp_array_get_int(const mp_array *a, ptrdiff_t i, int64_t *out);
MP_EXPORT int mp_array_get_uint(const mp_array *a, ptrdiff_t i, uint64_t *out);
MP_EXPORT int mp_array_get_double(const mp_array *a, ptrdiff_t i, double *out);
MP_EXPORT int mp_array_set_int(mp_array *a, ptrdiff_t i, int64_t x);
MP_EXPORT int mp_array_set_uint(mp_array *a, ptrdiff_t i, uint64_t x);
MP_EXPORT int mp_array_set_double(mp_array *a, ptrdiff_t i, double x);
/* Element i's bytes, any type. */
MP_EXPORT int mp_array_get(const mp_array *a, ptrdiff_t i, void *out);
MP_EXPORT int mp_array_set(mp_array *a, ptrdiff_t i, const void *in);
/* n elements from index start (a[start:start+n]), under the lock once:
 * MP_EINDEX unless start + n <= len. */
MP_EXPORT int mp_array_read(const mp_array *a, size_t start, size_t n, void *out);
MP_EXPORT int mp_array_write(mp_array *a, size_t start, size_t n, const void *in);

/* Arrays of 'c' (c_char) only, else MP_ETYPE; under the lock.
 * value: the bytes up to the first NUL (all of them if none). Copies them
 * and a terminating NUL into buf; *len gets their number. MP_ETOOSHORT
 * when cap < *len + 1 (nothing copied). len may be NULL.
 * set_value: copies len bytes, then a NUL if there is room (ctypes' rule);
 * MP_EVALUE when len > mp_array_len (Python's "byte string too long").
 * raw / set_raw: all mp_array_len bytes / up to that many bytes, no NUL
 * added. */
MP_EXPORT int mp_array_value(const mp_array *a, char *buf, size_t cap, size_t *len);
MP_EXPORT int mp_array_set_value(mp_array *a, const void *s, size_t len);
MP_EXPORT int mp_array_raw(const mp_array *a, void *buf, size_t cap, size_t *len);
MP_EXPORT int mp_array_set_raw(mp_array *a, const void *p, size_t len);

/* As for values: a RawArray copy; a synchronized wrapper over the same
 * elements; handles (parts: the elements, then the lock). */
MP_EXPORT mp_array *mp_array_copy(const mp_array *a);
MP_EXPORT mp_array *mp_array_synchronized(const mp_array *a, mp_lock *lock);
MP_EXPORT int mp_array_handle(const mp_array *a, mp_handle *h);
MP_EXPORT mp_array *mp_array_open(const mp_handle *h);
MP_EXPORT void mp_array_free(mp_array *a);

MP_EXTERN_C_END

#endif
