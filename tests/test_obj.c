/* test_obj.c: typed values: constructors and accessors, repr and str
 * against reprs written down from CPython, the builder, equality, ordering
 * and hashing with Python's semantics, the MessagePack encoding (exact bytes,
 * round trips, malformed input), and ext values. The failing-allocator test
 * is in test_obj_alloc.c. */
#include <errno.h>
#include <math.h>

#include "mp_test.h"
#include "mproc.h"
#include "obj/obj_internal.h"

/* Checks repr(o) == want, then drops o. */
#define REPR(o, want) check_repr((o), (want), __LINE__)
static void check_repr(mp_obj *o, const char *want, int line) {
  if (!o)
    fail_msg("line %d: NULL object (errno %d)", line, errno);
  char *s = NULL;
  size_t n = 0;
  assert_int_equal(mp_obj_repr(o, &s, &n), 0);
  if (strcmp(s, want) != 0)
    fail_msg("line %d: repr %s, want %s", line, s, want);
  assert_int_equal(n, strlen(want));
  mp_free(s);
  mp_obj_unref(o);
}

static mp_obj *flt(double v) { return mp_obj_float(v); }

static void test_scalars(void **state) {
  (void)state;
  mp_test_watchdog(10);
  mp_obj *n = mp_obj_none(), *t = mp_obj_bool(true), *f = mp_obj_bool(false);
  assert_ptr_equal(n, mp_obj_none());
  assert_int_equal(mp_obj_get_type(n), MP_OBJ_NONE);
  for (int i = 0; i < 5; i++) /* immortal: unref does nothing */
    mp_obj_unref(n), mp_obj_unref(t), mp_obj_unref(mp_obj_ref(f));
  mp_obj_unref(NULL);
  mp_obj_free(NULL);
  assert_null(mp_obj_ref(NULL));

  mp_obj *i = mp_obj_int(-42), *x = mp_obj_float(2.5);
  mp_obj *s = mp_obj_strn("a\0b", 3), *b = mp_obj_bytes("\x00\x01", 2);
  int64_t iv;
  double dv;
  bool bv;
  const char *sv;
  const void *bp;
  size_t len;
  assert_int_equal(mp_obj_int_value(i, &iv), 0);
  assert_int_equal(iv, -42);
  assert_int_equal(mp_obj_int_value(t, &iv), 0); /* bool is an int */
  assert_int_equal(iv, 1);
  assert_int_equal(mp_obj_int_value(x, &iv), MP_ETYPE);
  assert_int_equal(mp_obj_float_value(x, &dv), 0);
  assert_true(dv == 2.5);
  assert_int_equal(mp_obj_float_value(i, &dv), 0);
  assert_true(dv == -42.0);
  assert_int_equal(mp_obj_float_value(s, &dv), MP_ETYPE);
  assert_int_equal(mp_obj_bool_value(f, &bv), 0);
  assert_false(bv);
  assert_int_equal(mp_obj_bool_value(i, &bv), MP_ETYPE);
  assert_int_equal(mp_obj_str_value(s, &sv, &len), 0);
  assert_int_equal(len, 3);
  assert_memory_equal(sv, "a\0b", 4); /* NUL-terminated too */
  assert_int_equal(mp_obj_str_value(b, &sv, &len), MP_ETYPE);
  assert_int_equal(mp_obj_bytes_value(b, &bp, &len), 0);
  assert_int_equal(len, 2);
  assert_int_equal(mp_obj_bytes_value(s, &bp, &len), MP_ETYPE);
  assert_int_equal(mp_obj_int_value(NULL, &iv), -EINVAL);
  assert_string_equal(mp_obj_type_name(n), "NoneType");
  assert_string_equal(mp_obj_type_name(t), "bool");
  assert_string_equal(mp_obj_type_name(i), "int");
  assert_string_equal(mp_obj_type_name(x), "float");
  assert_string_equal(mp_obj_type_name(s), "str");
  assert_string_equal(mp_obj_type_name(b), "bytes");

  /* Truth and len as Python's bool() and len(). */
  assert_false(mp_obj_truthy(n));
  assert_true(mp_obj_truthy(i));
  assert_true(mp_obj_truthy(s));
  mp_obj *e = mp_obj_str(""), *z = mp_obj_float(-0.0), *l = mp_obj_list_new();
  assert_false(mp_obj_truthy(e));
  assert_false(mp_obj_truthy(z));
  assert_false(mp_obj_truthy(l));
  mp_obj *u = mp_obj_str("h\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"); /* hé€😀 */
  assert_int_equal(mp_obj_len(u, &len), 0);
  assert_int_equal(len, 4); /* code points */
  assert_int_equal(mp_obj_len(b, &len), 0);
  assert_int_equal(len, 2);
  assert_int_equal(mp_obj_len(i, &len), MP_ETYPE);

  /* Invalid UTF-8 is Python's ValueError; NULL is EINVAL. */
  const char *bad[] = {"\xff", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                       "\xe2\x82", "a\x80"};
  for (size_t k = 0; k < MP__ARRAY_SIZE(bad); k++) {
    errno = 0;
    assert_null(mp_obj_str(bad[k]));
    assert_int_equal(mp_errno_code(errno), MP_EVALUE);
  }
  assert_null(mp_obj_str(NULL));
  assert_int_equal(errno, EINVAL);
  assert_null(mp_obj_bytes(NULL, 1));
  mp_obj *eb = mp_obj_bytes(NULL, 0);
  assert_non_null(eb);
  REPR(eb, "b''");
  REPR(mp_obj_strf("%d-%s", 7, "x"), "'7-x'");
  char big[600];
  memset(big, 'q', sizeof big - 1);
  big[sizeof big - 1] = 0;
  mp_obj *bs = mp_obj_strf("%s", big);
  assert_int_equal(mp_obj_len(bs, &len), 0);
  assert_int_equal(len, sizeof big - 1);
  mp_obj_unref(bs);
  mp_obj *objs[] = {i, x, s, b, e, z, l, u};
  for (size_t k = 0; k < MP__ARRAY_SIZE(objs); k++)
    mp_obj_unref(objs[k]);
}

