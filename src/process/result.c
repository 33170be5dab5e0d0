/* result.c: a child's result, handed to its parent without a Manager or a
 * Queue, and without a system call on the start path.
 *
 * Each process that starts children owns result arenas: a memfd created at
 * its first start, whose first pages (the header) it maps shared, so every
 * child inherits both the descriptor and the mapping. The header holds an
 * allocation cursor and a table of slots; the parent gives each child a
 * slot at start (parent-private bookkeeping, no system call). A child that
 * calls mp_process_return takes a page-aligned region past the header with
 * an atomic add on the cursor, records it in its slot (state WRITING),
 * pwrites the bytes there and marks the slot DONE. When the parent reaps
 * the child it maps a DONE region read-only: the parent reads the child's
 * bytes in place, with no copy. Freeing the process punches the region out
 * of the file, returning its memory. Offsets only grow (the file is sparse;
 * 2^63 bytes last centuries).
 *
 * A child killed while writing leaves its slot WRITING: the parent frees
 * the region and reports no result. Slots are reused once their child is
 * reaped; an arena whose slots are all taken gets a successor. */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "process_internal.h"

#define ARENA_SLOTS 1024u

enum { SLOT_EMPTY = 0, SLOT_WRITING = 1, SLOT_DONE = 2 };

typedef struct {
  uint32_t state; /* atomic: written by the child, read by the parent */
  uint32_t pad;
  uint64_t off, len;
  uint64_t pad2;
} arena_slot;

typedef struct {
  uint64_t cursor; /* atomic: next free offset, page-aligned */
  char pad[4096 - sizeof(uint64_t)];
  arena_slot slots[ARENA_SLOTS];
} arena_header;

#define ARENA_HEADER_SIZE sizeof(arena_header) /* 36 KiB: a page multiple */

struct mp__arena {
  int fd;
  arena_header *h;
  uint32_t nfree;
  uint32_t free[ARENA_SLOTS]; /* stack of free slot numbers */
  mp__arena *next;
};

static uint64_t page_round(uint64_t n) {
  uint64_t ps = (uint64_t)sysconf(_SC_PAGESIZE);
  return (n + ps - 1) / ps * ps;
}

static mp__arena *arena_new(void) {
  mp__arena *a = mp__calloc(1, sizeof *a);
  if (!a)
    return NULL;
  a->fd = memfd_create("mproc-results", MFD_CLOEXEC);
  if (a->fd < 0)
    goto fail;
  if (ftruncate(a->fd, (off_t)ARENA_HEADER_SIZE) < 0)
    goto fail;
  a->h = mmap(NULL, ARENA_HEADER_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
              a->fd, 0);
  if (a->h == MAP_FAILED)
    goto fail;
  a->h->cursor = page_round(ARENA_HEADER_SIZE);
  for (uint32_t i = 0; i < ARENA_SLOTS; i++)
    a->free[i] = ARENA_SLOTS - 1 - i;
  a->nfree = ARENA_SLOTS;
  return a;
fail:;
  int err = errno;
  mp__close(a->fd);
  mp__free(a);
  errno = err;
  return NULL;
}

MP__HOT int mp__result_slot_take(mp_process *p) {
  mp__arena **head = mp__proc_arenas();
  mp__arena *a = *head;
  while (a && a->nfree == 0)
    a = a->next;
  if (!a) {
    if (!(a = arena_new()))
      return -errno;
    a->next = *head;
    *head = a;
  }
  uint32_t s = a->free[--a->nfree];
  __atomic_store_n(&a->h->slots[s].state, SLOT_EMPTY, __ATOMIC_RELAXED);
  p->arena = a;
  p->slot = (int)s;
  return 0;
}

void mp__arenas_append(mp__arena *list, mp__arena *rest) {
  while (list->next)
    list = list->next;
  list->next = rest;
}

MP__HOT void mp__result_slot_drop(mp_process *p) {
  if (p->slot < 0)
    return;
  p->arena->free[p->arena->nfree++] = (uint32_t)p->slot;
  p->slot = -1;
}

/* Returns the region's memory to the system; the offsets stay used. */
static void punch(mp__arena *a, uint64_t off, uint64_t len) {
  if (len)
    (void)fallocate(a->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                    (off_t)off, (off_t)page_round(len));
}

static int pwrite_full(int fd, const void *buf, size_t n, off_t at) {
  const char *p = buf;
  while (n) {
    ssize_t w = pwrite(fd, p, n, at);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    p += w;
    n -= (size_t)w;
    at += w;
  }
  return 0;
}

