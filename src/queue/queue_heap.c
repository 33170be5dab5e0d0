/* queue_heap.c: a queue's shared segment and the heap inside it.
 *
 * The segment is a sparse memfd mapped whole with MAP_NORESERVE: growing
 * the queue means touching more of it, never remapping, so every process
 * sees the same offsets without telling the others anything. The heap hands
 * out blocks in size classes (four per power of two) from per-class free
 * lists and a bump pointer. Every change to the heap is a single store made
 * under its robust lock, so a process killed inside leaves, at worst, one
 * block leaked, never a broken list.
 *
 * Freed blocks keep their pages (warm: reusing them costs no page faults,
 * which is what makes a 64 MiB item move at memcpy speed) up to a cache
 * limit per queue; beyond it their pages go back to the kernel
 * (MADV_REMOVE) and the address range stays on the free list. */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue_internal.h"
#include "shm/shm_internal.h"

void (*mp__queue_hook)(int point);

/* The virtual size of a queue's segment: the most it can ever hold. It
 * costs address space only (128 TiB per process on x86-64); where less is
 * allowed the queue takes a share of what is (mp__shm_reserve). */
#define MP__Q_REGION_DEFAULT (UINT64_C(64) << 30)
#define MP__Q_CHUNK_DEFAULT (UINT64_C(64) << 10)
/* Warm free blocks kept per queue before pages are given back. */
#define MP__Q_CACHE_LIMIT (UINT64_C(256) << 20)
/* Blocks below this are neither counted nor trimmed. */
#define MP__Q_TRIM_MIN (UINT64_C(64) << 10)
#define MP__Q_PAGE 4096

static unsigned class_of(uint64_t n) {
  if (n <= (UINT64_C(1) << MP__Q_MIN_CLASS_SHIFT))
    return 0;
  unsigned k = 63 - (unsigned)__builtin_clzll(n - 1); /* 2^k < n <= 2^(k+1) */
  uint64_t quarter = UINT64_C(1) << (k - 2);
  uint64_t sub = (n - (UINT64_C(1) << k) + quarter - 1) / quarter; /* 1..4 */
  if (sub == 4) {
    k++;
    sub = 0;
  }
  return 4 * (k - MP__Q_MIN_CLASS_SHIFT) + (unsigned)sub;
}

static uint64_t class_size(unsigned cls) {
  unsigned k = cls / 4 + MP__Q_MIN_CLASS_SHIFT, sub = cls % 4;
  return (UINT64_C(4) + sub) << (k - 2);
}

int mp__qlock(pthread_mutex_t *m, const mp__deadline *dl,
              void (*on_dead)(void *), void *arg) {
  int r = pthread_mutex_trylock(m);
  while (MP__UNLIKELY(r == EBUSY)) {
    /* Sleep in slices, never unbounded. When an owner dies the kernel
     * wakes one waiter; if that waiter is killed too before it takes the
     * lock, the others would sleep forever. A slice ends their sleep, and
     * the next attempt finds the dead owner's mark and takes the lock
     * (EOWNERDEAD). A timeout also bounds the wait, so a holder that is
     * stopped (SIGSTOP, a debugger) cannot make a timed call hang. */
    mp__deadline slice = mp__qslice(dl);
    struct timespec ts = mp__deadline_timespec(&slice);
    r = pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &ts);
    if (r == ETIMEDOUT || r == EINTR) {
      if (dl && mp__deadline_passed(dl))
        return MP_ETIMEOUT;
      r = EBUSY;
    }
  }
  if (MP__LIKELY(r == 0))
    return 0;
  if (r == EOWNERDEAD) {
    if (on_dead)
      on_dead(arg);
    pthread_mutex_consistent(m);
    return 0;
  }
  return r == ENOTRECOVERABLE ? MP_ENOTRECOVERABLE : -r;
}

mp__deadline mp__qslice(const mp__deadline *dl) {
  mp__deadline s = {mp__now_ns() + MP__Q_SLICE_NS};
  if (dl && dl->at_ns < s.at_ns)
    s = *dl;
  return s;
}

void mp__qunlock(pthread_mutex_t *m) { pthread_mutex_unlock(m); }

