/* conn_obj.c: send_obj/recv_obj, Python's send(obj) and recv() with mp_obj
 * values in place of pickles: MessagePack bytes carried as one message. */
#include "conn_internal.h"

/* Objects whose encoding fits here go out without a heap allocation. */
#define OBJ_STACK_BYTES 512

int mp_conn_send_obj(mp_conn *c, const mp_obj *o) {
  int rc = mp__conn_check_write(c);
  if (rc)
    return rc;
  if (!o)
    return -EINVAL;
  unsigned char stack[OBJ_STACK_BYTES];
  size_t len;
  rc = mp_obj_encode_into(o, stack, sizeof stack, &len);
  if (rc == 0)
    return mp_conn_send_bytes(c, stack, len);
  if (rc != MP_ETOOSHORT)
    return rc;
  void *buf;
  rc = mp_obj_encode(o, &buf, &len);
  if (rc)
    return rc;
  rc = mp_conn_send_bytes(c, buf, len);
  mp_free(buf);
  return rc;
}

int mp_conn_recv_obj(mp_conn *c, mp_obj **out) {
  if (!out)
    return -EINVAL;
  *out = NULL;
  void *buf;
  size_t len;
  int rc = mp_conn_recv_bytes(c, &buf, &len, MP_CONN_NOLIMIT);
  if (rc)
    return rc;
  rc = mp_obj_decode(buf, len, out);
  mp_free(buf);
  return rc;
}
