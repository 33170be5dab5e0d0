/* shared_value_array.c: the reference's 17.2.1.5 example, "Sharing state
 * between processes: shared memory": a child stores pi in a double Value
 * and negates an int Array.
 *
 *   from multiprocessing import Process, Value, Array
 *
 *   def f(n, a):
 *       n.value = 3.1415927
 *       for i in range(len(a)):
 *           a[i] = -a[i]
 *
 *   if __name__ == '__main__':
 *       num = Value('d', 0.0)
 *       arr = Array('i', range(10))
 *       p = Process(target=f, args=(num, arr))
 *       p.start()
 *       p.join()
 *       print(num.value)
 *       print(arr[:])
 *
 * The objects are created before the child, which inherits them by fork;
 * the printing goes through mp_obj so it is Python's repr. */
#include <errno.h>
#include <stdio.h>

#include <mproc.h>
#include "check.h"

typedef struct args {
  mp_value *n;
  mp_array *a;
} args;

static int f(void *arg, size_t len) {
  args *x = arg;
  (void)len;
  CHECK(mp_value_set_double(x->n, 3.1415927));
  for (ptrdiff_t i = 0; i < (ptrdiff_t)mp_array_len(x->a); i++) {
    int64_t v;
    if (mp_array_get_int(x->a, i, &v) != 0 || mp_array_set_int(x->a, i, -v) != 0)
      return 1;
  }
  return 0;
}

int main(void) {
  int range10[10];
  for (int i = 0; i < 10; i++)
    range10[i] = i;
  args x = {mp_value_new(MP_CTYPE('d'), &(double){0.0}, NULL),
            mp_array_new(MP_CTYPE('i'), 10, range10, NULL)};
  if (!x.n || !x.a) {
    fprintf(stderr, "creating: %s\n", mp_strerror(mp_errno_code(errno)));
    return 1;
  }
  mp_process *p = mp_process_new(f, &x, sizeof x, NULL);
  int code = -1;
  if (!p || mp_process_start(p) != 0 || mp_process_join(p, MP_FOREVER) != 0 ||
      mp_process_exitcode(p, &code) != 1 || code != 0)
    return 1;
  mp_process_free(p);

  double num;
  CHECK(mp_value_get_double(x.n, &num));
  mp_obj *o = mp_obj_float(num);
  mp_obj_print(o, stdout); /* print(num.value) */
  mp_obj_unref(o);
  int arr[10];
  mp_array_read(x.a, 0, 10, arr); /* arr[:] */
  o = mp_obj_list_new();
  for (int i = 0; i < 10; i++)
    CHECK(mp_obj_list_append_steal(o, mp_obj_int(arr[i])));
  CHECK(mp_obj_print(o, stdout));
  mp_obj_unref(o);
  mp_value_free(x.n);
  mp_array_free(x.a);
  return 0;
}