static int init_mutex(pthread_mutex_t *m) {
  pthread_mutexattr_t a;
  int r = pthread_mutexattr_init(&a);
  if (r == 0)
    r = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
  if (r == 0)
    r = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
  if (r == 0)
    r = pthread_mutex_init(m, &a);
  pthread_mutexattr_destroy(&a);
  return -r;
}

uint64_t mp__qheap_alloc(mp_queue *q, uint64_t n) {
  mp__qheap *hp = &q->h->heap;
  if (n > q->h->region_size)
    return 0;
  unsigned cls = class_of(n + MP__QBLK_HDR);
  if (cls >= MP__Q_NCLASS)
    return 0;
  uint64_t size = class_size(cls);
  if (mp__qlock(&hp->lock, NULL, NULL, NULL) < 0)
    return 0;
  MP__QHOOK(MP__QHOOK_HEAP_LOCKED);
  uint64_t blk = hp->free_head[cls];
  if (blk) {
    mp__qblock *b = mp__qblk(q, blk);
    hp->free_head[cls] = b->next;
    if (b->warm)
      hp->cached -= size;
  } else {
    uint64_t start = hp->bump;
    if (size >= 4 * MP__Q_PAGE) /* page-aligned, so trimming frees pages */
      start = (start + MP__Q_PAGE - 1) & ~(uint64_t)(MP__Q_PAGE - 1);
    if (start + size > q->h->region_size) {
      mp__qunlock(&hp->lock);
      return 0;
    }
    hp->bump = start + size;
    blk = start;
  }
  mp__qunlock(&hp->lock);
  mp__qblock *b = mp__qblk(q, blk);
  b->size = size;
  b->cls = cls;
  b->next = 0;
  b->warm = 0;
  return blk;
}

void mp__qheap_free(mp_queue *q, uint64_t blk) {
  if (!blk)
    return;
  mp__qheap *hp = &q->h->heap;
  mp__qblock *b = mp__qblk(q, blk);
  uint64_t size = b->size;
  bool warm = false, trim = false;
  if (size >= MP__Q_TRIM_MIN) {
    uint64_t cached = __atomic_load_n(&hp->cached, __ATOMIC_RELAXED);
    warm = cached + size <= MP__Q_CACHE_LIMIT;
    trim = !warm;
  }
  if (trim) {
    /* Give the pages back before the block is reachable again; the
     * header's page stays. */
    uint64_t from = (blk + MP__Q_PAGE) & ~(uint64_t)(MP__Q_PAGE - 1);
    uint64_t to = (blk + size) & ~(uint64_t)(MP__Q_PAGE - 1);
    if (to > from)
      (void)madvise(q->base + from, to - from, MADV_REMOVE);
  }
  b->warm = warm;
  if (mp__qlock(&hp->lock, NULL, NULL, NULL) < 0)
    return; /* unrecoverable lock: the block is leaked, nothing breaks */
  MP__QHOOK(MP__QHOOK_HEAP_LOCKED);
  if (warm)
    hp->cached += size;
  b->next = hp->free_head[b->cls];
  hp->free_head[b->cls] = blk;
  mp__qunlock(&hp->lock);
}

/* Maps the segment of fd: region_size bytes, or with floor > 0 (a new
 * queue) what the address space allows down to floor (mp__shm_reserve);
 * q->map_len is the size mapped. */
static mp_queue *map_fd(int fd, uint64_t region_size, uint64_t floor) {
  mp_queue *q = mp__calloc(1, sizeof *q);
  if (!q)
    return NULL;
  size_t got = (size_t)region_size;
  void *p = floor ? mp__shm_reserve(fd, (size_t)region_size, (size_t)floor, &got)
                  : mmap(NULL, region_size, PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_NORESERVE, fd, 0);
  if (!p || p == MAP_FAILED) {
    int e = errno;
    mp__free(q);
    errno = e;
    return NULL;
  }
  region_size = got;
  q->base = p;
  q->h = p;
  q->map_len = region_size;
  q->fd = fd;
  return q;
}

static void unmap_close(mp_queue *q) {
  int e = errno;
  munmap(q->base, q->map_len);
  mp__close(q->fd);
  mp__free(q);
  errno = e;
}

