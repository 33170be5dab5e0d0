/* mproc/pool.h: the process pool, Python's multiprocessing.pool.Pool and
 * AsyncResult (the reference's 17.2.1.6 and 17.2.2.9), and a pool that never
 * hangs: a worker that dies fails only the task it was running, and a task
 * may have a time limit.
 *
 * A task is a function of argument bytes that produces result bytes:
 *
 *   static int square(const void *arg, size_t len, mp_task_out *out) {
 *     int x = *(const int *)arg;
 *     int y = x * x;
 *     return mp_task_out_set(out, &y, sizeof y);
 *   }
 *
 *   mp_pool *pool = mp_pool_new(&(mp_pool_opts){.processes = 4});
 *   int in[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, out[10];
 *   mp_pool_map(pool, square, in, 10, sizeof(int), out, sizeof(int), NULL, NULL);
 *   mp_pool_close(pool);
 *   mp_pool_join(pool, MP_FOREVER);
 *   mp_pool_free(pool);
 *
 * In C++ (which has no compound literals) start from MP_POOL_OPTS_INIT:
 * `mp_pool_opts o = MP_POOL_OPTS_INIT; o.processes = 4;`, and a captureless
 * lambda is a task (examples/cpp_pool.cpp).
 *
 * How Python maps to C:
 * - Pool(processes, initializer, initargs, maxtasksperchild, context) is
 *   mp_pool_new(&opts); keyword arguments are fields of mp_pool_opts and of
 *   mp_call_opts (chunksize, callback, error_callback).
 * - A task's return value is bytes written through mp_task_out; an
 *   exception is a nonzero return, with a message from mp_task_fail(). get()
 *   then returns MP_ETASK and mp_result_error() holds the message.
 * - map(f, iterable) over fixed-size elements is mp_pool_map(in, n, in_size,
 *   out, out_size): qsort's shape. Results go straight into shared memory
 *   and from there into out. Elements of any size are the _bytes forms
 *   (input as struct iovec, results read with mp_result_item()).
 * - starmap(f, [(a, b), ...]) is map over an array of argument structs:
 *   mp_pool_starmap is mp_pool_map, named for the reader.
 * - Python raises ValueError("Pool not running") after close()/terminate():
 *   here MP_ECLOSED. Calls from a process other than the pool's creator
 *   return MP_ENOTOWNER.
 * - imap's next(timeout) is mp_imap_next(); StopIteration is MP_ESTOP.
 *
 * Beyond Python:
 * - A worker that dies while running a task (a crash, abort(), exit() in the
 *   task, SIGKILL from outside) fails that task with MP_EWORKERDIED, the
 *   error record naming the signal or exit status; a new worker replaces it
 *   and every other task completes. (CPython hangs forever here.)
 * - mp_pool_opts.task_timeout: a task that runs longer is stopped (its
 *   worker is killed and replaced) and fails with MP_ETIMEOUT.
 * - mp_pool_opts.max_memory_per_child: a worker whose resident memory
 *   exceeds it after a task is replaced.
 * - mp_call_opts.progress: a progress bar on stderr (when it is a terminal)
 *   for map and imap.
 * - terminate() fails every outstanding task with MP_ECLOSED instead of
 *   leaving get() waiting forever.
 *
 * Start methods (mp_pool_opts.start_method, or mp_context_pool_new):
 * - "fork": workers are forked (ForkPoolWorker-N) and see the program as it
 *   was when they started.
 * - "spawn", "forkserver": workers run a fresh image of the program
 *   (SpawnPoolWorker-N, ForkServerPoolWorker-N) and map the pool's shared
 *   memory from descriptors passed at start. Task functions and the
 *   initializer cross as (module, build-id, offset) references, as process
 *   targets do (see mproc/context.h): a function that is not code of a
 *   loaded module is refused at submission (EINVAL) or at mp_pool_new (the
 *   initializer); one the worker's program lacks (a library opened with
 *   dlopen after the pool started, a program rebuilt since) fails its tasks
 *   with MP_ESTALE (an initializer: the pool fails every task with
 *   MP_ESTALE), never a call to a wrong address. At most 1024 distinct task
 *   functions per pool (-E2BIG beyond). Globals in the workers start fresh;
 *   initarg must be bytes (initarg_len) or NULL.
 * - "thread": Python's multiprocessing.pool.ThreadPool
 *   (multiprocessing.dummy.Pool): workers are threads of this process
 *   ("Thread-N (worker)") sharing its memory. What differs: a task that
 *   crashes or calls exit() ends the whole process (nothing is there to
 *   survive it); task_timeout and max_memory_per_child are MP_ENOTSUP;
 *   terminate cannot stop a running task: it stops the workers between
 *   tasks, fails what is outstanding with MP_ECLOSED, and waits for the
 *   tasks that were running to return.
 * - "mpi" (MP_START_MPI, with libmproc_mpi: mproc/mpi.h, docs/mpi.md):
 *   workers on other MPI ranks, each rank running its share in a local
 *   fork pool; this process holds proxy threads ("MPIPoolWorker-N").
 *   processes defaults to the sum of the serving ranks' usable CPUs. What
 *   differs: the initializer, maxtasksperchild, task_timeout and
 *   max_memory_per_child apply in the serving ranks' local workers; initarg
 *   must be bytes or NULL (-EINVAL); functions travel as with spawn
 *   (MP_ESTALE on a rank with another build); mp_task_index() is the index
 *   within the chunk; a chunk's results come back at once (imap and the
 *   progress bar advance per chunk); a chunk's message is at most 2 GiB
 *   (MP_ETOOBIG). A rank that dies fails the items it held with
 *   MP_EWORKERDIED naming the rank, and the rest completes elsewhere.
 *   Without mp_mpi_init under mpirun with 2 or more ranks: MP_ENOTSUP.
 *
 * Threads: a pool may be used from several threads of the process that
 * created it at once. Callbacks run on the pool's result thread, one at a
 * time: keep them quick (as Python says), and do not wait inside them for
 * other results of the same pool. */
