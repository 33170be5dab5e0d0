/* bench_util.c: the measuring loop, the median and the row printer that
 * every benchmark program links (see bench_util.h and bench/README.md). */
#include "bench_util.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mproc.h>

uint64_t bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double bench_budget(void) {
  const char *s = getenv("MP_BENCH_BUDGET");
  if (s && *s) {
    char *end;
    double v = strtod(s, &end);
    if (*end == '\0' && v > 0 && v < 3600)
      return v;
  }
  return 1.0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double bench_median(double *v, size_t n) {
  if (n == 0)
    return 0;
  qsort(v, n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void bench_fail(const char *what, int code) {
  fprintf(stderr, "bench: %s: %s (%s)\n", what, mp_strerror(code),
          mp_err_name(code));
  exit(1);
}

/* Runs fn n times; returns the elapsed nanoseconds. */
static uint64_t run_batch(bench_fn fn, void *ctx, uint64_t n) {
  uint64_t t0 = bench_now_ns();
  for (uint64_t i = 0; i < n; i++) {
    int rc = fn(ctx);
    if (rc < 0)
      bench_fail("the measured operation failed", rc);
  }
  return bench_now_ns() - t0;
}

double bench_ns_per_op(bench_fn fn, void *ctx, const bench_opts *opts) {
  bench_opts o = opts ? *opts : (bench_opts){0};
  if (o.budget_s <= 0)
    o.budget_s = bench_budget();
  if (o.sample_s <= 0)
    o.sample_s = 0.002;
  if (o.min_samples <= 0)
    o.min_samples = 5;
  if (o.max_samples <= 0)
    o.max_samples = 1000;
  if (o.max_samples < o.min_samples)
    o.max_samples = o.min_samples;
  if (o.warmup <= 0)
    o.warmup = 3;

  uint64_t start = bench_now_ns();
  run_batch(fn, ctx, (uint64_t)o.warmup);

  /* Grow the batch until one batch lasts sample_s: the clock's own cost
   * and jitter then stay a small part of each sample. The calibration
   * batches are samples too, but too short to keep. */
  uint64_t batch = 1, want = (uint64_t)(o.sample_s * 1e9);
  for (;;) {
    uint64_t t = run_batch(fn, ctx, batch);
    if (t >= want || batch >= (1u << 30))
      break;
    batch = t < want / 16 ? batch * 8 : batch * 2;
  }

  double *samples = malloc((size_t)o.max_samples * sizeof *samples);
  if (!samples)
    bench_fail("malloc", -ENOMEM);
  uint64_t budget = (uint64_t)(o.budget_s * 1e9);
  int n = 0;
  while (n < o.max_samples &&
         (n < o.min_samples || bench_now_ns() - start < budget))
    samples[n++] = (double)run_batch(fn, ctx, batch) / (double)batch;
  double med = bench_median(samples, (size_t)n);
  free(samples);
  return med;
}

int bench_pin(int on) {
  static cpu_set_t saved;
  static int pinned;
  if (!on) {
    if (pinned && sched_setaffinity(0, sizeof saved, &saved) < 0)
      return -errno;
    pinned = 0;
    return 0;
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) < 0)
    return -errno;
  if (!pinned)
    saved = set;
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
    if (!CPU_ISSET(cpu, &set))
      continue;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) < 0)
      return -errno;
    pinned = 1;
    return 0;
  }
  return -EINVAL;
}

/* Ids and units are single words: the protocol splits on spaces. */
static void check_word(const char *what, const char *s) {
  if (!s || !*s || strpbrk(s, " \t\n")) {
    fprintf(stderr, "bench: %s must be one word, got '%s'\n", what,
            s ? s : "(null)");
    exit(1);
  }
}

void bench_row(const char *id, const char *unit, const char *column,
               double value) {
  check_word("row id", id);
  check_word("unit", unit);
  check_word("column", column);
  printf("ROW %s %s %s %.6g\n", id, unit, column, value);
  fflush(stdout);
}

void bench_desc(const char *id, const char *text) {
  check_word("row id", id);
  printf("DESC %s %s\n", id, text);
  fflush(stdout);
}

void bench_skip(const char *id, const char *reason) {
  check_word("row id", id);
  printf("SKIP %s %s\n", id, reason);
  fflush(stdout);
}
