/* spawn.c: the pool's worker processes, as mp_process objects: daemonic
 * (they die with the pool's process, even by SIGKILL), named
 * ForkPoolWorker-N as CPython names them, watched through their sentinel
 * (pidfd) by the result thread, killed through it, reaped by join. */
#include <stdio.h>
#include <string.h>

#include "pool_internal.h"

typedef struct worker_arg {
  mp_pool *p;
  int w;
} worker_arg;

static int worker_target(void *arg, size_t len) {
  (void)len;
  worker_arg a;
  memcpy(&a, arg, sizeof a);
  return pool__worker_main(a.p, a.w);
}

int pool__spawn(mp_pool *p, int w) {
  pool__worker *wk = &p->workers[w];
  worker_arg a = {p, w};
  /* fork, always: workers use the pool's memory as inherited (other start
   * methods are MP_ENOTSUP at mp_pool_new for now, whatever
   * mp_set_start_method chose). */
  mp_process *proc = mp_process_new(
      worker_target, &a, sizeof a,
      &(mp_process_opts){.daemon = MP_DAEMON_YES, .start_method = "fork"});
  if (!proc)
    return mp_errno_code(errno);
  /* Process-N becomes ForkPoolWorker-N (CPython's w.name.replace). */
  const char *name = mp_process_name(proc);
  if (strncmp(name, "Process", 7) == 0) {
    char buf[sizeof wk->name];
    snprintf(buf, sizeof buf, "ForkPoolWorker%s", name + 7);
    mp_process_set_name(proc, buf);
  }
  int rc = mp_process_start(proc);
  if (rc) {
    mp_process_free(proc);
    return rc;
  }
  snprintf(wk->name, sizeof wk->name, "%s", mp_process_name(proc));
  wk->proc = proc;
  wk->pid = mp_process_pid(proc);
  wk->pidfd = mp_process_sentinel(proc);
  wk->dead = false;
  return 0;
}

void pool__kill(mp_pool *p, int w) {
  if (p->workers[w].proc)
    mp_process_kill(p->workers[w].proc);
}

void pool__reap(mp_pool *p, int w, int *signo, int *status) {
  pool__worker *wk = &p->workers[w];
  *signo = 0;
  *status = -1;
  if (!wk->proc)
    return;
  int code;
  mp_process_join(wk->proc, MP_FOREVER);
  if (mp_process_exitcode(wk->proc, &code) == 1) {
    if (code < 0)
      *signo = -code;
    else
      *status = code;
  }
  mp_process_free(wk->proc);
  wk->proc = NULL;
  wk->pidfd = -1;
  wk->pid = 0;
}
