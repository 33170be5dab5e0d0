/* compare.c: Python's ==, < and hash() for mp_obj. Numbers compare exactly
 * across bool, int and float, and hash as CPython hashes them (modulo the
 * Mersenne prime 2**61 - 1), so that 1, 1.0 and True are one dict key;
 * tuples combine their items' hashes with CPython's xxHash-based rule; str
 * and bytes use SipHash-1-3 keyed with random bytes drawn once per process
 * (children made by fork share the key), which keeps a peer that chooses dict
 * keys from forcing collisions. */
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "obj_internal.h"

/* ---- Numbers ------------------------------------------------------------------ */

/* -1, 0, 1 as i <, ==, > f, exactly; 2 when unordered (f is NaN). */
static int cmp_int_double(int64_t i, double f) {
  if (isnan(f))
    return 2;
  if (f >= 9223372036854775808.0) /* 2**63: above every int64 */
    return -1;
  if (f < -9223372036854775808.0)
    return 1;
  double t = trunc(f); /* now exactly representable as int64 */
  int64_t ti = (int64_t)t;
  if (i != ti)
    return i < ti ? -1 : 1;
  return f > t ? -1 : f < t ? 1 : 0;
}

/* As above for any two numbers (bool, int, float). */
static int cmp_num(const mp_obj *a, const mp_obj *b) {
  bool af = a->type == MP_OBJ_FLOAT, bf = b->type == MP_OBJ_FLOAT;
  int64_t ai = a->type == MP_OBJ_BOOL ? a->u.b : a->u.i;
  int64_t bi = b->type == MP_OBJ_BOOL ? b->u.b : b->u.i;
  if (af && bf) {
    if (isnan(a->u.f) || isnan(b->u.f))
      return 2;
    return a->u.f < b->u.f ? -1 : a->u.f > b->u.f ? 1 : 0;
  }
  if (af) {
    int c = cmp_int_double(bi, a->u.f);
    return c == 2 ? 2 : -c;
  }
  if (bf)
    return cmp_int_double(ai, b->u.f);
  return ai < bi ? -1 : ai > bi ? 1 : 0;
}

/* ---- Equality ----------------------------------------------------------------- */

/* Python's PyObject_RichCompareBool: identity first (so a container holding
 * one NaN object equals itself), then ==. */
static int item_eq(const mp_obj *a, const mp_obj *b, int depth) {
  return a == b ? 1 : mp__obj_eq(a, b, depth);
}

/* Whether every item of set a is in set b. */
static bool set_within(const mp_obj *a, const mp_obj *b) {
  for (size_t k = 0; k < a->u.d.nents; k++) {
    const mp__dent *e = &a->u.d.ents[k];
    if (e->key && !mp__dict_lookup(b, e->key, e->hash))
      return false;
  }
  return true;
}

int mp__obj_eq(const mp_obj *a, const mp_obj *b, int depth) {
  if (depth > MP_OBJ_MAX_DEPTH)
    return -1;
  if (mp__obj_is_num(a) && mp__obj_is_num(b))
    return cmp_num(a, b) == 0;
  if (mp__obj_is_bytes(a) && mp__obj_is_bytes(b)) /* b'a' == bytearray(b'a') */
    return a->u.s.len == b->u.s.len &&
           memcmp(a->u.s.data, b->u.s.data, a->u.s.len) == 0;
  if (mp__obj_is_set(a) && mp__obj_is_set(b)) /* set() == frozenset() */
    return a->u.d.len == b->u.d.len && set_within(a, b);
  if (a->type != b->type)
    return 0;
  switch (a->type) {
  case MP_OBJ_NONE: return 1;
  case MP_OBJ_EXT:
    if (a->code != b->code)
      return 0;
    __attribute__((fallthrough)); /* then the bytes */
  case MP_OBJ_STR:
  case MP_OBJ_BYTES:
    return a->u.s.len == b->u.s.len &&
           memcmp(a->u.s.data, b->u.s.data, a->u.s.len) == 0;
  case MP_OBJ_PYOBJ: /* the same recipe: kind, global, args, state */
    if (a->code != b->code)
      return 0;
    __attribute__((fallthrough));
  case MP_OBJ_LIST:
  case MP_OBJ_TUPLE:
    if (a->u.seq.len != b->u.seq.len)
      return 0;
    for (size_t i = 0; i < a->u.seq.len && i < b->u.seq.len; i++) {
      int r = item_eq(a->u.seq.items[i], b->u.seq.items[i], depth + 1);
      if (r <= 0)
        return r;
    }
    return 1;
  case MP_OBJ_DICT:
    if (a->u.d.len != b->u.d.len)
      return 0;
    for (size_t k = 0; k < a->u.d.nents; k++) {
      const mp__dent *e = &a->u.d.ents[k];
      if (!e->key)
        continue;
      const mp__dent *f = mp__dict_lookup(b, e->key, e->hash);
      if (!f)
        return 0;
      int r = item_eq(e->value, f->value, depth + 1);
      if (r <= 0)
        return r;
    }
    return 1;
  }
  return 0;
}

