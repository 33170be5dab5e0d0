/* mproc/shared_memory.h: named shared memory for unrelated processes,
 * Python's multiprocessing.shared_memory.SharedMemory: a POSIX shared
 * memory object (shm_open, under /dev/shm on Linux) that any process
 * knowing its name can attach to.
 *
 *   creator:  mp_shared_memory *m = mp_shared_memory_create(NULL, 4096);
 *             ... tell the others mp_shared_memory_name(m) ...
 *   others:   mp_shared_memory *m = mp_shared_memory_attach(name);
 *             use mp_shared_memory_buf(m), mp_shared_memory_size(m) bytes;
 *   all:      mp_shared_memory_free(m);      (Python's close())
 *   one:      mp_shared_memory_unlink(m);    once nobody needs the name
 *
 * Explicit lifetime. The name lives until someone calls unlink (or the
 * machine reboots); the memory until the name is unlinked and every
 * process has let go. Nothing unlinks a segment on its own: unlike
 * CPython's resource tracker (gh-82300), no process's exit removes a
 * segment that others still use. The price is Python's own rule made
 * strict: one process must call unlink, or the segment stays in /dev/shm
 * after everyone has ended. (For memory that must vanish with its
 * processes, use mp_raw_array_new and handles: mproc/value.h.)
 *
 * Names: as Python's, without the leading slash (one given is dropped):
 * 1..254 bytes, no '/', not "." or "..". A generated name is "psm_"
 * followed by 8 random hex digits, as Python's. The segment is created
 * with mode 0600 (only this user), as Python does.
 *
 * Every function may be called from several threads; closing or freeing
 * an object while another thread still uses its buf is the caller's
 * error. Descriptors are CLOEXEC, and closed once the memory is mapped. */
#ifndef MPROC_SHARED_MEMORY_H
#define MPROC_SHARED_MEMORY_H

#include <stddef.h>

#include "errors.h"

MP_EXTERN_C_BEGIN

typedef struct mp_shared_memory mp_shared_memory;

/* Creates a new segment of size bytes (zeroed) named name, or with a
 * generated name when name is NULL, and maps it. NULL with errno: EEXIST
 * (the name is taken), EINVAL (a bad name or size 0), EOVERFLOW (size over
 * INT64_MAX), ENAMETOOLONG, ENOMEM,
 * or another errno from shm_open, ftruncate, mmap. A segment this call
 * created is unlinked again if a later step fails. */
MP_EXPORT mp_shared_memory *mp_shared_memory_create(const char *name, size_t size);

/* Attaches to the existing segment named name, mapping all of it. NULL
 * with errno: ENOENT (no such segment), EINVAL, ENAMETOOLONG, EACCES, or
 * -MP_EVALUE (the segment is empty: Python's ValueError). */
MP_EXPORT mp_shared_memory *mp_shared_memory_attach(const char *name);

/* The name (without a leading slash; borrowed, lives as long as m). */
MP_EXPORT const char *mp_shared_memory_name(const mp_shared_memory *m);
/* The size in bytes. */
MP_EXPORT size_t mp_shared_memory_size(const mp_shared_memory *m);
/* The mapped memory, or NULL after close. */
MP_EXPORT void *mp_shared_memory_buf(const mp_shared_memory *m);

/* Python's close(): unmaps the memory in this process (buf becomes NULL).
 * The segment and its name stay. A second call does nothing. Returns 0 or
 * -EINVAL for NULL. */
MP_EXPORT int mp_shared_memory_close(mp_shared_memory *m);

/* Python's unlink(): removes the name, so no one can attach any more; the
 * memory stays mapped wherever it is and goes when the last process lets
 * go. Call it once, in one process. Returns 0, -ENOENT (already unlinked),
 * or another -errno. Works after close too. */
MP_EXPORT int mp_shared_memory_unlink(mp_shared_memory *m);

/* Closes (never unlinks) and frees the object. NULL does nothing. */
MP_EXPORT void mp_shared_memory_free(mp_shared_memory *m);

MP_EXTERN_C_END

#endif
