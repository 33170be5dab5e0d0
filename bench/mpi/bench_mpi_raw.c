/* bench_mpi_raw.c: the "raw" column of the MPI rows (bench/README.md):
 * what bare MPI does on this machine, the floor the "mpi" pool is measured
 * against. Two phases, each under its own mpirun (bench_mpi_util.h):
 *
 *   pingpong (2 ranks): a 64-byte MPI_Send/MPI_Recv round trip between
 *     rank 0 and rank 1 — the floor of one apply.
 *   mw (3 ranks: 1 master, 2 workers): a minimal hand-written master/worker
 *     on MPI. A message carries [first index, count, count ints]; a worker
 *     squares them and sends them back; the master keeps F messages in
 *     flight per worker and puts results at their index. Rows: one task
 *     per message with 1 and with 8 in flight, 100 items per message, and
 *     a map of 1e7 ints (10^4 per message, 2 in flight).
 *
 * The master posts its sends with MPI_Isend so that a large (rendezvous)
 * send and a worker's reply never wait for each other. */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_mpi_util.h"
#include "bench_util.h"

enum { TAG_WORK = 1, TAG_STOP = 2, HDR = 2 };

/* ---- ping-pong ---------------------------------------------------------- */

static int pp_once(void *ctx) {
  (void)ctx;
  char buf[64] = {0};
  MPI_Send(buf, sizeof buf, MPI_BYTE, 1, TAG_WORK, MPI_COMM_WORLD);
  MPI_Recv(buf, sizeof buf, MPI_BYTE, 1, TAG_WORK, MPI_COMM_WORLD,
           MPI_STATUS_IGNORE);
  return 0;
}

