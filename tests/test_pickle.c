/* test_pickle.c: the pickle codec on its own (the round trips against the
 * real CPython are tests/test_pickle_interop.sh): exact bytes for scalars
 * as CPython writes them, the refusals (globals named, REDUCE, BUILD,
 * INST, OBJ, EXT, persistent ids, out-of-band buffers, unknown opcodes),
 * the limits on hostile input (a memo bomb, depth, lying lengths and memo
 * indices, every truncation), recursive structures, the find_class and
 * build hooks, and the set / frozenset / bytearray kinds. */
#include <errno.h>
#include <math.h>
#include <pthread.h>

#include "mp_test.h"
#include "mproc.h"

/* Decodes n bytes; checks the code and, for failures, that the error
 * record's message contains `word`. Returns the object (or NULL). */
#define LOAD(p, n, code, word) load((const void *)(p), (n), (code), (word), __LINE__)
static mp_obj *load(const void *p, size_t n, int code, const char *word, int line) {
  mp_obj *o = NULL;
  int r = mp_obj_from_pickle(p, n, &o);
  if (r != code)
    fail_msg("line %d: code %s (%s), want %s", line, mp_err_name(r),
             mp_last_error()->message, mp_err_name(code));
  if (r < 0 && word && !strstr(mp_last_error()->message, word))
    fail_msg("line %d: message '%s' lacks '%s'", line, mp_last_error()->message, word);
  return o;
}

static void expect_repr(mp_obj *o, const char *want) {
  char *s;
  assert_non_null(o);
  assert_int_equal(mp_obj_repr(o, &s, NULL), 0);
  assert_string_equal(s, want);
  mp_free(s);
}

/* Encodes o with protocol and compares with CPython's bytes. */
static void expect_pickle(mp_obj *o, int proto, const char *want, size_t n) {
  void *buf;
  size_t len;
  assert_int_equal(mp_obj_to_pickle(o, proto, &buf, &len), 0);
  assert_int_equal(len, n);
  assert_memory_equal(buf, want, n);
  mp_free(buf);
  mp_obj_unref(o);
}

static void test_exact_bytes(void **state) {
  (void)state;
  mp_test_watchdog(10);
  /* pickle.dumps(v, p) in CPython 3.11, byte for byte. */
  expect_pickle(mp_obj_none(), 4, "\x80\x04N.", 4);
  expect_pickle(mp_obj_bool(true), 2, "\x80\x02\x88.", 4);
  expect_pickle(mp_obj_int(1000), 4, "\x80\x04\x95\x04\0\0\0\0\0\0\0M\xe8\x03.", 15);
  expect_pickle(mp_obj_int(1LL << 40), 4,
                "\x80\x04\x95\t\0\0\0\0\0\0\0\x8a\x06\0\0\0\0\0\x01.", 20);
  expect_pickle(mp_obj_int(-1), 4, "\x80\x04\x95\x06\0\0\0\0\0\0\0J\xff\xff\xff\xff.", 17);
  expect_pickle(mp_obj_float(1.5), 4,
                "\x80\x04\x95\n\0\0\0\0\0\0\0G?\xf8\0\0\0\0\0\0.", 21);
  expect_pickle(mp_obj_bytes("ab", 2), 3, "\x80\x03" "C\x02" "ab.", 7);
  /* protocol 2's bytes: _codecs.encode('ab', 'latin1') (CPython adds
   * BINPUTs, which only memoize) */
  expect_pickle(mp_obj_bytes("ab", 2), 2,
                "\x80\x02" "c_codecs\nencode\n" "X\x02\0\0\0ab" "X\x06\0\0\0latin1"
                "\x86R.", 39);
  expect_pickle(mp_obj_bytearray("ab", 2), 5,
                "\x80\x05\x95\x0c\0\0\0\0\0\0\0\x96\x02\0\0\0\0\0\0\0ab.", 23);
  /* Protocols outside 2..5, and an ext value, are refused. */
  void *buf;
  size_t len;
  assert_int_equal(mp_obj_to_pickle(mp_obj_none(), 1, &buf, &len), MP_EVALUE);
  assert_int_equal(mp_obj_to_pickle(mp_obj_none(), 6, &buf, &len), MP_EVALUE);
  mp_obj *e = mp_obj_ext(9, "x", 1);
  assert_int_equal(mp_obj_to_pickle(e, 4, &buf, &len), MP_ETYPE);
  mp_obj_unref(e);
  assert_int_equal(mp_obj_to_pickle(NULL, 4, &buf, &len), -EINVAL);
}

