/* codec.c: the MessagePack form of mp_obj. Encoding goes through msgpack-c's
 * packer after one pass that computes the exact size, so every encode makes
 * at most one allocation and a tuple (an ext whose length precedes its
 * body) needs no second buffer. Decoding is our own reader rather than
 * msgpack-c's unpacker: that one allocates the array an untrusted header
 * announces before seeing its elements and stops at 32 levels of nesting,
 * while ours never allocates more than the remaining input can fill, allows
 * MP_OBJ_MAX_DEPTH levels, checks UTF-8 and builds mp_obj directly. */
#include <string.h>

#include <msgpack.h>

#include "obj_internal.h"

/* ---- Sizes ---------------------------------------------------------------- */

static size_t int_size(int64_t v) {
  if (v < -(1LL << 5))
    return v < -(1LL << 15) ? (v < -(1LL << 31) ? 9 : 5) : (v < -(1 << 7) ? 3 : 2);
  if (v < (1 << 7))
    return 1;
  return v < (1LL << 16) ? (v < (1 << 8) ? 2 : 3) : (v < (1LL << 32) ? 5 : 9);
}

/* Header sizes for str (fixstr up to 31), bin, and array/map (fix up to
 * 15), as msgpack-c writes them. */
static size_t str_head(size_t n) { return n < 32 ? 1 : n < 256 ? 2 : n < 65536 ? 3 : 5; }
static size_t bin_head(size_t n) { return n < 256 ? 2 : n < 65536 ? 3 : 5; }
static size_t coll_head(size_t n) { return n < 16 ? 1 : n < 65536 ? 3 : 5; }
static size_t ext_head(size_t n) {
  if (n == 1 || n == 2 || n == 4 || n == 8 || n == 16)
    return 2;
  return n < 256 ? 3 : n < 65536 ? 4 : 6;
}

static int size_of(const mp_obj *o, int depth, size_t *out);

/* The array of a list or tuple's items: header and items. */
static int seq_size(const mp_obj *o, int depth, size_t *out) {
  if (o->u.seq.len > UINT32_MAX)
    return MP_ETOOBIG;
  size_t n = coll_head(o->u.seq.len);
  for (size_t i = 0; i < o->u.seq.len; i++) {
    size_t k;
    int r = size_of(o->u.seq.items[i], depth + 1, &k);
    if (r < 0)
      return r;
    n += k;
  }
  *out = n;
  return 0;
}

/* The array of a set's items (the body of its ext). */
static int set_body_size(const mp_obj *o, int depth, size_t *out) {
  if (o->u.d.len > UINT32_MAX)
    return MP_ETOOBIG;
  size_t n = coll_head(o->u.d.len), pos = 0;
  mp_obj *item;
  while (mp_obj_set_next(o, &pos, &item)) {
    size_t k;
    int r = size_of(item, depth + 1, &k);
    if (r < 0)
      return r;
    n += k;
  }
  *out = n;
  return 0;
}

static int size_of(const mp_obj *o, int depth, size_t *out) {
  if (depth > MP_OBJ_MAX_DEPTH)
    return MP_EVALUE;
  switch (o->type) {
  case MP_OBJ_NONE:
  case MP_OBJ_BOOL: *out = 1; return 0;
  case MP_OBJ_INT: *out = int_size(o->u.i); return 0;
  case MP_OBJ_FLOAT: *out = 9; return 0;
  case MP_OBJ_STR:
  case MP_OBJ_BYTES:
    if (o->u.s.len > UINT32_MAX)
      return MP_ETOOBIG;
    *out = o->u.s.len +
           (o->type == MP_OBJ_STR ? str_head(o->u.s.len) : bin_head(o->u.s.len));
    return 0;
  case MP_OBJ_EXT:
  case MP_OBJ_BYTEARRAY:
    if (o->u.s.len > UINT32_MAX)
      return MP_ETOOBIG;
    *out = ext_head(o->u.s.len) + o->u.s.len;
    return 0;
  case MP_OBJ_PYOBJ: return MP_ETYPE; /* only pickle carries it */
  case MP_OBJ_LIST: return seq_size(o, depth, out);
  case MP_OBJ_TUPLE:
  case MP_OBJ_SET:
  case MP_OBJ_FROZENSET: {
    size_t body;
    int r = o->type == MP_OBJ_TUPLE ? seq_size(o, depth, &body)
                                    : set_body_size(o, depth, &body);
    if (r < 0)
      return r;
    if (body > UINT32_MAX)
      return MP_ETOOBIG;
    *out = ext_head(body) + body;
    return 0;
  }
  case MP_OBJ_DICT: {
    if (o->u.d.len > UINT32_MAX)
      return MP_ETOOBIG;
    size_t n = coll_head(o->u.d.len);
    size_t pos = 0;
    mp_obj *k, *v;
    while (mp_obj_dict_next(o, &pos, &k, &v)) {
      size_t a, b;
      int r = size_of(k, depth + 1, &a);
      if (r == 0)
        r = size_of(v, depth + 1, &b);
      if (r < 0)
        return r;
      n += a + b;
    }
    *out = n;
    return 0;
  }
  }
  return -EINVAL;
}

