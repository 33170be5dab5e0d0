/* manager_custom_proxies.c: the reference's 17.2.4 example of customized
 * managers and proxies (Foo1/Foo2, a generator, the operator module), as
 * closely as C allows. Differences, all from C having no classes, modules
 * or big ints:
 * - Foo is a table of C methods; Foo1 exposes the default (every method
 *   not beginning with '_'), Foo2 exposes ('g', '_h') explicitly.
 *   `hasattr(f1, '_h')` becomes "calling _h fails with MP_EATTR".
 * - the generator baz() is a type with a __next__ method (the proxytype
 *   GeneratorProxy exposes only it); the end of the iteration, Python's
 *   StopIteration, is MP_ESTOP (the code every area gives it).
 * - the operator module is a type with add and pow (not all of operator's
 *   functions), so op._exposed_ lists those two; op.pow(2, 94) is 2**94,
 *   which does not fit a 64-bit int: the server reports OverflowError
 *   (MP_EVALUE) where Python prints 19807040628566084398385987584.
 * The methods print in the server process, as Python's do. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mproc.h>
#include "check.h"

static int say(const char *what) {
  printf("you called Foo.%s()\n", what);
  fflush(stdout);
  return 0;
}
static int foo_f(void *self, mp_method_call *c) { (void)self, (void)c; return say("f"); }
static int foo_g(void *self, mp_method_call *c) { (void)self, (void)c; return say("g"); }
static int foo_h(void *self, mp_method_call *c) { (void)self, (void)c; return say("_h"); }

static int foo_new(void *ctx, mp_method_call *c) {
  static char foo;
  (void)ctx;
  c->referent = &foo;
  return 0;
}

static const mp_method_def foo_methods[] = {
    {"f", foo_f, NULL}, {"g", foo_g, NULL}, {"_h", foo_h, NULL}};
static const char *const foo2_exposed[] = {"g", "_h"};

/* baz(): for i in range(10): yield i*i */
typedef struct {
  int i;
} baz_state;

static int baz_new(void *ctx, mp_method_call *c) {
  (void)ctx;
  c->referent = calloc(1, sizeof(baz_state));
  return c->referent ? 0 : -ENOMEM;
}

static int baz_next(void *self, mp_method_call *c) {
  baz_state *s = self;
  if (s->i >= 10) {
    snprintf(c->message, sizeof c->message, "StopIteration");
    return MP_ESTOP;
  }
  c->result = mp_obj_int((int64_t)s->i * s->i);
  s->i++;
  return 0;
}

static const mp_method_def baz_methods[] = {{"__next__", baz_next, NULL}};
static const char *const generator_exposed[] = {"__next__"};

/* get_operator_module(): add and pow. */
static int op_args(mp_method_call *c, int64_t *a, int64_t *b) {
  mp_obj *x, *y;
  if (mp_obj_tuple_get(c->args, 0, &x) < 0 || mp_obj_tuple_get(c->args, 1, &y) < 0 ||
      mp_obj_int_value(x, a) < 0 || mp_obj_int_value(y, b) < 0)
    return MP_ETYPE;
  return 0;
}

static int op_add(void *self, mp_method_call *c) {
  int64_t a, b;
  (void)self;
  if (op_args(c, &a, &b) < 0)
    return MP_ETYPE;
  c->result = mp_obj_int(a + b);
  return 0;
}

static int op_pow(void *self, mp_method_call *c) {
  int64_t a, b, r = 1;
  (void)self;
  if (op_args(c, &a, &b) < 0 || b < 0)
    return MP_ETYPE;
  for (int64_t i = 0; i < b; i++)
    if (__builtin_mul_overflow(r, a, &r)) {
      snprintf(c->message, sizeof c->message,
               "OverflowError: %lld**%lld does not fit a 64-bit int",
               (long long)a, (long long)b);
      return MP_EVALUE;
    }
  c->result = mp_obj_int(r);
  return 0;
}

static const mp_method_def op_methods[] = {{"add", op_add, NULL},
                                           {"pow", op_pow, NULL}};

static void line(void) {
  printf("--------------------\n");
  fflush(stdout);
}

static void print_exposed(const char *label, mp_proxy *p) {
  size_t n;
  const char *const *ex = mp_proxy_exposed(p, &n);
  printf("%s[", label);
  for (size_t i = 0; i < n; i++)
    printf("%s'%s'", i ? ", " : "", ex[i]);
  printf("]\n");
}

int main(void) {
  mp_manager *manager = CHECKP(mp_manager_new(NULL));
  mp_type_def defs[] = {
      {.type_id = "Foo1", .create = foo_new, .methods = foo_methods, .n_methods = 3},
      {.type_id = "Foo2", .create = foo_new, .methods = foo_methods, .n_methods = 3,
       .exposed = foo2_exposed, .n_exposed = 2},
      {.type_id = "baz", .create = baz_new, .destroy = free, .methods = baz_methods,
       .n_methods = 1, .exposed = generator_exposed, .n_exposed = 1,
       .proxytype = "GeneratorProxy"},
      {.type_id = "operator", .create = foo_new, .methods = op_methods,
       .n_methods = 2},
  };
  for (size_t i = 0; i < 4; i++)
    CHECK(mp_manager_register(manager, &defs[i]));
  CHECK(mp_manager_start(manager));

  line();
  mp_proxy *f1;
  CHECK(mp_manager_create(manager, "Foo1", NULL, &f1));
  CHECK(mp_proxy_call(f1, "f", NULL, NULL));
  CHECK(mp_proxy_call(f1, "g", NULL, NULL));
  if (mp_proxy_call(f1, "_h", NULL, NULL) != MP_EATTR) /* not hasattr(f1, '_h') */
    return 1;

  line();
  mp_proxy *f2;
  CHECK(mp_manager_create(manager, "Foo2", NULL, &f2));
  CHECK(mp_proxy_call(f2, "g", NULL, NULL));
  CHECK(mp_proxy_call(f2, "_h", NULL, NULL));
  if (mp_proxy_call(f2, "f", NULL, NULL) != MP_EATTR) /* not hasattr(f2, 'f') */
    return 1;

  line();
  mp_proxy *it;
  CHECK(mp_manager_create(manager, "baz", NULL, &it));
  mp_obj *v;
  int rc;
  while ((rc = mp_proxy_call(it, "__next__", NULL, &v)) == 0) {
    int64_t i;
    CHECK(mp_obj_int_value(v, &i));
    printf("<%lld> ", (long long)i);
    mp_obj_free(v);
  }
  printf("\n");
  if (rc != MP_ESTOP) { /* for o in baz(): ends at StopIteration only */
    fprintf(stderr, "baz: %s\n", mp_strerror(rc));
    return 1;
  }

  line();
  mp_proxy *op;
  CHECK(mp_manager_create(manager, "operator", NULL, &op));
  CHECK(mp_proxy_callf(op, "add", &v, "(i i)", 23, 45));
  char *r;
  CHECK(mp_obj_repr(v, &r, NULL));
  printf("op.add(23, 45) = %s\n", r);
  mp_free(r);
  mp_obj_free(v);
  if (mp_proxy_callf(op, "pow", &v, "(i i)", 2, 94) < 0)
    printf("op.pow(2, 94) = %s\n", mp_manager_last_error()->message);
  print_exposed("op._exposed_ = ", op);

  mp_proxy_free(f1), mp_proxy_free(f2), mp_proxy_free(it), mp_proxy_free(op);
  mp_manager_free(manager);
  return 0;
}
