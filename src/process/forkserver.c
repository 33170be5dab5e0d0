/* forkserver.c: the forkserver start method. On first use the program
 * spawns a copy of itself as a fork server (flag MP__BOOT_SERVER in its
 * bootstrap) connected by a socket pair. For each child the program sends
 * the child's bootstrap (the same message spawn sends) over that socket;
 * the server, a small single-threaded process, resolves the target, forks,
 * and answers with the child's pid, a pidfd of it and one end of a
 * status socket. The server reaps its children (SIGCHLD through a signalfd)
 * and writes each one's exit code (a 32-bit int: the code, or -signal) to
 * its status socket, then closes it. The program never forks, so threads
 * holding locks (malloc's included) cannot deadlock a child.
 *
 * In the program: the status socket is the sentinel (readable once the
 * code is written, and for good: the program only peeks at the code); the pidfd sends
 * signals to exactly that process. The server leaves when the program
 * closes its end of the socket (the program exited, even by SIGKILL); its
 * daemonic children get SIGKILL then (PR_SET_PDEATHSIG follows the server). */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shm/shm_internal.h"
#include "start_internal.h"

/* ---- the program's side -------------------------------------------------- */

static struct {
  pthread_mutex_t lock;
  int sock; /* to the server, or -1 */
  pid_t pid;
  int token; /* without pidfds: the peer of the server's `self`, or -1 */
} g = {PTHREAD_MUTEX_INITIALIZER, -1, 0, -1};

typedef struct fs_child {
  int pidfd;
} fs_child;

typedef struct fs_reply {
  int32_t err;
  int32_t pid;
} fs_reply;

/* A forked child of the program is not the server's client. */
static void after_fork_child(void) {
  pthread_mutex_init(&g.lock, NULL);
  if (g.sock >= 0)
    close(g.sock);
  g.sock = -1;
  g.pid = 0;
  mp__close(g.token);
  g.token = -1;
}

__attribute__((constructor)) static void register_atfork(void) {
  pthread_atfork(NULL, NULL, after_fork_child);
}

static void server_stop_locked(void) {
  if (g.sock < 0)
    return;
  mp__close(g.sock);
  g.sock = -1;
  mp__close(g.token);
  g.token = -1;
  /* It leaves on EOF; reap it so no zombie stays. */
  waitpid(g.pid, NULL, 0);
  g.pid = 0;
}

static int server_start_locked(void) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    return -errno;
  /* The server's children learn that we ended from `self`: a pidfd of
   * us, or without pidfds (sentinel.c) a socket whose peer we hold. */
  int self, pair[2] = {-1, -1};
  if (mp__pidfd_missing()) {
    int r = mp__sentinel_pair(pair);
    self = r < 0 ? r : pair[1];
  } else {
    self = mp__pidfd_open(mp__proc_getpid());
  }
  if (self < 0) {
    mp__close(sv[0]);
    mp__close(sv[1]);
    return self;
  }
  static const unsigned id0 = 0;
  mp_process server = {
      .kind = MP__PROC_CHILD,
      .name = "ForkServer",
      .identity = (unsigned *)&id0,
      .identity_len = 0,
      .slot = -1,
  };
  mp__fnref none = {0};
  pid_t pid;
  int pidfd;
  /* The server's socket travels as its "result file". */
  int r = mp__spawn_bootstrap(&server, &none, MP__BOOT_SERVER, sv[1], self,
                              &pid, &pidfd);
  mp__close(sv[1]);
  mp__close(self);
  if (r < 0) {
    mp__close(sv[0]);
    mp__close(pair[0]);
    return r;
  }
  g.token = pair[0];
  mp__close(pidfd);
  g.sock = sv[0];
  g.pid = pid;
  return 0;
}

/* One request: send the bootstrap, read the answer. */
static int request_locked(const void *msg, size_t len, const int *fds,
                          size_t nfds, fs_reply *rep, int rfds[2]) {
  int r = mp__send_fds(g.sock, msg, len, fds, nfds);
  if (r < 0)
    return r;
  size_t got = 0;
  r = mp__recv_fds(g.sock, rep, sizeof *rep, rfds, 2, &got, NULL);
  if (r < 0)
    return r;
  if (rep->err == 0 && got == 2)
    return 0;
  for (size_t i = 0; i < got; i++)
    mp__close(rfds[i]);
  return rep->err < 0 ? rep->err : MP_EPROTO;
}