static void test_decode_basics(void **state) {
  (void)state;
  mp_test_watchdog(10);
  mp_obj *o;
  /* pickle.dumps({'a': 1}, 4) and protocol 0 text forms */
  o = LOAD("\x80\x04\x95\n\0\0\0\0\0\0\0}\x94\x8c\x01" "a\x94K\x01s.", 22, 0, NULL);
  expect_repr(o, "{'a': 1}");
  mp_obj_unref(o);
  o = LOAD("(lp0\nI1\naI01\naL12345678901L\naF0.5\naVh\\u00e9\\U0001f600\na"
           "S'x\\n'\np1\na.", 67, 0, NULL);
  expect_repr(o, "[1, True, 12345678901, 0.5, 'hé😀', 'x\\n']");
  mp_obj_unref(o);
  /* int64's edges through LONG1, and one past them */
  o = LOAD("\x80\x02\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7f.", 13, 0, NULL);
  expect_repr(o, "9223372036854775807");
  mp_obj_unref(o);
  o = LOAD("\x80\x02\x8a\x08\0\0\0\0\0\0\0\x80.", 13, 0, NULL);
  expect_repr(o, "-9223372036854775808");
  mp_obj_unref(o);
  LOAD("\x80\x02\x8a\x09\0\0\0\0\0\0\0\x80\0.", 14, MP_EDECODE, "64 bits");
  LOAD("L99999999999999999999L\n.", 24, MP_EDECODE, "64 bits");
  /* a lone surrogate, as CPython writes it (surrogatepass) and in text */
  LOAD("\x80\x04\x8c\x03\xed\xa0\x80.", 8, MP_EDECODE, "surrogate");
  LOAD("V\\ud800\n.", 9, MP_EDECODE, "surrogate");
  /* bytes after STOP are ignored, as pickle.loads does */
  o = LOAD("N.garbage", 9, 0, NULL);
  assert_ptr_equal(o, mp_obj_none());
  /* a stream of two pickles */
  size_t used;
  assert_int_equal(mp_obj_from_pickle_opts("K\x01.K\x02.", 6, NULL, &used, &o), 0);
  assert_int_equal(used, 3);
  expect_repr(o, "1");
  mp_obj_unref(o);
}

