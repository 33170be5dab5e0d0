/* pool_internal.h: the pool's shared-memory transport, its jobs and chunks,
 * and the functions its files share.
 *
 * Transport (one memfd mapping, "control", shared by the parent and every
 * worker):
 * - A ring of task cells. The parent (one producer at a time, under the
 *   pool mutex) writes a cell and publishes it; workers claim a cell with one
 *   compare-and-swap that both takes it and records which worker took it, so
 *   a worker killed at any instant leaves either an unclaimed cell or one
 *   that names it. The claimer copies the cell into its own slot, records
 *   the ring position there, then frees the cell for the next lap.
 * - One slot per worker: the chunk it holds, the item it is running (and
 *   since when, for time limits), how many items it finished, and a
 *   single-producer ring of result records that only it writes and only the
 *   parent's result thread reads. A dead worker's ring is drained to its last
 *   committed record; what the slot says then tells exactly which item was
 *   running (it fails) and which never started (they run elsewhere).
 * Data (a second memfd, "arena", allocated by the parent only): argument
 * bytes, map inputs and fixed-size map outputs, addressed by offset.
 *
 * Waking: workers sleep on a futex when the ring is empty (the parent wakes
 * them only when some are asleep); the result thread sleeps in poll() on an
 * eventfd (written by a worker only when the thread said it is asleep) and
 * the workers' pidfds, with a timeout at the nearest task deadline. */
#ifndef MPROC_POOL_INTERNAL_H
#define MPROC_POOL_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "context/context_internal.h"
#include "mproc/pool.h"
#include "pool_backend.h"
#include "mproc/process.h"
#include "runtime/runtime_internal.h"

/* ---- Shared layout ------------------------------------------------------------ */

#define POOL__NCELLS 1024u          /* task cells; power of two */
#define POOL__INLINE 56u            /* argument bytes carried in the cell */
#define POOL__RING_CAP (64u << 10)  /* bytes of each worker's result ring */
#define POOL__FRAG_MAX (POOL__RING_CAP / 4) /* largest payload per record */
#define POOL__MAX_PROCS 4096

/* A cell's state word: (ring position << 16) | tag. */
#define POOL__TAG_FREE 0u   /* free for the producer at this position */
#define POOL__TAG_READY 1u  /* published, not claimed */
#define POOL__TAG_WORKER 2u /* claimed by worker (tag - 2) */
#define POOL__STATE(pos, tag) (((uint64_t)(pos) << 16) | (tag))

enum { POOL__IN_INLINE = 1, POOL__IN_FIXED, POOL__IN_IOV };
enum { POOL__OUT_RECORD = 1, POOL__OUT_FIXED };

/* One chunk of one job: items first .. first + count - 1. 128 bytes. */
typedef struct pool__cell {
  uint64_t state;
  uint64_t token;    /* the parent's chunk id: (generation << 32) | index */
  uint64_t fn;       /* fork, thread: the mp_task_fn's address; spawn,
                      * forkserver: its index in the function table */
  uint64_t first;    /* index of the first item in its job */
  uint32_t count;
  uint16_t in_kind, out_kind;
  uint64_t in_off;   /* arena: FIXED first item's input; IOV its table entry */
  uint64_t in_size;  /* FIXED/INLINE: bytes per item */
  uint64_t out_off;  /* FIXED: first item's output element */
  uint64_t out_size;
  alignas(8) unsigned char inl[POOL__INLINE];
} pool__cell;

/* An IOV job's table in the arena: where each item's bytes are. */
typedef struct pool__iov {
  uint64_t off, len;
} pool__iov;

/* Result records in a worker's ring; 8-byte aligned, never split. */
enum {
  POOL__REC_PAD = 1, /* skip to the end of the ring */
  POOL__REC_RESULT,  /* item succeeded; payload = result bytes */
  POOL__REC_ERROR,   /* item failed; status, payload = message */
  POOL__REC_DONE,    /* fixed-output chunk finished */
};
#define POOL__F_LAST 1u /* the chunk is finished after this record */
#define POOL__F_MORE 2u /* a fragment: the payload continues */
#define POOL__F_STALE 4u /* the task function is not in the worker's program */
#define POOL__F_CODE 8u  /* a backend's error: payload = pool__rec_err, message */

