/* bench_pool.c: the pool's rows (bench/README.md): apply_async of 10^5
 * trivial tasks then get all, with a hand-written fork + pipe pool (one
 * task per message) as the raw floor; the apply round trip (raw: a pipe
 * ping-pong with one worker); map of 10^7 ints with the default chunksize;
 * imap_unordered of 10^5 items with chunksize 1; pool create + map of two
 * items + close + join; and each worker's private memory. The CPython twin
 * is bench/python/bench_pool.py. Pools use the default size, as Python's
 * Pool() does. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mproc.h>

#include "bench_util.h"

static int ident(const void *arg, size_t len, mp_task_out *out) {
  return mp_task_out_set(out, arg, len);
}

static int getpid_task(const void *arg, size_t len, mp_task_out *out) {
  (void)arg;
  (void)len;
  int pid = getpid();
  return mp_task_out_set(out, &pid, sizeof pid);
}

static mp_pool *g_pool;

/* ---- apply_async of 1e5, then get all ------------------------------------ */

#define NASYNC 100000

static double apply_async_all_ms(void) {
  static mp_result *rs[NASYNC];
  uint64_t t0 = bench_now_ns();
  for (int i = 0; i < NASYNC; i++) {
    rs[i] = mp_pool_apply_async(g_pool, ident, &i, sizeof i, NULL);
    if (!rs[i])
      bench_fail("apply_async", mp_errno_code(errno));
  }
  for (int i = 0; i < NASYNC; i++) {
    const void *d;
    int rc = mp_result_get(rs[i], MP_FOREVER, &d, NULL);
    if (rc)
      bench_fail("get", rc);
    if (*(const int *)d != i)
      bench_fail("get: wrong result", -EPROTO);
    mp_result_free(rs[i]);
  }
  return (double)(bench_now_ns() - t0) / 1e6;
}

/* The raw floor: nproc forked workers read 8-byte tasks from one pipe and
 * write 8-byte results to another, one message per task; a thread in the
 * parent writes the tasks while the main thread reads the results. */
typedef struct raw_pool {
  int task[2], result[2];
  int n;
  bool is_batch; /* workers are batch_worker (pool.map.1e7_ints) */
  pid_t pids[64];
} raw_pool;

static void raw_worker(raw_pool *rp) {
  long v;
  while (read(rp->task[0], &v, sizeof v) == (ssize_t)sizeof v) {
    if (v < 0)
      _exit(0);
    if (write(rp->result[1], &v, sizeof v) != (ssize_t)sizeof v)
      _exit(1);
  }
  _exit(0);
}

/* The batched hand pool of pool.map.1e7_ints: a message carries BATCH
 * ints and where they start; a worker answers with the results in a
 * message of the same shape. Both fit in PIPE_BUF, so each write is
 * atomic and each read of one message size gets one whole message, with
 * any number of workers on the same two pipes. */
#define BATCH 1000
typedef struct batch_msg {
  int64_t off; /* index of items[0]; -1: stop */
  int32_t n, pad;
  int items[BATCH];
} batch_msg;
_Static_assert(sizeof(batch_msg) <= 4096, "a batch must fit in PIPE_BUF");

static void batch_worker(raw_pool *rp) {
  batch_msg m;
  while (read(rp->task[0], &m, sizeof m) == (ssize_t)sizeof m && m.off >= 0) {
    for (int i = 0; i < m.n; i++)
      m.items[i] = m.items[i]; /* ident, as the mproc row's task */
    if (write(rp->result[1], &m, sizeof m) != (ssize_t)sizeof m)
      _exit(1);
  }
  _exit(0);
}

static int raw_start_as(raw_pool *rp, int n, void (*worker)(raw_pool *)) {
  if (pipe2(rp->task, O_CLOEXEC) || pipe2(rp->result, O_CLOEXEC))
    return -errno;
  rp->n = n;
  rp->is_batch = worker == batch_worker;
  for (int i = 0; i < n; i++) {
    pid_t pid = fork();
    if (pid == 0)
      worker(rp);
    rp->pids[i] = pid;
  }
  return 0;
}

static int raw_start(raw_pool *rp, int n) { return raw_start_as(rp, n, raw_worker); }

static void raw_stop(raw_pool *rp) {
  /* A stop message of either pool's size: 8 bytes of -1 stop raw_worker;
   * batch_worker reads a whole batch_msg whose off is -1. */
  batch_msg stop;
  memset(&stop, 0xff, sizeof stop);
  for (int i = 0; i < rp->n; i++)
    (void)!write(rp->task[1], &stop, rp->is_batch ? sizeof stop : sizeof(long));
  for (int i = 0; i < rp->n; i++)
    waitpid(rp->pids[i], NULL, 0);
  close(rp->task[0]);
  close(rp->task[1]);
  close(rp->result[0]);
  close(rp->result[1]);
}

static void *raw_feeder(void *arg) {
  raw_pool *rp = arg;
  for (long i = 0; i < NASYNC; i++)
    if (write(rp->task[1], &i, sizeof i) != (ssize_t)sizeof i)
      break;
  return NULL;
}

