/* bench_util.c: the measuring loop, the median and the row printer that
 * every benchmark program links (see bench_util.h and bench/README.md). */
#include "bench_util.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

static bench_stats g_last;

double bench_median(double *v, size_t n) {
  if (n == 0)
    return 0;
  qsort(v, n, sizeof *v, cmp_double);
  double med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  g_last = (bench_stats){v[0], med, v[n - 1], (int)n};
  return med;
}

bench_stats bench_last_stats(void) { return g_last; }

bench_stats bench_stats_map(bench_stats s, double k, int invert) {
  if (!invert)
    return (bench_stats){s.min * k, s.median * k, s.max * k, s.n};
  if (s.min <= 0 || s.median <= 0)
    return (bench_stats){0, s.median > 0 ? k / s.median : 0, 0, 0};
  return (bench_stats){k / s.max, k / s.median, k / s.min, s.n};
}

/* ---- CPU time of this process tree ------------------------------------------ */

static double clock_ns(clockid_t c) {
  struct timespec ts;
  if (clock_gettime(c, &ts) < 0)
    return 0; /* the process ended meanwhile: rusage of its parent has it */
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Parent of pid from /proc/pid/stat, or -1. The command name may hold
 * spaces and parentheses: the fields start after the last ')'. */
static pid_t parent_of(const char *pid) {
  char path[300], buf[512];
  snprintf(path, sizeof path, "/proc/%s/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *p = strrchr(buf, ')');
  int ppid;
  return p && sscanf(p + 1, " %*c %d", &ppid) == 1 ? (pid_t)ppid : -1;
}

double bench_cpu_tree_ns(void) { return bench_cpu_tree_ns_from(0); }

double bench_cpu_tree_ns_from(pid_t root) {
  /* The kernel here has no /proc/.../children: one pass over /proc
   * collects (pid, ppid); descendants are found by closing over it. */
  enum { MAXP = 32768 }; /* pid_max on most systems; more are not read */
  static pid_t pids[MAXP], ppids[MAXP];
  static char in[MAXP];
  int n = 0;
  DIR *d = opendir("/proc");
  struct dirent *e;
  while (d && (e = readdir(d)) && n < MAXP) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9')
      continue;
    pid_t pp = parent_of(e->d_name);
    if (pp < 0)
      continue;
    pids[n] = (pid_t)atoi(e->d_name);
    ppids[n] = pp;
    in[n++] = 0;
  }
  if (d)
    closedir(d);
  pid_t self = getpid();
  if (root <= 0)
    root = self;
  clockid_t rc;
  double total = 0;
  if (root == self)
    total = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
  else if (clock_getcpuclockid(root, &rc) == 0)
    total = clock_ns(rc);
  /* Children this process already reaped (the root's reaped ones are not
   * visible from here; a client child's root only waits for it). */
  struct rusage ru;
  if (getrusage(RUSAGE_CHILDREN, &ru) == 0)
    total += (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e9 +
             (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e3;
  self = root;
  for (int grew = 1; grew;) {
    grew = 0;
    for (int i = 0; i < n; i++) {
      if (in[i])
        continue;
      int below = ppids[i] == self;
      for (int j = 0; !below && j < n; j++)
        below = in[j] && pids[j] == ppids[i];
      if (below) {
        in[i] = 1;
        grew = 1;
        clockid_t c;
        if (clock_getcpuclockid(pids[i], &c) == 0)
          total += clock_ns(c);
      }
    }
  }
  return total;
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
  double cpu0 = o.cpu_ns ? bench_cpu_tree_ns_from(o.cpu_root) : 0, wall = 0;
  while (n < o.max_samples &&
         (n < o.min_samples || bench_now_ns() - start < budget)) {
    uint64_t t = run_batch(fn, ctx, batch);
    wall += (double)t;
    samples[n++] = (double)t / (double)batch;
  }
  if (o.mean_ns)
    *o.mean_ns = wall / ((double)n * (double)batch);
  if (o.cpu_ns)
    *o.cpu_ns = (bench_cpu_tree_ns_from(o.cpu_root) - cpu0) / ((double)n * (double)batch);
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

static int near(double a, double b) {
  return fabs(a - b) <= 1e-9 * fabs(b);
}

/* The last stats converted to value's unit, if value is their median
 * under one of the conversions rows use; n = 0 otherwise. */
static bench_stats stats_for(double value) {
  static const double lin[] = {1, 1e-3, 1e-6, 1e3, 1e6};
  static const double inv[] = {1e3, 1e6, 1e9};
  bench_stats s = g_last, none = {0, value, 0, 0};
  if (s.n == 0)
    return none;
  for (size_t i = 0; i < sizeof lin / sizeof *lin; i++)
    if (near(value, s.median * lin[i]))
      return bench_stats_map(s, lin[i], 0);
  for (size_t i = 0; i < sizeof inv / sizeof *inv; i++)
    if (s.median > 0 && near(value, inv[i] / s.median))
      return bench_stats_map(s, inv[i], 1);
  return none;
}

static void print_row(const char *id, const char *unit, const char *column,
                      double value, bench_stats s) {
  check_word("row id", id);
  check_word("unit", unit);
  check_word("column", column);
  if (strncmp(column, "peer:", 5) != 0 && strcmp(column, "mproc") &&
      strcmp(column, "raw") && strcmp(column, "cpython")) {
    fprintf(stderr, "bench: unknown column '%s'\n", column);
    exit(1);
  }
  if (s.n > 0)
    printf("ROW %s %s %s %.6g %.6g %.6g %d\n", id, unit, column, value, s.min,
           s.max, s.n);
  else
    printf("ROW %s %s %s %.6g\n", id, unit, column, value);
  fflush(stdout);
}

void bench_row(const char *id, const char *unit, const char *column,
               double value) {
  print_row(id, unit, column, value, stats_for(value));
}

void bench_row_stats(const char *id, const char *unit, const char *column,
                     bench_stats s) {
  print_row(id, unit, column, s.median, s);
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

/* ---- Spinning rows ------------------------------------------------------------ */

int bench_nospin(void) {
  const char *e = getenv("MP_SPIN");
  return e && strcmp(e, "0") == 0;
}

int bench_rerun_nospin(void) {
  if (bench_nospin())
    return 0;
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0)
    return -errno;
  if (pid == 0) {
    setenv("MP_SPIN", "0", 1);
    execl("/proc/self/exe", "bench-nospin", (char *)NULL);
    _exit(127);
  }
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR)
      return -errno;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

double bench_spin_rows(const char *id, const char *unit, double div,
                       const char *col, bench_fn fn, void *ctx,
                       const bench_opts *opts) {
  bench_opts o = opts ? *opts : (bench_opts){0};
  double cpu = 0, mean = 0;
  o.cpu_ns = &cpu;
  o.mean_ns = &mean;
  char lid[200], cid[208], d[512];
  snprintf(lid, sizeof lid, "%s%s", id, bench_nospin() ? ".nospin" : "");
  snprintf(cid, sizeof cid, "%s.cpu", lid);
  double ns = bench_ns_per_op(fn, ctx, &o);
  bench_stats s = bench_last_stats();
  if (bench_nospin()) {
    snprintf(d, sizeof d, "%s with MP_SPIN=0: no spinning, futex-only waits", id);
    bench_desc(lid, d);
  }
  snprintf(d, sizeof d,
           "CPU time all processes burned per operation of %s (a mean: the mean "
           "latency of those calls was %.4g %s)", lid, mean / div, unit);
  bench_desc(cid, d);
  bench_row_stats(lid, unit, col, bench_stats_map(s, 1 / div, 0));
  bench_row_stats(cid, unit, col, (bench_stats){0, cpu / div, 0, 0});
  return ns;
}