#ifndef MPROC_POOL_H
#define MPROC_POOL_H

#include <stddef.h>
#include <sys/uio.h>

#include "errors.h"
#include "runtime.h"

MP_EXTERN_C_BEGIN

typedef struct mp_pool mp_pool;
typedef struct mp_result mp_result;
typedef struct mp_imap mp_imap;
typedef struct mp_task_out mp_task_out;

/* ---- Tasks (run in the workers) ---------------------------------------- */

/* A task: runs in a worker with the argument bytes (arg points into shared
 * memory, read-only, valid until the task returns; for map, one element of
 * in_size bytes) and writes its result through out. Returns 0 on success;
 * any other value fails the task with MP_ETASK, and the value becomes the
 * error record's status. */
typedef int (*mp_task_fn)(const void *arg, size_t len, mp_task_out *out);

/* Sets the task's result to a copy of len bytes (any size; a later call
 * replaces an earlier one). Returns 0, -ENOMEM, -EINVAL (data NULL with
 * len > 0), or MP_ETOOBIG in a fixed-size map when len > out_size.
 * Returning its value from the task fails the task when the copy failed. */
MP_EXPORT int mp_task_out_set(mp_task_out *out, const void *data, size_t len);

/* A buffer of len bytes for the task to fill in place, which becomes its
 * result (replacing earlier ones). In a fixed-size map this is the output
 * element itself, in shared memory (len must be <= out_size; the rest of
 * the element stays zero). Valid until the task returns. NULL with errno
 * ENOMEM, or -MP_ETOOBIG when len > out_size in a fixed-size map. */
MP_EXPORT void *mp_task_out_alloc(mp_task_out *out, size_t len);

