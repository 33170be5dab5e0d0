/* spawn.c: the pool's workers, as mp_process objects of the pool's start
 * method: daemonic (they die with the pool's process, even by SIGKILL),
 * named as CPython names them, watched through their sentinel (a pidfd; an
 * eventfd for a thread) by the result thread, killed through it, reaped by
 * join. Fork and thread workers run on this very pool object; spawn and
 * forkserver workers rebuild a view of it (methods.c). A backend's workers
 * are proxy threads (pool_backend.h); killing one asks the backend to stop
 * its chunk. */
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

/* CPython's names: the process class's, with Process -> PoolWorker
 * (ForkProcess-1 -> ForkPoolWorker-1); ThreadPool's threads are
 * "Thread-N (worker)". */
static void set_name(mp_pool *p, mp_process *proc) {
  static const char *const prefix[] = {
      [POOL__M_FORK] = "ForkPoolWorker", [POOL__M_SPAWN] = "SpawnPoolWorker",
      [POOL__M_FORKSERVER] = "ForkServerPoolWorker", [POOL__M_THREAD] = "Thread"};
  /* The default name: "Process-1", or "Thread-1 (target)" for a thread. */
  const char *name = mp_process_name(proc), *num = strchr(name, '-');
  if (!num)
    return;
  char buf[sizeof p->workers[0].name];
  if (p->backend) { /* a proxy thread: the backend's name for its workers */
    snprintf(buf, sizeof buf, "%s%.*s", p->backend->worker_prefix,
             (int)strcspn(num, " "), num);
    mp_process_set_name(proc, buf);
    return;
  }
  snprintf(buf, sizeof buf, "%s%.*s%s", prefix[p->method],
           (int)strcspn(num, " "), num,
           p->method == POOL__M_THREAD ? " (worker)" : "");
  mp_process_set_name(proc, buf);
}

int pool__spawn(mp_pool *p, int w) {
  pool__worker *wk = &p->workers[w];
  /* A backend's proxies are threads running the worker loop. */
  mp_process_opts po = {.daemon = MP_DAEMON_YES,
                        .start_method = p->backend ? MP_START_THREAD
                                                   : pool__method_name(p->method)};
  mp_process *proc;
  if (p->exec_fns && !p->backend) {
    proc = pool__exec_process(p, w, &po);
  } else { /* fork, thread, proxies: the worker uses this very pool object */
    worker_arg a = {p, w};
    proc = mp_process_new(worker_target, &a, sizeof a, &po);
  }
  if (!proc)
    return mp_errno_code(errno);
  set_name(p, proc);
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
  if (p->backend)
    p->backend->stop(p->bstate, w);
  else if (p->workers[w].proc)
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
