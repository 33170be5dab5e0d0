/* segment.c: shared memory segments (sealed memfds mapped MAP_SHARED), the
 * per-process allocator of blocks inside them, and the references that
 * decide when a block may be reused and when a segment is unmapped. The
 * model is explained in shm_internal.h; this file keeps one registry per
 * process (segments and live refs) under one mutex, and fixes it up around
 * fork with pthread_atfork. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fcntl.h>

#include "shm_internal.h"

#define SEG_MAGIC UINT64_C(0x31475370636f726d) /* "mprocSG1" */
#define ARENA_SIZE ((size_t)1 << 20)
#define ARENA_UNITS (ARENA_SIZE / MP__SHM_UNIT)

/* At offset 0 of every segment, in unit 0. */
typedef struct seg_hdr {
  uint64_t magic;
  uint64_t size;
} seg_hdr;

typedef struct orphan {
  uint32_t unit, units;
} orphan;

typedef struct mp__seg {
  struct mp__seg *next;
  int fd;
  char *base;
  size_t size;
  dev_t dev;
  ino_t ino;
  size_t nrefs;      /* this process's live refs into the segment */
  bool owned;        /* this process allocates here */
  uint64_t *bitmap;  /* owned: one bit per unit, 1 = in use */
  size_t nunits;
  size_t used;       /* owned: units in use (unit 0, the header, included) */
  orphan *orphans;   /* owned: blocks we let go of that others still hold */
  size_t norphans, orphans_cap;
} mp__seg;

static struct {
  pthread_mutex_t mu;
  mp__seg *segs;
  mp__shm_ref head; /* circular list of live refs */
  size_t nrefs;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER, .head = {&g.head, &g.head, NULL, NULL, 0, 0}};

static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static inline mp__blk_hdr *hdr_of(void *payload) {
  return (mp__blk_hdr *)((char *)payload - MP__BLK_HDR);
}

/* ---- segments ----------------------------------------------------------- */

static void seg_unmap(mp__seg *s) {
  for (mp__seg **pp = &g.segs; *pp; pp = &(*pp)->next) {
    if (*pp == s) {
      *pp = s->next;
      break;
    }
  }
  munmap(s->base, s->size);
  mp__close(s->fd);
  mp__free(s->bitmap);
  mp__free(s->orphans);
  mp__free(s);
}

static bool bit_get(const uint64_t *bm, size_t i) { return (bm[i >> 6] >> (i & 63)) & 1; }

static void bits_set(uint64_t *bm, size_t from, size_t n, bool on) {
  for (size_t i = from; i < from + n; i++) {
    if (on)
      bm[i >> 6] |= UINT64_C(1) << (i & 63);
    else
      bm[i >> 6] &= ~(UINT64_C(1) << (i & 63));
  }
}

/* Maps fd whole and registers it. Takes ownership of fd (closed on error). */
static int seg_add(int fd, size_t size, bool owned, mp__seg **out) {
  struct stat st;
  if (fstat(fd, &st) < 0) {
    int e = -errno;
    mp__close(fd);
    return e;
  }
  mp__seg *s = mp__calloc(1, sizeof *s);
  if (!s) {
    mp__close(fd);
    return -ENOMEM;
  }
  s->base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (s->base == MAP_FAILED) {
    int e = -errno;
    mp__free(s);
    mp__close(fd);
    return e;
  }
  s->fd = fd;
  s->size = size;
  s->dev = st.st_dev;
  s->ino = st.st_ino;
  s->nunits = size / MP__SHM_UNIT;
  if (owned) {
    s->bitmap = mp__calloc((s->nunits + 63) / 64, sizeof(uint64_t));
    if (!s->bitmap) {
      munmap(s->base, size);
      mp__free(s);
      mp__close(fd);
      return -ENOMEM;
    }
    s->owned = true;
    bits_set(s->bitmap, 0, 1, true);
    s->used = 1;
  }
  s->next = g.segs;
  g.segs = s;
  *out = s;
  return 0;
}

