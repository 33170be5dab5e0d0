/* square_list_array.c: tutorial 003's shared-memory example (GeeksforGeeks,
 * "Multiprocessing in Python | Set 2", sharing data between processes): a
 * child writes squares into an Array and their sum into a Value; the
 * parent sees both.
 *
 *   def square_list(mylist, result, square_sum):
 *       for idx, num in enumerate(mylist):
 *           result[idx] = num * num
 *       square_sum.value = sum(result)
 *       print("Result(in process p1): {}".format(result[:]))
 *       print("Sum of squares(in process p1): {}".format(square_sum.value))
 *
 *   mylist = [1,2,3,4]
 *   result = multiprocessing.Array('i', 4)
 *   square_sum = multiprocessing.Value('i')
 *   p1 = multiprocessing.Process(target=square_list,
 *                                args=(mylist, result, square_sum))
 *   p1.start()
 *   p1.join()
 *   print("Result(in main program): {}".format(result[:]))
 *   print("Sum of squares(in main program): {}".format(square_sum.value))
 */
#include <errno.h>
#include <stdio.h>

#include <mproc.h>
#include "check.h"

typedef struct args {
  int mylist[4];
  mp_array *result;
  mp_value *square_sum;
} args;

/* Prints "<what>: [a, b, c, d]" as Python formats the list. */
static void print_list(const char *what, mp_array *a) {
  int v[4];
  CHECK(mp_array_read(a, 0, 4, v));
  mp_obj *l = mp_obj_build("[i i i i]", v[0], v[1], v[2], v[3]);
  char *s;
  size_t n;
  if (mp_obj_repr(l, &s, &n) == 0) {
    printf("%s: %s\n", what, s);
    mp_free(s);
  }
  mp_obj_unref(l);
}

static int square_list(void *arg, size_t len) {
  args *a = arg;
  (void)len;
  int64_t sum = 0;
  for (int idx = 0; idx < 4; idx++) {
    int num = a->mylist[idx];
    CHECK(mp_array_set_int(a->result, idx, num * num));
    sum += num * num;
  }
  CHECK(mp_value_set_int(a->square_sum, sum));
  print_list("Result(in process p1)", a->result);
  int64_t s;
  CHECK(mp_value_get_int(a->square_sum, &s));
  printf("Sum of squares(in process p1): %lld\n", (long long)s);
  return 0;
}

int main(void) {
  args a = {{1, 2, 3, 4},
            mp_array_new(MP_CTYPE('i'), 4, NULL, NULL),
            mp_value_new(MP_CTYPE('i'), NULL, NULL)};
  if (!a.result || !a.square_sum) {
    fprintf(stderr, "creating: %s\n", mp_strerror(mp_errno_code(errno)));
    return 1;
  }
  mp_process *p1 = mp_process_new(square_list, &a, sizeof a, NULL);
  int code = -1;
  if (!p1 || mp_process_start(p1) != 0 || mp_process_join(p1, MP_FOREVER) != 0 ||
      mp_process_exitcode(p1, &code) != 1 || code != 0)
    return 1;
  mp_process_free(p1);
  print_list("Result(in main program)", a.result);
  int64_t s;
  CHECK(mp_value_get_int(a.square_sum, &s));
  printf("Sum of squares(in main program): %lld\n", (long long)s);
  mp_array_free(a.result);
  mp_value_free(a.square_sum);
  return 0;
}