mp_queue *mp__queue_create(const mp__qparams *p) {
  uint64_t region = p->region_size ? p->region_size : MP__Q_REGION_DEFAULT;
  uint64_t chunk = p->chunk_size ? p->chunk_size : MP__Q_CHUNK_DEFAULT;
  if (region < MP__Q_HDR_SIZE + 4 * chunk || chunk < 1024) {
    errno = EINVAL;
    return NULL;
  }
  int fd = memfd_create("mproc-queue", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd >= 0 && fd <= 2) { /* never hand out 0..2 */
    int nfd = mp__dup_cloexec(fd);
    mp__close(fd);
    fd = nfd < 0 ? -1 : nfd;
  }
  if (fd < 0)
    return NULL;
  /* The default region shrinks to what the address space allows (down
   * to 16 MiB: ulimit -v, valgrind); a region the caller chose does not. */
  uint64_t floor = region;
  if (!p->region_size && floor > (UINT64_C(16) << 20))
    floor = UINT64_C(16) << 20;
  mp_queue *q = map_fd(fd, region, floor);
  if (!q) {
    int e = errno;
    mp__close(fd);
    errno = e;
    return NULL;
  }
  region = q->map_len;
  /* Sealed at its size: no process can shrink it under the others'
   * mappings (SIGBUS). Punching holes (MADV_REMOVE) stays allowed. */
  if (ftruncate(fd, (off_t)region) < 0 ||
      fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
    unmap_close(q);
    return NULL;
  }
  mp__qhdr *h = q->h;
  h->region_size = region;
  h->kind = (uint32_t)p->kind;
  h->maxsize = p->maxsize > 0 ? p->maxsize : 0;
  int r = init_mutex(&h->prod.lock);
  if (!r)
    r = init_mutex(&h->cons.lock);
  if (!r)
    r = init_mutex(&h->heap.lock);
  if (r) {
    unmap_close(q);
    errno = -r;
    return NULL;
  }
  h->heap.bump = MP__Q_HDR_SIZE;
  uint64_t blk = mp__qheap_alloc(q, chunk - MP__QBLK_HDR);
  if (!blk) {
    unmap_close(q);
    errno = ENOMEM;
    return NULL;
  }
  h->chunk_size = mp__qblk(q, blk)->size;
  /* Items up to an eighth of a chunk are copied into the chunk; bigger ones
   * get a block of their own, copied outside the producers' lock. */
  h->inline_max = h->chunk_size / 8;
  h->prod.chunk = blk;
  h->prod.pos = h->cons.pos = blk + MP__QBLK_HDR;
  __atomic_store_n(&h->magic, MP__Q_MAGIC, __ATOMIC_RELEASE);
  return q;
}

mp_queue *mp__queue_attach(int fd) {
  int nfd = mp__dup_cloexec(fd);
  if (nfd < 0) {
    errno = -nfd;
    return NULL;
  }
  /* Reading a mapping beyond the file's end is SIGBUS: check the size
   * before looking inside. */
  struct stat st;
  if (fstat(nfd, &st) < 0 || st.st_size < (off_t)MP__Q_HDR_SIZE) {
    mp__close(nfd);
    errno = -MP_EPROTO;
    return NULL;
  }
  mp__qhdr *h = mmap(NULL, MP__Q_PAGE, PROT_READ, MAP_SHARED, nfd, 0);
  if (h == MAP_FAILED) {
    int e = errno;
    mp__close(nfd);
    errno = e;
    return NULL;
  }
  uint64_t magic = __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE);
  uint64_t region = h->region_size;
  munmap(h, MP__Q_PAGE);
  if (magic != MP__Q_MAGIC || region != (uint64_t)st.st_size) {
    mp__close(nfd);
    errno = -MP_EPROTO;
    return NULL;
  }
  mp_queue *q = map_fd(nfd, region, 0);
  if (!q) {
    int e = errno;
    mp__close(nfd);
    errno = e;
  }
  return q;
}

MP_EXPORT void mp_queue_free(mp_queue *q) {
  if (!q)
    return;
  unmap_close(q);
}
