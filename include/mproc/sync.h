/* mproc/sync.h: synchronization primitives shared between processes, the
 * reference's 17.2.2.5: Lock, RLock, Semaphore, BoundedSemaphore,
 * Condition, Event and Barrier.
 *
 * Each object's state lives in shared memory. An object created before
 * fork() works in the child as it is; for any other process, pass a handle
 * (mproc/shm.h): `mp_lock_handle()` here, `mp_lock_open()` there. Every
 * object is usable from many threads and processes at once.
 *
 * Three ways to get an object, for each type:
 *   mp_X_new(...)            allocates it in shared memory (the usual way)
 *   mp_X_init(mem, ...)      builds it in shared memory you provide
 *                            (mp_X_memsize() bytes, 8-byte aligned, mapped
 *                            MAP_SHARED), e.g. inside your own shared struct;
 *                            mp_X_attach(mem) wraps memory another process
 *                            initialised. These have no handle of their own:
 *                            pass a handle of the memory that holds them.
 *   mp_X_open(handle, ...)   opens one another process created.
 * Each returns a wrapper private to this process, or NULL with errno set;
 * mp_X_free() frees the wrapper and drops this process's reference to the
 * shared memory (never touching memory you provided). The memory goes when
 * the last process lets go. mp_X_free(NULL) does nothing.
 *
 * Timeouts (double seconds): MP_FOREVER blocks, 0 does not block (Python's
 * block=False), negative counts as 0, NaN is -EINVAL. A timeout returns
 * MP_ETIMEOUT where Python returns False. Signals never cut a wait short.
 *
 * Speed: an uncontended acquire or release is one atomic instruction and
 * makes no system call; a contended one spins briefly, then sleeps on a
 * futex.
 *
 * Robustness (beyond Python). A Lock or RLock whose owner process ended
 * while holding it (killed by SIGKILL, say) is handed to the next acquirer,
 * whose acquire returns MP_EOWNERDEAD: it holds the lock, and the data the
 * lock protects may be half-updated. Repair it, then call
 * mp_lock_consistent() before releasing. If instead the lock is released
 * without that call, the lock becomes unusable: every later acquire returns
 * MP_ENOTRECOVERABLE at once (the rule of POSIX robust mutexes). A waiter
 * notices a dead owner within about 50 ms. An RLock's owner is a thread:
 * a thread that ends holding an RLock counts as dead too. A Barrier whose
 * participant died inside wait breaks: every waiter of that round gets
 * MP_EBROKEN within milliseconds of the death (one that dies within 1 ms
 * of arriving may count as arrived, as if it had died just after the
 * round: then the next round breaks; one that dies between two waits
 * cannot be told from a slow one: the others wait for their timeout).
 * Waiters on a
 * Condition, Event or Semaphore whose peer died are woken by their timeout.
 * Requirements: all processes share one pid namespace, and a process that
 * uses these objects after creating a child by a raw clone() (not fork())
 * is not supported. */
#ifndef MPROC_SYNC_H
#define MPROC_SYNC_H

#include <stdbool.h>
#include <stddef.h>

#include "errors.h"
#include "shm.h"

MP_EXTERN_C_BEGIN

/* ---- Lock and RLock ------------------------------------------------------
 * One type for both, as both are accepted wherever Python takes "a Lock or
 * RLock" (Condition, Value). A Lock may be released by any thread or
 * process, as in CPython; an RLock only by the thread that owns it, which
 * may acquire it again (a recursion count). */
typedef struct mp_lock mp_lock;

/* A new unlocked Lock / RLock in shared memory. NULL with errno ENOMEM or
 * another errno from creating shared memory. */
MP_EXPORT mp_lock *mp_lock_new(void);
MP_EXPORT mp_lock *mp_rlock_new(void);

/* Acquires. Returns 0; MP_ETIMEOUT (not acquired); MP_EOWNERDEAD (acquired;
 * the previous owner died holding it: see above); MP_ENOTRECOVERABLE (not
 * acquired: the lock is unusable); -EOVERFLOW (RLock held 2^32-1 times);
 * -EINVAL (NaN timeout or NULL). Acquiring a Lock this process already
 * holds waits (a Lock is not recursive), as in Python. */
MP_EXPORT int mp_lock_acquire(mp_lock *lock, double timeout);

/* Releases. Returns 0; MP_EVALUE when a Lock is not locked (Python's
 * "released too many times"); MP_ENOTOWNER when an RLock is not held by
 * this thread; -EINVAL for NULL. */
MP_EXPORT int mp_lock_release(mp_lock *lock);

/* After MP_EOWNERDEAD: declares the protected state repaired, so releasing
 * keeps the lock usable. The caller must hold the lock (RLock: this thread;
 * Lock: this process). Returns 0, MP_ESTATE when the lock is not in the
 * owner-died state, MP_ENOTOWNER when the caller does not hold it. */
MP_EXPORT int mp_lock_consistent(mp_lock *lock);

