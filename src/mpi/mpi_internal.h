/* mpi_internal.h: what the MPI library's files share: the messages between
 * rank 0 and the serving ranks, the process-wide state, and the two halves
 * (engine.c on rank 0, serve.c on the others).
 *
 * Messages (MPI_BYTE, MPI_COMM_WORLD, in host byte order: every rank runs
 * the same program, so the same architecture; a magic word catches a
 * stranger). A serving rank only ever talks to rank 0:
 *   0 -> r  OPEN   a pool gets slots on r: make its local pool
 *   0 -> r  CHUNK  chunks of items to run (a batch: one or several small
 *                  ones); answered by one RESULT with a section each
 *   0 -> r  END    the pool is finished (or terminated): drop it
 *   0 -> r  STOP   exit
 *   r -> 0  RESULT the chunk's results, all items at once
 *   both    BEAT   "alive", every MPIW_BEAT_NS from both sides
 * Decoders check every length against the message's size. */
#ifndef MPROC_MPI_INTERNAL_H
#define MPROC_MPI_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "mproc/mpi.h"
#include "pool/pool_backend.h"

enum { MPIW_OPEN = 1, MPIW_CHUNK, MPIW_END, MPIW_STOP, MPIW_RESULT,
       MPIW_BEAT };

#define MPIW_MAGIC 0x6d706977u          /* "mpiw" */
#define MPIW_BEAT_NS 100000000LL        /* heartbeat period */
#define MPIW_DEAD_NS_DEFAULT 2000000000LL /* silence that means dead */

typedef struct mpiw_open {
  uint32_t magic, pool;
  int32_t nlocal;          /* workers of its local pool */
  uint32_t has_init;
  uint64_t maxtasks, max_memory, initarg_len;
  double task_timeout;
  mp__fnref init;
  /* initarg_len bytes follow */
} mpiw_open;

/* The head of CHUNK and RESULT messages: n sections follow, each a
 * mpiw_chunk (or mpiw_result) with its data, `bytes` long (a multiple
 * of 8). */
typedef struct mpiw_batch {
  uint32_t magic, pool;
  uint64_t id;             /* rank 0's request id, echoed in the RESULT */
  uint32_t n, pad;
} mpiw_batch;

typedef struct mpiw_chunk {
  uint64_t bytes;          /* this section, head included */
  mp__fnref fn;
  uint64_t first;
  uint32_t count, pad;
  uint64_t in_size;        /* > 0: count inputs of in_size bytes follow;
                            * 0: count uint64 lengths, then the bytes */
  uint64_t out_size;       /* > 0: a fixed-size map */
} mpiw_chunk;

typedef struct mpiw_end {
  uint32_t magic, pool;
} mpiw_end;

typedef struct mpiw_stop {
  uint32_t magic;
  uint32_t lost;           /* a rank died: leave without MPI_Finalize */
} mpiw_stop;

typedef struct mpiw_result {
  uint64_t bytes;          /* this section, head included */
  uint32_t count, nitems;  /* nitems mpiw_item entries follow */
  uint64_t out_size;       /* > 0: count * out_size output bytes first
                            * (padded to 8) */
} mpiw_result;

/* One item's outcome: code 0 and len result bytes (record outputs), or a
 * failure (code, signo, status, len message bytes). Padded to 8. */
typedef struct mpiw_item {
  uint32_t k;
  int32_t code, signo, status;
  uint64_t len;
} mpiw_item;

#define MPIW_PAD8(n) (((n) + 7) & ~(uint64_t)7)

/* ---- process-wide state (init.c) ------------------------------------------ */
#define MPIW_HOST_MAX 64
typedef struct mpiw_global {
  int rank, size;
  int *cpus;               /* rank 0: each rank's usable CPUs */
  char *hosts;             /* rank 0: each rank's host, MPIW_HOST_MAX apart */
  int64_t dead_ns;         /* MP_MPI_DEAD_TIMEOUT, seconds */
  const mp__pool_core *core;
  bool finalized;
} mpiw_global;
extern mpiw_global mpiw_g;

int64_t mpiw_now_ns(void);
/* Logs to stderr with the rank: "mproc-mpi[rank 2]: ...". */
void mpiw_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* engine.c: registers the "mpi" backend (every rank: it sets core). */
int mpiw_register(void);
/* Rank 0: starts the progress thread. */
int mpiw_engine_start(void);
/* Tells every serving rank to stop and ends the thread. */
void mpiw_engine_stop(void);
/* Whether a serving rank died (MPI_Finalize would wait for it). */
bool mpiw_engine_lost_rank(void);

/* serve.c (ranks > 0): serves until told to stop; never returns. */
_Noreturn void mpiw_serve(void);

#endif
