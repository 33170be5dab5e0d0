/* pickle_enc.c: writes mp_obj as Python's pickle, protocols 2 to 5, with the
 * opcodes CPython's C pickler (Modules/_pickle.c) writes for the same value,
 * so that Python reads it back as the same types: FRAME at protocol 4+,
 * batches of 1000 items per APPENDS/SETITEMS/ADDITEMS, sets as EMPTY_SET +
 * ADDITEMS (protocol 4+) or builtins.set(list) (before), bytes as
 * _codecs.encode(str, 'latin1') at protocol 2, bytearray as BYTEARRAY8 at
 * protocol 5.
 *
 * One difference, on purpose: CPython memoizes every str and container
 * (by identity); we memoize only containers that have more than one
 * reference, the only ones that can be reached twice (shared, or part of a
 * cycle). The pickle is as valid, often shorter, and writing needs no
 * table lookup for the common unshared object. */
#include <string.h>

#include "pickle_internal.h"

typedef struct memo_ent {
  const mp_obj *o;
  uint32_t idx;
} memo_ent;

typedef struct pk_enc {
  unsigned char *p; /* the output: len bytes of cap */
  size_t len, cap;
  int proto;
  size_t frame; /* offset of the open frame's header; SIZE_MAX: none */
  memo_ent *memo;
  size_t mmask, mused;
} pk_enc;

/* ---- Output -------------------------------------------------------------- */

static int reserve(pk_enc *e, size_t n) {
  if (e->cap - e->len >= n)
    return 0;
  if (n > SIZE_MAX / 2 - e->len)
    return -ENOMEM;
  size_t cap = e->cap ? e->cap : 256;
  while (cap - e->len < n)
    cap *= 2;
  unsigned char *q = mp__realloc(e->p, cap);
  if (!q)
    return -ENOMEM;
  e->p = q;
  e->cap = cap;
  return 0;
}

/* An opcode and an n-byte little-endian argument (n = 0, 1, 2, 4, 8). */
static int op_le(pk_enc *e, unsigned op, uint64_t arg, int n) {
  if (reserve(e, 9) < 0)
    return -ENOMEM;
  unsigned char *q = e->p + e->len;
  q[0] = (unsigned char)op;
  for (int i = 0; i < n; i++)
    q[1 + i] = (unsigned char)(arg >> (8 * i));
  e->len += 1 + (size_t)n;
  return 0;
}

static int op1(pk_enc *e, unsigned op) { return op_le(e, op, 0, 0); }

static int raw(pk_enc *e, const void *p, size_t n) {
  if (reserve(e, n) < 0)
    return -ENOMEM;
  if (n)
    memcpy(e->p + e->len, p, n);
  e->len += n;
  return 0;
}

/* An opcode, its length argument (short: 1 byte, else 4, else 8) and the
 * bytes. */
static int op_data(pk_enc *e, unsigned short_op, unsigned op4, unsigned op8,
                   const void *p, size_t n) {
  int r;
  if (n < 256 && short_op)
    r = op_le(e, short_op, n, 1);
  else if (n <= UINT32_MAX)
    r = op_le(e, op4, n, 4);
  else if (op8)
    r = op_le(e, op8, n, 8);
  else
    r = MP_ETOOBIG;
  return r < 0 ? r : raw(e, p, n);
}

/* ---- Frames (protocol 4+) -------------------------------------------------- */

static int frame_open(pk_enc *e) {
  if (e->proto < 4)
    return 0;
  e->frame = e->len;
  return op_le(e, PK_FRAME, 0, 8);
}

/* Writes the open frame's length; a frame too small to be worth one loses
 * its header, as CPython's. */
static void frame_close(pk_enc *e) {
  if (e->frame == SIZE_MAX)
    return;
  size_t body = e->len - e->frame - 9;
  if (body < MP__PK_FRAME_MIN) {
    memmove(e->p + e->frame, e->p + e->frame + 9, body);
    e->len -= 9;
  } else {
    for (int i = 0; i < 8; i++)
      e->p[e->frame + 1 + i] = (unsigned char)((uint64_t)body >> (8 * i));
  }
  e->frame = SIZE_MAX;
}

