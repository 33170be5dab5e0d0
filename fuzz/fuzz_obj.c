/* fuzz_obj.c: the mp_obj MessagePack decoder fed arbitrary bytes. It must
 * return an error or an object, never crash, hang or leak; an object it
 * accepts must encode, decode again to an equal object with the same
 * encoding, and print (repr and str). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mproc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mp_obj *o = NULL;
  if (mp_obj_decode(data, size, &o) < 0)
    return 0;
  void *buf = NULL, *buf2 = NULL;
  size_t len = 0, len2 = 0;
  if (mp_obj_encode(o, &buf, &len) < 0)
    abort(); /* whatever decodes must encode */
  mp_obj *again = NULL;
  if (mp_obj_decode(buf, len, &again) < 0)
    abort();
  /* == may fail only through NaN, which equals nothing: compare the
   * canonical encodings, which must match exactly. */
  if (mp_obj_encode(again, &buf2, &len2) < 0 || len != len2 ||
      memcmp(buf, buf2, len) != 0)
    abort();
  char *s = NULL;
  if (mp_obj_repr(o, &s, NULL) < 0)
    abort();
  mp_free(s);
  if (mp_obj_to_string(o, &s, NULL) < 0)
    abort();
  mp_free(s);
  mp_obj *copy = mp_obj_deepcopy(o);
  if (!copy)
    abort();
  (void)mp_obj_equal(copy, o);
  mp_obj_unref(copy);
  mp_free(buf);
  mp_free(buf2);
  mp_obj_unref(again);
  mp_obj_unref(o);
  return 0;
}
