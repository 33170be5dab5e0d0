/* mproc/context.h: start methods and contexts, the reference's 17.2.1.2
 * ("Contexts and start methods"), the context functions of 17.2.2.3
 * (get_context, set_start_method, get_start_method, get_all_start_methods,
 * set_executable, freeze_support) and 17.2.2.13 (multiprocessing.dummy,
 * here the "thread" start method).
 *
 * A start method is how a child comes to life:
 * - "fork" (the default): fork(); the child has a copy of everything.
 * - "spawn": the program runs again (/proc/self/exe, or the program
 *   mp_set_executable names). The library notices before main() that it was
 *   started as a child (an ELF constructor looks for its marker in argv and
 *   an inherited socket), reads its bootstrap (target, argument bytes, name,
 *   authkey, daemon flag, passed objects) from that socket, runs the target
 *   and exits: main() never runs in a spawned child. Only the passed objects
 *   and stdin/stdout/stderr are inherited; every other descriptor is closed.
 *   Globals start fresh, as in Python.
 * - "forkserver": a small server, started once (by spawn) on first use,
 *   forks each child. The program itself never forks, so it is safe with
 *   threads that hold locks (malloc's included) at any moment.
 * - "thread": Python's multiprocessing.dummy: a "process" is a thread of
 *   this program. Same API: join, is_alive, exitcode (the target's return
 *   value, 0..255 as for the others), name, sentinel (an eventfd readable
 *   once the target returned), results (mp_process_return). A thread cannot
 *   be signalled: terminate and kill return MP_ENOTSUP; at exit a daemonic
 *   thread-process is left running (not joined), as Python's daemon
 *   threads are, and the others are joined.
 *
 * Targets across exec. The target of a spawn or forkserver child is a
 * function pointer, which means nothing in another process image. It
 * crosses as (module, build-id, offset from the module's base) and is
 * rebuilt in the child from the module with the same build-id (modules
 * without one are matched by file identity: device, inode, size, mtime).
 * Functions of the program and of shared libraries loaded at start work;
 * a function in a library opened later with dlopen does not (MP_ESTALE).
 * A program rebuilt since the parent started, or a set_executable program
 * that lacks the target, is refused with MP_ESTALE by mp_process_start,
 * never called at a wrong address.
 * Caveat: the target of a spawned child runs from the library's
 * constructor, so constructors of the program itself (C++ static objects,
 * __attribute__((constructor)) functions of the executable) and of
 * libraries initialised after mproc have not run. Initialise what the
 * target needs in the target.
 *
 * Passing shared objects (Python's "pass resources explicitly as
 * arguments"). A pointer inside the argument bytes does not survive exec.
 * Pass the object itself before start, one call on each side, typed by
 * the object's kind (see mp_process_pass below):
 *   parent:  int i = mp_process_pass(p, queue);       (i: 0, 1, ...)
 *   child:   mp_queue *q;  mp_inherited(0, &q);  ... mp_queue_free(q);
 * or by handle or descriptor, the general form, for anything with a
 * handle:
 *   parent:  mp_lock_handle(lock, &h);
 *            int i = mp_process_pass_handle(p, &h);    (i: 0, 1, ...)
 *            mp_process_pass_fd(p, mp_conn_fileno(conn));
 *   child:   mp_inherited_handle(0, &h);  mp_lock *l = mp_lock_open(&h);
 *            int fd = mp_inherited_fd(1);  (dup it to own it)
 * This works the same with every start method (fork and thread included),
 * so a target is written once. Locks, semaphores, events, conditions,
 * barriers, queues, values, arrays and anything else with a handle,
 * connections and any
 * descriptor cross this way. The child's result (mp_process_return) works
 * with every method without passing anything.
 *
 * Contexts. mp_get_context(method) returns an object with the library's
 * constructors (mp_context_process_new, mp_context_queue_new, ...), whose
 * processes use that method; shared objects are the same for every method
 * (they cross as handles), so their constructors are there for Python's
 * shape. mp_set_start_method sets what mp_process_new uses when its
 * options name no method.
 *
 * freeze_support: C needs none. Python needs it on Windows because a frozen
 * executable cannot tell a child's command line from the user's; here a
 * spawned child is recognised before main by the library's constructor,
 * which never returns into main, so mp_freeze_support() does nothing. */
#ifndef MPROC_CONTEXT_H
#define MPROC_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "connection.h"
#include "errors.h"
#include "manager.h"
#include "pool.h"
#include "process.h"
#include "queue.h"
#include "shm.h"
#include "sync.h"
#include "value.h"

MP_EXTERN_C_BEGIN

#define MP_START_FORK "fork"
#define MP_START_SPAWN "spawn"
#define MP_START_FORKSERVER "forkserver"
#define MP_START_THREAD "thread"

typedef struct mp_context mp_context;