/* Between two objects: a full frame is closed and a new one begun. */
static int boundary(pk_enc *e) {
  if (e->frame == SIZE_MAX || e->len - e->frame < MP__PK_FRAME_TARGET)
    return 0;
  frame_close(e);
  return frame_open(e);
}

/* ---- Memo ------------------------------------------------------------------ */

static size_t slot_of(const pk_enc *e, const mp_obj *o) {
  return (size_t)(((uintptr_t)o >> 4) * 0x9E3779B97F4A7C15ULL) & e->mmask;
}

/* The memo index of o, or -1. */
static int64_t memo_find(const pk_enc *e, const mp_obj *o) {
  if (!e->memo)
    return -1;
  for (size_t i = slot_of(e, o); e->memo[i].o; i = (i + 1) & e->mmask)
    if (e->memo[i].o == o)
      return e->memo[i].idx;
  return -1;
}

static int write_put(pk_enc *e, uint32_t idx) {
  if (e->proto >= 4)
    return op1(e, PK_MEMOIZE);
  return idx < 256 ? op_le(e, PK_BINPUT, idx, 1) : op_le(e, PK_LONG_BINPUT, idx, 4);
}

static int write_get(pk_enc *e, int64_t idx) {
  return idx < 256 ? op_le(e, PK_BINGET, (uint64_t)idx, 1)
                   : op_le(e, PK_LONG_BINGET, (uint64_t)idx, 4);
}

/* Memoizes o (the object just written) if it can be reached again. */
static int memoize(pk_enc *e, const mp_obj *o) {
  if (__atomic_load_n(&o->refcnt, __ATOMIC_RELAXED) < 2 ||
      (o->flags & MP__OBJ_IMMORTAL))
    return 0;
  if ((e->mused + 1) * 2 > e->mmask) {
    size_t n = e->memo ? (e->mmask + 1) * 2 : 64;
    memo_ent *old = e->memo;
    size_t oldn = e->memo ? e->mmask + 1 : 0;
    e->memo = mp__calloc(n, sizeof *e->memo);
    if (!e->memo) {
      e->memo = old;
      return -ENOMEM;
    }
    e->mmask = n - 1;
    for (size_t i = 0; i < oldn; i++) {
      if (!old[i].o)
        continue;
      size_t j = slot_of(e, old[i].o);
      while (e->memo[j].o)
        j = (j + 1) & e->mmask;
      e->memo[j] = old[i];
    }
    mp__free(old);
  }
  uint32_t idx = (uint32_t)e->mused++;
  size_t j = slot_of(e, o);
  while (e->memo[j].o)
    j = (j + 1) & e->mmask;
  e->memo[j] = (memo_ent){o, idx};
  return write_put(e, idx);
}

/* ---- Values ---------------------------------------------------------------- */

static int save(pk_enc *e, const mp_obj *o, int depth);

static int save_int(pk_enc *e, int64_t v) {
  if (v >= 0 && v <= 0xff)
    return op_le(e, PK_BININT1, (uint64_t)v, 1);
  if (v >= 0 && v <= 0xffff)
    return op_le(e, PK_BININT2, (uint64_t)v, 2);
  if (v >= INT32_MIN && v <= INT32_MAX)
    return op_le(e, PK_BININT, (uint64_t)(uint32_t)(int32_t)v, 4);
  /* LONG1: the fewest little-endian two's complement bytes */
  int n = 8;
  while (n > 1) {
    int64_t top = v >> (8 * (n - 1) - 1); /* the bits the top byte holds */
    if (top != 0 && top != -1)
      break;
    n--;
  }
  if (reserve(e, 10) < 0)
    return -ENOMEM;
  e->p[e->len++] = PK_LONG1;
  e->p[e->len++] = (unsigned char)n;
  for (int i = 0; i < n; i++)
    e->p[e->len++] = (unsigned char)((uint64_t)v >> (8 * i));
  return 0;
}

