/* repr.c: Python's repr() and str() of an mp_obj, character for character,
 * so that a C example prints what its Python twin prints. Floats take the
 * shortest decimal form that reads back to the same double (Python's 'r'
 * format), found by trying precisions with printf and strtod; strings follow
 * unicode_repr (quote choice, escapes, printable non-ASCII kept as is, by
 * Python's own table in unicode_table.c); containers that contain
 * themselves print as [...] like Py_ReprEnter does. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obj_internal.h"

/* ---- Floats --------------------------------------------------------------- */

/* Parses printf's "%.*e" output into its digits and decimal point position
 * (value = 0.DIGITS * 10**decpt); returns the number of digits. */
static int parse_e(const char *s, char *digits, int *decpt) {
  int n = 0;
  if (*s == '-')
    s++;
  for (; *s && *s != 'e'; s++) {
    if (*s >= '0' && *s <= '9')
      digits[n++] = *s;
  }
  *decpt = atoi(s + 1) + 1;
  while (n > 1 && digits[n - 1] == '0')
    n--;
  digits[n] = 0;
  return n;
}

static bool reads_back(const char *digits, int decpt, bool neg, double v) {
  char buf[48];
  snprintf(buf, sizeof buf, "%s0.%se%d", neg ? "-" : "", digits, decpt);
  return strtod(buf, NULL) == v;
}

/* Adds delta (+1/-1) to the last of n digits, carrying; may change decpt. */
static int nudge(char *digits, int n, int *decpt, int delta) {
  int i = n - 1;
  if (delta > 0) {
    while (i >= 0 && digits[i] == '9')
      digits[i--] = '0';
    if (i < 0) { /* 999 -> 1000 */
      memmove(digits + 1, digits, (size_t)n + 1);
      digits[0] = '1';
      (*decpt)++;
      n++;
    } else {
      digits[i]++;
    }
  } else {
    while (i >= 0 && digits[i] == '0')
      digits[i--] = '9';
    if (i < 0)
      return 0;
    digits[i]--;
    if (digits[0] == '0') { /* 1000 -> 0999 -> 999 */
      memmove(digits, digits + 1, (size_t)n);
      (*decpt)--;
      n--;
    }
  }
  while (n > 1 && digits[n - 1] == '0')
    n--;
  digits[n] = 0;
  return n;
}

/* The shortest digits that read back as v (finite, non-zero). The correctly
 * rounded p-digit form is the one to try, except when v is a power of two:
 * its rounding interval is narrower below, so a p-digit neighbour above may
 * read back when the nearest form (below) does not. */
static int shortest(double v, char *digits, int *decpt) {
  bool neg = v < 0;
  for (int p = 1; p <= 17; p++) {
    char buf[48];
    snprintf(buf, sizeof buf, "%.*e", p - 1, v);
    int n = parse_e(buf, digits, decpt);
    if (reads_back(digits, *decpt, neg, v))
      return n;
    for (int delta = 1; delta >= -1; delta -= 2) {
      char alt[32];
      int adecpt = *decpt;
      memcpy(alt, digits, (size_t)n + 1);
      while ((int)strlen(alt) < p) /* restore the zeros parse_e trimmed */
        strcat(alt, "0");
      int an = nudge(alt, p, &adecpt, delta);
      if (an && an <= p && reads_back(alt, adecpt, neg, v)) {
        memcpy(digits, alt, (size_t)an + 1);
        *decpt = adecpt;
        return an;
      }
    }
  }
  char buf[48]; /* not reached: 17 digits always read back */
  snprintf(buf, sizeof buf, "%.16e", v);
  return parse_e(buf, digits, decpt);
}

