/* mproc/shm.h: handles, the way a shared object travels to a process that
 * did not inherit it by fork (the reference's "pickling" of locks, values
 * and queues for the spawn and forkserver start methods).
 *
 * Every shared object (lock, semaphore, event, condition, barrier, value,
 * ...) lives in a block of a shared memory segment: an anonymous memfd
 * mapped MAP_SHARED. Nothing is ever created in /dev/shm or in the file
 * system, so nothing is left behind when the processes end, even when all
 * of them are killed with SIGKILL: the kernel frees a segment when its last
 * mapping and descriptor go.
 *
 * A handle names an object: a type tag and up to MP_HANDLE_MAX_PARTS parts,
 * one per block the object is made of (a condition is its own block plus
 * its lock's; a value with a lock is the data plus the lock). A part is the
 * segment's descriptor, the block's offset and size and the block's type.
 *
 * To pass an object to another process:
 *   sender:   mp_lock_handle(lock, &h);   mp_handle_send(sock, &h);
 *   receiver: mp_handle_recv(sock, &h, MP_FOREVER);
 *             mp_lock *l = mp_lock_open(&h);  mp_handle_close(&h);
 * or carry the bytes yourself: mp_handle_encode() gives MP_HANDLE_WIRE_SIZE
 * bytes and the descriptors to pass with SCM_RIGHTS; mp_handle_decode()
 * rebuilds the handle on the other side.
 *
 * Descriptor ownership: a handle filled by an object's `_handle` function
 * borrows the descriptors of this process's mapping (valid while the object
 * stays open here; never close them). A handle filled by mp_handle_recv
 * owns its descriptors: close them with mp_handle_close() once the object is
 * open (opening maps the segment and keeps its own descriptor). A handle
 * filled by mp_handle_decode borrows the caller's descriptors.
 *
 * Lifetime: each process that creates, opens, or inherits (by fork) an
 * object holds one reference to it; `_free` drops this process's reference.
 * The block is reused only when no process holds a reference; a process
 * killed while holding one leaks the block until its segment goes (when
 * every process that mapped it has ended or let go). */
#ifndef MPROC_SHM_H
#define MPROC_SHM_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"

MP_EXTERN_C_BEGIN

/* Type tags of shared objects and of their blocks. A block opened with the
 * wrong type fails with MP_ETYPE. Areas add their tags here. */
enum mp_type {
  MP_TYPE_NONE = 0,
  MP_TYPE_RAW = 1,         /* plain bytes (no structure known to the library) */
  MP_TYPE_LOCK = 2,        /* Lock and RLock */
  MP_TYPE_SEMAPHORE = 3,   /* Semaphore and BoundedSemaphore */
  MP_TYPE_EVENT = 4,
  MP_TYPE_CONDITION = 5,
  MP_TYPE_BARRIER = 6,
  MP_TYPE_VALUE = 16,      /* Value, RawValue */
  MP_TYPE_ARRAY = 17,      /* Array, RawArray */
  MP_TYPE_QUEUE = 32,
};

#define MP_HANDLE_MAX_PARTS 4
/* The encoded size of every handle: a fixed size, so a receiver knows how
 * many bytes to read. */
#define MP_HANDLE_WIRE_SIZE 112

typedef struct mp_handle_part {
  int fd;            /* the segment's descriptor (see ownership above) */
  uint32_t type;     /* the block's type tag (enum mp_type) */
  uint64_t offset;   /* where the block's payload starts in the segment */
  uint64_t size;     /* the payload's size in bytes */
} mp_handle_part;

typedef struct mp_handle {
  uint32_t type;     /* the object's type tag (enum mp_type) */
  uint32_t nparts;   /* 1..MP_HANDLE_MAX_PARTS */
  mp_handle_part parts[MP_HANDLE_MAX_PARTS];
} mp_handle;

/* Writes the handle's MP_HANDLE_WIRE_SIZE bytes into buf (cap must be at
 * least that) and its descriptors, in order, into fds (room for
 * MP_HANDLE_MAX_PARTS); *nfds gets their number. The descriptors are the
 * handle's own (not duplicated). Returns 0, -EINVAL for a malformed handle,
 * MP_ETOOSHORT when cap is too small. */
MP_EXPORT int mp_handle_encode(const mp_handle *h, void *buf, size_t cap,
                               int *fds, size_t *nfds);

/* Rebuilds a handle from len bytes and nfds descriptors received with them.
 * The handle borrows the descriptors (the caller still owns them). Returns
 * 0 or MP_EDECODE when the bytes are not a handle or do not match the
 * descriptors. Never reads past len. Thread-safe. */
MP_EXPORT int mp_handle_decode(const void *buf, size_t len, const int *fds,
                               size_t nfds, mp_handle *h);

/* Sends the handle over a connected Unix socket: its bytes and its
 * descriptors (SCM_RIGHTS) in one message. Returns 0 or -errno (-EPIPE when
 * the peer is gone; SIGPIPE is never raised). */
MP_EXPORT int mp_handle_send(int sock, const mp_handle *h);

/* Receives a handle sent by mp_handle_send, waiting up to timeout seconds.
 * On success the handle owns the received descriptors (CLOEXEC): close them
 * with mp_handle_close(). Returns 0, MP_ETIMEOUT, MP_EEOF when the peer
 * closed first, MP_EDECODE / MP_EPROTO for a malformed message (any
 * descriptors received are closed), or -errno. */
MP_EXPORT int mp_handle_recv(int sock, mp_handle *h, double timeout);

/* Closes the descriptors of a handle that owns them (from mp_handle_recv)
 * and marks them -1. NULL does nothing. */
MP_EXPORT void mp_handle_close(mp_handle *h);

MP_EXTERN_C_END

#endif
