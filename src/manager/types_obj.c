/* types_obj.c: the built-in container types a manager holds: dict, list
 * (CPython's DictProxy and ListProxy method sets; slices come as
 * __getitem__'s key, an mp_proxy_slice value, as in Python 3), Namespace,
 * Value and Array. They run under the server lock (their referents are
 * mp_obj values that may be nested in one another). Their failures carry
 * CPython 3.11's own messages ("IndexError: list index out of range"), so
 * a program printing them prints what Python prints. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manager/manager_internal.h"

#define ARG(i) mp__mgr_arg(c, (i))
#define NARGS(lo, hi)                                                          \
  do {                                                                         \
    int rc_ = mp__mgr_nargs(c, (lo), (hi));                                    \
    if (rc_ < 0)                                                               \
      return rc_;                                                              \
  } while (0)
#define CHECK(expr)                                                            \
  do {                                                                         \
    int rc_ = (expr);                                                          \
    if (rc_ < 0)                                                               \
      return fail_code(c, rc_);                                                \
  } while (0)

/* A code the mp_obj call gave without a message of its own. */
static int fail_code(mp_method_call *c, int rc) {
  if (c->message[0]) /* a helper said it already, in Python's words */
    return rc;
  const char *what = rc == MP_EKEY     ? "KeyError"
                     : rc == MP_EINDEX ? "IndexError: list index out of range"
                     : rc == MP_EVALUE ? "ValueError"
                     : rc == MP_ETYPE  ? "TypeError: unhashable type"
                                       : mp_strerror(rc);
  return mp__mgr_fail(c, rc, "%s", what);
}

/* Python's TypeError for a value no operation of its kind accepts. */
static int fail_type(mp_method_call *c, const char *fmt, const mp_obj *o) {
  return mp__mgr_fail(c, MP_ETYPE, fmt, o ? mp_obj_type_name(o) : "NoneType");
}

/* A dict key's failure: unhashable (a list, a dict) or absent. */
static int key_code(mp_method_call *c, int rc, mp_obj *key);

static int fail_key(mp_method_call *c, mp_obj *key) {
  char *r = NULL;
  mp_obj_repr(key, &r, NULL);
  mp__mgr_fail(c, MP_EKEY, "KeyError: %s", r ? r : "?");
  mp_free(r);
  return MP_EKEY;
}

static int ret_int(mp_method_call *c, int64_t v) {
  c->result = mp_obj_int(v);
  return c->result ? 0 : -ENOMEM;
}

/* The integer argument at i. what: "list" for a subscript ("list indices
 * must be integers or slices, not str"); NULL for an argument such as
 * pop's ("'str' object cannot be interpreted as an integer"). */
static int get_index(mp_method_call *c, size_t i, const char *what,
                     ptrdiff_t *out) {
  int64_t v;
  mp_obj *o = ARG(i);
  mp_obj_type t = mp_obj_get_type(o);
  if (!o || (t != MP_OBJ_INT && t != MP_OBJ_BOOL) ||
      mp_obj_int_value(o, &v) < 0) {
    if (!what)
      return fail_type(c, "TypeError: '%s' object cannot be interpreted as an "
                          "integer", o);
    if (strcmp(what, "list") != 0) /* array's words name no type */
      return mp__mgr_fail(c, MP_ETYPE, "TypeError: %s indices must be "
                                       "integers", what);
    return fail_type(c, "TypeError: list indices must be integers or slices, "
                        "not %s", o);
  }
  *out = (ptrdiff_t)v;
  return 0;
}

/* The slice key at i (mp_proxy_slice): 1 with sl filled, 0 when the key
 * is no slice. */
static int slice_arg(mp_method_call *c, size_t i, ptrdiff_t sl[3]) {
  int k = mp__mgr_slice_of(ARG(i), sl);
  if (k < 0)
    return mp__mgr_fail(c, MP_ETYPE, "TypeError: slice indices must be "
                                     "integers or None or have an __index__ "
                                     "method");
  if (k == 1 && sl[2] == 0)
    return mp__mgr_fail(c, MP_EVALUE, "ValueError: slice step cannot be zero");
  return k;
}

