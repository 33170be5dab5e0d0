/* pool_backend.h: the seam between the pool's core and a backend that runs
 * chunks somewhere else than in a local worker process (the MPI library:
 * src/mpi/). Not a public header: a backend library is built from this
 * source tree and registers itself through the one exported private entry
 * point below.
 *
 * A pool whose start method names a registered backend keeps everything of
 * the core (rings, chunks, ordering, callbacks, imap, progress, requeue):
 * its "workers" are proxy threads of this process. A proxy claims a chunk
 * from the ring like any worker and, instead of calling the function, hands
 * the backend a chunk view (mp__pool_chunk); the backend ships it away and
 * posts back one result or error per item through the core's services
 * (mp__pool_core). The backend never sees ring internals. */
#ifndef MPROC_POOL_BACKEND_H
#define MPROC_POOL_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "context/context_internal.h"
#include "mproc/errors.h"
#include "mproc/pool.h"

/* One claimed chunk of items first .. first + count - 1, as a backend sees
 * it. Valid during the backend's run() only. */
typedef struct mp__pool_chunk {
  mp__fnref fn;     /* the task function, as spawn references it */
  uint64_t token;   /* unique among the pool's chunks in flight */
  size_t first, count;
  size_t in_size;   /* > 0: every input is in_size bytes, contiguous from
                     * item 0's; 0: sizes vary (read each with input()) */
  size_t out_size;  /* > 0: a fixed-size map; results go into output(k) */
  void *impl;       /* the core's */
} mp__pool_chunk;

/* The core's services to a backend (thread-safe for distinct chunks). */
typedef struct mp__pool_core {
  /* Item k's argument bytes (k < count). */
  const void *(*input)(const mp__pool_chunk *c, size_t k, size_t *len);
  /* Item k's fixed-size output element (out_size bytes; the chunk's
   * elements are contiguous from item 0's), or NULL when the chunk's
   * results are records. */
  void *(*output)(const mp__pool_chunk *c, size_t k);
  /* Record results: item k succeeded with these bytes. Items are posted in
   * order k = 0, 1, ...: each item exactly once, by result or error. */
  void (*post_result)(const mp__pool_chunk *c, size_t k, const void *data,
                      size_t len);
  /* Item k failed with e (its code, signo, status and message are kept). */
  void (*post_error)(const mp__pool_chunk *c, size_t k, const mp_error *e);
  /* Fixed-size map: items [0, done) have their outputs written. */
  void (*set_progress)(const mp__pool_chunk *c, size_t done);
  /* Function references (context/fnref.c). */
  int (*fnref_make)(const void *fn, mp__fnref *ref);
  int (*fnref_resolve)(const mp__fnref *ref, void **fn);
  /* Records the calling thread's last error (mp_last_error); returns code. */
  int (*error_record)(int code, const char *fmt, ...)
      __attribute__((format(printf, 2, 3)));
} mp__pool_core;

/* What run() returns when the slot's remote end is gone for good: every
 * item of the chunk has been posted (failed), and the slot is not to be
 * restarted. */
#define MP__POOL_SLOT_GONE 1

typedef struct mp__pool_backend {
  /* At mp_pool_new: checks the options and decides the number of workers
   * (*nproc holds opts->processes, maybe 0 for the default). Returns 0 with
   * *state set, or a negative code (MP_ENOTSUP with mp_last_error() saying
   * why). The pool then has *nproc * depth proxies, w = 0 .. : proxy w
   * serves worker w % *nproc. */
  int (*open)(const mp_pool_opts *o, int *nproc, void **state);
  /* On proxy thread w: runs the n chunks c[0..n) (one, or several small
   * ones gathered for one trip) and posts each item. Returns 0 or
   * MP__POOL_SLOT_GONE (then every item of every chunk was posted). */
  int (*run)(void *state, int w, mp__pool_chunk *c, size_t n);
  /* terminate: slot w's run() should return soon (its unposted items are
   * dropped by the core). Any thread. */
  void (*stop)(void *state, int w);
  /* The pool is finished (no proxy is left); state is released. */
  void (*close)(void *state);
  const char *worker_prefix; /* proxy names: "<prefix>-N" */
  int depth;                 /* chunks in flight per worker (proxies per
                              * worker); 0 means 1 */
} mp__pool_backend;

/* Registers ops under the start method name (a string that lives as long
 * as the process; at most 4 backends) and gives the backend the core's
 * services. Returns 0, -EINVAL (a built-in name, NULL), -EEXIST, -ENOSPC. */
MP_EXPORT int mp__pool_backend_register(const char *name,
                                        const mp__pool_backend *ops,
                                        const mp__pool_core **core);

#endif
