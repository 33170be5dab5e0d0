/* shm_internal.h: the shared-memory layer as the other areas use it:
 * blocks of shared memory with a reference in each process that uses them,
 * the parts of handles, and descriptor passing over Unix sockets.
 *
 * Segments are memfds (sealed against shrinking), mapped MAP_SHARED whole.
 * A segment starts with a 64-byte header; blocks follow in 64-byte units.
 * Each block starts with a 16-byte header in shared memory (magic, type,
 * units, refs: the number of processes' references) and its payload starts
 * right after it, 16-byte aligned and zeroed when allocated.
 *
 * Allocation is per process. The process that created a segment (an
 * "arena") is its owner and the only one that allocates from it, with a
 * private bitmap. A forked child inherits the mappings but not the right
 * to allocate: its copy of the bitmap would hand out the same blocks as the
 * parent's, so it starts arenas of its own (Python's Heap does the same
 * when the pid changes). A block is reused only when its shared refs reach
 * 0: the owner puts it back at once if it dropped the last reference,
 * otherwise it remembers the block ("orphan") and takes it back when a
 * later allocation finds refs at 0.
 *
 * References: every mp__shm_ref (embedded in an object's private wrapper)
 * is one shared reference. fork adds one per live ref for the child (in
 * pthread_atfork's prepare handler, under the registry lock, so no free
 * slips between); a killed process never drops its references, which
 * leaks, never corrupts. A process unmaps a segment it does not own when
 * it holds no reference there; the owner unmaps a fully free arena unless
 * it is the last one it keeps for reuse. */
#ifndef MPROC_SHM_INTERNAL_H
#define MPROC_SHM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h> /* runtime_internal.h uses ssize_t */

#include "mproc/shm.h"
#include "runtime/runtime_internal.h"

/* The shared header before each block's payload. */
#define MP__BLK_MAGIC 0x6b6c426dU /* "mBlk" */
typedef struct mp__blk_hdr {
  uint32_t magic;
  uint32_t type;
  uint32_t units;   /* block length in MP__SHM_UNIT, header included */
  uint32_t refs;    /* processes' references; 0: free or being reused */
} mp__blk_hdr;
#define MP__SHM_UNIT 64
#define MP__BLK_HDR ((size_t)sizeof(mp__blk_hdr))

struct mp__seg;

/* One process's reference to a block. Embed it in the object's private
 * wrapper; it must not move while linked. Zero-initialised = no block. */
typedef struct mp__shm_ref {
  struct mp__shm_ref *prev, *next; /* the process's list of live refs */
  struct mp__seg *seg;
  void *ptr;                       /* payload */
  size_t size;                     /* payload bytes asked for */
  uint32_t type;
} mp__shm_ref;

/* Allocates a zeroed block of at least size bytes with the given type tag
 * and links ref to it (one shared reference). Thread-safe. Returns 0,
 * -ENOMEM, -EOVERFLOW for absurd sizes, or -errno from memfd/mmap. */
int mp__shm_alloc(mp__shm_ref *ref, size_t size, uint32_t type);

/* Opens the block a handle part names (mapping its segment in this process
 * if needed; the part's descriptor is duplicated, never taken) and links
 * ref to it, adding a shared reference. The block's type must be `type`
 * and its size at least min_size. Returns 0, MP_ETYPE, MP_ESTATE when the
 * block was already freed by everyone, -EINVAL / MP_EDECODE for a part
 * that does not name a block, or -errno. Thread-safe. */
int mp__shm_open(mp__shm_ref *ref, const mp_handle_part *part, uint32_t type,
                 size_t min_size);

/* Drops ref's shared reference and unlinks it; ref becomes zeroed. A zeroed
 * ref does nothing. The memory must not be touched through this ref again.
 * Thread-safe. */
void mp__shm_release(mp__shm_ref *ref);

/* Fills part for ref's block; the descriptor is borrowed from this
 * process's mapping. Returns 0 or -EINVAL for a zeroed ref. */
int mp__shm_part(const mp__shm_ref *ref, mp_handle_part *part);

/* A handle of the wrong kind (a Queue's opened as a Lock): MP_ETYPE, with
 * the two kinds named in this thread's error record (mp_last_error). */
int mp__shm_wrong_type(uint32_t got, uint32_t want);

/* Drops every reference this process holds (without unmapping): for a
 * child about to _exit, so its parent can reuse the blocks it inherited.
 * Nothing may use shared objects afterwards. The process area calls it. */
void mp__shm_exit(void);

/* Maps want bytes of fd (MAP_SHARED | MAP_NORESERVE: address space only),
 * or, when that is refused (RLIMIT_AS, valgrind), the largest power of two
 * of at least floor bytes that a share of the remaining address space
 * allows (reserve.c). Returns the mapping with *got its size, or NULL with
 * errno ENOMEM. The file itself is not resized. */
void *mp__shm_reserve(int fd, size_t want, size_t floor, size_t *got);
/* Whether the program runs under valgrind (its preload is in LD_PRELOAD). */
bool mp__under_valgrind(void);

/* Statistics for tests: segments mapped, segments owned, live refs. */
typedef struct mp__shm_stats {
  size_t segments, owned, refs;
} mp__shm_stats;
void mp__shm_get_stats(mp__shm_stats *st);

/* ---- Descriptor passing over Unix sockets ---------------------------------
 * For every area that hands descriptors to another process (handles,
 * connections, start methods). */

/* Sends len bytes (len >= 1) with nfds descriptors (SCM_RIGHTS, attached to
 * the first byte) over a connected Unix socket; the remaining bytes, if the
 * kernel took only part of them, go with plain writes. Returns 0 or -errno
 * (-EPIPE, never SIGPIPE). Blocks on a blocking socket. */
int mp__send_fds(int sock, const void *buf, size_t len, const int *fds,
                 size_t nfds);

/* Receives exactly len bytes and the descriptors sent with them (at most
 * maxfds; *nfds gets how many), waiting until the deadline (NULL: forever).
 * Received descriptors are CLOEXEC and the caller's. Returns 0, MP_ETIMEOUT,
 * MP_EEOF (closed before any byte), MP_ETRUNCATED (closed mid-message),
 * MP_EPROTO (more descriptors than maxfds: all received ones are closed),
 * or -errno. On failure no descriptor is left open. */
int mp__recv_fds(int sock, void *buf, size_t len, int *fds, size_t maxfds,
                 size_t *nfds, const mp__deadline *dl);

#endif