static double raw_async_all_ms(raw_pool *rp) {
  uint64_t t0 = bench_now_ns();
  pthread_t t;
  pthread_create(&t, NULL, raw_feeder, rp);
  long sum = 0, v;
  for (int i = 0; i < NASYNC; i++) {
    if (read(rp->result[0], &v, sizeof v) != (ssize_t)sizeof v)
      bench_fail("raw read", -errno);
    sum += v;
  }
  pthread_join(t, NULL);
  if (sum != (long)NASYNC * (NASYNC - 1) / 2)
    bench_fail("raw: wrong sum", -EPROTO);
  return (double)(bench_now_ns() - t0) / 1e6;
}

/* ---- apply round trip --------------------------------------------------------- */

static int one_apply(void *ctx) {
  (void)ctx;
  int x = 7;
  void *out;
  size_t n;
  int rc = mp_pool_apply(g_pool, ident, &x, sizeof x, &out, &n, NULL);
  if (rc == 0)
    mp_free(out);
  return rc;
}

static int one_raw_pingpong(void *ctx) {
  raw_pool *rp = ctx;
  long v = 7;
  if (write(rp->task[1], &v, sizeof v) != (ssize_t)sizeof v ||
      read(rp->result[0], &v, sizeof v) != (ssize_t)sizeof v)
    return -errno;
  return 0;
}

/* ---- map, imap_unordered, create ------------------------------------------------ */

static double map_1e7_ms(void) {
  size_t n = 10000000;
  int *in = malloc(n * sizeof *in), *out = malloc(n * sizeof *out);
  for (size_t i = 0; i < n; i++)
    in[i] = (int)i;
  uint64_t t0 = bench_now_ns();
  int rc = mp_pool_map(g_pool, ident, in, n, sizeof(int), out, sizeof(int),
                       NULL, NULL);
  uint64_t t = bench_now_ns() - t0;
  if (rc)
    bench_fail("map", rc);
  if (out[n - 1] != (int)n - 1)
    bench_fail("map: wrong result", -EPROTO);
  free(in);
  free(out);
  return (double)t / 1e6;
}

/* The batched hand pool's map of 1e7 ints: a feeder thread writes the
 * batches, the main thread reads results and copies them into place. */
typedef struct batch_job {
  raw_pool *rp;
  const int *in;
  size_t n;
} batch_job;

static void *batch_feeder(void *arg) {
  batch_job *j = arg;
  batch_msg m = {0};
  for (size_t off = 0; off < j->n; off += BATCH) {
    m.off = (int64_t)off;
    m.n = (int32_t)(j->n - off < BATCH ? j->n - off : BATCH);
    memcpy(m.items, j->in + off, (size_t)m.n * sizeof(int));
    if (write(j->rp->task[1], &m, sizeof m) != (ssize_t)sizeof m)
      break;
  }
  return NULL;
}

static double raw_map_1e7_ms(raw_pool *rp) {
  size_t n = 10000000;
  int *in = malloc(n * sizeof *in), *out = malloc(n * sizeof *out);
  for (size_t i = 0; i < n; i++)
    in[i] = (int)i;
  uint64_t t0 = bench_now_ns();
  batch_job j = {rp, in, n};
  pthread_t t;
  pthread_create(&t, NULL, batch_feeder, &j);
  batch_msg m;
  for (size_t got = 0; got < n; got += (size_t)m.n) {
    if (read(rp->result[0], &m, sizeof m) != (ssize_t)sizeof m)
      bench_fail("batched raw read", -errno);
    memcpy(out + m.off, m.items, (size_t)m.n * sizeof(int));
  }
  pthread_join(t, NULL);
  uint64_t el = bench_now_ns() - t0;
  if (out[n - 1] != (int)n - 1 || out[12345] != 12345)
    bench_fail("batched raw map: wrong result", -EPROTO);
  free(in);
  free(out);
  return (double)el / 1e6;
}

static double imap_unordered_ms(void) {
  size_t n = 100000;
  int *in = malloc(n * sizeof *in);
  for (size_t i = 0; i < n; i++)
    in[i] = (int)i;
  uint64_t t0 = bench_now_ns();
  mp_imap *it = mp_pool_imap_unordered(g_pool, ident, in, n, sizeof(int),
                                       &(mp_call_opts){.chunksize = 1});
  if (!it)
    bench_fail("imap_unordered", mp_errno_code(errno));
  long long sum = 0;
  const void *d;
  int rc;
  while ((rc = mp_imap_next(it, MP_FOREVER, &d, NULL)) == 0)
    sum += *(const int *)d;
  uint64_t t = bench_now_ns() - t0;
  if (rc != MP_ESTOP)
    bench_fail("imap next", rc);
  if (sum != (long long)n * (long long)(n - 1) / 2)
    bench_fail("imap: wrong sum", -EPROTO);
  mp_imap_free(it);
  free(in);
  return (double)t / 1e6;
}

