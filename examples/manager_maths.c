/* manager_maths.c: the reference's customized manager (17.2.2.7.2): a
 * MathsClass registered with a manager, used through a proxy.
 *
 *   class MathsClass:
 *       def add(self, x, y): return x + y
 *       def mul(self, x, y): return x * y
 *   MyManager.register('Maths', MathsClass)
 *   with MyManager() as manager:
 *       maths = manager.Maths()
 *       print(maths.add(4, 3))         # prints 7
 *       print(maths.mul(7, 8))         # prints 56
 */
#include <errno.h>
#include <stdio.h>

#include <mproc.h>
#include "check.h"

static int two_ints(mp_method_call *c, int64_t *x, int64_t *y) {
  mp_obj *a, *b;
  if (mp_obj_tuple_get(c->args, 0, &a) < 0 || mp_obj_tuple_get(c->args, 1, &b) < 0 ||
      mp_obj_int_value(a, x) < 0 || mp_obj_int_value(b, y) < 0) {
    snprintf(c->message, sizeof c->message, "TypeError: two ints expected");
    return MP_ETYPE;
  }
  return 0;
}

static int add(void *self, mp_method_call *c) {
  int64_t x, y;
  (void)self;
  int rc = two_ints(c, &x, &y);
  if (rc == 0)
    c->result = mp_obj_int(x + y);
  return rc;
}

static int mul(void *self, mp_method_call *c) {
  int64_t x, y;
  (void)self;
  int rc = two_ints(c, &x, &y);
  if (rc == 0)
    c->result = mp_obj_int(x * y);
  return rc;
}

/* MathsClass(): it has no state, so every instance is the same object. */
static int maths_new(void *ctx, mp_method_call *c) {
  static char instance;
  (void)ctx;
  c->referent = &instance;
  return 0;
}

static const mp_method_def maths_methods[] = {{"add", add, NULL},
                                              {"mul", mul, NULL}};

int main(void) {
  mp_manager *manager = CHECKP(mp_manager_new(NULL));
  mp_type_def maths_class = {.type_id = "Maths", .create = maths_new,
                             .methods = maths_methods, .n_methods = 2};
  CHECK(mp_manager_register(manager, &maths_class));
  CHECK(mp_manager_start(manager));
  mp_proxy *maths;
  CHECK(mp_manager_create(manager, "Maths", NULL, &maths));
  mp_obj *r;
  CHECK(mp_proxy_callf(maths, "add", &r, "(i i)", 4, 3));
  mp_obj_print(r, stdout); /* prints 7 */
  mp_obj_free(r);
  CHECK(mp_proxy_callf(maths, "mul", &r, "(i i)", 7, 8));
  mp_obj_print(r, stdout); /* prints 56 */
  mp_obj_free(r);
  mp_proxy_free(maths);
  mp_manager_free(manager);
  return 0;
}
