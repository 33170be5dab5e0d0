/* obj_internal.h: the layout of mp_obj and the helpers the files of the obj
 * area share: a growable byte buffer, UTF-8 checks, the dict's hash table,
 * Python's numeric hash. Other areas may include it to read objects fast;
 * they should still build and change objects through the public API. */
#ifndef MPROC_OBJ_INTERNAL_H
#define MPROC_OBJ_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mproc/obj.h"
#include "runtime/runtime_internal.h"

/* One dict entry; key == NULL marks a deleted one (kept so that order
 * survives deletions until the table is rebuilt). */
typedef struct mp__dent {
  mp_obj *key;
  mp_obj *value;
  int64_t hash;
} mp__dent;

#define MP__OBJ_IMMORTAL 1u
#define MP__OBJ_IN_ARENA 2u /* allocated from an mp__arena (see below) */

struct mp_obj {
  uint32_t refcnt; /* atomic; ignored for immortal objects */
  uint8_t type;    /* mp_obj_type */
  uint8_t flags;   /* MP__OBJ_IMMORTAL */
  int8_t code;     /* an ext's type code */
  mp_obj *next_free; /* links objects waiting to be freed (iterative free) */
  /* Last, so that an object is allocated only as large as its kind's
   * member (MP__OBJ_SIZE_*): an int takes 24 bytes, not the dict's 72. */
  union {
    bool b;
    int64_t i;
    double f;
    struct { /* str, bytes, ext: data right after the object, NUL-ended */
      size_t len;
      char *data;
    } s;
    struct { /* list, tuple */
      mp_obj **items;
      size_t len, cap;
    } seq;
    struct {
      mp__dent *ents; /* in insertion order, with holes */
      int32_t *index; /* open addressing over ents; -1 empty, -2 deleted */
      size_t nents;   /* entries used in ents, holes included */
      size_t cap;     /* entries allocated */
      size_t len;     /* live entries */
      size_t fill;    /* index slots not empty (live or deleted) */
      size_t mask;    /* index slots - 1; 0 while index is NULL */
    } d;
  } u;
};

/* Allocation sizes: scalars (bool, int, float), str-like objects before
 * their bytes (which follow at MP__OBJ_SIZE_STR), and containers. */
#define MP__OBJ_SIZE_SCALAR (offsetof(mp_obj, u) + sizeof(int64_t))
#define MP__OBJ_SIZE_STR (offsetof(mp_obj, u) + 2 * sizeof(void *))
#define MP__OBJ_SIZE_FULL sizeof(mp_obj)

/* ---- Arenas: many small objects in one block ----------------------------
 * A decoder makes thousands of small objects at once (a list of 10^5
 * ints); one malloc and one free each is most of its time. An arena is a
 * block of MP__ARENA_SIZE bytes, aligned to its size, from which small
 * objects are cut by bumping a pointer; the block counts its live objects
 * (atomically: they may die in any thread) plus one for the decoder while
 * it is filling it, and is freed when the count reaches zero. An object
 * finds its block by rounding its address down. The cost: one surviving
 * object keeps its block (16 KiB) alive. Arenas are only used with the
 * default allocator (mp_set_allocator's hooks see every object). */
#define MP__ARENA_SIZE ((size_t)16384)
/* Inputs shorter than this decode without an arena: a small message's
 * objects may be kept for long (a manager's stored values), and each would
 * pin a block. From this size on, what a block pins is at most a few times
 * the input that filled it. */
#define MP__ARENA_MIN_INPUT ((size_t)4096)
typedef struct mp__arena_block {
  uint32_t live;  /* atomic: BIAS - objects freed while filling; then the
                     objects alive (arena.c) */
  uint32_t used;  /* bytes cut so far, header included */
  uint32_t given; /* objects cut (the filler's count, not atomic) */
} mp__arena_block;
typedef struct mp__arena {
  mp__arena_block *cur; /* the block being filled, or NULL */
  bool off;             /* a custom allocator is set: plain mallocs */
} mp__arena;
/* An int / a str or bytes of len bytes (NUL-ended) from the arena, or
 * from mp__malloc when it does not fit. NULL with errno on failure. */