/* ---- dict ------------------------------------------------------------------------------ */

static int key_code(mp_method_call *c, int rc, mp_obj *key) {
  if (rc == MP_EKEY)
    return fail_key(c, key);
  if (rc == MP_ETYPE)
    return fail_type(c, "TypeError: unhashable type: '%s'", key);
  return fail_code(c, rc);
}

static int d_getitem(void *self, mp_method_call *c) {
  NARGS(1, 1);
  mp_obj *v;
  int rc = mp_obj_dict_get(self, ARG(0), &v);
  if (rc < 0)
    return key_code(c, rc, ARG(0));
  c->result = mp_obj_ref(v);
  return 0;
}

static int d_get(void *self, mp_method_call *c) {
  NARGS(1, 2);
  mp_obj *v;
  int rc = mp_obj_dict_get(self, ARG(0), &v);
  if (rc == MP_EKEY)
    v = ARG(1) ? ARG(1) : mp_obj_none();
  else if (rc < 0)
    return key_code(c, rc, ARG(0));
  c->result = mp_obj_ref(v);
  return 0;
}

static int d_setitem(void *self, mp_method_call *c) {
  NARGS(2, 2);
  int rc = mp_obj_dict_set(self, ARG(0), ARG(1));
  return rc < 0 ? key_code(c, rc, ARG(0)) : 0;
}

static int d_delitem(void *self, mp_method_call *c) {
  NARGS(1, 1);
  int rc = mp_obj_dict_delete(self, ARG(0));
  return rc < 0 ? key_code(c, rc, ARG(0)) : 0;
}

static int d_contains(void *self, mp_method_call *c) {
  NARGS(1, 1);
  int rc = mp_obj_dict_contains(self, ARG(0));
  if (rc < 0)
    return key_code(c, rc, ARG(0));
  c->result = mp_obj_bool(rc);
  return 0;
}

static int d_len(void *self, mp_method_call *c) {
  NARGS(0, 0);
  return ret_int(c, (int64_t)mp_obj_dict_len(self));
}

static int d_keys(void *self, mp_method_call *c) {
  NARGS(0, 0);
  CHECK(mp_obj_dict_keys(self, &c->result));
  return 0;
}

static int d_values(void *self, mp_method_call *c) {
  NARGS(0, 0);
  CHECK(mp_obj_dict_values(self, &c->result));
  return 0;
}

static int d_items(void *self, mp_method_call *c) {
  NARGS(0, 0);
  CHECK(mp_obj_dict_items(self, &c->result));
  return 0;
}

/* dict(x) and d.update(x) of something that is no mapping or sequence
 * of pairs, in Python's words. */
static int update_code(mp_method_call *c, int rc, mp_obj *arg) {
  mp_obj_type t = mp_obj_get_type(arg);
  if (rc == MP_ETYPE && t != MP_OBJ_LIST && t != MP_OBJ_TUPLE)
    return fail_type(c, "TypeError: '%s' object is not iterable", arg);
  if (rc == MP_ETYPE)
    return mp__mgr_fail(c, rc, "TypeError: cannot convert dictionary update "
                               "sequence element to a sequence");
  if (rc == MP_EVALUE)
    return mp__mgr_fail(c, rc, "ValueError: dictionary update sequence "
                               "element has the wrong length; 2 is required");
  return fail_code(c, rc);
}

static int d_update(void *self, mp_method_call *c) {
  NARGS(0, 1);
  int rc = ARG(0) ? mp_obj_dict_update(self, ARG(0)) : 0;
  if (rc < 0)
    return update_code(c, rc, ARG(0));
  if (c->kwargs) /* d.update(a=1) */
    CHECK(mp_obj_dict_update(self, c->kwargs));
  return 0;
}

static int d_pop(void *self, mp_method_call *c) {
  NARGS(1, 2);
  int rc = mp_obj_dict_pop(self, ARG(0), ARG(1), &c->result);
  return rc < 0 ? key_code(c, rc, ARG(0)) : 0;
}