static void repr_float(mp__sbuf *b, double v) {
  if (isnan(v)) {
    mp__sbuf_adds(b, "nan");
    return;
  }
  if (isinf(v)) {
    mp__sbuf_adds(b, v > 0 ? "inf" : "-inf");
    return;
  }
  if (v == 0) {
    mp__sbuf_adds(b, signbit(v) ? "-0.0" : "0.0");
    return;
  }
  char d[32];
  int decpt, n = shortest(v, d, &decpt);
  if (v < 0)
    mp__sbuf_addc(b, '-');
  if (decpt <= -4 || decpt > 16) { /* Python's switch to exponent form */
    mp__sbuf_addc(b, d[0]);
    if (n > 1) {
      mp__sbuf_addc(b, '.');
      mp__sbuf_add(b, d + 1, (size_t)n - 1);
    }
    int e = decpt - 1;
    mp__sbuf_addf(b, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
  } else if (decpt <= 0) {
    mp__sbuf_adds(b, "0.");
    for (int i = 0; i < -decpt; i++)
      mp__sbuf_addc(b, '0');
    mp__sbuf_add(b, d, (size_t)n);
  } else if (decpt < n) {
    mp__sbuf_add(b, d, (size_t)decpt);
    mp__sbuf_addc(b, '.');
    mp__sbuf_add(b, d + decpt, (size_t)(n - decpt));
  } else {
    mp__sbuf_add(b, d, (size_t)n);
    for (int i = n; i < decpt; i++)
      mp__sbuf_addc(b, '0');
    mp__sbuf_adds(b, ".0");
  }
}

/* ---- Strings and bytes ------------------------------------------------------- */

/* Python's choice: single quotes unless the text has ' and no ". */
static char pick_quote(const char *s, size_t n) {
  return memchr(s, '\'', n) && !memchr(s, '"', n) ? '"' : '\'';
}

/* The escapes str and bytes share; returns false for other characters. */
static bool add_common_escape(mp__sbuf *b, uint32_t c, char quote) {
  if (c == (uint32_t)quote || c == '\\') {
    mp__sbuf_addc(b, '\\');
    mp__sbuf_addc(b, (char)c);
  } else if (c == '\t') {
    mp__sbuf_adds(b, "\\t");
  } else if (c == '\n') {
    mp__sbuf_adds(b, "\\n");
  } else if (c == '\r') {
    mp__sbuf_adds(b, "\\r");
  } else if (c < ' ' || c == 0x7f) {
    mp__sbuf_addf(b, "\\x%02x", (unsigned)c);
  } else {
    return false;
  }
  return true;
}

static void repr_str(mp__sbuf *b, const char *s, size_t n) {
  char quote = pick_quote(s, n);
  mp__sbuf_addc(b, quote);
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < n) {
    uint32_t c;
    size_t k = mp__utf8_decode(p + i, n - i, &c);
    if (!k) { /* not reached: str holds valid UTF-8 */
      c = p[i];
      k = 1;
    }
    if (add_common_escape(b, c, quote)) {
    } else if (c < 0x7f || mp__unicode_printable(c)) {
      mp__sbuf_add(b, p + i, k);
    } else if (c <= 0xff) {
      mp__sbuf_addf(b, "\\x%02x", (unsigned)c);
    } else if (c <= 0xffff) {
      mp__sbuf_addf(b, "\\u%04x", (unsigned)c);
    } else {
      mp__sbuf_addf(b, "\\U%08x", (unsigned)c);
    }
    i += k;
  }
  mp__sbuf_addc(b, quote);
}

static void repr_bytes(mp__sbuf *b, const char *s, size_t n) {
  char quote = pick_quote(s, n);
  mp__sbuf_addc(b, 'b');
  mp__sbuf_addc(b, quote);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (add_common_escape(b, c, quote)) {
    } else if (c < 0x7f) {
      mp__sbuf_addc(b, (char)c);
    } else {
      mp__sbuf_addf(b, "\\x%02x", c);
    }
  }
  mp__sbuf_addc(b, quote);
}

/* ---- Any object ------------------------------------------------------------------ */

/* The containers being printed, outermost first: one seen again is a cycle. */
typedef struct repr_ctx {
  mp__sbuf b;
  const mp_obj *open[MP_OBJ_MAX_DEPTH + 1];
  int depth;
} repr_ctx;

static int repr(repr_ctx *c, const mp_obj *o);

/* set() / {1, 2} / frozenset() / frozenset({1, 2}). Items are hashable, so
 * no set holds itself: no cycle check, only the depth. */
static int repr_set(repr_ctx *c, const mp_obj *o) {
  mp__sbuf *b = &c->b;
  bool frozen = o->type == MP_OBJ_FROZENSET;
  if (!o->u.d.len) {
    mp__sbuf_adds(b, frozen ? "frozenset()" : "set()");
    return 0;
  }
  if (c->depth > MP_OBJ_MAX_DEPTH)
    return MP_EVALUE;
  c->open[c->depth++] = o;
  mp__sbuf_adds(b, frozen ? "frozenset({" : "{");
  size_t pos = 0, i = 0;
  mp_obj *item;
  int r = 0;
  while (r == 0 && mp_obj_set_next(o, &pos, &item)) {
    if (i++)
      mp__sbuf_adds(b, ", ");
    r = repr(c, item);
  }
  mp__sbuf_adds(b, frozen ? "})" : "}");
  c->depth--;
  return r;
}

/* A Python object's recipe (pickle.h) as Python prints the usual ones: an
 * exception KeyError('x') as name(args...), a bare global as its class
 * <class 'module.name'>. Items: module, name, args (None: a bare global),
 * state. */
