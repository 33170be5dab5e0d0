/* arena.c: blocks that hold many small objects made at once by a decoder
 * (see obj_internal.h for why and for the lifetime rule). A block is
 * aligned to its size, so the object's address gives its block; the block
 * is freed when its last object dies and its filler has let go. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "obj_internal.h"

/* The filler counts what it cuts without atomics and settles once when it
 * lets go: until then the count carries BIAS, so frees cannot bring it to
 * zero while the block is still being filled. */
#define BIAS (1u << 30)
#define HEADER ((sizeof(mp__arena_block) + 7) & ~(size_t)7)
/* Larger objects are allocated on their own: they would waste a block. */
#define MAX_IN_ARENA 256
/* Spare blocks kept for the next decoder instead of going back to libc,
 * which would return them to the kernel and fault them in again: up to
 * 4 MiB, what a list of 10^5 ints takes. */
#define SPARES 256

static pthread_mutex_t g_spare_lock = PTHREAD_MUTEX_INITIALIZER;
static void *g_spare[SPARES];
static size_t g_nspare;

static void block_free(mp__arena_block *b) {
  pthread_mutex_lock(&g_spare_lock);
  bool kept = g_nspare < SPARES;
  if (kept)
    g_spare[g_nspare++] = b;
  pthread_mutex_unlock(&g_spare_lock);
  if (!kept)
    free(b);
}

static void *block_new(void) {
  void *p = NULL;
  pthread_mutex_lock(&g_spare_lock);
  if (g_nspare)
    p = g_spare[--g_nspare];
  pthread_mutex_unlock(&g_spare_lock);
  if (!p && posix_memalign(&p, MP__ARENA_SIZE, MP__ARENA_SIZE) != 0)
    return NULL;
  return p;
}

static void block_sub(mp__arena_block *b, uint32_t n) {
  if (__atomic_sub_fetch(&b->live, n, __ATOMIC_ACQ_REL) == 0)
    block_free(b);
}

void mp__arena_done(mp__arena *a) {
  if (a->cur)
    block_sub(a->cur, BIAS - a->cur->given);
  a->cur = NULL;
}

void mp__arena_release(mp_obj *o, uint32_t n) {
  block_sub((mp__arena_block *)mp__arena_block_of(o), n);
}

/* size bytes (16-aligned) from the arena, or NULL to use mp__malloc. */
static void *cut(mp__arena *a, size_t size) {
#if defined(__SANITIZE_ADDRESS__)
  /* Under AddressSanitizer every object is its own allocation, so a use
   * after free of one object is still caught. */
  a->off = true;
#endif
  if (a->off || size > MAX_IN_ARENA)
    return NULL;
  size = (size + 7) & ~(size_t)7; /* mp_obj needs 8-byte alignment */
  if (!a->cur || a->cur->used + size > MP__ARENA_SIZE) {
    if (!mp__alloc_is_default()) {
      a->off = true;
      return NULL;
    }
    void *p = block_new();
    if (!p)
      return NULL;
    mp__arena_done(a);
    a->cur = p;
    a->cur->live = BIAS;
    a->cur->used = HEADER;
    a->cur->given = 0;
  }
  void *o = (char *)a->cur + a->cur->used;
  a->cur->used += (uint32_t)size;
  a->cur->given++;
  return o;
}

mp_obj *mp__arena_int_slow(mp__arena *a, int64_t v) {
  mp_obj *o = cut(a, MP__OBJ_SIZE_SCALAR);
  if (!o)
    return mp_obj_int(v);
  memset(o, 0, MP__OBJ_SIZE_SCALAR);
  o->refcnt = 1;
  o->type = MP_OBJ_INT;
  o->flags = MP__OBJ_IN_ARENA;
  o->u.i = v;
  return o;
}

mp_obj *mp__arena_str_slow(mp__arena *a, mp_obj_type type, size_t len) {
  mp_obj *o = len < MAX_IN_ARENA ? cut(a, MP__OBJ_SIZE_STR + len + 1) : NULL;
  if (!o)
    return mp__obj_alloc_str(type, len);
  memset(o, 0, MP__OBJ_SIZE_STR);
  o->refcnt = 1;
  o->type = (uint8_t)type;
  o->flags = MP__OBJ_IN_ARENA;
  o->u.s.len = len;
  o->u.s.data = (char *)o + MP__OBJ_SIZE_STR;
  o->u.s.data[len] = 0;
  return o;
}