static int save_float(pk_enc *e, double v) {
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  if (reserve(e, 9) < 0)
    return -ENOMEM;
  e->p[e->len++] = PK_BINFLOAT;
  for (int i = 7; i >= 0; i--) /* big-endian */
    e->p[e->len++] = (unsigned char)(bits >> (8 * i));
  return 0;
}

static int save_str(pk_enc *e, const char *s, size_t n) {
  return op_data(e, e->proto >= 4 ? PK_SHORT_BINUNICODE : 0, PK_BINUNICODE,
                 e->proto >= 4 ? PK_BINUNICODE8 : 0, s, n);
}

/* module.name as GLOBAL (protocol < 4, Python 2's module names before 3,
 * as fix_imports does) or STACK_GLOBAL. */
static int save_global(pk_enc *e, const char *module, const char *name) {
  int r;
  if (e->proto >= 4) {
    if ((r = save_str(e, module, strlen(module))) < 0 ||
        (r = save_str(e, name, strlen(name))) < 0)
      return r;
    return op1(e, PK_STACK_GLOBAL);
  }
  if (e->proto < 3 && !strcmp(module, "builtins"))
    module = "__builtin__";
  if ((r = op1(e, PK_GLOBAL)) < 0 || (r = raw(e, module, strlen(module))) < 0 ||
      (r = raw(e, "\n", 1)) < 0 || (r = raw(e, name, strlen(name))) < 0)
    return r;
  return raw(e, "\n", 1);
}

/* Protocol 2's bytes: _codecs.encode(s.decode('latin1'), 'latin1'), or
 * builtins.bytes() when empty. */
static int save_bytes_p2(pk_enc *e, const unsigned char *p, size_t n) {
  int r;
  if (n == 0) {
    if ((r = save_global(e, "builtins", "bytes")) < 0 || (r = op1(e, PK_EMPTY_TUPLE)) < 0)
      return r;
    return op1(e, PK_REDUCE);
  }
  if ((r = save_global(e, "_codecs", "encode")) < 0)
    return r;
  size_t wide = 0; /* bytes >= 0x80 take two UTF-8 bytes */
  for (size_t i = 0; i < n; i++)
    wide += p[i] >> 7;
  if (n + wide > UINT32_MAX)
    return MP_ETOOBIG;
  if ((r = op_le(e, PK_BINUNICODE, n + wide, 4)) < 0 || (r = reserve(e, n + wide)) < 0)
    return r;
  for (size_t i = 0; i < n; i++) {
    if (p[i] < 0x80) {
      e->p[e->len++] = p[i];
    } else {
      e->p[e->len++] = (unsigned char)(0xC0 | p[i] >> 6);
      e->p[e->len++] = (unsigned char)(0x80 | (p[i] & 0x3F));
    }
  }
  if ((r = save_str(e, "latin1", 6)) < 0 || (r = op1(e, PK_TUPLE2)) < 0)
    return r;
  return op1(e, PK_REDUCE);
}

static int save_bytes(pk_enc *e, const mp_obj *o) {
  const unsigned char *p = (const unsigned char *)o->u.s.data;
  size_t n = o->u.s.len;
  if (o->type == MP_OBJ_BYTEARRAY) {
    if (e->proto >= 5) {
      int r = op_le(e, PK_BYTEARRAY8, n, 8);
      return r < 0 ? r : raw(e, p, n);
    }
    int r = save_global(e, "builtins", "bytearray");
    if (r == 0 && n == 0)
      r = op1(e, PK_EMPTY_TUPLE);
    else if (r == 0 && (r = e->proto >= 3 ? op_data(e, PK_SHORT_BINBYTES, PK_BINBYTES,
                                                     e->proto >= 4 ? PK_BINBYTES8 : 0, p, n)
                                           : save_bytes_p2(e, p, n)) == 0)
      r = op1(e, PK_TUPLE1);
    return r < 0 ? r : op1(e, PK_REDUCE);
  }
  if (e->proto < 3)
    return save_bytes_p2(e, p, n);
  return op_data(e, PK_SHORT_BINBYTES, PK_BINBYTES, e->proto >= 4 ? PK_BINBYTES8 : 0,
                 p, n);
}

/* Items [from, to) of a list, dict or set, in batches: MARK ... op, or
 * one item with single_op (0: a batch of one still gets MARK). */