/* Whether someone holds it (a snapshot). */
MP_EXPORT bool mp_lock_locked(const mp_lock *lock);
/* Whether this thread (RLock) or this process (Lock) holds it. */
MP_EXPORT bool mp_lock_is_mine(const mp_lock *lock);
/* Whether it is an RLock. */
MP_EXPORT bool mp_lock_is_recursive(const mp_lock *lock);

/* Caller-provided memory (see the top of this file): the bytes a Lock or
 * RLock needs, then mp_lock_init() builds one there, mp_lock_attach() wraps
 * one another process built. */
MP_EXPORT size_t mp_lock_memsize(void);
/* Builds an unlocked Lock (recursive = false) or RLock in mem and returns a
 * wrapper over it. */
MP_EXPORT mp_lock *mp_lock_init(void *mem, bool recursive);
MP_EXPORT mp_lock *mp_lock_attach(void *mem);
/* The lock's shared memory (what mp_lock_attach takes). */
MP_EXPORT void *mp_lock_mem(const mp_lock *lock);

/* Fills h (descriptors borrowed: see mproc/shm.h). MP_ENOTSUP for a lock
 * in caller-provided memory; -EINVAL for NULL. */
MP_EXPORT int mp_lock_handle(const mp_lock *lock, mp_handle *h);
/* Opens the lock a handle names. NULL with errno: -MP_ETYPE (not a lock),
 * -MP_EDECODE / EINVAL (not a valid handle), -MP_ESTATE (freed by every
 * process), ENOMEM. The handle's descriptors stay the caller's. */
MP_EXPORT mp_lock *mp_lock_open(const mp_handle *h);
MP_EXPORT void mp_lock_free(mp_lock *lock);

/* ---- Semaphore and BoundedSemaphore -------------------------------------- */
typedef struct mp_semaphore mp_semaphore;

/* value: the initial count, 0..MP_SEM_VALUE_MAX (Python's default is 1).
 * A BoundedSemaphore refuses a release that would take the count above
 * its initial value. NULL with errno EINVAL for a negative or too large
 * value. */
#define MP_SEM_VALUE_MAX 0x7fffffff
MP_EXPORT mp_semaphore *mp_semaphore_new(int value);
MP_EXPORT mp_semaphore *mp_bounded_semaphore_new(int value);
/* 0 or MP_ETIMEOUT (-EINVAL for NaN). */
MP_EXPORT int mp_semaphore_acquire(mp_semaphore *sem, double timeout);
/* 0; MP_EVALUE when a BoundedSemaphore would pass its bound; -EOVERFLOW
 * past MP_SEM_VALUE_MAX. */
MP_EXPORT int mp_semaphore_release(mp_semaphore *sem);
/* The current count (a snapshot), >= 0. */
MP_EXPORT int mp_semaphore_get_value(const mp_semaphore *sem);
MP_EXPORT bool mp_semaphore_is_bounded(const mp_semaphore *sem);
MP_EXPORT size_t mp_semaphore_memsize(void);
/* bounded: a BoundedSemaphore. NULL with errno EINVAL for a bad value. */
MP_EXPORT mp_semaphore *mp_semaphore_init(void *mem, int value, bool bounded);
MP_EXPORT mp_semaphore *mp_semaphore_attach(void *mem);
MP_EXPORT int mp_semaphore_handle(const mp_semaphore *sem, mp_handle *h);
MP_EXPORT mp_semaphore *mp_semaphore_open(const mp_handle *h);
MP_EXPORT void mp_semaphore_free(mp_semaphore *sem);

/* ---- Event ------------------------------------------------------------------ */
typedef struct mp_event mp_event;

/* Python's Event(): a flag, initially false. NULL with errno set (ENOMEM,
 * EMFILE) on failure; free with mp_event_free(). */
MP_EXPORT mp_event *mp_event_new(void);
/* Sets the flag and wakes every waiter. */
MP_EXPORT void mp_event_set(mp_event *ev);
MP_EXPORT void mp_event_clear(mp_event *ev);
MP_EXPORT bool mp_event_is_set(const mp_event *ev);
/* Waits until the flag is set: 0 when it is, MP_ETIMEOUT when it was not
 * set in time (Python's True / False); -EINVAL for NaN. */
MP_EXPORT int mp_event_wait(mp_event *ev, double timeout);
MP_EXPORT size_t mp_event_memsize(void);
MP_EXPORT mp_event *mp_event_init(void *mem);
MP_EXPORT mp_event *mp_event_attach(void *mem);
MP_EXPORT int mp_event_handle(const mp_event *ev, mp_handle *h);
MP_EXPORT mp_event *mp_event_open(const mp_handle *h);
MP_EXPORT void mp_event_free(mp_event *ev);

/* ---- Condition ------------------------------------------------------------- */
typedef struct mp_condition mp_condition;

/* A condition variable over `lock` (a Lock or an RLock; borrowed: it must
 * outlive the condition), or over a new RLock it owns when lock is NULL,
 * as Python's Condition(). */
