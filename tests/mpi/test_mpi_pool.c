/* test_mpi_pool.c: the pool's behaviour suite on the "mpi" start method,
 * run under mpirun (tests/mpi/run.sh, -n 3 and -n 5, shared memory and
 * TCP). Rank 0 runs every case; the other ranks serve. Each case has a
 * watchdog (alarm) that fails the run in seconds instead of hanging; no
 * case asserts on timing. Prints "ok N name" per case, exits nonzero on the
 * first failure (mpirun then ends every rank). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "mproc.h"
#include "mproc/mpi.h"
#include "mpi_test.h"
#include "pool_test_tasks.h" /* square, inv, echo_upper */

/* ---- tasks (they run in the serving ranks' local pool workers) -------------- */

static int pid_task(const void *arg, size_t len, mp_task_out *out) {
  (void)arg, (void)len;
  int pid = getpid();
  return mp_task_out_set(out, &pid, sizeof pid);
}

/* Sleeps arg milliseconds, returns arg. */
static int sleep_ms(const void *arg, size_t len, mp_task_out *out) {
  (void)len;
  int ms = *(const int *)arg;
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
  return mp_task_out_set(out, &ms, sizeof ms);
}

/* Crashes on 13, else squares. */
static int crash13(const void *arg, size_t len, mp_task_out *out) {
  int x = *(const int *)arg;
  if (x == 13) {
    signal(SIGSEGV, SIG_DFL);
    raise(SIGSEGV);
  }
  return square(arg, len, out);
}

/* Hangs on 7 (for the time limit), else squares. */
static int hang7(const void *arg, size_t len, mp_task_out *out) {
  int x = *(const int *)arg;
  if (x == 7)
    for (;;)
      pause();
  return square(arg, len, out);
}

static int g_inited; /* in each local worker: what the initializer set */
static int init_set(void *arg) {
  g_inited = *(const int *)arg;
  return 0;
}
static int init_fails(void *arg) {
  (void)arg;
  return 3;
}
static int read_init(const void *arg, size_t len, mp_task_out *out) {
  (void)arg, (void)len;
  return mp_task_out_set(out, &g_inited, sizeof g_inited);
}

/* ---- cases -------------------------------------------------------------------------- */

static mp_pool *mpi_pool(int processes) {
  mp_pool_opts o = {.processes = processes, .start_method = MP_START_MPI};
  mp_pool *p = mp_pool_new(&o);
  if (!p)
    fprintf(stderr, "mp_pool_new: %s (%s)\n", mp_strerror(errno),
            mp_last_error()->message);
  CHECK(p);
  return p;
}

static void end_pool(mp_pool *p) {
  CHECK_RC(mp_pool_close(p), 0);
  CHECK_RC(mp_pool_join(p, 30), 0);
  mp_pool_free(p);
}

static void t_apply_map(void) {
  mp_pool *p = mpi_pool(0);
  CHECK(mp_pool_processes(p) >= mp_mpi_size() - 1);
  int x = 7, *y = NULL;
  size_t len = 0;
  CHECK_RC(mp_pool_apply(p, square, &x, sizeof x, (void **)&y, &len, NULL), 0);
  CHECK(len == sizeof(int) && *y == 49);
  mp_free(y);
  int in[100], out[100];
  for (int i = 0; i < 100; i++)
    in[i] = i;
  CHECK_RC(mp_pool_map(p, square, in, 100, sizeof(int), out, sizeof(int), NULL, NULL), 0);
  for (int i = 0; i < 100; i++)
    CHECK(out[i] == i * i);
  /* chunksize 1 and a big chunk */
  memset(out, 0, sizeof out);
  CHECK_RC(mp_pool_map(p, square, in, 100, sizeof(int), out, sizeof(int),
                       &(mp_call_opts){.chunksize = 1}, NULL), 0);
  for (int i = 0; i < 100; i++)
    CHECK(out[i] == i * i);
  end_pool(p);
}

