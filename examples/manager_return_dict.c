/* manager_return_dict.c: tutorial 000's shared return_dict: five processes
 * each store their number in a manager dict; the parent prints the values.
 *
 *   def worker(procnum, return_dict):
 *       print(str(procnum) + " represent!")
 *       return_dict[procnum] = procnum
 *   manager = multiprocessing.Manager()
 *   return_dict = manager.dict()
 *   ... five Processes ... join ...
 *   print(return_dict.values())
 *
 * Python prints a dict_values view in insertion order, which depends on
 * which process ran first; here the parent sorts the keys first so the
 * output is stable: [0, 1, 2, 3, 4]. */
#include <errno.h>
#include <stdio.h>

#include <mproc.h>
#include "check.h"

static mp_proxy *return_dict;

static int worker(void *arg, size_t len) {
  int procnum = *(int *)arg;
  (void)len;
  printf("%d represent!\n", procnum);
  fflush(stdout);
  mp_obj *k = mp_obj_int(procnum);
  int rc = mp_proxy_setitem(return_dict, k, k);
  mp_obj_free(k);
  return rc < 0;
}

int main(void) {
  mp_manager *manager = mp_manager_start_new(NULL);
  if (!manager || !(return_dict = mp_manager_dict(manager, NULL))) {
    fprintf(stderr, "manager: %s\n", mp_strerror(mp_errno_code(errno)));
    return 1;
  }
  mp_process *jobs[5];
  for (int i = 0; i < 5; i++) {
    jobs[i] = CHECKP(mp_process_new(worker, &i, sizeof i, NULL));
    CHECK(mp_process_start(jobs[i]));
  }
  for (int i = 0; i < 5; i++) {
    CHECK(mp_process_join(jobs[i], MP_FOREVER));
    mp_process_free(jobs[i]);
  }
  mp_obj *values = mp_obj_list_new(), *keys = NULL;
  CHECK(mp_proxy_call(return_dict, "keys", NULL, &keys));
  CHECK(mp_obj_list_sort(keys, false));
  for (size_t i = 0; i < mp_obj_list_len(keys); i++) {
    mp_obj *k, *v;
    CHECK(mp_obj_list_get(keys, (ptrdiff_t)i, &k));
    CHECK(mp_proxy_getitem(return_dict, k, &v));
    CHECK(mp_obj_list_append_steal(values, v));
  }
  CHECK(mp_obj_print(values, stdout));
  mp_obj_free(keys);
  mp_obj_free(values);
  mp_proxy_free(return_dict);
  mp_manager_free(manager);
  return 0;
}