static int save_batches(pk_enc *e, const mp_obj *o, int depth, unsigned op,
                        unsigned single_op) {
  bool dict = o->type == MP_OBJ_DICT, seq = mp__obj_is_seq(o);
  size_t n = seq ? o->u.seq.len : o->u.d.nents, i = 0;
  while (i < n) {
    size_t batch_start = i, count = 0, j = i;
    while (j < n && count < MP__PK_BATCH) { /* live entries in this batch */
      if (seq || o->u.d.ents[j].key)
        count++;
      j++;
    }
    if (!count)
      break;
    int r = count == 1 && single_op ? 0 : op1(e, PK_MARK);
    for (i = batch_start; r == 0 && i < j; i++) {
      if (seq) {
        r = save(e, o->u.seq.items[i], depth + 1);
      } else if (o->u.d.ents[i].key) {
        r = save(e, o->u.d.ents[i].key, depth + 1);
        if (r == 0 && dict)
          r = save(e, o->u.d.ents[i].value, depth + 1);
      }
    }
    if (r == 0)
      r = op1(e, count == 1 && single_op ? single_op : op);
    if (r < 0)
      return r;
    i = j;
  }
  return 0;
}

static int save_tuple(pk_enc *e, const mp_obj *o, int depth) {
  size_t n = o->u.seq.len;
  if (n == 0)
    return op1(e, PK_EMPTY_TUPLE);
  bool small = n <= 3;
  int r = small ? 0 : op1(e, PK_MARK);
  for (size_t i = 0; r == 0 && i < n; i++)
    r = save(e, o->u.seq.items[i], depth + 1);
  if (r < 0)
    return r;
  /* A tuple reached again through its own items (via a list) was written
   * by that inner visit: drop the items and refer to it, as CPython. */
  int64_t idx = memo_find(e, o);
  if (idx >= 0) {
    if (small) {
      for (size_t i = 0; r == 0 && i < n; i++)
        r = op1(e, PK_POP);
    } else {
      r = op1(e, PK_POP_MARK);
    }
    return r < 0 ? r : write_get(e, idx);
  }
  r = op1(e, small ? PK_TUPLE1 + (unsigned)n - 1 : PK_TUPLE);
  return r < 0 ? r : memoize(e, o);
}

/* A set or frozenset before protocol 4: builtins.set([items]). */
static int save_set_reduce(pk_enc *e, const mp_obj *o, int depth) {
  int r = save_global(e, "builtins", o->type == MP_OBJ_SET ? "set" : "frozenset");
  if (r == 0)
    r = op1(e, PK_EMPTY_LIST);
  if (r == 0 && o->u.d.len)
    r = save_batches(e, o, depth, PK_APPENDS, PK_APPEND);
  if (r == 0)
    r = op1(e, PK_TUPLE1);
  if (r == 0)
    r = op1(e, PK_REDUCE);
  return r < 0 ? r : memoize(e, o);
}

/* A Python object's recipe: the global, then its call and state, with the
 * opcodes it was read with (REDUCE or NEWOBJ, BUILD). */
static int save_pyobj(pk_enc *e, const mp_obj *o, int depth) {
  const mp_obj *args = o->u.seq.items[2], *state = o->u.seq.items[3];
  int r = save_global(e, o->u.seq.items[0]->u.s.data, o->u.seq.items[1]->u.s.data);
  if (r == 0 && o->code != MP_PYOBJ_REF && (r = save(e, args, depth + 1)) == 0)
    r = op1(e, o->code == MP_PYOBJ_NEW ? PK_NEWOBJ : PK_REDUCE);
  if (r == 0)
    r = memoize(e, o);
  if (r == 0 && o->code != MP_PYOBJ_REF && state->type != MP_OBJ_NONE &&
      (r = save(e, state, depth + 1)) == 0)
    r = op1(e, PK_BUILD);
  return r;
}

