/* access.c: reading and writing elements: numbers converted between the
 * element's C type and int64_t / uint64_t / double with range checks
 * (ctypes truncates silently; we refuse with -ERANGE), element bytes and
 * runs of elements, and c_char arrays' `value` and `raw`. Every access is
 * done under the object's lock, if it has one. */
#include <string.h>

#include "value_internal.h"

/* A number in the widest C type of its kind. */
typedef struct num {
  int kind; /* MP__SV_INT, MP__SV_UINT, MP__SV_DOUBLE */
  int64_t i;
  uint64_t u;
  double d;
} num;

static int load(char code, const void *p, num *n) {
  switch (code) {
  case 'b': *n = (num){.kind = MP__SV_INT, .i = *(const signed char *)p}; break;
  case 'h': *n = (num){.kind = MP__SV_INT, .i = *(const short *)p}; break;
  case 'i': *n = (num){.kind = MP__SV_INT, .i = *(const int *)p}; break;
  case 'l': *n = (num){.kind = MP__SV_INT, .i = *(const long *)p}; break;
  case 'q': *n = (num){.kind = MP__SV_INT, .i = *(const long long *)p}; break;
  case 'c':
  case 'B': *n = (num){.kind = MP__SV_UINT, .u = *(const unsigned char *)p}; break;
  case 'H': *n = (num){.kind = MP__SV_UINT, .u = *(const unsigned short *)p}; break;
  case 'I': *n = (num){.kind = MP__SV_UINT, .u = *(const unsigned int *)p}; break;
  case 'L': *n = (num){.kind = MP__SV_UINT, .u = *(const unsigned long *)p}; break;
  case 'Q': *n = (num){.kind = MP__SV_UINT, .u = *(const unsigned long long *)p}; break;
  case 'f': *n = (num){.kind = MP__SV_DOUBLE, .d = *(const float *)p}; break;
  case 'd': *n = (num){.kind = MP__SV_DOUBLE, .d = *(const double *)p}; break;
  default: return MP_ETYPE;
  }
  return 0;
}

/* The range of an integer typecode's values. */
static void int_range(char code, int64_t *lo, uint64_t *hi) {
  size_t bits = mp__typecode_size(code) * 8;
  bool is_signed = code == 'b' || code == 'h' || code == 'i' || code == 'l' || code == 'q';
  *hi = bits == 64 ? (is_signed ? (uint64_t)INT64_MAX : UINT64_MAX)
                   : (is_signed ? (UINT64_C(1) << (bits - 1)) - 1 : (UINT64_C(1) << bits) - 1);
  *lo = is_signed ? -(int64_t)(*hi) - 1 : 0;
}

/* The element's bytes for n (in the low bytes of *raw, little-endian), or
 * -ERANGE / MP_ETYPE: checked before the lock is taken. */
static int encode(char code, const num *n, uint64_t *raw) {
  if (code == 'f' || code == 'd') {
    double d = n->kind == MP__SV_DOUBLE ? n->d
               : n->kind == MP__SV_INT  ? (double)n->i
                                        : (double)n->u;
    if (code == 'f') {
      float f = (float)d;
      uint32_t b;
      memcpy(&b, &f, sizeof b);
      *raw = b;
    } else {
      memcpy(raw, &d, sizeof d);
    }
    return 0;
  }
  if (!mp__typecode_size(code) || n->kind == MP__SV_DOUBLE)
    return MP_ETYPE;
  int64_t lo;
  uint64_t hi;
  int_range(code, &lo, &hi);
  bool neg = n->kind == MP__SV_INT && n->i < 0;
  if (neg ? n->i < lo : (n->kind == MP__SV_INT ? (uint64_t)n->i : n->u) > hi)
    return -ERANGE;
  *raw = n->kind == MP__SV_INT ? (uint64_t)n->i : n->u;
  return 0;
}

/* Stores the low size bytes of raw at p (an aligned element). */
static inline void put(void *p, size_t size, uint64_t raw) {
  switch (size) {
  case 1: *(uint8_t *)p = (uint8_t)raw; break;
  case 2: *(uint16_t *)p = (uint16_t)raw; break;
  case 4: *(uint32_t *)p = (uint32_t)raw; break;
  default: *(uint64_t *)p = raw; break;
  }
}

/* Converts a loaded number to the kind asked for. */
static int convert(const num *n, int kind, void *out) {
  switch (kind) {
  case MP__SV_INT:
    if (n->kind == MP__SV_DOUBLE)
      return MP_ETYPE;
    if (n->kind == MP__SV_UINT && n->u > (uint64_t)INT64_MAX)
      return -ERANGE;
    *(int64_t *)out = n->kind == MP__SV_INT ? n->i : (int64_t)n->u;
    return 0;
  case MP__SV_UINT:
    if (n->kind == MP__SV_DOUBLE)
      return MP_ETYPE;
    if (n->kind == MP__SV_INT && n->i < 0)
      return -ERANGE;
    *(uint64_t *)out = n->kind == MP__SV_INT ? (uint64_t)n->i : n->u;
    return 0;
  default:
    *(double *)out = n->kind == MP__SV_DOUBLE ? n->d
                     : n->kind == MP__SV_INT  ? (double)n->i
                                              : (double)n->u;
    return 0;
  }
}

