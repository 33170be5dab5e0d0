/* test_obj_dict.c: dict operations on mp_obj against what CPython does:
 * get/set/delete/contains, 1 == 1.0 == True as one key, insertion order
 * through deletions, keys/values/items, update, pop, popitem (LIFO),
 * setdefault, clear, and a long random run checked against a simple model. */
#include <errno.h>
#include <math.h>

#include "mp_test.h"
#include "mproc.h"
#include "obj/obj_internal.h"

#define REPR(o, want) check_repr((o), (want), __LINE__)
static void check_repr(const mp_obj *o, const char *want, int line) {
  char *s = NULL;
  if (!o)
    fail_msg("line %d: NULL object (errno %d)", line, errno);
  assert_int_equal(mp_obj_repr(o, &s, NULL), 0);
  if (strcmp(s, want) != 0)
    fail_msg("line %d: repr %s, want %s", line, s, want);
  mp_free(s);
}

static void test_dict_ops(void **state) {
  (void)state;
  mp_test_watchdog(10);
  mp_obj *d = mp_obj_dict_new(), *v;
  mp_obj *one = mp_obj_int(1), *onef = mp_obj_float(1.0), *t = mp_obj_bool(true);
  mp_obj *a = mp_obj_str("a"), *b = mp_obj_str("b");
  /* d[1] = 'a'; d[1.0] = 'b'; d[True] = 'c' -> {1: 'c'} */
  assert_int_equal(mp_obj_dict_set(d, one, a), 0);
  assert_int_equal(mp_obj_dict_set(d, onef, b), 0);
  assert_int_equal(mp_obj_dict_set_steal(d, t, mp_obj_str("c")), 0);
  REPR(d, "{1: 'c'}");
  assert_int_equal(mp_obj_dict_len(d), 1);
  assert_int_equal(mp_obj_dict_get(d, onef, &v), 0);
  REPR(v, "'c'");
  assert_int_equal(mp_obj_dict_contains(d, t), 1);
  assert_int_equal(mp_obj_dict_contains(d, a), 0);
  assert_int_equal(mp_obj_dict_get(d, a, &v), MP_EKEY);
  assert_int_equal(mp_obj_dict_set_str(d, "a", one), 0);
  assert_int_equal(mp_obj_dict_set_str_steal(d, "b", mp_obj_build("[i]", 2)), 0);
  assert_int_equal(mp_obj_dict_set_steal(d, mp_obj_build("(i s)", 0, "t"), mp_obj_none()), 0);
  assert_int_equal(mp_obj_dict_set_steal(d, mp_obj_float(0.25), mp_obj_bytes("x", 1)), 0);
  assert_int_equal(mp_obj_dict_set_steal(d, mp_obj_none(), mp_obj_float(NAN)), 0);
  REPR(d, "{1: 'c', 'a': 1, 'b': [2], (0, 't'): None, 0.25: b'x', None: nan}");
  assert_int_equal(mp_obj_dict_get_str(d, "b", &v), 0);
  REPR(v, "[2]");
  assert_int_equal(mp_obj_dict_get_str(d, "zz", &v), MP_EKEY);
  mp_obj *key = mp_obj_build("(i s)", 0, "t");
  assert_int_equal(mp_obj_dict_get(d, key, &v), 0);
  REPR(v, "None");
  /* Unhashable keys are TypeError. */
  mp_obj *lk = mp_obj_list_new(), *dk = mp_obj_dict_new(), *tl = mp_obj_build("([])");
  assert_int_equal(mp_obj_dict_set(d, lk, one), MP_ETYPE);
  assert_int_equal(mp_obj_dict_set_steal(d, mp_obj_ref(dk), mp_obj_ref(one)), MP_ETYPE);
  assert_int_equal(mp_obj_dict_get(d, tl, &v), MP_ETYPE);
  assert_int_equal(mp_obj_dict_contains(d, lk), MP_ETYPE);
  assert_int_equal(mp_obj_dict_delete(d, lk), MP_ETYPE);
  /* Wrong container type, NULLs. */
  assert_int_equal(mp_obj_dict_set(lk, one, one), MP_ETYPE);
  assert_int_equal(mp_obj_dict_get(lk, one, &v), MP_ETYPE);
  assert_int_equal(mp_obj_dict_get(NULL, one, &v), -EINVAL);
  assert_int_equal(mp_obj_dict_set(d, NULL, one), -EINVAL);
  errno = ENOMEM;
  assert_int_equal(mp_obj_dict_set_steal(d, NULL, mp_obj_int(3)), -ENOMEM);
  assert_int_equal(mp_obj_dict_len(lk), 0);

  /* Deleting keeps the order of the rest; re-adding goes last. */
  assert_int_equal(mp_obj_dict_delete(d, a), 0);
  assert_int_equal(mp_obj_dict_delete(d, a), MP_EKEY);
  assert_int_equal(mp_obj_dict_delete(d, t), 0);
  assert_int_equal(mp_obj_dict_set(d, one, one), 0);
  REPR(d, "{'b': [2], (0, 't'): None, 0.25: b'x', None: nan, 1: 1}");
  mp_obj *keys, *values, *items;
  assert_int_equal(mp_obj_dict_keys(d, &keys), 0);
  assert_int_equal(mp_obj_dict_values(d, &values), 0);
  assert_int_equal(mp_obj_dict_items(d, &items), 0);
  REPR(keys, "['b', (0, 't'), 0.25, None, 1]");
  REPR(values, "[[2], None, b'x', nan, 1]");
  REPR(items, "[('b', [2]), ((0, 't'), None), (0.25, b'x'), (None, nan), (1, 1)]");
  size_t pos = 0, n = 0;
  mp_obj *k;
  while (mp_obj_dict_next(d, &pos, &k, &v)) {
    mp_obj *lv;
    mp_obj_list_get(values, (ptrdiff_t)n, &lv);
    assert_ptr_equal(v, lv);
    n++;
  }
  assert_int_equal(n, 5);
  assert_false(mp_obj_dict_next(d, &pos, NULL, NULL));
  assert_int_equal(mp_obj_dict_keys(lk, &keys), MP_ETYPE);

  /* pop, popitem (LIFO), setdefault. */
  assert_int_equal(mp_obj_dict_pop(d, b, NULL, &v), 0);
  REPR(v, "[2]");
  mp_obj_unref(v);
  assert_int_equal(mp_obj_dict_pop(d, b, NULL, &v), MP_EKEY);
  assert_int_equal(mp_obj_dict_pop(d, b, a, &v), 0); /* the default */
  assert_ptr_equal(v, a);
  mp_obj_unref(v);
  assert_int_equal(mp_obj_dict_popitem(d, &k, &v), 0);
  REPR(k, "1");
  REPR(v, "1");
  mp_obj_unref(k);
  mp_obj_unref(v);
  assert_int_equal(mp_obj_dict_popitem(d, &k, NULL), 0);
  REPR(k, "None");
  assert_int_equal(mp_obj_dict_setdefault(d, a, one, &v), 0);
  assert_ptr_equal(v, one);
  assert_int_equal(mp_obj_dict_setdefault(d, a, b, &v), 0);
  assert_ptr_equal(v, one); /* present: kept */
  assert_int_equal(mp_obj_dict_setdefault(d, b, NULL, NULL), 0);
  REPR(d, "{(0, 't'): None, 0.25: b'x', 'a': 1, 'b': None}");
  assert_int_equal(mp_obj_dict_setdefault(d, lk, NULL, &v), MP_ETYPE);
  /* Python: {'a': 1, 'b': 2, 'c': 3}.popitem() -> ('c', 3); then d['d'] = 4;
   * del d['a']; popitem() -> ('d', 4), leaving {'b': 2}. */
  mp_obj *p = mp_obj_build("{s: i, s: i, s: i}", "a", 1, "b", 2, "c", 3);
  assert_int_equal(mp_obj_dict_popitem(p, &k, NULL), 0);
  REPR(k, "'c'");
  mp_obj_unref(k);
  assert_int_equal(mp_obj_dict_set_str_steal(p, "d", mp_obj_int(4)), 0);
  assert_int_equal(mp_obj_dict_delete(p, a), 0);
  assert_int_equal(mp_obj_dict_popitem(p, &k, NULL), 0);
  REPR(k, "'d'");
  mp_obj_unref(k);
  REPR(p, "{'b': 2}");
  assert_int_equal(mp_obj_dict_popitem(p, NULL, NULL), 0);
  assert_int_equal(mp_obj_dict_popitem(p, &k, &v), MP_EKEY);

  /* update from a dict (itself too) and from pairs; clear; copy. */
  assert_int_equal(mp_obj_dict_update(p, d), 0);
  assert_int_equal(mp_obj_dict_update(p, p), 0);
  mp_obj *pairs = mp_obj_build("[(s i) [i s] (b N)]", "a", 5, 7, "seven", 1);
  assert_int_equal(mp_obj_dict_update(p, pairs), 0);
  REPR(p, "{(0, 't'): None, 0.25: b'x', 'a': 5, 'b': None, 7: 'seven', True: None}");
  mp_obj *badpairs[] = {mp_obj_build("[(i)]", 1), mp_obj_build("[i]", 1),
                        mp_obj_build("[([] i)]", 1), mp_obj_int(3)};
  int want[] = {MP_EVALUE, MP_ETYPE, MP_ETYPE, MP_ETYPE};
  for (size_t i = 0; i < MP__ARRAY_SIZE(badpairs); i++) {
    assert_int_equal(mp_obj_dict_update(p, badpairs[i]), want[i]);
    mp_obj_unref(badpairs[i]);
  }
  mp_obj *c = mp_obj_copy(p);
  assert_true(mp_obj_equal(c, p));
  assert_int_equal(mp_obj_dict_clear(p), 0);
  REPR(p, "{}");
  assert_int_equal(mp_obj_dict_len(c), 6);
  assert_false(mp_obj_equal(c, p));
  assert_int_equal(mp_obj_dict_set_str(p, "again", one), 0);
  REPR(p, "{'again': 1}");

  mp_obj *objs[] = {d, one, onef, a, b, key, lk, dk, tl, keys, values, items, p, pairs, c};
  for (size_t i = 0; i < MP__ARRAY_SIZE(objs); i++)
    mp_obj_unref(objs[i]);
}