static int one_create_map2(void *ctx) {
  (void)ctx;
  mp_pool *p = mp_pool_new(NULL);
  if (!p)
    return mp_errno_code(errno);
  int in[2] = {1, 2}, out[2];
  int rc = mp_pool_map(p, ident, in, 2, sizeof(int), out, sizeof(int), NULL, NULL);
  if (!rc)
    rc = mp_pool_close(p);
  if (!rc)
    rc = mp_pool_join(p, MP_FOREVER);
  mp_pool_free(p);
  return rc;
}

/* Private (unshared) resident memory of a process: Private_Clean +
 * Private_Dirty from smaps_rollup, in KiB. */
static double private_kib(int pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/smaps_rollup", pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  double kib = 0;
  unsigned long v;
  while (fgets(line, sizeof line, f)) {
    if (sscanf(line, "Private_Clean: %lu kB", &v) == 1 ||
        sscanf(line, "Private_Dirty: %lu kB", &v) == 1)
      kib += (double)v;
  }
  fclose(f);
  return kib;
}

static double worker_private_kib(void) {
  /* Warm every worker (tasks of all the kinds above ran already), then
   * find their pids. */
  int nproc = mp_pool_processes(g_pool);
  int in[256], pids[256];
  for (int i = 0; i < 256; i++)
    in[i] = i;
  if (mp_pool_map(g_pool, getpid_task, in, 256, sizeof(int), pids, sizeof(int),
                  &(mp_call_opts){.chunksize = 1}, NULL))
    return -1;
  double v[64];
  size_t nv = 0;
  for (int i = 0; i < 256 && nv < (size_t)nproc; i++) {
    bool seen = false;
    for (int k = 0; k < i; k++)
      seen |= pids[k] == pids[i];
    if (!seen)
      v[nv++] = private_kib(pids[i]);
  }
  return bench_median(v, nv);
}

/* The apply round trip: latency and CPU per call (bench_spin_rows); the
 * only row of the MP_SPIN=0 run. */
static void roundtrip_rows(void) {
  bench_desc("pool.apply.roundtrip", "pool.apply of a trivial task, round trip (raw: pipe ping-pong with a worker)");
  bench_spin_rows("pool.apply.roundtrip", "us", 1e3, "mproc", one_apply, NULL, NULL);
  raw_pool rp;
  if (raw_start(&rp, 1) == 0) {
    bench_spin_rows("pool.apply.roundtrip", "us", 1e3, "raw", one_raw_pingpong, &rp, NULL);
    raw_stop(&rp);
  }
}

int main(void) {
  g_pool = mp_pool_new(NULL);
  if (!g_pool)
    bench_fail("mp_pool_new", mp_errno_code(errno));
  int nproc = mp_pool_processes(g_pool);
  if (bench_nospin()) {
    roundtrip_rows();
    mp_pool_free(g_pool);
    return 0;
  }

  bench_desc("pool.apply_async.1e5", "apply_async of 1e5 trivial tasks, then get all (raw: fork+pipe pool, one task per message)");
  double v[5];
  int runs = 3;
  for (int i = 0; i < runs; i++)
    v[i] = apply_async_all_ms();
  bench_row("pool.apply_async.1e5", "ms", "mproc", bench_median(v, (size_t)runs));
  raw_pool rp;
  if (raw_start(&rp, nproc) == 0) {
    for (int i = 0; i < runs; i++)
      v[i] = raw_async_all_ms(&rp);
    bench_row("pool.apply_async.1e5", "ms", "raw", bench_median(v, (size_t)runs));
    raw_stop(&rp);
  }

  roundtrip_rows();

  bench_desc("pool.map.1e7_ints", "map of 1e7 ints, default chunksize (raw: fork+pipe pool, 1000 tasks per message)");
  for (int i = 0; i < runs; i++)
    v[i] = map_1e7_ms();
  bench_row("pool.map.1e7_ints", "ms", "mproc", bench_median(v, (size_t)runs));
  if (raw_start_as(&rp, nproc, batch_worker) == 0) {
    for (int i = 0; i < runs; i++)
      v[i] = raw_map_1e7_ms(&rp);
    bench_row("pool.map.1e7_ints", "ms", "raw", bench_median(v, (size_t)runs));
    raw_stop(&rp);
  }

  bench_desc("pool.imap_unordered.1e5_chunk1", "imap_unordered of 1e5 ints, chunksize 1, all results");
  for (int i = 0; i < runs; i++)
    v[i] = imap_unordered_ms();
  bench_row("pool.imap_unordered.1e5_chunk1", "ms", "mproc",
            bench_median(v, (size_t)runs));

  bench_desc("pool.worker_memory", "private resident memory of one worker after the rows above (KiB)");
  double kib = worker_private_kib();
  if (kib >= 0)
    bench_row("pool.worker_memory", "KiB", "mproc", kib);
  else
    bench_skip("pool.worker_memory", "no /proc/PID/smaps_rollup");
  mp_pool_free(g_pool);

  bench_desc("pool.create_map2_join", "Pool() + map of 2 items + close + join");
  bench_row("pool.create_map2_join", "ms", "mproc",
            bench_ns_per_op(one_create_map2, NULL, NULL) / 1e6);
  return bench_rerun_nospin();
}
