/* test_manager_messages.c: what a manager's list, dict, Namespace and
 * Array methods say when they fail, against CPython 3.11's own words
 * (captured from a real Manager: `python3 -c "... l[10]"` prints
 * "IndexError: list index out of range"), so a C program printing
 * mp_last_error()->message prints what Python prints. Also: slices go
 * through __getitem__ (Python 3 has no __getslice__), an exposed name that
 * is no method is refused at register, and a proxy whose manager shut down
 * fails with a code manager.h lists. A real manager server process. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "mp_test.h"
#include "mproc.h"

/* A proxy call that must fail with code and CPython's message. */
static void expect(mp_proxy *p, const char *method, mp_obj *args, int code,
                   const char *message) {
  mp_obj *out = NULL;
  int rc = mp_proxy_call(p, method, args, &out);
  mp_obj_unref(args);
  if (rc != code)
    fail_msg("%s: got %s, want %s (%s)", method, mp_err_name(rc),
             mp_err_name(code), mp_last_error()->message);
  assert_int_equal(mp_last_error()->code, code);
  if (strcmp(mp_last_error()->message, message) != 0)
    fail_msg("%s: message '%s', want '%s'", method, mp_last_error()->message,
             message);
}

static char *repr_of(mp_obj *o) {
  char *r = NULL;
  assert_int_equal(mp_obj_repr(o, &r, NULL), 0);
  return r;
}

#define ASSERT_REPR(o, want)                                                   \
  do {                                                                         \
    char *r_ = repr_of(o);                                                     \
    assert_string_equal(r_, want);                                             \
    mp_free(r_);                                                               \
  } while (0)

/* A test's manager (a server process), under a watchdog. */
static mp_manager *started(void) {
  mp_test_watchdog(30);
  mp_manager *m = mp_manager_start_new(NULL);
  assert_non_null(m);
  return m;
}

static mp_obj *with_slice(ptrdiff_t a, ptrdiff_t b, ptrdiff_t s) {
  mp_obj *sl = mp_proxy_slice(a, b, s);
  assert_non_null(sl);
  return mp_obj_build("(X)", sl);
}

