/* sharedctypes.c: the reference's 17.2.2.6.1 example: a child process
 * modifies an int Value, a lock-free double Value, a c_char Array and an
 * Array of Point structs; the parent prints what the child left.
 *
 *   from multiprocessing import Process, Lock
 *   from multiprocessing.sharedctypes import Value, Array
 *   from ctypes import Structure, c_double
 *
 *   class Point(Structure):
 *       _fields_ = [('x', c_double), ('y', c_double)]
 *
 *   def modify(n, x, s, A):
 *       n.value **= 2
 *       x.value **= 2
 *       s.value = s.value.upper()
 *       for a in A:
 *           a.x **= 2
 *           a.y **= 2
 *
 *   if __name__ == '__main__':
 *       lock = Lock()
 *       n = Value('i', 7)
 *       x = Value(c_double, 1.0/3.0, lock=False)
 *       s = Array('c', b'hello world', lock=lock)
 *       A = Array(Point, [(1.875,-6.25), (-5.75,2.0), (2.375,9.5)], lock=lock)
 *       p = Process(target=modify, args=(n, x, s, A))
 *       p.start()
 *       p.join()
 *       print(n.value)
 *       print(x.value)
 *       print(s.value)
 *       print([(a.x, a.y) for a in A])
 *
 * The C struct is the ctypes Structure; floats print as Python's repr
 * (through mp_obj), and s.value prints as the reference shows it. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <mproc.h>
#include "check.h"

typedef struct point {
  double x, y;
} point;

typedef struct args {
  mp_value *n, *x;
  mp_array *s, *A;
} args;

static int modify(void *arg, size_t len) {
  args *a = arg;
  (void)len;
  int64_t n;
  double x;
  char s[64];
  if (mp_value_get_int(a->n, &n) || mp_value_set_int(a->n, n * n))
    return 1;
  if (mp_value_get_double(a->x, &x) || mp_value_set_double(a->x, x * x))
    return 1;
  if (mp_array_value(a->s, s, sizeof s, NULL))
    return 1;
  for (char *c = s; *c; c++)
    *c = (char)toupper((unsigned char)*c);
  if (mp_array_set_value(a->s, s, strlen(s)))
    return 1;
  /* for a in A: the elements themselves, under A's lock. */
  CHECK(mp_lock_acquire(mp_array_get_lock(a->A), MP_FOREVER));
  point *A = mp_array_get_obj(a->A);
  for (size_t i = 0; i < mp_array_len(a->A); i++) {
    A[i].x *= A[i].x;
    A[i].y *= A[i].y;
  }
  CHECK(mp_lock_release(mp_array_get_lock(a->A)));
  return 0;
}

int main(void) {
  mp_lock *lock = CHECKP(mp_lock_new());
  point pts[] = {{1.875, -6.25}, {-5.75, 2.0}, {2.375, 9.5}};
  args a = {
      mp_value_new(MP_CTYPE('i'), &(int){7}, NULL),
      /* c_double is the typecode 'd' */
      mp_value_new(MP_CTYPE('d'), &(double){1.0 / 3.0}, &(mp_value_opts){.raw = true}),
      mp_array_new(MP_CTYPE('c'), 11, "hello world", &(mp_value_opts){.lock = lock}),
      mp_array_new(MP_CTYPE_OF(point), 3, pts, &(mp_value_opts){.lock = lock}),
  };
  if (!lock || !a.n || !a.x || !a.s || !a.A) {
    fprintf(stderr, "creating: %s\n", mp_strerror(mp_errno_code(errno)));
    return 1;
  }
  mp_process *p = mp_process_new(modify, &a, sizeof a, NULL);
  int code = -1;
  if (!p || mp_process_start(p) != 0 || mp_process_join(p, MP_FOREVER) != 0 ||
      mp_process_exitcode(p, &code) != 1 || code != 0)
    return 1;
  mp_process_free(p);

  int64_t n;
  CHECK(mp_value_get_int(a.n, &n));
  printf("%lld\n", (long long)n);
  double x = *(double *)mp_value_get_obj(a.x); /* x has no lock */
  mp_obj *o = mp_obj_float(x);
  CHECK(mp_obj_print(o, stdout));
  mp_obj_unref(o);
  char s[64];
  CHECK(mp_array_value(a.s, s, sizeof s, NULL));
  printf("%s\n", s);
  o = mp_obj_list_new();
  for (size_t i = 0; i < mp_array_len(a.A); i++) {
    point pt;
    CHECK(mp_array_get(a.A, (ptrdiff_t)i, &pt));
    CHECK(mp_obj_list_append_steal(o, mp_obj_build("(d d)", pt.x, pt.y)));
  }
  CHECK(mp_obj_print(o, stdout));
  mp_obj_unref(o);

  mp_value_free(a.n);
  mp_value_free(a.x);
  mp_array_free(a.s);
  mp_array_free(a.A);
  mp_lock_free(lock);
  return 0;
}