/* The 64-bit signed codes ('l', 'q' on LP64) read or written as int64_t
 * need no conversion and no range check: the shortest path, for the
 * `with v.get_lock(): v.value += 1` loop, where every nanosecond inside
 * the lock is one the other process waits. */
static inline bool is_i64(const mp__sv *sv, int kind) {
  return kind == MP__SV_INT && sv->esize == 8 && (sv->code == 'l' || sv->code == 'q');
}

int mp__sv_get_num(const mp__sv *sv, ptrdiff_t i, int kind, void *out) {
  if (!sv || !out)
    return -EINVAL;
  if (!sv->code)
    return MP_ETYPE;
  const char *p = mp__sv_elem(sv, i);
  if (!p)
    return MP_EINDEX;
  int e = mp__sv_enter(sv);
  if (e < 0)
    return e;
  if (is_i64(sv, kind)) {
    memcpy(out, p, sizeof(int64_t));
    mp__sv_leave(sv, e);
    return 0;
  }
  num n;
  int r = load(sv->code, p, &n);
  mp__sv_leave(sv, e);
  return r < 0 ? r : convert(&n, kind, out);
}

int mp__sv_set_num(mp__sv *sv, ptrdiff_t i, int kind, const void *in) {
  if (!sv)
    return -EINVAL;
  if (!sv->code || (kind == MP__SV_DOUBLE && sv->code != 'f' && sv->code != 'd'))
    return MP_ETYPE;
  char *p = mp__sv_elem(sv, i);
  if (!p)
    return MP_EINDEX;
  if (is_i64(sv, kind)) {
    int e = mp__sv_enter(sv);
    if (e < 0)
      return e;
    memcpy(p, in, sizeof(int64_t));
    mp__sv_leave(sv, e);
    return 0;
  }
  num n = {.kind = kind};
  if (kind == MP__SV_INT)
    n.i = *(const int64_t *)in;
  else if (kind == MP__SV_UINT)
    n.u = *(const uint64_t *)in;
  else
    n.d = *(const double *)in;
  uint64_t raw;
  int r = encode(sv->code, &n, &raw);
  if (r < 0)
    return r;
  int e = mp__sv_enter(sv);
  if (e < 0)
    return e;
  put(p, sv->esize, raw);
  mp__sv_leave(sv, e);
  return 0;
}

static int run_check(const mp__sv *sv, size_t start, size_t n, const void *buf) {
  if (!sv || (n && !buf))
    return -EINVAL;
  if (start > sv->count || n > sv->count - start)
    return MP_EINDEX;
  return 0;
}

int mp__sv_read(const mp__sv *sv, size_t start, size_t n, void *out) {
  int e = run_check(sv, start, n, out);
  if (e < 0 || (e = mp__sv_enter(sv)) < 0)
    return e;
  if (n)
    memcpy(out, sv->data + start * sv->esize, n * sv->esize);
  mp__sv_leave(sv, e);
  return 0;
}

int mp__sv_write(mp__sv *sv, size_t start, size_t n, const void *in) {
  int e = run_check(sv, start, n, in);
  if (e < 0 || (e = mp__sv_enter(sv)) < 0)
    return e;
  if (n)
    memcpy(sv->data + start * sv->esize, in, n * sv->esize);
  mp__sv_leave(sv, e);
  return 0;
}

/* ---- c_char arrays ----------------------------------------------------------- */

static int char_array(const mp_array *a) {
  if (!a)
    return -EINVAL;
  return a->s.code == 'c' ? 0 : MP_ETYPE;
}

MP_EXPORT int mp_array_value(const mp_array *a, char *buf, size_t cap, size_t *len) {
  int e = char_array(a);
  if (e < 0 || (e = mp__sv_enter(&a->s)) < 0)
    return e;
  int r = 0;
  const char *nul = memchr(a->s.data, 0, a->s.count);
  size_t n = nul ? (size_t)(nul - a->s.data) : a->s.count;
  if (len)
    *len = n;
  if (!buf || cap < n + 1) {
    r = MP_ETOOSHORT;
  } else {
    memcpy(buf, a->s.data, n);
    buf[n] = 0;
  }
  mp__sv_leave(&a->s, e);
  return r;
}

MP_EXPORT int mp_array_set_value(mp_array *a, const void *s, size_t len) {
  int r = char_array(a);
  if (r < 0)
    return r;
  if (len && !s)
    return -EINVAL;
  if (len > a->s.count)
    return MP_EVALUE;
  int e = mp__sv_enter(&a->s);
  if (e < 0)
    return e;
  if (len)
    memcpy(a->s.data, s, len);
  if (len < a->s.count)
    a->s.data[len] = 0;
  mp__sv_leave(&a->s, e);
  return 0;
}

MP_EXPORT int mp_array_raw(const mp_array *a, void *buf, size_t cap, size_t *len) {
  int r = char_array(a);
  if (r < 0)
    return r;
  if (len)
    *len = a->s.count;
  if ((a->s.count && !buf) || cap < a->s.count)
    return MP_ETOOSHORT;
  return mp__sv_read(&a->s, 0, a->s.count, buf);
}

MP_EXPORT int mp_array_set_raw(mp_array *a, const void *p, size_t len) {
  int r = char_array(a);
  if (r < 0)
    return r;
  if (len > a->s.count)
    return MP_EVALUE;
  return mp__sv_write(&a->s, 0, len, p);
}