static int d_popitem(void *self, mp_method_call *c) {
  NARGS(0, 0);
  mp_obj *k, *v;
  int rc = mp_obj_dict_popitem(self, &k, &v);
  if (rc == MP_EKEY)
    return mp__mgr_fail(c, MP_EKEY, "KeyError: 'popitem(): dictionary is empty'");
  CHECK(rc);
  c->result = mp_obj_build("(X X)", k, v);
  return c->result ? 0 : -ENOMEM;
}

static int d_setdefault(void *self, mp_method_call *c) {
  NARGS(1, 2);
  mp_obj *v;
  int rc = mp_obj_dict_setdefault(self, ARG(0), ARG(1), &v);
  if (rc < 0)
    return key_code(c, rc, ARG(0));
  c->result = mp_obj_ref(v);
  return 0;
}

static int d_clear(void *self, mp_method_call *c) {
  NARGS(0, 0);
  CHECK(mp_obj_dict_clear(self));
  return 0;
}

static int d_copy(void *self, mp_method_call *c) {
  NARGS(0, 0);
  c->result = mp_obj_copy(self);
  return c->result ? 0 : -ENOMEM;
}

static int d_create(void *ctx, mp_method_call *c) {
  NARGS(0, 1);
  mp_obj *d = mp_obj_dict_new();
  if (!d)
    return -ENOMEM;
  if (ARG(0)) {
    int rc = mp_obj_dict_update(d, ARG(0));
    if (rc < 0) {
      mp_obj_unref(d);
      return update_code(c, rc, ARG(0));
    }
  }
  c->result = d;
  return 0;
}

static const mp_method_def dict_methods[] = {
    {"__contains__", d_contains, NULL}, {"__delitem__", d_delitem, NULL},
    {"__getitem__", d_getitem, NULL},   {"__len__", d_len, NULL},
    {"__setitem__", d_setitem, NULL},   {"clear", d_clear, NULL},
    {"copy", d_copy, NULL},             {"get", d_get, NULL},
    {"items", d_items, NULL},           {"keys", d_keys, NULL},
    {"pop", d_pop, NULL},               {"popitem", d_popitem, NULL},
    {"setdefault", d_setdefault, NULL}, {"update", d_update, NULL},
    {"values", d_values, NULL},
};

/* ---- list ------------------------------------------------------------------------------ */

/* seq[i] and seq[a:b:s] for a list, or for the list inside an Array
 * (what: "array", whose messages say so). */
static int seq_getitem(mp_obj *seq, mp_method_call *c, const char *what) {
  NARGS(1, 1);
  ptrdiff_t sl[3], i = 0;
  int k = slice_arg(c, 0, sl);
  if (k < 0)
    return k;
  if (k)
    return mp_obj_list_get_slice(seq, sl[0], sl[1], sl[2], &c->result) < 0
               ? -ENOMEM
               : 0;
  CHECK(get_index(c, 0, what, &i));
  mp_obj *v;
  if (mp_obj_list_get(seq, i, &v) < 0)
    return mp__mgr_fail(c, MP_EINDEX, "IndexError: %s index out of range",
                        what);
  c->result = mp_obj_ref(v);
  return 0;
}

static int l_getitem(void *self, mp_method_call *c) {
  return seq_getitem(self, c, "list");
}