static void test_refusals(void **state) {
  (void)state;
  mp_test_watchdog(10);
  /* pickle.dumps(Point(1), 4) names __main__.Point */
  static const char inst[] =
      "\x80\x04\x95#\x00\x00\x00\x00\x00\x00\x00\x8c\x08__main__\x94\x8c\x05Point"
      "\x94\x93\x94)\x81\x94}\x94\x8c\x01x\x94K\x01sb.";
  LOAD(inst, sizeof inst - 1, MP_EDECODE, "'__main__.Point' is not allowed");
  LOAD("cos\nsystem\n(S'true'\ntR.", 23, MP_EDECODE, "'os.system'");
  LOAD("(ios\nsystem\nS'x'\n.", 18, MP_EDECODE, "INST of 'os.system'");
  LOAD("(N(o.", 5, MP_EDECODE, "OBJ");
  LOAD("]N}b.", 5, MP_EDECODE, "BUILD");
  LOAD("NNR.", 4, MP_EDECODE, "calling a NoneType");
  LOAD("\x80\x02\x82\x01.", 5, MP_EDECODE, "extension registry");
  LOAD("Pabc\n.", 6, MP_EDECODE, "persistent");
  LOAD("\x80\x05\x97.", 4, MP_EDECODE, "out-of-band");
  LOAD("\x80\x05\x98.", 4, MP_EDECODE, "out-of-band");
  LOAD("\x80\x06N.", 4, MP_EDECODE, "protocol 6");
  LOAD("\xff.", 2, MP_EDECODE, "opcode 0xff");
  LOAD("a.", 2, MP_EDECODE, "underflow");
  LOAD("}(K\x01u.", 6, MP_EDECODE, "odd number");
  LOAD("}]K\x01s.", 6, MP_EDECODE, "unhashable list");
  LOAD("\x80\x04\x8f(]\x90.", 6, MP_EDECODE, "unhashable list");
  /* allowlisted: set(), frozenset, bytearray, bytes, OrderedDict */
  mp_obj *o = LOAD("c__builtin__\nset\n((lK\x01" "atR.", 26, 0, NULL);
  expect_repr(o, "{1}");
  mp_obj_unref(o);
  o = LOAD("ccollections\nOrderedDict\n)R(S'a'\nK\x01u.", 37, 0, NULL);
  expect_repr(o, "{'a': 1}");
  mp_obj_unref(o);
  o = LOAD("c__builtin__\nbytearray\n(X\x02\0\0\0\xc3\xbfX\x07\0\0\0latin-1tR.", 46, 0, NULL);
  expect_repr(o, "bytearray(b'\\xff')");
  mp_obj_unref(o);
  LOAD("c_codecs\nencode\n(X\x02\0\0\0\xc4\x80X\x06\0\0\0latin1tR.", 38, MP_EDECODE,
       "over 255");
  LOAD("c_codecs\nencode\n(X\x01\0\0\0aX\x05\0\0\0utf-8tR.", 36, MP_EDECODE, "latin1");
}

/* The memo bomb of tests/python/gen_pickle_corpus.py: level i is
 * [m_i, m_i], so 20 levels share one list 2**20 times in 134 bytes. */
static size_t bomb(unsigned char *p, int levels) {
  size_t n = 0;
  memcpy(p, "\x80\x04]\x94", 4);
  n = 4;
  for (int i = 0; i < levels; i++) {
    unsigned char lvl[] = {']', '(', 'h', (unsigned char)i, 'h', (unsigned char)i, 'e', 0x94};
    memcpy(p + n, lvl, sizeof lvl);
    n += sizeof lvl;
  }
  p[n++] = '.';
  return n;
}

