/* test_value.c: Value, Array, RawValue, RawArray (mproc/value.h): every
 * typecode with its conversions and ranges, structs, arrays with Python's
 * indexing, c_char arrays' value and raw, copy and synchronized, the lock
 * option, sharing with children (inherited by fork, passed as handles,
 * and opened from a handle sent over a socket), processes incrementing
 * under get_lock, a process SIGKILLed holding a value's lock, bad input,
 * and the shm references a child gives back when it exits. The suite runs
 * once per start method (tests/mp_test.h). */
#include <sys/socket.h>

#include "shm/shm_internal.h"
#include "sync_test_util.h"

typedef struct point {
  double x, y;
} point;

static size_t refs_now(void) {
  mp__shm_stats st;
  mp__shm_get_stats(&st);
  return st.refs;
}

static void test_typecodes(void **state) {
  (void)state;
  mp_test_watchdog(30);
  size_t refs0 = refs_now();
  const char *codes = "cbBhHiIlLqQfd";
  size_t sizes[] = {1, 1, 1, 2, 2, 4, 4, 8, 8, 8, 8, 4, 8};
  for (int k = 0; codes[k]; k++) {
    char c = codes[k];
    assert_int_equal(mp_typecode_size(c), sizes[k]);
    mp_value *v = mp_value_new(MP_CTYPE(c), NULL, NULL);
    assert_non_null(v);
    assert_int_equal(mp_value_typecode(v), c);
    assert_int_equal(mp_value_size(v), sizes[k]);
    assert_true(mp_lock_is_recursive(mp_value_get_lock(v))); /* default: RLock */
    double d = -1;
    assert_int_equal(mp_value_get_double(v, &d), 0);
    assert_true(d == 0.0); /* zeroed */
    assert_int_equal(mp_value_set_int(v, 100), 0);
    assert_int_equal(mp_value_get_double(v, &d), 0);
    assert_true(d == 100.0);
    if (c == 'f' || c == 'd') {
      int64_t i;
      assert_int_equal(mp_value_get_int(v, &i), MP_ETYPE);
      assert_int_equal(mp_value_set_double(v, 0.5), 0);
      assert_int_equal(mp_value_get_double(v, &d), 0);
      assert_true(d == 0.5);
    } else {
      int64_t i;
      uint64_t u;
      assert_int_equal(mp_value_get_int(v, &i), 0);
      assert_int_equal(i, 100);
      assert_int_equal(mp_value_get_uint(v, &u), 0);
      assert_int_equal(u, 100);
      assert_int_equal(mp_value_set_double(v, 1.5), MP_ETYPE);
      bool is_signed = strchr("bhilq", c) != NULL;
      int bits = (int)sizes[k] * 8;
      int64_t lo = is_signed ? (bits == 64 ? INT64_MIN : -((int64_t)1 << (bits - 1))) : 0;
      assert_int_equal(mp_value_set_int(v, lo), 0);
      assert_int_equal(mp_value_get_int(v, &i), 0);
      assert_int_equal(i, lo);
      if (bits < 64) {
        assert_int_equal(mp_value_set_int(v, lo - 1), -ERANGE);
        int64_t hi = is_signed ? ((int64_t)1 << (bits - 1)) - 1 : ((int64_t)1 << bits) - 1;
        assert_int_equal(mp_value_set_int(v, hi), 0);
        assert_int_equal(mp_value_get_int(v, &i), 0);
        assert_int_equal(i, hi);
        assert_int_equal(mp_value_set_int(v, hi + 1), -ERANGE);
      } else if (is_signed) {
        assert_int_equal(mp_value_set_uint(v, UINT64_MAX), -ERANGE);
        assert_int_equal(mp_value_get_uint(v, &u), -ERANGE); /* holds INT64_MIN */
      } else {
        assert_int_equal(mp_value_set_int(v, -1), -ERANGE);
        assert_int_equal(mp_value_set_uint(v, UINT64_MAX), 0);
        assert_int_equal(mp_value_get_uint(v, &u), 0);
        assert_true(u == UINT64_MAX);
        assert_int_equal(mp_value_get_int(v, &i), -ERANGE);
      }
    }
    mp_value_free(v);
  }
  /* Initial values, as Value('d', 2.4), Value('i', 7), RawValue('h', -3). */
  mp_value *v = mp_value_new(MP_CTYPE('d'), &(double){2.4}, NULL);
  double d;
  assert_int_equal(mp_value_get_double(v, &d), 0);
  assert_true(d == 2.4);
  assert_true(*(double *)mp_value_get_obj(v) == 2.4);
  mp_value_free(v);
  v = mp_raw_value_new(MP_CTYPE('h'), &(short){-3});
  assert_null(mp_value_get_lock(v));
  int64_t i;
  assert_int_equal(mp_value_get_int(v, &i), 0);
  assert_int_equal(i, -3);
  mp_value_free(v);
  /* Bad types. */
  const mp_ctype bad[] = {MP_CTYPE('u'), MP_CTYPE('x'), MP_CTYPE(0), {'i', 8}};
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    errno = 0;
    assert_null(mp_value_new(bad[k], NULL, NULL));
    assert_int_equal(errno, EINVAL);
    assert_null(mp_raw_array_new(bad[k], 3, NULL));
    assert_int_equal(errno, EINVAL);
  }
  assert_non_null(v = mp_value_new((mp_ctype){'i', 4}, NULL, NULL)); /* size agrees */
  mp_value_free(v);
  mp_lock *l = mp_lock_new();
  assert_null(mp_value_new(MP_CTYPE('i'), NULL, &(mp_value_opts){.raw = true, .lock = l}));
  assert_int_equal(errno, EINVAL);
  mp_lock_free(l);
  assert_int_equal(mp_value_get_int(NULL, &i), -EINVAL);
  assert_int_equal(mp_value_set_int(NULL, 1), -EINVAL);
  mp_value_free(NULL);
  mp_array_free(NULL);
  assert_int_equal(refs_now(), refs0);
}

