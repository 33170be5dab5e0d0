/* pickle_dec.c: reads Python's pickle (protocols 0 to 5) into mp_obj, as a
 * stack machine like CPython's Unpickler, without ever running anything.
 *
 * Why it is safe on a hostile stream:
 *  - every length is checked against the bytes left before anything is
 *    allocated, memo indices against the input length, so memory stays a
 *    small multiple of the input;
 *  - globals are refused unless allowlisted (or accepted by the caller's
 *    find_class); objects are never built by calling anything;
 *  - the result is checked once at the end (check_graph): how deep it
 *    nests, whether it contains itself (mp_obj has no cycle collector), and
 *    how many nodes it would have if every shared reference were copied, so
 *    a short pickle that shares one list a million times is refused before
 *    anyone walks it;
 *  - every mutable container the decoder makes is remembered, so that on
 *    any failure their items are dropped first: a cycle built by a refused
 *    pickle is broken and freed, never leaked.
 * The text and number arguments are read in pickle_text.c, the final check
 * of a shared result is pickle_graph.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pickle_internal.h"

/* The globals the decoder knows without a find_class. */
enum {
  G_HOOK = 0, /* accepted by the caller's find_class */
  G_SET,
  G_FROZENSET,
  G_BYTEARRAY,
  G_BYTES,
  G_ENCODE,      /* _codecs.encode(str, 'latin1'): protocol 2's bytes */
  G_ORDEREDDICT, /* collections.OrderedDict: a dict */
  G_KEEP,        /* MP_PICKLE_KEEP_OBJECTS: recorded as an MP_OBJ_PYOBJ */
};

typedef struct pk_global {
  char *module, *name; /* one allocation: module\0name\0 */
  int kind;
} pk_global;

/* A stack or memo slot: an object, or (o == NULL) the global g; h is the
 * object's height (1 for a scalar), exact as long as no container was
 * shared (see pk_dec.shared). */
typedef struct pk_val {
  mp_obj *o;
  int32_t g;
  uint32_t h;
} pk_val;

typedef struct pk_dec {
  const unsigned char *p, *start, *end;
  const mp_pickle_load_opts *opts;
  pk_val *stack;
  size_t sp, scap;
  size_t *marks;
  size_t nmarks, mcap;
  pk_val *memo; /* memo[i].o == NULL && memo[i].g < 0: empty */
  size_t mlen, mfill;
  pk_global *globals;
  size_t nglobals, gcap;
  mp_obj **made; /* mutable containers made here (own references) */
  size_t nmade, madecap;
  mp__arena arena; /* the small scalars and strings */
  /* A container was reached twice (memo, DUP) or came from find_class:
   * the result may be a DAG or cyclic, so check_graph walks it. Without
   * that it is a tree whose height the slots track. */
  bool shared;
  /* find_class or build was called: objects may be seen by other threads
   * from now on. Until then every object here is this decoder's alone, so
   * the memo takes and drops its references without locked instructions. */
  bool foreign;
  uint32_t result_h;
  int proto;
} pk_dec;

int mp__pk_fail(const char *fmt, ...) {
  char msg[MP_ERROR_MESSAGE_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return mp__error_record(MP_EDECODE, "pickle: %s", msg);
}

/* Grows *arr (of elem-byte items) to hold at least need items. */
static int grow(void *arr, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap)
    return 0;
  size_t n = *cap ? *cap * 2 : 16;
  while (n < need)
    n *= 2;
  void *q = mp__realloc(*(void **)arr, n * elem);
  if (!q)
    return -ENOMEM;
  *(void **)arr = q;
  *cap = n;
  return 0;
}

/* ---- Reading ------------------------------------------------------------- */

static size_t left(const pk_dec *d) { return (size_t)(d->end - d->p); }

static int need(pk_dec *d, size_t n) {
  return left(d) < n ? MP_ETRUNCATED : 0;
}

/* An n-byte little-endian unsigned length (n = 1, 4, 8), checked against
 * the bytes left: a length that runs past the input is truncation. */
static int take_len(pk_dec *d, int n, size_t *len) {
  int r = need(d, (size_t)n);
  if (r < 0)
    return r;
  uint64_t v = mp__pk_le(d->p, n);
  d->p += n;
  if (v > left(d))
    return MP_ETRUNCATED;
  *len = (size_t)v;
  return 0;
}

/* A protocol 0 text argument: the bytes up to '\n' (not included). */
static int take_line(pk_dec *d, const char **s, size_t *n) {
  const unsigned char *nl = memchr(d->p, '\n', left(d));
  if (!nl)
    return MP_ETRUNCATED;
  *s = (const char *)d->p;
  *n = (size_t)(nl - d->p);
  d->p = nl + 1;
  return 0;
}

/* ---- The stack ------------------------------------------------------------- */

/* A reference for the memo or the list of made containers (see foreign). */
static inline mp_obj *pk_ref(pk_dec *d, mp_obj *o) {
  if (!o || (o->flags & MP__OBJ_IMMORTAL))
    return o;
  if (d->foreign)
    return mp__obj_ref(o);
  o->refcnt++;
  return o;
}

static inline void pk_unref(pk_dec *d, mp_obj *o) {
  if (o && !d->foreign && !(o->flags & MP__OBJ_IMMORTAL) && o->refcnt > 1)
    o->refcnt--;
  else
    mp_obj_unref(o);
}