MP_EXPORT mp_condition *mp_condition_new(mp_lock *lock);
/* The lock (borrowed). */
MP_EXPORT mp_lock *mp_condition_get_lock(const mp_condition *c);
/* The lock's acquire and release. */
MP_EXPORT int mp_condition_acquire(mp_condition *c, double timeout);
MP_EXPORT int mp_condition_release(mp_condition *c);
/* Releases the lock (all levels of an RLock), waits for a notify, and
 * takes the lock back (restoring the level) before returning, whatever
 * the result: 0 (notified), MP_ETIMEOUT, or MP_EOWNERDEAD (taking the lock
 * back found its owner dead: held, see mp_lock_consistent). MP_ENOTOWNER
 * without waiting when the caller does not hold the lock. As in Python,
 * a wait ends with 0 only when a notify chose it: never spuriously. (Still
 * wait in a loop over your predicate, or use mp_condition_wait_for: another
 * thread may take the lock first and change the state.) */
MP_EXPORT int mp_condition_wait(mp_condition *c, double timeout);
/* Waits until pred(arg) is true, rechecking after every wake-up, the total
 * wait bounded by timeout: 0 when pred was true (at once or later),
 * MP_ETIMEOUT when it was still false at the end. pred runs with the lock
 * held. MP_EOWNERDEAD and MP_ENOTOWNER as for wait. */
MP_EXPORT int mp_condition_wait_for(mp_condition *c, bool (*pred)(void *arg), void *arg,
                                    double timeout);
/* Python's notify(n) / notify_all(): ends the waits of min(n, number of
 * waiting) of the waits that began before the call, and never of more:
 * at most n, exactly. A wait that begins after the call is not woken by
 * it. n <= 0 does nothing. Caveat: a waiter killed while waiting still
 * counts as one; a wake-up granted to it goes to a later waiter after a
 * later notify. The caller must hold the lock: MP_ENOTOWNER otherwise. */
MP_EXPORT int mp_condition_notify(mp_condition *c, int n);
MP_EXPORT int mp_condition_notify_all(mp_condition *c);
MP_EXPORT size_t mp_condition_memsize(void);
/* A condition in caller memory over `lock` (required here, borrowed). */
MP_EXPORT mp_condition *mp_condition_init(void *mem, mp_lock *lock);
MP_EXPORT mp_condition *mp_condition_attach(void *mem, mp_lock *lock);
/* The handle has the condition's part and then its lock's. */
MP_EXPORT int mp_condition_handle(const mp_condition *c, mp_handle *h);
/* Opens the condition and its lock (owned by the condition). */
MP_EXPORT mp_condition *mp_condition_open(const mp_handle *h);
/* Frees the condition, and its lock if the condition created or opened it. */
MP_EXPORT void mp_condition_free(mp_condition *c);

/* ---- Barrier ---------------------------------------------------------------- */
typedef struct mp_barrier mp_barrier;

/* Runs in exactly one of the processes once all parties have arrived,
 * before any is released. A negative return breaks the barrier: that
 * process's wait returns it, the others MP_EBROKEN. */
typedef int (*mp_barrier_action)(void *arg);

/* parties >= 1 processes or threads must call wait before any returns.
 * action may be NULL. timeout is the default for mp_barrier_wait
 * (MP_FOREVER: none). NULL with errno EINVAL for parties < 1, a NaN timeout
 * or parties above 65536. The action is called only in processes that
 * inherited it by fork or that passed it to mp_barrier_open. */
MP_EXPORT mp_barrier *mp_barrier_new(int parties, mp_barrier_action action, void *arg,
                                     double timeout);
/* Waits with the barrier's default timeout. Returns an index in
 * 0..parties-1, different for each party of a round; MP_EBROKEN when the
 * barrier is or becomes broken (aborted, reset, or a party died, failed its
 * action or timed out); a negative action result. A timeout breaks the
 * barrier and returns MP_EBROKEN, as in Python. */
MP_EXPORT int mp_barrier_wait(mp_barrier *b);
MP_EXPORT int mp_barrier_wait_timeout(mp_barrier *b, double timeout);
/* Returns the barrier to its empty state; parties waiting get MP_EBROKEN. */
MP_EXPORT void mp_barrier_reset(mp_barrier *b);
/* Breaks the barrier: current and future waits return MP_EBROKEN until
 * reset. */
MP_EXPORT void mp_barrier_abort(mp_barrier *b);
MP_EXPORT int mp_barrier_parties(const mp_barrier *b);
/* Parties waiting in the current round. */
MP_EXPORT int mp_barrier_n_waiting(const mp_barrier *b);
MP_EXPORT bool mp_barrier_broken(const mp_barrier *b);
/* 0 for a bad parties count. */
MP_EXPORT size_t mp_barrier_memsize(int parties);
MP_EXPORT mp_barrier *mp_barrier_init(void *mem, int parties, mp_barrier_action action,
                                      void *arg, double timeout);
MP_EXPORT mp_barrier *mp_barrier_attach(void *mem, mp_barrier_action action, void *arg);
MP_EXPORT int mp_barrier_handle(const mp_barrier *b, mp_handle *h);
/* The action is this process's (a function pointer means nothing in
 * another program). */
MP_EXPORT mp_barrier *mp_barrier_open(const mp_handle *h, mp_barrier_action action,
                                      void *arg);
MP_EXPORT void mp_barrier_free(mp_barrier *b);

MP_EXTERN_C_END

#endif
