/* test_obj_list.c: list and tuple operations on mp_obj against what CPython
 * does: indexing with negative indices, insert/pop/remove/index/count,
 * reverse, extend, slices (get, set, delete; every combination in the table
 * below was produced by CPython on list(range(5))), sort with Python's
 * ordering and stability, and the type and index errors. */
#include <errno.h>
#include <math.h>
#include <pthread.h>

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

#define N MP_SLICE_NONE
struct slice_case {
  ptrdiff_t start, stop, step;
  const char *get, *del, *set; /* l[a:b:c]; del l[a:b:c]; l[a:b:c] = ... */
};
/* set: [8, 9] for step 1, else 10, 11, ... for each place of the slice. */
static const struct slice_case slice_cases[] = {
    {N, N, N, "[0, 1, 2, 3, 4]", "[]", "[8, 9]"},
    {N, N, -2, "[4, 2, 0]", "[1, 3]", "[12, 1, 11, 3, 10]"},
    {N, N, -1, "[4, 3, 2, 1, 0]", "[]", "[14, 13, 12, 11, 10]"},
    {N, N, 1, "[0, 1, 2, 3, 4]", "[]", "[8, 9]"},
    {N, N, 3, "[0, 3]", "[1, 2, 4]", "[10, 1, 2, 11, 4]"},
    {N, -6, N, "[]", "[0, 1, 2, 3, 4]", "[8, 9, 0, 1, 2, 3, 4]"},
    {N, -6, -2, "[4, 2, 0]", "[1, 3]", "[12, 1, 11, 3, 10]"},
    {N, -6, -1, "[4, 3, 2, 1, 0]", "[]", "[14, 13, 12, 11, 10]"},
    {N, -6, 1, "[]", "[0, 1, 2, 3, 4]", "[8, 9, 0, 1, 2, 3, 4]"},
    {N, -6, 3, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {N, -2, N, "[0, 1, 2]", "[3, 4]", "[8, 9, 3, 4]"},
    {N, -2, -2, "[4]", "[0, 1, 2, 3]", "[0, 1, 2, 3, 10]"},
    {N, -2, -1, "[4]", "[0, 1, 2, 3]", "[0, 1, 2, 3, 10]"},
    {N, -2, 1, "[0, 1, 2]", "[3, 4]", "[8, 9, 3, 4]"},
    {N, -2, 3, "[0]", "[1, 2, 3, 4]", "[10, 1, 2, 3, 4]"},
    {N, 0, N, "[]", "[0, 1, 2, 3, 4]", "[8, 9, 0, 1, 2, 3, 4]"},
    {N, 0, -2, "[4, 2]", "[0, 1, 3]", "[0, 1, 11, 3, 10]"},
    {N, 0, -1, "[4, 3, 2, 1]", "[0]", "[0, 13, 12, 11, 10]"},
    {N, 0, 1, "[]", "[0, 1, 2, 3, 4]", "[8, 9, 0, 1, 2, 3, 4]"},
    {N, 0, 3, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {N, 1, N, "[0]", "[1, 2, 3, 4]", "[8, 9, 1, 2, 3, 4]"},
    {N, 1, -2, "[4, 2]", "[0, 1, 3]", "[0, 1, 11, 3, 10]"},
    {N, 1, -1, "[4, 3, 2]", "[0, 1]", "[0, 1, 12, 11, 10]"},
    {N, 1, 1, "[0]", "[1, 2, 3, 4]", "[8, 9, 1, 2, 3, 4]"},
    {N, 1, 3, "[0]", "[1, 2, 3, 4]", "[10, 1, 2, 3, 4]"},
    {N, 3, N, "[0, 1, 2]", "[3, 4]", "[8, 9, 3, 4]"},
    {N, 3, -2, "[4]", "[0, 1, 2, 3]", "[0, 1, 2, 3, 10]"},
    {N, 3, -1, "[4]", "[0, 1, 2, 3]", "[0, 1, 2, 3, 10]"},
    {N, 3, 1, "[0, 1, 2]", "[3, 4]", "[8, 9, 3, 4]"},
    {N, 3, 3, "[0]", "[1, 2, 3, 4]", "[10, 1, 2, 3, 4]"},
    {N, 6, N, "[0, 1, 2, 3, 4]", "[]", "[8, 9]"},
    {N, 6, -2, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {N, 6, -1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {N, 6, 1, "[0, 1, 2, 3, 4]", "[]", "[8, 9]"},
    {N, 6, 3, "[0, 3]", "[1, 2, 4]", "[10, 1, 2, 11, 4]"},
    {-6, N, N, "[0, 1, 2, 3, 4]", "[]", "[8, 9]"},
    {-6, N, -2, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {-6, N, -1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {-6, N, 1, "[0, 1, 2, 3, 4]", "[]", "[8, 9]"},
    {-6, N, 3, "[0, 3]", "[1, 2, 4]", "[10, 1, 2, 11, 4]"},
    {-6, -6, N, "[]", "[0, 1, 2, 3, 4]", "[8, 9, 0, 1, 2, 3, 4]"},
    {-6, -6, -2, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {-6, -6, -1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {-6, -6, 1, "[]", "[0, 1, 2, 3, 4]", "[8, 9, 0, 1, 2, 3, 4]"},
    {-6, -6, 3, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {-6, -2, N, "[0, 1, 2]", "[3, 4]", "[8, 9, 3, 4]"},
    {-6, -2, -2, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {-6, -2, -1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {-6, -2, 1, "[0, 1, 2]", "[3, 4]", "[8, 9, 3, 4]"},
    {-6, -2, 3, "[0]", "[1, 2, 3, 4]", "[10, 1, 2, 3, 4]"},
    {-6, 0, N, "[]", "[0, 1, 2, 3, 4]", "[8, 9, 0, 1, 2, 3, 4]"},
    {-6, 0, -2, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {-6, 0, -1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {-6, 0, 1, "[]", "[0, 1, 2, 3, 4]", "[8, 9, 0, 1, 2, 3, 4]"},
    {-6, 0, 3, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {-6, 1, N, "[0]", "[1, 2, 3, 4]", "[8, 9, 1, 2, 3, 4]"},
    {-6, 1, -2, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {-6, 1, -1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {-6, 1, 1, "[0]", "[1, 2, 3, 4]", "[8, 9, 1, 2, 3, 4]"},
    {-6, 1, 3, "[0]", "[1, 2, 3, 4]", "[10, 1, 2, 3, 4]"},
    {-6, 3, N, "[0, 1, 2]", "[3, 4]", "[8, 9, 3, 4]"},
    {-6, 3, -2, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {-6, 3, -1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {-6, 3, 1, "[0, 1, 2]", "[3, 4]", "[8, 9, 3, 4]"},
    {-6, 3, 3, "[0]", "[1, 2, 3, 4]", "[10, 1, 2, 3, 4]"},
    {-6, 6, N, "[0, 1, 2, 3, 4]", "[]", "[8, 9]"},
    {-6, 6, -2, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {-6, 6, -1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {-6, 6, 1, "[0, 1, 2, 3, 4]", "[]", "[8, 9]"},
    {-6, 6, 3, "[0, 3]", "[1, 2, 4]", "[10, 1, 2, 11, 4]"},
    {-2, N, N, "[3, 4]", "[0, 1, 2]", "[0, 1, 2, 8, 9]"},
    {-2, N, -2, "[3, 1]", "[0, 2, 4]", "[0, 11, 2, 10, 4]"},
    {-2, N, -1, "[3, 2, 1, 0]", "[4]", "[13, 12, 11, 10, 4]"},
    {-2, N, 1, "[3, 4]", "[0, 1, 2]", "[0, 1, 2, 8, 9]"},
    {-2, N, 3, "[3]", "[0, 1, 2, 4]", "[0, 1, 2, 10, 4]"},
    {-2, -6, N, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 8, 9, 3, 4]"},
    {-2, -6, -2, "[3, 1]", "[0, 2, 4]", "[0, 11, 2, 10, 4]"},
    {-2, -6, -1, "[3, 2, 1, 0]", "[4]", "[13, 12, 11, 10, 4]"},
    {-2, -6, 1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 8, 9, 3, 4]"},
    {-2, -6, 3, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {-2, -2, N, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 8, 9, 3, 4]"},
    {-2, -2, -2, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {-2, -2, -1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {-2, -2, 1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 8, 9, 3, 4]"},
    {-2, -2, 3, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {-2, 0, N, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 8, 9, 3, 4]"},
    {-2, 0, -2, "[3, 1]", "[0, 2, 4]", "[0, 11, 2, 10, 4]"},
    {-2, 0, -1, "[3, 2, 1]", "[0, 4]", "[0, 12, 11, 10, 4]"},
    {-2, 0, 1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 8, 9, 3, 4]"},
    {-2, 0, 3, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {-2, 1, N, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 8, 9, 3, 4]"},
    {-2, 1, -2, "[3]", "[0, 1, 2, 4]", "[0, 1, 2, 10, 4]"},
    {-2, 1, -1, "[3, 2]", "[0, 1, 4]", "[0, 1, 11, 10, 4]"},
    {-2, 1, 1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 8, 9, 3, 4]"},
    {-2, 1, 3, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {-2, 3, N, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 8, 9, 3, 4]"},
    {-2, 3, -2, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {-2, 3, -1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {-2, 3, 1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 8, 9, 3, 4]"},
    {-2, 3, 3, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {-2, 6, N, "[3, 4]", "[0, 1, 2]", "[0, 1, 2, 8, 9]"},
    {-2, 6, -2, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {-2, 6, -1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {-2, 6, 1, "[3, 4]", "[0, 1, 2]", "[0, 1, 2, 8, 9]"},
    {-2, 6, 3, "[3]", "[0, 1, 2, 4]", "[0, 1, 2, 10, 4]"},
    {0, N, N, "[0, 1, 2, 3, 4]", "[]", "[8, 9]"},
    {0, N, -2, "[0]", "[1, 2, 3, 4]", "[10, 1, 2, 3, 4]"},
    {0, N, -1, "[0]", "[1, 2, 3, 4]", "[10, 1, 2, 3, 4]"},
    {0, N, 1, "[0, 1, 2, 3, 4]", "[]", "[8, 9]"},
    {0, N, 3, "[0, 3]", "[1, 2, 4]", "[10, 1, 2, 11, 4]"},
    {0, -6, N, "[]", "[0, 1, 2, 3, 4]", "[8, 9, 0, 1, 2, 3, 4]"},
    {0, -6, -2, "[0]", "[1, 2, 3, 4]", "[10, 1, 2, 3, 4]"},
    {0, -6, -1, "[0]", "[1, 2, 3, 4]", "[10, 1, 2, 3, 4]"},
    {0, -6, 1, "[]", "[0, 1, 2, 3, 4]", "[8, 9, 0, 1, 2, 3, 4]"},
    {0, -6, 3, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {0, -2, N, "[0, 1, 2]", "[3, 4]", "[8, 9, 3, 4]"},
    {0, -2, -2, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {0, -2, -1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {0, -2, 1, "[0, 1, 2]", "[3, 4]", "[8, 9, 3, 4]"},
    {0, -2, 3, "[0]", "[1, 2, 3, 4]", "[10, 1, 2, 3, 4]"},
    {0, 0, N, "[]", "[0, 1, 2, 3, 4]", "[8, 9, 0, 1, 2, 3, 4]"},
    {0, 0, -2, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {0, 0, -1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {0, 0, 1, "[]", "[0, 1, 2, 3, 4]", "[8, 9, 0, 1, 2, 3, 4]"},
    {0, 0, 3, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {0, 1, N, "[0]", "[1, 2, 3, 4]", "[8, 9, 1, 2, 3, 4]"},
    {0, 1, -2, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {0, 1, -1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {0, 1, 1, "[0]", "[1, 2, 3, 4]", "[8, 9, 1, 2, 3, 4]"},
    {0, 1, 3, "[0]", "[1, 2, 3, 4]", "[10, 1, 2, 3, 4]"},
    {0, 3, N, "[0, 1, 2]", "[3, 4]", "[8, 9, 3, 4]"},
    {0, 3, -2, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {0, 3, -1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {0, 3, 1, "[0, 1, 2]", "[3, 4]", "[8, 9, 3, 4]"},
    {0, 3, 3, "[0]", "[1, 2, 3, 4]", "[10, 1, 2, 3, 4]"},
    {0, 6, N, "[0, 1, 2, 3, 4]", "[]", "[8, 9]"},
    {0, 6, -2, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {0, 6, -1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {0, 6, 1, "[0, 1, 2, 3, 4]", "[]", "[8, 9]"},
    {0, 6, 3, "[0, 3]", "[1, 2, 4]", "[10, 1, 2, 11, 4]"},
    {1, N, N, "[1, 2, 3, 4]", "[0]", "[0, 8, 9]"},
    {1, N, -2, "[1]", "[0, 2, 3, 4]", "[0, 10, 2, 3, 4]"},
    {1, N, -1, "[1, 0]", "[2, 3, 4]", "[11, 10, 2, 3, 4]"},
    {1, N, 1, "[1, 2, 3, 4]", "[0]", "[0, 8, 9]"},
    {1, N, 3, "[1, 4]", "[0, 2, 3]", "[0, 10, 2, 3, 11]"},
    {1, -6, N, "[]", "[0, 1, 2, 3, 4]", "[0, 8, 9, 1, 2, 3, 4]"},
    {1, -6, -2, "[1]", "[0, 2, 3, 4]", "[0, 10, 2, 3, 4]"},
    {1, -6, -1, "[1, 0]", "[2, 3, 4]", "[11, 10, 2, 3, 4]"},
    {1, -6, 1, "[]", "[0, 1, 2, 3, 4]", "[0, 8, 9, 1, 2, 3, 4]"},
    {1, -6, 3, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {1, -2, N, "[1, 2]", "[0, 3, 4]", "[0, 8, 9, 3, 4]"},
    {1, -2, -2, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {1, -2, -1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {1, -2, 1, "[1, 2]", "[0, 3, 4]", "[0, 8, 9, 3, 4]"},
    {1, -2, 3, "[1]", "[0, 2, 3, 4]", "[0, 10, 2, 3, 4]"},
    {1, 0, N, "[]", "[0, 1, 2, 3, 4]", "[0, 8, 9, 1, 2, 3, 4]"},
    {1, 0, -2, "[1]", "[0, 2, 3, 4]", "[0, 10, 2, 3, 4]"},
    {1, 0, -1, "[1]", "[0, 2, 3, 4]", "[0, 10, 2, 3, 4]"},
    {1, 0, 1, "[]", "[0, 1, 2, 3, 4]", "[0, 8, 9, 1, 2, 3, 4]"},
    {1, 0, 3, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {1, 1, N, "[]", "[0, 1, 2, 3, 4]", "[0, 8, 9, 1, 2, 3, 4]"},
    {1, 1, -2, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {1, 1, -1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {1, 1, 1, "[]", "[0, 1, 2, 3, 4]", "[0, 8, 9, 1, 2, 3, 4]"},
    {1, 1, 3, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {1, 3, N, "[1, 2]", "[0, 3, 4]", "[0, 8, 9, 3, 4]"},
    {1, 3, -2, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {1, 3, -1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {1, 3, 1, "[1, 2]", "[0, 3, 4]", "[0, 8, 9, 3, 4]"},
    {1, 3, 3, "[1]", "[0, 2, 3, 4]", "[0, 10, 2, 3, 4]"},
    {1, 6, N, "[1, 2, 3, 4]", "[0]", "[0, 8, 9]"},
    {1, 6, -2, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {1, 6, -1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {1, 6, 1, "[1, 2, 3, 4]", "[0]", "[0, 8, 9]"},
    {1, 6, 3, "[1, 4]", "[0, 2, 3]", "[0, 10, 2, 3, 11]"},
    {3, N, N, "[3, 4]", "[0, 1, 2]", "[0, 1, 2, 8, 9]"},
    {3, N, -2, "[3, 1]", "[0, 2, 4]", "[0, 11, 2, 10, 4]"},
    {3, N, -1, "[3, 2, 1, 0]", "[4]", "[13, 12, 11, 10, 4]"},
    {3, N, 1, "[3, 4]", "[0, 1, 2]", "[0, 1, 2, 8, 9]"},
    {3, N, 3, "[3]", "[0, 1, 2, 4]", "[0, 1, 2, 10, 4]"},
    {3, -6, N, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 8, 9, 3, 4]"},
    {3, -6, -2, "[3, 1]", "[0, 2, 4]", "[0, 11, 2, 10, 4]"},
    {3, -6, -1, "[3, 2, 1, 0]", "[4]", "[13, 12, 11, 10, 4]"},
    {3, -6, 1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 8, 9, 3, 4]"},
    {3, -6, 3, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {3, -2, N, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 8, 9, 3, 4]"},
    {3, -2, -2, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {3, -2, -1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {3, -2, 1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 8, 9, 3, 4]"},
    {3, -2, 3, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {3, 0, N, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 8, 9, 3, 4]"},
    {3, 0, -2, "[3, 1]", "[0, 2, 4]", "[0, 11, 2, 10, 4]"},
    {3, 0, -1, "[3, 2, 1]", "[0, 4]", "[0, 12, 11, 10, 4]"},
    {3, 0, 1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 8, 9, 3, 4]"},
    {3, 0, 3, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {3, 1, N, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 8, 9, 3, 4]"},
    {3, 1, -2, "[3]", "[0, 1, 2, 4]", "[0, 1, 2, 10, 4]"},
    {3, 1, -1, "[3, 2]", "[0, 1, 4]", "[0, 1, 11, 10, 4]"},
    {3, 1, 1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 8, 9, 3, 4]"},
    {3, 1, 3, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {3, 3, N, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 8, 9, 3, 4]"},
    {3, 3, -2, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {3, 3, -1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {3, 3, 1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 8, 9, 3, 4]"},
    {3, 3, 3, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {3, 6, N, "[3, 4]", "[0, 1, 2]", "[0, 1, 2, 8, 9]"},
    {3, 6, -2, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {3, 6, -1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {3, 6, 1, "[3, 4]", "[0, 1, 2]", "[0, 1, 2, 8, 9]"},
    {3, 6, 3, "[3]", "[0, 1, 2, 4]", "[0, 1, 2, 10, 4]"},
    {6, N, N, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4, 8, 9]"},
    {6, N, -2, "[4, 2, 0]", "[1, 3]", "[12, 1, 11, 3, 10]"},
    {6, N, -1, "[4, 3, 2, 1, 0]", "[]", "[14, 13, 12, 11, 10]"},
    {6, N, 1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4, 8, 9]"},
    {6, N, 3, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {6, -6, N, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4, 8, 9]"},
    {6, -6, -2, "[4, 2, 0]", "[1, 3]", "[12, 1, 11, 3, 10]"},
    {6, -6, -1, "[4, 3, 2, 1, 0]", "[]", "[14, 13, 12, 11, 10]"},
    {6, -6, 1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4, 8, 9]"},
    {6, -6, 3, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {6, -2, N, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4, 8, 9]"},
    {6, -2, -2, "[4]", "[0, 1, 2, 3]", "[0, 1, 2, 3, 10]"},
    {6, -2, -1, "[4]", "[0, 1, 2, 3]", "[0, 1, 2, 3, 10]"},
    {6, -2, 1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4, 8, 9]"},
    {6, -2, 3, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {6, 0, N, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4, 8, 9]"},
    {6, 0, -2, "[4, 2]", "[0, 1, 3]", "[0, 1, 11, 3, 10]"},
    {6, 0, -1, "[4, 3, 2, 1]", "[0]", "[0, 13, 12, 11, 10]"},
    {6, 0, 1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4, 8, 9]"},
    {6, 0, 3, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {6, 1, N, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4, 8, 9]"},
    {6, 1, -2, "[4, 2]", "[0, 1, 3]", "[0, 1, 11, 3, 10]"},
    {6, 1, -1, "[4, 3, 2]", "[0, 1]", "[0, 1, 12, 11, 10]"},
    {6, 1, 1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4, 8, 9]"},
    {6, 1, 3, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {6, 3, N, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4, 8, 9]"},
    {6, 3, -2, "[4]", "[0, 1, 2, 3]", "[0, 1, 2, 3, 10]"},
    {6, 3, -1, "[4]", "[0, 1, 2, 3]", "[0, 1, 2, 3, 10]"},
    {6, 3, 1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4, 8, 9]"},
    {6, 3, 3, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {6, 6, N, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4, 8, 9]"},
    {6, 6, -2, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {6, 6, -1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
    {6, 6, 1, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4, 8, 9]"},
    {6, 6, 3, "[]", "[0, 1, 2, 3, 4]", "[0, 1, 2, 3, 4]"},
};
#undef N

static mp_obj *range5(void) { return mp_obj_build("[i i i i i]", 0, 1, 2, 3, 4); }

static void test_slices(void **state) {
  (void)state;
  mp_test_watchdog(20);
  mp_obj *l = range5(), *out;
  for (size_t k = 0; k < MP__ARRAY_SIZE(slice_cases); k++) {
    const struct slice_case *c = &slice_cases[k];
    assert_int_equal(mp_obj_list_get_slice(l, c->start, c->stop, c->step, &out), 0);
    check_repr(out, c->get, (int)k);
    size_t n = mp_obj_list_len(out);
    mp_obj_unref(out);

    mp_obj *d = range5();
    assert_int_equal(mp_obj_list_del_slice(d, c->start, c->stop, c->step), 0);
    check_repr(d, c->del, (int)k);
    mp_obj_unref(d);

    mp_obj *s = range5(), *items;
    bool simple = c->step == MP_SLICE_NONE || c->step == 1;
    if (simple) {
      items = mp_obj_build("(i i)", 8, 9); /* a tuple works as well */
    } else {
      items = mp_obj_list_new();
      for (size_t i = 0; i < n; i++)
        assert_int_equal(mp_obj_list_append_steal(items, mp_obj_int(10 + (int)i)), 0);
    }
    assert_int_equal(mp_obj_list_set_slice(s, c->start, c->stop, c->step, items), 0);
    check_repr(s, c->set, (int)k);
    if (!simple) { /* one item more than places: ValueError, unchanged */
      assert_int_equal(mp_obj_list_append_steal(items, mp_obj_int(99)), 0);
      assert_int_equal(mp_obj_list_set_slice(s, c->start, c->stop, c->step, items),
                       MP_EVALUE);
      check_repr(s, c->set, (int)k);
    }
    mp_obj_unref(items);
    mp_obj_unref(s);
  }
  /* Step 0 is ValueError; a tuple slices into a tuple; a = a[...]. */
  assert_int_equal(mp_obj_list_get_slice(l, 0, 3, 0, &out), MP_EVALUE);
  assert_int_equal(mp_obj_list_del_slice(l, 0, 3, 0), MP_EVALUE);
  mp_obj *t = mp_obj_build("(i i i)", 1, 2, 3);
  assert_int_equal(mp_obj_list_get_slice(t, 1, MP_SLICE_NONE, 1, &out), 0);
  REPR(out, "(2, 3)");
  mp_obj_unref(out);
  assert_int_equal(mp_obj_list_set_slice(t, 0, 1, 1, l), MP_ETYPE);
  assert_int_equal(mp_obj_list_del_slice(t, 0, 1, 1), MP_ETYPE);
  assert_int_equal(mp_obj_list_set_slice(l, 1, 2, 1, l), 0); /* a[1:2] = a */
  REPR(l, "[0, 0, 1, 2, 3, 4, 2, 3, 4]");
  assert_int_equal(mp_obj_list_set_slice(l, 0, MP_SLICE_NONE, 1, mp_obj_none()), MP_ETYPE);
  assert_int_equal(mp_obj_list_set_slice(l, MP_SLICE_NONE, MP_SLICE_NONE, -1, l), 0);
  REPR(l, "[4, 3, 2, 4, 3, 2, 1, 0, 0]"); /* a[::-1] = a */
  /* Huge bounds clamp as in Python. */
  assert_int_equal(mp_obj_list_get_slice(l, PTRDIFF_MIN + 1, PTRDIFF_MAX, PTRDIFF_MAX, &out), 0);
  REPR(out, "[4]");
  mp_obj_unref(out);
  assert_int_equal(mp_obj_list_get_slice(l, PTRDIFF_MAX, PTRDIFF_MIN + 1, -PTRDIFF_MAX, &out), 0);
  REPR(out, "[0]");
  mp_obj_unref(out);
  assert_int_equal(mp_obj_list_clear(l), 0);
  REPR(l, "[]");
  mp_obj_unref(l);
  mp_obj_unref(t);
}

static void test_list_ops(void **state) {
  (void)state;
  mp_test_watchdog(10);
  mp_obj *l = mp_obj_list_new(), *item, *s = mp_obj_str("s");
  assert_int_equal(mp_obj_list_append(l, s), 0);
  assert_int_equal(mp_obj_list_append_steal(l, mp_obj_int(1)), 0);
  assert_int_equal(mp_obj_list_insert_steal(l, 0, mp_obj_float(0.5)), 0);
  assert_int_equal(mp_obj_list_insert_steal(l, -100, mp_obj_int(-9)), 0); /* clamps */
  assert_int_equal(mp_obj_list_insert_steal(l, 100, mp_obj_int(9)), 0);
  assert_int_equal(mp_obj_list_insert(l, -1, s), 0); /* before the last */
  REPR(l, "[-9, 0.5, 's', 1, 's', 9]");
  assert_int_equal(mp_obj_list_len(l), 6);
  assert_int_equal(mp_obj_list_get(l, -1, &item), 0);
  REPR(item, "9");
  assert_int_equal(mp_obj_list_get(l, -6, &item), 0);
  REPR(item, "-9");
  assert_int_equal(mp_obj_list_get(l, 6, &item), MP_EINDEX);
  assert_int_equal(mp_obj_list_get(l, -7, &item), MP_EINDEX);
  assert_int_equal(mp_obj_list_set_steal(l, -2, mp_obj_none()), 0);
  assert_int_equal(mp_obj_list_set(l, 10, s), MP_EINDEX);
  assert_int_equal(mp_obj_list_delete(l, 4), 0);
  assert_int_equal(mp_obj_list_delete(l, 40), MP_EINDEX);
  REPR(l, "[-9, 0.5, 's', 1, 9]");
  assert_int_equal(mp_obj_list_set_steal(l, 4, mp_obj_none()), 0);
  REPR(l, "[-9, 0.5, 's', 1, None]");

  size_t pos, count;
  mp_obj *onef = mp_obj_float(1.0), *t = mp_obj_bool(true);
  assert_int_equal(mp_obj_list_index(l, s, &pos), 0);
  assert_int_equal(pos, 2);
  assert_int_equal(mp_obj_list_index(l, onef, &pos), 0); /* 1 == 1.0 */
  assert_int_equal(pos, 3);
  assert_int_equal(mp_obj_list_index(l, mp_obj_bool(false), &pos), MP_EVALUE);
  assert_int_equal(mp_obj_list_append(l, t), 0);
  assert_int_equal(mp_obj_list_count(l, onef, &count), 0);
  assert_int_equal(count, 2); /* 1 and True */
  assert_int_equal(mp_obj_list_remove(l, onef), 0); /* the first: 1 */
  REPR(l, "[-9, 0.5, 's', None, True]");
  assert_int_equal(mp_obj_list_remove(l, onef), 0);
  assert_int_equal(mp_obj_list_remove(l, onef), MP_EVALUE);
  assert_int_equal(mp_obj_list_pop(l, -1, &item), 0); /* new reference */
  REPR(item, "None");
  mp_obj_unref(item);
  assert_int_equal(mp_obj_list_pop(l, 0, &item), 0);
  REPR(item, "-9");
  mp_obj_unref(item);
  assert_int_equal(mp_obj_list_pop(l, 5, &item), MP_EINDEX);
  assert_int_equal(mp_obj_list_reverse(l), 0);
  REPR(l, "['s', 0.5]");
  assert_int_equal(mp_obj_list_extend(l, l), 0);
  REPR(l, "['s', 0.5, 's', 0.5]");
  mp_obj *tup = mp_obj_build("(N b)", 0);
  assert_int_equal(mp_obj_list_extend(l, tup), 0);
  REPR(l, "['s', 0.5, 's', 0.5, None, False]");
  assert_int_equal(mp_obj_list_clear(l), 0);
  assert_int_equal(mp_obj_list_pop(l, -1, NULL), MP_EINDEX); /* empty */
  assert_int_equal(mp_obj_list_reverse(l), 0);
  REPR(l, "[]");

  /* Tuples: read like lists, filled with tuple_set, never resized. */
  assert_int_equal(mp_obj_tuple_set(tup, 0, s), 0);
  assert_int_equal(mp_obj_tuple_set_steal(tup, -1, mp_obj_int(3)), 0);
  assert_int_equal(mp_obj_tuple_set_steal(tup, 2, mp_obj_int(3)), MP_EINDEX);
  REPR(tup, "('s', 3)");
  assert_int_equal(mp_obj_tuple_get(tup, -2, &item), 0);
  assert_ptr_equal(item, s);
  assert_int_equal(mp_obj_list_get(tup, 1, &item), 0);
  assert_int_equal(mp_obj_list_len(tup), 2);
  assert_int_equal(mp_obj_list_index(tup, s, &pos), 0);
  assert_int_equal(mp_obj_list_count(tup, s, &count), 0);
  assert_int_equal(count, 1);
  assert_int_equal(mp_obj_list_append(tup, s), MP_ETYPE);
  assert_int_equal(mp_obj_list_set(tup, 0, s), MP_ETYPE);
  assert_int_equal(mp_obj_list_pop(tup, 0, NULL), MP_ETYPE);
  assert_int_equal(mp_obj_list_sort(tup, false), MP_ETYPE);
  assert_int_equal(mp_obj_list_reverse(tup), MP_ETYPE);
  assert_int_equal(mp_obj_tuple_get(l, 0, &item), MP_ETYPE);
  assert_int_equal(mp_obj_tuple_set(l, 0, s), MP_ETYPE);
  REPR(tup, "('s', 3)");

  /* Wrong types and NULLs: documented codes; _steal consumes regardless. */
  mp_obj *d = mp_obj_dict_new();
  assert_int_equal(mp_obj_list_append(d, s), MP_ETYPE);
  assert_int_equal(mp_obj_list_append_steal(d, mp_obj_int(5)), MP_ETYPE);
  assert_int_equal(mp_obj_list_get(d, 0, &item), MP_ETYPE);
  assert_int_equal(mp_obj_list_len(d), 0);
  assert_int_equal(mp_obj_list_append(NULL, s), -EINVAL);
  assert_int_equal(mp_obj_list_append(l, NULL), -EINVAL);
  errno = ENOMEM; /* as a failed constructor leaves it */
  assert_int_equal(mp_obj_list_append_steal(l, NULL), -ENOMEM);
  errno = -MP_EVALUE;
  assert_int_equal(mp_obj_list_append_steal(l, mp_obj_str("\xff")), MP_EVALUE);
  assert_int_equal(mp_obj_list_extend(l, d), MP_ETYPE);
  REPR(l, "[]");
  mp_obj *objs[] = {l, onef, s, tup, d};
  for (size_t k = 0; k < MP__ARRAY_SIZE(objs); k++)
    mp_obj_unref(objs[k]);
}

static void sorted(mp_obj *l, bool reverse, const char *want) {
  assert_int_equal(mp_obj_list_sort(l, reverse), 0);
  REPR(l, want);
  mp_obj_unref(l);
}

static void test_sort(void **state) {
  (void)state;
  mp_test_watchdog(20);
  /* Expected lists from CPython's sorted(). Equal items keep their order. */
  sorted(mp_obj_build("[b f i i b]", 1, 1.0, 0, 1, 0), false,
         "[0, False, True, 1.0, 1]");
  sorted(mp_obj_build("[b f i i b]", 1, 1.0, 0, 1, 0), true,
         "[True, 1.0, 1, 0, False]");
  sorted(mp_obj_build("[[i i] [i i i] [i i] []]", 2, 1, 1, 2, 3, 1, 2), false,
         "[[], [1, 2], [1, 2, 3], [2, 1]]");
  sorted(mp_obj_build("[f i i f f]", 3.5, -1, 2, 2.0, -INFINITY), false,
         "[-inf, -1, 2, 2.0, 3.5]");
  sorted(mp_obj_build("[f i i f f]", 3.5, -1, 2, 2.0, -INFINITY), true,
         "[3.5, 2, 2.0, -1, -inf]");
  sorted(mp_obj_build("[s s s s s s]", "b", "a", "ab", "\xc3\xa9", "Z", ""), false,
         "['', 'Z', 'a', 'ab', 'b', '\xc3\xa9']");
  sorted(mp_obj_build("[(i s) (i s) (i s)]", 1, "b", 1, "a", 0, "z"), false,
         "[(0, 'z'), (1, 'a'), (1, 'b')]");
  sorted(mp_obj_build("[y y]", "b", "a"), false, "[b'a', b'b']");
  sorted(mp_obj_build("[N]"), false, "[None]"); /* nothing to compare */
  sorted(mp_obj_list_new(), false, "[]");
  /* Incomparable items: TypeError, the list is left as it was. */
  const char *bad[] = {"[i s]", "[N N]", "[{} {}]", "[[i] [s]]"};
  mp_obj *lists[] = {mp_obj_build(bad[0], 1, "a"), mp_obj_build(bad[1]),
                     mp_obj_build(bad[2]), mp_obj_build(bad[3], 1, "a")};
  for (size_t k = 0; k < MP__ARRAY_SIZE(lists); k++) {
    char *before, *after;
    mp_obj_repr(lists[k], &before, NULL);
    assert_int_equal(mp_obj_list_sort(lists[k], false), MP_ETYPE);
    mp_obj_repr(lists[k], &after, NULL);
    assert_string_equal(before, after);
    mp_free(before);
    mp_free(after);
    mp_obj_unref(lists[k]);
  }
  /* Many random ints: sorted and a permutation (the sum is kept). */
  mp_obj *l = mp_obj_list_new();
  int64_t sum = 0, v;
  unsigned seed = 12345;
  for (int i = 0; i < 20000; i++) {
    seed = seed * 1103515245 + 12345;
    v = (int64_t)(seed >> 8) % 1000 - 500;
    sum += v;
    assert_int_equal(mp_obj_list_append_steal(l, i % 3 ? mp_obj_int(v) : mp_obj_float((double)v)), 0);
  }
  assert_int_equal(mp_obj_list_sort(l, false), 0);
  double prev = -1e9, x;
  for (size_t i = 0; i < mp_obj_list_len(l); i++) {
    mp_obj *it;
    mp_obj_list_get(l, (ptrdiff_t)i, &it);
    mp_obj_float_value(it, &x);
    assert_true(x >= prev);
    prev = x;
    sum -= (int64_t)x;
  }
  assert_true(sum == 0);
  mp_obj_unref(l);
}

/* References may be taken and dropped from several threads at once, and a
 * shared object read (repr, encode) meanwhile. */
static mp_obj *g_shared;
static void *refs_thread(void *arg) {
  (void)arg;
  for (int i = 0; i < 20000; i++) {
    mp_obj *r = mp_obj_ref(g_shared);
    if (i % 1000 == 0) {
      char *s;
      void *b;
      size_t n;
      if (mp_obj_repr(r, &s, NULL) < 0 || mp_obj_encode(r, &b, &n) < 0)
        abort();
      mp_free(s);
      mp_free(b);
    }
    mp_obj_unref(r);
  }
  return NULL;
}

static void test_threads(void **state) {
  (void)state;
  mp_test_watchdog(30);
  g_shared = mp_obj_build("[i s {s: (f)}]", 1, "two", "k", 3.0);
  pthread_t th[4];
  for (int i = 0; i < 4; i++)
    assert_int_equal(pthread_create(&th[i], NULL, refs_thread, NULL), 0);
  for (int i = 0; i < 4; i++)
    pthread_join(th[i], NULL);
  assert_int_equal(g_shared->refcnt, 1);
  mp_obj_unref(g_shared);
}

/* Copies: copy shares the items, deepcopy does not. */
static void test_copies(void **state) {
  (void)state;
  mp_test_watchdog(10);
  mp_obj *o = mp_obj_build("[[i] {s: [i]} (i [i]) s]", 1, "k", 2, 3, 4, "s");
  mp_obj *shallow = mp_obj_copy(o), *deep = mp_obj_deepcopy(o), *inner, *d;
  assert_true(mp_obj_equal(o, shallow));
  assert_true(mp_obj_equal(o, deep));
  mp_obj_list_get(o, 0, &inner);
  assert_int_equal(mp_obj_list_append_steal(inner, mp_obj_int(5)), 0);
  mp_obj_list_get(o, 1, &d);
  assert_int_equal(mp_obj_dict_set_str_steal(d, "new", mp_obj_none()), 0);
  REPR(shallow, "[[1, 5], {'k': [2], 'new': None}, (3, [4]), 's']");
  REPR(deep, "[[1], {'k': [2]}, (3, [4]), 's']");
  assert_false(mp_obj_equal(o, deep));
  mp_obj *i = mp_obj_int(7), *ci = mp_obj_copy(i), *di = mp_obj_deepcopy(i);
  assert_ptr_equal(ci, i); /* immutable: shared */
  assert_ptr_equal(di, i);
  assert_null(mp_obj_copy(NULL));
  assert_null(mp_obj_deepcopy(NULL));
  mp_obj *cyc = mp_obj_list_new();
  assert_int_equal(mp_obj_list_append(cyc, cyc), 0);
  errno = 0;
  assert_null(mp_obj_deepcopy(cyc));
  assert_int_equal(mp_errno_code(errno), MP_EVALUE);
  mp_obj_list_clear(cyc);
  mp_obj *objs[] = {o, shallow, deep, i, ci, di, cyc};
  for (size_t k = 0; k < MP__ARRAY_SIZE(objs); k++)
    mp_obj_unref(objs[k]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_slices),   cmocka_unit_test(test_list_ops),
      cmocka_unit_test(test_sort),     cmocka_unit_test(test_threads),
      cmocka_unit_test(test_copies),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
