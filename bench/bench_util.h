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
#include <sys/types.h>

#ifdef __cplusplus
extern "C" { /* the C++ peer (bench/peer/bench_peer_boost.cpp) links it too */
#endif

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
  double *cpu_ns;   /* if set: receives the CPU ns per call burned over the
                       timed samples by this process and its descendants
                       (bench_cpu_tree_ns), next to the wall-clock median */
  pid_t cpu_root;   /* with cpu_ns: count from this process down; 0: self */
  double *mean_ns;  /* if set: receives the mean ns per call over the timed
                       samples (what cpu_ns is to be compared with: both
                       are totals over the same calls) */
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

/* What a measurement's samples spread over: bench_median and
 * bench_ns_per_op (through it) record the last one they computed, in the
 * samples' own unit (ns per operation for bench_ns_per_op). */
typedef struct bench_stats {
  double min, median, max;
  int n; /* samples; 0: none recorded */
} bench_stats;

/* The stats of the last bench_median / bench_ns_per_op of this process. */
bench_stats bench_last_stats(void);

/* s in another unit: each value v becomes v * k, or k / v when invert is
 * set (ns per op -> ops/s: k = 1e9, invert); min and max swap on invert. */
bench_stats bench_stats_map(bench_stats s, double k, int invert);

/* CPU time (user + system, ns) burned so far by this process and every
 * live process below it (read from /proc: children of each thread,
 * recursively; CPU clocks of each). For the CPU-per-operation rows: the
 * spinning side and the side it waits for are both counted. */
double bench_cpu_tree_ns(void);

/* The same from the process root down (root included); root 0: this
 * process. A client child measuring calls on a server its parent started
 * passes getppid(): the server is its sibling. */
double bench_cpu_tree_ns_from(pid_t root);

/* bench_pin(1) saves this process's CPU affinity and pins it (and the
 * children it starts) to the lowest CPU it may use; bench_pin(0) restores
 * the saved mask. Returns 0 or -errno. For rows that measure one process
 * waiting for another (start+join): on one CPU the waker runs the wakee
 * directly, so the row measures the work done instead of how fast this
 * machine wakes an idle CPU (hundreds of microseconds in some VMs). */
int bench_pin(int on);

/* ---- Spinning rows ----------------------------------------------------------
 * Where mproc spins before it sleeps (queue and Event ping-pong, Barrier,
 * manager calls, the pool's apply round trip), its latency is bought with
 * CPU. Such rows print, next to the latency row <id>, the CPU time every
 * process of the bench burned per operation (<id>.cpu), and the same two
 * measured with spinning off (MP_SPIN=0: the futex-only path):
 * <id>.nospin and <id>.nospin.cpu. The library reads MP_SPIN once per
 * process, so the spin-off rows come from a second run of the program:
 * bench_rerun_nospin() runs it again with MP_SPIN=0, where bench_nospin()
 * is true and the program measures its spinning rows only. */

/* True in the MP_SPIN=0 run. */
int bench_nospin(void);

/* In the normal run: runs this program again with MP_SPIN=0 and waits
 * (its rows go to the same stdout). Returns its exit status (0 ok); in
 * the MP_SPIN=0 run, returns 0 at once. */
int bench_rerun_nospin(void);

/* Measures fn like bench_ns_per_op with the CPU count on and prints two
 * rows for column col: <id>[.nospin] (latency, ns / div in unit) and
 * <id>[.nospin].cpu (CPU ns per op of every process from opts->cpu_root
 * down, / div: a mean, so its label gives the mean latency of the same
 * calls next to it, the median being the row above), with labels for the
 * derived rows. Returns the latency. */
double bench_spin_rows(const char *id, const char *unit, double div,
                       const char *col, bench_fn fn, void *ctx,
                       const bench_opts *opts);

/* Prints "ROW id unit column value [min max n]" on stdout and flushes
 * it. column: mproc, raw, cpython or peer:<name> (a library a C or C++
 * user would pick instead; <name> one word, e.g. peer:zmq.pushpull).
 * min/max/n are the samples' spread, appended when value is the median
 * of the last measurement (bench_last_stats) as it is or converted with
 * a factor of 1e-6..1e6 or k / median for k = 1e3, 1e6, 1e9; otherwise
 * nothing is appended (use bench_row_stats). */
void bench_row(const char *id, const char *unit, const char *column,
               double value);

/* Prints s.median as the value, with s's spread (already in unit). */
void bench_row_stats(const char *id, const char *unit, const char *column,
                     bench_stats s);

/* Prints "DESC id text": the row's label in the table (optional; one
 * program, C or Python, saying it is enough). */
void bench_desc(const char *id, const char *text);

/* Prints the reason a row could not be measured to stdout as
 * "SKIP id reason"; run.sh shows it under the table. */
void bench_skip(const char *id, const char *reason);

/* Prints "bench: <what>: <mp_strerror(code)>" to stderr and exits 1. */
void bench_fail(const char *what, int code);

#ifdef __cplusplus
}
#endif
#endif