static void t_errors(void) {
  mp_pool *p = mpi_pool(0);
  int in[10];
  double out[10];
  for (int i = 0; i < 10; i++)
    in[i] = i;
  mp_error e;
  CHECK_RC(mp_pool_map(p, inv, in, 10, sizeof(int), out, sizeof(double), NULL, &e), MP_ETASK);
  CHECK(strstr(e.message, "ZeroDivisionError") != NULL);
  CHECK(e.status == 1);
  CHECK(out[0] == 1.0 / -5.0 && out[9] == 1.0 / 4.0);
  int x = 5;
  CHECK_RC(mp_pool_apply(p, inv, &x, sizeof x, NULL, NULL, &e), MP_ETASK);
  CHECK(strstr(e.message, "ZeroDivisionError") != NULL);
  end_pool(p);
}

static int g_cb_ok, g_cb_err;
static void on_ok(mp_result *r, void *ctx) {
  (void)ctx;
  const void *d;
  size_t n;
  if (mp_result_get(r, 0, &d, &n) == 0)
    __atomic_add_fetch(&g_cb_ok, 1, __ATOMIC_SEQ_CST);
}
static void on_err(mp_result *r, void *ctx) {
  (void)ctx;
  if (mp_result_error(r))
    __atomic_add_fetch(&g_cb_err, 1, __ATOMIC_SEQ_CST);
}

static void t_callbacks_async(void) {
  mp_pool *p = mpi_pool(0);
  mp_call_opts co = {.callback = on_ok, .error_callback = on_err};
  mp_result *rs[20];
  for (int i = 0; i < 20; i++)
    CHECK((rs[i] = mp_pool_apply_async(p, inv, &i, sizeof i, &co)));
  for (int i = 0; i < 20; i++) {
    const void *d;
    size_t n;
    int rc = mp_result_get(rs[i], 30, &d, &n);
    CHECK(rc == (i == 5 ? MP_ETASK : 0));
    if (!rc)
      CHECK(n == sizeof(double) && *(const double *)d == 1.0 / (i - 5.0));
    mp_result_free(rs[i]);
  }
  CHECK(g_cb_ok == 19 && g_cb_err == 1);
  /* map_async with the output in shared memory, starmap, map_bytes */
  int in[50];
  for (int i = 0; i < 50; i++)
    in[i] = i;
  mp_result *r = mp_pool_map_async(p, square, in, 50, sizeof(int), NULL, sizeof(int), NULL);
  CHECK(r);
  const void *d;
  size_t n;
  CHECK_RC(mp_result_get(r, 30, &d, &n), 0);
  CHECK(n == 50 * sizeof(int) && ((const int *)d)[49] == 49 * 49);
  mp_result_free(r);
  const char *words[] = {"alpha", "", "gamma delta", "x"};
  struct iovec iov[4];
  for (int i = 0; i < 4; i++)
    iov[i] = (struct iovec){(void *)words[i], strlen(words[i])};
  r = mp_pool_map_bytes_async(p, echo_upper, iov, 4, NULL);
  CHECK(r);
  CHECK_RC(mp_result_wait(r, 30), 0);
  CHECK_RC(mp_result_item(r, 2, &d, &n), 0);
  CHECK(n == 11 && memcmp(d, "GAMMA DELTA", 11) == 0);
  CHECK_RC(mp_result_item(r, 1, &d, &n), 0);
  CHECK(n == 0);
  mp_result_free(r);
  /* A big argument and result (several ring fragments on rank 0) */
  size_t big = 300000;
  char *arg = malloc(big);
  CHECK(arg);
  memset(arg, 'q', big);
  void *res = NULL;
  CHECK_RC(mp_pool_apply(p, echo_upper, arg, big, &res, &n, NULL), 0);
  if (n != big) fprintf(stderr, "n %zu\n", n);
  CHECK(n == big && ((char *)res)[0] == 'Q' && ((char *)res)[big - 1] == 'Q');
  mp_free(res);
  free(arg);
  end_pool(p);
}