MP_EXPORT bool mp_obj_equal(const mp_obj *a, const mp_obj *b) {
  if (!a || !b)
    return a == b;
  if (a == b && a->type != MP_OBJ_FLOAT)
    return true;
  return mp__obj_eq(a, b, 0) > 0;
}

/* ---- Ordering ------------------------------------------------------------------- */

static int less(const mp_obj *a, const mp_obj *b, int depth, bool *out) {
  if (depth > MP_OBJ_MAX_DEPTH)
    return MP_EVALUE;
  if (mp__obj_is_num(a) && mp__obj_is_num(b)) {
    *out = cmp_num(a, b) == -1;
    return 0;
  }
  if (mp__obj_is_set(a) && mp__obj_is_set(b)) { /* a proper subset */
    *out = a->u.d.len < b->u.d.len && set_within(a, b);
    return 0;
  }
  bool bytes_like = mp__obj_is_bytes(a) && mp__obj_is_bytes(b);
  if (a->type != b->type && !bytes_like)
    return MP_ETYPE;
  switch (bytes_like ? MP_OBJ_BYTES : a->type) {
  case MP_OBJ_EXT: /* a (code, data) namedtuple in Python */
    if (a->code != b->code) {
      *out = a->code < b->code;
      return 0;
    }
    __attribute__((fallthrough)); /* then the bytes */
  case MP_OBJ_STR: /* UTF-8 byte order is code point order */
  case MP_OBJ_BYTES: {
    size_t n = a->u.s.len < b->u.s.len ? a->u.s.len : b->u.s.len;
    int c = memcmp(a->u.s.data, b->u.s.data, n);
    *out = c < 0 || (c == 0 && a->u.s.len < b->u.s.len);
    return 0;
  }
  case MP_OBJ_LIST:
  case MP_OBJ_TUPLE: {
    /* Python: the first items that differ decide, else the lengths. */
    size_t n = a->u.seq.len < b->u.seq.len ? a->u.seq.len : b->u.seq.len;
    for (size_t i = 0; i < n; i++) {
      int r = item_eq(a->u.seq.items[i], b->u.seq.items[i], depth + 1);
      if (r < 0)
        return MP_EVALUE;
      if (!r)
        return less(a->u.seq.items[i], b->u.seq.items[i], depth + 1, out);
    }
    *out = a->u.seq.len < b->u.seq.len;
    return 0;
  }
  default:
    return MP_ETYPE;
  }
}

MP_EXPORT int mp_obj_less(const mp_obj *a, const mp_obj *b, bool *out) {
  if (!a || !b || !out)
    return -EINVAL;
  return less(a, b, 0, out);
}

/* ---- Hashing ---------------------------------------------------------------- */

#define HASH_BITS 61
#define HASH_MODULUS (((uint64_t)1 << HASH_BITS) - 1)
#define HASH_INF 314159

int64_t mp__hash_int(int64_t v) {
  uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  uint64_t x = mag % HASH_MODULUS;
  int64_t h = v < 0 ? -(int64_t)x : (int64_t)x;
  return h == -1 ? -2 : h;
}

/* CPython's _Py_HashDouble: the value modulo 2**61 - 1, computed 28 bits
 * of the mantissa at a time, so that integral floats hash like ints. NaN
 * hashes to 0 (it equals nothing anyway). */
int64_t mp__hash_double(double v) {
  if (isinf(v))
    return v > 0 ? HASH_INF : -HASH_INF;
  if (isnan(v))
    return 0;
  int e;
  double m = frexp(v, &e);
  int sign = 1;
  if (m < 0) {
    sign = -1;
    m = -m;
  }
  uint64_t x = 0;
  while (m) {
    x = ((x << 28) & HASH_MODULUS) | x >> (HASH_BITS - 28);
    m *= 268435456.0; /* 2**28 */
    e -= 28;
    uint64_t y = (uint64_t)m;
    m -= (double)y;
    x += y;
    if (x >= HASH_MODULUS)
      x -= HASH_MODULUS;
  }
  e = e >= 0 ? e % HASH_BITS : HASH_BITS - 1 - ((-1 - e) % HASH_BITS);
  x = ((x << e) & HASH_MODULUS) | x >> (HASH_BITS - e);
  x = x * (uint64_t)(int64_t)sign;
  if (x == (uint64_t)-1)
    x = (uint64_t)-2;
  return (int64_t)x;
}

static uint64_t g_sipkey[2];
static pthread_once_t g_sipkey_once = PTHREAD_ONCE_INIT;
static bool g_sipkey_ready; /* set (release) once the key is drawn */