static int push_grow(pk_dec *d, pk_val v) {
  if (grow(&d->stack, &d->scap, d->sp + 1, sizeof *d->stack) < 0) {
    mp_obj_unref(v.o);
    return -ENOMEM;
  }
  d->stack[d->sp++] = v;
  return 0;
}

static inline int push_val(pk_dec *d, pk_val v) {
  if (MP__UNLIKELY(d->sp == d->scap))
    return push_grow(d, v);
  d->stack[d->sp++] = v;
  return 0;
}

/* Pushes o, taking over its reference; a NULL o is the constructor's error. */
static inline int push(pk_dec *d, mp_obj *o) {
  if (MP__UNLIKELY(!o))
    return mp__obj_null_err();
  return push_val(d, (pk_val){o, -1, 1});
}

/* Remembers a new mutable container (see the file comment), then pushes it. */
static int push_made(pk_dec *d, mp_obj *o) {
  if (!o)
    return mp__obj_null_err();
  if (grow(&d->made, &d->madecap, d->nmade + 1, sizeof *d->made) < 0) {
    mp_obj_unref(o);
    return -ENOMEM;
  }
  d->made[d->nmade++] = pk_ref(d, o);
  return push(d, o);
}

/* The bottom of the items of the current mark (0 without one). */
static size_t fence(const pk_dec *d) {
  return d->nmarks ? d->marks[d->nmarks - 1] : 0;
}

static int underflow(void) { return mp__pk_fail("stack underflow"); }

/* A recipe for global g: the global itself, or a call of it with args
 * (borrowed). */
static mp_obj *keep_global(const pk_global *gl, mp_pyobj_kind kind, mp_obj *args) {
  return mp__pyobj_new(kind, mp_obj_str(gl->module), mp_obj_str(gl->name),
                       args ? mp__obj_ref(args) : NULL, NULL);
}

/* The value a global stands for when it is used as data: find_class's. */
static int global_value(pk_dec *d, int32_t g, mp_obj **out) {
  pk_global *gl = &d->globals[g];
  if (gl->kind == G_KEEP) {
    *out = keep_global(gl, MP_PYOBJ_REF, NULL);
    return *out ? 0 : -ENOMEM;
  }
  if (gl->kind != G_HOOK || !d->opts->find_class)
    return mp__pk_fail("global '%s.%s' is not data", gl->module, gl->name);
  *out = NULL;
  d->foreign = true;
  int r = d->opts->find_class(d->opts->ctx, gl->module, gl->name, NULL, out);
  if (r == 0 && !*out)
    r = -EINVAL;
  d->shared = true;
  return r;
}

/* Turns the slot into an object (a global through global_value). */
static int as_obj(pk_dec *d, pk_val *v) {
  if (v->o)
    return 0;
  return global_value(d, v->g, &v->o);
}

/* Pops the top value as an object the caller then owns. */
static int pop_obj(pk_dec *d, mp_obj **o) {
  if (d->sp <= fence(d))
    return underflow();
  pk_val v = d->stack[--d->sp];
  int r = as_obj(d, &v);
  *o = v.o;
  return r;
}

/* The top value, borrowed, made an object in place. */
static int top_obj(pk_dec *d, mp_obj **o) {
  if (d->sp <= fence(d))
    return underflow();
  int r = as_obj(d, &d->stack[d->sp - 1]);
  *o = d->stack[d->sp - 1].o;
  return r;
}

/* Pops the current mark: the items above it are stack[*base..sp), made
 * objects; the caller consumes them and sets sp = *base. */
static int pop_mark(pk_dec *d, size_t *base) {
  if (!d->nmarks)
    return mp__pk_fail("no mark on the stack");
  *base = d->marks[--d->nmarks];
  for (size_t i = *base; i < d->sp; i++) {
    int r = as_obj(d, &d->stack[i]);
    if (r < 0)
      return r;
  }
  return 0;
}

/* Drops the stack's items from base up. */
static void drop_to(pk_dec *d, size_t base) {
  while (d->sp > base)
    mp_obj_unref(d->stack[--d->sp].o);
}

/* ---- Building containers ------------------------------------------------- */

/* The height a container gets from the items stack[base..sp). */
static uint32_t height_of(const pk_dec *d, size_t base) {
  uint32_t h = 0;
  for (size_t i = base; i < d->sp; i++)
    if (d->stack[i].h > h)
      h = d->stack[i].h;
  return h + 1;
}

/* Raises slot's height to that of a container holding stack[base..sp). */
static void grow_height(pk_dec *d, pk_val *slot, size_t base) {
  uint32_t h = height_of(d, base);
  if (h > slot->h)
    slot->h = h;
}

/* A tuple of stack[base..sp) (their references move into it). */
static int make_tuple(pk_dec *d, size_t base) {
  size_t n = d->sp - base;
  mp_obj *t = mp__obj_alloc_seq(MP_OBJ_TUPLE, 0, n);
  if (!t)
    return -ENOMEM;
  uint32_t h = height_of(d, base);
  for (size_t i = 0; i < n; i++)
    t->u.seq.items[i] = d->stack[base + i].o;
  t->u.seq.len = n;
  d->sp = base;
  int r = push(d, t);
  if (r == 0)
    d->stack[d->sp - 1].h = h;
  return r;
}