mp_obj *mp__arena_int_slow(mp__arena *a, int64_t v);
mp_obj *mp__arena_str_slow(mp__arena *a, mp_obj_type type, size_t len);
static inline mp_obj *mp__arena_int(mp__arena *a, int64_t v) {
  mp__arena_block *b = a->cur;
  if (!b || b->used + MP__OBJ_SIZE_SCALAR > MP__ARENA_SIZE)
    return mp__arena_int_slow(a, v);
  mp_obj *o = (mp_obj *)((char *)b + b->used);
  b->used += MP__OBJ_SIZE_SCALAR; /* a multiple of 8: stays aligned */
  b->given++;
  o->refcnt = 1;
  o->type = MP_OBJ_INT;
  o->flags = MP__OBJ_IN_ARENA;
  o->code = 0;
  o->next_free = NULL;
  o->u.i = v;
  return o;
}
static inline mp_obj *mp__arena_str(mp__arena *a, mp_obj_type type, size_t len) {
  mp__arena_block *b = a->cur;
  size_t size = (MP__OBJ_SIZE_STR + len + 1 + 7) & ~(size_t)7;
  if (!b || len >= 128 || b->used + size > MP__ARENA_SIZE)
    return mp__arena_str_slow(a, type, len);
  mp_obj *o = (mp_obj *)((char *)b + b->used);
  b->used += (uint32_t)size;
  b->given++;
  o->refcnt = 1;
  o->type = (uint8_t)type;
  o->flags = MP__OBJ_IN_ARENA;
  o->code = 0;
  o->next_free = NULL;
  o->u.s.len = len;
  o->u.s.data = (char *)o + MP__OBJ_SIZE_STR;
  o->u.s.data[len] = 0;
  return o;
}

/* The decoder is done filling: drops its hold on the current block. */
void mp__arena_done(mp__arena *a);
/* Frees n objects that lived in the arena block holding o (the free path
 * counts runs of objects from one block and settles each run at once). */
void mp__arena_release(mp_obj *o, uint32_t n);
/* The block an arena object lives in. */
static inline uintptr_t mp__arena_block_of(const mp_obj *o) {
  return (uintptr_t)o & ~(uintptr_t)(MP__ARENA_SIZE - 1);
}

/* ---- A growable byte buffer (private memory, mp__malloc) ---------------- */
typedef struct mp__sbuf {
  char *data;
  size_t len, cap;
  int err; /* first failure (-ENOMEM); later appends do nothing */
} mp__sbuf;