static void test_limits(void **state) {
  (void)state;
  mp_test_watchdog(30);
  unsigned char b[512];
  size_t n = bomb(b, 20);
  assert_true(n <= 170);
  LOAD(b, n, MP_EDECODE, "expands");
  /* With no bound it decodes as what it is: 21 small shared lists. */
  mp_pickle_load_opts opts = {.max_nodes = SIZE_MAX};
  mp_obj *o = NULL;
  assert_int_equal(mp_obj_from_pickle_opts(b, n, &opts, NULL, &o), 0);
  mp_obj *a, *c;
  assert_int_equal(mp_obj_list_get(o, 0, &a), 0);
  assert_int_equal(mp_obj_list_get(o, 1, &c), 0);
  assert_ptr_equal(a, c);
  mp_obj_unref(o);
  /* A small bomb is within the default bound. */
  n = bomb(b, 8);
  mp_obj_unref(LOAD(b, n, 0, NULL));

  /* Depth: MP_OBJ_MAX_DEPTH + 1 nested lists decode, one more does not;
   * the same through TUPLE1, which nests without growing the stack. */
  unsigned char deep[4096];
  for (int extra = 0; extra <= 1; extra++) {
    int levels = MP_OBJ_MAX_DEPTH + 1 + extra;
    n = 0;
    for (int i = 0; i < levels; i++)
      deep[n++] = ']';
    for (int i = 1; i < levels; i++)
      deep[n++] = 'a';
    deep[n++] = '.';
    o = LOAD(deep, n, extra ? MP_EDECODE : 0, "deeper");
    mp_obj_unref(o);
    n = 0;
    deep[n++] = ')';
    for (int i = 1; i < levels; i++)
      deep[n++] = 0x85;
    deep[n++] = '.';
    o = LOAD(deep, n, extra ? MP_EDECODE : 0, "deeper");
    mp_obj_unref(o);
  }

  /* Lengths and memo indices are checked against the input. */
  LOAD("\x80\x04X\xff\xff\xff\x7f" "ab.", 10, MP_EDECODE, "truncated");
  LOAD("\x80\x04\x8e\xff\xff\xff\xff\xff\xff\xff\xff.", 12, MP_EDECODE, "truncated");
  LOAD("\x80\x04\x8a\xff.", 5, MP_EDECODE, "truncated");
  LOAD("\x80\x04\x8b\xff\xff\xff\xff.", 8, MP_EDECODE, "truncated");
  LOAD("\x80\x04Nr\xff\xff\xff\x7f.", 9, MP_EDECODE, "memo index");
  LOAD("\x80\x04Np99999999999\n.", 17, MP_EDECODE, "memo index");
  LOAD("\x80\x04h\x05.", 5, MP_EDECODE, "memo key");
  LOAD("\x80\x04\x95\xff\xff\xff\xff\0\0\0\0N.", 13, MP_EDECODE, "truncated");

  /* Every proper prefix of a real pickle is refused cleanly. */
  static const char full[] =
      "\x80\x04\x95-\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x01" "a\x94]\x94(K\x01G?"
      "\xf8\x00\x00\x00\x00\x00\x00" "C\x02xy\x94\x8f\x94(K\x02\x90\x88" "e\x8c\x01"
      "b\x94(K\x03\x91\x94u.";
  o = LOAD(full, sizeof full - 1, 0, NULL);
  expect_repr(o, "{'a': [1, 1.5, b'xy', {2}, True], 'b': frozenset({3})}");
  mp_obj_unref(o);
  for (size_t k = 0; k + 1 < sizeof full - 1; k++) {
    assert_int_equal(mp_obj_from_pickle_opts(full, k, NULL, NULL, &o), MP_ETRUNCATED);
    assert_int_equal(mp_obj_from_pickle(full, k, &o), MP_EDECODE);
  }
}

static void test_cycles(void **state) {
  (void)state;
  mp_test_watchdog(10);
  /* l = []; l.append(l): pickle.dumps(l, 4) */
  static const char rec[] = "\x80\x04\x95\x06\0\0\0\0\0\0\0]\x94h\x00" "a.";
  LOAD(rec, sizeof rec - 1, MP_EDECODE, "recursive");
  /* A cycle through a dict and a tuple, refused after it was built: freed
   * (ASan's leak check proves it). */
  LOAD("}\x94(K\x01](h\x00t\x94" "au.", 14, MP_EDECODE, "recursive");
  mp_pickle_load_opts opts = {.flags = MP_PICKLE_ALLOW_CYCLES};
  mp_obj *o = NULL, *item;
  assert_int_equal(mp_obj_from_pickle_opts(rec, sizeof rec - 1, &opts, NULL, &o), 0);
  assert_int_equal(mp_obj_list_get(o, 0, &item), 0);
  assert_ptr_equal(item, o);
  expect_repr(o, "[[...]]");
  /* The encoder writes it back as CPython does. */
  void *buf;
  size_t len;
  assert_int_equal(mp_obj_to_pickle(o, 4, &buf, &len), 0);
  assert_int_equal(len, sizeof rec - 1);
  assert_memory_equal(buf, rec, len);
  mp_free(buf);
  mp_obj_list_clear(o);
  mp_obj_unref(o);
}

/* A find_class that accepts builtins.KeyError and makes it the tuple
 * ('KeyError', args), and a build that keeps the state in a list. */
static int calls;
static int find_class(void *ctx, const char *module, const char *name,
                      const mp_obj *args, mp_obj **out) {
  assert_ptr_equal(ctx, &calls);
  if (strcmp(module, "builtins") || strcmp(name, "KeyError"))
    return MP_EDECODE;
  calls++;
  if (!out)
    return 0;
  *out = mp_obj_build("(s O)", name, args ? (mp_obj *)args : mp_obj_none());
  return *out ? 0 : -ENOMEM;
}
static int build(void *ctx, mp_obj *obj, mp_obj *state, mp_obj **out) {
  (void)ctx;
  *out = mp_obj_build("[O O]", obj, state);
  return *out ? 0 : -ENOMEM;
}

