/* bench_mpi_pool.c: the "mproc" column of the MPI rows: mproc's pool with
 * start_method "mpi" (2 workers, as the raw and mpi4py columns have), and
 * the raw column of mpi.map.1e7_ints: the same map on a local fork pool of
 * the same number of workers (the bound: the MPI map within 1.3x).
 * Phases, each under its own mpirun (bench_mpi_util.h):
 *
 *   (no mpirun) the local fork pool's map of 1e7 ints;
 *   apply (2 ranks, 1 worker): one mp_pool_apply round trip of 64 bytes;
 *   rest (3 ranks, 2 workers): 1e4 apply_async then get; map of 1e5 ints
 *     with chunksize 1, 100 and the default; map of 1e7 ints. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mproc.h>
#include <mproc/mpi.h>

#include "bench_mpi_util.h"
#include "bench_util.h"

static int echo(const void *arg, size_t len, mp_task_out *out) {
  return mp_task_out_set(out, arg, len);
}

static int square(const void *arg, size_t len, mp_task_out *out) {
  int32_t x;
  memcpy(&x, arg, sizeof x);
  int32_t *y = mp_task_out_alloc(out, sizeof *y);
  if (!y)
    return 1;
  *y = x * x;
  return 0;
}

typedef struct fix {
  mp_pool *pool;
  size_t n, chunksize;
  int32_t *in, *out;
} fix;

static int one_apply(void *ctx) {
  fix *f = ctx;
  char msg[64] = {1};
  void *out = NULL;
  size_t len = 0;
  int rc = mp_pool_apply(f->pool, echo, msg, sizeof msg, &out, &len, NULL);
  mp_free(out);
  return rc;
}

static int submit_get(void *ctx) {
  fix *f = ctx;
  enum { N = 10000 };
  static mp_result *rs[N];
  int32_t x = 7;
  for (size_t i = 0; i < N; i++)
    if (!(rs[i] = mp_pool_apply_async(f->pool, echo, &x, sizeof x, NULL)))
      return -1;
  int rc = 0;
  for (size_t i = 0; i < N; i++) {
    int g = mp_result_get(rs[i], MP_FOREVER, NULL, NULL);
    rc = rc ? rc : g;
    mp_result_free(rs[i]);
  }
  return rc;
}

static int one_map(void *ctx) {
  fix *f = ctx;
  mp_call_opts co = {.chunksize = f->chunksize};
  int rc = mp_pool_map(f->pool, square, f->in, f->n, sizeof *f->in, f->out,
                       sizeof *f->out, &co, NULL);
  if (rc == 0 && f->out[f->n - 1] != f->in[f->n - 1] * f->in[f->n - 1])
    rc = -1;
  return rc;
}

/* ns per call of fn, for calls that each take long (up to seconds): one
 * untimed call warms the pool, then timed calls until the budget is spent
 * (at least one, at most 15); the median. */
static double measure(bench_fn fn, fix *f) {
  int rc = fn(f);
  if (rc < 0)
    bench_fail("warm-up call", rc);
  double v[15];
  size_t n = 0;
  uint64_t start = bench_now_ns(), budget = (uint64_t)(bench_budget() * 1e9);
  while (n < 15 && (n < 1 || bench_now_ns() - start < budget)) {
    uint64_t t0 = bench_now_ns();
    if ((rc = fn(f)) < 0)
      bench_fail("measured call", rc);
    v[n++] = (double)(bench_now_ns() - t0);
  }
  return bench_median(v, n);
}

/* A fixture of n ints on pool. */
static fix fix_new(mp_pool *pool, size_t n) {
  fix f = {.pool = pool, .n = n};
  f.in = malloc(n * sizeof *f.in);
  f.out = calloc(n, sizeof *f.out);
  if (!f.in || !f.out)
    bench_fail("malloc", -12);
  for (size_t i = 0; i < n; i++)
    f.in[i] = (int32_t)(i % 40000);
  return f;
}

static void fix_free(fix *f) {
  free(f->in);
  free(f->out);
}

static mp_pool *pool_new(const char *method, int processes) {
  mp_pool_opts po = {.start_method = method, .processes = processes};
  mp_pool *p = mp_pool_new(&po);
  if (!p)
    bench_fail(method, -errno);
  return p;
}

static void pool_end(mp_pool *p) {
  mp_pool_close(p);
  mp_pool_join(p, MP_FOREVER);
  mp_pool_free(p);
}

static const char *const k1e7 = "mpi.map.1e7_ints";

static void local_fork_1e7(void) {
  mp_pool *p = pool_new("fork", 2);
  fix f = fix_new(p, 10000000);
  bench_desc(k1e7, "map of 1e7 ints, default chunksize, 2 workers on 2 serving ranks (raw: the same map on a local fork pool of 2 workers)");
  bench_row(k1e7, "ms", "raw", measure(one_map, &f) / 1e6);
  fix_free(&f);
  pool_end(p);
}

static void phase_apply(void) {
  mp_pool *p = pool_new(MP_START_MPI, 1);
  fix f = {.pool = p};
  bench_row("mpi.apply.roundtrip", "us", "mproc", bench_ns_per_op(one_apply, &f, NULL) / 1000.0);
  pool_end(p);
}

static void phase_rest(void) {
  mp_pool *p = pool_new(MP_START_MPI, 2);
  fix f = {.pool = p};
  bench_row("mpi.submit_get.1e4", "tasks/s", "mproc", 10000 / (measure(submit_get, &f) * 1e-9));
  static const struct {
    const char *id;
    size_t chunksize;
  } maps[] = {{"mpi.map.1e5_ints.chunk1", 1},
              {"mpi.map.1e5_ints.chunk100", 100},
              {"mpi.map.1e5_ints.default", 0}};
  f = fix_new(p, 100000);
  bench_desc("mpi.map.1e5_ints.default", "map of 1e5 ints, default chunksize (mproc: n/(4 workers); mpi4py: 1), 2 workers");
  for (size_t i = 0; i < sizeof maps / sizeof maps[0]; i++) {
    f.chunksize = maps[i].chunksize;
    bench_row(maps[i].id, "items/s", "mproc", 100000 / (measure(one_map, &f) * 1e-9));
  }
  fix_free(&f);
  f = fix_new(p, 10000000);
  double ms = measure(one_map, &f) / 1e6;
  bench_row(k1e7, "ms", "mproc", ms);
  bench_row("mpi.mw.map.1e7_ints", "ms", "mproc", ms);
  fix_free(&f);
  pool_end(p);
}

int main(int argc, char **argv) {
  if (!bench_mpi_launched()) {
    local_fork_1e7();
    static const char *const ap[] = {"mpi.apply.roundtrip", NULL};
    static const char *const rest[] = {"mpi.submit_get.1e4", "mpi.map.1e5_ints.chunk1",
                                       "mpi.map.1e5_ints.chunk100", "mpi.map.1e5_ints.default",
                                       "mpi.map.1e7_ints", NULL};
    int rc = bench_mpi_phase("apply", 2, ap);
    rc |= bench_mpi_phase("rest", 3, rest);
    return rc ? 1 : 0;
  }
  int rc = mp_mpi_init(&argc, &argv);
  if (rc < 0)
    bench_fail("mp_mpi_init", rc);
  const char *phase = argc > 1 ? argv[1] : "";
  if (strcmp(phase, "apply") == 0)
    phase_apply();
  else if (strcmp(phase, "rest") == 0)
    phase_rest();
  else
    fprintf(stderr, "bench_mpi_pool: unknown phase '%s'\n", phase);
  mp_mpi_finalize();
  return 0;
}
