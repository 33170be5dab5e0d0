/* queue_internal.h: the shared-memory layout of a queue and the pieces the
 * queue's source files share.
 *
 * A queue is one memfd, mapped whole (MAP_SHARED | MAP_NORESERVE) by every
 * process that uses it. The file is sparse: only pages that were written
 * take memory. It holds, at offset 0, the header below; after it a heap of
 * blocks (power-of-two-ish size classes, free lists, a bump pointer).
 *
 * Items are records in a chain of chunks (heap blocks): producers append at
 * the tail, consumers read at the head; when a chunk is full the producer
 * links a new one with a JUMP record, and the consumer that follows it
 * hands the old chunk back for reuse (a spare slot, then the heap). So the
 * steady state is two warm chunks used in turn, like a ring, and an
 * unbounded queue grows by linking more. Items above inline_max live in a
 * block of their own; the chunk holds a small OOL record pointing at it.
 *
 * All references inside the file are offsets from its start: every process
 * maps it at a different address.
 *
 * Robustness: each side (producers, consumers) has a robust process-shared
 * mutex. Everything a side changes becomes visible through one commit: a
 * redo log (new position, count, chunk; then a valid flag) followed by the
 * stores themselves. A process that finds the lock's owner dead (EOWNERDEAD)
 * replays a valid log or ignores an invalid one; either way the state is
 * one that some completed operation left. Payload bytes are written before
 * the commit (producers) and copied out before it (consumers). What a death
 * can cost is memory: a block or chunk taken but not yet linked is leaked
 * until the queue's last handle goes. */
#ifndef MPROC_QUEUE_INTERNAL_H
#define MPROC_QUEUE_INTERNAL_H

#include <pthread.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h> /* runtime_internal.h uses ssize_t */

#include "mproc/queue.h"
#include "runtime/runtime_internal.h"

#define MP__Q_MAGIC 0x326575657571706dULL /* "mpqueue2": the consumers cache the tail */

enum mp__qkind { MP__Q_QUEUE = 0, MP__Q_SIMPLE = 1, MP__Q_JOINABLE = 2 };

/* Record types: the top byte of a record's first word; the rest is the
 * payload length. Records are 8-byte aligned. */
enum { MP__REC_INLINE = 1, MP__REC_OOL = 2, MP__REC_JUMP = 3 };
#define MP__REC_TYPE(w) ((unsigned)((w) >> 56))
#define MP__REC_LEN(w) ((w) & ((UINT64_C(1) << 56) - 1))
#define MP__REC_WORD(type, len) (((uint64_t)(type) << 56) | (uint64_t)(len))
/* JUMP: word, target position, the block of the chunk being left. */
#define MP__JUMP_SIZE 24
#define MP__OOL_SIZE 16

/* Size classes: 1 KiB and up, four per power of two (1, 1.25, 1.5, 1.75). */
#define MP__Q_MIN_CLASS_SHIFT 10
#define MP__Q_NCLASS (4 * (48 - MP__Q_MIN_CLASS_SHIFT))

/* One side of the queue: producers (tail) or consumers (head). */
typedef struct mp__qside {
  pthread_mutex_t lock;     /* robust, process-shared */
  uint64_t pos;             /* next record to write / read (file offset) */
  uint64_t count;           /* items ever put / got */
  uint64_t chunk;           /* producers: block of the tail chunk */
  uint64_t pending;         /* producers: a chunk taken, not yet linked */
  uint64_t log_pos, log_count, log_chunk;
  uint32_t log_valid;       /* redo log: replayed by the next owner */
  /* consumers: prod.pos as last read (0: not yet), a committed tail at or
   * after pos, so gets up to it need not read the producers' line (which
   * holds their lock: each read would pull it away from the producer). */
  uint64_t tail_seen;
} mp__qside;

/* A heap block's header; the payload follows at +MP__QBLK_HDR. */
#define MP__QBLK_HDR 64
typedef struct mp__qblock {
  uint64_t size;            /* class size, header included */
  uint64_t next;            /* free list link */
  uint32_t cls;
  uint32_t warm;            /* 1: pages kept (counted in heap.cached) */
} mp__qblock;

typedef struct mp__qheap {
  pthread_mutex_t lock;     /* robust; every change is one store */
  uint64_t bump;            /* first never-used offset */
  uint64_t cached;          /* bytes in warm free blocks of large classes */
  uint64_t free_head[MP__Q_NCLASS];
} mp__qheap;