/* A new arena (or a dedicated segment for a large block) owned by us. */
static int seg_create(size_t size, mp__seg **out) {
  int fd = memfd_create("mproc", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0)
    return -errno;
  if (fd < 3) { /* never hand out 0..2: a closed stdin must stay closed */
    int nfd = mp__dup_cloexec(fd);
    mp__close(fd);
    if (nfd < 0)
      return nfd;
    fd = nfd;
  }
  if (ftruncate(fd, (off_t)size) < 0) {
    int e = -errno;
    mp__close(fd);
    return e;
  }
  /* Sealed: nobody can shrink it under a mapping (SIGBUS) or grow it. */
  (void)fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
  int r = seg_add(fd, size, true, out);
  if (r < 0)
    return r;
  seg_hdr *h = (seg_hdr *)(*out)->base;
  h->size = size;
  h->magic = SEG_MAGIC;
  return 0;
}

/* A process unmaps what it neither uses nor allocates from; the owner keeps
 * one empty arena to avoid a memfd per create/free cycle. */
static void seg_maybe_unmap(mp__seg *s) {
  if (s->nrefs)
    return;
  if (s->owned) {
    if (s->used > 1 || s->norphans)
      return;
    if (s->size == ARENA_SIZE) {
      bool other = false;
      for (mp__seg *o = g.segs; o; o = o->next)
        other |= (o != s && o->owned && o->size == ARENA_SIZE);
      if (!other)
        return;
    }
  }
  seg_unmap(s);
}

/* ---- allocation within owned segments ---------------------------------- */

/* First fit: the index of `want` free units in a row, or -1. */
static ssize_t find_run(const mp__seg *s, size_t want) {
  size_t run = 0;
  for (size_t i = 0; i < s->nunits;) {
    if ((i & 63) == 0 && s->bitmap[i >> 6] == UINT64_MAX) {
      run = 0;
      i += 64;
      continue;
    }
    if (bit_get(s->bitmap, i))
      run = 0;
    else if (++run == want)
      return (ssize_t)(i + 1 - want);
    i++;
  }
  return -1;
}

static void units_free(mp__seg *s, size_t unit, size_t units) {
  if (unit == 0 || unit + units > s->nunits || units > s->used)
    return; /* a corrupt header: leak rather than free someone else's */
  bits_set(s->bitmap, unit, units, false);
  s->used -= units;
}

static void orphans_sweep(mp__seg *s) {
  size_t k = 0;
  for (size_t i = 0; i < s->norphans; i++) {
    mp__blk_hdr *h = (mp__blk_hdr *)(s->base + (size_t)s->orphans[i].unit * MP__SHM_UNIT);
    if (__atomic_load_n(&h->refs, __ATOMIC_ACQUIRE) == 0)
      units_free(s, s->orphans[i].unit, s->orphans[i].units);
    else
      s->orphans[k++] = s->orphans[i];
  }
  s->norphans = k;
}

/* Remembers a block we let go of while others still hold it. Out of memory,
 * the block is leaked: never reused is safe. */
static void orphan_add(mp__seg *s, size_t unit, size_t units) {
  if (s->norphans == s->orphans_cap) {
    size_t cap = 2 * s->orphans_cap + 8;
    orphan *o = mp__realloc(s->orphans, cap * sizeof *o);
    if (!o)
      return;
    s->orphans = o;
    s->orphans_cap = cap;
  }
  s->orphans[s->norphans++] = (orphan){(uint32_t)unit, (uint32_t)units};
}

static void ref_link(mp__shm_ref *ref) {
  ref->next = &g.head;
  ref->prev = g.head.prev;
  g.head.prev->next = ref;
  g.head.prev = ref;
  ref->seg->nrefs++;
  g.nrefs++;
}

static void ref_unlink(mp__shm_ref *ref) {
  ref->prev->next = ref->next;
  ref->next->prev = ref->prev;
  ref->seg->nrefs--;
  g.nrefs--;
}

static void atfork_prepare(void) {
  pthread_mutex_lock(&g.mu);
  /* The child will hold every reference we hold. */
  for (mp__shm_ref *r = g.head.next; r != &g.head; r = r->next)
    __atomic_fetch_add(&hdr_of(r->ptr)->refs, 1, __ATOMIC_RELAXED);
}