/* ---- Encoding ---------------------------------------------------------------- */

typedef struct writer {
  unsigned char *p;
  size_t left;
} writer;

static int write_cb(void *data, const char *buf, size_t len) {
  writer *w = data;
  if (len > w->left)
    return -1; /* not reached: the size was computed first */
  memcpy(w->p, buf, len);
  w->p += len;
  w->left -= len;
  return 0;
}

/* Writes o, whose size (and so its depth) has been checked. */
static void pack(msgpack_packer *pk, const mp_obj *o) {
  switch (o->type) {
  case MP_OBJ_NONE: msgpack_pack_nil(pk); return;
  case MP_OBJ_BOOL:
    if (o->u.b)
      msgpack_pack_true(pk);
    else
      msgpack_pack_false(pk);
    return;
  case MP_OBJ_INT: msgpack_pack_int64(pk, o->u.i); return;
  case MP_OBJ_FLOAT: msgpack_pack_double(pk, o->u.f); return;
  case MP_OBJ_STR:
    msgpack_pack_str_with_body(pk, o->u.s.data, o->u.s.len);
    return;
  case MP_OBJ_BYTES:
    msgpack_pack_bin_with_body(pk, o->u.s.data, o->u.s.len);
    return;
  case MP_OBJ_EXT:
    msgpack_pack_ext_with_body(pk, o->u.s.data, o->u.s.len, o->code);
    return;
  case MP_OBJ_BYTEARRAY:
    msgpack_pack_ext_with_body(pk, o->u.s.data, o->u.s.len,
                               MP_OBJ_EXT_BYTEARRAY);
    return;
  case MP_OBJ_SET:
  case MP_OBJ_FROZENSET: {
    size_t body = 0, pos = 0;
    mp_obj *item;
    set_body_size(o, 0, &body);
    msgpack_pack_ext(pk, body, o->type == MP_OBJ_SET ? MP_OBJ_EXT_SET
                                                     : MP_OBJ_EXT_FROZENSET);
    msgpack_pack_array(pk, o->u.d.len);
    while (mp_obj_set_next(o, &pos, &item))
      pack(pk, item);
    return;
  }
  case MP_OBJ_TUPLE:
  case MP_OBJ_LIST:
    if (o->type == MP_OBJ_TUPLE) { /* an ext whose body is the array */
      size_t body = 0;
      seq_size(o, 0, &body);
      msgpack_pack_ext(pk, body, MP_OBJ_EXT_TUPLE);
    }
    msgpack_pack_array(pk, o->u.seq.len);
    for (size_t i = 0; i < o->u.seq.len; i++)
      pack(pk, o->u.seq.items[i]);
    return;
  case MP_OBJ_DICT: {
    msgpack_pack_map(pk, o->u.d.len);
    size_t pos = 0;
    mp_obj *k, *v;
    while (mp_obj_dict_next(o, &pos, &k, &v)) {
      pack(pk, k);
      pack(pk, v);
    }
    return;
  }
  }
}

static void pack_into(const mp_obj *o, void *buf, size_t len) {
  writer w = {buf, len};
  msgpack_packer pk;
  msgpack_packer_init(&pk, &w, write_cb);
  pack(&pk, o);
}