typedef struct pool__rec {
  uint32_t size; /* whole record, header included, multiple of 8 */
  uint16_t type, flags;
  uint64_t token;
  uint64_t item;
  int32_t status;
  uint32_t len; /* payload bytes */
} pool__rec;

/* The payload head of a POOL__F_CODE error record (then the message). */
typedef struct pool__rec_err {
  int32_t code, signo, status, pad;
} pool__rec_err;

/* POOL__W_SETUP_FAILED: a spawned worker could not map the pool or find
 * its initializer; init_status holds the library code. */
/* POOL__W_GONE: a backend's proxy whose remote end is gone for good (no
 * replacement). */
enum { POOL__W_STARTING = 0, POOL__W_READY, POOL__W_INIT_FAILED,
       POOL__W_SETUP_FAILED, POOL__W_GONE };

typedef struct pool__slot {
  /* Written by the worker. */
  alignas(64) uint64_t seq;    /* 1 + ring position of the held cell; 0 none */
  uint64_t running;            /* 1 + index of the running item; 0 none */
  int64_t started_ns;          /* when it started (only with time limits) */
  uint32_t progress;           /* items of the held chunk finished */
  uint32_t state;              /* POOL__W_* */
  int32_t init_status;
  pool__cell task;             /* the held cell, copied */
  /* Result ring: tail written by the worker, head by the result thread. */
  alignas(64) uint32_t tail;
  uint32_t prod_waiting;       /* the worker sleeps on head for space */
  alignas(64) uint32_t head;
} pool__slot;

typedef struct pool__shm {
  alignas(64) uint64_t cons_pos; /* next position to claim (a hint) */
  alignas(64) uint32_t work;     /* futex: bumped when work is published */
  uint32_t idle;                 /* workers asleep on `work` */
  uint32_t shutdown;             /* 1: workers exit when out of work;
                                  * 2 (terminate): exit now */
  alignas(64) uint32_t stop;     /* terminate: 1 (read per item: alone) */
  alignas(64) uint32_t collector_sleeping;
  uint32_t helpers_active;       /* waiters draining rings themselves */
  alignas(64) pool__cell cells[POOL__NCELLS];
} pool__shm;

#define POOL__LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define POOL__LOADR(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define POOL__STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define POOL__STORER(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define POOL__FENCE() __atomic_thread_fence(__ATOMIC_SEQ_CST)

static inline void pool__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield" ::: "memory");
#endif
}

/* Spawn and forkserver workers run another image of the program, where a
 * task function's address means nothing: the parent lists each function
 * once, as an mp__fnref, in this table after the rings (append-only: n is
 * published after the entry), and cells carry the index. */
#define POOL__NFNS 1024u
typedef struct pool__fntab {
  uint32_t n;
  mp__fnref refs[POOL__NFNS];
} pool__fntab;

/* How the workers start: mp_pool_opts.start_method. */
/* POOL__M_BACKEND: a registered backend (pool_backend.h) runs the chunks;
 * the workers are proxy threads. */
enum { POOL__M_FORK = 0, POOL__M_SPAWN, POOL__M_FORKSERVER, POOL__M_THREAD,
       POOL__M_BACKEND };

/* ---- Arena (arena.c) ------------------------------------------------------------- */

/* Shared memory for task data: a memfd mapped once with a large reserved
 * size and grown with ftruncate, so workers forked earlier see later
 * growth. Allocation metadata is private to the parent. Reference-counted:
 * a result whose outputs live here keeps it mapped after the pool is gone. */
typedef struct pool__arena pool__arena;
#define POOL__NOOFF UINT64_MAX

pool__arena *pool__arena_new(void);
int pool__arena_fd(const pool__arena *a);
/* Returns an offset of a block of at least size bytes (64-byte aligned),
 * or POOL__NOOFF when memory or address space runs out. */
