/* alloc.c: private memory through the user's allocator hook (libc when none
 * is set), and a one-block cache of large freed blocks (see below). Shared
 * memory is the shm area's business, not this file's. */
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runtime_internal.h"

static mp_allocator g_alloc; /* all NULL: libc */

/* ---- The large-block cache ------------------------------------------------
 * A large buffer the library hands out (a 64 MiB recv_bytes message, say)
 * is fresh memory: one page fault per 4 KiB page on first touch, several
 * microseconds each on a VM, most of the cost of receiving it. glibc keeps
 * freed blocks up to 32 MiB in its heap for the next malloc (its dynamic
 * mmap threshold), but gives larger ones back to the kernel at once, so a
 * program receiving big messages in a loop faults every page every time.
 * So, with libc's allocator only, mp__free keeps the last freed block of
 * MP__BIG_MIN..MP__BIG_MAX bytes instead of freeing it (the one it
 * replaces is freed), its whole pages given back with MADV_FREE: the
 * kernel reclaims them if memory runs short, and until it does the next
 * user writes them without a fault. mp__malloc of a large size, and
 * mp__malloc_cached, take it when it fits (at least the size asked, at
 * most twice). One block per process: the memory kept is bounded and lazy,
 * as a malloc's free lists are. */
#define MP__BIG_MIN ((size_t)4 << 20)
#define MP__BIG_MAX ((size_t)256 << 20)

static void *g_big; /* the cached block, or NULL; swapped atomically */

static void big_put(void *p) {
  size_t n = mp__alloc_is_default() ? malloc_usable_size(p) : 0;
  if (n < MP__BIG_MIN || n > MP__BIG_MAX) {
    free(p);
    return;
  }
  /* Whole pages only: a block's bookkeeping lives outside [p, p + n). */
  uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1);
  uintptr_t hi = ((uintptr_t)p + n) & ~(page - 1);
  if (hi > lo)
    (void)madvise((void *)lo, hi - lo, MADV_FREE);
  free(__atomic_exchange_n(&g_big, p, __ATOMIC_ACQ_REL)); /* free(NULL) ok */
}

void *mp__malloc_cached(size_t n) {
  if (n < MP__BIG_MIN || !mp__alloc_is_default() ||
      !__atomic_load_n(&g_big, __ATOMIC_RELAXED))
    return NULL;
  void *p = __atomic_exchange_n(&g_big, NULL, __ATOMIC_ACQ_REL);
  if (!p)
    return NULL;
  size_t have = malloc_usable_size(p);
  if (have >= n && have / 2 <= n)
    return p;
  /* Does not fit: put it back, unless another was cached meanwhile. */
  void *q = NULL;
  if (!__atomic_compare_exchange_n(&g_big, &q, p, false, __ATOMIC_ACQ_REL,
                                   __ATOMIC_RELAXED))
    free(p);
  return NULL;
}

MP_EXPORT void mp_set_allocator(const mp_allocator *a) {
  /* The cached block is libc's: it must not outlive the switch. */
  free(__atomic_exchange_n(&g_big, NULL, __ATOMIC_ACQ_REL));
  if (a)
    g_alloc = *a;
  else
    memset(&g_alloc, 0, sizeof g_alloc);
}

void *mp__malloc(size_t n) {
  if (n == 0)
    n = 1;
  if (g_alloc.malloc)
    return g_alloc.malloc(g_alloc.ctx, n);
  void *p = mp__malloc_cached(n);
  return p ? p : malloc(n);
}

void *mp__calloc(size_t count, size_t size) {
  size_t n;
  if (__builtin_mul_overflow(count, size, &n)) {
    errno = ENOMEM;
    return NULL;
  }
  void *p = mp__malloc(n);
  if (p)
    memset(p, 0, n ? n : 1);
  return p;
}

void *mp__realloc(void *p, size_t n) {
  if (n == 0)
    n = 1;
  return g_alloc.realloc ? g_alloc.realloc(g_alloc.ctx, p, n) : realloc(p, n);
}

void mp__free(void *p) {
  if (!p)
    return;
  if (g_alloc.free)
    g_alloc.free(g_alloc.ctx, p);
  else
    big_put(p);
}

bool mp__alloc_is_default(void) {
  return !g_alloc.malloc && !g_alloc.realloc && !g_alloc.free;
}

MP_EXPORT void mp_free(void *p) { mp__free(p); }

void *mp__memdup(const void *p, size_t n) {
  void *q = mp__malloc(n);
  if (q && n)
    memcpy(q, p, n);
  return q;
}

char *mp__strdup(const char *s) { return mp__memdup(s, strlen(s) + 1); }
