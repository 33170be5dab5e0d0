/* obj.c: the life of an mp_obj: constructors, reference counting and
 * (iterative) freeing, type queries and scalar accessors, shallow and deep
 * copies; plus the small helpers the other files of the area share (the
 * growable text buffer and UTF-8 decoding). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "obj_internal.h"

/* The immortal singletons: never allocated, never freed. */
static mp_obj g_none = {.type = MP_OBJ_NONE, .flags = MP__OBJ_IMMORTAL};
static mp_obj g_true = {.type = MP_OBJ_BOOL, .flags = MP__OBJ_IMMORTAL,
                        .u.b = true};
static mp_obj g_false = {.type = MP_OBJ_BOOL, .flags = MP__OBJ_IMMORTAL,
                         .u.b = false};

int mp__obj_null_err(void) {
  int e = errno;
  return e ? mp_errno_code(e) : -ENOMEM;
}

/* An object of `size` bytes (MP__OBJ_SIZE_*, plus a str's bytes): only
 * the header and its kind's member exist. */
static mp_obj *obj_alloc(mp_obj_type type, size_t size) {
  mp_obj *o = mp__malloc(size);
  if (!o) {
    errno = ENOMEM;
    return NULL;
  }
  memset(o, 0, size < MP__OBJ_SIZE_FULL ? size : MP__OBJ_SIZE_FULL);
  o->refcnt = 1;
  o->type = (uint8_t)type;
  return o;
}

MP_EXPORT mp_obj *mp_obj_none(void) { return &g_none; }
MP_EXPORT mp_obj *mp_obj_bool(bool v) { return v ? &g_true : &g_false; }

MP_EXPORT mp_obj *mp_obj_int(int64_t v) {
  mp_obj *o = obj_alloc(MP_OBJ_INT, MP__OBJ_SIZE_SCALAR);
  if (o)
    o->u.i = v;
  return o;
}

MP_EXPORT mp_obj *mp_obj_float(double v) {
  mp_obj *o = obj_alloc(MP_OBJ_FLOAT, MP__OBJ_SIZE_SCALAR);
  if (o)
    o->u.f = v;
  return o;
}

mp_obj *mp__obj_alloc_str(mp_obj_type type, size_t len) {
  if (len > SIZE_MAX - MP__OBJ_SIZE_STR - 1) {
    errno = ENOMEM;
    return NULL;
  }
  mp_obj *o = obj_alloc(type, MP__OBJ_SIZE_STR + len + 1);
  if (!o)
    return NULL;
  o->u.s.len = len;
  o->u.s.data = (char *)o + MP__OBJ_SIZE_STR;
  o->u.s.data[len] = 0;
  return o;
}

MP_EXPORT mp_obj *mp_obj_strn(const char *s, size_t len) {
  if (!s && len) {
    errno = EINVAL;
    return NULL;
  }
  if (!mp__utf8_valid(s, len)) {
    errno = -MP_EVALUE;
    return NULL;
  }
  mp_obj *o = mp__obj_alloc_str(MP_OBJ_STR, len);
  if (o && len)
    memcpy(o->u.s.data, s, len);
  return o;
}

MP_EXPORT mp_obj *mp_obj_str(const char *s) {
  if (!s) {
    errno = EINVAL;
    return NULL;
  }
  return mp_obj_strn(s, strlen(s));
}

MP_EXPORT mp_obj *mp_obj_strf(const char *fmt, ...) {
  mp__sbuf b = {0};
  va_list ap;
  va_start(ap, fmt);
  char tmp[256];
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) {
    errno = EINVAL;
    return NULL;
  }
  if ((size_t)n < sizeof tmp)
    return mp_obj_strn(tmp, (size_t)n);
  if (mp__sbuf_reserve(&b, (size_t)n + 1) < 0) {
    errno = ENOMEM;
    return NULL;
  }
  va_start(ap, fmt);
  vsnprintf(b.data, (size_t)n + 1, fmt, ap);
  va_end(ap);
  mp_obj *o = mp_obj_strn(b.data, (size_t)n);
  int e = errno;
  mp__free(b.data);
  errno = e;
  return o;
}