static int list_extend(pk_dec *d, mp_obj *list, size_t base) {
  if (list->type != MP_OBJ_LIST)
    return mp__pk_fail("APPEND(S) to a %s", mp_obj_type_name(list));
  size_t n = d->sp - base;
  if (list->u.seq.cap - list->u.seq.len < n) {
    size_t cap = list->u.seq.len + n;
    if (cap < list->u.seq.cap * 2)
      cap = list->u.seq.cap * 2;
    mp_obj **items = mp__realloc(list->u.seq.items, cap * sizeof *items);
    if (!items)
      return -ENOMEM;
    list->u.seq.items = items;
    list->u.seq.cap = cap;
  }
  for (size_t i = 0; i < n; i++)
    list->u.seq.items[list->u.seq.len++] = d->stack[base + i].o;
  d->sp = base;
  return 0;
}

/* mp_obj_hash, with a str's (the usual key) computed directly. */
static inline int hash_of(const mp_obj *o, int64_t *hash) {
  if (o->type == MP_OBJ_STR) {
    *hash = mp__hash_bytes(o->u.s.data, o->u.s.len);
    return 0;
  }
  return mp_obj_hash(o, hash);
}

static int unhashable(const mp_obj *key) {
  return mp__pk_fail("unhashable %s as a dict key or set item", mp_obj_type_name(key));
}

/* d[k] = v for the pairs stack[base..sp) (stolen, also on failure). */
static int dict_fill(pk_dec *d, mp_obj *dict, size_t base) {
  int r = 0;
  if ((d->sp - base) % 2)
    r = mp__pk_fail("SETITEMS with an odd number of items");
  else if (dict->type != MP_OBJ_DICT)
    r = mp__pk_fail("SETITEM(S) on a %s", mp_obj_type_name(dict));
  if (r == 0 && d->sp - base > 2) /* a batch: size the table once */
    r = mp__dict_reserve(dict, (d->sp - base) / 2);
  size_t i = base;
  for (; r == 0 && i < d->sp; i += 2) {
    mp_obj *k = d->stack[i].o, *v = d->stack[i + 1].o;
    int64_t hash;
    d->stack[i].o = d->stack[i + 1].o = NULL;
    if (hash_of(k, &hash) < 0) {
      r = unhashable(k);
      mp_obj_unref(k);
      mp_obj_unref(v);
    } else {
      r = mp__dict_set_hashed(dict, k, hash, v);
    }
  }
  drop_to(d, base);
  return r;
}

/* Adds stack[base..sp) to a set (stolen, also on failure). */
static int set_fill(pk_dec *d, mp_obj *set, size_t base) {
  int r = mp__obj_is_set(set) ? 0 : mp__pk_fail("ADDITEMS to a %s", mp_obj_type_name(set));
  for (size_t i = base; r == 0 && i < d->sp; i++) {
    mp_obj *item = d->stack[i].o;
    int64_t hash;
    d->stack[i].o = NULL;
    if (hash_of(item, &hash) < 0) {
      r = unhashable(item);
      mp_obj_unref(item);
    } else {
      r = mp__set_add_hashed(set, item, hash);
    }
  }
  drop_to(d, base);
  return r;
}

/* A set or frozenset of the items of a list, tuple or set. */
static mp_obj *set_of(pk_dec *d, mp_obj_type type, const mp_obj *items, int *err) {
  mp_obj *s = mp__set_alloc(type);
  if (!s) {
    *err = -ENOMEM;
    return NULL;
  }
  size_t base = d->sp;
  if (mp__obj_is_seq(items)) {
    for (size_t i = 0; i < items->u.seq.len; i++)
      if ((*err = push(d, mp__obj_ref(items->u.seq.items[i]))) < 0)
        break;
  } else {
    size_t pos = 0;
    mp_obj *it;
    while (mp_obj_set_next(items, &pos, &it))
      if ((*err = push(d, mp__obj_ref(it))) < 0)
        break;
  }
  if (*err == 0)
    *err = set_fill(d, s, base);
  drop_to(d, base);
  if (*err < 0) {
    mp_obj_unref(s);
    return NULL;
  }
  return s;
}

/* ---- Globals ------------------------------------------------------------------- */

static int known_global(const char *module, const char *name) {
  static const struct {
    const char *module, *name;
    int kind;
  } allow[] = {
      {"builtins", "set", G_SET},           {"builtins", "frozenset", G_FROZENSET},
      {"builtins", "bytearray", G_BYTEARRAY}, {"builtins", "bytes", G_BYTES},
      {"__builtin__", "set", G_SET},        {"__builtin__", "frozenset", G_FROZENSET},
      {"__builtin__", "bytearray", G_BYTEARRAY}, {"__builtin__", "bytes", G_BYTES},
      {"_codecs", "encode", G_ENCODE},      {"codecs", "encode", G_ENCODE},
      {"collections", "OrderedDict", G_ORDEREDDICT},
  };
  for (size_t i = 0; i < MP__ARRAY_SIZE(allow); i++)
    if (!strcmp(module, allow[i].module) && !strcmp(name, allow[i].name))
      return allow[i].kind;
  return -1;
}

/* Python 2's module names in a protocol 0-2 pickle, as Python 3's
 * Unpickler maps them (fix_imports, Lib/_compat_pickle.py; the modules
 * that carry data and exceptions). */
static const char *py3_module(const char *m, size_t *mn) {
  static const char *const map[][2] = {
      {"__builtin__", "builtins"}, {"exceptions", "builtins"},
      {"copy_reg", "copyreg"},     {"Queue", "queue"},
      {"UserDict", "collections"}, {"UserList", "collections"},
      {"cPickle", "pickle"},       {"thread", "_thread"},
  };
  for (size_t i = 0; i < MP__ARRAY_SIZE(map); i++)
    if (strlen(map[i][0]) == *mn && !memcmp(m, map[i][0], *mn)) {
      *mn = strlen(map[i][1]);
      return map[i][1];
    }
  return m;
}