/* Whether 0, 1 and 2 are open: then they go with the request, so the child
 * writes where the program writes now, not where the server was started. */
static bool stdio_open(void) {
  for (int i = 0; i < 3; i++)
    if (fcntl(i, F_GETFD) < 0)
      return false;
  return true;
}

static int fs_start(mp_process *p, mp__started *out) {
  mp__fnref ref;
  if (mp__fnref_make((const void *)p->target, &ref) < 0)
    return -EINVAL;
  fs_child *c = mp__calloc(1, sizeof *c);
  int rfd = mp__result_arena_fd(p);
  void *msg = NULL;
  size_t len, nfds;
  int fds[MP__BOOT_FDS];
  int r = !c ? -ENOMEM : rfd < 0 ? rfd : 0;
  if (r == 0)
    r = mp__boot_encode(p, &ref, stdio_open() ? MP__BOOT_STDIO : 0, rfd, -1,
                        &msg, &len, fds, &nfds);
  fs_reply rep = {0, 0};
  int rf[2] = {-1, -1};
  if (r == 0) {
    pthread_mutex_lock(&g.lock);
    /* A server that died (EOF, EPIPE) is replaced once. */
    for (int attempt = 0; attempt < 2; attempt++) {
      if (g.sock < 0 && (r = server_start_locked()) < 0)
        break;
      r = request_locked(msg, len, fds, nfds, &rep, rf);
      if (r != -EPIPE && r != MP_EEOF && r != -ECONNRESET &&
          r != MP_ETRUNCATED)
        break;
      server_stop_locked();
    }
    pthread_mutex_unlock(&g.lock);
  }
  mp__free(msg);
  if (r < 0) {
    mp__close(rf[0]);
    mp__close(rf[1]);
    mp__free(c);
    return r;
  }
  c->pidfd = rf[1];
  *out = (mp__started){
      .pid = rep.pid, .pidfd = rf[0], .mdata = c};
  return 0;
}

static int fs_poll(mp_process *p) {
  int32_t code;
  /* Peek: the code stays in the socket, so the sentinel stays readable. */
  ssize_t n = recv(p->pidfd, &code, sizeof code, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 || (n > 0 && n < (ssize_t)sizeof code))
    return 0; /* EAGAIN: still running (EINTR cannot happen: nonblocking) */
  if (n == sizeof code) {
    p->exit_known = true;
    p->exitcode = code;
  } else {
    p->exit_known = false; /* the server died before it could tell */
  }
  return 1;
}

static int fs_send_signal(mp_process *p, int sig) {
  fs_child *c = p->mdata;
  int r;
  if (mp__pidfd_missing()) {
    /* By pid: the server reaps the child, so once its code is here the
     * pid may be another process's; before, it is still the child's. */
    if (fs_poll(p))
      return 0;
    r = kill(p->pid, sig);
  } else {
    r = (int)syscall(SYS_pidfd_send_signal, c->pidfd, sig, NULL, 0);
  }
  if (r < 0 && errno != ESRCH)
    return -errno;
  return 0;
}

static void fs_release(mp_process *p) {
  fs_child *c = p->mdata;
  mp__close(c->pidfd);
  mp__free(c);
  p->mdata = NULL;
}

const mp__start_method mp__method_forkserver = {
    .name = "forkserver",
    .waitable = false,
    .start = fs_start,
    .poll = fs_poll,
    .send_signal = fs_send_signal,
    .release = fs_release,
};

/* ---- the server ------------------------------------------------------------ */

typedef struct {
  pid_t pid;
  int status_w;
} entry;

typedef struct {
  entry *v;
  size_t n, cap;
} table;

