/* bench_start.c: the cost of starting and joining a process that does
 * nothing with the spawn, forkserver and thread start methods, against the
 * floor of each in the same program, and CPython's multiprocessing in
 * bench/python/bench_start.py.
 *
 * Rows (us per start+join; smaller is better; pinned to one CPU like
 * process.start_join.fork, for the same reason):
 *   process.start_join.spawn       raw: posix_spawn of this same program
 *                                  (which exits at once) + waitpid: the
 *                                  exec and dynamic loading any spawn pays;
 *   process.start_join.forkserver  raw: none (CPython's forkserver beside);
 *   process.start_join.thread      raw: pthread_create + pthread_join;
 *                                  CPython: multiprocessing.dummy.Process.
 *   pool.create_map_join.<method>  ms per Pool(2) + map of 4 items + close
 *                                  + join with fork, spawn, forkserver and
 *                                  thread (CPython: ctx.Pool(2) and
 *                                  ThreadPool(2)); both CPUs, not pinned. */
#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mproc.h>

#include "bench_util.h"

extern char **environ;

#define RAW_ARG "--bench-start-raw-child"

static int raw_spawn_join(void *ctx) {
  (void)ctx;
  char *argv[] = {"/proc/self/exe", RAW_ARG, NULL};
  pid_t pid;
  int r = posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ);
  if (r)
    return -r;
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return -errno;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

static void *noop_thread(void *arg) { return arg; }

static int raw_thread_join(void *ctx) {
  (void)ctx;
  pthread_t t;
  int r = pthread_create(&t, NULL, noop_thread, NULL);
  if (r)
    return -r;
  return -pthread_join(t, NULL);
}

static int noop_target(void *arg, size_t len) {
  (void)arg;
  (void)len;
  return 0;
}

static int start_join(void *ctx) {
  mp_process_opts o = MP_PROCESS_OPTS_INIT;
  o.start_method = ctx;
  mp_process *p = mp_process_new(noop_target, NULL, 0, &o);
  if (!p)
    return mp_errno_code(errno);
  int rc = mp_process_start(p);
  if (rc == 0)
    rc = mp_process_join(p, MP_FOREVER);
  int code = -1;
  if (rc == 0 && mp_process_exitcode(p, &code) != 1)
    rc = MP_ESTATE;
  mp_process_free(p);
  return rc < 0 ? rc : code == 0 ? 0 : -ECHILD;
}

static int ident(const void *arg, size_t len, mp_task_out *out) {
  return mp_task_out_set(out, arg, len);
}

static int pool_create_map_join(void *ctx) {
  mp_pool *p = mp_pool_new(&(mp_pool_opts){.processes = 2, .start_method = ctx});
  if (!p)
    return mp_errno_code(errno);
  int in[4] = {1, 2, 3, 4}, out[4] = {0};
  int rc = mp_pool_map(p, ident, in, 4, sizeof(int), out, sizeof(int), NULL, NULL);
  if (!rc)
    rc = mp_pool_close(p);
  if (!rc)
    rc = mp_pool_join(p, MP_FOREVER);
  mp_pool_free(p);
  if (!rc && out[3] != 4)
    rc = -EPROTO;
  return rc;
}

static void measure(const char *id, const char *method, bench_fn raw_fn) {
  /* Alternate the columns so that a change of machine load hits both. */
  bench_opts half = {.budget_s = bench_budget() / 2};
  double raw[2] = {0, 0}, lib[2];
  for (int i = 0; i < 2; i++) {
    if (raw_fn)
      raw[i] = bench_ns_per_op(raw_fn, NULL, &half);
    lib[i] = bench_ns_per_op(start_join, (void *)method, &half);
  }
  if (raw_fn)
    bench_row(id, "us", "raw", (raw[0] + raw[1]) / 2 / 1e3);
  bench_row(id, "us", "mproc", (lib[0] + lib[1]) / 2 / 1e3);
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], RAW_ARG) == 0)
    return 0; /* the raw spawn's child: loaded, and gone */
  bench_desc("process.start_join.spawn",
             "Process start+join, spawn, no-op target, one CPU");
  bench_desc("process.start_join.forkserver",
             "Process start+join, forkserver, no-op target, one CPU");
  bench_desc("process.start_join.thread",
             "Process start+join, thread (multiprocessing.dummy), one CPU");
  int rc = bench_pin(1);
  if (rc < 0)
    bench_fail("pinning to one CPU", rc);
  measure("process.start_join.spawn", "spawn", raw_spawn_join);
  measure("process.start_join.forkserver", "forkserver", NULL);
  measure("process.start_join.thread", "thread", raw_thread_join);
  bench_pin(0);
  static const char *const methods[] = {"fork", "spawn", "forkserver", "thread"};
  for (size_t i = 0; i < sizeof methods / sizeof *methods; i++) {
    char id[64], desc[96];
    snprintf(id, sizeof id, "pool.create_map_join.%s", methods[i]);
    snprintf(desc, sizeof desc, "Pool(2) + map of 4 items + close + join, %s",
             methods[i]);
    bench_desc(id, desc);
    bench_row(id, "ms", "mproc",
              bench_ns_per_op(pool_create_map_join, (void *)methods[i], NULL) / 1e6);
  }
  return 0;
}