static void test_list_messages(void **state) {
  (void)state;
  mp_manager *m = started();
  mp_obj *init = mp_obj_build("[i i i i i i]", 1, 2, 3, 4, 5, 6);
  mp_proxy *l = mp_manager_list(m, init), *e = mp_manager_list(m, NULL);
  mp_obj_unref(init);
  assert_non_null(l);
  expect(l, "__getitem__", mp_obj_build("(i)", 10), MP_EINDEX,
         "IndexError: list index out of range");
  expect(l, "__setitem__", mp_obj_build("(i i)", 10, 1), MP_EINDEX,
         "IndexError: list assignment index out of range");
  expect(l, "__delitem__", mp_obj_build("(i)", 10), MP_EINDEX,
         "IndexError: list assignment index out of range");
  expect(l, "__getitem__", mp_obj_build("(s)", "x"), MP_ETYPE,
         "TypeError: list indices must be integers or slices, not str");
  expect(l, "__getitem__", mp_obj_build("(f)", 1.5), MP_ETYPE,
         "TypeError: list indices must be integers or slices, not float");
  expect(e, "pop", NULL, MP_EINDEX, "IndexError: pop from empty list");
  expect(l, "pop", mp_obj_build("(i)", 10), MP_EINDEX,
         "IndexError: pop index out of range");
  expect(l, "pop", mp_obj_build("(s)", "x"), MP_ETYPE,
         "TypeError: 'str' object cannot be interpreted as an integer");
  expect(l, "index", mp_obj_build("(i)", 9), MP_EVALUE,
         "ValueError: 9 is not in list");
  expect(l, "index", mp_obj_build("(s)", "a"), MP_EVALUE,
         "ValueError: 'a' is not in list");
  expect(l, "remove", mp_obj_build("(i)", 9), MP_EVALUE,
         "ValueError: list.remove(x): x not in list");
  expect(l, "insert", mp_obj_build("(s i)", "x", 1), MP_ETYPE,
         "TypeError: 'str' object cannot be interpreted as an integer");
  expect(l, "extend", mp_obj_build("(i)", 5), MP_ETYPE,
         "TypeError: 'int' object is not iterable");
  expect(l, "append", NULL, MP_ETYPE,
         "TypeError: list.append() takes exactly one argument (0 given)");
  expect(l, "append", mp_obj_build("(i i)", 1, 2), MP_ETYPE,
         "TypeError: list.append() takes exactly one argument (2 given)");
  expect(l, "count", NULL, MP_ETYPE,
         "TypeError: list.count() takes exactly one argument (0 given)");
  expect(l, "__len__", mp_obj_build("(i)", 1), MP_ETYPE,
         "TypeError: list.__len__() takes no arguments (1 given)");
  mp_obj *mixed = mp_obj_build("[i s]", 1, "a");
  mp_proxy *ml = mp_manager_list(m, mixed);
  mp_obj_unref(mixed);
  expect(ml, "sort", NULL, MP_ETYPE,
         "TypeError: '<' not supported between instances of 'str' and 'int'");

  /* l[2:5], l[::2], l[::0], l[1:3] = 5, l[::2] = [1]: __getitem__ and
   * __setitem__ with a slice, as Python 3 sends them. */
  mp_obj *v = NULL;
  mp_obj *args = with_slice(2, 5, MP_SLICE_NONE); /* __getitem__(slice) */
  assert_int_equal(mp_proxy_call(l, "__getitem__", args, &v), 0);
  mp_obj_unref(args);
  ASSERT_REPR(v, "[3, 4, 5]");
  mp_obj_unref(v);
  mp_obj *sl = mp_proxy_slice(MP_SLICE_NONE, MP_SLICE_NONE, 2);
  assert_int_equal(mp_proxy_getitem(l, sl, &v), 0);
  ASSERT_REPR(v, "[1, 3, 5]");
  mp_obj_unref(v);
  expect(l, "__getitem__", with_slice(MP_SLICE_NONE, MP_SLICE_NONE, 0),
         MP_EVALUE, "ValueError: slice step cannot be zero");
  mp_obj *five = mp_obj_int(5), *one = mp_obj_build("[i]", 1);
  mp_obj *s13 = mp_proxy_slice(1, 3, MP_SLICE_NONE);
  assert_int_equal(mp_proxy_setitem(l, s13, five), MP_ETYPE);
  assert_string_equal(mp_last_error()->message,
                      "TypeError: can only assign an iterable");
  assert_int_equal(mp_proxy_setitem(l, sl, one), MP_EVALUE);
  assert_string_equal(mp_last_error()->message,
                      "ValueError: attempt to assign sequence of size 1 to "
                      "extended slice of size 3");
  /* l[1:3] = [1]; del l[::2] */
  assert_int_equal(mp_proxy_setitem(l, s13, one), 0);
  assert_int_equal(mp_proxy_getvalue(l, &v), 0);
  ASSERT_REPR(v, "[1, 1, 4, 5, 6]");
  mp_obj_unref(v);
  assert_int_equal(mp_proxy_delitem(l, sl), 0);
  assert_int_equal(mp_proxy_getvalue(l, &v), 0);
  ASSERT_REPR(v, "[1, 5]");
  mp_obj_unref(v);
  /* Python 3 has no __getslice__. */
  expect(l, "__getslice__", mp_obj_build("(i i)", 1, 2), MP_EATTR,
         "method '__getslice__' of 'list' is not exposed");
  mp_obj_unref(five), mp_obj_unref(one), mp_obj_unref(s13), mp_obj_unref(sl);
  mp_proxy_free(ml), mp_proxy_free(e), mp_proxy_free(l);
  mp_manager_free(m);
}

