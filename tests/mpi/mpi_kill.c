/* mpi_kill.c: a program for the dead-rank tests (tests/mpi/test_mpi_kill.sh
 * runs it under mpirun; A2's many-rounds script reuses it). Modes:
 *   kill-rank   rank 0 SIGKILLs the last serving rank while a map runs
 *               (run under --enable-recovery): the map returns, the dead
 *               rank's items fail with MP_EWORKERDIED naming the rank, every
 *               other item is right; the pool and a new pool go on with the
 *               survivors. Prints "ok kill-rank failed=N".
 *   stall-rank  rank 0 SIGSTOPs the last serving rank past the dead
 *               timeout, then SIGCONTs it: taken for dead, the job still
 *               ends cleanly (no recovery mode needed).
 *   kill-root   rank 0 SIGKILLs itself mid-map: the job must end (the
 *               script checks that no process is left).
 *   singleton   started without mpirun: a pool on "mpi" fails with
 *               MP_ENOTSUP and says to use mpirun.
 * A watchdog (alarm) bounds rank 0. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mproc.h"
#include "mproc/mpi.h"
#include "mpi_test.h"

/* The serving rank's pid and number (the local worker's parent). */
static int where(const void *arg, size_t len, mp_task_out *out) {
  (void)arg, (void)len;
  int v[2] = {mp_mpi_rank(), (int)getppid()};
  return mp_task_out_set(out, v, sizeof v);
}

/* Sleeps 20 ms, returns 3 * x. */
static int slow_triple(const void *arg, size_t len, mp_task_out *out) {
  (void)len;
  int x = *(const int *)arg * 3;
  struct timespec ts = {0, 20000000};
  nanosleep(&ts, NULL);
  return mp_task_out_set(out, &x, sizeof x);
}

static void nap_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* The pid of serving rank `rank`, found by asking tasks where they run. */
static pid_t pid_of_rank(mp_pool *p, int rank) {
  enum { N = 64 };
  int in[N] = {0}, out[2 * N];
  for (int round = 0; round < 50; round++) {
    CHECK(mp_pool_map(p, where, in, N, sizeof(int), out, 2 * sizeof(int),
                      &(mp_call_opts){.chunksize = 1}, NULL) == 0);
    for (int i = 0; i < N; i++)
      if (out[2 * i] == rank)
        return out[2 * i + 1];
  }
  return 0;
}

enum { N = 400 };
static int g_in[N], g_out[N];

/* A pool, the pid of the last serving rank, and a map of N slow tasks
 * running on it. */
static mp_result *start_map(mp_pool **pp, pid_t *pid) {
  mp_pool *p = mp_pool_new(&(mp_pool_opts){.start_method = MP_START_MPI});
  CHECK(p);
  *pid = pid_of_rank(p, mp_mpi_size() - 1);
  CHECK(*pid > 0);
  for (int i = 0; i < N; i++)
    g_in[i] = i;
  mp_result *r = mp_pool_map_async(p, slow_triple, g_in, N, sizeof(int), g_out,
                                   sizeof(int), &(mp_call_opts){.chunksize = 2});
  CHECK(r);
  *pp = p;
  return r;
}

/* The map failed only on the victim's items, naming it; the number failed. */
static int check_map(mp_result *r) {
  CHECK(mp_result_get(r, 60, NULL, NULL) == MP_EWORKERDIED);
  char want[32];
  snprintf(want, sizeof want, "MPI rank %d", mp_mpi_size() - 1);
  int failed = 0;
  for (int i = 0; i < N; i++) {
    int irc = mp_result_item(r, (size_t)i, NULL, NULL);
    if (irc) {
      const mp_error *e = mp_result_item_error(r, (size_t)i);
      CHECK(irc == MP_EWORKERDIED && e && strstr(e->message, want));
      failed++;
    } else {
      CHECK(g_out[i] == 3 * g_in[i]);
    }
  }
  CHECK(failed > 0 && failed < N);
  mp_result_free(r);
  return failed;
}