static void atfork_parent(void) { pthread_mutex_unlock(&g.mu); }

static void atfork_child(void) {
  mp__seg *next;
  for (mp__seg *s = g.segs; s; s = next) {
    next = s->next;
    /* The parent keeps allocating from its arenas with its own bitmap. */
    s->owned = false;
    mp__free(s->bitmap);
    mp__free(s->orphans);
    s->bitmap = NULL;
    s->orphans = NULL;
    s->norphans = s->orphans_cap = 0;
    if (!s->nrefs)
      seg_unmap(s);
  }
  pthread_mutex_init(&g.mu, NULL);
}

static void shm_once(void) { pthread_atfork(atfork_prepare, atfork_parent, atfork_child); }

int mp__shm_alloc(mp__shm_ref *ref, size_t size, uint32_t type) {
  memset(ref, 0, sizeof *ref);
  if (size > ((size_t)1 << 46))
    return -EOVERFLOW;
  size_t units = (MP__BLK_HDR + size + MP__SHM_UNIT - 1) / MP__SHM_UNIT;
  if (units >= UINT32_MAX)
    return -EOVERFLOW;
  pthread_once(&g_once, shm_once);
  pthread_mutex_lock(&g.mu);
  mp__seg *s = NULL;
  ssize_t at = -1;
  bool fresh = false;
  for (int pass = 0; pass < 2 && at < 0; pass++) {
    for (s = g.segs; s; s = s->next) {
      if (!s->owned)
        continue;
      if (pass == 1)
        orphans_sweep(s);
      if (s->nunits - s->used >= units && (at = find_run(s, units)) >= 0)
        break;
    }
  }
  if (at < 0) {
    size_t need = (units + 1) * MP__SHM_UNIT;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    need = (need + page - 1) / page * page;
    int r = seg_create(need > ARENA_SIZE / 4 ? need : ARENA_SIZE, &s);
    if (r < 0) {
      pthread_mutex_unlock(&g.mu);
      return r;
    }
    at = 1;
    fresh = true;
  }
  bits_set(s->bitmap, (size_t)at, units, true);
  s->used += units;
  mp__blk_hdr *h = (mp__blk_hdr *)(s->base + (size_t)at * MP__SHM_UNIT);
  void *payload = (char *)h + MP__BLK_HDR;
  if (!fresh) /* a new memfd reads as zeros: do not touch its pages */
    memset(payload, 0, units * MP__SHM_UNIT - MP__BLK_HDR);
  h->magic = MP__BLK_MAGIC;
  h->type = type;
  h->units = (uint32_t)units;
  __atomic_store_n(&h->refs, 1, __ATOMIC_RELEASE);
  ref->seg = s;
  ref->ptr = payload;
  ref->size = size;
  ref->type = type;
  ref_link(ref);
  pthread_mutex_unlock(&g.mu);
  return 0;
}

/* Takes a reference unless the block is already free: a stale handle must
 * not bring a freed block back. */
static bool refs_get(mp__blk_hdr *h) {
  uint32_t n = __atomic_load_n(&h->refs, __ATOMIC_RELAXED);
  while (n > 0 && n < UINT32_MAX) {
    if (__atomic_compare_exchange_n(&h->refs, &n, n + 1, true, __ATOMIC_ACQ_REL,
                                    __ATOMIC_RELAXED))
      return true;
  }
  return false;
}