/* Describes why the task fails: the message of the error record (printf
 * format, cut at MP_ERROR_MESSAGE_MAX - 1 bytes). Returns status, or -1 when
 * status is 0, so a task may write
 *   return mp_task_fail(out, 1, "ZeroDivisionError: float division by zero");
 * Only a nonzero return fails the task: the message alone does not. */
MP_EXPORT int mp_task_fail(mp_task_out *out, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The index of the task's item in its map (0 for apply). */
MP_EXPORT size_t mp_task_index(const mp_task_out *out);

/* ---- The pool ------------------------------------------------------------ */

/* Python's keyword arguments of Pool(). Zero-initialise it (or start from
 * MP_POOL_OPTS_INIT): every zero field means the default.
 * - processes: the number of workers; 0 gives mp_cpu_count_usable().
 * - initializer(initarg): run by each worker when it starts (Python's
 *   initializer(*initargs)). A nonzero return means it failed: the pool
 *   then fails every outstanding and later task with MP_EWORKERDIED (the
 *   record says the initializer failed) instead of restarting workers
 *   forever.
 * - initarg, initarg_len: what the initializer receives. initarg_len 0:
 *   the pointer itself (fork: the worker's inherited copy of the memory it
 *   points to; thread: the same object; spawn and forkserver: it must be
 *   NULL, else -EINVAL, since no pointer survives exec). initarg_len > 0:
 *   those bytes are copied at mp_pool_new (Python pickles initargs) and
 *   each worker's initializer gets a pointer to its own copy (thread
 *   workers share one copy).
 * - maxtasksperchild: a worker exits after this many tasks (chunks, as in
 *   Python) and a fresh one replaces it; 0: workers live as long as the pool.
 * - start_method: how workers start (Python's Pool(context=...)): "fork",
 *   "spawn", "forkserver" or "thread" (MP_START_*), or "mpi" once
 *   libmproc_mpi registered it (EINVAL for another name). NULL: the method mp_set_start_method set, else "fork"; unlike
 *   Python's Pool(), creating a pool does not fix the default. See "Start
 *   methods" below.
 * - task_timeout: seconds a task may run; one that runs longer has its
 *   worker killed and replaced, and fails with MP_ETIMEOUT. 0 or MP_FOREVER:
 *   no limit. Negative or NaN: -EINVAL. Not with "thread" (MP_ENOTSUP: a
 *   thread cannot be killed).
 * - max_memory_per_child: bytes; a worker whose resident memory exceeds it
 *   after a task exits after reporting that task's result, and is replaced.
 *   0: no limit. Not with "thread" (MP_ENOTSUP: threads share one memory).
 * - reserved: must be zero. */
typedef struct mp_pool_opts {
  int processes;
  int (*initializer)(void *initarg);
  void *initarg;
  unsigned long maxtasksperchild;
  const char *start_method;
  double task_timeout;
  size_t max_memory_per_child;
  size_t initarg_len;
  void *reserved[5];
} mp_pool_opts;

/* {} in C++: g++ -Wextra warns on {0} there (missing field initializers). */
#ifdef __cplusplus
#define MP_POOL_OPTS_INIT {}
#else
#define MP_POOL_OPTS_INIT {0}
#endif

/* A result callback: runs on the pool's result thread once r is ready, before
 * any get() on r returns (as in Python). Use mp_result_get(r, 0, ...) or
 * mp_result_error(r) inside; do not free r there. */
typedef void (*mp_result_cb)(mp_result *r, void *ctx);

/* Per-call keyword arguments. NULL or zero fields: the defaults.
 * - chunksize: items per task for map, imap and starmap. 0: for map and
 *   starmap Python's default, ceil(n / (4 * processes)); for imap 1.
 * - callback: called with the result when the call succeeded.
 * - error_callback: called with the result when it failed.
 * - ctx: passed to both callbacks.
 * - progress: nonzero draws a progress bar on stderr, only when stderr is a
 *   terminal when the call is made: done/total, rate and time left. Drawn
 *   at once, then up to ten times a second, counting items as they finish
 *   inside chunks; it fits the terminal's width, asked again at each
 *   redraw (so it follows a resize; no signal handler is installed).
 * - reserved: must be zero. */
typedef struct mp_call_opts {
  size_t chunksize;
  mp_result_cb callback;
  mp_result_cb error_callback;
  void *ctx;
  int progress;
  void *reserved[4];
} mp_call_opts;

/* Starts a pool of worker processes (named ForkPoolWorker-N, as in Python)
 * or threads, and its result thread. opts may be NULL. Returns the pool
 * (free it with mp_pool_free), or NULL with errno: EINVAL (bad options, an
 * unknown start method, an initializer that is not code of a loaded module
 * with spawn or forkserver), ENOMEM, EAGAIN (fork), EMFILE, -MP_ENOTSUP
 * (an option the start method cannot honour), -MP_EDAEMON (called in a
 * daemonic process, pool workers included), or what mp_process_start
 * returns for the method (-MP_ESTALE, -MP_EPROTO); no worker is left then. */
MP_EXPORT mp_pool *mp_pool_new(const mp_pool_opts *opts);

/* Python's ctx.Pool(): mp_pool_new with ctx's start method, declared in
 * mproc/context.h as mp_context_pool_new. */

/* The number of worker processes. */
MP_EXPORT int mp_pool_processes(const mp_pool *pool);

/* Python's apply(): runs fn(arg) in a worker and waits for it. arg's len
 * bytes are copied. On success *out (if out is not NULL) gets a copy of the
 * result, allocated: free it with mp_free; *outlen its length. On failure
 * err (if not NULL) gets the error record.
 * Returns 0, MP_ETASK, MP_EWORKERDIED, MP_ETIMEOUT (the task's time limit),
 * MP_ECLOSED (pool closed or terminated), MP_ENOTOWNER, -EINVAL, -ENOMEM. */
MP_EXPORT int mp_pool_apply(mp_pool *pool, mp_task_fn fn, const void *arg,
                            size_t len, void **out, size_t *outlen,
                            mp_error *err);

/* Python's apply_async(): submits fn(arg) (len bytes copied) and returns
 * at once with a result object (free it with mp_result_free). opts may be
 * NULL. NULL with errno: -MP_ECLOSED, -MP_ENOTOWNER, EINVAL, ENOMEM, E2BIG
 * (spawn and forkserver: too many distinct task functions); then no
 * callback runs. */
MP_EXPORT mp_result *mp_pool_apply_async(mp_pool *pool, mp_task_fn fn,
                                         const void *arg, size_t len,
                                         const mp_call_opts *opts);

/* Python's map() over n elements of in_size bytes at in: runs fn on each
 * element and writes element i's result into out + i * out_size (a result
 * shorter than out_size leaves the rest zero). Waits for all of them. When a
 * task fails, map still waits for the others, then returns the failure of
 * the lowest index (its record in err, if not NULL); out holds what the
 * tasks that succeeded wrote. n == 0 returns 0 at once.
 * Returns 0, MP_ETASK, MP_EWORKERDIED, MP_ETIMEOUT, MP_ECLOSED,
 * MP_ENOTOWNER, -EINVAL (NULL fn, in NULL with n > 0, in_size 0 with n > 0,
 * out NULL with out_size > 0), -ENOMEM. */
MP_EXPORT int mp_pool_map(mp_pool *pool, mp_task_fn fn, const void *in,
                          size_t n, size_t in_size, void *out,
                          size_t out_size, const mp_call_opts *opts,
                          mp_error *err);

/* Python's map_async(). The input is copied now; out must stay valid until
 * the result is ready (it is written as chunks complete). out may be NULL:
 * then mp_result_get gives the n * out_size bytes of results in shared
 * memory, with no copy, valid until mp_result_free. NULL with errno as
 * mp_pool_apply_async. */
MP_EXPORT mp_result *mp_pool_map_async(mp_pool *pool, mp_task_fn fn,
                                       const void *in, size_t n,
                                       size_t in_size, void *out,
                                       size_t out_size,
                                       const mp_call_opts *opts);

/* map over elements of any size: item i is the in[i].iov_len bytes at
 * in[i].iov_base (copied now), its result any number of bytes, read with
 * mp_result_item() once ready. NULL with errno as mp_pool_apply_async. */
MP_EXPORT mp_result *mp_pool_map_bytes_async(mp_pool *pool, mp_task_fn fn,
                                             const struct iovec *in, size_t n,
                                             const mp_call_opts *opts);

/* Python's starmap(f, [(a, b), ...]): in C the element is a struct holding
 * one call's arguments, so these are mp_pool_map and mp_pool_map_async. */
MP_EXPORT int mp_pool_starmap(mp_pool *pool, mp_task_fn fn, const void *args,
                              size_t n, size_t args_size, void *out,
                              size_t out_size, const mp_call_opts *opts,
                              mp_error *err);
MP_EXPORT mp_result *mp_pool_starmap_async(mp_pool *pool, mp_task_fn fn,
                                           const void *args, size_t n,
                                           size_t args_size, void *out,
                                           size_t out_size,
                                           const mp_call_opts *opts);

/* Python's imap() and imap_unordered() over n elements of in_size bytes
 * (copied now): an iterator yielding each result as it is ready, in order
 * or in completion order. chunksize defaults to 1, as in Python. The
 * callbacks of opts are not used. Free with mp_imap_free. NULL with errno
 * as mp_pool_apply_async. */
MP_EXPORT mp_imap *mp_pool_imap(mp_pool *pool, mp_task_fn fn, const void *in,
                                size_t n, size_t in_size,
                                const mp_call_opts *opts);
MP_EXPORT mp_imap *mp_pool_imap_unordered(mp_pool *pool, mp_task_fn fn,
                                          const void *in, size_t n,
                                          size_t in_size,
                                          const mp_call_opts *opts);
/* The same over elements of any size, as mp_pool_map_bytes_async. */
MP_EXPORT mp_imap *mp_pool_imap_bytes(mp_pool *pool, mp_task_fn fn,
                                      const struct iovec *in, size_t n,
                                      const mp_call_opts *opts);
MP_EXPORT mp_imap *mp_pool_imap_unordered_bytes(mp_pool *pool, mp_task_fn fn,
                                                const struct iovec *in,
                                                size_t n,
                                                const mp_call_opts *opts);

/* Python's close(): no more tasks may be submitted; the workers exit once
 * the outstanding ones are done. Returns 0 (also when repeated),
 * MP_ENOTOWNER. */
MP_EXPORT int mp_pool_close(mp_pool *pool);

/* Python's terminate(): kills the workers at once and fails every
 * outstanding task with MP_ECLOSED (their callbacks, error_callback, run).
 * Returns once no worker is left. Returns 0, MP_ENOTOWNER. */
MP_EXPORT int mp_pool_terminate(mp_pool *pool);

/* Python's join(): waits, at most timeout seconds, until the workers have
 * exited and every callback has run. Only after close or terminate.
 * Returns 0, MP_ETIMEOUT, MP_ESTATE (still running: call close first),
 * MP_ENOTOWNER, -EINVAL (NaN timeout). */
MP_EXPORT int mp_pool_join(mp_pool *pool, double timeout);

/* Terminates the pool if it is still running (Python's `with` block
 * exit), waits for it and releases it. Results and iterators obtained from
 * it stay valid (they are ready by then) until freed. NULL does nothing.
 * Call it from the creating process; in another process it only releases
 * this process's memory. */
MP_EXPORT void mp_pool_free(mp_pool *pool);

/* ---- AsyncResult ----------------------------------------------------------- */

/* Waits at most timeout seconds for the result. On success returns 0 and
 * sets *data and *len (either may be NULL): for apply, the task's result
 * bytes; for map, the n * out_size result bytes (the caller's out, or
 * shared memory when out was NULL); for the bytes forms NULL and 0 (read
 * the items with mp_result_item). Borrowed: valid until mp_result_free.
 * Returns MP_ETIMEOUT when it is not ready by then; when it failed, the
 * task's code: MP_ETASK, MP_EWORKERDIED, MP_ETIMEOUT (its time limit: tell
 * it from get's own timeout by mp_result_ready(), which is 1 then) or
 * MP_ECLOSED (terminated), with the record in mp_result_error(). -EINVAL for
 * NULL r or NaN timeout. Several threads may wait on one result. */
MP_EXPORT int mp_result_get(mp_result *r, double timeout, const void **data,
                            size_t *len);

/* Waits at most timeout seconds until the result is ready. Returns 0 when
 * ready, MP_ETIMEOUT, -EINVAL. */
MP_EXPORT int mp_result_wait(mp_result *r, double timeout);

/* 1 when ready (the call completed, successfully or not), else 0. */
MP_EXPORT int mp_result_ready(const mp_result *r);

/* 1 when it completed without failure, 0 when it failed, MP_ENOTREADY
 * before it is ready (Python raises ValueError there). */
MP_EXPORT int mp_result_successful(const mp_result *r);

/* The failure: for map, the failed item of lowest index. NULL while not
 * ready and when successful. Borrowed: valid until mp_result_free. */
MP_EXPORT const mp_error *mp_result_error(const mp_result *r);

/* The number of items: 1 for apply, n for map. */
MP_EXPORT size_t mp_result_count(const mp_result *r);

/* Once ready: item i's result bytes (borrowed, valid until
 * mp_result_free). Works for every kind (apply has the one item 0). Returns
 * 0, the item's own failure code (its record in mp_result_item_error),
 * MP_ENOTREADY, MP_EINDEX. */
MP_EXPORT int mp_result_item(mp_result *r, size_t i, const void **data,
                             size_t *len);
MP_EXPORT const mp_error *mp_result_item_error(const mp_result *r, size_t i);

/* Releases the caller's reference. A result still pending is not
 * cancelled: its tasks run and its callbacks still run. NULL does nothing.
 * Not inside the result's own callback. */
MP_EXPORT void mp_result_free(mp_result *r);

/* ---- imap iterators ---------------------------------------------------------- */

/* The next result, waiting at most timeout seconds. Returns 0 with the
 * bytes in *data, *len (borrowed: valid until the next call or
 * mp_imap_free); the item's failure code (MP_ETASK, MP_EWORKERDIED,
 * MP_ETIMEOUT, MP_ECLOSED) with its record in mp_imap_error(), after which
 * the iteration continues with the next item (as Python's next() raises and
 * goes on); MP_ETIMEOUT when none is ready in time (check mp_imap_error()
 * == NULL to tell it from a task's time limit); MP_ESTOP when every item
 * has been returned (StopIteration, the code every area uses for it). -EINVAL for NULL it or NaN timeout. One
 * thread at a time per iterator. */
MP_EXPORT int mp_imap_next(mp_imap *it, double timeout, const void **data,
                           size_t *len);

/* The input index of the item last returned by mp_imap_next (useful with
 * imap_unordered). */
MP_EXPORT size_t mp_imap_index(const mp_imap *it);

/* The error record of the item last returned, or NULL when it succeeded. */
MP_EXPORT const mp_error *mp_imap_error(const mp_imap *it);

/* Releases the iterator. Tasks still running finish; their results are
 * dropped. NULL does nothing. */
MP_EXPORT void mp_imap_free(mp_imap *it);

MP_EXTERN_C_END

#endif
