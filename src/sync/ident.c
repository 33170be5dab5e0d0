/* ident.c: who owns a lock, and whether that owner still lives.
 *
 * An identity is an id (pid or kernel thread id) with a nonce: the low 32
 * bits of its start time in clock ticks since boot, read from /proc. The
 * pair survives pid reuse: a new process with a recycled pid has another
 * start time. Identities are cached (a process's in a global, a thread's in
 * thread-local storage) and the caches are invalidated in a fork child by a
 * generation counter, so taking a lock makes no system call.
 *
 * Liveness reads /proc/<id>/stat: missing, state Z or X (an unreaped
 * zombie is as dead as a reaped one), or another start time mean dead.
 * Without a readable /proc the check falls back to kill(pid, 0), which
 * cannot see zombies or reuse, and nonces are 0. All processes sharing a
 * lock must see each other's ids: the same pid namespace. */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sync_internal.h"

uint32_t mp__ident_gen = 1;
uint32_t mp__ident_proc_gen;
uint64_t mp__ident_proc;
__thread uint32_t mp__ident_thr_gen;
__thread uint64_t mp__ident_thr;

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static bool g_proc_ok; /* /proc/self/stat was readable */

static void on_fork_child(void) {
  __atomic_fetch_add(&mp__ident_gen, 1, __ATOMIC_RELEASE);
}

/* Reads state and start time from a /proc stat file. Returns 0, -ENOENT
 * when the file is missing (the task is gone), or another -errno. */
static int read_stat(const char *path, char *state, uint64_t *start) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT || errno == ESRCH ? -ENOENT : -errno;
  char buf[1024];
  ssize_t n = mp__read_full(fd, buf, sizeof buf - 1);
  mp__close(fd);
  if (n <= 0)
    return n == 0 || n == -ESRCH ? -ENOENT : (int)n;
  buf[n] = '\0';
  /* The command name (field 2) may hold spaces and parentheses: the
   * fields that follow start after the last ')'. */
  char *p = strrchr(buf, ')');
  if (!p || p[1] != ' ')
    return -EPROTO;
  p += 2;
  *state = *p;
  /* State is field 3; the start time is field 22. */
  for (int field = 3; field < 22; field++) {
    p = strchr(p, ' ');
    if (!p)
      return -EPROTO;
    p++;
  }
  *start = strtoull(p, NULL, 10);
  return 0;
}

static void ident_once(void) {
  char st;
  uint64_t start;
  g_proc_ok = read_stat("/proc/self/stat", &st, &start) == 0;
  pthread_atfork(NULL, NULL, on_fork_child);
}

static uint64_t make_ident(uint32_t id, const char *path) {
  char st;
  uint64_t start = 0;
  if (!g_proc_ok || read_stat(path, &st, &start) < 0)
    start = 0;
  return (uint64_t)(id & MP__OWNER_IDMASK) | ((uint64_t)(uint32_t)start << 32);
}

uint64_t mp__ident_refresh_process(void) {
  pthread_once(&g_once, ident_once);
  uint32_t gen = __atomic_load_n(&mp__ident_gen, __ATOMIC_ACQUIRE);
  uint64_t id = make_ident((uint32_t)getpid(), "/proc/self/stat");
  /* Threads racing here compute the same value. */
  __atomic_store_n(&mp__ident_proc, id, __ATOMIC_RELAXED);
  __atomic_store_n(&mp__ident_proc_gen, gen, __ATOMIC_RELEASE);
  return id;
}

uint64_t mp__ident_refresh_thread(void) {
  pthread_once(&g_once, ident_once);
  uint32_t gen = __atomic_load_n(&mp__ident_gen, __ATOMIC_ACQUIRE);
  mp__ident_thr = make_ident((uint32_t)syscall(SYS_gettid), "/proc/thread-self/stat");
  mp__ident_thr_gen = gen;
  return mp__ident_thr;
}

bool mp__ident_alive(uint64_t ident) {
  pthread_once(&g_once, ident_once);
  pid_t id = (pid_t)(ident & MP__OWNER_IDMASK);
  uint32_t nonce = (uint32_t)(ident >> 32);
  if (id <= 0)
    return false;
  if (g_proc_ok) {
    char path[64], st;
    uint64_t start;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)id);
    int r = read_stat(path, &st, &start);
    if (r == -ENOENT)
      return false;
    if (r == 0)
      return !(st == 'Z' || st == 'X' || (nonce && (uint32_t)start != nonce));
  }
  return !(kill(id, 0) < 0 && errno == ESRCH);
}

uint32_t mp__spin_gen;
__thread int64_t mp__spin_budget_ns;
__thread int mp__spin_fails, mp__spin_skip;
int mp__spin_ok;

int mp__spin_refresh(void) {
  pthread_once(&g_once, ident_once);
  uint32_t gen = __atomic_load_n(&mp__ident_gen, __ATOMIC_ACQUIRE);
  mp__spin_ok = mp_cpu_count_usable() > 1 && mp__spin_allowed();
  __atomic_store_n(&mp__spin_gen, gen, __ATOMIC_RELEASE);
  return mp__spin_ok;
}

mp__deadline mp__slice_deadline(const mp__deadline *dl, int64_t slice_ns) {
  mp__deadline d = {mp__now_ns() + slice_ns};
  if (dl && dl->at_ns < d.at_ns)
    d = *dl;
  return d;
}