static int l_setitem(void *self, mp_method_call *c) {
  NARGS(2, 2);
  ptrdiff_t sl[3], i = 0;
  int k = slice_arg(c, 0, sl);
  if (k < 0)
    return k;
  if (k) {
    mp_obj *items = ARG(1);
    mp_obj_type t = mp_obj_get_type(items);
    if (t != MP_OBJ_LIST && t != MP_OBJ_TUPLE)
      return mp__mgr_fail(c, MP_ETYPE, "TypeError: can only assign an "
                                       "iterable");
    int rc = mp_obj_list_set_slice(self, sl[0], sl[1], sl[2], items);
    if (rc == MP_EVALUE) { /* an extended slice of another size */
      mp_obj *part = NULL;
      mp_obj_list_get_slice(self, sl[0], sl[1], sl[2], &part);
      mp__mgr_fail(c, rc, "ValueError: attempt to assign sequence of size %zu "
                          "to extended slice of size %zu",
                   mp_obj_list_len(items), mp_obj_list_len(part));
      mp_obj_unref(part);
      return rc;
    }
    return rc < 0 ? fail_code(c, rc) : 0;
  }
  CHECK(get_index(c, 0, "list", &i));
  if (mp_obj_list_set(self, i, ARG(1)) < 0)
    return mp__mgr_fail(c, MP_EINDEX, "IndexError: list assignment index out "
                                      "of range");
  return 0;
}

static int l_delitem(void *self, mp_method_call *c) {
  NARGS(1, 1);
  ptrdiff_t sl[3], i = 0;
  int k = slice_arg(c, 0, sl);
  if (k < 0)
    return k;
  if (k)
    return mp_obj_list_del_slice(self, sl[0], sl[1], sl[2]) < 0 ? -ENOMEM : 0;
  CHECK(get_index(c, 0, "list", &i));
  if (mp_obj_list_delete(self, i) < 0)
    return mp__mgr_fail(c, MP_EINDEX, "IndexError: list assignment index out "
                                      "of range");
  return 0;
}

static int l_len(void *self, mp_method_call *c) {
  NARGS(0, 0);
  return ret_int(c, (int64_t)mp_obj_list_len(self));
}

static int l_contains(void *self, mp_method_call *c) {
  NARGS(1, 1);
  size_t pos;
  int rc = mp_obj_list_index(self, ARG(0), &pos);
  if (rc < 0 && rc != MP_EVALUE)
    return fail_code(c, rc);
  c->result = mp_obj_bool(rc == 0);
  return 0;
}

static int l_append(void *self, mp_method_call *c) {
  NARGS(1, 1);
  CHECK(mp_obj_list_append(self, ARG(0)));
  return 0;
}

static int l_extend(void *self, mp_method_call *c) {
  NARGS(1, 1);
  if (mp_obj_list_extend(self, ARG(0)) < 0)
    return fail_type(c, "TypeError: '%s' object is not iterable", ARG(0));
  return 0;
}

static int l_insert(void *self, mp_method_call *c) {
  NARGS(2, 2);
  ptrdiff_t i = 0;
  CHECK(get_index(c, 0, NULL, &i));
  CHECK(mp_obj_list_insert(self, i, ARG(1)));
  return 0;
}

static int l_pop(void *self, mp_method_call *c) {
  NARGS(0, 1);
  ptrdiff_t i = -1;
  if (ARG(0))
    CHECK(get_index(c, 0, NULL, &i));
  int rc = mp_obj_list_pop(self, i, &c->result);
  if (rc == MP_EINDEX)
    return mp__mgr_fail(c, rc, mp_obj_list_len(self) ? "IndexError: pop index "
                                                       "out of range"
                                                     : "IndexError: pop from "
                                                       "empty list");
  CHECK(rc);
  return 0;
}

static int l_remove(void *self, mp_method_call *c) {
  NARGS(1, 1);
  int rc = mp_obj_list_remove(self, ARG(0));
  if (rc == MP_EVALUE)
    return mp__mgr_fail(c, rc, "ValueError: list.remove(x): x not in list");
  CHECK(rc);
  return 0;
}

static int l_index(void *self, mp_method_call *c) {
  NARGS(1, 1);
  size_t pos;
  int rc = mp_obj_list_index(self, ARG(0), &pos);
  if (rc == MP_EVALUE) {
    char *r = NULL;
    mp_obj_repr(ARG(0), &r, NULL);
    mp__mgr_fail(c, rc, "ValueError: %s is not in list", r ? r : "?");
    mp_free(r);
    return rc;
  }
  CHECK(rc);
  return ret_int(c, (int64_t)pos);
}