static void test_struct_value(void **state) {
  (void)state;
  mp_test_watchdog(30);
  point p0 = {4, 6}; /* RawValue(MyStruct, 4, 6) */
  mp_value *v = mp_raw_value_new(MP_CTYPE_OF(point), &p0);
  assert_non_null(v);
  assert_int_equal(mp_value_typecode(v), 0);
  assert_int_equal(mp_value_size(v), sizeof(point));
  assert_int_equal((uintptr_t)mp_value_get_obj(v) % 16, 0);
  point p;
  assert_int_equal(mp_value_read(v, &p), 0);
  assert_true(p.x == 4 && p.y == 6);
  assert_int_equal(mp_value_write(v, &(point){1, 2}), 0);
  assert_true(((point *)mp_value_get_obj(v))->y == 2);
  int64_t i;
  double d;
  assert_int_equal(mp_value_get_int(v, &i), MP_ETYPE);
  assert_int_equal(mp_value_get_double(v, &d), MP_ETYPE);
  assert_int_equal(mp_value_set_int(v, 1), MP_ETYPE);
  mp_value_free(v);
}

static void test_array(void **state) {
  (void)state;
  mp_test_watchdog(30);
  int init[] = {9, 2, 8}; /* RawArray('i', (9, 2, 8)) */
  mp_array *a = mp_array_new(MP_CTYPE('i'), 3, init, NULL);
  assert_non_null(a);
  assert_int_equal(mp_array_len(a), 3);
  assert_int_equal(mp_array_elem_size(a), sizeof(int));
  assert_int_equal(mp_array_typecode(a), 'i');
  int64_t x;
  assert_int_equal(mp_array_get_int(a, 0, &x), 0);
  assert_int_equal(x, 9);
  assert_int_equal(mp_array_get_int(a, -1, &x), 0); /* a[-1] */
  assert_int_equal(x, 8);
  assert_int_equal(mp_array_get_int(a, -3, &x), 0);
  assert_int_equal(x, 9);
  assert_int_equal(mp_array_get_int(a, 3, &x), MP_EINDEX);
  assert_int_equal(mp_array_get_int(a, -4, &x), MP_EINDEX);
  assert_int_equal(mp_array_set_int(a, 3, 1), MP_EINDEX);
  assert_int_equal(mp_array_set_int(a, PTRDIFF_MIN, 1), MP_EINDEX);
  assert_int_equal(mp_array_set_int(a, 1, -5), 0);
  int out[3];
  assert_int_equal(mp_array_read(a, 0, 3, out), 0); /* a[:] */
  assert_int_equal(out[1], -5);
  assert_int_equal(mp_array_read(a, 1, 3, out), MP_EINDEX);
  assert_int_equal(mp_array_read(a, 4, 0, out), MP_EINDEX);
  assert_int_equal(mp_array_read(a, 3, 0, NULL), 0);
  assert_int_equal(mp_array_read(a, SIZE_MAX, 2, out), MP_EINDEX);
  assert_int_equal(mp_array_write(a, 2, 1, &(int){7}), 0);
  assert_int_equal(mp_array_get(a, 2, &out[0]), 0);
  assert_int_equal(out[0], 7);
  assert_int_equal(mp_array_set(a, -3, &(int){1}), 0);
  assert_int_equal(mp_array_get(a, 5, &out[0]), MP_EINDEX);
  mp_array_free(a);

  /* Zeroed, doubles, empty. */
  a = mp_raw_array_new(MP_CTYPE('d'), 1000, NULL);
  double d = 1;
  assert_int_equal(mp_array_get_double(a, 999, &d), 0);
  assert_true(d == 0);
  assert_int_equal(mp_array_set_double(a, 999, 0.25), 0);
  assert_int_equal(mp_array_set_int(a, 998, -3), 0);
  assert_int_equal(mp_array_get_double(a, -2, &d), 0);
  assert_true(d == -3);
  mp_array_free(a);
  a = mp_array_new(MP_CTYPE('q'), 0, NULL, NULL);
  assert_non_null(a);
  assert_int_equal(mp_array_len(a), 0);
  assert_int_equal(mp_array_get_int(a, 0, &x), MP_EINDEX);
  mp_array_free(a);

  /* Struct arrays: Array(Point, [(1.875, -6.25), ...]). */
  point pts[] = {{1.875, -6.25}, {-5.75, 2.0}, {2.375, 9.5}};
  a = mp_array_new(MP_CTYPE_OF(point), 3, pts, NULL);
  point p;
  assert_int_equal(mp_array_get(a, 1, &p), 0);
  assert_true(p.x == -5.75 && p.y == 2.0);
  assert_int_equal(mp_array_get_double(a, 0, &d), MP_ETYPE);
  mp_array_free(a);

  /* Sizes that overflow. */
  errno = 0;
  assert_null(mp_raw_array_new(MP_CTYPE('d'), SIZE_MAX / 4, NULL));
  assert_int_equal(errno, EOVERFLOW);
  assert_null(mp_array_new(MP_CTYPE_OF(point), SIZE_MAX / 8, NULL, NULL));
  assert_int_equal(errno, EOVERFLOW);
  assert_null(mp_raw_array_new(MP_CTYPE('c'), (size_t)1 << 50, NULL));
  assert_int_equal(errno, EOVERFLOW);
}

