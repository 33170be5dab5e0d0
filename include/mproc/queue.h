/* mproc/queue.h: Queue, SimpleQueue and JoinableQueue (the reference's
 * 17.2.2.2): multi-producer, multi-consumer FIFO queues of byte items,
 * shared by threads and processes.
 *
 * How they differ from Python's:
 * - No feeder thread. When mp_queue_put() returns, the item is in the
 *   queue's shared memory; a process may exit (or be joined) right after
 *   putting, and nothing is lost or stuck. close(), join_thread() and
 *   cancel_join_thread() exist for familiarity and are cheap (see below).
 * - A put or get that does not have to wait makes no system call; waiting
 *   uses futexes after a short spin.
 * - A producer or consumer killed at any moment (SIGKILL included) leaves no
 *   partial item and no stuck queue: an item is published only when it has
 *   been copied whole, and removed only after it has been copied out.
 * - Timeouts are double seconds (MP_FOREVER blocks, 0 polls). As in Python,
 *   a put that gives up returns MP_EFULL (queue.Full) and a get that gives
 *   up returns MP_EEMPTY (queue.Empty), whether it waited or not.
 *
 * Items are bytes: put copies them in, get copies them out. maxsize counts
 * items, not bytes. A queue created with maxsize <= 0 is unbounded, as in
 * Python: put never waits, and the queue grows in shared memory as needed.
 * An item may be of any size, far beyond the queue's ring (gigabytes);
 * large items are stored out of line and their memory is reused.
 *
 * Items put by one thread come out in the order it put them. Items from
 * different producers interleave in some order.
 *
 * One type, mp_queue, serves the three Python classes; mp_queue_task_done()
 * and mp_queue_join() need a queue made by mp_joinable_queue_new().
 *
 * Sharing: a child created by fork (mp_process with the fork start method)
 * uses the parent's mp_queue pointer as is; any other process opens the
 * queue from an mp_handle (mp_queue_handle, mp_handle_send / _recv,
 * mp_queue_open; see mproc/shm.h). Each process owns its mp_queue:
 * mp_queue_free() releases this process's mapping; the memory goes when the
 * last process lets go. Every function is thread-safe on one handle except
 * mp_queue_free(), which no other thread may be using the handle during. */
#ifndef MPROC_QUEUE_H
#define MPROC_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include "errors.h"
#include "obj.h"
#include "shm.h"

MP_EXTERN_C_BEGIN

typedef struct mp_queue mp_queue;

/* Python's Queue(maxsize). maxsize <= 0 is unbounded (Python reads it as
 * SEM_VALUE_MAX). maxsize above MP_QUEUE_MAXSIZE_MAX fails with
 * errno = -MP_EVALUE (Python raises ValueError). Returns NULL with errno
 * set on failure (ENOMEM, EMFILE, ...). Free with mp_queue_free(). */
#define MP_QUEUE_MAXSIZE_MAX 2147483647L
MP_EXPORT mp_queue *mp_queue_new(long maxsize);

/* Python's SimpleQueue: unbounded; put, get, empty, close. The same calls
 * as a Queue (the extra ones work too). */
MP_EXPORT mp_queue *mp_simple_queue_new(void);

/* Python's JoinableQueue(maxsize): a Queue with task_done() and join(). */
MP_EXPORT mp_queue *mp_joinable_queue_new(long maxsize);

/* Releases this process's handle and mapping. Items still in the queue stay
 * for other processes that hold it; with the last handle they are gone.
 * mp_queue_free(NULL) does nothing. */
MP_EXPORT void mp_queue_free(mp_queue *q);

/* Fills h with the queue's handle: type MP_TYPE_QUEUE, one part (the
 * queue's memfd, offset 0, its whole size). The descriptor is borrowed: it
 * stays valid while q is open in this process; never close it. Returns 0 or
 * -EINVAL for NULL arguments. */
MP_EXPORT int mp_queue_handle(const mp_queue *q, mp_handle *h);

/* Opens the queue a handle names, in a process that did not inherit it
 * (the handle typically came from mp_handle_recv). The handle's descriptors
 * stay the caller's (this maps the queue and keeps its own duplicate).
 * Returns the queue (free with mp_queue_free), or NULL with errno:
 * -MP_ETYPE (the handle names something else), -MP_EPROTO (the descriptor
 * is not a queue), EINVAL, ENOMEM, EMFILE. */
MP_EXPORT mp_queue *mp_queue_open(const mp_handle *h);

/* ---- put --------------------------------------------------------------- */

/* Copies len bytes at data into the queue as one item. Waits while a
 * bounded queue is full, for at most timeout seconds (MP_FOREVER: no limit;
 * 0: do not wait — Python's block=False). When it returns 0 the item is
 * in the queue, visible to every process.
 * Returns 0; MP_EFULL when no room came in time; MP_ECLOSED after
 * mp_queue_close() on this handle; -EINVAL for q NULL, data NULL with
 * len > 0, or a NaN timeout; -ENOMEM when shared memory runs out. */
MP_EXPORT int mp_queue_put(mp_queue *q, const void *data, size_t len,
                           double timeout);

/* mp_queue_put(q, data, len, 0): Python's put_nowait(). */
MP_EXPORT int mp_queue_put_nowait(mp_queue *q, const void *data, size_t len);

/* ---- get --------------------------------------------------------------- */