static void test_dict_namespace_messages(void **state) {
  (void)state;
  mp_manager *m = started();
  mp_obj *init = mp_obj_build("{s: i}", "a", 1);
  mp_proxy *d = mp_manager_dict(m, init), *e = mp_manager_dict(m, NULL);
  mp_obj_unref(init);
  assert_non_null(d);
  expect(d, "__getitem__", mp_obj_build("(s)", "x"), MP_EKEY, "KeyError: 'x'");
  expect(d, "__getitem__", mp_obj_build("(i)", 1), MP_EKEY, "KeyError: 1");
  expect(d, "__getitem__", mp_obj_build("(N)"), MP_EKEY, "KeyError: None");
  expect(d, "__getitem__", mp_obj_build("((i))", 1), MP_EKEY, "KeyError: (1,)");
  expect(d, "__getitem__", mp_obj_build("([i])", 1), MP_ETYPE,
         "TypeError: unhashable type: 'list'");
  expect(d, "__setitem__", mp_obj_build("([i] i)", 1, 1), MP_ETYPE,
         "TypeError: unhashable type: 'list'");
  expect(d, "__delitem__", mp_obj_build("(s)", "x"), MP_EKEY, "KeyError: 'x'");
  expect(d, "pop", mp_obj_build("(s)", "x"), MP_EKEY, "KeyError: 'x'");
  expect(d, "pop", NULL, MP_ETYPE,
         "TypeError: pop expected at least 1 argument, got 0");
  expect(d, "get", NULL, MP_ETYPE,
         "TypeError: get expected at least 1 argument, got 0");
  expect(d, "setdefault", NULL, MP_ETYPE,
         "TypeError: setdefault expected at least 1 argument, got 0");
  expect(d, "keys", mp_obj_build("(i)", 1), MP_ETYPE,
         "TypeError: dict.keys() takes no arguments (1 given)");
  expect(d, "update", mp_obj_build("(i)", 5), MP_ETYPE,
         "TypeError: 'int' object is not iterable");
  expect(e, "popitem", NULL, MP_EKEY,
         "KeyError: 'popitem(): dictionary is empty'");
  /* dict(1, 2): the create's count, in the type's name. */
  mp_proxy *none = NULL;
  mp_obj *two = mp_obj_build("(i i)", 1, 2);
  assert_int_equal(mp_manager_create(m, "dict", two, &none), MP_ETYPE);
  mp_obj_unref(two);
  assert_string_equal(mp_last_error()->message,
                      "TypeError: dict expected at most 1 argument, got 2");

  mp_proxy *ns = mp_manager_namespace(m);
  assert_non_null(ns);
  mp_obj *v = NULL;
  assert_int_equal(mp_proxy_getattr(ns, "x", &v), MP_EATTR);
  assert_string_equal(mp_last_error()->message,
                      "AttributeError: 'Namespace' object has no attribute 'x'");
  assert_int_equal(mp_proxy_delattr(ns, "x"), MP_EATTR);
  assert_string_equal(mp_last_error()->message,
                      "AttributeError: 'Namespace' object has no attribute 'x'");
  /* The same record under its older name. */
  assert_ptr_equal(mp_manager_last_error(), mp_last_error());

  mp_obj *seq = mp_obj_build("[i i i]", 1, 2, 3);
  mp_proxy *a = mp_manager_array(m, "i", seq);
  mp_obj_unref(seq);
  assert_non_null(a);
  expect(a, "__getitem__", mp_obj_build("(i)", 5), MP_EINDEX,
         "IndexError: array index out of range");
  expect(a, "__setitem__", mp_obj_build("(i i)", 5, 1), MP_EINDEX,
         "IndexError: array assignment index out of range");
  expect(a, "__getitem__", mp_obj_build("(s)", "x"), MP_ETYPE,
         "TypeError: array indices must be integers");
  mp_obj *s1 = mp_proxy_slice(1, MP_SLICE_NONE, MP_SLICE_NONE); /* a[1:] */
  assert_int_equal(mp_proxy_getitem(a, s1, &v), 0);
  mp_obj_unref(s1);
  ASSERT_REPR(v, "[2, 3]");
  mp_obj_unref(v);
  mp_proxy_free(a), mp_proxy_free(ns), mp_proxy_free(e), mp_proxy_free(d);
  mp_manager_free(m);
}