static void test_char_array(void **state) {
  (void)state;
  mp_test_watchdog(30);
  mp_array *s = mp_array_new(MP_CTYPE('c'), 11, "hello world", NULL);
  char buf[32];
  size_t n;
  assert_int_equal(mp_array_value(s, buf, sizeof buf, &n), 0);
  assert_string_equal(buf, "hello world");
  assert_int_equal(n, 11);
  assert_int_equal(mp_array_value(s, buf, 11, &n), MP_ETOOSHORT);
  assert_int_equal(n, 11);
  /* ctypes: s.value = b'hi' writes "hi\0"; raw keeps the rest. */
  assert_int_equal(mp_array_set_value(s, "hi", 2), 0);
  assert_int_equal(mp_array_value(s, buf, sizeof buf, &n), 0);
  assert_string_equal(buf, "hi");
  assert_int_equal(mp_array_raw(s, buf, sizeof buf, &n), 0);
  assert_int_equal(n, 11);
  assert_memory_equal(buf, "hi\0lo world", 11);
  assert_int_equal(mp_array_raw(s, buf, 10, &n), MP_ETOOSHORT);
  assert_int_equal(mp_array_set_value(s, "123456789012", 12), MP_EVALUE);
  assert_int_equal(mp_array_set_value(s, "12345678901", 11), 0); /* fits, no NUL */
  assert_int_equal(mp_array_value(s, buf, sizeof buf, &n), 0);
  assert_string_equal(buf, "12345678901");
  assert_int_equal(mp_array_set_raw(s, "ab", 2), 0);
  assert_int_equal(mp_array_value(s, buf, sizeof buf, NULL), 0);
  assert_string_equal(buf, "ab345678901");
  assert_int_equal(mp_array_set_raw(s, "123456789012", 12), MP_EVALUE);
  int64_t c;
  assert_int_equal(mp_array_get_int(s, 0, &c), 0);
  assert_int_equal(c, 'a');
  assert_int_equal(mp_array_set_int(s, 0, 256), -ERANGE);
  mp_array_free(s);
  mp_array *ints = mp_raw_array_new(MP_CTYPE('b'), 4, NULL);
  assert_int_equal(mp_array_value(ints, buf, sizeof buf, &n), MP_ETYPE);
  assert_int_equal(mp_array_set_value(ints, "a", 1), MP_ETYPE);
  assert_int_equal(mp_array_raw(ints, buf, sizeof buf, &n), MP_ETYPE);
  mp_array_free(ints);
}