MP_EXPORT mp_obj *mp_obj_bytes(const void *p, size_t len) {
  if (!p && len) {
    errno = EINVAL;
    return NULL;
  }
  mp_obj *o = mp__obj_alloc_str(MP_OBJ_BYTES, len);
  if (o && len)
    memcpy(o->u.s.data, p, len);
  return o;
}

MP_EXPORT mp_obj *mp_obj_bytearray(const void *p, size_t len) {
  mp_obj *o = mp_obj_bytes(p, len);
  if (o)
    o->type = MP_OBJ_BYTEARRAY;
  return o;
}

MP_EXPORT mp_obj *mp_obj_ext(int8_t code, const void *data, size_t len) {
  if ((!data && len) ||
      (code >= MP_OBJ_EXT_TUPLE && code <= MP_OBJ_EXT_BYTEARRAY)) {
    errno = EINVAL;
    return NULL;
  }
  mp_obj *o = mp__obj_alloc_str(MP_OBJ_EXT, len);
  if (o) {
    o->code = code;
    if (len)
      memcpy(o->u.s.data, data, len);
  }
  return o;
}

mp_obj *mp__obj_alloc_seq(mp_obj_type type, size_t len, size_t cap) {
  mp_obj *o = obj_alloc(type, MP__OBJ_SIZE_FULL);
  if (!o)
    return NULL;
  if (cap) {
    o->u.seq.items = mp__calloc(cap, sizeof(mp_obj *));
    if (!o->u.seq.items) {
      mp__free(o);
      errno = ENOMEM;
      return NULL;
    }
  }
  for (size_t i = 0; i < len; i++)
    o->u.seq.items[i] = &g_none;
  o->u.seq.len = len;
  o->u.seq.cap = cap;
  return o;
}

MP_EXPORT mp_obj *mp_obj_list_new(void) {
  return mp__obj_alloc_seq(MP_OBJ_LIST, 0, 0);
}

MP_EXPORT mp_obj *mp_obj_tuple_new(size_t n) {
  return mp__obj_alloc_seq(MP_OBJ_TUPLE, n, n);
}

MP_EXPORT mp_obj *mp_obj_dict_new(void) {
  return obj_alloc(MP_OBJ_DICT, MP__OBJ_SIZE_FULL);
}

mp_obj *mp__set_alloc(mp_obj_type type) {
  return obj_alloc(type, MP__OBJ_SIZE_FULL);
}

/* ---- References ----------------------------------------------------------- */

MP_EXPORT mp_obj *mp_obj_ref(mp_obj *o) { return mp__obj_ref(o); }

/* Frees o and everything only it held. Children that die are pushed on a
 * stack linked through next_free instead of being freed recursively, so a
 * list nested a million deep frees without exhausting the C stack. */
/* Frees dead object x's own memory; arena objects of one block are
 * counted in *run / *nrun and settled together. */
static void free_one(mp_obj *x, mp_obj **run, uint32_t *nrun) {
  if (!(x->flags & MP__OBJ_IN_ARENA)) {
    mp__free(x);
  } else if (*run && mp__arena_block_of(*run) == mp__arena_block_of(x)) {
    (*nrun)++;
  } else {
    if (*run)
      mp__arena_release(*run, *nrun);
    *run = x, *nrun = 1;
  }
}

/* Drops a container's reference to item: a dying item that holds nothing
 * (a number, a str) is freed at once instead of going through the stack. */
static inline void drop_item(mp_obj *item, mp_obj **stack, mp_obj **run,
                             uint32_t *nrun) {
  if (item->flags & MP__OBJ_IMMORTAL)
    return;
  if (item->type <= MP_OBJ_BYTES &&
      __atomic_load_n(&item->refcnt, __ATOMIC_ACQUIRE) == 1)
    free_one(item, run, nrun);
  else
    mp__obj_unref_push(item, stack);
}