static int l_count(void *self, mp_method_call *c) {
  NARGS(1, 1);
  size_t n;
  CHECK(mp_obj_list_count(self, ARG(0), &n));
  return ret_int(c, (int64_t)n);
}

static int l_reverse(void *self, mp_method_call *c) {
  NARGS(0, 0);
  CHECK(mp_obj_list_reverse(self));
  return 0;
}

/* Python's TypeError for a list it cannot sort: the first later item that
 * does not compare with an earlier one, as the sort's first comparison of
 * them (later < earlier) reads. */
static int sort_code(mp_method_call *c, int rc, mp_obj *list) {
  size_t n = mp_obj_list_len(list);
  for (size_t j = 1; rc == MP_ETYPE && j < n; j++)
    for (size_t i = 0; i < j; i++) {
      mp_obj *a, *b;
      bool lt;
      mp_obj_list_get(list, (ptrdiff_t)j, &a);
      mp_obj_list_get(list, (ptrdiff_t)i, &b);
      if (mp_obj_less(a, b, &lt) == MP_ETYPE)
        return mp__mgr_fail(c, rc, "TypeError: '<' not supported between "
                                   "instances of '%s' and '%s'",
                            mp_obj_type_name(a), mp_obj_type_name(b));
    }
  return fail_code(c, rc);
}

/* reverse arrives positionally: kwargs.c maps sort(reverse=...) onto it. */
static int l_sort(void *self, mp_method_call *c) {
  NARGS(0, 1);
  int rc = mp_obj_list_sort(self, ARG(0) && mp_obj_truthy(ARG(0)));
  return rc < 0 ? sort_code(c, rc, self) : 0;
}

static int l_create(void *ctx, mp_method_call *c) {
  NARGS(0, 1);
  mp_obj *l = mp_obj_list_new();
  if (!l)
    return -ENOMEM;
  if (ARG(0)) {
    int rc = mp_obj_list_extend(l, ARG(0));
    if (rc < 0) {
      mp_obj_unref(l);
      return fail_type(c, "TypeError: '%s' object is not iterable", ARG(0));
    }
  }
  c->result = l;
  return 0;
}

static const mp_method_def list_methods[] = {
    {"__contains__", l_contains, NULL}, {"__delitem__", l_delitem, NULL},
    {"__getitem__", l_getitem, NULL},   {"__len__", l_len, NULL},
    {"__setitem__", l_setitem, NULL},   {"__iadd__", l_extend, NULL},
    {"append", l_append, NULL},
    {"count", l_count, NULL},           {"extend", l_extend, NULL},
    {"index", l_index, NULL},           {"insert", l_insert, NULL},
    {"pop", l_pop, NULL},               {"remove", l_remove, NULL},
    {"reverse", l_reverse, NULL},       {"sort", l_sort, NULL},
};

/* ---- Namespace --------------------------------------------------------------------------- */

static int ns_name(mp_method_call *c, const char **name) {
  mp_obj *o = ARG(0);
  if (!o || mp_obj_str_value(o, name, NULL) < 0)
    return mp__mgr_fail(c, MP_ETYPE, "TypeError: attribute name must be string");
  return 0;
}

static int ns_get(void *self, mp_method_call *c) {
  NARGS(1, 1);
  const char *name;
  CHECK(ns_name(c, &name));
  mp_obj *v;
  if (mp_obj_dict_get_str(self, name, &v) < 0)
    return mp__mgr_fail(c, MP_EATTR,
                        "AttributeError: 'Namespace' object has no attribute "
                        "'%s'", name);
  c->result = mp_obj_ref(v);
  return 0;
}

static int ns_set(void *self, mp_method_call *c) {
  NARGS(2, 2);
  const char *name;
  CHECK(ns_name(c, &name));
  CHECK(mp_obj_dict_set(self, ARG(0), ARG(1)));
  return 0;
}