static void test_hooks(void **state) {
  (void)state;
  mp_test_watchdog(10);
  mp_pickle_load_opts opts = {.find_class = find_class, .build = build, .ctx = &calls};
  mp_obj *o = NULL;
  /* pickle.dumps(('#ERROR', KeyError('x')), 4) */
  static const char err[] =
      "\x80\x04\x95,\x00\x00\x00\x00\x00\x00\x00\x8c\x06#ERROR\x94\x8c\x08"
      "builtins\x94\x8c\x08KeyError\x94\x93\x94\x8c\x01x\x94\x85\x94R\x94\x86\x94.";
  assert_int_equal(mp_obj_from_pickle_opts(err, sizeof err - 1, &opts, NULL, &o), 0);
  expect_repr(o, "('#ERROR', ('KeyError', ('x',)))");
  assert_int_equal(calls, 2); /* accepted, then called */
  mp_obj_unref(o);
  /* the global as a value, and BUILD through the hook */
  assert_int_equal(mp_obj_from_pickle_opts("cbuiltins\nKeyError\n.", 20, &opts, NULL, &o), 0);
  expect_repr(o, "('KeyError', None)");
  mp_obj_unref(o);
  assert_int_equal(mp_obj_from_pickle_opts("cbuiltins\nKeyError\n)RK\x01" "b.", 25,
                                           &opts, NULL, &o), 0);
  expect_repr(o, "[('KeyError', ()), 1]");
  mp_obj_unref(o);
  /* what the hook refuses stays refused, with its name */
  assert_int_equal(mp_obj_from_pickle_opts("cos\nsystem\n.", 12, &opts, NULL, &o),
                   MP_EDECODE);
  assert_non_null(strstr(mp_last_error()->message, "os.system"));
  /* without the hook, KeyError is refused */
  LOAD(err, sizeof err - 1, MP_EDECODE, "builtins.KeyError");
}

static void test_pyobj(void **state) {
  (void)state;
  mp_test_watchdog(10);
  /* ('#ERROR', KeyError('x')) made in C, written as CPython writes it */
  mp_obj *args = mp_obj_build("(s)", "x");
  mp_obj *err = mp_obj_pyobj(MP_PYOBJ_CALL, "builtins", "KeyError", args, NULL);
  mp_obj *msg = mp_obj_build("(s X)", "#ERROR", err);
  expect_repr(msg, "('#ERROR', KeyError('x'))");
  void *buf;
  size_t len;
  assert_int_equal(mp_obj_to_pickle(msg, 4, &buf, &len), 0);
  mp_obj *o = NULL;
  LOAD(buf, len, MP_EDECODE, "builtins.KeyError"); /* refused by default */
  mp_pickle_load_opts keep = {.flags = MP_PICKLE_KEEP_OBJECTS};
  assert_int_equal(mp_obj_from_pickle_opts(buf, len, &keep, NULL, &o), 0);
  assert_true(mp_obj_equal(o, msg));
  mp_obj *e;
  assert_int_equal(mp_obj_tuple_get(o, 1, &e), 0);
  mp_pyobj_kind kind;
  const char *module, *name;
  mp_obj *a, *st;
  assert_int_equal(mp_obj_pyobj_parts(e, &kind, &module, &name, &a, &st), 0);
  assert_int_equal(kind, MP_PYOBJ_CALL);
  assert_string_equal(module, "builtins");
  assert_string_equal(name, "KeyError");
  expect_repr(a, "('x',)");
  assert_ptr_equal(st, mp_obj_none());
  mp_free(buf);
  mp_obj_unref(o);
  /* NEWOBJ + BUILD (pickle.dumps(Point(1), 4)) kept and written back */
  static const char inst[] =
      "\x80\x04\x95#\x00\x00\x00\x00\x00\x00\x00\x8c\x08__main__\x94\x8c\x05Point"
      "\x94\x93\x94)\x81\x94}\x94\x8c\x01x\x94K\x01sb.";
  assert_int_equal(mp_obj_from_pickle_opts(inst, sizeof inst - 1, &keep, NULL, &o), 0);
  assert_int_equal(mp_obj_pyobj_parts(o, &kind, NULL, &name, NULL, &st), 0);
  assert_int_equal(kind, MP_PYOBJ_NEW);
  assert_string_equal(name, "Point");
  expect_repr(st, "{'x': 1}");
  assert_int_equal(mp_obj_to_pickle(o, 4, &buf, &len), 0);
  assert_int_equal(len, sizeof inst - 1 - 6); /* CPython's, less its 6 MEMOIZEs */
  mp_free(buf);
  mp_obj_unref(o);
  /* a bare global, and what mp_obj_pyobj refuses */
  o = mp_obj_pyobj(MP_PYOBJ_REF, "builtins", "len", NULL, NULL);
  expect_repr(o, "<class 'builtins.len'>");
  mp_obj_unref(o);
  assert_null(mp_obj_pyobj(MP_PYOBJ_CALL, "builtins", "KeyError", NULL, NULL));
  assert_null(mp_obj_pyobj(MP_PYOBJ_CALL, "a\nb", "c", args, NULL));
  assert_null(mp_obj_pyobj(MP_PYOBJ_CALL, "", "c", args, NULL));
  assert_int_equal(mp_obj_encode(msg, &buf, &len), MP_ETYPE); /* pickle only */
  assert_int_equal(mp_obj_pyobj_parts(args, NULL, NULL, NULL, NULL, NULL), MP_ETYPE);
  mp_obj_unref(args);
  mp_obj_unref(msg);
}