static void test_lock_option_copy_synchronized(void **state) {
  (void)state;
  mp_test_watchdog(30);
  size_t refs0 = refs_now();
  mp_lock *lock = mp_lock_new();
  mp_array *a = mp_array_new(MP_CTYPE('i'), 4, NULL, &(mp_value_opts){.lock = lock});
  mp_value *v = mp_value_new(MP_CTYPE('i'), NULL, &(mp_value_opts){.lock = lock});
  assert_ptr_equal(mp_array_get_lock(a), lock);
  assert_ptr_equal(mp_value_get_lock(v), lock);
  mp_value *raw = mp_value_new(MP_CTYPE('i'), NULL, &(mp_value_opts){.raw = true});
  assert_null(mp_value_get_lock(raw));
  /* The accessors take the lock: held elsewhere, a Lock makes them wait;
   * here it is free again at once. */
  assert_int_equal(mp_array_set_int(a, 0, 5), 0);
  assert_false(mp_lock_locked(lock));

  /* copy: a raw object in new memory. */
  mp_array *c = mp_array_copy(a);
  assert_non_null(c);
  assert_null(mp_array_get_lock(c));
  assert_ptr_not_equal(mp_array_get_obj(c), mp_array_get_obj(a));
  int64_t x;
  assert_int_equal(mp_array_get_int(c, 0, &x), 0);
  assert_int_equal(x, 5);
  assert_int_equal(mp_array_set_int(c, 0, 6), 0);
  assert_int_equal(mp_array_get_int(a, 0, &x), 0);
  assert_int_equal(x, 5);
  /* synchronized: the same memory with a lock. */
  mp_array *sa = mp_array_synchronized(c, NULL);
  assert_non_null(sa);
  assert_ptr_equal(mp_array_get_obj(sa), mp_array_get_obj(c));
  assert_true(mp_lock_is_recursive(mp_array_get_lock(sa)));
  mp_value *sv = mp_value_synchronized(raw, lock);
  assert_ptr_equal(mp_value_get_lock(sv), lock);
  assert_int_equal(mp_value_set_int(sv, 42), 0);
  mp_value_free(raw); /* sv keeps the memory */
  assert_int_equal(mp_value_get_int(sv, &x), 0);
  assert_int_equal(x, 42);
  mp_value *vc = mp_value_copy(sv);
  assert_int_equal(mp_value_get_int(vc, &x), 0);
  assert_int_equal(x, 42);
  assert_null(mp_value_copy(NULL));
  assert_null(mp_array_synchronized(NULL, NULL));
  mp_value_free(vc);
  mp_value_free(sv);
  mp_array_free(sa);
  mp_array_free(c);
  mp_value_free(v);
  mp_array_free(a);
  mp_lock_free(lock);
  assert_int_equal(refs_now(), refs0);
}