MP_EXPORT int mp_obj_encoded_size(const mp_obj *o, size_t *len) {
  if (!o || !len)
    return -EINVAL;
  return size_of(o, 0, len);
}

MP_EXPORT int mp_obj_encode(const mp_obj *o, void **buf, size_t *len) {
  size_t n;
  if (!buf || !len)
    return -EINVAL;
  int r = mp_obj_encoded_size(o, &n);
  if (r < 0)
    return r;
  void *p = mp__malloc(n);
  if (!p)
    return -ENOMEM;
  pack_into(o, p, n);
  *buf = p;
  *len = n;
  return 0;
}

MP_EXPORT int mp_obj_encode_into(const mp_obj *o, void *buf, size_t cap,
                                 size_t *len) {
  size_t n;
  if (!len || (!buf && cap))
    return -EINVAL;
  int r = mp_obj_encoded_size(o, &n);
  if (r < 0)
    return r;
  *len = n;
  if (n > cap)
    return MP_ETOOSHORT;
  pack_into(o, buf, n);
  return 0;
}

MP_EXPORT int mp_obj_encode_append(const mp_obj *o, void **buf, size_t *len,
                                   size_t *cap) {
  size_t n;
  if (!buf || !len || !cap || *len > *cap)
    return -EINVAL;
  int r = mp_obj_encoded_size(o, &n);
  if (r < 0)
    return r;
  if (n > SIZE_MAX - *len)
    return -ENOMEM;
  if (*cap - *len < n) {
    size_t want = *cap ? *cap : 64;
    while (want - *len < n)
      want = want * 2 > want ? want * 2 : *len + n;
    void *p = mp__realloc(*buf, want);
    if (!p)
      return -ENOMEM;
    *buf = p;
    *cap = want;
  }
  pack_into(o, (unsigned char *)*buf + *len, n);
  *len += n;
  return 0;
}

/* ---- Decoding ---------------------------------------------------------------- */

typedef struct reader {
  const unsigned char *p, *end;
  mp__arena *arena; /* small ints and strs (obj_internal.h), shared by
                       the readers of nested ext bodies */
} reader;

static size_t left(const reader *r) { return (size_t)(r->end - r->p); }

/* Reads an n-byte big-endian unsigned value (n = 1, 2, 4, 8). */
static int take_uint(reader *r, int n, uint64_t *v) {
  if (left(r) < (size_t)n)
    return MP_ETRUNCATED;
  uint64_t x = 0;
  for (int i = 0; i < n; i++)
    x = (x << 8) | r->p[i];
  r->p += n;
  *v = x;
  return 0;
}

static int dec(reader *r, int depth, mp_obj **out);

/* n items into a new list or tuple. Each item takes at least one byte, so
 * more items than bytes left is a truncated (or lying) header. */
static int dec_seq(reader *r, int depth, mp_obj_type type, uint64_t n,
                   mp_obj **out) {
  if (n > left(r))
    return MP_ETRUNCATED;
  mp_obj *l = mp__obj_alloc_seq(type, 0, (size_t)n);
  if (!l)
    return -ENOMEM;
  for (uint64_t i = 0; i < n; i++) {
    int e = dec(r, depth + 1, &l->u.seq.items[l->u.seq.len]);
    if (e < 0) {
      mp_obj_unref(l);
      return e;
    }
    l->u.seq.len++;
  }
  *out = l;
  return 0;
}

static int dec_map(reader *r, int depth, uint64_t n, mp_obj **out) {
  if (n > left(r) / 2)
    return MP_ETRUNCATED;
  mp_obj *d = mp_obj_dict_new();
  if (!d)
    return -ENOMEM;
  for (uint64_t i = 0; i < n; i++) {
    mp_obj *k = NULL, *v = NULL;
    int64_t hash = 0;
    int e = dec(r, depth + 1, &k);
    if (e == 0 && mp_obj_hash(k, &hash) < 0)
      e = MP_EDECODE; /* a list or dict key: no Python dict has one */
    if (e == 0)
      e = dec(r, depth + 1, &v);
    if (e == 0) {
      e = mp__dict_set_hashed(d, k, hash, v);
      k = v = NULL;
    }
    if (e < 0) {
      mp_obj_unref(k);
      mp_obj_unref(v);
      mp_obj_unref(d);
      return e;
    }
  }
  *out = d;
  return 0;
}