static int noop(void *self, mp_method_call *c) {
  (void)self, (void)c;
  return 0;
}

static int make(void *ctx, mp_method_call *c) {
  static char thing;
  (void)ctx;
  c->referent = &thing;
  return 0;
}

static void test_register_exposed(void **state) {
  (void)state;
  mp_test_watchdog(30);
  static const mp_method_def methods[] = {{"f", noop, NULL}, {"_h", noop, NULL}};
  static const char *const good[] = {"f", "_h"};
  static const char *const bad[] = {"f", "nosuch"};
  mp_manager *m = mp_manager_new(NULL);
  mp_type_def def = {.type_id = "Foo", .create = make, .methods = methods,
                     .n_methods = 2, .exposed = bad, .n_exposed = 2};
  /* Python raises AttributeError only when the method is called; here the
   * mistake is found where it is made. */
  assert_int_equal(mp_manager_register(m, &def), -EINVAL);
  assert_int_equal(mp_last_error()->code, -EINVAL);
  assert_non_null(strstr(mp_last_error()->message, "nosuch"));
  def.exposed = good;
  assert_int_equal(mp_manager_register(m, &def), 0);
  /* methods_of borrows another type's methods: exposed names are checked
   * against those. */
  static const char *const q_bad[] = {"put", "frobnicate"};
  mp_type_def q = {.type_id = "get_queue", .create = make,
                   .methods_of = "Queue", .exposed = q_bad, .n_exposed = 2};
  assert_int_equal(mp_manager_register(m, &q), -EINVAL);
  q.n_exposed = 1;
  assert_int_equal(mp_manager_register(m, &q), 0);
  mp_manager_free(m);
}

static void test_after_shutdown(void **state) {
  (void)state;
  mp_manager *m = started();
  mp_proxy *d = mp_manager_dict(m, NULL), *l = mp_manager_list(m, NULL);
  mp_obj *k = mp_obj_str("k");
  assert_int_equal(mp_proxy_setitem(d, k, k), 0);
  assert_int_equal(mp_manager_shutdown(m), 0);
  /* Every call of a proxy whose server is gone: MP_EEOF, whatever the
   * transport saw (a reset, a refused reconnection). */
  for (int i = 0; i < 3; i++) {
    assert_int_equal(mp_proxy_setitem(d, k, k), MP_EEOF);
    assert_int_equal(mp_proxy_append(l, k), MP_EEOF);
    size_t n;
    assert_int_equal(mp_proxy_len(d, &n), MP_EEOF);
  }
  /* The manager itself knows it shut down. */
  assert_null(mp_manager_dict(m, NULL));
  assert_int_equal(errno, -MP_ESTATE);
  mp_obj_unref(k);
  mp_proxy_free(l), mp_proxy_free(d);
  mp_manager_free(m);
}

/* Every blocking shorthand x {NaN, -inf, -1, 0, a short wait}, on an
 * object that makes it wait: NaN is -EINVAL before anything is sent; the
 * others end with the code of the call's local twin (sync.h, queue.h). */
