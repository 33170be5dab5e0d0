/* pickle_text.c: the arguments of pickle's text and string opcodes, for
 * the decoder (pickle_dec.c): UTF-8 str (BINUNICODE...), protocol 0's
 * raw-unicode-escape (UNICODE) and quoted literals (STRING), Python 2 str
 * as ASCII, and numbers: LONG1/LONG4's two's complement bytes and INT,
 * LONG and FLOAT's decimal text. Each refuses what an mp_obj cannot hold
 * (a lone surrogate, an int beyond int64) with MP_EDECODE and a message. */
#include <stdlib.h>
#include <string.h>

#include "pickle_internal.h"

/* ---- Strings ------------------------------------------------------------------ */

int mp__pk_utf8_str(mp__arena *a, const char *s, size_t n, mp_obj **out) {
  if (!mp__utf8_valid(s, n))
    return mp__pk_fail("str is not valid UTF-8 (a lone surrogate?)");
  *out = a ? mp__arena_str(a, MP_OBJ_STR, n) : mp__obj_alloc_str(MP_OBJ_STR, n);
  if (!*out)
    return -ENOMEM;
  memcpy((*out)->u.s.data, s, n);
  return 0;
}

/* Appends code point c as UTF-8; false for a surrogate or beyond U+10FFFF. */
static bool put_utf8(mp__sbuf *b, uint32_t c) {
  char u[4];
  size_t n;
  if ((c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF)
    return false;
  if (c < 0x80) {
    u[0] = (char)c, n = 1;
  } else if (c < 0x800) {
    u[0] = (char)(0xC0 | c >> 6), u[1] = (char)(0x80 | (c & 0x3F)), n = 2;
  } else if (c < 0x10000) {
    u[0] = (char)(0xE0 | c >> 12), u[1] = (char)(0x80 | ((c >> 6) & 0x3F));
    u[2] = (char)(0x80 | (c & 0x3F)), n = 3;
  } else {
    u[0] = (char)(0xF0 | c >> 18), u[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    u[2] = (char)(0x80 | ((c >> 6) & 0x3F)), u[3] = (char)(0x80 | (c & 0x3F));
    n = 4;
  }
  mp__sbuf_add(b, u, n);
  return true;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c |= 0x20;
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Reads n hex digits at s[*i..]; -1 when they are not there. */
static int64_t hex_at(const char *s, size_t len, size_t *i, int n) {
  if (len - *i < (size_t)n)
    return -1;
  int64_t v = 0;
  for (int k = 0; k < n; k++) {
    int h = hexval((unsigned char)s[*i + k]);
    if (h < 0)
      return -1;
    v = v * 16 + h;
  }
  *i += (size_t)n;
  return v;
}

static int sbuf_str(mp__sbuf *b, mp_obj **out) {
  int r = b->err;
  if (r == 0) {
    *out = mp__obj_alloc_str(MP_OBJ_STR, b->len);
    if (!*out)
      r = -ENOMEM;
    else if (b->len)
      memcpy((*out)->u.s.data, b->data, b->len);
  }
  mp__free(b->data);
  return r;
}

/* UNICODE's raw-unicode-escape: bytes are Latin-1 code points; \uXXXX and
 * \UXXXXXXXX after an odd number of backslashes are escapes. */
int mp__pk_raw_unicode(const char *s, size_t n, mp_obj **out) {
  mp__sbuf b = {0};
  size_t i = 0;
  while (i < n && b.err == 0) {
    unsigned char c = (unsigned char)s[i];
    if (c != '\\') {
      put_utf8(&b, c);
      i++;
      continue;
    }
    size_t run = 0;
    while (i < n && s[i] == '\\')
      run++, i++;
    bool esc = (run & 1) && i < n && (s[i] == 'u' || s[i] == 'U');
    for (size_t k = 0; k < run - esc; k++)
      mp__sbuf_addc(&b, '\\');
    if (!esc)
      continue;
    int digits = s[i++] == 'u' ? 4 : 8;
    int64_t cp = hex_at(s, n, &i, digits);
    if (cp < 0 || !put_utf8(&b, (uint32_t)cp)) {
      mp__free(b.data);
      return mp__pk_fail(cp < 0 ? "truncated \\uXXXX escape" : "str with a surrogate");
    }
  }
  return sbuf_str(&b, out);
}

/* A Python 2 str: decoded as ASCII, Python 3's default (encoding='ASCII'). */
int mp__pk_ascii_str(const char *s, size_t n, mp_obj **out) {
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] >= 0x80)
      return mp__pk_fail("a Python 2 str that is not ASCII");
  return mp__pk_utf8_str(NULL, s, n, out);
}

/* STRING's argument: a quoted literal with Python's escapes. */
int mp__pk_quoted_string(const char *s, size_t n, mp_obj **out) {
  if (n < 2 || (s[0] != '\'' && s[0] != '"') || s[n - 1] != s[0])
    return mp__pk_fail("the STRING opcode argument must be quoted");
  s++, n -= 2;
  mp__sbuf b = {0};
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c != '\\' || i + 1 == n) {
      mp__sbuf_addc(&b, c);
      continue;
    }
    c = s[++i];
    static const char from[] = "\\'\"abfnrtv", to[] = "\\'\"\a\b\f\n\r\t\v";
    const char *k = strchr(from, c);
    if (c && k) {
      mp__sbuf_addc(&b, to[k - from]);
    } else if (c == '\n') {
    } else if (c == 'x') {
      i++;
      int64_t v = hex_at(s, n, &i, 2);
      if (v < 0) {
        mp__free(b.data);
        return mp__pk_fail("invalid \\x escape in STRING");
      }
      mp__sbuf_addc(&b, (char)v);
      i--;
    } else if (c >= '0' && c <= '7') {
      int v = 0, digits = 0;
      while (digits < 3 && i < n && s[i] >= '0' && s[i] <= '7')
        v = v * 8 + (s[i++] - '0'), digits++;
      mp__sbuf_addc(&b, (char)v);
      i--;
    } else {
      mp__sbuf_addc(&b, '\\');
      mp__sbuf_addc(&b, c);
    }
  }
  if (b.err) {
    mp__free(b.data);
    return b.err;
  }
  int r = mp__pk_ascii_str(b.data ? b.data : "", b.len, out);
  mp__free(b.data);
  return r;
}