/* Resolves module.name (both UTF-8, not NUL-terminated) and pushes it. */
static int push_global(pk_dec *d, const char *m, size_t mn, const char *nm,
                       size_t nn) {
  /* No NUL (C strings) and no newline (GLOBAL's separator: a name with
   * one could not be written back, nor imported by Python). */
  if (!mn || !nn || memchr(m, 0, mn) || memchr(nm, 0, nn) || memchr(m, '\n', mn) ||
      memchr(nm, '\n', nn) || !mp__utf8_valid(m, mn) || !mp__utf8_valid(nm, nn))
    return mp__pk_fail("invalid global name");
  if (d->proto < 3)
    m = py3_module(m, &mn);
  if (grow(&d->globals, &d->gcap, d->nglobals + 1, sizeof *d->globals) < 0)
    return -ENOMEM;
  char *s = mp__malloc(mn + nn + 2);
  if (!s)
    return -ENOMEM;
  memcpy(s, m, mn);
  s[mn] = 0;
  memcpy(s + mn + 1, nm, nn);
  s[mn + 1 + nn] = 0;
  pk_global *g = &d->globals[d->nglobals];
  *g = (pk_global){s, s + mn + 1, known_global(s, s + mn + 1)};
  if (g->kind < 0) {
    int r = MP_EDECODE;
    if (d->opts->find_class) {
      d->foreign = true;
      r = d->opts->find_class(d->opts->ctx, g->module, g->name, NULL, NULL);
    }
    if (r == MP_EDECODE && (d->opts->flags & MP_PICKLE_KEEP_OBJECTS)) {
      g->kind = G_KEEP;
      d->nglobals++;
      return push_val(d, (pk_val){NULL, (int32_t)(d->nglobals - 1), 1});
    }
    if (r < 0) {
      if (r == MP_EDECODE)
        mp__pk_fail("global '%s.%s' is not allowed", g->module, g->name);
      mp__free(s);
      return r;
    }
    g->kind = G_HOOK;
  }
  d->nglobals++;
  return push_val(d, (pk_val){NULL, (int32_t)(d->nglobals - 1), 1});
}

/* The one argument of args, a tuple of 0 or 1 items: NULL for (). */
static int one_arg(const pk_global *g, const mp_obj *args, mp_obj **arg) {
  size_t n = args->u.seq.len;
  if (n > 1)
    return mp__pk_fail("%s.%s called with %zu arguments", g->module, g->name, n);
  *arg = n ? args->u.seq.items[0] : NULL;
  return 0;
}

/* _codecs.encode(s, 'latin1'): the code points of s, each below 256, as
 * bytes. */
static int codecs_encode(const mp_obj *args, mp_obj **out) {
  mp_obj *s = args->u.seq.len == 2 ? args->u.seq.items[0] : NULL;
  mp_obj *enc = s ? args->u.seq.items[1] : NULL;
  if (!s || s->type != MP_OBJ_STR || enc->type != MP_OBJ_STR ||
      (strcmp(enc->u.s.data, "latin1") && strcmp(enc->u.s.data, "latin-1")))
    return mp__pk_fail("_codecs.encode is allowed only as encode(str, 'latin1')");
  mp_obj *b = mp__obj_alloc_str(MP_OBJ_BYTES, s->u.s.len);
  if (!b)
    return -ENOMEM;
  const unsigned char *p = (const unsigned char *)s->u.s.data;
  size_t i = 0, n = 0;
  while (i < s->u.s.len) {
    uint32_t cp;
    i += mp__utf8_decode(p + i, s->u.s.len - i, &cp);
    if (cp > 0xff) {
      mp_obj_unref(b);
      return mp__pk_fail("_codecs.encode: a code point over 255 in latin1");
    }
    b->u.s.data[n++] = (char)cp;
  }
  b->u.s.len = n;
  b->u.s.data[n] = 0;
  *out = b;
  return 0;
}

/* REDUCE / NEWOBJ (newobj) of global g with args (a tuple): pushes the
 * result. */