static void t_imap(void) {
  mp_pool *p = mpi_pool(0);
  int in[30];
  for (int i = 0; i < 30; i++)
    in[i] = i;
  mp_imap *it = mp_pool_imap(p, square, in, 30, sizeof(int), NULL);
  CHECK(it);
  const void *d;
  size_t n;
  for (int i = 0; i < 30; i++) {
    CHECK_RC(mp_imap_next(it, 30, &d, &n), 0);
    CHECK(n == sizeof(int) && *(const int *)d == i * i);
  }
  CHECK_RC(mp_imap_next(it, 1, &d, &n), MP_ESTOP);
  mp_imap_free(it);
  /* next with a timeout while the item is still running */
  int ms[2] = {1500, 1};
  it = mp_pool_imap(p, sleep_ms, ms, 2, sizeof(int), NULL);
  CHECK(it);
  CHECK_RC(mp_imap_next(it, 0.05, &d, &n), MP_ETIMEOUT);
  CHECK(mp_imap_error(it) == NULL);
  CHECK_RC(mp_imap_next(it, 30, &d, &n), 0);
  CHECK(*(const int *)d == 1500);
  mp_imap_free(it);
  /* unordered: every index once */
  it = mp_pool_imap_unordered(p, square, in, 30, sizeof(int), NULL);
  CHECK(it);
  int seen[30] = {0};
  for (int i = 0; i < 30; i++) {
    CHECK_RC(mp_imap_next(it, 30, &d, &n), 0);
    size_t k = mp_imap_index(it);
    CHECK(k < 30 && !seen[k] && *(const int *)d == (int)(k * k));
    seen[k] = 1;
  }
  mp_imap_free(it);
  end_pool(p);
}

static void t_initializer_maxtasks(void) {
  int v = 4242;
  mp_pool_opts o = {.start_method = MP_START_MPI, .initializer = init_set,
                    .initarg = &v, .initarg_len = sizeof v,
                    .maxtasksperchild = 2};
  mp_pool *p = mp_pool_new(&o);
  CHECK(p);
  int in[40], out[40];
  for (int i = 0; i < 40; i++)
    in[i] = i;
  CHECK_RC(mp_pool_map(p, read_init, in, 40, sizeof(int), out, sizeof(int),
                       &(mp_call_opts){.chunksize = 1}, NULL), 0);
  for (int i = 0; i < 40; i++)
    CHECK(out[i] == 4242);
  /* maxtasksperchild: the local workers are replaced, so more than one pid
   * per slot shows up over many chunks. */
  CHECK_RC(mp_pool_map(p, pid_task, in, 40, sizeof(int), out, sizeof(int),
                       &(mp_call_opts){.chunksize = 1}, NULL), 0);
  int distinct = 0;
  for (int i = 0; i < 40; i++) {
    bool dup = false;
    for (int j = 0; j < i; j++)
      dup |= out[j] == out[i];
    distinct += !dup;
  }
  if (distinct <= mp_pool_processes(p))
    fprintf(stderr, "distinct pids %d, processes %d: %d %d %d\n", distinct, mp_pool_processes(p), out[0], out[1], out[39]);
  CHECK(distinct > mp_pool_processes(p));
  end_pool(p);
  /* A bare pointer as initarg means nothing on another rank. */
  o.initarg_len = 0;
  CHECK(mp_pool_new(&o) == NULL && errno == EINVAL);
  /* An initializer that fails: every task fails, nothing hangs. */
  p = mp_pool_new(&(mp_pool_opts){.start_method = MP_START_MPI,
                                  .initializer = init_fails});
  CHECK(p);
  mp_error e;
  CHECK_RC(mp_pool_map(p, square, in, 10, sizeof(int), out, sizeof(int), NULL, &e),
           MP_EWORKERDIED);
  if (!strstr(e.message, "initializer"))
    fprintf(stderr, "message: %s\n", e.message);
  CHECK(strstr(e.message, "initializer") != NULL);
  mp_pool_free(p);
}