uint64_t pool__arena_alloc(pool__arena *a, size_t size);
void pool__arena_free(pool__arena *a, uint64_t off, size_t size);
char *pool__arena_base(const pool__arena *a);
size_t pool__arena_reserve(const pool__arena *a);
void pool__arena_ref(pool__arena *a);
void pool__arena_unref(pool__arena *a);

/* ---- Jobs (the parent's side of mp_result) ------------------------------------ */

enum { POOL__JOB_APPLY = 1, POOL__JOB_MAP, POOL__JOB_MAPB, POOL__JOB_IMAP };

#define POOL__SMALL 16u /* results this small live in their item */

typedef struct pool__item {
  void *data;           /* allocated, or small (then not to be freed) */
  size_t len;
  int code;             /* 0 or the failure */
  uint32_t done;        /* set (release) once data/code are final */
  mp_error *err;
  alignas(8) unsigned char small[POOL__SMALL];
} pool__item;

typedef struct pool__fail {
  size_t index;
  mp_error err;
} pool__fail;

struct mp_result {
  /* Fixed at submission. */
  mp_pool *pool;
  int kind, in_kind, out_kind;
  bool unordered;
  mp_task_fn fn;
  uint64_t fnid;        /* what the cells carry: see pool__cell.fn */
  size_t n, in_size, out_size, chunksize;
  pool__arena *arena;
  uint64_t in_off;
  size_t in_bytes;
  uint64_t out_off;     /* fixed outputs, in the arena */
  size_t out_bytes;
  void *user_out;
  mp_result_cb cb, ecb;
  void *ctx;
  int progress;
  unsigned char inl[POOL__INLINE];

  int refs; /* atomic: the user's, the pool's until completion */

  /* Under the pool mutex until ready. */
  size_t next_submit;   /* next item to put into a chunk */
  size_t in_ready;      /* items whose input is in the arena (a big map's
                         * input is copied while its first chunks run) */
  size_t nleft;         /* items not finished */
  mp_result *pend_next; /* jobs with items not yet submitted */
  mp_result *live_prev, *live_next; /* the pool's outstanding jobs */
  pool__fail *fails;    /* fixed outputs: failed items */
  size_t nfails, fails_cap;

  /* Results. */
  pool__item *items;    /* per item (record outputs) */
  pool__item one;       /* apply's item */
  int code;             /* the failure of lowest index, or 0 */
  size_t err_index;
  mp_error *err;        /* its record (allocated; NULL until a failure) */
  size_t *fifo;         /* imap_unordered: indices in completion order */
  size_t fifo_tail;     /* atomic; written by the result thread */
  size_t ndone;         /* atomic: items finished (progress) */

  uint32_t state;       /* futex: POOL__ST_* */
  uint32_t seq;         /* futex: bumped per finished item (imap) */
  uint32_t waiters;

  /* Progress bar. */
  double t_start, t_drawn;
};

/* mp_result.state: pending; final (its callback runs, and may read it);
 * ready (everyone may). */
enum { POOL__ST_PENDING = 0, POOL__ST_FINAL, POOL__ST_READY };
/* The job whose callback this thread is running, if any. */
extern _Thread_local mp_result *pool__cb_job;

struct mp_imap {
  mp_result *job;
  size_t next;          /* ordered: next index; unordered: next fifo slot */
  size_t index;         /* index of the item last returned */
  void *last;           /* data of the item last returned (ours to free) */
  const mp_error *last_err;
  mp_error errbuf;
};

/* ---- Chunks (the parent's record of what is in the ring) --------------------- */

enum { POOL__CH_FREE = 0, POOL__CH_RING, POOL__CH_REQUEUED };

typedef struct pool__chunk {
  uint32_t gen;
  uint32_t state;
  uint32_t next;        /* free list / requeue list (index + 1; 0 ends) */
  mp_result *job;
  size_t first, count;
  size_t ndone;         /* items finished (from records) */
} pool__chunk;

/* ---- The pool ----------------------------------------------------------------- */

enum { POOL__RUN = 0, POOL__CLOSE, POOL__TERMINATE };