static int call_global(pk_dec *d, int32_t gi, mp_obj *args, bool newobj) {
  pk_global *g = &d->globals[gi];
  mp_obj *arg = NULL, *out = NULL;
  int r = 0;
  if (args->type != MP_OBJ_TUPLE)
    return mp__pk_fail("the arguments of %s.%s are not a tuple", g->module, g->name);
  switch (g->kind) {
  case G_KEEP:
    return push(d, keep_global(g, newobj ? MP_PYOBJ_NEW : MP_PYOBJ_CALL, args));
  case G_HOOK:
    d->foreign = true;
    r = d->opts->find_class(d->opts->ctx, g->module, g->name, args, &out);
    if (r == 0 && !out)
      r = -EINVAL;
    if (r < 0)
      return r;
    d->shared = true; /* the caller's object: its shape is unknown */
    /* A fresh container of the caller's may be filled (and cycled) by
     * the pickle: remembered like ours. A shared one is left alone. */
    return (mp__obj_is_hashtab(out) || out->type == MP_OBJ_LIST) &&
                   __atomic_load_n(&out->refcnt, __ATOMIC_RELAXED) == 1
               ? push_made(d, out)
               : push(d, out);
  case G_ENCODE:
    r = codecs_encode(args, &out);
    return r < 0 ? r : push(d, out);
  case G_SET:
  case G_FROZENSET:
    if ((r = one_arg(g, args, &arg)) < 0)
      return r;
    mp_obj_type t = g->kind == G_SET ? MP_OBJ_SET : MP_OBJ_FROZENSET;
    if (!arg)
      return push_made(d, mp__set_alloc(t));
    if (!mp__obj_is_seq(arg) && !mp__obj_is_set(arg))
      return mp__pk_fail("%s(%s)", g->name, mp_obj_type_name(arg));
    out = set_of(d, t, arg, &r);
    return r < 0 ? r : push_made(d, out);
  case G_BYTES:
  case G_BYTEARRAY: {
    mp_obj_type bt = g->kind == G_BYTES ? MP_OBJ_BYTES : MP_OBJ_BYTEARRAY;
    if (args->u.seq.len == 2) { /* bytearray(str, 'latin-1'): Python 2's */
      if ((r = codecs_encode(args, &out)) < 0)
        return r;
      out->type = (uint8_t)bt;
      return push(d, out);
    }
    if ((r = one_arg(g, args, &arg)) < 0)
      return r;
    if (arg && !mp__obj_is_bytes(arg))
      return mp__pk_fail("%s(%s)", g->name, mp_obj_type_name(arg));
    out = mp_obj_bytes(arg ? arg->u.s.data : NULL, arg ? arg->u.s.len : 0);
    if (out)
      out->type = (uint8_t)bt;
    return push(d, out);
  }
  case G_ORDEREDDICT:
    if ((r = one_arg(g, args, &arg)) < 0)
      return r;
    out = mp_obj_dict_new();
    if (out && arg && (r = mp_obj_dict_update(out, arg)) < 0) {
      mp_obj_unref(out);
      return r == MP_ETYPE || r == MP_EVALUE ? mp__pk_fail("OrderedDict(%s)", mp_obj_type_name(arg))
                                             : r;
    }
    return push_made(d, out);
  }
  return -EINVAL;
}

/* ---- Memo ------------------------------------------------------------------------ */

static int memo_put(pk_dec *d, uint64_t idx) {
  if (d->sp <= fence(d))
    return underflow();
  /* A pickle of n bytes writes fewer than n memo entries: an index beyond
   * the input is a lie, and allocating for it would be the attack. */
  if (idx >= (uint64_t)(d->end - d->start))
    return mp__pk_fail("memo index %llu beyond the input", (unsigned long long)idx);
  if (idx >= d->mlen) {
    size_t old = d->mlen;
    if (grow(&d->memo, &d->mlen, (size_t)idx + 1, sizeof *d->memo) < 0)
      return -ENOMEM;
    for (size_t i = old; i < d->mlen; i++)
      d->memo[i] = (pk_val){NULL, -1, 0};
  }
  pk_val *m = &d->memo[idx], v = d->stack[d->sp - 1];
  if (!m->o && m->g < 0)
    d->mfill++;
  pk_unref(d, m->o);
  *m = (pk_val){pk_ref(d, v.o), v.g, v.h};
  return 0;
}

static int memo_get(pk_dec *d, uint64_t idx) {
  if (idx >= d->mlen || (!d->memo[idx].o && d->memo[idx].g < 0))
    return mp__pk_fail("memo key %llu not found", (unsigned long long)idx);
  pk_val v = d->memo[idx];
  if (v.h > 1 || (v.o && (mp__obj_is_seq(v.o) || mp__obj_is_hashtab(v.o))))
    d->shared = true;
  return push_val(d, (pk_val){pk_ref(d, v.o), v.g, v.h});
}

static int text_index(pk_dec *d, uint64_t *idx) {
  const char *s;
  size_t n;
  int r = take_line(d, &s, &n);
  if (r < 0)
    return r;
  uint64_t v = 0;
  if (n == 0 || n > 19)
    return mp__pk_fail("invalid memo index");
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return mp__pk_fail("invalid memo index");
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  *idx = v;
  return 0;
}

/* ---- The machine ---------------------------------------------------------------- */

static int op_reduce(pk_dec *d, unsigned op) {
  bool newobj_ex = op == PK_NEWOBJ_EX;
  mp_obj *args = NULL, *kwargs = NULL;
  int r = 0;
  if (newobj_ex) {
    r = pop_obj(d, &kwargs);
    if (r == 0 && (kwargs->type != MP_OBJ_DICT || kwargs->u.d.len))
      r = mp__pk_fail("NEWOBJ_EX with keyword arguments");
    mp_obj_unref(kwargs);
  }
  uint32_t args_h = d->sp ? d->stack[d->sp - 1].h : 1;
  if (r == 0)
    r = pop_obj(d, &args);
  if (r == 0 && d->sp <= fence(d))
    r = underflow();
  if (r == 0 && d->stack[d->sp - 1].o)
    r = mp__pk_fail("calling a %s: only allowed globals may be called",
             mp_obj_type_name(d->stack[d->sp - 1].o));
  if (r == 0) {
    int32_t g = d->stack[--d->sp].g;
    size_t at = d->sp;
    r = call_global(d, g, args, op != PK_REDUCE);
    if (r == 0 && d->sp == at + 1) /* set(list): as high as the list */
      d->stack[at].h = d->stack[at].o->type == MP_OBJ_PYOBJ ? args_h + 1 : args_h;
  }
  mp_obj_unref(args);
  return r;
}

