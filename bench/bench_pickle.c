/* bench_pickle.c: the pickle codec against CPython's C pickle module
 * (bench/python/bench_pickle.py, same rows): encode and decode of a dict
 * of 1,000 str -> int and of a list of 10^5 ints, at protocol 4 (what
 * Connection.send uses). The "raw" column is the MessagePack codec on the
 * same object, for scale. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"
#include "mproc.h"

typedef struct ctx {
  mp_obj *obj;
  void *pk, *mp;
  size_t pklen, mplen;
} ctx;

static int enc_pickle(void *p) {
  ctx *c = p;
  void *buf;
  size_t len;
  int r = mp_obj_to_pickle(c->obj, 4, &buf, &len);
  mp_free(buf);
  return r;
}
static int dec_pickle(void *p) {
  ctx *c = p;
  mp_obj *o;
  int r = mp_obj_from_pickle(c->pk, c->pklen, &o);
  mp_obj_unref(o);
  return r;
}
static int enc_msgpack(void *p) {
  ctx *c = p;
  void *buf;
  size_t len;
  int r = mp_obj_encode(c->obj, &buf, &len);
  mp_free(buf);
  return r;
}
static int dec_msgpack(void *p) {
  ctx *c = p;
  mp_obj *o;
  int r = mp_obj_decode(c->mp, c->mplen, &o);
  mp_obj_unref(o);
  return r;
}

static void rows(const char *name, const char *what, mp_obj *obj) {
  ctx c = {.obj = obj};
  int r = mp_obj_to_pickle(obj, 4, &c.pk, &c.pklen);
  if (r == 0)
    r = mp_obj_encode(obj, &c.mp, &c.mplen);
  if (r < 0)
    bench_fail("encode", r);
  char id[64], text[128];
  snprintf(id, sizeof id, "pickle.dumps.%s", name);
  snprintf(text, sizeof text, "pickle.dumps(%s, 4)", what);
  bench_desc(id, text);
  bench_row(id, "us", "mproc", bench_ns_per_op(enc_pickle, &c, NULL) / 1e3);
  bench_row(id, "us", "raw", bench_ns_per_op(enc_msgpack, &c, NULL) / 1e3);
  snprintf(id, sizeof id, "pickle.loads.%s", name);
  snprintf(text, sizeof text, "pickle.loads of %s", what);
  bench_desc(id, text);
  bench_row(id, "us", "mproc", bench_ns_per_op(dec_pickle, &c, NULL) / 1e3);
  bench_row(id, "us", "raw", bench_ns_per_op(dec_msgpack, &c, NULL) / 1e3);
  mp_free(c.pk);
  mp_free(c.mp);
}

int main(void) {
  mp_obj *d = mp_obj_dict_new(), *l = mp_obj_list_new();
  for (int i = 0; i < 1000; i++) {
    char k[16];
    snprintf(k, sizeof k, "key%d", i);
    if (mp_obj_dict_set_str_steal(d, k, mp_obj_int(i)) < 0)
      bench_fail("dict", -ENOMEM);
  }
  for (int i = 0; i < 100000; i++)
    if (mp_obj_list_append_steal(l, mp_obj_int(i)) < 0)
      bench_fail("list", -ENOMEM);
  rows("dict1000", "{str: int} x 1000", d);
  rows("list1e5", "list of 10^5 ints", l);
  mp_obj_unref(d);
  mp_obj_unref(l);
  return 0;
}
