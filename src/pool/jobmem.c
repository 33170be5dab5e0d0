/* jobmem.c: memory for jobs (mp_result). A program that submits 10^5
 * apply_async calls and then gets them holds 10^5 jobs at once, then frees
 * them all; with malloc the heap then shrinks back to the kernel and the
 * next burst faults 40 MB in again (a quarter of the submitting thread's
 * time). Here jobs come from 64 KiB slabs of equal blocks; a slab that
 * empties is kept for the next burst with MADV_FREE (the kernel takes its
 * pages only when memory is short; until then reusing them costs no page
 * fault), up to KEEP_SLABS; beyond, they drop their pages. All slabs
 * live in one reserved mapping (jobs beyond it come from malloc).
 *
 * Kept pages must not make fork dear: fork copies and write-protects every
 * present page-table entry, so a pool respawning workers after a burst
 * would pay for 40 MB it does not use (pool create + join went from 1 ms
 * to 10 ms). So before any fork (pthread_atfork) the kept slabs drop their
 * pages with MADV_DONTNEED, once: the next burst after a fork faults again,
 * as with malloc. The mutex is held across fork, so a child never inherits
 * it locked. A job is allocated and freed once per task, by the submitting
 * thread or the result thread.
 *
 * Under AddressSanitizer jobs come from malloc, so that its checks see
 * them. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "pool_internal.h"

#if defined(__SANITIZE_ADDRESS__)
#define JOBMEM_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define JOBMEM_MALLOC 1
#endif
#endif

#ifdef JOBMEM_MALLOC

mp_result *pool__job_alloc(void) { return mp__calloc(1, sizeof(mp_result)); }
void pool__job_release(mp_result *j) { mp__free(j); }

#else

#define SLAB ((size_t)64 << 10)
#define REGION ((size_t)1 << 30) /* address space for slabs: one mapping */
#define KEEP_SLABS 1024 /* 64 MiB of empty slabs kept warm at most */
#define BLOCK ((sizeof(mp_result) + 63) & ~(size_t)63)

typedef struct slab {
  struct slab *prev, *next; /* in the partial, empty or cold list */
  void *free;               /* free blocks, linked through their first word */
  uint32_t used, fresh;     /* blocks handed out; blocks never handed out */
  bool warm;                /* empty, kept with its pages (MADV_FREE) */
} slab;

#define HDR ((sizeof(slab) + 63) & ~(size_t)63)
#define PER_SLAB ((SLAB - HDR) / BLOCK)

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
/* One mapping for every slab (fork copies mappings one by one: hundreds
 * of small ones would cost it a millisecond), carved from the bottom. */
static char *g_region;
static size_t g_top;
static slab *g_partial; /* slabs with free blocks and used ones */
static slab *g_empty;   /* empty slabs kept warm */
static slab *g_cold;    /* empty slabs without pages */
static size_t g_nempty;

static void unlink_slab(slab **list, slab *s) {
  if (s->prev)
    s->prev->next = s->next;
  else
    *list = s->next;
  if (s->next)
    s->next->prev = s->prev;
  s->prev = s->next = NULL;
}

static void push_slab(slab **list, slab *s) {
  s->prev = NULL;
  s->next = *list;
  if (*list)
    (*list)->prev = s;
  *list = s;
}

/* Drops an empty slab's pages (its header page stays). */
static void cool(slab *s) {
  madvise((char *)s + 4096, SLAB - 4096, MADV_DONTNEED);
  s->warm = false;
  push_slab(&g_cold, s);
}

/* Before fork: no warm pages for the child to copy (see the top). */
static void lock(void) {
  pthread_mutex_lock(&g_mu);
  while (g_empty) {
    slab *s = g_empty;
    unlink_slab(&g_empty, s);
    cool(s);
  }
  g_nempty = 0;
}
static void unlock(void) { pthread_mutex_unlock(&g_mu); }

static void once(void) {
  void *m = mmap(NULL, REGION, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m != MAP_FAILED) {
    /* Slabs aligned to their size: a block finds its slab by masking. */
    g_top = (size_t)(-(uintptr_t)m & (SLAB - 1));
    g_region = m;
  }
  pthread_atfork(lock, unlock, unlock);
}

static slab *slab_new(void) {
  slab *s = g_empty ? g_empty : g_cold;
  if (s) {
    unlink_slab(s == g_empty ? &g_empty : &g_cold, s);
    if (s->warm)
      g_nempty--;
  } else if (g_region && g_top + SLAB <= REGION) {
    s = (slab *)(g_region + g_top);
    g_top += SLAB;
  } else {
    return NULL;
  }
  memset(s, 0, sizeof *s);
  s->fresh = (uint32_t)PER_SLAB;
  return s;
}

mp_result *pool__job_alloc(void) {
  pthread_once(&g_once, once);
  pthread_mutex_lock(&g_mu);
  slab *s = g_partial;
  if (!s) {
    if (!(s = slab_new())) { /* out of region: the heap serves */
      pthread_mutex_unlock(&g_mu);
      return mp__calloc(1, sizeof(mp_result));
    }
    push_slab(&g_partial, s);
  }
  void *b = s->free;
  if (b)
    s->free = *(void **)b;
  else /* blocks in address order, first use */
    b = (char *)s + HDR + (PER_SLAB - s->fresh--) * BLOCK;
  if (++s->used == PER_SLAB)
    unlink_slab(&g_partial, s); /* full: in no list */
  pthread_mutex_unlock(&g_mu);
  return memset(b, 0, sizeof(mp_result));
}

void pool__job_release(mp_result *j) {
  if (!j)
    return;
  if (!g_region || (char *)j < g_region || (char *)j >= g_region + REGION) {
    mp__free(j);
    return;
  }
  slab *s = (slab *)((uintptr_t)j & ~(uintptr_t)(SLAB - 1));
  pthread_mutex_lock(&g_mu);
  if (s->used-- == PER_SLAB)
    push_slab(&g_partial, s); /* was full */
  *(void **)j = s->free;
  s->free = j;
  /* Empty, and not the only slab with room (one stays: a single job
   * allocated and freed in turn costs no system call): retire it, warm
   * while few are kept (the next burst reuses its pages without faults;
   * the kernel may take them back under pressure: they then read as zero,
   * so the slab starts over all fresh), else cold. */
  if (s->used == 0 && !(g_partial == s && !s->next)) {
    unlink_slab(&g_partial, s);
    s->free = NULL;
    s->fresh = (uint32_t)PER_SLAB;
    if (g_nempty < KEEP_SLABS) {
      madvise((char *)s + 4096, SLAB - 4096, MADV_FREE);
      s->warm = true;
      push_slab(&g_empty, s);
      g_nempty++;
    } else {
      cool(s);
    }
  }
  pthread_mutex_unlock(&g_mu);
}

#endif