static int op_build(pk_dec *d) {
  mp_obj *state = NULL, *obj = NULL, *out = NULL;
  int r = pop_obj(d, &state);
  mp_obj *top = r == 0 && d->sp > fence(d) ? d->stack[d->sp - 1].o : NULL;
  if (top && top->type == MP_OBJ_PYOBJ && top->u.seq.items[3] == mp_obj_none() &&
      (d->opts->flags & MP_PICKLE_KEEP_OBJECTS)) {
    top->u.seq.items[3] = state; /* a recipe records its state */
    d->shared = true;            /* heights are not tracked through it */
    return 0;
  }
  if (r == 0 && d->sp > fence(d) && !d->opts->build)
    r = mp__pk_fail("BUILD of a %s (setting its state) is not allowed",
             d->stack[d->sp - 1].o ? mp_obj_type_name(d->stack[d->sp - 1].o)
                                   : "global");
  if (r == 0)
    r = pop_obj(d, &obj);
  if (r == 0) {
    d->foreign = true;
    r = d->opts->build(d->opts->ctx, obj, state, &out);
    if (r == 0 && !out)
      r = -EINVAL;
  }
  mp_obj_unref(state);
  mp_obj_unref(obj);
  d->shared = true;
  return r < 0 ? r : push(d, out);
}