static void test_sets(void **state) {
  (void)state;
  mp_test_watchdog(10);
  mp_obj *s = mp_obj_set_new(), *f = mp_obj_frozenset_new();
  expect_repr(s, "set()");
  expect_repr(f, "frozenset()");
  for (int i = 1; i <= 3; i++) {
    assert_int_equal(mp_obj_set_add_steal(s, mp_obj_int(i)), 0);
    assert_int_equal(mp_obj_set_add_steal(f, mp_obj_int(i)), 0);
  }
  assert_int_equal(mp_obj_set_add_steal(s, mp_obj_float(1.0)), 0); /* == 1 */
  assert_int_equal(mp_obj_set_len(s), 3);
  expect_repr(s, "{1, 2, 3}");
  expect_repr(f, "frozenset({1, 2, 3})");
  assert_true(mp_obj_equal(s, f));
  int64_t h;
  assert_int_equal(mp_obj_hash(f, &h), 0);
  assert_int_equal(h, -272375401224217160LL); /* hash(frozenset({1, 2, 3})) */
  assert_int_equal(mp_obj_hash(s, &h), MP_ETYPE);
  mp_obj *two = mp_obj_int(2), *l = mp_obj_list_new();
  assert_int_equal(mp_obj_set_contains(s, two), 1);
  assert_int_equal(mp_obj_set_add(s, l), MP_ETYPE);
  assert_int_equal(mp_obj_set_remove(f, two), MP_ETYPE);
  assert_int_equal(mp_obj_set_remove(s, two), 0);
  assert_int_equal(mp_obj_set_remove(s, two), MP_EKEY);
  assert_int_equal(mp_obj_set_contains(s, two), 0);
  bool lt;
  assert_int_equal(mp_obj_less(s, f, &lt), 0); /* a proper subset */
  assert_true(lt);
  /* a frozenset is a dict key; sets travel as MessagePack too */
  mp_obj *d = mp_obj_dict_new();
  assert_int_equal(mp_obj_dict_set(d, f, s), 0);
  void *buf;
  size_t len;
  mp_obj *back;
  assert_int_equal(mp_obj_encode(d, &buf, &len), 0);
  assert_int_equal(mp_obj_decode(buf, len, &back), 0);
  expect_repr(back, "{frozenset({1, 2, 3}): {1, 3}}");
  mp_free(buf);
  mp_obj_unref(back);
  mp_obj *c = mp_obj_copy(s);
  assert_ptr_not_equal(c, s);
  assert_true(mp_obj_equal(c, s));
  mp_obj_unref(c);
  /* bytearray: equal to bytes, unhashable, readable as bytes */
  mp_obj *ba = mp_obj_bytearray("a'b", 3), *by = mp_obj_bytes("a'b", 3);
  expect_repr(ba, "bytearray(b\"a'b\")");
  assert_true(mp_obj_equal(ba, by));
  assert_int_equal(mp_obj_hash(ba, &h), MP_ETYPE);
  const void *p;
  assert_int_equal(mp_obj_bytes_value(ba, &p, &len), 0);
  assert_int_equal(len, 3);
  assert_string_equal(mp_obj_type_name(ba), "bytearray");
  assert_int_equal(mp_obj_encode(ba, &buf, &len), 0);
  assert_int_equal(mp_obj_decode(buf, len, &back), 0);
  assert_int_equal(mp_obj_get_type(back), MP_OBJ_BYTEARRAY);
  mp_free(buf);
  mp_obj_unref(back);
  mp_obj_unref(ba);
  mp_obj_unref(by);
  mp_obj_unref(two);
  mp_obj_unref(l);
  mp_obj_unref(d);
  mp_obj_unref(s);
  mp_obj_unref(f);
}