static void test_proxy_timeouts(void **state) {
  (void)state;
  mp_manager *m = started();
  mp_proxy *lock = mp_manager_lock(m), *sem = mp_manager_semaphore(m, 0);
  mp_proxy *ev = mp_manager_event(m), *cond = mp_manager_condition(m, NULL);
  mp_proxy *q = mp_manager_queue(m, 1), *full = mp_manager_queue(m, 1);
  mp_proxy *bar = mp_manager_barrier(m, 2, MP_FOREVER);
  mp_obj *one = mp_obj_int(1), *v = NULL;
  assert_int_equal(mp_proxy_acquire(lock, true, MP_FOREVER), 0);
  assert_int_equal(mp_proxy_acquire(cond, true, MP_FOREVER), 0);
  assert_int_equal(mp_proxy_put(full, one, true, MP_FOREVER), 0);
  const double ts[] = {NAN, -INFINITY, -1, 0, 0.02};
  for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
    double t = ts[i];
    bool nan = isnan(t);
    assert_int_equal(mp_proxy_acquire(lock, true, t), nan ? -EINVAL : MP_ETIMEOUT);
    assert_int_equal(mp_proxy_acquire(sem, true, t), nan ? -EINVAL : MP_ETIMEOUT);
    assert_int_equal(mp_proxy_wait(ev, t), nan ? -EINVAL : MP_ETIMEOUT);
    assert_int_equal(mp_proxy_wait(cond, t), nan ? -EINVAL : MP_ETIMEOUT);
    assert_int_equal(mp_proxy_get(q, true, t, &v), nan ? -EINVAL : MP_EEMPTY);
    assert_int_equal(mp_proxy_put(full, one, true, t), nan ? -EINVAL : MP_EFULL);
    assert_int_equal(mp_proxy_wait(bar, t), nan ? -EINVAL : MP_EBROKEN);
    assert_int_equal(mp_proxy_callf(bar, "reset", NULL, ""), 0);
  }
  /* Still held: nothing above took or broke anything for good. */
  assert_int_equal(mp_proxy_release(cond), 0);
  assert_int_equal(mp_proxy_release(lock), 0);
  assert_int_equal(mp_proxy_release(lock), MP_EVALUE);
  mp_obj_unref(one);
  mp_proxy_free(lock), mp_proxy_free(sem), mp_proxy_free(ev);
  mp_proxy_free(cond), mp_proxy_free(q), mp_proxy_free(full);
  mp_proxy_free(bar);
  mp_manager_free(m);
}

/* Slices at the ends of the integers: answered, never a crash. */
static void test_extreme_slices(void **state) {
  (void)state;
  mp_manager *m = started();
  mp_obj *init = mp_obj_build("[i i i]", 1, 2, 3);
  mp_proxy *l = mp_manager_list(m, init);
  mp_obj_unref(init);
  const ptrdiff_t e[] = {PTRDIFF_MAX, PTRDIFF_MIN + 1, -1, 0, 1, MP_SLICE_NONE};
  size_t n = sizeof e / sizeof e[0];
  for (size_t a = 0; a < n; a++)
    for (size_t b = 0; b < n; b++)
      for (size_t c = 0; c < n; c++) {
        mp_obj *v = NULL, *sl = mp_proxy_slice(e[a], e[b], e[c]);
        int rc = mp_proxy_getitem(l, sl, &v);
        assert_true(rc == 0 || (rc == MP_EVALUE && e[c] == 0));
        if (rc == 0)
          assert_true(mp_obj_list_len(v) <= 3);
        mp_obj_unref(v);
        mp_obj_unref(sl);
      }
  /* A malformed slice (an ext of the slice's code, the wrong length). */
  mp_obj *bad = mp_obj_ext(MP_PROXY_EXT_SLICE, "xx", 2);
  mp_obj *v = NULL;
  assert_int_equal(mp_proxy_getitem(l, bad, &v), MP_ETYPE);
  mp_obj_unref(bad);
  mp_proxy_free(l);
  mp_manager_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_list_messages),
      cmocka_unit_test(test_dict_namespace_messages),
      cmocka_unit_test(test_register_exposed),
      cmocka_unit_test(test_after_shutdown),
      cmocka_unit_test(test_proxy_timeouts),
      cmocka_unit_test(test_extreme_slices),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