/* ---- children ----------------------------------------------------------------
 * Every child below runs with the suite's start method (tests/mp_test.h):
 * it reaches the objects through handles passed to it, not through the
 * parent's pointers, except in test_inherited_by_fork, which is about
 * fork's inheritance. */

typedef struct objs {
  mp_value *n, *x;
  mp_array *s, *A;
} objs;

/* The reference's modify(n, x, s, A). */
static int modify_objs(objs *o) {
  int64_t n;
  double x;
  if (mp_value_get_int(o->n, &n) || mp_value_set_int(o->n, n * n))
    return 1;
  if (mp_value_get_double(o->x, &x) || mp_value_set_double(o->x, x * x))
    return 2;
  char s[64];
  if (mp_array_value(o->s, s, sizeof s, NULL))
    return 3;
  for (char *p = s; *p; p++)
    if (*p >= 'a' && *p <= 'z')
      *p = (char)(*p - 'a' + 'A');
  if (mp_array_set_value(o->s, s, strlen(s)))
    return 4;
  for (size_t i = 0; i < mp_array_len(o->A); i++) {
    point p;
    mp_array_get(o->A, (ptrdiff_t)i, &p);
    p.x *= p.x;
    p.y *= p.y;
    mp_array_set(o->A, (ptrdiff_t)i, &p);
  }
  return 0;
}

/* fork only: the argument bytes hold the parent's pointers. */
static int modify_inherited(void *arg, size_t len) {
  (void)len;
  return modify_objs(arg);
}

/* Every method: the four objects come as handles 0..3. */
static int modify_passed(void *arg, size_t len) {
  mp_handle h[4] = {mp_test_handle(0), mp_test_handle(1), mp_test_handle(2),
                    mp_test_handle(3)};
  objs o = {mp_value_open(&h[0]), mp_value_open(&h[1]), mp_array_open(&h[2]),
            mp_array_open(&h[3])};
  int r = o.n && o.x && o.s && o.A ? modify_objs(&o) : 10;
  mp_value_free(o.n);
  mp_value_free(o.x);
  mp_array_free(o.s);
  mp_array_free(o.A);
  return r;
}