MP_EXPORT int mp_process_return(const void *data, size_t len) {
  if (!data && len)
    return -EINVAL;
  mp_process *cur = mp_current_process();
  if (!mp__proc_is_current(cur) || cur->slot < 0)
    return MP_ESTATE;
  if (len > (uint64_t)INT64_MAX / 2)
    return -EFBIG;
  mp__arena *a = cur->arena;
  arena_slot *s = &a->h->slots[cur->slot];
  mp__proc_lock();
  /* A second call replaces the first: free the old region first. */
  uint32_t st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
  if (st != SLOT_EMPTY) {
    __atomic_store_n(&s->state, SLOT_EMPTY, __ATOMIC_RELEASE);
    punch(a, s->off, s->len);
  }
  uint64_t off = 0;
  if (len)
    off = __atomic_fetch_add(&a->h->cursor, page_round(len), __ATOMIC_RELAXED);
  s->off = off;
  s->len = len;
  /* R1: the region is ours and recorded before any byte lands, so a kill
   * from here on leaves a WRITING slot the parent cleans up. */
  __atomic_store_n(&s->state, SLOT_WRITING, __ATOMIC_RELEASE);
  int r = len ? pwrite_full(a->fd, data, len, (off_t)off) : 0;
  /* R2 pairs with A1 in the parent: the bytes are in before DONE. */
  __atomic_store_n(&s->state, r == 0 ? SLOT_DONE : SLOT_EMPTY,
                   __ATOMIC_RELEASE);
  if (r < 0)
    punch(a, off, len);
  mp__proc_unlock();
  return r;
}

MP__HOT void mp__result_collect(mp_process *p) {
  if (p->result_state >= 0 || p->slot < 0)
    return;
  p->result_state = 0;
  arena_slot *s = &p->arena->h->slots[p->slot];
  /* A1 pairs with R2 in the child (which has ended anyway). */
  uint32_t st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
  uint64_t off = s->off, len = s->len;
  mp__result_slot_drop(p);
  if (st == SLOT_WRITING) {
    punch(p->arena, off, len); /* killed while writing: no result */
  } else if (st == SLOT_DONE) {
    static const char empty[1];
    void *m = (void *)empty;
    if (len && (m = mmap(NULL, len, PROT_READ, MAP_SHARED, p->arena->fd,
                         (off_t)off)) == MAP_FAILED) {
      p->result_state = -errno;
      punch(p->arena, off, len);
      return;
    }
    p->result_map = m;
    p->result_off = off;
    p->result_len = len;
    p->result_state = 1;
  }
}

MP__HOT void mp__result_release(mp_process *p) {
  if (p->result_state == 1 && p->result_len) {
    munmap(p->result_map, p->result_len);
    /* The arena is shared with the creator: only it returns the memory
     * (a program's own fork child freeing its copy of the object must not
     * erase the result under its parent). */
    if (p->parent_pid == mp__proc_getpid())
      punch(p->arena, p->result_off, p->result_len);
  }
  p->result_map = NULL;
  p->result_len = 0;
  mp__result_slot_drop(p);
}

MP_EXPORT int mp_process_result(mp_process *p, const void **data,
                                 size_t *len) {
  if (!p || !data || !len)
    return -EINVAL;
  *data = NULL;
  *len = 0;
  mp__proc_lock();
  int r;
  if (p->closed || !mp__proc_is_ours(p) || p->state == MP__ST_INITIAL)
    r = MP_ESTATE;
  else if (!mp__proc_poll_locked(p))
    r = MP_ENOTREADY;
  else if (p->result_state == 1) {
    *data = p->result_map;
    *len = p->result_len;
    r = 1;
  } else
    r = p->result_state < 0 ? p->result_state : 0; /* none, or mmap's error */
  mp__proc_unlock();
  return r;
}

/* ---- children that did not inherit the arena by fork (spawn, forkserver) -- */

int mp__result_arena_fd(const mp_process *p) {
  return p->slot >= 0 ? p->arena->fd : -EINVAL;
}

int mp__result_attach(mp_process *p, int fd, int slot) {
  if (slot < 0 || (unsigned)slot >= ARENA_SLOTS)
    return -EINVAL;
  mp__arena *a = mp__calloc(1, sizeof *a);
  if (!a)
    return -ENOMEM;
  a->h = mmap(NULL, ARENA_HEADER_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
              0);
  if (a->h == MAP_FAILED) {
    int err = -errno;
    mp__free(a);
    return err;
  }
  a->fd = fd;
  p->arena = a;
  p->slot = slot;
  return 0;
}