static void sipkey_init(void) {
  if (mp__random_bytes(g_sipkey, sizeof g_sipkey) < 0) {
    /* No randomness: still a working hash, only predictable. */
    g_sipkey[0] = (uint64_t)mp__now_ns() ^ 0x9e3779b97f4a7c15ULL;
    g_sipkey[1] = (uint64_t)(uintptr_t)&g_sipkey ^ 0xbf58476d1ce4e5b9ULL;
  }
  __atomic_store_n(&g_sipkey_ready, true, __ATOMIC_RELEASE);
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                               \
  do {                                                                         \
    v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);                  \
    v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                     \
    v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                     \
    v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);                  \
  } while (0)

static uint64_t siphash13(uint64_t k0, uint64_t k1, const unsigned char *p,
                          size_t n) {
  uint64_t b = (uint64_t)n << 56;
  uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
  uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t m;
    memcpy(&m, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    m = __builtin_bswap64(m); /* the words are little-endian on every host */
#endif
    v3 ^= m;
    SIPROUND;
    v0 ^= m;
  }
  uint64_t t = 0;
  for (size_t i = 0; i < n; i++)
    t |= (uint64_t)p[i] << (8 * i);
  b |= t;
  v3 ^= b;
  SIPROUND;
  v0 ^= b;
  v2 ^= 0xff;
  SIPROUND;
  SIPROUND;
  SIPROUND;
  return v0 ^ v1 ^ v2 ^ v3;
}

int64_t mp__hash_bytes(const void *p, size_t n) {
  if (n == 0)
    return 0; /* as Python: hash('') == hash(b'') == 0 */
  if (!__atomic_load_n(&g_sipkey_ready, __ATOMIC_ACQUIRE))
    pthread_once(&g_sipkey_once, sipkey_init);
  int64_t h = (int64_t)siphash13(g_sipkey[0], g_sipkey[1], p, n);
  return h == -1 ? -2 : h;
}

#define XXPRIME_1 11400714785074694791ULL
#define XXPRIME_2 14029467366897019727ULL
#define XXPRIME_5 2870177450012600261ULL
#define XXROTATE(x) (((x) << 31) | ((x) >> 33))

/* CPython's tuplehash, one item hash (lane) at a time. */
static uint64_t xx_add(uint64_t acc, int64_t lane) {
  acc += (uint64_t)lane * XXPRIME_2;
  acc = XXROTATE(acc);
  return acc * XXPRIME_1;
}
static int64_t xx_end(uint64_t acc, size_t len) {
  acc += len ^ (XXPRIME_5 ^ 3527539UL);
  return acc == (uint64_t)-1 ? 1546275796 : (int64_t)acc;
}

static int hash(const mp_obj *o, int depth, int64_t *out) {
  if (depth > MP_OBJ_MAX_DEPTH)
    return MP_EVALUE;
  switch (o->type) {
  case MP_OBJ_NONE: *out = 0xFCA86420; return 0; /* constant, as Python 3.12 */
  case MP_OBJ_BOOL: *out = o->u.b; return 0;
  case MP_OBJ_INT: *out = mp__hash_int(o->u.i); return 0;
  case MP_OBJ_FLOAT: *out = mp__hash_double(o->u.f); return 0;
  case MP_OBJ_STR:
  case MP_OBJ_BYTES: *out = mp__hash_bytes(o->u.s.data, o->u.s.len); return 0;
  case MP_OBJ_TUPLE: {
    uint64_t acc = XXPRIME_5;
    for (size_t i = 0; i < o->u.seq.len; i++) {
      int64_t lane;
      int r = hash(o->u.seq.items[i], depth + 1, &lane);
      if (r < 0)
        return r;
      acc = xx_add(acc, lane);
    }
    *out = xx_end(acc, o->u.seq.len);
    return 0;
  }
  case MP_OBJ_EXT: { /* as Python's hash(ExtType(code, data)) */
    uint64_t acc = xx_add(XXPRIME_5, mp__hash_int(o->code));
    acc = xx_add(acc, mp__hash_bytes(o->u.s.data, o->u.s.len));
    *out = xx_end(acc, 2);
    return 0;
  }
  case MP_OBJ_FROZENSET: { /* CPython's frozenset_hash */
    uint64_t h = 0;
    for (size_t k = 0; k < o->u.d.nents; k++) {
      const mp__dent *e = &o->u.d.ents[k];
      if (e->key) {
        uint64_t x = (uint64_t)e->hash;
        h ^= ((x ^ 89869747ULL) ^ (x << 16)) * 3644798167ULL;
      }
    }
    h ^= ((uint64_t)o->u.d.len + 1) * 1927868237ULL;
    h ^= (h >> 11) ^ (h >> 25);
    h = h * 69069U + 907133923ULL;
    *out = h == (uint64_t)-1 ? 590923713 : (int64_t)h;
    return 0;
  }
  default: return MP_ETYPE; /* list, dict, set, bytearray: unhashable */
  }
}

MP_EXPORT int mp_obj_hash(const mp_obj *o, int64_t *out) {
  if (!o || !out)
    return -EINVAL;
  return hash(o, 0, out);
}
