/* bench_process.c: the cost of starting and joining a process that does
 * nothing, with the fork start method: mproc's process object against bare
 * fork()+_exit()+waitpid() in the same program (the floor), and CPython's
 * multiprocessing in bench/python/bench_process.py.
 *
 * Rows (us per start+join; smaller is better):
 *   process.start_join.fork       parent and child pinned to one CPU: the
 *                                 work of starting and joining, without the
 *                                 machine's cross-CPU wake-up latency;
 *   process.start_join.fork.2cpu  unpinned: what a program sees, wake-ups
 *                                 included (noisy in VMs). */
#include <errno.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mproc.h>

#include "bench_util.h"

#define ROW_PINNED "process.start_join.fork"
#define ROW_2CPU "process.start_join.fork.2cpu"

/* The floor: what any process library must do at least. */
static int raw_fork_join(void *ctx) {
  (void)ctx;
  pid_t pid = fork();
  if (pid < 0)
    return -errno;
  if (pid == 0)
    _exit(0);
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return -errno;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

#if __has_include(<mproc/process.h>)
static int noop_target(void *arg, size_t len) {
  (void)arg;
  (void)len;
  return 0;
}

/* The same job through the library: new + start + join + free. */
static int mproc_start_join(void *ctx) {
  (void)ctx;
  mp_process *p = mp_process_new(noop_target, NULL, 0, NULL);
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
#endif

static void measure(const char *id) {
  /* Alternate the columns so that a change of machine load hits both. */
  bench_opts half = {.budget_s = bench_budget() / 2};
  double raw[2], lib[2];
  for (int i = 0; i < 2; i++) {
    raw[i] = bench_ns_per_op(raw_fork_join, NULL, &half);
#if __has_include(<mproc/process.h>)
    lib[i] = bench_ns_per_op(mproc_start_join, NULL, &half);
#else
    lib[i] = 0;
#endif
  }
  bench_row(id, "us", "raw", (raw[0] + raw[1]) / 2 / 1e3);
#if __has_include(<mproc/process.h>)
  bench_row(id, "us", "mproc", (lib[0] + lib[1]) / 2 / 1e3);
#else
  (void)lib;
  bench_skip(id, "mproc column waits for include/mproc/process.h");
#endif
}

int main(void) {
  bench_desc(ROW_PINNED, "Process start+join, fork, no-op target, one CPU");
  bench_desc(ROW_2CPU, "Process start+join, fork, no-op target, unpinned");
  int rc = bench_pin(1);
  if (rc < 0)
    bench_fail("pinning to one CPU", rc);
  measure(ROW_PINNED);
  bench_pin(0);
  measure(ROW_2CPU);
  return 0;
}