void mp__obj_free_stack(mp_obj *stack) {
  mp_obj *run = NULL; /* arena objects freed from one block, not yet settled */
  uint32_t nrun = 0;
  while (stack) {
    mp_obj *x = stack;
    stack = x->next_free;
    if (mp__obj_is_seq(x) || x->type == MP_OBJ_PYOBJ) {
      for (size_t i = 0; i < x->u.seq.len; i++)
        drop_item(x->u.seq.items[i], &stack, &run, &nrun);
      mp__free(x->u.seq.items);
    } else if (mp__obj_is_hashtab(x)) {
      for (size_t k = 0; k < x->u.d.nents; k++) {
        if (x->u.d.ents[k].key) {
          drop_item(x->u.d.ents[k].key, &stack, &run, &nrun);
          drop_item(x->u.d.ents[k].value, &stack, &run, &nrun);
        }
      }
      mp__free(x->u.d.ents);
      mp__free(x->u.d.index);
    }
    free_one(x, &run, &nrun);
  }
  if (run)
    mp__arena_release(run, nrun);
}

static void obj_destroy(mp_obj *o) {
  o->next_free = NULL;
  mp__obj_free_stack(o);
}

MP_EXPORT void mp_obj_unref(mp_obj *o) {
  if (!o || (o->flags & MP__OBJ_IMMORTAL))
    return;
  /* 1 is the caller's own reference: see mp__obj_unref_push. */
  if (__atomic_load_n(&o->refcnt, __ATOMIC_ACQUIRE) == 1 ||
      __atomic_sub_fetch(&o->refcnt, 1, __ATOMIC_ACQ_REL) == 0)
    obj_destroy(o);
}

MP_EXPORT void mp_obj_free(mp_obj *o) { mp_obj_unref(o); }

/* ---- Type, truth, length ------------------------------------------------ */

MP_EXPORT mp_obj_type mp_obj_get_type(const mp_obj *o) {
  return (mp_obj_type)o->type;
}

MP_EXPORT const char *mp_obj_type_name(const mp_obj *o) {
  static const char *const names[] = {"NoneType", "bool",  "int",
                                      "float",    "str",   "bytes",
                                      "list",     "tuple", "dict",
                                      "ExtType",  "set",   "frozenset",
                                      "bytearray", "pyobject"};
  if (!o || o->type >= MP__ARRAY_SIZE(names))
    return "NULL";
  return names[o->type];
}

MP_EXPORT bool mp_obj_truthy(const mp_obj *o) {
  if (!o)
    return false;
  switch (o->type) {
  case MP_OBJ_NONE: return false;
  case MP_OBJ_BOOL: return o->u.b;
  case MP_OBJ_INT: return o->u.i != 0;
  case MP_OBJ_FLOAT: return o->u.f != 0.0;
  case MP_OBJ_STR:
  case MP_OBJ_BYTES:
  case MP_OBJ_BYTEARRAY: return o->u.s.len != 0;
  case MP_OBJ_LIST:
  case MP_OBJ_TUPLE: return o->u.seq.len != 0;
  case MP_OBJ_DICT:
  case MP_OBJ_SET:
  case MP_OBJ_FROZENSET: return o->u.d.len != 0;
  }
  return true; /* ext: a 2-tuple in Python */
}

MP_EXPORT int mp_obj_len(const mp_obj *o, size_t *len) {
  if (!o || !len)
    return -EINVAL;
  switch (o->type) {
  case MP_OBJ_STR: {
    size_t n = 0; /* code points: the bytes that do not continue one */
    for (size_t i = 0; i < o->u.s.len; i++)
      n += ((unsigned char)o->u.s.data[i] & 0xC0) != 0x80;
    *len = n;
    return 0;
  }
  case MP_OBJ_BYTES:
  case MP_OBJ_BYTEARRAY: *len = o->u.s.len; return 0;
  case MP_OBJ_LIST:
  case MP_OBJ_TUPLE: *len = o->u.seq.len; return 0;
  case MP_OBJ_DICT:
  case MP_OBJ_SET:
  case MP_OBJ_FROZENSET: *len = o->u.d.len; return 0;
  default: return MP_ETYPE;
  }
}

