/* sentinel.c: process sentinels where the kernel gives no pidfd. Linux
 * before 5.3 has no pidfd_open, and valgrind 3.19 does not know the call
 * (it fails with ENOSYS): the library then falls back, chosen at run time
 * on the first start, to what CPython does everywhere (with two pipes): a
 * socket pair per child. The parent keeps one end as the child's sentinel,
 * the child the other, held for its whole life and never passed on, so the
 * parent's end turns readable (end of file) when the child ends; the
 * child's end turns readable when the parent ended (or dropped the process
 * object, as in CPython), so it is also the child's parent sentinel (a new child closes the one it inherited:
 * mp__children_after_fork). Exit codes then come from waitid(P_PID)
 * and signals from kill(): safe while the child is unreaped, since only
 * we reap it and its pid cannot be reused before. */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "start_internal.h"

/* 0: not probed yet; 1: pidfds work; 2: no pidfd_open. Children inherit
 * the answer, so a program probes (and valgrind warns) once. */
static int g_state;

bool mp__pidfd_missing(void) {
  int s = __atomic_load_n(&g_state, __ATOMIC_RELAXED);
  if (s == 0) {
    /* MPROC_NO_PIDFD=1 takes the fallback anywhere: the tests run it so. */
    const char *force = getenv("MPROC_NO_PIDFD");
    int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
    s = (fd < 0 && errno == ENOSYS) || (force && *force == '1') ? 2 : 1;
    if (fd >= 0)
      close(fd);
    __atomic_store_n(&g_state, s, __ATOMIC_RELAXED);
  }
  return s == 2;
}

int mp__sentinel_pair(int sv[2]) {
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    return -errno;
  return 0;
}
