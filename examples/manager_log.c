/* manager_log.c: what a manager logs, as CPython's does with
 * multiprocessing.log_to_stderr(logging.INFO):
 *
 *   mp.log_to_stderr(logging.INFO)
 *   m = SyncManager(); m.start()
 *   d = m.dict(); d[1] = 2
 *   m.shutdown()
 *
 * CPython also logs "created temp directory ..." (its socket lives in a
 * temporary directory; ours is an abstract socket, which needs none). */
#include <mproc.h>
#include "check.h"

int main(void) {
  mp_log_to_stderr(MP_LOG_INFO);
  mp_manager *m = CHECKP(mp_manager_start_new(NULL));
  mp_proxy *d = CHECKP(mp_manager_dict(m, NULL));
  mp_obj *k = mp_obj_int(1), *v = mp_obj_int(2);
  int rc = d ? mp_proxy_setitem(d, k, v) : -1;
  mp_obj_free(k);
  mp_obj_free(v);
  mp_proxy_free(d);
  CHECK(mp_manager_shutdown(m));
  mp_manager_free(m);
  return rc ? 1 : 0;
}