/* Objects a decoder cut from one arena block die in another thread while
 * the decoder goes on filling new blocks: the blocks' counts are atomic,
 * so every block is freed once (ASan turns arenas off; this test is for
 * the plain build, and valgrind). */
#define HANDOFF 64
static mp_obj *handoff[HANDOFF];
static pthread_mutex_t handoff_lock = PTHREAD_MUTEX_INITIALIZER;

static void *consumer(void *arg) {
  (void)arg;
  for (int got = 0; got < 400;) {
    pthread_mutex_lock(&handoff_lock);
    for (int i = 0; i < HANDOFF; i++)
      if (handoff[i]) {
        mp_obj_unref(handoff[i]);
        handoff[i] = NULL;
        got++;
      }
    pthread_mutex_unlock(&handoff_lock);
  }
  return NULL;
}

static void test_arena_threads(void **state) {
  (void)state;
  mp_test_watchdog(60);
  mp_obj *l = mp_obj_list_new();
  for (int i = 0; i < 3000; i++)
    assert_int_equal(mp_obj_list_append_steal(l, i % 7 ? mp_obj_int(i * 1000003LL)
                                                       : mp_obj_strf("s%d", i)), 0);
  void *buf;
  size_t len;
  assert_int_equal(mp_obj_to_pickle(l, 4, &buf, &len), 0);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, consumer, NULL), 0);
  for (int n = 0; n < 400; n++) {
    mp_obj *o;
    assert_int_equal(mp_obj_from_pickle(buf, len, &o), 0);
    mp_obj *keep; /* one item outlives its list: its block must stay */
    assert_int_equal(mp_obj_list_get(o, n % 3000, &keep), 0);
    mp_obj_ref(keep);
    for (bool placed = false; !placed;) {
      pthread_mutex_lock(&handoff_lock);
      for (int i = 0; i < HANDOFF && !placed; i++)
        if (!handoff[i])
          handoff[i] = o, placed = true;
      pthread_mutex_unlock(&handoff_lock);
    }
    mp_obj *want;
    assert_int_equal(mp_obj_list_get(l, n % 3000, &want), 0);
    assert_true(mp_obj_equal(keep, want));
    mp_obj_unref(keep);
  }
  assert_int_equal(pthread_join(t, NULL), 0);
  mp_free(buf);
  mp_obj_unref(l);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_exact_bytes), cmocka_unit_test(test_decode_basics),
      cmocka_unit_test(test_refusals),    cmocka_unit_test(test_limits),
      cmocka_unit_test(test_cycles),      cmocka_unit_test(test_hooks),
      cmocka_unit_test(test_sets),        cmocka_unit_test(test_arena_threads),
      cmocka_unit_test(test_pyobj),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