/* The context of a start method (Python's get_context(method)): "fork",
 * "spawn", "forkserver" or "thread"; NULL gives the default context (the
 * method set by mp_set_start_method, else "fork"; asking for it fixes the
 * default as Python's get_context() does). Borrowed: contexts are static
 * and never freed. NULL with errno EINVAL for an unknown name (Python's
 * ValueError). Thread-safe. */
MP_EXPORT mp_context *mp_get_context(const char *method);

/* The context's method name ("fork", ...). Never NULL. */
MP_EXPORT const char *mp_context_start_method(const mp_context *ctx);

/* Sets the default start method (Python's set_start_method). At most once:
 * a second call, or a call after the default was used (by
 * mp_get_start_method(false), mp_get_context(NULL) or a process created
 * without a method), returns MP_ESTATE unless force is true (Python's
 * RuntimeError "context has already been set"). With force, method NULL
 * unsets it. Returns 0, -EINVAL for an unknown name, MP_ESTATE. */
MP_EXPORT int mp_set_start_method(const char *method, bool force);

/* The default start method's name (Python's get_start_method). When none
 * was set: NULL if allow_none, else "fork", which then becomes fixed. */
MP_EXPORT const char *mp_get_start_method(bool allow_none);

/* The available methods, the default ("fork") first, then "spawn",
 * "forkserver", "thread". Returns a static NULL-terminated array; *n (may
 * be NULL) gets its length. */
MP_EXPORT const char *const *mp_get_all_start_methods(size_t *n);

/* The program spawn and forkserver run (Python's set_executable): path is
 * copied; NULL restores the default, this program (/proc/self/exe, which
 * stays the running binary even if its file is replaced). The program must
 * link mproc and contain the targets (see above). Returns 0, -ENOENT (no
 * such file), -EACCES (not executable), -ENAMETOOLONG, -ENOMEM. A forkserver
 * already running keeps its program. Not thread-safe with starts. */
MP_EXPORT int mp_set_executable(const char *path);
/* The program spawn runs (borrowed; valid until mp_set_executable). */
MP_EXPORT const char *mp_get_executable(void);

/* Does nothing (see the top of this file). */
MP_EXPORT void mp_freeze_support(void);

/* ---- passing shared objects to a child (every method) ------------------- */

/* Before start: passes the object h names (its descriptors are duplicated
 * now; the caller keeps h and the object) / a descriptor (duplicated) to
 * the child. The duplicates are closed once the child has its own (when
 * start returns; for a thread-process, once it has ended), so a
 * connection end passed to a child and closed by the caller leaves the
 * child the only holder (its peer sees EOF when the child closes it). Returns the index the child reads it back with (0, 1, ...),
 * or -EINVAL (NULL, malformed handle, bad descriptor), MP_ESTATE (started
 * already, or not this process's child), -E2BIG (more than 64 objects or
 * 240 descriptors in all), -ENOMEM, -EMFILE. */
MP_EXPORT int mp_process_pass_handle(mp_process *p, const mp_handle *h);
MP_EXPORT int mp_process_pass_fd(mp_process *p, int fd);

/* In a child (a thread-process included): how many objects were passed. */
MP_EXPORT size_t mp_inherited_count(void);
/* The i-th passed handle. Its descriptors are borrowed from the library
 * (valid while the process runs): open the object (mp_lock_open, ...),
 * never close them. Returns 0, MP_EINDEX (no such object), MP_ETYPE (the
 * i-th is a descriptor), -EINVAL (h NULL). */
MP_EXPORT int mp_inherited_handle(size_t i, mp_handle *h);
/* The i-th passed descriptor (borrowed: dup it to keep it), or MP_EINDEX,
 * MP_ETYPE (it is a handle). */
MP_EXPORT int mp_inherited_fd(size_t i);

/* ---- passing an object in one call (every method) ------------------------
 * mp_process_pass(p, obj): passes a shared object to the child before
 * start, whatever its kind: mp_lock (Lock and RLock), mp_semaphore,
 * mp_event, mp_condition (with its lock), mp_barrier, mp_queue, mp_value,
 * mp_array, mp_conn (the connection's descriptor; the caller keeps its
 * end, and may close it once start returned). Returns the index as
 * mp_process_pass_handle does, or its codes; MP_ENOTSUP for an object in
 * caller-provided memory (no handle of its own: pass the memory's).
 *
 * mp_inherited(i, &obj): in the child, opens the i-th passed object as the
 * kind of obj (mp_lock **, mp_queue **, ...): a new wrapper the child
 * frees with its _free. Returns 0; MP_EINDEX (nothing passed at i);
 * MP_ETYPE (the i-th is another kind of object); the _open function's
 * code otherwise. A Barrier opens without an action (a function pointer
 * means nothing in another program: use mp_barrier_open to give one).
 *
 * Both are _Generic selections in C11 (an object of another type does not
 * compile) and overloads in C++; the functions they call are named
 * mp_process_pass_<kind> and mp_inherited_<kind>. The same calls work with
 * fork and thread, so a target is written once. Thread-safety as
 * mp_process_pass_handle / mp_inherited_handle. */