/* ---- Numbers -------------------------------------------------------------------- */

/* LONG1 / LONG4's little-endian two's complement bytes. */
int mp__pk_long_bytes(const unsigned char *p, size_t n, mp_obj **out) {
  if (n > 8) { /* beyond int64, unless it is only sign extension */
    for (size_t i = 8; i < n; i++)
      if (p[i] != ((p[7] & 0x80) ? 0xff : 0x00))
        return mp__pk_fail("int does not fit in 64 bits");
    n = 8;
  }
  uint64_t v = n ? mp__pk_le(p, (int)n) : 0;
  if (n && n < 8 && (p[n - 1] & 0x80))
    v |= ~(uint64_t)0 << (8 * n); /* sign-extend */
  *out = mp_obj_int((int64_t)v);
  return *out ? 0 : -ENOMEM;
}

/* INT and LONG's decimal text (LONG's may end in 'L'); "00"/"01" are
 * protocol 0's False and True. */
int mp__pk_text_int(const char *s, size_t n, bool is_long, mp_obj **out) {
  if (!is_long && n == 2 && s[0] == '0' && (s[1] == '0' || s[1] == '1')) {
    *out = mp_obj_bool(s[1] == '1');
    return 0;
  }
  if (is_long && n && s[n - 1] == 'L')
    n--;
  char buf[32];
  if (n == 0 || n >= sizeof buf)
    return mp__pk_fail(n ? "int does not fit in 64 bits" : "empty INT/LONG");
  memcpy(buf, s, n);
  buf[n] = 0;
  char *e;
  errno = 0;
  long long v = strtoll(buf, &e, 10);
  if (errno == ERANGE)
    return mp__pk_fail("int does not fit in 64 bits");
  if (*e || e == buf)
    return mp__pk_fail("invalid INT/LONG literal");
  *out = mp_obj_int(v);
  return *out ? 0 : -ENOMEM;
}

int mp__pk_text_float(const char *s, size_t n, mp_obj **out) {
  char buf[64];
  if (n == 0 || n >= sizeof buf)
    return mp__pk_fail("invalid FLOAT literal");
  memcpy(buf, s, n);
  buf[n] = 0;
  char *e;
  double v = strtod(buf, &e);
  if (*e || e == buf)
    return mp__pk_fail("invalid FLOAT literal");
  *out = mp_obj_float(v);
  return *out ? 0 : -ENOMEM;
}
