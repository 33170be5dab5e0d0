/* conn_obj.c: send_obj/recv_obj, Python's send(obj) and recv() with mp_obj
 * values: one message of the connection's codec, pickle (what a CPython
 * peer sends and expects) or MessagePack (the fastest between mproc
 * processes), and the setter that chooses it. */
#include "conn_internal.h"
#include "mproc/pickle.h"

/* Objects whose MessagePack encoding fits here go out without a heap
 * allocation. */
#define OBJ_STACK_BYTES 512

int mp_conn_set_codec(mp_conn *c, mp_conn_codec codec) {
  if (!c || (unsigned)codec > MP_CONN_CODEC_PICKLE)
    return -EINVAL;
  if (c->fd < 0)
    return MP_ECLOSED;
  c->codec = codec == MP_CONN_CODEC_PICKLE ? MP_CONN_CODEC_PICKLE : MP_CONN_CODEC_MSGPACK;
  return 0;
}

mp_conn_codec mp_conn_get_codec(const mp_conn *c) {
  if (!c)
    return MP_CONN_CODEC_DEFAULT;
  return c->codec == MP_CONN_CODEC_PICKLE ? MP_CONN_CODEC_PICKLE : MP_CONN_CODEC_MSGPACK;
}

int mp_conn_send_obj(mp_conn *c, const mp_obj *o) {
  int rc = mp__conn_check_write(c);
  if (rc)
    return rc;
  if (!o)
    return -EINVAL;
  void *buf;
  size_t len;
  if (c->codec == MP_CONN_CODEC_PICKLE) {
    rc = mp_obj_to_pickle(o, MP_PICKLE_DEFAULT_PROTOCOL, &buf, &len);
  } else {
    unsigned char stack[OBJ_STACK_BYTES];
    rc = mp_obj_encode_into(o, stack, sizeof stack, &len);
    if (rc == 0)
      return mp_conn_send_bytes(c, stack, len);
    if (rc != MP_ETOOSHORT)
      return rc;
    rc = mp_obj_encode(o, &buf, &len);
  }
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
  rc = c->codec == MP_CONN_CODEC_PICKLE ? mp_obj_from_pickle(buf, len, out)
                                        : mp_obj_decode(buf, len, out);
  mp_free(buf);
  return rc;
}