/* A long random mix of inserts, updates, deletes and popitems over 600
 * possible keys (ints, their float twins, strings), checked against a model
 * that keeps the insertion order. Exercises growth, holes, compaction and
 * slot reuse. */
#define NKEYS 600
static mp_obj *model_key(int k) {
  if (k % 3 == 0)
    return mp_obj_int(k);
  if (k % 3 == 1)
    return mp_obj_float(k); /* a float key: also found as the int k */
  return mp_obj_strf("key%d", k);
}

static void test_dict_model(void **state) {
  (void)state;
  mp_test_watchdog(60);
  int order[NKEYS], norder = 0; /* live keys in insertion order */
  int64_t value[NKEYS];
  mp_obj *d = mp_obj_dict_new();
  unsigned seed = 99;
  for (int step = 0; step < 200000; step++) {
    seed = seed * 1103515245 + 12345;
    int k = (int)((seed >> 8) % NKEYS), op = (int)((seed >> 20) % 10);
    int at = -1;
    for (int i = 0; i < norder; i++)
      if (order[i] == k)
        at = i;
    mp_obj *key = (k % 3 == 1 && op & 1) ? mp_obj_int(k) : model_key(k);
    if (op < 5) { /* set */
      assert_int_equal(mp_obj_dict_set_steal(d, mp_obj_ref(key), mp_obj_int(step)), 0);
      if (at < 0)
        order[norder++] = k;
      value[k] = step;
    } else if (op < 8) { /* delete */
      assert_int_equal(mp_obj_dict_delete(d, key), at < 0 ? MP_EKEY : 0);
      if (at >= 0) {
        memmove(order + at, order + at + 1, (size_t)(norder - at - 1) * sizeof *order);
        norder--;
      }
    } else if (op == 8) { /* get */
      mp_obj *v;
      int64_t iv;
      assert_int_equal(mp_obj_dict_get(d, key, &v), at < 0 ? MP_EKEY : 0);
      if (at >= 0) {
        mp_obj_int_value(v, &iv);
        assert_true(iv == value[k]);
      }
    } else if (norder) { /* popitem: the last inserted */
      mp_obj *pk, *pv;
      assert_int_equal(mp_obj_dict_popitem(d, &pk, &pv), 0);
      mp_obj *want = model_key(order[norder - 1]);
      assert_true(mp_obj_equal(pk, want));
      mp_obj_unref(want);
      mp_obj_unref(pk);
      mp_obj_unref(pv);
      norder--;
    }
    mp_obj_unref(key);
    assert_int_equal(mp_obj_dict_len(d), norder);
    if (step % 5000 == 0 || step == 199999) { /* the whole order */
      size_t pos = 0;
      int i = 0;
      mp_obj *kk;
      while (mp_obj_dict_next(d, &pos, &kk, NULL)) {
        mp_obj *want = model_key(order[i++]);
        assert_true(mp_obj_equal(kk, want));
        mp_obj_unref(want);
      }
      assert_int_equal(i, norder);
    }
  }
  /* Round trip through MessagePack keeps content and order. */
  void *buf;
  size_t len;
  mp_obj *back;
  char *r1, *r2;
  assert_int_equal(mp_obj_encode(d, &buf, &len), 0);
  assert_int_equal(mp_obj_decode(buf, len, &back), 0);
  assert_true(mp_obj_equal(d, back));
  mp_obj_repr(d, &r1, NULL);
  mp_obj_repr(back, &r2, NULL);
  assert_string_equal(r1, r2);
  mp_free(r1);
  mp_free(r2);
  mp_free(buf);
  mp_obj_unref(back);
  mp_obj_unref(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dict_ops),
      cmocka_unit_test(test_dict_model),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
