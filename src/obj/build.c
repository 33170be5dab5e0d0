/* build.c: mp_obj_build, Python's Py_BuildValue for mp_obj: a format string
 * of one-letter units and brackets makes a nested value in one call (the
 * units are documented in mproc/obj.h). A recursive-descent parser walks
 * the format once; after a failure it keeps walking without building, so
 * that every argument is consumed and every stolen (X) reference dropped. */
#include <limits.h>
#include <string.h>

#include "obj_internal.h"

typedef struct builder {
  const char *f;
  va_list ap;
  int err; /* first failure; once set, values are consumed, not built */
} builder;

static void skip_separators(builder *b) {
  while (*b->f == ' ' || *b->f == ',' || *b->f == ':' || *b->f == '\t' ||
         *b->f == '\n')
    b->f++;
}

static void fail(builder *b, int err) {
  if (!b->err)
    b->err = err;
}

/* A constructed object, or the failure that made it NULL. */
static mp_obj *made(builder *b, mp_obj *o) {
  if (!o)
    fail(b, mp__obj_null_err());
  return o;
}

static mp_obj *unit(builder *b);

/* Units up to `close` into a list, a tuple or (pairs) a dict. */
static mp_obj *container(builder *b, char close, mp_obj_type type) {
  mp_obj *items = b->err ? NULL : made(b, mp_obj_list_new());
  for (;;) {
    skip_separators(b);
    if (*b->f == close) {
      b->f++;
      break;
    }
    if (!*b->f || *b->f == ']' || *b->f == ')' || *b->f == '}') {
      fail(b, -EINVAL); /* unbalanced: stop here, arguments unknown */
      mp_obj_unref(items);
      return NULL;
    }
    mp_obj *o = unit(b);
    if (b->err)
      mp_obj_unref(o);
    else if (mp__list_append_steal(items, o) < 0)
      fail(b, -ENOMEM);
  }
  if (b->err) {
    mp_obj_unref(items);
    return NULL;
  }
  if (type == MP_OBJ_LIST)
    return items;
  mp_obj *out = NULL;
  size_t n = items->u.seq.len;
  if (type == MP_OBJ_TUPLE) { /* hand the items array over to the tuple */
    out = made(b, mp__obj_alloc_seq(MP_OBJ_TUPLE, 0, 0));
    if (out) {
      out->u.seq.items = items->u.seq.items;
      out->u.seq.len = out->u.seq.cap = n;
      items->u.seq.items = NULL;
      items->u.seq.len = items->u.seq.cap = 0;
    }
  } else if (n % 2) {
    fail(b, -EINVAL); /* a key without a value */
  } else if ((out = made(b, mp_obj_dict_new()))) {
    for (size_t i = 0; i < n && !b->err; i += 2) {
      int r = mp_obj_dict_set(out, items->u.seq.items[i],
                              items->u.seq.items[i + 1]);
      if (r < 0)
        fail(b, r);
    }
    if (b->err) {
      mp_obj_unref(out);
      out = NULL;
    }
  }
  mp_obj_unref(items);
  return out;
}

/* One unit: consumes its arguments; builds unless a failure came first. */
static mp_obj *unit(builder *b) {
  char c = *b->f++;
  bool len_given = *b->f == '#';
  if (len_given && (c == 's' || c == 'y'))
    b->f++;
  bool build = !b->err;
  switch (c) {
  case '[': return container(b, ']', MP_OBJ_LIST);
  case '(': return container(b, ')', MP_OBJ_TUPLE);
  case '{': return container(b, '}', MP_OBJ_DICT);
  case 'N': return mp_obj_none();
  case 'b': return mp_obj_bool(va_arg(b->ap, int) != 0);
  case 'i': {
    int v = va_arg(b->ap, int);
    return build ? made(b, mp_obj_int(v)) : NULL;
  }
  case 'l': {
    long v = va_arg(b->ap, long);
    return build ? made(b, mp_obj_int(v)) : NULL;
  }
  case 'L': {
    long long v = va_arg(b->ap, long long);
    return build ? made(b, mp_obj_int(v)) : NULL;
  }
  case 'K': {
    unsigned long long v = va_arg(b->ap, unsigned long long);
    if (build && v > INT64_MAX)
      fail(b, MP_EVALUE);
    return b->err ? NULL : made(b, mp_obj_int((int64_t)v));
  }
  case 'f':
  case 'd': {
    double v = va_arg(b->ap, double);
    return build ? made(b, mp_obj_float(v)) : NULL;
  }
  case 's':
  case 'y': {
    const char *s = va_arg(b->ap, const char *);
    size_t n = len_given ? va_arg(b->ap, size_t) : (s ? strlen(s) : 0);
    if (!build)
      return NULL;
    if (!s && c == 's')
      return mp_obj_none();
    return made(b, c == 's' ? mp_obj_strn(s, n) : mp_obj_bytes(s, n));
  }
  case 'O':
  case 'X': {
    mp_obj *o = va_arg(b->ap, mp_obj *);
    if (!o)
      fail(b, -EINVAL);
    else if (c == 'O')
      mp__obj_ref(o);
    if (b->err) {
      mp_obj_unref(o);
      return NULL;
    }
    return o;
  }
  default:
    fail(b, -EINVAL);
    b->f += strlen(b->f); /* the rest of the format cannot be trusted */
    return NULL;
  }
}

MP_EXPORT mp_obj *mp_obj_buildv(const char *fmt, va_list ap) {
  if (!fmt) {
    errno = EINVAL;
    return NULL;
  }
  builder b = {.f = fmt, .err = 0};
  va_copy(b.ap, ap);
  mp_obj *items = mp_obj_list_new(); /* the top-level units */
  if (!items)
    b.err = -ENOMEM;
  for (;;) {
    skip_separators(&b);
    if (!*b.f)
      break;
    if (*b.f == ']' || *b.f == ')' || *b.f == '}') {
      fail(&b, -EINVAL);
      break;
    }
    mp_obj *o = unit(&b);
    if (b.err)
      mp_obj_unref(o);
    else if (mp__list_append_steal(items, o) < 0)
      fail(&b, -ENOMEM);
  }
  va_end(b.ap);
  mp_obj *out = NULL;
  if (!b.err) {
    size_t n = items->u.seq.len;
    if (n == 0)
      out = mp_obj_none();
    else if (n == 1)
      out = mp__obj_ref(items->u.seq.items[0]);
    else if ((out = mp__obj_alloc_seq(MP_OBJ_TUPLE, 0, n))) {
      for (size_t i = 0; i < n; i++)
        out->u.seq.items[i] = mp__obj_ref(items->u.seq.items[i]);
      out->u.seq.len = n;
    } else {
      b.err = -ENOMEM;
    }
  }
  mp_obj_unref(items);
  if (b.err)
    errno = -b.err;
  return out;
}

MP_EXPORT mp_obj *mp_obj_build(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mp_obj *o = mp_obj_buildv(fmt, ap);
  va_end(ap);
  return o;
}