typedef struct pool__worker {
  mp_process *proc;     /* NULL when the slot is empty */
  pid_t pid;
  int pidfd;
  bool dead;            /* its pidfd was readable */
  bool kill_timeout;    /* we killed it for the time limit */
  uint64_t kill_running;
  int64_t respawn_at;   /* start a replacement then (0: none due) */
  char name[48];        /* ForkPoolWorker-N, SpawnPoolWorker-N, ... */
  char *frag;           /* result being reassembled from fragments */
  size_t frag_len, frag_cap;
} pool__worker;

struct mp_pool {
  pid_t owner;
  int nproc;            /* worker slots (a backend's: its proxies) */
  int nworkers;         /* what mp_pool_processes says: nproc, or a
                         * backend's workers (nproc / its depth) */
  int method;           /* POOL__M_* */
  const char *method_name;
  const mp__pool_backend *backend; /* POOL__M_BACKEND */
  void *bstate;         /* the backend's, from open() */
  bool exec_fns;        /* spawn, forkserver: cells carry fntab indices */
  bool in_worker;       /* a spawned worker's view of the pool (methods.c) */
  mp_pool_opts opts;
  void *initarg_copy;   /* opts.initarg_len bytes, when given */
  int64_t timeout_ns;   /* per task; 0 none */
  sigset_t sigmask;     /* the creating thread's: workers run with it */

  /* Shared. */
  int ctl_fd;
  void *ctl;
  size_t ctl_size;
  pool__shm *shm;
  pool__slot *slots;
  char *rings;
  pool__arena *arena;
  char *abase;          /* arena base, cached */
  int efd;              /* eventfd: workers wake the result thread */
  pool__fntab *fntab;   /* exec_fns: in the control region */
  /* exec_fns, the parent: the address of each fntab entry (append-only,
   * nfns published after the entry; fn_mu serialises appends). */
  uintptr_t *fn_addr;
  uint32_t nfns;
  pthread_mutex_t fn_mu;

  /* Parent only, under mu. */
  pthread_mutex_t mu;
  int state;            /* POOL__RUN / CLOSE / TERMINATE */
  bool broken;          /* the initializer failed */
  mp_error broken_err;
  pool__worker *workers;
  pool__chunk *chunks;
  uint32_t nchunks, chunks_cap, free_chunk, rq_head, rq_tail;
  mp_result *pend_head, *pend_tail;
  mp_result *live;      /* outstanding jobs */
  size_t live_bars;     /* of them, those with a progress bar: the result
                         * thread's tick walks p->live only when nonzero */
  size_t outstanding;
  uint64_t prod_pos;
  uint64_t ring_used;   /* cells published and not yet claimed-or-later */

  pthread_t thread;
  bool thread_started;
  uint32_t thread_done; /* futex: 1 once the result thread finished */
  bool joined;
  mp_result *handoff;   /* ready jobs with callbacks, from helpers */
  mp_pool *reg_next;    /* the process's pools (pool.c) */
};

/* ---- Shared functions ---------------------------------------------------------- */

/* jobmem.c: zeroed memory for a job (NULL with errno), and back. */
mp_result *pool__job_alloc(void);
void pool__job_release(mp_result *j);

/* pool.c */
int pool__check(mp_pool *p);                  /* owner and running */
void pool__job_unref(mp_result *j);
pid_t pool__getpid(void);

/* worker.c: the body of a worker process; returns its exit code. */
int pool__worker_main(mp_pool *p, int w);

/* worker.c: what a backend's proxy offers it (pool_backend.h). */
extern const mp__pool_core pool__core;

/* spawn.c: the worker processes. */
int pool__spawn(mp_pool *p, int w);
/* methods.c: start methods. The method of opts (POOL__M_*), or -EINVAL /
 * MP_ENOTSUP for options that method cannot honour. *be (may be NULL) gets
 * the backend for POOL__M_BACKEND, *name the method's name. */
int pool__method(const mp_pool_opts *o, const mp__pool_backend **be,
                 const char **name);