/* One opcode. Returns 0, 1 at STOP (with the result in *out), or an error. */
static int step(pk_dec *d, mp_obj **out) {
  int r = need(d, 1);
  if (r < 0)
    return r;
  unsigned op = *d->p++;
  size_t n, base;
  const char *s;
  mp_obj *o = NULL, *o2 = NULL;
  switch (op) {
  case PK_PROTO:
    if ((r = need(d, 1)) < 0)
      return r;
    d->proto = *d->p++;
    return d->proto <= MP_PICKLE_HIGHEST_PROTOCOL
               ? 0
               : mp__pk_fail("unsupported protocol %d", d->proto);
  case PK_FRAME: /* a hint for buffered readers: only its length is checked */
    return take_len(d, 8, &n);
  case PK_STOP:
    if (d->sp > fence(d))
      d->result_h = d->stack[d->sp - 1].h;
    if ((r = pop_obj(d, out)) < 0) {
      mp_obj_unref(*out);
      *out = NULL;
      return r;
    }
    return 1;
  case PK_MARK:
    if (grow(&d->marks, &d->mcap, d->nmarks + 1, sizeof *d->marks) < 0)
      return -ENOMEM;
    d->marks[d->nmarks++] = d->sp;
    return 0;
  case PK_POP:
    if (d->sp > fence(d))
      drop_to(d, d->sp - 1);
    else if (d->nmarks)
      d->nmarks--; /* as CPython: POP with nothing above the mark pops it */
    else
      return underflow();
    return 0;
  case PK_POP_MARK:
    if ((r = pop_mark(d, &base)) < 0)
      return r;
    drop_to(d, base);
    return 0;
  case PK_DUP:
    if (d->sp <= fence(d))
      return underflow();
    d->shared = true; /* a DUP'd container could be filled twice */
    return push_val(d, (pk_val){pk_ref(d, d->stack[d->sp - 1].o),
                                d->stack[d->sp - 1].g, d->stack[d->sp - 1].h});
  case PK_NONE: return push(d, mp_obj_none());
  case PK_NEWTRUE: return push(d, mp_obj_bool(true));
  case PK_NEWFALSE: return push(d, mp_obj_bool(false));
  case PK_BININT1:
  case PK_BININT2:
  case PK_BININT: {
    int w = op == PK_BININT1 ? 1 : op == PK_BININT2 ? 2 : 4;
    if ((r = need(d, (size_t)w)) < 0)
      return r;
    uint64_t v = mp__pk_le(d->p, w);
    d->p += w;
    return push(d, mp__arena_int(&d->arena, w == 4 ? (int64_t)(int32_t)(uint32_t)v
                                                     : (int64_t)v));
  }
  case PK_LONG1:
  case PK_LONG4:
    if ((r = take_len(d, op == PK_LONG1 ? 1 : 4, &n)) < 0)
      return r;
    if (op == PK_LONG4 && (d->p[-1] & 0x80))
      return mp__pk_fail("LONG4 with a negative length");
    if ((r = mp__pk_long_bytes(d->p, n, &o)) < 0)
      return r;
    d->p += n;
    return push(d, o);
  case PK_INT:
  case PK_LONG:
    if ((r = take_line(d, &s, &n)) < 0 || (r = mp__pk_text_int(s, n, op == PK_LONG, &o)) < 0)
      return r;
    return push(d, o);
  case PK_FLOAT:
    if ((r = take_line(d, &s, &n)) < 0 || (r = mp__pk_text_float(s, n, &o)) < 0)
      return r;
    return push(d, o);
  case PK_BINFLOAT: {
    if ((r = need(d, 8)) < 0)
      return r;
    uint64_t bits = 0;
    for (int i = 0; i < 8; i++)
      bits = (bits << 8) | d->p[i];
    d->p += 8;
    double v;
    memcpy(&v, &bits, sizeof v);
    return push(d, mp_obj_float(v));
  }
  case PK_SHORT_BINUNICODE:
  case PK_BINUNICODE:
  case PK_BINUNICODE8:
  case PK_SHORT_BINSTRING:
  case PK_BINSTRING: {
    int w = op == PK_SHORT_BINUNICODE || op == PK_SHORT_BINSTRING ? 1
            : op == PK_BINUNICODE8                                ? 8
                                                                  : 4;
    if ((r = take_len(d, w, &n)) < 0)
      return r;
    if (op == PK_BINSTRING && (d->p[-1] & 0x80))
      return mp__pk_fail("BINSTRING with a negative length");
    s = (const char *)d->p;
    d->p += n;
    r = op == PK_SHORT_BINSTRING || op == PK_BINSTRING ? mp__pk_ascii_str(s, n, &o)
                                                       : mp__pk_utf8_str(&d->arena, s, n, &o);
    return r < 0 ? r : push(d, o);
  }
  case PK_UNICODE:
  case PK_STRING:
    if ((r = take_line(d, &s, &n)) < 0)
      return r;
    r = op == PK_UNICODE ? mp__pk_raw_unicode(s, n, &o) : mp__pk_quoted_string(s, n, &o);
    return r < 0 ? r : push(d, o);
  case PK_SHORT_BINBYTES:
  case PK_BINBYTES:
  case PK_BINBYTES8:
  case PK_BYTEARRAY8:
    if ((r = take_len(d, op == PK_SHORT_BINBYTES ? 1 : op == PK_BINBYTES ? 4 : 8, &n)) < 0)
      return r;
    o = mp__arena_str(&d->arena, op == PK_BYTEARRAY8 ? MP_OBJ_BYTEARRAY : MP_OBJ_BYTES, n);
    if (o)
      memcpy(o->u.s.data, d->p, n);
    d->p += n;
    return push(d, o);
  case PK_EMPTY_LIST: return push_made(d, mp_obj_list_new());
  case PK_EMPTY_DICT: return push_made(d, mp_obj_dict_new());
  case PK_EMPTY_SET: return push_made(d, mp_obj_set_new());
  case PK_EMPTY_TUPLE: return push(d, mp_obj_tuple_new(0));
  case PK_TUPLE1:
  case PK_TUPLE2:
  case PK_TUPLE3:
    n = op - PK_TUPLE1 + 1;
    if (d->sp < fence(d) + n)
      return underflow();
    for (size_t i = d->sp - n; i < d->sp; i++)
      if ((r = as_obj(d, &d->stack[i])) < 0)
        return r;
    return make_tuple(d, d->sp - n);
  case PK_TUPLE:
    return (r = pop_mark(d, &base)) < 0 ? r : make_tuple(d, base);
  case PK_LIST:
    if ((r = pop_mark(d, &base)) < 0 || (r = push_made(d, mp_obj_list_new())) < 0)
      return r;
    o = d->stack[--d->sp].o; /* the new list: extend it, then push it back */
    n = height_of(d, base);
    r = list_extend(d, o, base);
    if (r < 0 || (r = push(d, o)) < 0)
      return r < 0 && o ? (mp_obj_unref(o), r) : r;
    d->stack[d->sp - 1].h = (uint32_t)n;
    return 0;
  case PK_DICT:
  case PK_FROZENSET:
    if ((r = pop_mark(d, &base)) < 0)
      return r;
    o = op == PK_DICT ? mp_obj_dict_new() : mp__set_alloc(MP_OBJ_FROZENSET);
    if (!o)
      return -ENOMEM;
    n = height_of(d, base);
    r = op == PK_DICT ? dict_fill(d, o, base) : set_fill(d, o, base);
    if (r < 0) {
      mp_obj_unref(o);
      return r;
    }
    if ((r = op == PK_DICT ? push_made(d, o) : push(d, o)) == 0)
      d->stack[d->sp - 1].h = (uint32_t)n;
    return r;
  case PK_APPEND:
    if ((r = pop_obj(d, &o2)) < 0 || (r = top_obj(d, &o)) < 0) {
      mp_obj_unref(o2);
      return r;
    }
    if (o->type != MP_OBJ_LIST) {
      mp_obj_unref(o2);
      return mp__pk_fail("APPEND to a %s", mp_obj_type_name(o));
    }
    d->sp++; /* the item's slot is still there: count its height */
    grow_height(d, &d->stack[d->sp - 2], d->sp - 1);
    d->sp--;
    return mp__list_append_steal(o, o2);
  case PK_APPENDS:
  case PK_SETITEMS:
  case PK_ADDITEMS:
    if ((r = pop_mark(d, &base)) < 0)
      return r;
    if (base <= fence(d) || (r = as_obj(d, &d->stack[base - 1])) < 0) {
      drop_to(d, base);
      return r < 0 ? r : underflow();
    }
    o = d->stack[base - 1].o;
    grow_height(d, &d->stack[base - 1], base);
    if (op == PK_APPENDS) {
      r = list_extend(d, o, base);
      drop_to(d, base);
      return r;
    }
    return op == PK_SETITEMS ? dict_fill(d, o, base) : set_fill(d, o, base);
  case PK_SETITEM:
    if (d->sp < fence(d) + 3)
      return underflow();
    for (size_t i = d->sp - 3; i < d->sp; i++)
      if ((r = as_obj(d, &d->stack[i])) < 0)
        return r;
    grow_height(d, &d->stack[d->sp - 3], d->sp - 2);
    return dict_fill(d, d->stack[d->sp - 3].o, d->sp - 2);
  case PK_MEMOIZE: return memo_put(d, d->mfill);
  case PK_BINPUT:
  case PK_LONG_BINPUT:
  case PK_BINGET:
  case PK_LONG_BINGET: {
    int w = op == PK_BINPUT || op == PK_BINGET ? 1 : 4;
    if ((r = need(d, (size_t)w)) < 0)
      return r;
    uint64_t idx = mp__pk_le(d->p, w);
    d->p += w;
    return op == PK_BINPUT || op == PK_LONG_BINPUT ? memo_put(d, idx) : memo_get(d, idx);
  }
  case PK_PUT:
  case PK_GET: {
    uint64_t idx = 0;
    if ((r = text_index(d, &idx)) < 0)
      return r;
    return op == PK_PUT ? memo_put(d, idx) : memo_get(d, idx);
  }
  case PK_GLOBAL:
  case PK_INST: {
    const char *m;
    size_t mn;
    if ((r = take_line(d, &m, &mn)) < 0 || (r = take_line(d, &s, &n)) < 0)
      return r;
    if (op == PK_INST)
      return mp__pk_fail("INST of '%.*s.%.*s' is not allowed", (int)(mn > 100 ? 100 : mn), m,
                  (int)(n > 100 ? 100 : n), s);
    return push_global(d, m, mn, s, n);
  }
  case PK_STACK_GLOBAL:
    if (d->sp < fence(d) + 2)
      return underflow();
    o = d->stack[d->sp - 2].o, o2 = d->stack[d->sp - 1].o;
    if (!o || !o2 || o->type != MP_OBJ_STR || o2->type != MP_OBJ_STR)
      return mp__pk_fail("STACK_GLOBAL needs two str");
    r = push_global(d, o->u.s.data, o->u.s.len, o2->u.s.data, o2->u.s.len);
    if (r == 0) { /* drop the two names under the global */
      pk_val g = d->stack[--d->sp];
      drop_to(d, d->sp - 2);
      d->stack[d->sp++] = g;
    }
    return r;
  case PK_REDUCE:
  case PK_NEWOBJ:
  case PK_NEWOBJ_EX: return op_reduce(d, op);
  case PK_BUILD: return op_build(d);
  case PK_OBJ: /* the class is the first item after the mark */
    if (!d->nmarks)
      return mp__pk_fail("no mark on the stack");
    base = fence(d);
    if (d->sp > base && !d->stack[base].o)
      return mp__pk_fail("OBJ of '%s.%s' is not allowed",
                  d->globals[d->stack[base].g].module,
                  d->globals[d->stack[base].g].name);
    return mp__pk_fail("OBJ is not allowed");
  case PK_EXT1:
  case PK_EXT2:
  case PK_EXT4:
    return mp__pk_fail("the extension registry (EXT1/2/4) is not allowed");
  case PK_PERSID:
  case PK_BINPERSID:
    return mp__pk_fail("persistent IDs are not supported");
  case PK_NEXT_BUFFER:
  case PK_READONLY_BUFFER:
    return mp__pk_fail("out-of-band buffers (protocol 5) are not supported");
  default:
    return mp__pk_fail("unknown opcode 0x%02x", op);
  }
}