static int ns_del(void *self, mp_method_call *c) {
  NARGS(1, 1);
  const char *name;
  CHECK(ns_name(c, &name));
  if (mp_obj_dict_delete(self, ARG(0)) < 0)
    return mp__mgr_fail(c, MP_EATTR,
                        "AttributeError: 'Namespace' object has no attribute "
                        "'%s'", name);
  return 0;
}

static int ns_create(void *ctx, mp_method_call *c) {
  NARGS(0, 1);
  return d_create(ctx, c);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Python's Namespace.__repr__: "Namespace(x=10, y='hello')", the
 * "name=value" parts sorted, names beginning with '_' left out. */
static int ns_repr(void *self, char **out) {
  size_t n = mp_obj_dict_len(self), k = 0, pos = 0, total = 16;
  char **parts = mp__calloc(n ? n : 1, sizeof *parts);
  if (!parts)
    return -ENOMEM;
  mp_obj *key, *val;
  int rc = 0;
  while (rc == 0 && mp_obj_dict_next(self, &pos, &key, &val)) {
    const char *name;
    char *vr = NULL;
    if (mp_obj_str_value(key, &name, NULL) < 0 || name[0] == '_')
      continue;
    rc = mp_obj_repr(val, &vr, NULL);
    if (rc == 0) {
      size_t len = strlen(name) + strlen(vr) + 2;
      parts[k] = mp__malloc(len);
      if (parts[k]) {
        snprintf(parts[k], len, "%s=%s", name, vr);
        total += len + 2;
        k++;
      } else {
        rc = -ENOMEM;
      }
    }
    mp_free(vr);
  }
  qsort(parts, k, sizeof *parts, cmp_str);
  char *s = rc == 0 ? mp__malloc(total) : NULL;
  if (s) {
    size_t at = (size_t)sprintf(s, "Namespace(");
    for (size_t i = 0; i < k; i++)
      at += (size_t)sprintf(s + at, "%s%s", i ? ", " : "", parts[i]);
    sprintf(s + at, ")");
  } else if (rc == 0) {
    rc = -ENOMEM;
  }
  for (size_t i = 0; i < k; i++)
    mp__free(parts[i]);
  mp__free(parts);
  *out = s;
  return rc;
}

static const mp_method_def ns_methods[] = {
    {"__getattribute__", ns_get, NULL},
    {"__setattr__", ns_set, NULL},
    {"__delattr__", ns_del, NULL},
};

/* ---- Value and Array ---------------------------------------------------------------------- */

typedef struct mgr_value {
  char typecode[4];
  mp_obj *v; /* Value: the value; Array: a list */
} mgr_value;

static int typecode_arg(mp_method_call *c, char tc[4]) {
  const char *s;
  size_t len;
  mp_obj *o = ARG(0);
  if (!o || mp_obj_str_value(o, &s, &len) < 0 || len != 1 ||
      !strchr("bBhHiIlLqQfdcu", s[0]))
    return mp__mgr_fail(c, MP_EVALUE,
                        "ValueError: bad typecode (must be b, B, u, h, H, i, "
                        "I, l, L, q, Q, f or d)");
  tc[0] = s[0];
  tc[1] = 0;
  return 0;
}

/* Array's item check: what array.array accepts for the type code. */
static int array_item(mp_method_call *c, char tc, mp_obj *o, mp_obj **out) {
  mp_obj_type t = mp_obj_get_type(o);
  if (tc == 'f' || tc == 'd') {
    double d;
    if (t == MP_OBJ_STR || mp_obj_float_value(o, &d) < 0)
      return mp__mgr_fail(c, MP_ETYPE, "TypeError: must be real number, not %s",
                          mp_obj_type_name(o));
    *out = mp_obj_float(d);
    return *out ? 0 : -ENOMEM;
  }
  if (tc == 'u' || tc == 'c') {
    size_t n;
    if (t != MP_OBJ_STR || mp_obj_len(o, &n) < 0 || n != 1)
      return mp__mgr_fail(c, MP_ETYPE, "TypeError: array item must be a "
                                       "unicode character");
    *out = mp_obj_ref(o);
    return 0;
  }
  int64_t v;
  if (t != MP_OBJ_INT && t != MP_OBJ_BOOL)
    return mp__mgr_fail(c, MP_ETYPE, "TypeError: 'float' object cannot be "
                                     "interpreted as an integer");
  mp_obj_int_value(o, &v);
  int64_t lo = INT64_MIN, hi = INT64_MAX;
  switch (tc) {
  case 'b': lo = -128; hi = 127; break;
  case 'B': lo = 0; hi = 255; break;
  case 'h': lo = -32768; hi = 32767; break;
  case 'H': lo = 0; hi = 65535; break;
  case 'i': lo = INT32_MIN; hi = INT32_MAX; break;
  case 'I': lo = 0; hi = UINT32_MAX; break;
  case 'L': case 'Q': lo = 0; break;
  }
  if (v < lo || v > hi)
    return mp__mgr_fail(c, MP_EVALUE, "OverflowError: value out of range for "
                                      "typecode '%c'", tc);
  *out = mp_obj_int(v);
  return *out ? 0 : -ENOMEM;
}

static void value_destroy(void *ref) {
  mgr_value *v = ref;
  mp_obj_unref(v->v);
  mp__free(v);
}

static int value_create(void *ctx, mp_method_call *c) {
  NARGS(2, 3);
  mgr_value *v = mp__calloc(1, sizeof *v);
  if (!v)
    return -ENOMEM;
  int rc = typecode_arg(c, v->typecode);
  if (rc < 0) {
    mp__free(v);
    return rc;
  }
  v->v = mp_obj_ref(ARG(1));
  c->referent = v;
  return 0;
}

static int value_get(void *self, mp_method_call *c) {
  NARGS(0, 0);
  c->result = mp_obj_ref(((mgr_value *)self)->v);
  return 0;
}

static int value_set(void *self, mp_method_call *c) {
  NARGS(1, 1);
  mgr_value *v = self;
  mp_obj *old = v->v;
  v->v = mp_obj_ref(ARG(0));
  mp_obj_unref(old);
  return 0;
}

static int value_repr(void *self, char **out) {
  mgr_value *v = self;
  char *r = NULL;
  int rc = mp_obj_repr(v->v, &r, NULL);
  if (rc < 0)
    return rc;
  size_t n = strlen(r) + 32;
  *out = mp__malloc(n);
  if (*out)
    snprintf(*out, n, "Value('%s', %s)", v->typecode, r);
  mp_free(r);
  return *out ? 0 : -ENOMEM;
}

static const mp_method_def value_methods[] = {
    {"get", value_get, NULL},
    {"set", value_set, NULL},
    {"#GETVALUE", value_get, NULL},
};

static int array_create(void *ctx, mp_method_call *c) {
  NARGS(2, 3);
  mgr_value *a = mp__calloc(1, sizeof *a);
  if (!a)
    return -ENOMEM;
  int rc = typecode_arg(c, a->typecode);
  mp_obj *seq = ARG(1);
  mp_obj_type t = mp_obj_get_type(seq);
  if (rc == 0 && t == MP_OBJ_INT) { /* Array('i', 10): ten zeros */
    int64_t n;
    mp_obj_int_value(seq, &n);
    if (n < 0 || n > (1 << 24))
      rc = mp__mgr_fail(c, MP_EVALUE, "ValueError: bad array size");
    a->v = rc == 0 ? mp_obj_list_new() : NULL;
    for (int64_t i = 0; a->v && rc == 0 && i < n; i++)
      rc = mp_obj_list_append_steal(
          a->v, strchr("fd", a->typecode[0]) ? mp_obj_float(0) : mp_obj_int(0));
  } else if (rc == 0 && (t == MP_OBJ_LIST || t == MP_OBJ_TUPLE)) {
    a->v = mp_obj_list_new();
    size_t n = mp_obj_list_len(seq);
    for (size_t i = 0; a->v && rc == 0 && i < n; i++) {
      mp_obj *it, *conv;
      mp_obj_list_get(seq, (ptrdiff_t)i, &it);
      rc = array_item(c, a->typecode[0], it, &conv);
      if (rc == 0)
        rc = mp_obj_list_append_steal(a->v, conv);
    }
  } else if (rc == 0) {
    rc = mp__mgr_fail(c, MP_ETYPE, "TypeError: Array needs a sequence or a size");
  }
  if (rc == 0 && !a->v)
    rc = -ENOMEM;
  if (rc < 0) {
    value_destroy(a);
    return rc;
  }
  c->referent = a;
  return 0;
}

static int array_len(void *self, mp_method_call *c) {
  NARGS(0, 0);
  return ret_int(c, (int64_t)mp_obj_list_len(((mgr_value *)self)->v));
}

static int array_getitem(void *self, mp_method_call *c) {
  return seq_getitem(((mgr_value *)self)->v, c, "array");
}

static int array_setitem(void *self, mp_method_call *c) {
  NARGS(2, 2);
  mgr_value *a = self;
  ptrdiff_t i = 0, sl[3];
  if (mp__mgr_slice_of(ARG(0), sl) != 0)
    return fail_type(c, "TypeError: can only assign array (not \"%s\") to "
                        "array slice", ARG(1));
  CHECK(get_index(c, 0, "array", &i));
  mp_obj *conv;
  CHECK(array_item(c, a->typecode[0], ARG(1), &conv));
  if (mp_obj_list_set_steal(a->v, i, conv) < 0)
    return mp__mgr_fail(c, MP_EINDEX, "IndexError: array assignment index out "
                                      "of range");
  return 0;
}

static int array_tolist(void *self, mp_method_call *c) {
  NARGS(0, 0);
  c->result = mp_obj_copy(((mgr_value *)self)->v);
  return c->result ? 0 : -ENOMEM;
}

static int array_repr(void *self, char **out) {
  mgr_value *a = self;
  char *r = NULL;
  int rc = mp_obj_repr(a->v, &r, NULL);
  if (rc < 0)
    return rc;
  size_t n = strlen(r) + 32;
  *out = mp__malloc(n);
  if (*out) {
    if (mp_obj_list_len(a->v))
      snprintf(*out, n, "array('%s', %s)", a->typecode, r);
    else
      snprintf(*out, n, "array('%s')", a->typecode);
  }
  mp_free(r);
  return *out ? 0 : -ENOMEM;
}

static const mp_method_def array_methods[] = {
    {"__len__", array_len, NULL},         {"__getitem__", array_getitem, NULL},
    {"__setitem__", array_setitem, NULL}, {"tolist", array_tolist, NULL},
    {"#GETVALUE", array_tolist, NULL},
};

/* ---- The table --------------------------------------------------------------------------- */

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define OBJ (MP_TYPE_OBJ | MGR_TYPE_ALL_EXPOSED)

const mp_type_def mp__mgr_obj_types[] = {
    {.type_id = "dict", .create = d_create, .methods = dict_methods,
     .n_methods = N(dict_methods), .proxytype = "DictProxy", .flags = OBJ},
    {.type_id = "list", .create = l_create, .methods = list_methods,
     .n_methods = N(list_methods), .proxytype = "ListProxy", .flags = OBJ},
    {.type_id = "Namespace", .create = ns_create, .repr = ns_repr,
     .methods = ns_methods, .n_methods = N(ns_methods),
     .proxytype = "NamespaceProxy", .flags = OBJ},
    {.type_id = "Value", .create = value_create, .destroy = value_destroy,
     .repr = value_repr, .methods = value_methods, .n_methods = N(value_methods),
     .proxytype = "ValueProxy", .flags = MGR_TYPE_ALL_EXPOSED},
    {.type_id = "Array", .create = array_create, .destroy = value_destroy,
     .repr = array_repr, .methods = array_methods, .n_methods = N(array_methods),
     .proxytype = "ArrayProxy", .flags = MGR_TYPE_ALL_EXPOSED},
};
const size_t mp__mgr_n_obj_types = N(mp__mgr_obj_types);