/* ---- Scalar accessors -------------------------------------------------------- */

MP_EXPORT int mp_obj_bool_value(const mp_obj *o, bool *out) {
  if (!o || !out)
    return -EINVAL;
  if (o->type != MP_OBJ_BOOL)
    return MP_ETYPE;
  *out = o->u.b;
  return 0;
}

MP_EXPORT int mp_obj_int_value(const mp_obj *o, int64_t *out) {
  if (!o || !out)
    return -EINVAL;
  if (o->type == MP_OBJ_BOOL)
    *out = o->u.b;
  else if (o->type == MP_OBJ_INT)
    *out = o->u.i;
  else
    return MP_ETYPE;
  return 0;
}

MP_EXPORT int mp_obj_float_value(const mp_obj *o, double *out) {
  if (!o || !out)
    return -EINVAL;
  if (o->type == MP_OBJ_FLOAT)
    *out = o->u.f;
  else if (o->type == MP_OBJ_INT)
    *out = (double)o->u.i;
  else if (o->type == MP_OBJ_BOOL)
    *out = o->u.b;
  else
    return MP_ETYPE;
  return 0;
}

static int str_like_value(const mp_obj *o, mp_obj_type type, const char **p,
                          size_t *len) {
  if (!o || !p)
    return -EINVAL;
  if (o->type != type)
    return MP_ETYPE;
  *p = o->u.s.data;
  if (len)
    *len = o->u.s.len;
  return 0;
}

MP_EXPORT int mp_obj_str_value(const mp_obj *o, const char **s, size_t *len) {
  return str_like_value(o, MP_OBJ_STR, s, len);
}

MP_EXPORT int mp_obj_bytes_value(const mp_obj *o, const void **p, size_t *len) {
  return str_like_value(o, o && o->type == MP_OBJ_BYTEARRAY ? MP_OBJ_BYTEARRAY
                                                            : MP_OBJ_BYTES,
                        (const char **)p, len);
}

MP_EXPORT int mp_obj_ext_value(const mp_obj *o, int8_t *code, const void **data,
                               size_t *len) {
  int r = str_like_value(o, MP_OBJ_EXT, (const char **)data, len);
  if (r == 0 && code)
    *code = o->code;
  return r;
}

/* ---- Copies --------------------------------------------------------------- */

MP_EXPORT mp_obj *mp_obj_copy(mp_obj *o) {
  if (!o) {
    errno = EINVAL;
    return NULL;
  }
  if (mp__obj_is_seq(o)) {
    mp_obj *c = mp__obj_alloc_seq(o->type, 0, o->u.seq.len);
    if (!c)
      return NULL;
    for (size_t i = 0; i < o->u.seq.len; i++)
      c->u.seq.items[i] = mp__obj_ref(o->u.seq.items[i]);
    c->u.seq.len = o->u.seq.len;
    return c;
  }
  if (o->type == MP_OBJ_SET || o->type == MP_OBJ_BYTEARRAY)
    return mp__obj_copy_mutable(o);
  if (o->type == MP_OBJ_DICT) {
    mp_obj *c = mp_obj_dict_new();
    if (!c)
      return NULL;
    int r = mp_obj_dict_update(c, o);
    if (r < 0) {
      mp_obj_unref(c);
      errno = -r;
      return NULL;
    }
    return c;
  }
  return mp__obj_ref(o);
}