/* Reprs written down from CPython 3.11. */
static void test_repr_scalars(void **state) {
  (void)state;
  mp_test_watchdog(10);
  REPR(mp_obj_none(), "None");
  REPR(mp_obj_bool(true), "True");
  REPR(mp_obj_bool(false), "False");
  REPR(mp_obj_int(0), "0");
  REPR(mp_obj_int(INT64_MIN), "-9223372036854775808");
  REPR(mp_obj_int(INT64_MAX), "9223372036854775807");
  static const struct {
    double v;
    const char *s;
  } floats[] = {
      {0.1, "0.1"},         {1.0, "1.0"},           {1e16, "1e+16"},
      {1.5e-05, "1.5e-05"}, {-0.0, "-0.0"},          {0.0, "0.0"},
      {1e15, "1000000000000000.0"},                  {1e-4, "0.0001"},
      {1e-5, "1e-05"},      {123.456, "123.456"},    {0.1 + 0.2, "0.30000000000000004"},
      {1.0 / 3, "0.3333333333333333"},               {2.0 / 3, "0.6666666666666666"},
      {1e100, "1e+100"},    {1.7976931348623157e308, "1.7976931348623157e+308"},
      {5e-324, "5e-324"},   {2.2250738585072014e-308, "2.2250738585072014e-308"},
      {-1.5, "-1.5"},       {100.0, "100.0"},        {1234567890123456.0, "1234567890123456.0"},
      {12345678901234567.0, "1.2345678901234568e+16"},
      {9007199254740993.0, "9007199254740992.0"},   {0.5, "0.5"},
      {3.141592653589793, "3.141592653589793"},      {1e22, "1e+22"},
      {1e23, "1e+23"},      {8.41e21, "8.41e+21"},   {0.000123, "0.000123"},
      {-1e-7, "-1e-07"},    {4.35, "4.35"},          {2.0, "2.0"},
      {0.25, "0.25"},       {1e-323, "1e-323"},      {9.5, "9.5"},
  };
  for (size_t k = 0; k < MP__ARRAY_SIZE(floats); k++)
    REPR(flt(floats[k].v), floats[k].s);
  REPR(flt(INFINITY), "inf");
  REPR(flt(-INFINITY), "-inf");
  REPR(flt(NAN), "nan");
  /* Strings: Python's quote choice and escapes. */
  REPR(mp_obj_str("hello"), "'hello'");
  REPR(mp_obj_str(""), "''");
  REPR(mp_obj_str("it's"), "\"it's\"");
  REPR(mp_obj_str("say \"hi\""), "'say \"hi\"'");
  REPR(mp_obj_str("both ' and \""), "'both \\' and \"'");
  REPR(mp_obj_str("a\nb\tc\rd\\e"), "'a\\nb\\tc\\rd\\\\e'");
  REPR(mp_obj_str("\x07\x1b\x7f"), "'\\x07\\x1b\\x7f'");
  REPR(mp_obj_strn("\0", 1), "'\\x00'");
  REPR(mp_obj_str("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), "'caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80'");
  REPR(mp_obj_str("\xc2\xa0\xc2\xad"), "'\\xa0\\xad'");           /* NBSP, soft hyphen */
  REPR(mp_obj_str("\xc2\x85"), "'\\x85'");                        /* C1 control */
  REPR(mp_obj_str("\xe2\x80\x8b\xe2\x80\xa8"), "'\\u200b\\u2028'"); /* ZWSP, LS */
  REPR(mp_obj_str("\xef\xbf\xbf"), "'\\uffff'");
  REPR(mp_obj_str("\xf3\xa0\x80\x81"), "'\\U000e0001'");
  REPR(mp_obj_str("\xe6\x97\xa5\xe6\x9c\xac"), "'\xe6\x97\xa5\xe6\x9c\xac'");
  /* Bytes. */
  REPR(mp_obj_bytes("abc", 3), "b'abc'");
  REPR(mp_obj_bytes("\x00\x7f\x80\xff", 4), "b'\\x00\\x7f\\x80\\xff'");
  REPR(mp_obj_bytes("it's", 4), "b\"it's\"");
  REPR(mp_obj_bytes("'\"", 2), "b'\\'\"'");
  REPR(mp_obj_bytes("\n\t\r\\", 4), "b'\\n\\t\\r\\\\'");
}

static void test_repr_containers(void **state) {
  (void)state;
  mp_test_watchdog(10);
  REPR(mp_obj_build("[i N s]", 42, "hello"), "[42, None, 'hello']");
  REPR(mp_obj_list_new(), "[]");
  REPR(mp_obj_tuple_new(0), "()");
  REPR(mp_obj_tuple_new(1), "(None,)");
  REPR(mp_obj_build("(i i)", 1, 2), "(1, 2)");
  REPR(mp_obj_dict_new(), "{}");
  REPR(mp_obj_build("{i: s, s: i, f: N}", 1, "1", "2", 2, 0.25),
       "{1: '1', '2': 2, 0.25: None}");
  REPR(mp_obj_build("[[i [i]] (s) {s: [b b]} y#]", 1, 2, "x", "k", 1, 0, "\x01", (size_t)1),
       "[[1, [2]], ('x',), {'k': [True, False]}, b'\\x01']");
  REPR(mp_obj_build("{(i s): f}", 1, "a", 1.0), "{(1, 'a'): 1.0}");
  /* A list that contains itself prints as Python prints it. */
  mp_obj *l = mp_obj_build("[i]", 1);
  assert_int_equal(mp_obj_list_append(l, l), 0);
  REPR(mp_obj_ref(l), "[1, [...]]");
  mp_obj *d = mp_obj_dict_new();
  assert_int_equal(mp_obj_dict_set_str(d, "me", d), 0);
  assert_int_equal(mp_obj_list_append(l, d), 0);
  REPR(mp_obj_ref(d), "{'me': {...}}");
  REPR(mp_obj_ref(l), "[1, [...], {'me': {...}}]");
  assert_int_equal(mp_obj_dict_clear(d), 0); /* break the cycles */
  mp_obj_unref(d);
  assert_int_equal(mp_obj_list_clear(l), 0);
  mp_obj_unref(l);

  /* str(): a str without quotes, everything else as repr. */
  char *s;
  size_t n;
  mp_obj *h = mp_obj_str("it's");
  assert_int_equal(mp_obj_to_string(h, &s, &n), 0);
  assert_string_equal(s, "it's");
  mp_free(s);
  mp_obj *lh = mp_obj_build("[O]", h);
  assert_int_equal(mp_obj_to_string(lh, &s, &n), 0);
  assert_string_equal(s, "[\"it's\"]");
  mp_free(s);
  char *mem = NULL;
  size_t memlen = 0;
  FILE *f = open_memstream(&mem, &memlen);
  assert_int_equal(mp_obj_print(h, f), 0);
  assert_int_equal(mp_obj_print(lh, f), 0);
  fclose(f);
  assert_string_equal(mem, "it's\n[\"it's\"]\n");
  free(mem);
  assert_int_equal(mp_obj_repr(NULL, &s, &n), -EINVAL);
  assert_int_equal(mp_obj_print(h, NULL), -EINVAL);
  mp_obj_unref(h);
  mp_obj_unref(lh);
}

static void test_build(void **state) {
  (void)state;
  mp_test_watchdog(10);
  REPR(mp_obj_build(""), "None");
  REPR(mp_obj_build("i i", 1, 2), "(1, 2)"); /* several units: a tuple */
  REPR(mp_obj_build("(i)", 7), "(7,)");
  REPR(mp_obj_build("l L K", -5L, (long long)INT64_MIN, 9ULL),
       "(-5, -9223372036854775808, 9)");
  REPR(mp_obj_build("[f d b b]", 0.5, 1e300, 0, 5), "[0.5, 1e+300, False, True]");
  REPR(mp_obj_build("[s s# y y#]", (const char *)NULL, "abc", (size_t)2, "xy",
                    "\0z", (size_t)2),
       "[None, 'ab', b'xy', b'\\x00z']");
  mp_obj *o = mp_obj_str("o");
  REPR(mp_obj_build("{s: O, s: X}", "a", o, "b", mp_obj_ref(o)),
       "{'a': 'o', 'b': 'o'}");
  REPR(mp_obj_build("{s:i,s:[N,N]}", "a", 1, "b"), "{'a': 1, 'b': [None, None]}");
  REPR(mp_obj_build("  [ ]  "), "[]");
  REPR(mp_obj_build("{}"), "{}");
  REPR(mp_obj_build("()"), "()");

  /* Errors: errno says why; stolen references are dropped (ASan checks). */
  struct {
    const char *fmt;
    int err;
  } bad[] = {{"[i", EINVAL}, {"i]", EINVAL}, {"(i}", EINVAL}, {"q", EINVAL},
             {"{i}", EINVAL}, {"{[N]: i}", -MP_ETYPE}, {"K", -MP_EVALUE},
             {"s", -MP_EVALUE}};
  for (size_t k = 0; k < MP__ARRAY_SIZE(bad); k++) {
    errno = 0;
    const char *arg = bad[k].err == -MP_EVALUE && bad[k].fmt[0] == 's' ? "\xff" : NULL;
    mp_obj *r = bad[k].fmt[0] == 'K' ? mp_obj_build(bad[k].fmt, (unsigned long long)UINT64_MAX)
                : arg                 ? mp_obj_build(bad[k].fmt, arg)
                                      : mp_obj_build(bad[k].fmt, 1, 2);
    assert_null(r);
    if (errno != bad[k].err)
      fail_msg("format %s: errno %d, want %d", bad[k].fmt, errno, bad[k].err);
  }
  /* An X after a failure is still consumed: no leak of the stolen one. */
  assert_null(mp_obj_build("[K X]", (unsigned long long)UINT64_MAX, mp_obj_int(3)));
  assert_null(mp_obj_build("[O X]", NULL, mp_obj_ref(o)));
  assert_null(mp_obj_build(NULL));
  mp_obj_unref(o);
}

static void test_equal_less_hash(void **state) {
  (void)state;
  mp_test_watchdog(10);
  mp_obj *one = mp_obj_int(1), *onef = mp_obj_float(1.0), *t = mp_obj_bool(true);
  assert_true(mp_obj_equal(one, onef));
  assert_true(mp_obj_equal(one, t));
  assert_true(mp_obj_equal(onef, t));
  int64_t h1, h2, h3;
  assert_int_equal(mp_obj_hash(one, &h1), 0);
  assert_int_equal(mp_obj_hash(onef, &h2), 0);
  assert_int_equal(mp_obj_hash(t, &h3), 0);
  assert_true(h1 == 1 && h2 == 1 && h3 == 1);
  /* Values from CPython's hash(). */
  static const struct {
    const char *fmt;
    double f;
    long long i;
    int64_t h;
  } hashes[] = {
      {"L", 0, -1, -2},
      {"L", 0, INT64_MAX, 3},
      {"L", 0, INT64_MIN, -4LL},
      {"f", 0.5, 0, 1152921504606846976LL},
      {"f", -1.5, 0, -1152921504606846977LL},
      {"f", 1e300, 0, 1224995262755759164LL},
      {"f", INFINITY, 0, 314159},
      {"f", -INFINITY, 0, -314159},
      {"f", 0.0, 0, 0},
  };
  for (size_t k = 0; k < MP__ARRAY_SIZE(hashes); k++) {
    mp_obj *o = hashes[k].fmt[0] == 'f' ? mp_obj_float(hashes[k].f) : mp_obj_int(hashes[k].i);
    int64_t h;
    assert_int_equal(mp_obj_hash(o, &h), 0);
    if (h != hashes[k].h)
      fail_msg("hash case %zu: %lld", k, (long long)h);
    mp_obj_unref(o);
  }
  mp_obj *tup = mp_obj_build("(i i)", 1, 2), *tup1 = mp_obj_build("(i)", 1);
  assert_int_equal(mp_obj_hash(tup, &h1), 0);
  assert_true(h1 == -3550055125485641917LL);
  assert_int_equal(mp_obj_hash(tup1, &h1), 0);
  assert_true(h1 == -6644214454873602895LL);
  mp_obj *es = mp_obj_str(""), *s1 = mp_obj_str("abc"), *s2 = mp_obj_str("abc");
  assert_int_equal(mp_obj_hash(es, &h1), 0);
  assert_true(h1 == 0);
  assert_int_equal(mp_obj_hash(s1, &h1), 0);
  assert_int_equal(mp_obj_hash(s2, &h2), 0);
  assert_true(h1 == h2);
  mp_obj *lst = mp_obj_build("[i]", 1), *tl = mp_obj_build("(i [i])", 1, 2);
  assert_int_equal(mp_obj_hash(lst, &h1), MP_ETYPE);
  assert_int_equal(mp_obj_hash(tl, &h1), MP_ETYPE);
  mp_obj *dd = mp_obj_dict_new();
  assert_int_equal(mp_obj_hash(dd, &h1), MP_ETYPE);

  /* Exact int/float comparison: 2**53 + 1 != 2.0**53. */
  mp_obj *big = mp_obj_int(9007199254740993LL), *bigf = mp_obj_float(9007199254740992.0);
  assert_false(mp_obj_equal(big, bigf));
  bool lt;
  assert_int_equal(mp_obj_less(bigf, big, &lt), 0);
  assert_true(lt);
  mp_obj *m = mp_obj_int(INT64_MAX), *mf = mp_obj_float(9223372036854775808.0);
  assert_false(mp_obj_equal(m, mf));
  assert_int_equal(mp_obj_less(m, mf, &lt), 0);
  assert_true(lt);
  /* NaN equals nothing, but a container holding the same NaN equals itself. */
  mp_obj *nan = mp_obj_float(NAN), *nan2 = mp_obj_float(NAN);
  assert_false(mp_obj_equal(nan, nan));
  assert_false(mp_obj_equal(nan, nan2));
  mp_obj *ln = mp_obj_build("[O]", nan), *ln2 = mp_obj_build("[O]", nan), *ln3 = mp_obj_build("[O]", nan2);
  assert_true(mp_obj_equal(ln, ln2));
  assert_false(mp_obj_equal(ln, ln3));
  assert_int_equal(mp_obj_less(nan, one, &lt), 0);
  assert_false(lt);
  /* Containers. */
  mp_obj *a = mp_obj_build("{s: [i (f)], i: N}", "k", 1, 2.0, 3);
  mp_obj *b = mp_obj_build("{f: N, s: [b (i)]}", 3.0, "k", 1, 2);
  assert_true(mp_obj_equal(a, b)); /* order does not matter */
  mp_obj *c = mp_obj_build("{f: N, s: [b (i)]}", 3.0, "k", 1, 3);
  assert_false(mp_obj_equal(a, c));
  mp_obj *lt1 = mp_obj_build("[i i]", 1, 2), *tp1 = mp_obj_build("(i i)", 1, 2);
  assert_false(mp_obj_equal(lt1, tp1)); /* [1, 2] != (1, 2) */
  assert_false(mp_obj_equal(s1, mp_obj_none()));
  mp_obj *by = mp_obj_bytes("abc", 3);
  assert_false(mp_obj_equal(s1, by));
  assert_true(mp_obj_equal(NULL, NULL));
  assert_false(mp_obj_equal(NULL, one));
  /* Ordering as Python's <. */
  struct {
    const char *fmt;
    int want; /* 1 true, 0 false, else the error */
  } order[] = {
      {"(i f)", 1},          {"(f i)", 0},          {"(b i)", 1},
      {"(s s)", 1},          {"(y y)", 1},          {"([i i] [i i i])", 1},
      {"((i i) (i i))", 0},  {"(s i)", MP_ETYPE},   {"(N N)", MP_ETYPE},
      {"({} {})", MP_ETYPE}, {"([i] (i))", MP_ETYPE}, {"([s] [i])", MP_ETYPE},
  };
  mp_obj *pairs[] = {
      mp_obj_build("(i f)", 1, 1.5),           mp_obj_build("(f i)", 1.5, 1),
      mp_obj_build("(b i)", 0, 1),             mp_obj_build("(s s)", "ab", "b"),
      mp_obj_build("(y y)", "ab", "abc"),      mp_obj_build("([i i] [i i i])", 1, 2, 1, 2, 0),
      mp_obj_build("((i i) (i i))", 1, 2, 1, 2), mp_obj_build("(s i)", "a", 1),
      mp_obj_build("(N N)"),                   mp_obj_build("({} {})"),
      mp_obj_build("([i] (i))", 1, 1),         mp_obj_build("([s] [i])", "a", 1),
  };
  for (size_t k = 0; k < MP__ARRAY_SIZE(pairs); k++) {
    mp_obj *x, *y;
    mp_obj_tuple_get(pairs[k], 0, &x);
    mp_obj_tuple_get(pairs[k], 1, &y);
    int r = mp_obj_less(x, y, &lt);
    if (order[k].want == 0 || order[k].want == 1) {
      assert_int_equal(r, 0);
      if (lt != order[k].want)
        fail_msg("%s: got %d", order[k].fmt, lt);
    } else {
      assert_int_equal(r, order[k].want);
    }
    mp_obj_unref(pairs[k]);
  }
  assert_int_equal(mp_obj_less(NULL, one, &lt), -EINVAL);
  mp_obj *all[] = {one, onef, t, tup, tup1, es, s1, s2, lst, tl, dd, big, bigf, m, mf,
                   nan, nan2, ln, ln2, ln3, a, b, c, lt1, tp1, by};
  for (size_t k = 0; k < MP__ARRAY_SIZE(all); k++)
    mp_obj_unref(all[k]);
}

/* ---- MessagePack ----------------------------------------------------------- */

static void check_encoding(mp_obj *o, const char *hex) {
  void *buf;
  size_t len;
  assert_int_equal(mp_obj_encode(o, &buf, &len), 0);
  char got[1024] = "";
  for (size_t i = 0; i < len && 2 * i + 2 < sizeof got; i++)
    sprintf(got + 2 * i, "%02x", ((unsigned char *)buf)[i]);
  if (strcmp(got, hex) != 0)
    fail_msg("encoding %s, want %s", got, hex);
  size_t sz;
  assert_int_equal(mp_obj_encoded_size(o, &sz), 0);
  assert_int_equal(sz, len);
  mp_obj *back;
  assert_int_equal(mp_obj_decode(buf, len, &back), 0);
  assert_true(mp_obj_equal(o, back));
  assert_int_equal(mp_obj_get_type(o), mp_obj_get_type(back));
  mp_free(buf);
  mp_obj_unref(back);
  mp_obj_unref(o);
}

static void test_encode(void **state) {
  (void)state;
  mp_test_watchdog(10);
  /* Bytes as Python's msgpack.packb(..., use_bin_type=True) writes them. */
  check_encoding(mp_obj_build("[i N s]", 42, "hello"), "932ac0a568656c6c6f");
  check_encoding(mp_obj_build("b", 1), "c3");
  check_encoding(mp_obj_int(-1), "ff");
  check_encoding(mp_obj_int(-33), "d0df");
  check_encoding(mp_obj_int(127), "7f");
  check_encoding(mp_obj_int(128), "cc80");
  check_encoding(mp_obj_int(65536), "ce00010000");
  check_encoding(mp_obj_int(INT64_MIN), "d38000000000000000");
  check_encoding(mp_obj_int(INT64_MAX), "cf7fffffffffffffff");
  check_encoding(mp_obj_float(0.5), "cb3fe0000000000000");
  check_encoding(mp_obj_bytes("\x01\x02", 2), "c4020102");
  check_encoding(mp_obj_build("{s: i}", "a", 1), "81a16101");
  check_encoding(mp_obj_build("(i i)", 1, 2), "c70301920102");
  check_encoding(mp_obj_build("(i)", 1), "d5019101");
  check_encoding(mp_obj_build("()"), "d40190");
  check_encoding(mp_obj_build("[(N) []]", NULL), "92d50191c090");
  char s40[41];
  memset(s40, 'x', 40);
  s40[40] = 0;
  mp_obj *so = mp_obj_str(s40);
  void *buf;
  size_t len;
  assert_int_equal(mp_obj_encode(so, &buf, &len), 0);
  assert_int_equal(len, 42);
  assert_int_equal(((unsigned char *)buf)[0], 0xd9); /* str 8 */
  mp_free(buf);

  /* Into a caller's buffer; too short says how much is needed. */
  mp_obj *o = mp_obj_build("[i s]", 1, "abc");
  unsigned char small[4], fits[16];
  assert_int_equal(mp_obj_encode_into(o, small, sizeof small, &len), MP_ETOOSHORT);
  assert_int_equal(len, 6);
  assert_int_equal(mp_obj_encode_into(o, fits, sizeof fits, &len), 0);
  assert_int_equal(len, 6);
  assert_memory_equal(fits, "\x92\x01\xa3" "abc", 6);
  /* Appending: two objects, then read back one at a time. */
  void *ab = NULL;
  size_t alen = 0, acap = 0;
  assert_int_equal(mp_obj_encode_append(o, &ab, &alen, &acap), 0);
  assert_int_equal(mp_obj_encode_append(so, &ab, &alen, &acap), 0);
  assert_int_equal(alen, 48);
  assert_true(acap >= alen);
  size_t used;
  mp_obj *x, *y;
  assert_int_equal(mp_obj_decode_prefix(ab, alen, &used, &x), 0);
  assert_int_equal(used, 6);
  assert_true(mp_obj_equal(x, o));
  assert_int_equal(mp_obj_decode_prefix((char *)ab + used, alen - used, &used, &y), 0);
  assert_true(mp_obj_equal(y, so));
  assert_int_equal(mp_obj_decode(ab, alen, &x), MP_EDECODE); /* two objects */
  assert_int_equal(mp_obj_decode_prefix(ab, 3, &used, &x), MP_ETRUNCATED);
  mp_obj_unref(x);
  mp_obj_unref(y);
  mp_free(ab);
  mp_obj_unref(o);
  mp_obj_unref(so);
  assert_int_equal(mp_obj_encode(NULL, &buf, &len), -EINVAL);
}

/* Malformed input: each returns its code, never crashes or allocates what
 * a header announces. */
static void test_decode_errors(void **state) {
  (void)state;
  mp_test_watchdog(10);
  static const struct {
    const char *bytes;
    size_t len;
    int err;
  } bad[] = {
      {"", 0, MP_EDECODE},
      {"\xc1", 1, MP_EDECODE},                           /* never used */
      {"\xa3" "ab", 3, MP_EDECODE},                       /* truncated str */
      {"\xa2\xc3\x28", 3, MP_EDECODE},                   /* invalid UTF-8 */
      {"\xa3\xed\xa0\x80", 4, MP_EDECODE},               /* a surrogate */
      {"\xcf\x80\0\0\0\0\0\0\0", 9, MP_EVALUE},          /* 2**63 */
      {"\xdd\xff\xff\xff\xff", 5, MP_EDECODE},           /* 4G items, no data */
      {"\xdf\xff\xff\xff\xff\xc0", 6, MP_EDECODE},       /* 4G pairs */
      {"\xc6\xff\xff\xff\xff", 5, MP_EDECODE},           /* 4 GiB of bin */
      {"\x81\x91\x01\x02", 4, MP_EDECODE},               /* list as key */
      {"\x81\x80\x01", 3, MP_EDECODE},                   /* dict as key */
      {"\xd5\x01\x91\xc1", 4, MP_EDECODE},               /* bad tuple body */
      {"\xd5\x01\x01\x02", 4, MP_EDECODE},               /* tuple not array */
      {"\xd6\x01\x91\x01\x02\x03", 6, MP_EDECODE},       /* array short of ext */
      {"\xc7\x00\x01", 3, MP_EDECODE},                   /* empty ext */
      {"\xc0\xc0", 2, MP_EDECODE},                       /* trailing byte */
      {"\xcb\0\0\0", 4, MP_EDECODE},                     /* truncated float */
      {"\x92\x01", 2, MP_EDECODE},                       /* missing item */
  };
  for (size_t k = 0; k < MP__ARRAY_SIZE(bad); k++) {
    mp_obj *o = NULL;
    int r = mp_obj_decode(bad[k].bytes, bad[k].len, &o);
    if (r != bad[k].err)
      fail_msg("case %zu: %d (%s), want %d", k, r, mp_err_name(r), bad[k].err);
    assert_null(o);
  }
  mp_obj *o;
  assert_int_equal(mp_obj_decode(NULL, 0, &o), MP_EDECODE);
  assert_int_equal(mp_obj_decode(NULL, 1, &o), -EINVAL);
  assert_int_equal(mp_obj_decode("\xc0", 1, NULL), -EINVAL);
  /* Accepted though we never write them: float 32, wide ints, a repeated
   * key (the last value wins, the first key stays, as in Python). */
  REPR(mp_obj_decode("\xca\x3f\xc0\x00\x00", 5, &o) == 0 ? o : NULL, "1.5");
  REPR(mp_obj_decode("\xd3\0\0\0\0\0\0\0\x05", 9, &o) == 0 ? o : NULL, "5");
  REPR(mp_obj_decode("\xd1\xff\xfe", 3, &o) == 0 ? o : NULL, "-2");
  REPR(mp_obj_decode("\x82\x01\xa1" "a\xc3\xa1" "b", 7, &o) == 0 ? o : NULL,
       "{1: 'b'}");
  REPR(mp_obj_decode("\x82\x01\xa1" "a\xcb\x3f\xf0\0\0\0\0\0\0\xa1" "b", 15, &o) == 0 ? o : NULL,
       "{1: 'b'}");

  /* Ext types other than the tuple's are ext values. */
  REPR(mp_obj_decode("\xd4\x07\x01", 3, &o) == 0 ? o : NULL,
       "ExtType(code=7, data=b'\\x01')");
  REPR(mp_obj_decode("\xc7\x00\xff", 3, &o) == 0 ? o : NULL,
       "ExtType(code=-1, data=b'')");

  /* Nesting: MP_OBJ_MAX_DEPTH levels decode; one more is refused. */
  unsigned char deep[MP_OBJ_MAX_DEPTH + 2];
  memset(deep, 0x91, sizeof deep);
  deep[MP_OBJ_MAX_DEPTH] = 0xc0;
  assert_int_equal(mp_obj_decode(deep, MP_OBJ_MAX_DEPTH + 1, &o), 0);
  mp_obj_unref(o);
  memset(deep, 0x91, sizeof deep);
  deep[MP_OBJ_MAX_DEPTH + 1] = 0xc0;
  assert_int_equal(mp_obj_decode(deep, sizeof deep, &o), MP_EDECODE);
}

/* A list nested far deeper than any recursion could go: freeing is
 * iterative; repr, encode, equal and deepcopy refuse with MP_EVALUE. */
static void test_deep(void **state) {
  (void)state;
  mp_test_watchdog(20);
  mp_obj *o = mp_obj_list_new();
  for (int i = 0; i < 200000; i++) {
    mp_obj *outer = mp_obj_list_new();
    assert_int_equal(mp_obj_list_append_steal(outer, o), 0);
    o = outer;
  }
  char *s;
  void *buf;
  size_t len;
  assert_int_equal(mp_obj_repr(o, &s, &len), MP_EVALUE);
  assert_int_equal(mp_obj_encode(o, &buf, &len), MP_EVALUE);
  errno = 0;
  assert_null(mp_obj_deepcopy(o));
  assert_int_equal(mp_errno_code(errno), MP_EVALUE);
  mp_obj_unref(o);
}

/* Ext values: another area's own kind of value, carried as a msgpack ext. */
static void test_ext(void **state) {
  (void)state;
  mp_test_watchdog(10);
  mp_obj *e = mp_obj_ext(5, "\x01" "a", 2), *e2 = mp_obj_ext(5, "\x01" "a", 2);
  mp_obj *e3 = mp_obj_ext(6, "\x01" "a", 2), *empty = mp_obj_ext(5, NULL, 0);
  int8_t code;
  const void *data;
  size_t len;
  assert_int_equal(mp_obj_get_type(e), MP_OBJ_EXT);
  assert_string_equal(mp_obj_type_name(e), "ExtType");
  assert_int_equal(mp_obj_ext_value(e, &code, &data, &len), 0);
  assert_int_equal(code, 5);
  assert_int_equal(len, 2);
  assert_memory_equal(data, "\x01" "a", 2);
  assert_int_equal(mp_obj_ext_value(mp_obj_none(), &code, &data, &len), MP_ETYPE);
  assert_int_equal(mp_obj_bytes_value(e, &data, &len), MP_ETYPE);
  assert_true(mp_obj_equal(e, e2));
  assert_false(mp_obj_equal(e, e3));
  int64_t h;
  assert_int_equal(mp_obj_hash(empty, &h), 0);
  assert_true(h == -3054609118068388172LL); /* CPython: hash((5, b'')) */
  bool lt;
  assert_int_equal(mp_obj_less(e, e3, &lt), 0);
  assert_true(lt);
  assert_null(mp_obj_ext(MP_OBJ_EXT_TUPLE, "", 0));
  assert_int_equal(errno, EINVAL);
  assert_null(mp_obj_ext(3, NULL, 1));
  REPR(mp_obj_ref(e), "ExtType(code=5, data=b'\\x01a')");
  check_encoding(mp_obj_ref(e), "d5050161");
  check_encoding(mp_obj_ref(empty), "c70005");
  /* As a dict key and inside containers. */
  mp_obj *d = mp_obj_build("{O: [O]}", e, empty);
  REPR(mp_obj_ref(d), "{ExtType(code=5, data=b'\\x01a'): [ExtType(code=5, data=b'')]}");
  mp_obj *v;
  assert_int_equal(mp_obj_dict_get(d, e2, &v), 0);
  mp_obj *objs[] = {e, e2, e3, empty, d};
  for (size_t k = 0; k < MP__ARRAY_SIZE(objs); k++)
    mp_obj_unref(objs[k]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_scalars),
      cmocka_unit_test(test_repr_scalars),
      cmocka_unit_test(test_repr_containers),
      cmocka_unit_test(test_build),
      cmocka_unit_test(test_equal_less_hash),
      cmocka_unit_test(test_encode),
      cmocka_unit_test(test_decode_errors),
      cmocka_unit_test(test_deep),
      cmocka_unit_test(test_ext),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
