/* jobmem.c: memory for jobs (mp_result). A program that submits 10^5
 * apply_async calls and then gets them holds 10^5 jobs at once, then frees
 * them all; with malloc the heap then shrinks back to the kernel and the
 * next burst faults every page in again (a third of the parent's time in
 * that benchmark). Here jobs come from 64 KiB slabs of equal blocks; a slab
 * that empties is kept for the next burst with MADV_FREE (the kernel takes
 * its pages only when memory is short; until then reusing them costs no
 * page fault), up to KEEP_SLABS, and unmapped beyond. One mutex (held
 * across fork, so a child never inherits it locked): a job is
 * allocated and freed once per task, by the submitting thread or the
 * result thread, never in a hot loop of its own.
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
#define KEEP_SLABS 1024 /* 64 MiB of empty slabs at most */
#define BLOCK ((sizeof(mp_result) + 63) & ~(size_t)63)

typedef struct slab {
  struct slab *prev, *next; /* in the partial or the empty list */
  void *free;               /* free blocks, linked through their first word */
  uint32_t used, fresh;     /* blocks handed out; blocks never handed out */
} slab;

#define HDR ((sizeof(slab) + 63) & ~(size_t)63)
#define PER_SLAB ((SLAB - HDR) / BLOCK)

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static slab *g_partial; /* slabs with free blocks and used ones */
static slab *g_empty;   /* kept empty slabs */
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

/* A new slab, aligned to its size so a block finds its slab by masking. */
static slab *slab_map(void) {
  char *m = mmap(NULL, 2 * SLAB, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED)
    return NULL;
  char *a = (char *)(((uintptr_t)m + SLAB - 1) & ~(uintptr_t)(SLAB - 1));
  if (a > m)
    munmap(m, (size_t)(a - m));
  if (a + SLAB < m + 2 * SLAB)
    munmap(a + SLAB, (size_t)(m + 2 * SLAB - (a + SLAB)));
  slab *s = (slab *)a;
  memset(s, 0, sizeof *s);
  s->fresh = (uint32_t)PER_SLAB;
  return s;
}

/* A fork while another thread holds the mutex must not leave the child a
 * locked one (as malloc's own locks are handled). */
static void lock(void) { pthread_mutex_lock(&g_mu); }
static void unlock(void) { pthread_mutex_unlock(&g_mu); }
static void once(void) { pthread_atfork(lock, unlock, unlock); }

mp_result *pool__job_alloc(void) {
  pthread_once(&g_once, once);
  pthread_mutex_lock(&g_mu);
  slab *s = g_partial;
  if (!s) {
    if ((s = g_empty)) {
      unlink_slab(&g_empty, s);
      g_nempty--;
    } else if (!(s = slab_map())) {
      pthread_mutex_unlock(&g_mu);
      errno = ENOMEM;
      return NULL;
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
  slab *s = (slab *)((uintptr_t)j & ~(uintptr_t)(SLAB - 1));
  pthread_mutex_lock(&g_mu);
  if (s->used-- == PER_SLAB)
    push_slab(&g_partial, s); /* was full */
  *(void **)j = s->free;
  s->free = j;
  if (s->used == 0 && !(g_partial == s && !s->next)) {
    /* Empty, and not the only slab with room (one stays hot: a single
     * job allocated and freed in turn costs no system call). */
    unlink_slab(&g_partial, s);
    if (g_nempty < KEEP_SLABS) {
      /* Keep it; the kernel may take its pages back (they then read as
       * zero: so the slab starts over, all blocks fresh). */
      s->free = NULL;
      s->fresh = (uint32_t)PER_SLAB;
      madvise((char *)s + 4096, SLAB - 4096, MADV_FREE);
      push_slab(&g_empty, s);
      g_nempty++;
      s = NULL;
    }
  } else {
    s = NULL;
  }
  pthread_mutex_unlock(&g_mu);
  if (s)
    munmap(s, SLAB);
}

#endif
