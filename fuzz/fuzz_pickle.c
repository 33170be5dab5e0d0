/* fuzz_pickle.c: the pickle decoder fed arbitrary bytes. It must return an
 * error or an object, never crash, hang or leak (a cycle it builds before
 * refusing must be freed); an object it accepts must encode with every
 * protocol 2-5 and decode again to the same object (compared through the
 * MessagePack encoding, which is exact even for NaN). A second pass runs
 * with find_class and build hooks that accept everything, to reach the
 * paths that call them, and a third with MP_PICKLE_KEEP_OBJECTS, whose
 * result (recipes included) must re-encode and decode to the same repr.
 * Seed corpus: tests/python/gen_pickle_corpus.py. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mproc.h"

static int accept_all(void *ctx, const char *module, const char *name,
                      const mp_obj *args, mp_obj **out) {
  (void)ctx, (void)module, (void)name;
  if (out)
    *out = args ? mp_obj_ref((mp_obj *)args) : mp_obj_none();
  return 0;
}

static int build_keep(void *ctx, mp_obj *obj, mp_obj *state, mp_obj **out) {
  (void)ctx, (void)state;
  *out = mp_obj_ref(obj);
  return 0;
}

static void check(mp_obj *o) {
  void *mp = NULL;
  size_t mplen = 0;
  if (mp_obj_encode(o, &mp, &mplen) < 0)
    abort(); /* bounded expansion: a decoded pickle always encodes */
  for (int proto = 2; proto <= 5; proto++) {
    void *buf = NULL, *mp2 = NULL;
    size_t len = 0, mplen2 = 0;
    mp_obj *again = NULL;
    if (mp_obj_to_pickle(o, proto, &buf, &len) < 0)
      abort();
    if (mp_obj_from_pickle(buf, len, &again) < 0)
      abort();
    if (mp_obj_encode(again, &mp2, &mplen2) < 0 || mplen != mplen2 ||
        memcmp(mp, mp2, mplen) != 0)
      abort();
    mp_free(buf);
    mp_free(mp2);
    mp_obj_unref(again);
  }
  char *s = NULL;
  if (mp_obj_repr(o, &s, NULL) < 0)
    abort();
  mp_free(s);
  mp_free(mp);
}

/* A kept result through protocols 3-5: the same repr back. (Protocol 2
 * writes Python 2 module names, which decode as Python 3's, as in
 * CPython: a recipe naming __builtin__ comes back naming builtins.) */
static void check_kept(mp_obj *o, const mp_pickle_load_opts *opts) {
  char *want = NULL;
  if (mp_obj_repr(o, &want, NULL) < 0)
    abort();
  for (int proto = 2; proto <= 5; proto++) {
    if (proto == 2) { /* must still write and read */
      void *buf = NULL;
      size_t len = 0;
      mp_obj *again = NULL;
      if (mp_obj_to_pickle(o, 2, &buf, &len) < 0 ||
          mp_obj_from_pickle_opts(buf, len, opts, NULL, &again) < 0)
        abort();
      mp_free(buf);
      mp_obj_unref(again);
      continue;
    }
    void *buf = NULL;
    size_t len = 0;
    mp_obj *again = NULL;
    char *got = NULL;
    if (mp_obj_to_pickle(o, proto, &buf, &len) < 0 ||
        mp_obj_from_pickle_opts(buf, len, opts, NULL, &again) < 0 ||
        mp_obj_repr(again, &got, NULL) < 0 || strcmp(want, got) != 0)
      abort();
    mp_free(got);
    mp_free(buf);
    mp_obj_unref(again);
  }
  mp_free(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mp_obj *o = NULL;
  if (mp_obj_from_pickle(data, size, &o) == 0) {
    check(o);
    mp_obj_unref(o);
  }
  mp_pickle_load_opts opts = {.find_class = accept_all, .build = build_keep};
  o = NULL;
  if (mp_obj_from_pickle_opts(data, size, &opts, NULL, &o) == 0)
    mp_obj_unref(o);
  mp_pickle_load_opts keep = {.flags = MP_PICKLE_KEEP_OBJECTS};
  o = NULL;
  if (mp_obj_from_pickle_opts(data, size, &keep, NULL, &o) == 0) {
    check_kept(o, &keep);
    mp_obj_unref(o);
  }
  return 0;
}