static int open_locked(mp__shm_ref *ref, const mp_handle_part *part, uint32_t type,
                       size_t min_size) {
  struct stat st;
  if (fstat(part->fd, &st) < 0)
    return -errno;
  if (!S_ISREG(st.st_mode) || st.st_size < (off_t)(2 * MP__SHM_UNIT))
    return MP_EDECODE;
  mp__seg *s;
  for (s = g.segs; s; s = s->next)
    if (s->dev == st.st_dev && s->ino == st.st_ino)
      break;
  if (!s) {
    int fd = mp__dup_cloexec(part->fd);
    if (fd < 0)
      return fd;
    int r = seg_add(fd, (size_t)st.st_size, false, &s);
    if (r < 0)
      return r;
    const seg_hdr *sh = (const seg_hdr *)s->base;
    if (sh->magic != SEG_MAGIC || sh->size != s->size) {
      seg_maybe_unmap(s);
      return MP_EDECODE;
    }
  }
  int r = MP_EDECODE;
  uint64_t off = part->offset;
  if (off % MP__SHM_UNIT != MP__BLK_HDR || off >= s->size)
    goto out;
  mp__blk_hdr *h = (mp__blk_hdr *)(s->base + off - MP__BLK_HDR);
  if (h->magic != MP__BLK_MAGIC || h->units == 0 ||
      (off - MP__BLK_HDR) / MP__SHM_UNIT + h->units > s->nunits)
    goto out;
  r = MP_ETYPE;
  if (h->type != type || part->type != type) {
    r = mp__shm_wrong_type(h->type != type ? h->type : part->type, type);
    goto out;
  }
  r = MP_EDECODE;
  size_t cap = (size_t)h->units * MP__SHM_UNIT - MP__BLK_HDR;
  if (part->size > cap || part->size < min_size)
    goto out;
  r = MP_ESTATE;
  if (!refs_get(h))
    goto out;
  ref->seg = s;
  ref->ptr = (char *)h + MP__BLK_HDR;
  ref->size = (size_t)part->size;
  ref->type = type;
  ref_link(ref);
  return 0;
out:
  seg_maybe_unmap(s);
  return r;
}

int mp__shm_open(mp__shm_ref *ref, const mp_handle_part *part, uint32_t type,
                 size_t min_size) {
  memset(ref, 0, sizeof *ref);
  if (!part || part->fd < 0)
    return -EINVAL;
  pthread_once(&g_once, shm_once);
  pthread_mutex_lock(&g.mu);
  int r = open_locked(ref, part, type, min_size);
  pthread_mutex_unlock(&g.mu);
  return r;
}

void mp__shm_release(mp__shm_ref *ref) {
  if (!ref || !ref->seg)
    return;
  pthread_mutex_lock(&g.mu);
  mp__seg *s = ref->seg;
  mp__blk_hdr *h = hdr_of(ref->ptr);
  ref_unlink(ref);
  size_t unit = (size_t)((char *)h - s->base) / MP__SHM_UNIT;
  size_t units = h->units;
  uint32_t left = __atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL);
  if (s->owned) {
    if (left == 0)
      units_free(s, unit, units);
    else
      orphan_add(s, unit, units);
  }
  seg_maybe_unmap(s);
  pthread_mutex_unlock(&g.mu);
  memset(ref, 0, sizeof *ref);
}

int mp__shm_part(const mp__shm_ref *ref, mp_handle_part *part) {
  if (!ref || !ref->seg)
    return -EINVAL;
  part->fd = ref->seg->fd;
  part->type = ref->type;
  part->offset = (uint64_t)((char *)ref->ptr - ref->seg->base);
  part->size = ref->size;
  return 0;
}

void mp__shm_exit(void) {
  /* Most children hold nothing: then write nothing either (locking the
   * mutex would copy this page in a fork child, a fault on every exit). */
  if (!__atomic_load_n(&g.nrefs, __ATOMIC_RELAXED))
    return;
  pthread_mutex_lock(&g.mu);
  while (g.head.next != &g.head) {
    mp__shm_ref *r = g.head.next;
    __atomic_fetch_sub(&hdr_of(r->ptr)->refs, 1, __ATOMIC_ACQ_REL);
    ref_unlink(r);
    memset(r, 0, sizeof *r);
  }
  pthread_mutex_unlock(&g.mu);
}

void mp__shm_get_stats(mp__shm_stats *st) {
  pthread_mutex_lock(&g.mu);
  memset(st, 0, sizeof *st);
  for (mp__seg *s = g.segs; s; s = s->next) {
    st->segments++;
    st->owned += s->owned;
  }
  st->refs = g.nrefs;
  pthread_mutex_unlock(&g.mu);
}