static int dec_str(reader *r, mp_obj_type type, uint64_t n, mp_obj **out) {
  if (n > left(r))
    return MP_ETRUNCATED;
  if (type == MP_OBJ_STR && !mp__utf8_valid((const char *)r->p, (size_t)n))
    return MP_EDECODE;
  mp_obj *o = mp__arena_str(r->arena, type, (size_t)n);
  if (!o)
    return -ENOMEM;
  memcpy(o->u.s.data, r->p, (size_t)n);
  r->p += n;
  *out = o;
  return 0;
}

/* An ext of n bytes after its type byte: a tuple, whose body must be
 * exactly one array, or any other code as an ext value. */
static int dec_ext(reader *r, int depth, uint64_t n, mp_obj **out) {
  uint64_t type;
  int e = take_uint(r, 1, &type);
  if (e < 0)
    return e;
  if (n > left(r))
    return MP_ETRUNCATED;
  bool set = type == MP_OBJ_EXT_SET || type == MP_OBJ_EXT_FROZENSET;
  if (type != MP_OBJ_EXT_TUPLE && !set) {
    bool ba = type == MP_OBJ_EXT_BYTEARRAY;
    mp_obj *o = mp__obj_alloc_str(ba ? MP_OBJ_BYTEARRAY : MP_OBJ_EXT, (size_t)n);
    if (!o)
      return -ENOMEM;
    o->code = ba ? 0 : (int8_t)(uint8_t)type;
    memcpy(o->u.s.data, r->p, (size_t)n);
    r->p += n;
    *out = o;
    return 0;
  }
  if (n == 0)
    return MP_EDECODE;
  reader body = {r->p, r->p + n, r->arena};
  uint64_t head = *body.p++, count;
  if (head >= 0x90 && head <= 0x9f)
    count = head & 0x0f, e = 0;
  else if (head == 0xdc)
    e = take_uint(&body, 2, &count);
  else if (head == 0xdd)
    e = take_uint(&body, 4, &count);
  else
    return MP_EDECODE;
  mp_obj *t = NULL;
  if (e == 0)
    e = dec_seq(&body, depth, MP_OBJ_TUPLE, count, &t);
  if (e == 0 && body.p != body.end) {
    mp_obj_unref(t);
    e = MP_EDECODE;
  }
  if (e < 0) /* the ext said how long it is: short inside it is malformed */
    return e == MP_ETRUNCATED ? MP_EDECODE : e;
  r->p = body.end;
  if (set) { /* the items, read as a tuple, into a set */
    mp_obj *st = mp__set_alloc(type == MP_OBJ_EXT_SET ? MP_OBJ_SET
                                                      : MP_OBJ_FROZENSET);
    for (size_t i = 0; st && e == 0 && i < t->u.seq.len; i++) {
      int64_t hash;
      mp_obj *item = t->u.seq.items[i];
      e = mp_obj_hash(item, &hash) < 0
              ? MP_EDECODE
              : mp__set_add_hashed(st, mp__obj_ref(item), hash);
    }
    mp_obj_unref(t);
    if (!st)
      return -ENOMEM;
    if (e < 0) {
      mp_obj_unref(st);
      return e;
    }
    t = st;
  }
  *out = t;
  return 0;
}