static void reap(table *t) {
  int st;
  pid_t pid;
  while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
    int32_t code = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
    for (size_t i = 0; i < t->n; i++) {
      if (t->v[i].pid != pid)
        continue;
      (void)!mp__write_full(t->v[i].status_w, &code, sizeof code);
      mp__close(t->v[i].status_w);
      t->v[i] = t->v[--t->n];
      break;
    }
  }
}

static void reply(int sock, int32_t err, pid_t pid, const int *fds,
                  size_t nfds) {
  fs_reply rep = {err, pid};
  (void)mp__send_fds(sock, &rep, sizeof rep, fds, nfds);
}

/* Serves one request; returns false when the program has gone. */
static bool serve_one(int sock, int sfd, int parent_pidfd, table *t,
                      const sigset_t *old_mask) {
  mp__boot req;
  int r = mp__boot_recv(sock, &req, NULL);
  if (r == MP_EEOF || r == MP_ETRUNCATED || r == -ECONNRESET)
    return false;
  if (r < 0) {
    reply(sock, r, 0, NULL, 0);
    return true;
  }
  void *fn;
  int st[2] = {-1, -1};
  entry *slot = NULL;
  if ((r = mp__fnref_resolve(&req.target, &fn)) == 0 &&
      socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, st) < 0)
    r = -errno;
  if (r == 0 && t->n == t->cap) {
    size_t cap = t->cap ? 2 * t->cap : 64;
    entry *v = mp__realloc(t->v, cap * sizeof *v);
    if (!v)
      r = -ENOMEM;
    else {
      t->v = v;
      t->cap = cap;
    }
  }
  pid_t server = getpid(), pid = -1;
  if (r == 0 && (pid = fork()) < 0)
    r = -errno;
  if (r == 0 && pid == 0) {
    pthread_sigmask(SIG_SETMASK, old_mask, NULL);
    mp__close(sock);
    mp__close(sfd);
    mp__close(st[0]);
    mp__close(st[1]);
    for (size_t i = 0; i < t->n; i++)
      mp__close(t->v[i].status_w);
    req.parent_pidfd = parent_pidfd;
    for (int i = 0; i < 3; i++)
      if (req.stdio[i] >= 0) {
        dup2(req.stdio[i], i); /* dup2 leaves the copy without CLOEXEC */
        mp__close(req.stdio[i]);
        req.stdio[i] = -1;
      }
    mp__boot_run(&req, (mp_target_fn)fn, server);
  }
  int pidfd = -1;
  if (r == 0 && (pidfd = mp__pidfd_open(pid)) < 0)
    r = pidfd;
  /* Without pidfds the program signals by pid; any descriptor fills in. */
  if (r == -ENOSYS && (pidfd = fcntl(st[0], F_DUPFD_CLOEXEC, 3)) >= 0)
    r = 0;
  if (r < 0) {
    mp__close(st[0]);
    mp__close(st[1]);
    if (pid > 0)
      kill(pid, SIGKILL); /* reaped by reap(), unknown to the table */
    reply(sock, r, 0, NULL, 0);
  } else {
    slot = &t->v[t->n++];
    slot->pid = pid;
    slot->status_w = st[1];
    int fds[2] = {st[0], pidfd};
    reply(sock, 0, pid, fds, 2);
    mp__close(st[0]);
    mp__close(pidfd);
  }
  mp__boot_free(&req);
  return true;
}

_Noreturn void mp__forkserver_serve(mp__boot *b) {
  int sock = b->result_fd, parent_pidfd = b->parent_pidfd;
  b->result_fd = b->parent_pidfd = -1;
  mp__boot_free(b);
  sigset_t chld, old;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  pthread_sigmask(SIG_BLOCK, &chld, &old);
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0)
    _exit(1);
  table t = {0};
  for (;;) {
    struct pollfd pf[2] = {{sock, POLLIN, 0}, {sfd, POLLIN, 0}};
    if (poll(pf, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (pf[1].revents) {
      struct signalfd_siginfo si[16];
      while (read(sfd, si, sizeof si) > 0) {
      }
      reap(&t);
    }
    if (pf[0].revents && !serve_one(sock, sfd, parent_pidfd, &t, &old))
      break;
  }
  /* The program is gone: nobody reads the status pipes any more. */
  _exit(0);
}
