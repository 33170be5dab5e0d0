/* spawn.c: the spawn start method. The parent runs the program again with
 * posix_spawn (vfork + exec: safe with threads, and cheap) with a marker in
 * argv and one end of a socket pair as descriptor 3; every other descriptor
 * but 0..2 is closed in the child. It sends the bootstrap (start_internal.h)
 * and waits for the child's one-word answer: 0, or why it cannot run the
 * target (MP_ESTALE: the target is not in the program it runs).
 *
 * The child side is a constructor of the library: it runs before main in
 * every program that links mproc, returns at once unless argv carries the
 * marker and descriptor 3 is a socket, and otherwise never returns: it runs
 * the target (or the fork server) and exits. A spawned child is a real
 * child, so fork's poll and signal serve it. Without pidfds (sentinel.c)
 * the bootstrap socket stays open: it is the child's sentinel. */
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shm/shm_internal.h"
#include "start_internal.h"

extern char **environ;

/* How long a parent waits for a spawned program's answer: it has only to
 * load and read a message, but a program that does not link mproc would
 * never answer (it runs its main instead) and must not hang start. */
#define ANSWER_TIMEOUT 60.0

int mp__pidfd_open(pid_t pid) {
  if (mp__pidfd_missing()) /* also when forced: MPROC_NO_PIDFD=1 */
    return -ENOSYS;
  int fd = (int)syscall(SYS_pidfd_open, pid, 0);
  return fd < 0 ? -errno : fd;
}

int mp__spawn_exec(int boot_sock, pid_t *pid) {
  char exe[4096];
  mp__executable_copy(exe, sizeof exe);
  /* Valgrind refuses to exec /proc/self/exe (it would be valgrind itself);
   * its readlink answers with the program's path, which we run instead. */
  if (strcmp(exe, "/proc/self/exe") == 0 && mp__under_valgrind()) {
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    if (n <= 0)
      return -ENOENT;
  }
  char fdarg[] = {'0' + MP__SPAWN_FD, '\0'};
  char *argv[] = {exe, MP__SPAWN_MARKER, fdarg, NULL};
  posix_spawn_file_actions_t fa;
  int r = posix_spawn_file_actions_init(&fa);
  if (r)
    return -r;
  /* dup2 onto itself clears CLOEXEC (POSIX 2024; glibc >= 2.29). */
  if (!(r = posix_spawn_file_actions_adddup2(&fa, boot_sock, MP__SPAWN_FD)))
    r = posix_spawn_file_actions_addclosefrom_np(&fa, MP__SPAWN_FD + 1);
  if (!r)
    r = posix_spawn(pid, exe, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  return -r;
}

/* Reads the child's answer (int32) until EOF or the deadline. */
static int read_answer(int sock) {
  mp__deadline dl;
  mp__deadline_init(&dl, ANSWER_TIMEOUT);
  int32_t ans;
  size_t got = 0;
  while (got < sizeof ans) {
    int ev = mp__poll1(sock, POLLIN, &dl);
    if (ev < 0)
      return ev;
    if (ev == 0)
      return MP_ETIMEOUT;
    ssize_t n = read(sock, (char *)&ans + got, sizeof ans - got);
    if (n < 0 && errno != EINTR && errno != EAGAIN)
      return -errno;
    if (n == 0)
      return MP_EPROTO; /* it died, or the program does not link mproc */
    if (n > 0)
      got += (size_t)n;
  }
  return ans <= 0 ? ans : MP_EPROTO;
}

/* Starts a program on the bootstrap in msg. On success the child has
 * answered 0 and *pid, *pidfd are set; on failure no child is left. With
 * pair (no pidfds) the bootstrap socket stays open as the sentinel. */
static int spawn_with(const void *msg, size_t len, const int *fds, size_t nfds,
                      bool pair, pid_t *pid_out, int *pidfd_out) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    return -errno;
  pid_t pid = 0;
  int r = mp__spawn_exec(sv[1], &pid);
  mp__close(sv[1]);
  int pidfd = -1;
  /* Without pidfds the fork server (not pair: its socket to us is its
   * sentinel) gets none. */
  if (r == 0 && !pair && !mp__pidfd_missing() &&
      (pidfd = mp__pidfd_open(pid)) < 0)
    r = pidfd;
  if (r == 0)
    r = mp__send_fds(sv[0], msg, len, fds, nfds);
  if (r == 0)
    r = read_answer(sv[0]);
  /* Gone before answering: it died, or the program does not link mproc. */
  if (r == -EPIPE || r == -ECONNRESET)
    r = MP_EPROTO;
  if (r == 0 && pair)
    pidfd = sv[0];
  else
    mp__close(sv[0]);
  if (r < 0) {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
    }
    mp__close(pidfd);
    return r;
  }
  *pid_out = pid;
  *pidfd_out = pidfd;
  return 0;
}