static void run_modify(bool passed) {
  mp_lock *lock = mp_lock_new();
  point pts[] = {{1.875, -6.25}, {-5.75, 2.0}, {2.375, 9.5}};
  objs o = {
      mp_value_new(MP_CTYPE('i'), &(int){7}, NULL),
      mp_value_new(MP_CTYPE('d'), &(double){1.0 / 3.0}, &(mp_value_opts){.raw = true}),
      mp_array_new(MP_CTYPE('c'), 11, "hello world", &(mp_value_opts){.lock = lock}),
      mp_array_new(MP_CTYPE_OF(point), 3, pts, &(mp_value_opts){.lock = lock}),
  };
  mp_process *p;
  if (passed) {
    mp_handle h[4];
    assert_int_equal(mp_value_handle(o.n, &h[0]), 0);
    assert_int_equal(mp_value_handle(o.x, &h[1]), 0);
    assert_int_equal(mp_array_handle(o.s, &h[2]), 0);
    assert_int_equal(mp_array_handle(o.A, &h[3]), 0);
    p = mp_test_start(modify_passed, NULL, 0, h, 4);
  } else {
    p = mp_test_start(modify_inherited, &o, sizeof o, NULL, 0);
  }
  mp_test_join_ok(p);
  int64_t n;
  double x;
  char s[64];
  assert_int_equal(mp_value_get_int(o.n, &n), 0);
  assert_int_equal(n, 49);
  assert_int_equal(mp_value_get_double(o.x, &x), 0);
  assert_true(x == (1.0 / 3.0) * (1.0 / 3.0));
  assert_int_equal(mp_array_value(o.s, s, sizeof s, NULL), 0);
  assert_string_equal(s, "HELLO WORLD");
  point q;
  assert_int_equal(mp_array_get(o.A, 0, &q), 0);
  assert_true(q.x == 3.515625 && q.y == 39.0625);
  mp_value_free(o.n);
  mp_value_free(o.x);
  mp_array_free(o.s);
  mp_array_free(o.A);
  mp_lock_free(lock);
}

static void test_inherited_by_fork(void **state) {
  (void)state;
  mp_test_watchdog(30);
  mp_test_only_method("fork", "the child uses the parent's pointers, "
                              "which only fork's copy of memory keeps valid");
  run_modify(false);
}

static void test_passed_to_child(void **state) {
  (void)state;
  mp_test_watchdog(30);
  run_modify(true);
}

enum { NPROC = 4, NINCR = 5000 };

static int incr_child(void *arg, size_t len) {
  mp_handle h = mp_test_handle(0);
  mp_value *v = mp_value_open(&h);
  CHILD_FAIL(v);
  mp_lock *l = mp_value_get_lock(v);
  int r = 0;
  for (int i = 0; i < NINCR && !r; i++) {
    int64_t x;
    if (mp_lock_acquire(l, 30) != 0)
      r = 1;
    else if (mp_value_get_int(v, &x) != 0) /* the RLock again: recursive */
      r = 2;
    else if (mp_value_set_int(v, x + 1) != 0)
      r = 3;
    if (r != 1 && mp_lock_release(l) != 0)
      r = 4;
  }
  mp_value_free(v);
  return r;
}

static void test_increments_under_lock(void **state) {
  (void)state;
  mp_test_watchdog(60);
  mp_value *v = mp_value_new(MP_CTYPE('l'), NULL, NULL);
  mp_handle h;
  assert_int_equal(mp_value_handle(v, &h), 0);
  mp_process *p[NPROC];
  for (int i = 0; i < NPROC; i++)
    p[i] = mp_test_start(incr_child, NULL, 0, &h, 1);
  for (int i = 0; i < NPROC; i++)
    mp_test_join_ok(p[i]);
  int64_t x;
  assert_int_equal(mp_value_get_int(v, &x), 0);
  assert_int_equal(x, NPROC * NINCR);
  mp_value_free(v);
}

/* A child opens what the parent sends over a socket (passed to it as
 * descriptor 0), not what it was passed: the raw handle path. */