/* The byte size of the control region for p's nproc and method. */
size_t pool__ctl_size(int nproc, bool exec_fns);
/* Sets p->shm, slots, rings, fntab from the mapping at m. */
void pool__ctl_layout(mp_pool *p, void *m);
/* What a cell carries for fn: its address, or its fntab index (added on
 * first use). 0 or -EINVAL (fn is not code of a loaded module), -E2BIG
 * (more than POOL__NFNS distinct functions). Thread-safe. */
int pool__fn_id(mp_pool *p, mp_task_fn fn, uint64_t *id);
/* The worker's side: the function a cell names, or NULL when this program
 * lacks it (cache: POOL__NFNS entries, allocated on first use). */
mp_task_fn pool__fn_resolve(mp_pool *p, uint64_t id, void ***cache);
/* The process object of worker w for spawn or forkserver (not started):
 * the control region, arena and eventfd cross as passed descriptors, the
 * rest in the argument bytes. NULL with errno. */
mp_process *pool__exec_process(mp_pool *p, int w, const mp_process_opts *po);
/* The method's name ("fork", ...) of a built-in method. */
const char *pool__method_name(int method);
/* Reaps an ended worker: *signo (0 if it exited) and *status (exit status,
 * or -1). Releases the process. */
void pool__reap(mp_pool *p, int w, int *signo, int *status);
void pool__kill(mp_pool *p, int w);

/* ring.c: chunk records and publishing; mutex held. */
void pool__refill(mp_pool *p);          /* queued chunks into free cells */
void pool__requeue(mp_pool *p, pool__chunk *c, size_t from);
pool__chunk *pool__chunk_lookup(mp_pool *p, uint64_t token);
void pool__chunk_free(mp_pool *p, pool__chunk *c);
void pool__wake_collector(mp_pool *p);  /* eventfd; any thread */

/* What the result thread defers until it has dropped the mutex. */
typedef struct pool__copy {
  void *dst;
  const void *src;
  size_t len;
} pool__copy;
typedef struct pool__col {
  mp_result *done; /* ready jobs: callbacks, then wake the waiters */
  mp_result **done_tail;
  pool__copy *copies;
  size_t ncopies, copies_cap;
} pool__col;

/* collector.c: reading records; mutex held. */
bool pool__drain(mp_pool *p, int w, pool__col *c);
bool pool__drain_all(mp_pool *p, pool__col *c);
bool pool__rings_nonempty(mp_pool *p);
void pool__copy_out(mp_pool *p, pool__col *c, mp_result *j, size_t first,
                    size_t count);
void pool__items_done(mp_result *j, size_t k, pool__col *c);
void pool__item_fail(mp_result *j, size_t idx, int code, const mp_error *e,
                     pool__col *c);
void pool__job_ready(pool__col *c, mp_result *j);
/* Fails every unfinished item of j with e (terminate, broken pool). */
void pool__job_abort(mp_result *j, const mp_error *e, pool__col *c);

/* help.c: finishing ready jobs; waiters that drain rings themselves. */
/* Runs copies, then callbacks (on the result thread only: elsewhere jobs
 * with callbacks go to p->handoff), marks jobs ready and wakes their
 * waiters. Mutex held on entry and exit; dropped in between. */
void pool__flush(mp_pool *p, pool__col *c, bool collector);
/* Called by a thread about to wait until done(arg): spins for a moment,
 * draining the rings itself when it can take the mutex. Returns whether
 * done(arg) became true. */
bool pool__help(mp_pool *p, bool (*done)(void *), void *arg,
                const mp__deadline *dl);
extern uint32_t pool__g_helping;
/* Wakes the result thread if it sleeps (force: even while waiters help). */
void pool__notify_collector(mp_pool *p, bool force);

/* supervisor.c: the result thread's loop. */
void *pool__collector_main(void *arg);

/* progress.c */
void pool__progress_draw(mp_result *j, bool final);
/* The first frame (0 of N), at submission. */
void pool__progress_start(mp_result *j);
/* Redraws every live job's bar (mutex held); returns when to tick again,
 * INT64_MAX when no live job has one. */
int64_t pool__progress_tick(mp_pool *p);

#endif
