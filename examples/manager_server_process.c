/* manager_server_process.c: the reference's 17.2.1.5 "Server process":
 * a child process fills a shared dict and reverses a shared list held by a
 * manager; the parent prints both. Python 3.7+ dicts keep insertion order,
 * so this prints {1: '1', '2': 2, 0.25: None} (the reference shows the
 * order of an older Python).
 *
 *   def f(d, l):
 *       d[1] = '1'; d['2'] = 2; d[0.25] = None
 *       l.reverse()
 *   with Manager() as manager:
 *       d = manager.dict(); l = manager.list(range(10))
 *       p = Process(target=f, args=(d, l)); p.start(); p.join()
 *       print(d); print(l)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <mproc.h>
#include "check.h"

typedef struct {
  mp_proxy *d, *l;
} args;

static int f(void *arg, size_t len) {
  args *a = arg; /* the proxies, inherited through fork */
  (void)len;
  mp_obj *k, *v;
  k = mp_obj_int(1), v = mp_obj_str("1");
  CHECK(mp_proxy_setitem(a->d, k, v));
  mp_obj_free(k), mp_obj_free(v);
  k = mp_obj_str("2"), v = mp_obj_int(2);
  CHECK(mp_proxy_setitem(a->d, k, v));
  mp_obj_free(k), mp_obj_free(v);
  k = mp_obj_float(0.25);
  CHECK(mp_proxy_setitem(a->d, k, mp_obj_none()));
  mp_obj_free(k);
  return mp_proxy_call(a->l, "reverse", NULL, NULL) < 0;
}

int main(void) {
  mp_manager *manager = mp_manager_start_new(NULL);
  if (!manager) {
    fprintf(stderr, "Manager: %s\n", mp_strerror(mp_errno_code(errno)));
    return 1;
  }
  mp_obj *range = mp_obj_list_new();
  for (int i = 0; i < 10; i++)
    CHECK(mp_obj_list_append_steal(range, mp_obj_int(i)));
  args a = {mp_manager_dict(manager, NULL), mp_manager_list(manager, range)};
  mp_obj_free(range);
  if (!a.d || !a.l)
    return 1;

  mp_process *p = CHECKP(mp_process_new(f, &a, sizeof a, NULL));
  CHECK(mp_process_start(p));
  CHECK(mp_process_join(p, MP_FOREVER));
  mp_process_free(p);

  CHECK(mp_proxy_print(a.d, stdout));
  CHECK(mp_proxy_print(a.l, stdout));

  mp_proxy_free(a.d);
  mp_proxy_free(a.l);
  mp_manager_free(manager);
  return 0;
}
