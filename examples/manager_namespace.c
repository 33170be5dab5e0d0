/* manager_namespace.c: the reference's Namespace example (17.2.2.7.1).
 *
 *   Global = manager.Namespace()
 *   Global.x = 10
 *   Global.y = 'hello'
 *   Global._z = 12.3    # this is an attribute of the proxy
 *   print(Global)       # Namespace(x=10, y='hello')
 *
 * A C proxy has no attributes of its own, so `_z` has no equivalent here:
 * a name beginning with '_' set through the proxy lives in the referent,
 * and the referent's repr leaves it out, as Python's Namespace repr does. */
#include <errno.h>
#include <stdio.h>

#include <mproc.h>
#include "check.h"

int main(void) {
  mp_manager *manager = CHECKP(mp_manager_start_new(NULL));
  mp_proxy *global = manager ? mp_manager_namespace(manager) : NULL;
  if (!global) {
    fprintf(stderr, "manager: %s\n", mp_strerror(mp_errno_code(errno)));
    return 1;
  }
  mp_obj *x = mp_obj_int(10), *y = mp_obj_str("hello"), *z = mp_obj_float(12.3);
  CHECK(mp_proxy_setattr(global, "x", x));
  CHECK(mp_proxy_setattr(global, "y", y));
  CHECK(mp_proxy_setattr(global, "_z", z));
  CHECK(mp_proxy_print(global, stdout));
  mp_obj_free(x), mp_obj_free(y), mp_obj_free(z);
  mp_proxy_free(global);
  mp_manager_free(manager);
  return 0;
}