static void dec_free(pk_dec *d, bool break_cycles) {
  mp__arena_done(&d->arena);
  drop_to(d, 0);
  for (size_t i = 0; i < d->mlen; i++)
    pk_unref(d, d->memo[i].o);
  for (size_t i = 0; i < d->nmade; i++) {
    mp_obj *o = d->made[i];
    if (break_cycles) { /* drops the items: no cycle survives */
      if (o->type == MP_OBJ_LIST)
        mp_obj_list_clear(o);
      else if (mp__obj_is_hashtab(o)) {
        mp_obj *stack = NULL;
        mp__dict_release(o, &stack);
        mp__obj_free_stack(stack);
      }
    }
    pk_unref(d, o);
  }
  for (size_t i = 0; i < d->nglobals; i++)
    mp__free(d->globals[i].module);
  mp__free(d->stack);
  mp__free(d->marks);
  mp__free(d->memo);
  mp__free(d->made);
  mp__free(d->globals);
}

MP_EXPORT int mp_obj_from_pickle_opts(const void *buf, size_t len,
                                      const mp_pickle_load_opts *opts,
                                      size_t *used, mp_obj **out) {
  static const mp_pickle_load_opts defaults;
  if (!out || (!buf && len))
    return -EINVAL;
  *out = NULL;
  pk_dec d = {.p = buf, .start = buf, .end = (const unsigned char *)buf + len,
              .opts = opts ? opts : &defaults,
              .arena = {.off = len < MP__ARENA_MIN_INPUT}};
  mp_obj *o = NULL;
  int r;
  while ((r = step(&d, &o)) == 0) {
  }
  if (r == 1 && d.shared) {
    size_t max = d.opts->max_nodes;
    if (!max)
      max = len < SIZE_MAX / 64 && len * 64 > 65536 ? len * 64 : 65536;
    r = mp__pk_check_graph(o, max, d.opts->flags & MP_PICKLE_ALLOW_CYCLES);
  } else if (r == 1) { /* a tree: no cycle, no more nodes than opcodes */
    r = d.result_h > MP_OBJ_MAX_DEPTH + 1
            ? mp__pk_fail("nested deeper than %d levels", MP_OBJ_MAX_DEPTH)
            : 0;
  }
  if (r < 0 && o) {
    mp_obj_unref(o);
    o = NULL;
  }
  dec_free(&d, r < 0);
  if (r < 0)
    return r;
  if (used)
    *used = (size_t)(d.p - d.start);
  *out = o;
  return 0;
}

MP_EXPORT int mp_obj_from_pickle(const void *buf, size_t len, mp_obj **out) {
  int r = mp_obj_from_pickle_opts(buf, len, NULL, NULL, out);
  return r == MP_ETRUNCATED ? mp__error_record(MP_EDECODE, "pickle: data was truncated") : r;
}
