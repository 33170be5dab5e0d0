/* arena.c: the pool's shared data arena. Argument bytes, map inputs and
 * fixed-size map outputs live in one memfd that is mapped once, with a large
 * reserved (never touched) size, before the workers are forked; the file
 * grows with ftruncate as blocks are handed out, and since every process maps
 * the same file, a worker forked long ago sees memory allocated later.
 * Everything is addressed by offset, so a process that maps the file at
 * another address (a spawn or forkserver worker, which maps the same
 * reserve from the passed descriptor) reads the same data.
 *
 * Only the parent allocates and frees, so the bookkeeping is private: power
 * of two size classes with a free list each, and a bump pointer. Freed
 * blocks of 1 MiB and more keep their pages while the kept total stays
 * under 256 MiB (the next map of the same size reuses them without page
 * faults in any process); beyond that they give them back to the kernel (a
 * punched hole), so one huge map does not pin its memory for the pool's
 * lifetime. */
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pool_internal.h"
#include "shm/shm_internal.h"

#define NCLASSES 48
#define MIN_SHIFT 6              /* 64-byte blocks at least */
#define PUNCH_MIN (1u << 20)
#define KEEP_MAX ((size_t)256 << 20) /* big free blocks kept resident */
#define GROW_STEP (2u << 20)

typedef struct offvec {
  uint64_t *v;
  size_t n, cap;
} offvec;

struct pool__arena {
  pthread_mutex_t mu;
  int refs;
  int fd;
  char *base;
  size_t reserve;   /* bytes of address space mapped */
  size_t file_size; /* bytes backed by the file */
  size_t top;       /* bump pointer */
  size_t kept;      /* bytes of big free blocks whose pages we kept */
  offvec free[NCLASSES];
};

static int size_class(size_t size) {
  if (size <= ((size_t)1 << MIN_SHIFT))
    return 0;
  int bits = 64 - __builtin_clzll((unsigned long long)(size - 1));
  return bits - MIN_SHIFT;
}

pool__arena *pool__arena_new(void) {
  pool__arena *a = mp__calloc(1, sizeof *a);
  if (!a)
    return NULL;
  a->fd = memfd_create("mproc-pool-arena", MFD_CLOEXEC);
  if (a->fd < 0) {
    int e = errno;
    mp__free(a);
    errno = e;
    return NULL;
  }
  /* Address space only: MAP_NORESERVE and no file behind most of it. Big
   * first; where RLIMIT_AS, valgrind or a sanitizer's layout says no, a
   * share of what is left (mp__shm_reserve), at least 64 MiB. */
  a->base = mp__shm_reserve(a->fd, (size_t)1 << 36, (size_t)1 << 26, &a->reserve);
  /* Under valgrind the file covers the (small) reserve from the start: its
   * leak checker, reading every mapping at each worker's exit, would
   * otherwise catch a fault for each page past the end. */
  if (a->base && mp__under_valgrind() && ftruncate(a->fd, (off_t)a->reserve) == 0)
    a->file_size = a->reserve;
  if (!a->base) {
    mp__close(a->fd);
    mp__free(a);
    errno = ENOMEM;
    return NULL;
  }
  pthread_mutex_init(&a->mu, NULL);
  a->refs = 1;
  a->top = 64; /* offset 0 is never a block: it reads as "none" in tables */
  return a;
}

char *pool__arena_base(const pool__arena *a) { return a->base; }
int pool__arena_fd(const pool__arena *a) { return a->fd; }
size_t pool__arena_reserve(const pool__arena *a) { return a->reserve; }

static int grow(pool__arena *a, size_t need) {
  if (need <= a->file_size)
    return 0;
  size_t want = a->file_size ? a->file_size * 2 : GROW_STEP;
  if (want < need)
    want = need;
  want = (want + GROW_STEP - 1) / GROW_STEP * GROW_STEP;
  if (want > a->reserve)
    want = a->reserve;
  if (ftruncate(a->fd, (off_t)want) < 0)
    return -errno;
  a->file_size = want;
  return 0;
}

uint64_t pool__arena_alloc(pool__arena *a, size_t size) {
  if (size == 0)
    size = 1;
  if (size > a->reserve / 2)
    return POOL__NOOFF;
  int c = size_class(size);
  size_t block = (size_t)1 << (c + MIN_SHIFT);
  uint64_t off = POOL__NOOFF;
  pthread_mutex_lock(&a->mu);
  offvec *fv = &a->free[c];
  if (fv->n) {
    off = fv->v[--fv->n];
    if (block >= PUNCH_MIN && a->kept >= block)
      a->kept -= block; /* approximate: kept pages are reused first */
  } else {
    size_t align = block < 4096 ? block : 4096;
    size_t start = (a->top + align - 1) & ~(align - 1);
    if (start <= a->reserve && block <= a->reserve - start &&
        grow(a, start + block) == 0) {
      off = start;
      a->top = start + block;
    }
  }
  pthread_mutex_unlock(&a->mu);
  return off;
}

void pool__arena_free(pool__arena *a, uint64_t off, size_t size) {
  if (off == POOL__NOOFF || off == 0)
    return;
  if (size == 0)
    size = 1;
  int c = size_class(size);
  size_t block = (size_t)1 << (c + MIN_SHIFT);
  pthread_mutex_lock(&a->mu);
  if (block >= PUNCH_MIN) {
    /* Keep the pages of recent big blocks (a pool that maps again reuses
     * them without faulting), up to KEEP_MAX; give the rest back. */
    if (a->kept + block <= KEEP_MAX)
      a->kept += block;
    else
      (void)fallocate(a->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                      (off_t)off, (off_t)block);
  }
  offvec *fv = &a->free[c];
  if (fv->n == fv->cap) {
    size_t cap = fv->cap ? fv->cap * 2 : 16;
    uint64_t *v = mp__realloc(fv->v, cap * sizeof *v);
    if (!v) { /* keep going: the block is lost to reuse, not to safety */
      pthread_mutex_unlock(&a->mu);
      return;
    }
    fv->v = v;
    fv->cap = cap;
  }
  fv->v[fv->n++] = off;
  pthread_mutex_unlock(&a->mu);
}

void pool__arena_ref(pool__arena *a) {
  __atomic_add_fetch(&a->refs, 1, __ATOMIC_RELAXED);
}

void pool__arena_unref(pool__arena *a) {
  if (!a || __atomic_sub_fetch(&a->refs, 1, __ATOMIC_ACQ_REL) != 0)
    return;
  munmap(a->base, a->reserve);
  mp__close(a->fd);
  for (int i = 0; i < NCLASSES; i++)
    mp__free(a->free[i].v);
  pthread_mutex_destroy(&a->mu);
  mp__free(a);
}
