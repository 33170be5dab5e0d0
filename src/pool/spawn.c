/* spawn.c: starting, killing and reaping the pool's worker processes.
 * (Interim: plain fork + pidfd until mp_process lands on main.) */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pool_internal.h"

int pool__spawn(mp_pool *p, int w) {
  pool__worker *wk = &p->workers[w];
  pid_t parent = getpid();
  fflush(NULL);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = fork();
  if (pid == 0) {
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
      _exit(1);
    int code = pool__worker_main(p, w);
    fflush(NULL);
    _exit(code);
  }
  int err = pid < 0 ? -errno : 0;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (err)
    return err;
  int fd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) {
    err = -errno;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return err;
  }
  static unsigned counter;
  snprintf(wk->name, sizeof wk->name, "ForkPoolWorker-%u",
           __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
  wk->pid = pid;
  wk->pidfd = fd;
  wk->proc = (void *)1;
  wk->dead = false;
  return 0;
}

void pool__kill(mp_pool *p, int w) {
  pool__worker *wk = &p->workers[w];
  if (wk->proc)
    syscall(SYS_pidfd_send_signal, wk->pidfd, SIGKILL, NULL, 0);
}

void pool__reap(mp_pool *p, int w, int *signo, int *status) {
  pool__worker *wk = &p->workers[w];
  *signo = 0;
  *status = -1;
  if (!wk->proc)
    return;
  siginfo_t si;
  memset(&si, 0, sizeof si);
  if (waitid(P_PIDFD, (id_t)wk->pidfd, &si, WEXITED) == 0) {
    if (si.si_code == CLD_EXITED)
      *status = si.si_status;
    else
      *signo = si.si_status;
  }
  mp__close(wk->pidfd);
  wk->pidfd = -1;
  wk->pid = 0;
  wk->proc = NULL;
}
