/* bench_util.h: what every benchmark program shares: a monotonic clock in
 * nanoseconds, a loop that repeats one operation until a time budget is
 * spent and reports the median cost per operation, and the printer of the
 * row protocol that bench/run.sh reads (see bench/README.md).
 *
 * A benchmark program measures its operations and prints one line per
 * (row, column):
 *
 *     ROW <id> <unit> <column> <value>
 *
 * column is "mproc" (this library) or "raw" (the same job done with bare
 * system calls, the floor mproc is compared with); the CPython twin in
 * bench/python/ prints the "cpython" column of the same id. Units ending
 * in "/s" are throughputs (bigger is better); all others are times (ns, us,
 * ms, s: smaller is better). */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Nanoseconds on CLOCK_MONOTONIC since an arbitrary point. */
uint64_t bench_now_ns(void);

/* One operation under measurement: returns 0, or a negative code (which
 * stops the benchmark program with a message: a benchmark that fails must
 * not print a number). ctx is the caller's. */
typedef int (*bench_fn)(void *ctx);

/* How long to measure. Zeroed members take the defaults shown. */
typedef struct bench_opts {
  double budget_s;  /* total time for this measurement: MP_BENCH_BUDGET or 1.0 */
  double sample_s;  /* a sample times a batch of at least this long: 0.002 */
  int min_samples;  /* keep going past the budget until this many: 5 */
  int max_samples;  /* stop early at this many: 1000 */
  int warmup;       /* untimed calls before measuring: 3 */
} bench_opts;

/* The budget per measurement in seconds: $MP_BENCH_BUDGET if set (run.sh
 * sets it), else 1.0. */
double bench_budget(void);

/* Calls fn until the budget is spent, in batches timed as one sample (the
 * batch grows until it lasts sample_s, so cheap operations are not lost in
 * clock overhead), and returns the median of the samples in nanoseconds
 * per operation. opts may be NULL for the defaults. Exits the program if
 * fn fails. */
double bench_ns_per_op(bench_fn fn, void *ctx, const bench_opts *opts);

/* The median of v[0..n) (sorts v in place); 0 when n is 0. */
double bench_median(double *v, size_t n);

/* bench_pin(1) saves this process's CPU affinity and pins it (and the
 * children it starts) to the lowest CPU it may use; bench_pin(0) restores
 * the saved mask. Returns 0 or -errno. For rows that measure one process
 * waiting for another (start+join): on one CPU the waker runs the wakee
 * directly, so the row measures the work done instead of how fast this
 * machine wakes an idle CPU (hundreds of microseconds in some VMs). */
int bench_pin(int on);

/* Prints "ROW id unit column value" on stdout and flushes it. */
void bench_row(const char *id, const char *unit, const char *column,
               double value);

/* Prints "DESC id text": the row's label in the table (optional; one
 * program, C or Python, saying it is enough). */
void bench_desc(const char *id, const char *text);

/* Prints the reason a row could not be measured to stdout as
 * "SKIP id reason"; run.sh shows it under the table. */
void bench_skip(const char *id, const char *reason);

/* Prints "bench: <what>: <mp_strerror(code)>" to stderr and exits 1. */
void bench_fail(const char *what, int code);

#endif