static void phase_pingpong(int rank) {
  char buf[64];
  if (rank == 1) {
    for (;;) {
      MPI_Status st;
      MPI_Recv(buf, sizeof buf, MPI_BYTE, 0, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
      if (st.MPI_TAG == TAG_STOP)
        return;
      MPI_Send(buf, sizeof buf, MPI_BYTE, 0, TAG_WORK, MPI_COMM_WORLD);
    }
  }
  if (rank != 0)
    return;
  bench_desc("mpi.apply.roundtrip",
             "one apply round trip on the \"mpi\" pool, 2 ranks (raw: 64 B MPI_Send/MPI_Recv ping-pong; CPython: mpi4py submit(x).result())");
  bench_row("mpi.apply.roundtrip", "us", "raw",
            bench_ns_per_op(pp_once, NULL, NULL) / 1000.0);
  MPI_Send(buf, 0, MPI_BYTE, 1, TAG_STOP, MPI_COMM_WORLD);
}

/* ---- master/worker ------------------------------------------------------ */

static void worker(void) {
  int cap = HDR + 10000;
  int *buf = malloc(sizeof(int) * (size_t)cap);
  for (;;) {
    MPI_Status st;
    MPI_Probe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
    int n = 0;
    MPI_Get_count(&st, MPI_INT, &n);
    if (n > cap) {
      cap = n;
      buf = realloc(buf, sizeof(int) * (size_t)cap);
    }
    MPI_Recv(buf, cap, MPI_INT, 0, st.MPI_TAG, MPI_COMM_WORLD, &st);
    if (st.MPI_TAG == TAG_STOP)
      break;
    for (int i = 0; i < buf[1]; i++)
      buf[HDR + i] *= buf[HDR + i];
    MPI_Send(buf, HDR + buf[1], MPI_INT, 0, TAG_WORK, MPI_COMM_WORLD);
  }
  free(buf);
}

typedef struct mw {
  int workers, inflight, per_msg;
  long n;         /* items per run */
  int *in, *out;  /* n each */
  int *slot;      /* workers*inflight slot buffers of HDR+per_msg ints */
  MPI_Request *req;
} mw;

/* Sends items [next, next+per_msg) from slot s to its worker. */
static long mw_send(mw *m, int s, long next) {
  int *b = m->slot + (size_t)s * (size_t)(HDR + m->per_msg);
  long k = m->n - next < m->per_msg ? m->n - next : m->per_msg;
  if (m->req[s] != MPI_REQUEST_NULL)
    MPI_Wait(&m->req[s], MPI_STATUS_IGNORE);
  b[0] = (int)next;
  b[1] = (int)k;
  memcpy(b + HDR, m->in + next, sizeof(int) * (size_t)k);
  MPI_Isend(b, HDR + (int)k, MPI_INT, 1 + s % m->workers, TAG_WORK,
            MPI_COMM_WORLD, &m->req[s]);
  return next + k;
}

/* One map of m->n items; results land at their index in m->out. */
static int mw_run(void *ctx) {
  mw *m = ctx;
  int slots = m->workers * m->inflight;
  long next = 0, done = 0;
  for (int s = 0; s < slots && next < m->n; s++)
    next = mw_send(m, s, next);
  int *r = malloc(sizeof(int) * (size_t)(HDR + m->per_msg));
  /* Which slot a reply frees: worker w (rank w+1) owns slots w, w+workers,
   * w+2*workers, ... and answers in order, so its replies free them in turn. */
  int *head = calloc((size_t)m->workers, sizeof(int));
  while (done < m->n) {
    MPI_Status st;
    MPI_Recv(r, HDR + m->per_msg, MPI_INT, MPI_ANY_SOURCE, TAG_WORK,
             MPI_COMM_WORLD, &st);
    memcpy(m->out + r[0], r + HDR, sizeof(int) * (size_t)r[1]);
    done += r[1];
    int w = st.MPI_SOURCE - 1;
    int s = w + m->workers * (head[w]++ % m->inflight);
    if (next < m->n)
      next = mw_send(m, s, next);
  }
  for (int s = 0; s < slots; s++)
    if (m->req[s] != MPI_REQUEST_NULL)
      MPI_Wait(&m->req[s], MPI_STATUS_IGNORE);
  free(head);
  free(r);
  for (long i = 0; i < m->n; i += m->n / 7 + 1)
    if (m->out[i] != m->in[i] * m->in[i])
      return -1;
  return 0;
}

/* Measures one master/worker configuration; returns ns per run. */
static double mw_measure(int workers, int inflight, int per_msg, long n) {
  mw m = {.workers = workers, .inflight = inflight, .per_msg = per_msg, .n = n};
  int slots = workers * inflight;
  m.in = malloc(sizeof(int) * (size_t)n);
  m.out = malloc(sizeof(int) * (size_t)n);
  m.slot = malloc(sizeof(int) * (size_t)slots * (size_t)(HDR + per_msg));
  m.req = malloc(sizeof(MPI_Request) * (size_t)slots);
  for (int s = 0; s < slots; s++)
    m.req[s] = MPI_REQUEST_NULL;
  for (long i = 0; i < n; i++)
    m.in[i] = (int)(i % 40000);
  bench_opts o = {.warmup = 1, .min_samples = 3, .sample_s = 1e-9};
  double ns = bench_ns_per_op(mw_run, &m, &o);
  free(m.req);
  free(m.slot);
  free(m.out);
  free(m.in);
  return ns;
}

static void phase_mw(int rank, int size) {
  if (rank != 0) {
    worker();
    return;
  }
  /* Each row: one master/worker configuration; rows in a unit per second
   * report items per second, the "ms" row the time of one whole map. */
  static const struct {
    const char *id, *unit, *desc;
    int inflight, per_msg;
    long n;
  } rows[] = {
      {"mpi.mw.1_in_flight", "tasks/s",
       "minimal C master/worker on MPI, 2 workers, one task per message, 1 in flight per worker (raw only)",
       1, 1, 10000},
      {"mpi.submit_get.1e4", "tasks/s",
       "1e4 trivial tasks: apply_async all, then get all, 2 workers (raw: C master/worker, 8 in flight; CPython: mpi4py submit/result)",
       8, 1, 10000},
      {"mpi.map.1e5_ints.chunk1", "items/s",
       "map of 1e5 ints, chunksize 1, 2 workers (raw: C master/worker, 8 in flight)",
       8, 1, 100000},
      {"mpi.map.1e5_ints.chunk100", "items/s",
       "map of 1e5 ints, chunksize 100, 2 workers (raw: C master/worker, 100 items per message, 2 in flight)",
       2, 100, 100000},
      {"mpi.mw.map.1e7_ints", "ms",
       "map of 1e7 ints across 2 serving ranks (raw: C master/worker, 1e4 ints per message, 2 in flight)",
       2, 10000, 10000000},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    double ns = mw_measure(size - 1, rows[i].inflight, rows[i].per_msg, rows[i].n);
    int per_s = strcmp(rows[i].unit, "ms") != 0;
    bench_desc(rows[i].id, rows[i].desc);
    bench_row(rows[i].id, rows[i].unit, "raw",
              per_s ? (double)rows[i].n / (ns * 1e-9) : ns / 1e6);
  }
  for (int r = 1; r < size; r++)
    MPI_Send(NULL, 0, MPI_INT, r, TAG_STOP, MPI_COMM_WORLD);
}

int main(int argc, char **argv) {
  if (!bench_mpi_launched()) {
    static const char *const pp[] = {"mpi.apply.roundtrip", NULL};
    static const char *const mws[] = {"mpi.mw.1_in_flight", "mpi.submit_get.1e4",
                                      "mpi.map.1e5_ints.chunk1", "mpi.map.1e5_ints.chunk100",
                                      "mpi.mw.map.1e7_ints", NULL};
    int rc = bench_mpi_phase("pingpong", 2, pp);
    rc |= bench_mpi_phase("mw", 3, mws);
    return rc ? 1 : 0;
  }
  MPI_Init(&argc, &argv);
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const char *phase = argc > 1 ? argv[1] : "";
  if (strcmp(phase, "pingpong") == 0 && size >= 2)
    phase_pingpong(rank);
  else if (strcmp(phase, "mw") == 0 && size >= 2)
    phase_mw(rank, size);
  else if (rank == 0)
    fprintf(stderr, "bench_mpi_raw: unknown phase '%s' or too few ranks (%d)\n", phase, size);
  MPI_Finalize();
  return 0;
}
