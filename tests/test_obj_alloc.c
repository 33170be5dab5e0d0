/* test_obj_alloc.c: mp_obj under a failing allocator: one composite
 * workload (build, repr, encode, decode, deep copy, list and dict changes,
 * sort, slices) is run with allocation N failing, for N = 1, 2, ... until
 * the workload no longer meets a failure. Every failure must come back as
 * a clean -ENOMEM, and ASan checks that nothing leaks. */
#include <errno.h>
#include <stdlib.h>

#include "mp_test.h"
#include "mproc.h"
#include "obj/obj_internal.h"

static int g_fail_at, g_calls;
static void *fail_malloc(void *ctx, size_t n) {
  (void)ctx;
  return ++g_calls == g_fail_at ? NULL : malloc(n);
}
static void *fail_realloc(void *ctx, void *p, size_t n) {
  (void)ctx;
  return ++g_calls == g_fail_at ? NULL : realloc(p, n);
}
static void fail_free(void *ctx, void *p) {
  (void)ctx;
  free(p);
}

/* One composite operation touching every allocating path. Returns 0 or the
 * first error, and frees everything either way. */
static int workload(void) {
  int r = 0;
  mp_obj *o = mp_obj_build("{s: [i N s (f b) y#], i: {s: [i i]}, (i s): f}", "k", 42,
                           "hello", 0.5, 1, "\x01\x02", (size_t)2, 7, "in", 1, 2, 1,
                           "t", 2.5);
  mp_obj *back = NULL, *copy = NULL, *keys = NULL, *items = NULL, *sl = NULL;
  char *s = NULL;
  void *buf = NULL;
  size_t len;
  if (!o)
    return mp_errno_code(errno);
  if ((r = mp_obj_repr(o, &s, &len)) < 0)
    goto out;
  if ((r = mp_obj_encode(o, &buf, &len)) < 0)
    goto out;
  if ((r = mp_obj_decode(buf, len, &back)) < 0)
    goto out;
  if (!mp_obj_equal(o, back))
    abort();
  if (!(copy = mp_obj_deepcopy(o))) {
    r = mp_errno_code(errno);
    goto out;
  }
  mp_obj *l;
  if ((r = mp_obj_dict_get_str(copy, "k", &l)) < 0)
    goto out;
  for (int i = 0; i < 20 && r == 0; i++)
    r = mp_obj_list_insert_steal(l, 0, mp_obj_int(i));
  if (r == 0 && (r = mp_obj_list_sort(l, false)) == MP_ETYPE)
    r = 0; /* ints and a None: Python's TypeError */
  if (r == 0)
    r = mp_obj_list_get_slice(l, 1, -1, 2, &sl);
  if (r == 0)
    r = mp_obj_list_set_slice(l, 0, 3, 1, sl);
  for (int i = 0; i < 20 && r == 0; i++)
    r = mp_obj_dict_set_steal(copy, mp_obj_strf("key%d", i), mp_obj_float(i));
  if (r == 0)
    r = mp_obj_dict_keys(copy, &keys);
  if (r == 0)
    r = mp_obj_dict_items(copy, &items);
  if (r == 0)
    r = mp_obj_dict_update(copy, o);
  if (r == 0)
    r = mp_obj_dict_set_steal(copy, mp_obj_ext(9, "tok", 3), mp_obj_copy(o));
  if (r == 0) { /* two encodings appended, as a connection frames them */
    void *ab = NULL;
    size_t alen = 0, acap = 0;
    r = mp_obj_encode_append(o, &ab, &alen, &acap);
    if (r == 0)
      r = mp_obj_encode_append(copy, &ab, &alen, &acap);
    mp_free(ab);
  }
  if (r == 0) {
    char *t;
    r = mp_obj_to_string(copy, &t, NULL);
    if (r == 0)
      mp_free(t);
  }
out:
  mp_free(s);
  mp_free(buf);
  mp_obj *all[] = {o, back, copy, keys, items, sl};
  for (size_t k = 0; k < MP__ARRAY_SIZE(all); k++)
    mp_obj_unref(all[k]);
  return r;
}

static void test_failing_allocator(void **state) {
  (void)state;
  mp_test_watchdog(60);
  mp_allocator a = {fail_malloc, fail_realloc, fail_free, NULL};
  int n;
  for (n = 1; n < 100000; n++) {
    g_fail_at = n;
    g_calls = 0;
    mp_set_allocator(&a);
    int r = workload();
    mp_set_allocator(NULL);
    if (r == 0 && g_calls < n)
      break; /* no allocation failed: done */
    if (r != -ENOMEM)
      fail_msg("failing allocation %d of %d: %d (%s)", n, g_calls, r, mp_err_name(r));
  }
  assert_true(n > 50); /* the workload does allocate many times */
  assert_int_equal(workload(), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_failing_allocator),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