static int handle_child(void *arg, size_t len) {
  int sock = mp_inherited_fd(0);
  CHILD_FAIL(sock >= 0);
  mp_handle hv, ha;
  CHILD_FAIL(mp_handle_recv(sock, &hv, 10) == 0);
  CHILD_FAIL(mp_handle_recv(sock, &ha, 10) == 0);
  CHILD_FAIL(hv.nparts == 2 && ha.nparts == 1);
  errno = 0;
  CHILD_FAIL(mp_array_open(&hv) == NULL && errno == -MP_ETYPE);
  mp_value *v = mp_value_open(&hv);
  mp_array *a = mp_array_open(&ha);
  mp_handle_close(&hv);
  mp_handle_close(&ha);
  CHILD_FAIL(v && a);
  CHILD_FAIL(mp_value_typecode(v) == 'd' && mp_value_get_lock(v) != NULL);
  CHILD_FAIL(mp_array_len(a) == 10 && mp_array_get_lock(a) == NULL);
  CHILD_FAIL(mp_lock_acquire(mp_value_get_lock(v), 10) == 0);
  CHILD_FAIL(mp_value_set_double(v, 3.1415927) == 0);
  CHILD_FAIL(mp_lock_release(mp_value_get_lock(v)) == 0);
  for (ptrdiff_t i = 0; i < 10; i++) {
    int64_t x;
    CHILD_FAIL(mp_array_get_int(a, i, &x) == 0);
    CHILD_FAIL(mp_array_set_int(a, i, -x) == 0);
  }
  mp_value_free(v);
  mp_array_free(a);
  return 0;
}