static int kill_rank(void) {
  mp_pool *p;
  pid_t pid;
  mp_result *r = start_map(&p, &pid);
  nap_ms(300);
  CHECK(kill(pid, SIGKILL) == 0);
  int failed = check_map(r);
  /* The same pool goes on with the survivors. */
  memset(g_out, 0, sizeof g_out);
  CHECK(mp_pool_map(p, slow_triple, g_in, 50, sizeof(int), g_out, sizeof(int),
                    &(mp_call_opts){.chunksize = 1}, NULL) == 0);
  for (int i = 0; i < 50; i++)
    CHECK(g_out[i] == 3 * i);
  mp_pool_free(p);
  /* A new pool has no slot on the dead rank. */
  p = mp_pool_new(&(mp_pool_opts){.start_method = MP_START_MPI});
  CHECK(p);
  int x = 5, *y = NULL;
  CHECK(mp_pool_apply(p, slow_triple, &x, sizeof x, (void **)&y, NULL, NULL) == 0);
  CHECK(*y == 15);
  mp_free(y);
  CHECK(mp_pool_close(p) == 0 && mp_pool_join(p, 30) == 0);
  mp_pool_free(p);
  printf("ok kill-rank failed=%d\n", failed);
  fflush(stdout);
  mp_mpi_finalize();
  return 0;
}

/* SIGSTOP the last serving rank for longer than MP_MPI_DEAD_TIMEOUT (the
 * script sets 1 s), then SIGCONT: it is taken for dead (its items fail
 * naming it), the rest completes, and the job still ends cleanly. */
static int stall_rank(void) {
  mp_pool *p;
  pid_t pid;
  mp_result *r = start_map(&p, &pid);
  nap_ms(200);
  CHECK(kill(pid, SIGSTOP) == 0);
  nap_ms(1500);
  CHECK(kill(pid, SIGCONT) == 0);
  int failed = check_map(r);
  mp_pool_free(p);
  printf("ok stall-rank failed=%d\n", failed);
  fflush(stdout);
  mp_mpi_finalize();
  return 0;
}

static int kill_root(void) {
  mp_pool *p;
  pid_t pid;
  start_map(&p, &pid);
  nap_ms(300);
  printf("rank 0 kills itself\n");
  fflush(stdout);
  raise(SIGKILL);
  return 1;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "singleton") == 0) {
    /* Before mp_mpi_init: the method is known and says what is missing. */
    mp_pool *p = mp_pool_new(&(mp_pool_opts){.start_method = MP_START_MPI});
    CHECK(!p && mp_errno_code(errno) == MP_ENOTSUP);
    CHECK(strstr(mp_last_error()->message, "mp_mpi_init") != NULL);
  }
  int rc = mp_mpi_init(&argc, &argv);
  if (rc) {
    fprintf(stderr, "mp_mpi_init: %s\n", mp_strerror(rc));
    return 1;
  }
  const char *mode = argc > 1 ? argv[1] : "kill-rank";
  if (strcmp(mode, "singleton") == 0) {
    CHECK(mp_mpi_size() == 1 && mp_mpi_rank() == 0);
    mp_pool *p = mp_pool_new(&(mp_pool_opts){.start_method = MP_START_MPI});
    CHECK(!p && mp_errno_code(errno) == MP_ENOTSUP);
    CHECK(strstr(mp_last_error()->message, "mpirun") != NULL);
    printf("ok singleton: %s\n", mp_last_error()->message);
    return mp_mpi_finalize();
  }
  if (mp_mpi_size() < 3) {
    printf("SKIP: needs mpirun -n 3 or more\n");
    return 77;
  }
  alarm(100);
  if (strcmp(mode, "kill-rank") == 0)
    return kill_rank();
  if (strcmp(mode, "kill-root") == 0)
    return kill_root();
  if (strcmp(mode, "stall-rank") == 0)
    return stall_rank();
  fprintf(stderr, "unknown mode %s\n", mode);
  return 2;
}