int mp__spawn_bootstrap(const mp_process *p, const mp__fnref *target,
                        uint32_t flags, int result_fd, int extra_fd,
                        pid_t *pid, int *pidfd) {
  void *msg;
  size_t len, nfds;
  int fds[MP__BOOT_FDS];
  /* The fork server needs no sentinel: its socket to us is one. */
  bool pair = mp__pidfd_missing() && !(flags & MP__BOOT_SERVER);
  if (pair)
    flags |= MP__BOOT_PAIR;
  int r = mp__boot_encode(p, target, flags, result_fd, extra_fd, &msg, &len,
                          fds, &nfds);
  if (r < 0)
    return r;
  r = spawn_with(msg, len, fds, nfds, pair, pid, pidfd);
  mp__free(msg);
  return r;
}

static int spawn_start(mp_process *p, mp__started *out) {
  mp__fnref ref;
  if (mp__fnref_make((const void *)p->target, &ref) < 0)
    return -EINVAL;
  int rfd = mp__result_arena_fd(p);
  if (rfd < 0)
    return rfd;
  /* Output buffered here would be lost to the child anyway (exec), but
   * the order of lines on a shared terminal is the user's expectation. */
  fflush(stdout);
  pid_t pid;
  int pidfd;
  int r = mp__spawn_bootstrap(p, &ref, 0, rfd, -1, &pid, &pidfd);
  if (r < 0)
    return r;
  *out = (mp__started){.pid = pid, .pidfd = pidfd, .pair = mp__pidfd_missing()};
  return 0;
}

const mp__start_method mp__method_spawn = {
    .name = "spawn",
    .waitable = true,
    .start = spawn_start,
    .poll = mp__fork_poll,
    .send_signal = mp__fork_send_signal,
};

/* ---- the child side: before main ---------------------------------------- */

static void answer(int sock, int32_t code) {
  (void)!mp__write_full(sock, &code, sizeof code);
}

static _Noreturn void spawn_child(int sock) {
  mp__set_cloexec(sock, true);
  mp__boot b;
  mp__deadline dl;
  mp__deadline_init(&dl, ANSWER_TIMEOUT);
  int r = mp__boot_recv(sock, &b, &dl);
  if (r < 0)
    _exit(255);
  if (b.flags & MP__BOOT_SERVER) {
    answer(sock, 0);
    mp__close(sock);
    mp__forkserver_serve(&b);
  }
  void *fn;
  r = mp__fnref_resolve(&b.target, &fn);
  answer(sock, r);
  /* Without pidfds the socket is the parent's sentinel of us and ours of
   * it (sentinel.c): held, CLOEXEC, for this process's life. */
  if (r == 0 && (b.flags & MP__BOOT_PAIR)) {
    if (b.parent_pidfd < 0)
      b.parent_pidfd = sock;
    /* else kept open, unnamed: it is still the parent's sentinel of us */
  } else {
    mp__close(sock);
  }
  if (r < 0)
    _exit(255);
  mp__boot_run(&b, (mp_target_fn)fn, b.parent_pid);
}

__attribute__((constructor)) static void spawn_check(int argc, char **argv) {
  struct stat st;
  if (argc == 3 && argv && strcmp(argv[1], MP__SPAWN_MARKER) == 0 &&
      argv[2][0] == '0' + MP__SPAWN_FD && argv[2][1] == '\0' &&
      fstat(MP__SPAWN_FD, &st) == 0 && S_ISSOCK(st.st_mode))
    spawn_child(MP__SPAWN_FD);
}
