/* fork.c: the fork start method. The parent blocks every signal, forks,
 * restores its mask and opens a pidfd (the sentinel; without pidfds a socket
 * pair, sentinel.c). The child restores the mask, rebuilds the library's
 * per-process state (identity, registry, current and parent objects), runs
 * the hooks other areas registered, then the target, then Python's exit
 * function, and leaves with _exit(): the parent's atexit handlers (and
 * LeakSanitizer's) must not run in the child.
 *
 * No error pipe (libuv's pattern) is needed: without exec nothing can fail
 * in the child between fork and the target that the parent must hear
 * about. Signals are blocked across fork so that no handler of the parent
 * runs in the child before its state is rebuilt.
 *
 * A daemonic child dies with its parent process (mp__die_with_parent).
 * PR_SET_PDEATHSIG alone cannot say that: the kernel sends the signal when
 * the parent *thread* ends, the one that forked, even though the process
 * lives on and the child is merely handed to a sibling thread (a pool
 * created in a short-lived thread lost its workers so). So the death
 * signal is MP_PDEATH_SIGNAL with a handler that looks at getppid(): still
 * the parent's pid means a thread of it ended (it is sent again when the
 * new parent thread ends); another pid means the whole process is gone
 * (we were reparented to init or a subreaper), and the child SIGKILLs
 * itself. */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "process_internal.h"
#include "start_internal.h"
#include "shm/shm_internal.h"

static pthread_mutex_t g_pair_lock = PTHREAD_MUTEX_INITIALIZER;

static volatile pid_t g_parent; /* what getppid() says while it lives */

static void on_parent_thread_end(int sig) {
  (void)sig;
  if (getppid() != g_parent)
    raise(SIGKILL);
}

void mp__die_with_parent(pid_t parent) {
  g_parent = parent;
  struct sigaction sa = {.sa_handler = on_parent_thread_end, .sa_flags = SA_RESTART};
  sigemptyset(&sa.sa_mask);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, MP_PDEATH_SIGNAL);
  /* The handler before the prctl, the prctl before the check: a parent
   * that dies at any point is seen by one of the two. */
  if (sigaction(MP_PDEATH_SIGNAL, &sa, NULL) < 0 ||
      pthread_sigmask(SIG_UNBLOCK, &set, NULL) != 0) {
    /* The signal is not ours to take (a tool reserves it): die with the
     * parent's thread then, as PR_SET_PDEATHSIG alone does. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
      raise(SIGKILL);
    return;
  }
  if (prctl(PR_SET_PDEATHSIG, MP_PDEATH_SIGNAL) < 0 || getppid() != parent)
    raise(SIGKILL);
}

MP__HOT static _Noreturn void child_main(mp_process *p, pid_t parent_pid,
                                 const char *parent_name, int token) {
  mp__children_after_fork(p, parent_pid, parent_name);
  if (token >= 0)
    mp__children_set_parent_sentinel(token);
  if (p->daemon) /* die with the parent even when it is SIGKILLed */
    mp__die_with_parent(parent_pid);
  mp__atfork_child_run();
  mp__child_run(p->target, p->arg, p->len);
}

MP__HOT _Noreturn void mp__child_run(mp_target_fn target, void *arg,
                                     size_t len) {
  mp_log(MP_LOG_INFO, "child process calling self.run()");
  int code = target(arg, len) & 0xff;
  mp__process_exit_function();
  mp_log(MP_LOG_INFO, "process exiting with exitcode %d", code);
  /* As Python's child flushes sys.stdout and sys.stderr. Checked first:
   * fflush writes the stream's lock, a page fault when nothing is due.
   * Files the target opened itself are its own to close. */
  if (__fpending(stdout))
    fflush(stdout);
  if (__fpending(stderr))
    fflush(stderr);
  /* Drop the shared-memory references inherited at fork, so the parent
   * can reuse those blocks once it frees them too. */
  mp__shm_exit();
  _exit(code);
}

MP__HOT static int fork_start(mp_process *p, mp__started *out) {
  /* The child reads these from its copy; compute before fork. */
  pid_t parent_pid = mp__proc_getpid();
  const char *parent_name = mp__self_name();

  /* As Python flushes sys.stdout and sys.stderr before fork: output still
   * buffered here would otherwise be written twice, by us and the child. */
  if (__fpending(stdout))
    fflush(stdout);
  if (__fpending(stderr))
    fflush(stderr);
  /* Without pidfds (sentinel.c) the child holds one end of a socket pair.
   * One start at a time then: a child forked by another thread meanwhile
   * would inherit this child's end and keep its sentinel from firing. */
  bool pair = mp__pidfd_missing();
  int sv[2] = {-1, -1};
  if (pair) {
    pthread_mutex_lock(&g_pair_lock);
    int r = mp__sentinel_pair(sv);
    if (r < 0) {
      pthread_mutex_unlock(&g_pair_lock);
      return r;
    }
  }
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = fork();
  if (pid == 0) {
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pair) {
      mp__close(sv[0]);
      /* The lock was held by this thread at fork: leave it usable. */
      pthread_mutex_init(&g_pair_lock, NULL);
    }
    child_main(p, parent_pid, parent_name, sv[1]);
  }
  int err = pid < 0 ? -errno : 0;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (pair) {
    mp__close(sv[1]);
    pthread_mutex_unlock(&g_pair_lock);
    if (err)
      mp__close(sv[0]);
    else
      *out = (mp__started){.pid = pid, .pidfd = sv[0], .pair = true};
    return err;
  }
  int pidfd = -1;
  if (pid > 0) {
    /* A zombie still has its pid, and only we reap it: no reuse race. */
    pidfd = mp__pidfd_open(pid);
    if (pidfd < 0) {
      err = pidfd;
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
    }
  }
  if (err)
    return err;
  *out = (mp__started){.pid = pid, .pidfd = pidfd};
  return 0;
}

MP__HOT int mp__fork_poll(mp_process *p) {
  siginfo_t si;
  si.si_pid = 0;
  int r = p->pair ? waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG)
                  : waitid(P_PIDFD, (id_t)p->pidfd, &si, WEXITED | WNOHANG);
  if (r < 0) {
    if (errno != ECHILD)
      return 0; /* EINTR cannot happen with WNOHANG; be conservative */
    /* Someone else reaped it (waitpid(-1), SIGCHLD ignored): it ended
     * once the pidfd is readable, and its code is lost. */
    mp__deadline now = {0};
    if (mp__poll1(p->pidfd, POLLIN, &now) <= 0)
      return 0;
    p->exit_known = false;
    return 1;
  }
  if (si.si_pid == 0)
    return 0;
  p->exit_known = true;
  p->exitcode = si.si_code == CLD_EXITED ? si.si_status : -si.si_status;
  return 1;
}

int mp__fork_send_signal(mp_process *p, int sig) {
  /* kill() by pid is safe here: the child is not reaped yet (the caller
   * holds the lock and saw it running), so its pid is not reused. */
  int r = p->pair ? kill(p->pid, sig)
                  : (int)syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0);
  if (r < 0 && errno != ESRCH)
    return -errno;
  return 0;
}

const mp__start_method mp__method_fork = {
    .name = "fork",
    .waitable = true,
    .start = fork_start,
    .poll = mp__fork_poll,
    .send_signal = mp__fork_send_signal,
};
