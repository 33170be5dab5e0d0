/* reserve.c: address space for shared memory that grows in place. A queue's
 * segment and a pool's arena are mapped once, large and MAP_NORESERVE, and
 * grow by touching more of the mapping, so every process sees the same
 * offsets. The large size costs address space only, but address space is
 * not free everywhere: `ulimit -v` (RLIMIT_AS) caps it, and valgrind gives
 * a program about 128 GiB with no single mapping above 32 GiB. When the
 * large mapping is refused we take a share of what is left instead: an
 * eighth of what RLIMIT_AS still allows (a sixteenth of the wish without a
 * limit), halved until it fits, never below the caller's floor. Under
 * valgrind at most 64 MiB from the start (see mp__under_valgrind). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "shm_internal.h"

/* The address space this process maps now (the first field of statm). */
static size_t mapped_now(void) {
  FILE *f = fopen("/proc/self/statm", "re");
  unsigned long pages = 0;
  if (f) {
    if (fscanf(f, "%lu", &pages) != 1)
      pages = 0;
    fclose(f);
  }
  return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

static size_t pow2_floor(size_t n) {
  return n ? (size_t)1 << (63 - __builtin_clzll((unsigned long long)n)) : 0;
}

/* Valgrind's leak checker reads every mapping a process holds when it
 * exits, in every forked child too, catching a fault for each page past a
 * file's end: a 32 GiB reservation costs minutes there, so under valgrind
 * reservations stay small. */
bool mp__under_valgrind(void) {
  static int known; /* 0 not looked yet, 1 no, 2 yes */
  if (!known) {
    const char *pre = getenv("LD_PRELOAD");
    known = pre && strstr(pre, "vgpreload") ? 2 : 1;
  }
  return known == 2;
}

#define VALGRIND_CAP ((size_t)64 << 20)

void *mp__shm_reserve(int fd, size_t want, size_t floor, size_t *got) {
  void *m = MAP_FAILED;
  if (!mp__under_valgrind() || want <= VALGRIND_CAP)
    m = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
             fd, 0);
  if (m != MAP_FAILED) {
    *got = want;
    return m;
  }
  size_t cap = mp__under_valgrind() ? VALGRIND_CAP : want / 16;
  struct rlimit rl;
  if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    size_t now = mapped_now(), lim = (size_t)rl.rlim_cur;
    size_t share = lim > now ? (lim - now) / 8 : 0;
    if (share < cap)
      cap = share;
  }
  for (size_t r = pow2_floor(cap); r >= floor && r > 0; r >>= 1) {
    m = mmap(NULL, r, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (m != MAP_FAILED) {
      *got = r;
      return m;
    }
  }
  errno = ENOMEM;
  return NULL;
}