static void t_terminate(void) {
  mp_pool *p = mpi_pool(0);
  int ms[8];
  for (int i = 0; i < 8; i++)
    ms[i] = 20000;
  mp_result *r = mp_pool_map_async(p, sleep_ms, ms, 8, sizeof(int), NULL, sizeof(int),
                                   &(mp_call_opts){.chunksize = 1});
  CHECK(r);
  struct timespec ts = {0, 300000000};
  nanosleep(&ts, NULL);
  CHECK_RC(mp_pool_terminate(p), 0);
  CHECK_RC(mp_result_get(r, 10, NULL, NULL), MP_ECLOSED);
  mp_result_free(r);
  mp_pool_free(p);
  /* The ranks go on serving a new pool. */
  p = mpi_pool(0);
  int x = 3, *y = NULL;
  CHECK_RC(mp_pool_apply(p, square, &x, sizeof x, (void **)&y, NULL, NULL), 0);
  CHECK(*y == 9);
  mp_free(y);
  end_pool(p);
}

static void t_many_tiny(void) {
  mp_pool *p = mpi_pool(0);
  size_t n = 100000;
  int *in = malloc(n * sizeof *in), *out = malloc(n * sizeof *out);
  CHECK(in && out);
  for (size_t i = 0; i < n; i++)
    in[i] = (int)(i % 40000);
  CHECK_RC(mp_pool_map(p, square, in, n, sizeof(int), out, sizeof(int), NULL, NULL), 0);
  for (size_t i = 0; i < n; i++)
    CHECK(out[i] == in[i] * in[i]);
  /* 10^4 apply_async, each its own message */
  size_t m = 10000;
  mp_result **rs = malloc(m * sizeof *rs);
  CHECK(rs);
  for (size_t i = 0; i < m; i++)
    CHECK((rs[i] = mp_pool_apply_async(p, square, &in[i], sizeof(int), NULL)));
  for (size_t i = 0; i < m; i++) {
    const void *d;
    CHECK_RC(mp_result_get(rs[i], 60, &d, NULL), 0);
    CHECK(*(const int *)d == in[i] * in[i]);
    mp_result_free(rs[i]);
  }
  free(rs);
  free(in);
  free(out);
  end_pool(p);
}

static void t_crash_timeout(void) {
  mp_pool_opts o = {.start_method = MP_START_MPI, .task_timeout = 1.0};
  mp_pool *p = mp_pool_new(&o);
  CHECK(p);
  int in[30], out[30];
  for (int i = 0; i < 30; i++)
    in[i] = i;
  mp_error e;
  mp_result *r = mp_pool_map_async(p, crash13, in, 30, sizeof(int), out, sizeof(int),
                                   &(mp_call_opts){.chunksize = 3});
  CHECK(r);
  CHECK_RC(mp_result_get(r, 60, NULL, NULL), MP_EWORKERDIED);
  const mp_error *re = mp_result_error(r);
  CHECK(re && re->signo == SIGSEGV && strstr(re->message, "MPI rank") != NULL);
  for (int i = 0; i < 30; i++) {
    int rc = mp_result_item(r, (size_t)i, NULL, NULL);
    CHECK(rc == (i == 13 ? MP_EWORKERDIED : 0));
    if (i != 13)
      CHECK(out[i] == i * i);
  }
  mp_result_free(r);
  CHECK_RC(mp_pool_map(p, hang7, in, 30, sizeof(int), out, sizeof(int),
                       &(mp_call_opts){.chunksize = 2}, &e), MP_ETIMEOUT);
  CHECK(strstr(e.message, "time limit") != NULL);
  for (int i = 0; i < 30; i++)
    if (i != 7)
      CHECK(out[i] == i * i);
  end_pool(p);
}