static int repr_pyobj(repr_ctx *c, const mp_obj *o) {
  mp__sbuf *b = &c->b;
  const mp_obj *module = o->u.seq.items[0], *name = o->u.seq.items[1];
  const mp_obj *args = o->u.seq.items[2];
  if (args->type != MP_OBJ_TUPLE) {
    mp__sbuf_addf(b, "<class '%s.%s'>", module->u.s.data, name->u.s.data);
    return 0;
  }
  if (c->depth > MP_OBJ_MAX_DEPTH)
    return MP_EVALUE;
  c->open[c->depth++] = o;
  mp__sbuf_add(b, name->u.s.data, name->u.s.len);
  mp__sbuf_addc(b, '(');
  int r = 0;
  for (size_t i = 0; r == 0 && i < args->u.seq.len; i++) {
    if (i)
      mp__sbuf_adds(b, ", ");
    r = repr(c, args->u.seq.items[i]);
  }
  mp__sbuf_addc(b, ')');
  c->depth--;
  return r;
}

static int repr(repr_ctx *c, const mp_obj *o) {
  mp__sbuf *b = &c->b;
  switch (o->type) {
  case MP_OBJ_NONE: mp__sbuf_adds(b, "None"); return 0;
  case MP_OBJ_BOOL: mp__sbuf_adds(b, o->u.b ? "True" : "False"); return 0;
  case MP_OBJ_INT: mp__sbuf_addf(b, "%lld", (long long)o->u.i); return 0;
  case MP_OBJ_FLOAT: repr_float(b, o->u.f); return 0;
  case MP_OBJ_STR: repr_str(b, o->u.s.data, o->u.s.len); return 0;
  case MP_OBJ_BYTES: repr_bytes(b, o->u.s.data, o->u.s.len); return 0;
  case MP_OBJ_BYTEARRAY:
    mp__sbuf_adds(b, "bytearray(");
    repr_bytes(b, o->u.s.data, o->u.s.len);
    mp__sbuf_addc(b, ')');
    return 0;
  case MP_OBJ_EXT: /* Python's msgpack.ExtType namedtuple */
    mp__sbuf_addf(b, "ExtType(code=%d, data=", o->code);
    repr_bytes(b, o->u.s.data, o->u.s.len);
    mp__sbuf_addc(b, ')');
    return 0;
  default: break;
  }
  if (mp__obj_is_set(o))
    return repr_set(c, o);
  if (o->type == MP_OBJ_PYOBJ)
    return repr_pyobj(c, o);
  const char *brackets = o->type == MP_OBJ_LIST    ? "[]"
                         : o->type == MP_OBJ_TUPLE ? "()"
                                                   : "{}";
  for (int i = 0; i < c->depth; i++) {
    if (c->open[i] == o) {
      mp__sbuf_addc(b, brackets[0]);
      mp__sbuf_adds(b, "...");
      mp__sbuf_addc(b, brackets[1]);
      return 0;
    }
  }
  if (c->depth > MP_OBJ_MAX_DEPTH)
    return MP_EVALUE;
  c->open[c->depth++] = o;
  mp__sbuf_addc(b, brackets[0]);
  int r = 0;
  if (o->type == MP_OBJ_DICT) {
    size_t pos = 0, i = 0;
    mp_obj *k, *v;
    while (r == 0 && mp_obj_dict_next(o, &pos, &k, &v)) {
      if (i++)
        mp__sbuf_adds(b, ", ");
      r = repr(c, k);
      mp__sbuf_adds(b, ": ");
      if (r == 0)
        r = repr(c, v);
    }
  } else {
    for (size_t i = 0; r == 0 && i < o->u.seq.len; i++) {
      if (i)
        mp__sbuf_adds(b, ", ");
      r = repr(c, o->u.seq.items[i]);
    }
    if (o->type == MP_OBJ_TUPLE && o->u.seq.len == 1)
      mp__sbuf_addc(b, ',');
  }
  mp__sbuf_addc(b, brackets[1]);
  c->depth--;
  return r;
}

static int format(const mp_obj *o, bool as_str, char **out, size_t *len) {
  if (!o || !out)
    return -EINVAL;
  repr_ctx *c = mp__malloc(sizeof *c);
  if (!c)
    return -ENOMEM;
  memset(&c->b, 0, sizeof c->b);
  c->depth = 0;
  int r = 0;
  if (as_str && o->type == MP_OBJ_STR)
    mp__sbuf_add(&c->b, o->u.s.data, o->u.s.len);
  else
    r = repr(c, o);
  mp__sbuf b = c->b;
  mp__free(c);
  if (r < 0) {
    mp__free(b.data);
    return r;
  }
  return mp__sbuf_finish(&b, out, len);
}

MP_EXPORT int mp_obj_repr(const mp_obj *o, char **out, size_t *len) {
  return format(o, false, out, len);
}

MP_EXPORT int mp_obj_to_string(const mp_obj *o, char **out, size_t *len) {
  return format(o, true, out, len);
}

MP_EXPORT int mp_obj_print(const mp_obj *o, FILE *f) {
  if (!f)
    return -EINVAL;
  char *s;
  size_t n;
  int r = format(o, true, &s, &n);
  if (r < 0)
    return r;
  bool ok = fwrite(s, 1, n, f) == n && fputc('\n', f) != EOF;
  mp__free(s);
  return ok ? 0 : -EIO;
}