#define MP__PASS_KINDS(X)                                                      \
  X(lock) X(semaphore) X(event) X(condition) X(barrier) X(queue) X(value)      \
  X(array) X(conn)
#define MP__PASS_DECL(k)                                                       \
  MP_EXPORT int mp_process_pass_##k(mp_process *p, const mp_##k *obj);         \
  MP_EXPORT int mp_inherited_##k(size_t i, mp_##k **out);
MP__PASS_KINDS(MP__PASS_DECL)
#undef MP__PASS_DECL

#ifndef __cplusplus
#define MP__PASS_CASE(k)                                                       \
  mp_##k * : mp_process_pass_##k, const mp_##k * : mp_process_pass_##k,
#define MP__INHERITED_CASE(k) mp_##k ** : mp_inherited_##k,
/* The last association matches nothing: it only ends the list. */
#define mp_process_pass(p, obj)                                                \
  _Generic((obj), MP__PASS_KINDS(MP__PASS_CASE) struct mp__never * : 0)(p, obj)
#define mp_inherited(i, out)                                                   \
  _Generic((out), MP__PASS_KINDS(MP__INHERITED_CASE) struct mp__never * : 0)(  \
      i, out)
#else
extern "C++" { /* overloads, inside the header's extern "C" block */
#define MP__PASS_OVERLOAD(k)                                                   \
  inline int mp_process_pass(mp_process *p, const mp_##k *obj) {              \
    return mp_process_pass_##k(p, obj);                                        \
  }                                                                            \
  inline int mp_inherited(size_t i, mp_##k **out) {                            \
    return mp_inherited_##k(i, out);                                           \
  }
MP__PASS_KINDS(MP__PASS_OVERLOAD)
#undef MP__PASS_OVERLOAD
}
#endif

/* ---- the library's constructors, through a context ------------------------ */

/* mp_process_new with the context's method (opts->start_method must be
 * NULL or the same name: EINVAL otherwise). */
MP_EXPORT mp_process *mp_context_process_new(mp_context *ctx,
                                             mp_target_fn target,
                                             const void *arg, size_t len,
                                             const mp_process_opts *opts);
/* Python's ctx.Pool(): mp_pool_new with the context's method (opts may be
 * NULL; opts->start_method must be NULL or the same name: EINVAL
 * otherwise). NULL with errno as mp_pool_new; EINVAL when ctx is NULL. */
MP_EXPORT mp_pool *mp_context_pool_new(mp_context *ctx,
                                       const mp_pool_opts *opts);
/* The shared objects: the same as mp_X_new (they work with every method).
 * NULL with errno EINVAL when ctx is NULL. */
MP_EXPORT mp_queue *mp_context_queue_new(mp_context *ctx, long maxsize);
MP_EXPORT mp_queue *mp_context_simple_queue_new(mp_context *ctx);
MP_EXPORT mp_queue *mp_context_joinable_queue_new(mp_context *ctx,
                                                  long maxsize);
MP_EXPORT mp_lock *mp_context_lock_new(mp_context *ctx);
MP_EXPORT mp_lock *mp_context_rlock_new(mp_context *ctx);
MP_EXPORT mp_semaphore *mp_context_semaphore_new(mp_context *ctx, int value);
MP_EXPORT mp_semaphore *mp_context_bounded_semaphore_new(mp_context *ctx,
                                                         int value);
MP_EXPORT mp_event *mp_context_event_new(mp_context *ctx);
MP_EXPORT mp_condition *mp_context_condition_new(mp_context *ctx,
                                                 mp_lock *lock);
MP_EXPORT mp_barrier *mp_context_barrier_new(mp_context *ctx, int parties,
                                             mp_barrier_action action,
                                             void *arg, double timeout);
MP_EXPORT mp_value *mp_context_value_new(mp_context *ctx, mp_ctype t,
                                         const void *init,
                                         const mp_value_opts *opts);
MP_EXPORT mp_value *mp_context_raw_value_new(mp_context *ctx, mp_ctype t,
                                             const void *init);
MP_EXPORT mp_array *mp_context_array_new(mp_context *ctx, mp_ctype t,
                                         size_t len, const void *init,
                                         const mp_value_opts *opts);
MP_EXPORT mp_array *mp_context_raw_array_new(mp_context *ctx, mp_ctype t,
                                             size_t len, const void *init);
/* Python's ctx.Manager(): a started manager whose server process uses the
 * context's method (opts->start_method must be NULL or the same name;
 * opts may be NULL). NULL with errno EINVAL or mp_manager_start's code
 * (negated, as mp_manager_start_new). */
MP_EXPORT mp_manager *mp_context_manager_new(mp_context *ctx,
                                             const mp_manager_opts *opts);
/* mp_pipe: 0 or -EINVAL (ctx NULL) or mp_pipe's codes. */
MP_EXPORT int mp_context_pipe(mp_context *ctx, bool duplex, mp_conn **c1,
                              mp_conn **c2);

MP_EXTERN_C_END

#endif