int mp__sbuf_reserve(mp__sbuf *b, size_t more);
void mp__sbuf_add(mp__sbuf *b, const void *p, size_t n);
void mp__sbuf_addc(mp__sbuf *b, char c);
void mp__sbuf_adds(mp__sbuf *b, const char *s);
void mp__sbuf_addf(mp__sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Hands the NUL-terminated text to the caller (or frees it on error). */
int mp__sbuf_finish(mp__sbuf *b, char **out, size_t *len);

/* ---- Shared helpers ----------------------------------------------------- */
static inline bool mp__obj_is_seq(const mp_obj *o) {
  return o && (o->type == MP_OBJ_LIST || o->type == MP_OBJ_TUPLE);
}
/* dict, set and frozenset share the hash table (a set's values are None). */
static inline bool mp__obj_is_hashtab(const mp_obj *o) {
  return o && (o->type == MP_OBJ_DICT || o->type == MP_OBJ_SET ||
               o->type == MP_OBJ_FROZENSET);
}
static inline bool mp__obj_is_set(const mp_obj *o) {
  return o && (o->type == MP_OBJ_SET || o->type == MP_OBJ_FROZENSET);
}
static inline bool mp__obj_is_bytes(const mp_obj *o) {
  return o && (o->type == MP_OBJ_BYTES || o->type == MP_OBJ_BYTEARRAY);
}
static inline bool mp__obj_is_num(const mp_obj *o) {
  return o->type == MP_OBJ_BOOL || o->type == MP_OBJ_INT ||
         o->type == MP_OBJ_FLOAT;
}
/* The error a _steal function returns when handed NULL: the failed
 * constructor's errno as a code, -ENOMEM when errno says nothing. */
int mp__obj_null_err(void);

/* A str or bytes object of len bytes, uninitialised but NUL-ended. */
mp_obj *mp__obj_alloc_str(mp_obj_type type, size_t len);
/* A list or tuple with room for cap items and len None items. */
mp_obj *mp__obj_alloc_seq(mp_obj_type type, size_t len, size_t cap);
/* Appends (stealing) to a list that may need to grow. */
int mp__list_append_steal(mp_obj *list, mp_obj *item);

/* Decodes one code point at s[0..n); returns its length (1..4), or 0 if
 * the bytes are not valid UTF-8 (overlong, surrogate, > U+10FFFF). */
size_t mp__utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
bool mp__utf8_valid(const char *s, size_t n);
/* Python's str.isprintable() for one code point (unicode_table.c). */
bool mp__unicode_printable(uint32_t c);

/* Python's hash of a double and of an int64, and the str/bytes SipHash. */
int64_t mp__hash_double(double v);
int64_t mp__hash_int(int64_t v);
int64_t mp__hash_bytes(const void *p, size_t n);

/* Dict internals: inserting with a precomputed hash (steals key and value,
 * even on failure), and finding a str key given as bytes. */
int mp__dict_set_hashed(mp_obj *d, mp_obj *key, int64_t hash, mp_obj *value);
mp__dent *mp__dict_lookup(const mp_obj *d, const mp_obj *key, int64_t hash);
mp__dent *mp__dict_find_str(const mp_obj *d, const char *s, size_t n);
/* Makes room for `more` insertions without a rebuild (a decoder that
 * knows how many items come). Returns 0 or -ENOMEM (d unchanged). */
int mp__dict_reserve(mp_obj *d, size_t more);
/* Removes key (found by hash) and drops its references; false if absent. */
bool mp__dict_del_hashed(mp_obj *d, const mp_obj *key, int64_t hash);
/* A new empty set or frozenset; adding to one with a precomputed hash
 * (steals item, even on failure). */
mp_obj *mp__set_alloc(mp_obj_type type);
int mp__set_add_hashed(mp_obj *set, mp_obj *item, int64_t hash);
/* A new set holding a set's items, or a new bytearray of a bytearray's
 * bytes (copy.copy of the mutable kinds that are not containers of
 * mutables). NULL with errno on failure. */
mp_obj *mp__obj_copy_mutable(const mp_obj *o);
/* Drops everything d holds (dying objects go on *stack) and empties it. */
void mp__dict_release(mp_obj *d, mp_obj **stack);
/* Frees a stack of dead objects built by mp__obj_unref_push. */
void mp__obj_free_stack(mp_obj *stack);

/* Equality with a depth budget (< 0: compared too deep). */
int mp__obj_eq(const mp_obj *a, const mp_obj *b, int depth);

/* Drops a reference; an object that dies is pushed on *stack instead of
 * being freed now (so freeing never recurses). */
static inline void mp__obj_unref_push(mp_obj *o, mp_obj **stack) {
  if (!o || (o->flags & MP__OBJ_IMMORTAL))
    return;
  /* A count of 1 is our own reference: nobody else can change it, so the
   * object is dead without a locked instruction (the acquire load still
   * orders what others did before they let go). */
  if (__atomic_load_n(&o->refcnt, __ATOMIC_ACQUIRE) == 1 ||
      __atomic_sub_fetch(&o->refcnt, 1, __ATOMIC_ACQ_REL) == 0) {
    o->next_free = *stack;
    *stack = o;
  }
}
static inline mp_obj *mp__obj_ref(mp_obj *o) {
  if (o && !(o->flags & MP__OBJ_IMMORTAL))
    __atomic_add_fetch(&o->refcnt, 1, __ATOMIC_RELAXED);
  return o;
}

#endif