static void t_context_and_errors(void) {
  mp_context *ctx = mp_get_context(MP_START_MPI);
  CHECK(ctx && strcmp(mp_context_start_method(ctx), "mpi") == 0);
  mp_pool *p = mp_context_pool_new(ctx, &(mp_pool_opts){.processes = 3});
  CHECK(p && mp_pool_processes(p) == 3);
  int in[9], out[9];
  for (int i = 0; i < 9; i++)
    in[i] = i;
  CHECK_RC(mp_pool_starmap(p, square, in, 9, sizeof(int), out, sizeof(int), NULL, NULL), 0);
  CHECK(out[8] == 64);
  /* Not a function of a loaded module: refused at submission. */
  static const unsigned char not_code[16] = {0xc3};
  CHECK(mp_pool_apply_async(p, (mp_task_fn)(uintptr_t)not_code, NULL, 0, NULL) == NULL &&
        errno == EINVAL);
  end_pool(p);
  /* More slots than CPUs: round-robin over the ranks. */
  p = mpi_pool(2 * (mp_mpi_size() - 1) + 1);
  CHECK_RC(mp_pool_map(p, square, in, 9, sizeof(int), out, sizeof(int),
                       &(mp_call_opts){.chunksize = 1}, NULL), 0);
  CHECK(out[3] == 9);
  end_pool(p);
}

/* Two pools at once, each with its own local pools on the ranks; many
 * small applies (batched) interleaved with a map on the other pool. */
static void t_two_pools(void) {
  mp_pool *a = mpi_pool(0), *b = mpi_pool(2);
  enum { N = 2000 };
  static mp_result *rs[N];
  static int in[N], out[N];
  for (int i = 0; i < N; i++) {
    in[i] = i;
    CHECK((rs[i] = mp_pool_apply_async(a, square, &in[i], sizeof(int), NULL)));
  }
  CHECK_RC(mp_pool_map(b, square, in, N, sizeof(int), out, sizeof(int),
                       &(mp_call_opts){.chunksize = 1}, NULL), 0);
  for (int i = 0; i < N; i++) {
    const void *d;
    CHECK(out[i] == i * i);
    CHECK_RC(mp_result_get(rs[i], 60, &d, NULL), 0);
    CHECK(*(const int *)d == i * i);
    mp_result_free(rs[i]);
  }
  end_pool(a);
  end_pool(b);
}

typedef struct tcase {
  const char *name;
  void (*fn)(void);
} tcase;

int main(int argc, char **argv) {
  int rc = mp_mpi_init(&argc, &argv);
  if (rc) {
    fprintf(stderr, "mp_mpi_init: %s\n", mp_strerror(rc));
    return 1;
  }
  if (mp_mpi_size() < 2) {
    printf("SKIP: needs mpirun -n 2 or more\n");
    return 77;
  }
  static const tcase cases[] = {
      {"apply_map", t_apply_map},
      {"errors", t_errors},
      {"callbacks_async", t_callbacks_async},
      {"imap", t_imap},
      {"initializer_maxtasks", t_initializer_maxtasks},
      {"terminate", t_terminate},
      {"many_tiny", t_many_tiny},
      {"crash_timeout", t_crash_timeout},
      {"context_and_errors", t_context_and_errors},
      {"two_pools", t_two_pools},
  };
  const char *only = argc > 1 ? argv[1] : NULL;
  int n = 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    if (only && strcmp(only, cases[i].name) != 0)
      continue;
    alarm(90); /* the watchdog: a hang fails the run */
    cases[i].fn();
    alarm(0);
    printf("ok %d %s\n", ++n, cases[i].name);
    fflush(stdout);
  }
  mp_mpi_finalize();
  return 0;
}