static int dec(reader *r, int depth, mp_obj **out) {
  if (depth > MP_OBJ_MAX_DEPTH)
    return MP_EDECODE;
  if (!left(r))
    return MP_ETRUNCATED;
  unsigned c = *r->p++;
  uint64_t n;
  int e = 0;
  if (c <= 0x7f || c >= 0xe0) { /* positive and negative fixint */
    *out = mp__arena_int(r->arena, (int8_t)c);
    return *out ? 0 : -ENOMEM;
  }
  if (c >= 0x80 && c <= 0x8f)
    return dec_map(r, depth, c & 0x0f, out);
  if (c >= 0x90 && c <= 0x9f)
    return dec_seq(r, depth, MP_OBJ_LIST, c & 0x0f, out);
  if (c >= 0xa0 && c <= 0xbf)
    return dec_str(r, MP_OBJ_STR, c & 0x1f, out);
  switch (c) {
  case 0xc0: *out = mp_obj_none(); return 0;
  case 0xc2: *out = mp_obj_bool(false); return 0;
  case 0xc3: *out = mp_obj_bool(true); return 0;
  case 0xc4: case 0xc5: case 0xc6: /* bin 8/16/32 */
    e = take_uint(r, 1 << (c - 0xc4), &n);
    return e < 0 ? e : dec_str(r, MP_OBJ_BYTES, n, out);
  case 0xc7: case 0xc8: case 0xc9: /* ext 8/16/32 */
    e = take_uint(r, 1 << (c - 0xc7), &n);
    return e < 0 ? e : dec_ext(r, depth, n, out);
  case 0xca: { /* float 32 */
    e = take_uint(r, 4, &n);
    if (e < 0)
      return e;
    uint32_t bits = (uint32_t)n;
    float f;
    memcpy(&f, &bits, sizeof f);
    *out = mp_obj_float(f);
    return *out ? 0 : -ENOMEM;
  }
  case 0xcb: { /* float 64 */
    e = take_uint(r, 8, &n);
    if (e < 0)
      return e;
    double d;
    memcpy(&d, &n, sizeof d);
    *out = mp_obj_float(d);
    return *out ? 0 : -ENOMEM;
  }
  case 0xcc: case 0xcd: case 0xce: case 0xcf: /* uint 8..64 */
    e = take_uint(r, 1 << (c - 0xcc), &n);
    if (e < 0)
      return e;
    if (n > INT64_MAX)
      return MP_EVALUE; /* a Python int beyond int64 */
    *out = mp__arena_int(r->arena, (int64_t)n);
    return *out ? 0 : -ENOMEM;
  case 0xd0: case 0xd1: case 0xd2: case 0xd3: { /* int 8..64 */
    int bytes = 1 << (c - 0xd0);
    e = take_uint(r, bytes, &n);
    if (e < 0)
      return e;
    int64_t v = bytes == 8 ? (int64_t)n
                           : (int64_t)(n ^ (1ULL << (8 * bytes - 1))) -
                                 (int64_t)(1ULL << (8 * bytes - 1));
    *out = mp__arena_int(r->arena, v);
    return *out ? 0 : -ENOMEM;
  }
  case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: /* fixext */
    return dec_ext(r, depth, 1u << (c - 0xd4), out);
  case 0xd9: case 0xda: case 0xdb: /* str 8/16/32 */
    e = take_uint(r, 1 << (c - 0xd9), &n);
    return e < 0 ? e : dec_str(r, MP_OBJ_STR, n, out);
  case 0xdc: case 0xdd: /* array 16/32 */
    e = take_uint(r, c == 0xdc ? 2 : 4, &n);
    return e < 0 ? e : dec_seq(r, depth, MP_OBJ_LIST, n, out);
  case 0xde: case 0xdf: /* map 16/32 */
    e = take_uint(r, c == 0xde ? 2 : 4, &n);
    return e < 0 ? e : dec_map(r, depth, n, out);
  default: /* 0xc1: never used */
    return MP_EDECODE;
  }
}

MP_EXPORT int mp_obj_decode_prefix(const void *buf, size_t len, size_t *used,
                                   mp_obj **out) {
  if (!out || !used || (!buf && len))
    return -EINVAL;
  if (len == 0)
    return MP_ETRUNCATED;
  mp__arena arena = {.off = len < MP__ARENA_MIN_INPUT};
  reader r = {buf, (const unsigned char *)buf + len, &arena};
  mp_obj *o = NULL;
  int e = dec(&r, 0, &o);
  mp__arena_done(&arena);
  if (e < 0)
    return e;
  *used = (size_t)(r.p - (const unsigned char *)buf);
  *out = o;
  return 0;
}

MP_EXPORT int mp_obj_decode(const void *buf, size_t len, mp_obj **out) {
  size_t used;
  mp_obj *o;
  if (!out)
    return -EINVAL;
  int e = mp_obj_decode_prefix(buf, len, &used, &o);
  if (e == MP_ETRUNCATED)
    return MP_EDECODE;
  if (e < 0)
    return e;
  if (used != len) {
    mp_obj_unref(o);
    return MP_EDECODE;
  }
  *out = o;
  return 0;
}