static int save(pk_enc *e, const mp_obj *o, int depth) {
  if (depth > MP_OBJ_MAX_DEPTH)
    return MP_EVALUE;
  int r;
  switch (o->type) {
  case MP_OBJ_NONE: return op1(e, PK_NONE);
  case MP_OBJ_BOOL: return op1(e, o->u.b ? PK_NEWTRUE : PK_NEWFALSE);
  case MP_OBJ_INT: return save_int(e, o->u.i);
  case MP_OBJ_FLOAT: return save_float(e, o->u.f);
  case MP_OBJ_STR: return save_str(e, o->u.s.data, o->u.s.len);
  case MP_OBJ_BYTES:
  case MP_OBJ_BYTEARRAY: return save_bytes(e, o);
  case MP_OBJ_EXT: return MP_ETYPE;
  default: break;
  }
  int64_t idx = memo_find(e, o);
  if (idx >= 0)
    return write_get(e, idx);
  switch (o->type) {
  case MP_OBJ_TUPLE: r = save_tuple(e, o, depth); break;
  case MP_OBJ_PYOBJ: r = save_pyobj(e, o, depth); break;
  case MP_OBJ_LIST:
    if ((r = op1(e, PK_EMPTY_LIST)) == 0 && (r = memoize(e, o)) == 0)
      r = save_batches(e, o, depth, PK_APPENDS, PK_APPEND);
    break;
  case MP_OBJ_DICT:
    if ((r = op1(e, PK_EMPTY_DICT)) == 0 && (r = memoize(e, o)) == 0)
      r = save_batches(e, o, depth, PK_SETITEMS, PK_SETITEM);
    break;
  case MP_OBJ_SET:
    if (e->proto < 4)
      r = save_set_reduce(e, o, depth);
    else if ((r = op1(e, PK_EMPTY_SET)) == 0 && (r = memoize(e, o)) == 0)
      r = save_batches(e, o, depth, PK_ADDITEMS, 0);
    break;
  case MP_OBJ_FROZENSET:
    if (e->proto < 4) {
      r = save_set_reduce(e, o, depth);
    } else {
      r = op1(e, PK_MARK);
      size_t pos = 0;
      mp_obj *item;
      while (r == 0 && mp_obj_set_next(o, &pos, &item))
        r = save(e, item, depth + 1);
      if (r == 0 && (r = op1(e, PK_FROZENSET)) == 0)
        r = memoize(e, o);
    }
    break;
  default: r = -EINVAL;
  }
  return r < 0 ? r : boundary(e);
}

static int encode(const mp_obj *o, int protocol, pk_enc *e) {
  if (!o)
    return -EINVAL;
  if (protocol == 0)
    protocol = MP_PICKLE_DEFAULT_PROTOCOL;
  if (protocol < 2 || protocol > MP_PICKLE_HIGHEST_PROTOCOL)
    return MP_EVALUE;
  e->proto = protocol;
  e->frame = SIZE_MAX;
  int r = op_le(e, PK_PROTO, (uint64_t)protocol, 1);
  if (r == 0)
    r = frame_open(e);
  if (r == 0)
    r = save(e, o, 0);
  if (r == 0)
    r = op1(e, PK_STOP);
  if (r == 0)
    frame_close(e);
  mp__free(e->memo);
  return r;
}

MP_EXPORT int mp_obj_to_pickle(const mp_obj *o, int protocol, void **buf,
                               size_t *len) {
  if (!buf || !len)
    return -EINVAL;
  pk_enc e = {0};
  int r = encode(o, protocol, &e);
  if (r < 0) {
    mp__free(e.p);
    return r;
  }
  *buf = e.p;
  *len = e.len;
  return 0;
}

MP_EXPORT int mp_obj_to_pickle_append(const mp_obj *o, int protocol,
                                      void **buf, size_t *len, size_t *cap) {
  if (!buf || !len || !cap || *len > *cap)
    return -EINVAL;
  /* Written after the caller's bytes, in the caller's buffer. */
  pk_enc e = {.p = *buf, .len = *len, .cap = *cap};
  int r = encode(o, protocol, &e);
  if (e.p)
    *buf = e.p, *cap = e.cap;
  if (r < 0)
    return r; /* *len unchanged: nothing appended */
  *len = e.len;
  return 0;
}