static void test_handles(void **state) {
  (void)state;
  mp_test_watchdog(30);
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  mp_process *p = mp_test_process(handle_child, NULL, 0);
  assert_int_equal(mp_test_pass_fd(p, sv[1]), 0);
  assert_int_equal(mp_process_start(p), 0);
  mp_value *v = mp_value_new(MP_CTYPE('d'), NULL, NULL);
  int init[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  mp_array *a = mp_raw_array_new(MP_CTYPE('i'), 10, init);
  mp_handle hv, ha;
  assert_int_equal(mp_value_handle(v, &hv), 0);
  assert_int_equal(hv.type, MP_TYPE_VALUE);
  assert_int_equal(hv.nparts, 2);
  assert_int_equal(mp_array_handle(a, &ha), 0);
  assert_int_equal(ha.type, MP_TYPE_ARRAY);
  assert_int_equal(ha.nparts, 1);
  assert_int_equal(mp_handle_send(sv[0], &hv), 0);
  assert_int_equal(mp_handle_send(sv[0], &ha), 0);
  mp_test_join_ok(p);
  double d;
  assert_int_equal(mp_value_get_double(v, &d), 0);
  assert_true(d == 3.1415927);
  int out[10];
  assert_int_equal(mp_array_read(a, 0, 10, out), 0);
  for (int i = 0; i < 10; i++)
    assert_int_equal(out[i], -i);
  /* A tampered handle is refused, never trusted. */
  mp_handle bad = ha;
  bad.parts[0].size = 8;
  assert_null(mp_array_open(&bad));
  assert_int_equal(errno, -MP_EDECODE);
  bad = hv;
  bad.type = MP_TYPE_ARRAY;
  assert_null(mp_array_open(&bad));
  assert_int_equal(errno, -MP_ETYPE);
  assert_null(mp_value_open(NULL));
  assert_int_equal(errno, EINVAL);
  /* A value over a lock in caller memory has no handle. */
  void *mem = shared_scratch(4096);
  mp_lock *ul = mp_lock_init(mem, false);
  mp_value *uv = mp_value_new(MP_CTYPE('i'), NULL, &(mp_value_opts){.lock = ul});
  assert_int_equal(mp_value_handle(uv, &hv), MP_ENOTSUP);
  mp_value_free(uv);
  mp_lock_free(ul);
  munmap(mem, 4096);
  mp_value_free(v);
  mp_array_free(a);
  close(sv[0]);
  close(sv[1]);
}

/* ---- robustness ------------------------------------------------------------ */

/* Takes the value's lock (an RLock) and ends holding it mid-update: killed
 * by SIGKILL, or under "thread" by returning, since a thread that ends
 * holding an RLock counts as a dead owner too. */
static int die_holding(void *arg, size_t len) {
  mp_handle h = mp_test_handle(0);
  mp_value *v = mp_value_open(&h);
  CHILD_FAIL(v);
  CHILD_FAIL(mp_lock_acquire(mp_value_get_lock(v), 10) == 0);
  *(long *)mp_value_get_obj(v) = -1; /* mid-update */
  if (!mp_test_method_is("thread"))
    kill(getpid(), SIGKILL);
  /* The wrapper goes, the hold stays: the thread ends owning the lock. */
  mp_value_free(v);
  return 0;
}

static void test_owner_dead(void **state) {
  (void)state;
  mp_test_watchdog(60);
  for (int round = 0; round < 2; round++) {
    mp_value *rv = mp_value_new(MP_CTYPE('l'), &(long){5}, NULL);
    mp_handle h;
    assert_int_equal(mp_value_handle(rv, &h), 0);
    mp_process *p = mp_test_start(die_holding, NULL, 0, &h, 1);
    int code = mp_test_join_code(p);
    assert_int_equal(code, mp_test_method_is("thread") ? 0 : -SIGKILL);
    mp_process_free(p);
    mp_lock *l = mp_value_get_lock(rv);
    int64_t x = 0;
    if (round == 0) {
      /* An accessor meets the dead owner: it reports it, does nothing,
       * and leaves the lock to the caller to repair. */
      assert_int_equal(mp_value_get_int(rv, &x), MP_EOWNERDEAD);
      assert_int_equal(x, 0);
      assert_true(mp_lock_is_mine(l));
    } else {
      assert_int_equal(mp_lock_acquire(l, 10), MP_EOWNERDEAD);
    }
    *(long *)mp_value_get_obj(rv) = 5; /* repair */
    assert_int_equal(mp_lock_consistent(l), 0);
    assert_int_equal(mp_lock_release(l), 0);
    assert_int_equal(mp_value_get_int(rv, &x), 0);
    assert_int_equal(x, 5);
    assert_int_equal(mp_value_set_int(rv, 6), 0);
    mp_value_free(rv);
  }
}

/* A child gives back the references it holds when it ends (mp__shm_exit),
 * whether inherited by fork or opened from a passed handle, so the
 * parent's free really frees: the next allocation reuses the block. */
static int open_and_leave(void *arg, size_t len) {
  mp_handle h = mp_test_handle(0);
  mp_value *v = mp_value_open(&h);
  CHILD_FAIL(v);
  /* A process child leaves without freeing: its exit gives the reference
   * back. A thread-process must free it: it is this very process. */
  if (mp_test_method_is("thread"))
    mp_value_free(v);
  return 0;
}

static void test_child_exit_releases(void **state) {
  (void)state;
  mp_test_watchdog(30);
  mp_value *v = mp_raw_value_new(MP_CTYPE('q'), NULL);
  void *where = mp_value_get_obj(v);
  mp_handle h;
  assert_int_equal(mp_value_handle(v, &h), 0);
  mp_test_join_ok(mp_test_start(open_and_leave, NULL, 0, &h, 1));
  mp_value_free(v);
  v = mp_raw_value_new(MP_CTYPE('q'), NULL);
  assert_ptr_equal(mp_value_get_obj(v), where);
  mp_value_free(v);
}

int main(void) {
  mp_test_use_start_method();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_typecodes),
      cmocka_unit_test(test_struct_value),
      cmocka_unit_test(test_array),
      cmocka_unit_test(test_char_array),
      cmocka_unit_test(test_lock_option_copy_synchronized),
      cmocka_unit_test(test_inherited_by_fork),
      cmocka_unit_test(test_passed_to_child),
      cmocka_unit_test(test_increments_under_lock),
      cmocka_unit_test(test_handles),
      cmocka_unit_test(test_owner_dead),
      cmocka_unit_test(test_child_exit_releases),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