/* Removes the oldest item and returns a copy: *data (free it with mp_free;
 * never NULL on success, even for an empty item) and *len. Waits for an
 * item for at most timeout seconds (0: do not wait).
 * Returns 0; MP_EEMPTY when no item came in time; MP_ECLOSED after
 * mp_queue_close(); -EINVAL for NULL arguments or a NaN timeout; -ENOMEM
 * when the copy cannot be allocated (the item stays in the queue);
 * MP_EPROTO when the queue's shared memory was overwritten by someone
 * (it is checked, never followed outside the queue). */
MP_EXPORT int mp_queue_get(mp_queue *q, void **data, size_t *len,
                           double timeout);

/* mp_queue_get(q, data, len, 0): Python's get_nowait(). */
MP_EXPORT int mp_queue_get_nowait(mp_queue *q, void **data, size_t *len);

/* Like mp_queue_get() but copies the item into buf (cap bytes), avoiding an
 * allocation. *len receives the item's length. When the item is longer than
 * cap, returns MP_ETOOSHORT with *len set to the length needed, and the item
 * stays at the front of the queue. buf may be NULL when cap is 0. */
MP_EXPORT int mp_queue_get_into(mp_queue *q, void *buf, size_t cap,
                                size_t *len, double timeout);

/* A received item that may live in the queue's shared memory (see
 * mp_queue_get_view). data and len are for reading; the rest is private. */
typedef struct mp_queue_item {
  const void *data;
  size_t len;
  mp_queue *q_;
  unsigned long long blk_;
  void *buf_;
} mp_queue_item;

/* Like mp_queue_get() without the copy for big items: an item stored out
 * of line (above a few KiB) is handed over in place, item->data pointing
 * into the queue's shared memory; a small one is copied. Either way the
 * item has left the queue when this returns 0, and item->data stays valid
 * and readable until mp_queue_item_release(item), which must come before
 * mp_queue_free(q). Do not write through data. Codes as mp_queue_get. A
 * process that dies holding an item leaks its memory until the queue's
 * last handle goes. */
MP_EXPORT int mp_queue_get_view(mp_queue *q, mp_queue_item *item,
                                double timeout);

/* Gives an item's memory back (to the queue, or mp_free for a copy) and
 * clears *item. NULL or a cleared item does nothing. */
MP_EXPORT void mp_queue_item_release(mp_queue_item *item);

/* ---- typed values (Python's pickled objects) ---------------------------- */

/* Puts obj (encoded as MessagePack, see mproc/obj.h) as one item: what
 * Python's q.put([42, None, 'hello']) does. The caller keeps obj. Codes as
 * mp_queue_put, plus the encoder's (-ENOMEM; -EINVAL for NULL obj). */
MP_EXPORT int mp_queue_put_obj(mp_queue *q, const mp_obj *obj, double timeout);

/* Gets one item and decodes it into *obj (a new reference: mp_obj_free).
 * Codes as mp_queue_get; MP_EDECODE when the item is not an encoded mp_obj
 * (the item has been taken from the queue and is dropped). */
MP_EXPORT int mp_queue_get_obj(mp_queue *q, mp_obj **obj, double timeout);

/* ---- size -------------------------------------------------------------- */

/* The approximate number of items in the queue (items whose put returned,
 * minus items whose get returned). As in Python, other processes may change
 * it at any moment. 0 for NULL. */
MP_EXPORT size_t mp_queue_qsize(mp_queue *q);

/* True when no item is ready to get (approximate, as in Python). */
MP_EXPORT bool mp_queue_empty(mp_queue *q);

/* True when a bounded queue holds maxsize items (approximate). Always false
 * for an unbounded queue. */
MP_EXPORT bool mp_queue_full(mp_queue *q);

/* The queue's maxsize; 0 when unbounded. */
MP_EXPORT long mp_queue_maxsize(mp_queue *q);

/* ---- close / join_thread / cancel_join_thread -------------------------- */

/* Python's close(): this process (this handle) will put and get no more;
 * later puts and gets on this handle return MP_ECLOSED. Other processes
 * and handles are not affected, and items already put stay in the queue:
 * there is no buffered data to flush. Idempotent. Returns 0, or -EINVAL
 * for NULL. The mapping stays until mp_queue_free(). */
MP_EXPORT int mp_queue_close(mp_queue *q);

/* Python's join_thread(): waits until this process's buffered items reach
 * the queue. Here every put has completed before it returned, so this
 * returns at once: 0 after mp_queue_close(), MP_ESTATE before it (Python
 * asserts the queue is closed). */
MP_EXPORT int mp_queue_join_thread(mp_queue *q);

/* Python's cancel_join_thread(): lets the process exit without flushing.
 * Nothing is ever left unflushed here, so it does nothing. Returns 0. */
MP_EXPORT int mp_queue_cancel_join_thread(mp_queue *q);

/* ---- JoinableQueue ----------------------------------------------------- */

/* Marks one item taken by a get as processed. Returns 0; MP_EVALUE when
 * called more times than items were put (Python's ValueError); MP_ENOTSUP
 * on a queue not made by mp_joinable_queue_new(). */
MP_EXPORT int mp_queue_task_done(mp_queue *q);

/* Waits until every item ever put has been marked with task_done, for at
 * most timeout seconds (Python's join() has no timeout: pass MP_FOREVER).
 * Returns 0; MP_ETIMEOUT; MP_ENOTSUP on a queue that is not joinable. */
MP_EXPORT int mp_queue_join(mp_queue *q, double timeout);

MP_EXTERN_C_END

#endif
