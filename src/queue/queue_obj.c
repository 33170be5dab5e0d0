/* queue_obj.c: typed values on queues: an mp_obj travels as its MessagePack
 * encoding, one item per object, as a pickled object does in Python. Small
 * objects are encoded on the stack, so a put_obj allocates nothing. */
#include "queue_internal.h"

MP_EXPORT int mp_queue_put_obj(mp_queue *q, const mp_obj *obj,
                               double timeout) {
  if (!q || !obj)
    return -EINVAL;
  unsigned char small[512];
  size_t len;
  int r = mp_obj_encode_into(obj, small, sizeof small, &len);
  if (r == 0)
    return mp_queue_put(q, small, len, timeout);
  if (r != MP_ETOOSHORT)
    return r;
  void *buf;
  if ((r = mp_obj_encode(obj, &buf, &len)) < 0)
    return r;
  r = mp_queue_put(q, buf, len, timeout);
  mp_free(buf);
  return r;
}

MP_EXPORT int mp_queue_get_obj(mp_queue *q, mp_obj **obj, double timeout) {
  if (!q || !obj)
    return -EINVAL;
  void *buf;
  size_t len;
  int r = mp_queue_get(q, &buf, &len, timeout);
  if (r < 0)
    return r;
  r = mp_obj_decode(buf, len, obj);
  mp_free(buf);
  return r;
}