static mp_obj *deepcopy(mp_obj *o, int depth) {
  if (depth > MP_OBJ_MAX_DEPTH) {
    errno = -MP_EVALUE;
    return NULL;
  }
  if (o->type == MP_OBJ_SET || o->type == MP_OBJ_BYTEARRAY)
    return mp__obj_copy_mutable(o); /* a set's items are immutable */
  if (mp__obj_is_seq(o)) {
    mp_obj *c = mp__obj_alloc_seq(o->type, 0, o->u.seq.len);
    if (!c)
      return NULL;
    for (size_t i = 0; i < o->u.seq.len && i < c->u.seq.cap; i++) {
      mp_obj *item = deepcopy(o->u.seq.items[i], depth + 1);
      if (!item) {
        int e = errno;
        mp_obj_unref(c);
        errno = e;
        return NULL;
      }
      c->u.seq.items[c->u.seq.len++] = item;
    }
    return c;
  }
  if (o->type == MP_OBJ_DICT) {
    mp_obj *c = mp_obj_dict_new();
    if (!c)
      return NULL;
    size_t pos = 0;
    mp_obj *k, *v;
    while (mp_obj_dict_next(o, &pos, &k, &v)) {
      mp_obj *vc = deepcopy(v, depth + 1);
      int r = vc ? 0 : mp__obj_null_err();
      if (vc) /* keys are hashable, so immutable enough to share */
        r = mp__dict_set_hashed(c, mp__obj_ref(k), o->u.d.ents[pos - 1].hash,
                                vc);
      if (r < 0) {
        mp_obj_unref(c);
        errno = -r;
        return NULL;
      }
    }
    return c;
  }
  return mp__obj_ref(o);
}

MP_EXPORT mp_obj *mp_obj_deepcopy(mp_obj *o) {
  if (!o) {
    errno = EINVAL;
    return NULL;
  }
  return deepcopy(o, 0);
}

/* ---- Text buffer ------------------------------------------------------------- */

int mp__sbuf_reserve(mp__sbuf *b, size_t more) {
  if (b->err)
    return b->err;
  if (b->cap - b->len > more)
    return 0;
  size_t want = b->len + more + 1, cap = b->cap ? b->cap : 64;
  if (want < b->len) {
    b->err = -ENOMEM;
    return b->err;
  }
  while (cap < want)
    cap = cap * 2 > cap ? cap * 2 : want;
  char *p = mp__realloc(b->data, cap);
  if (!p) {
    b->err = -ENOMEM;
    return b->err;
  }
  b->data = p;
  b->cap = cap;
  return 0;
}

void mp__sbuf_add(mp__sbuf *b, const void *p, size_t n) {
  if (mp__sbuf_reserve(b, n) < 0)
    return;
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

void mp__sbuf_addc(mp__sbuf *b, char c) { mp__sbuf_add(b, &c, 1); }

void mp__sbuf_adds(mp__sbuf *b, const char *s) { mp__sbuf_add(b, s, strlen(s)); }

void mp__sbuf_addf(mp__sbuf *b, const char *fmt, ...) {
  char tmp[64];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n > 0 && (size_t)n < sizeof tmp)
    mp__sbuf_add(b, tmp, (size_t)n);
}

int mp__sbuf_finish(mp__sbuf *b, char **out, size_t *len) {
  if (mp__sbuf_reserve(b, 0) < 0) {
    mp__free(b->data);
    return b->err;
  }
  b->data[b->len] = 0;
  *out = b->data;
  if (len)
    *len = b->len;
  return 0;
}

/* ---- UTF-8 ---------------------------------------------------------------- */

size_t mp__utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
  uint32_t c = s[0];
  size_t len;
  uint32_t min;
  if (c < 0x80) {
    *cp = c;
    return 1;
  } else if ((c & 0xE0) == 0xC0) {
    len = 2, min = 0x80, c &= 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, min = 0x800, c &= 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, min = 0x10000, c &= 0x07;
  } else {
    return 0;
  }
  if (n < len)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    c = (c << 6) | (s[i] & 0x3F);
  }
  if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
    return 0;
  *cp = c;
  return len;
}

bool mp__utf8_valid(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < n) {
    if (n - i >= 8) { /* ASCII eight bytes at a time */
      uint64_t w;
      memcpy(&w, p + i, 8);
      if (!(w & 0x8080808080808080ULL)) {
        i += 8;
        continue;
      }
    }
    if (p[i] < 0x80) { /* the common case, one byte at a time */
      i++;
      continue;
    }
    uint32_t cp;
    size_t k = mp__utf8_decode(p + i, n - i, &cp);
    if (!k)
      return false;
    i += k;
  }
  return true;
}
