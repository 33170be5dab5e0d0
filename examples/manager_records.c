/* manager_records.c: tutorial 003's records in a manager list: one process
 * appends a record, another prints them all.
 *
 *   with multiprocessing.Manager() as manager:
 *       records = manager.list([('Sam', 10), ('Adam', 9), ('Kevin', 9)])
 *       p1 = Process(target=insert_record, args=(('Jeff', 8), records))
 *       p2 = Process(target=print_records, args=(records,))
 *       p1.start(); p1.join(); p2.start(); p2.join()
 */
#include <errno.h>
#include <stdio.h>

#include <mproc.h>
#include "check.h"

static mp_proxy *records;

static int insert_record(void *arg, size_t len) {
  (void)arg, (void)len;
  mp_obj *record = mp_obj_build("(s i)", "Jeff", 8);
  int rc = mp_proxy_append(records, record);
  mp_obj_free(record);
  printf("New record added!\n\n");
  return rc < 0;
}

static int print_records(void *arg, size_t len) {
  (void)arg, (void)len;
  mp_obj *all = NULL;
  CHECK(mp_proxy_getvalue(records, &all));
  for (size_t i = 0; i < mp_obj_list_len(all); i++) {
    mp_obj *rec, *name, *score;
    const char *s;
    int64_t n;
    CHECK(mp_obj_list_get(all, (ptrdiff_t)i, &rec));
    CHECK(mp_obj_tuple_get(rec, 0, &name));
    CHECK(mp_obj_tuple_get(rec, 1, &score));
    CHECK(mp_obj_str_value(name, &s, NULL));
    CHECK(mp_obj_int_value(score, &n));
    printf("Name: %s\nScore: %lld\n\n", s, (long long)n);
  }
  mp_obj_free(all);
  return 0;
}

static void run(mp_target_fn f) {
  mp_process *p = CHECKP(mp_process_new(f, NULL, 0, NULL));
  CHECK(mp_process_start(p));
  CHECK(mp_process_join(p, MP_FOREVER));
  mp_process_free(p);
}

int main(void) {
  mp_manager *manager = mp_manager_start_new(NULL);
  if (!manager) {
    fprintf(stderr, "manager: %s\n", mp_strerror(mp_errno_code(errno)));
    return 1;
  }
  mp_obj *init = mp_obj_build("[(s i) (s i) (s i)]", "Sam", 10, "Adam", 9,
                              "Kevin", 9);
  records = CHECKP(mp_manager_list(manager, init));
  mp_obj_free(init);
  fflush(stdout);
  run(insert_record);
  run(print_records);
  mp_proxy_free(records);
  mp_manager_free(manager);
  return 0;
}