typedef struct mp__qhdr {
  uint64_t magic;
  uint64_t region_size;
  uint32_t kind;
  uint32_t pad0;
  int64_t maxsize;          /* 0: unbounded */
  uint64_t chunk_size;      /* class size of a chunk block */
  uint64_t inline_max;      /* larger payloads go out of line */
  alignas(64) mp__qside prod;
  alignas(64) mp__qside cons;
  /* Futex words for sleeping: bit 0 "someone may sleep", the rest a wake
   * count (see wait_until in queue.c). Consumers sleep on data_seq,
   * producers of a bounded queue on space_seq, join() on join_seq. */
  alignas(64) uint32_t data_seq;
  alignas(64) uint32_t space_seq;
  alignas(64) uint64_t ndone; /* JoinableQueue: task_done calls */
  uint32_t join_seq;
  alignas(64) uint64_t spare_chunk; /* a drained chunk kept for the next jump */
  alignas(64) mp__qheap heap;
} mp__qhdr;

#define MP__Q_HDR_SIZE (((sizeof(mp__qhdr) + 4095) / 4096) * 4096)

/* This process's handle. */
struct mp_queue {
  mp__qhdr *h;
  char *base;               /* == (char *)h */
  size_t map_len;
  int fd;
  int closed;               /* atomic; per handle, as Python's _closed */
};

/* ---- segment and heap (queue_heap.c) ------------------------------------ */
typedef struct mp__qparams {
  int kind;
  long maxsize;
  uint64_t region_size;     /* 0: default */
  uint64_t chunk_size;      /* 0: default */
} mp__qparams;

/* Creates the memfd, maps it, lays out the header and the first chunk. */
mp_queue *mp__queue_create(const mp__qparams *p);
/* Maps an existing queue's memfd (fd is duplicated; the caller keeps its). */
mp_queue *mp__queue_attach(int fd);

/* Allocates a block whose payload holds n bytes; returns its offset or 0
 * (ENOMEM: the region is exhausted). */
uint64_t mp__qheap_alloc(mp_queue *q, uint64_t n);
/* Returns a block to its free list; large ones beyond the cache limit give
 * their pages back to the kernel. */
void mp__qheap_free(mp_queue *q, uint64_t blk);
/* Locks a robust mutex, waiting until the deadline (NULL: forever); on
 * EOWNERDEAD makes it consistent (the caller's replay runs first through
 * on_dead). Returns 0, MP_ETIMEOUT, or a negative code. */
int mp__qlock(pthread_mutex_t *m, const mp__deadline *dl,
              void (*on_dead)(void *), void *arg);
void mp__qunlock(pthread_mutex_t *m);
/* The longest single sleep (lock or futex): sleepers wake this often to
 * re-check, so a wake-up lost to a process killed at the wrong moment
 * costs at most this long. */
#define MP__Q_SLICE_NS 100000000 /* 100 ms */
/* The end of the next sleep: dl, or MP__Q_SLICE_NS from now if sooner
 * (dl NULL: forever). */
mp__deadline mp__qslice(const mp__deadline *dl);

static inline void *mp__qptr(mp_queue *q, uint64_t off) { return q->base + off; }
static inline mp__qblock *mp__qblk(mp_queue *q, uint64_t off) {
  return (mp__qblock *)(q->base + off);
}

/* Test hook: called at the points where a death matters most; tests make
 * it raise SIGKILL. NULL in normal use. Points: */
enum {
  MP__QHOOK_PUT_WRITTEN = 1, /* payload written, not yet committed */
  MP__QHOOK_GET_COPIED = 2,  /* payload copied out, not yet committed */
  MP__QHOOK_OOL_COPY = 3,    /* in the middle of an out-of-line copy */
  MP__QHOOK_HEAP_LOCKED = 4, /* holding the heap lock */
  MP__QHOOK_JUMP = 5,        /* a jump written, not yet committed */
  MP__QHOOK_WAKE = 6,        /* sleeper bit cleared, futex_wake not yet made */
};
extern void (*mp__queue_hook)(int point);
#define MP__QHOOK(pt)                                                          \
  do {                                                                         \
    if (MP__UNLIKELY(mp__queue_hook != NULL))                                  \
      mp__queue_hook(pt);                                                      \
  } while (0)

#endif
