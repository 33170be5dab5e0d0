/* wire.c: the manager's wire format and the shared-memory channel's
 * waiting: request headers and their decoder (every byte of which comes
 * from another process, so it checks everything and a fuzz target drives
 * it), error replies, proxy tokens, slices, and descriptor passing for
 * setting up a channel (chan.c holds how the two ends of a channel wait). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "manager/manager_internal.h"

/* ---- Buffers ------------------------------------------------------------------ */

int mp__mgr_buf_reserve(mgr_buf *b, size_t extra) {
  if (extra > MGR_MSG_MAX || b->len > MGR_MSG_MAX)
    return MP_ETOOBIG;
  if (b->len + extra <= b->cap)
    return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + extra)
    cap *= 2;
  char *d = mp__realloc(b->data, cap);
  if (!d)
    return -ENOMEM;
  b->data = d;
  b->cap = cap;
  return 0;
}

int mp__mgr_buf_put(mgr_buf *b, const void *p, size_t n) {
  int rc = mp__mgr_buf_reserve(b, n);
  if (rc < 0)
    return rc;
  if (n)
    memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

void mp__mgr_buf_free(mgr_buf *b) {
  mp__free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

static void put_u64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

int mp__mgr_put_header(mgr_buf *b, int op, uint64_t id, uint64_t caller,
                       const char *name) {
  size_t n = name ? strlen(name) : 0;
  if (n > MGR_NAME_MAX)
    return MP_EATTR;
  int rc = mp__mgr_buf_reserve(b, MGR_HDR + n);
  if (rc < 0)
    return rc;
  unsigned char *p = (unsigned char *)b->data + b->len;
  p[0] = (unsigned char)op;
  p[1] = (unsigned char)n;
  put_u64(p + 2, id);
  put_u64(p + 10, caller);
  if (n)
    memcpy(p + MGR_HDR, name, n);
  b->len += MGR_HDR + n;
  return 0;
}

int mp__mgr_put_error(mgr_buf *b, int code, const char *msg) {
  size_t n = msg ? strnlen(msg, MP_ERROR_MESSAGE_MAX - 1) : 0;
  int rc = mp__mgr_buf_reserve(b, 5 + n);
  if (rc < 0)
    return rc;
  unsigned char *p = (unsigned char *)b->data + b->len;
  uint32_t c = (uint32_t)code;
  p[0] = MGR_R_ERR;
  for (int i = 0; i < 4; i++)
    p[1 + i] = (unsigned char)(c >> (8 * i));
  if (n)
    memcpy(p + 5, msg, n);
  b->len += 5 + n;
  return 0;
}

int mp__mgr_request_decode(const void *buf, size_t len, mgr_request *req) {
  const unsigned char *p = buf;
  req->args = req->kwargs = NULL;
  if (!buf || len < MGR_HDR)
    return MP_EPROTO;
  size_t n = p[1];
  if (p[0] < 1 || p[0] > MGR_OP_MAX || n > MGR_NAME_MAX || MGR_HDR + n > len)
    return MP_EPROTO;
  req->op = p[0];
  req->id = get_u64(p + 2);
  req->caller = get_u64(p + 10);
  memcpy(req->name, p + MGR_HDR, n);
  req->name[n] = 0;
  if (memchr(req->name, 0, n))
    return MP_EPROTO;
  size_t off = MGR_HDR + n;
  if (off == len) {
    req->args = mp_obj_tuple_new(0);
    return req->args ? 0 : -ENOMEM;
  }
  mp_obj *a = NULL, *kw = NULL;
  size_t used = 0;
  int rc = mp_obj_decode_prefix(p + off, len - off, &used, &a);
  if (rc < 0)
    return rc == -ENOMEM ? rc : MP_EDECODE;
  mp_obj_type t = mp_obj_get_type(a);
  if (t != MP_OBJ_TUPLE && t != MP_OBJ_LIST) {
    mp_obj_unref(a);
    return MP_EDECODE;
  }
  off += used;
  if (off < len) {
    rc = mp_obj_decode(p + off, len - off, &kw);
    if (rc < 0 || mp_obj_get_type(kw) != MP_OBJ_DICT) {
      mp_obj_unref(a);
      mp_obj_unref(kw);
      return rc == -ENOMEM ? rc : MP_EDECODE;
    }
  }
  req->args = a;
  req->kwargs = kw;
  return 0;
}

/* ---- Tokens ----------------------------------------------------------------------- */

mp_obj *mp__mgr_token_make(const mgr_token *t) {
  const char *where = t->addr.family == MP_AF_INET ? t->addr.host : t->addr.path;
  size_t wlen = t->addr.family == MP_AF_INET
                    ? strlen(t->addr.host)
                    : (t->addr.path[0] ? strlen(t->addr.path)
                                       : 1 + strlen(t->addr.path + 1));
  return mp_obj_build("(y# s K K i y# i)", MGR_TOKEN_MAGIC,
                      (size_t)MGR_TOKEN_MAGIC_LEN, t->type_id,
                      (unsigned long long)(t->id & INT64_MAX),
                      (unsigned long long)(t->server_uid & INT64_MAX),
                      t->addr.family, where, wlen, t->addr.port);
}

int mp__mgr_token_parse(const mp_obj *o, mgr_token *t) {
  if (!o || mp_obj_get_type(o) != MP_OBJ_TUPLE || mp_obj_list_len(o) != 7)
    return 0;
  mp_obj *it[7];
  for (int i = 0; i < 7; i++)
    if (mp_obj_tuple_get(o, i, &it[i]) < 0)
      return 0;
  const void *magic;
  size_t mlen;
  if (mp_obj_bytes_value(it[0], &magic, &mlen) < 0 ||
      mlen != MGR_TOKEN_MAGIC_LEN || memcmp(magic, MGR_TOKEN_MAGIC, mlen))
    return 0;
  const char *type_id;
  size_t tlen;
  int64_t id, uid, fam, port;
  const void *where;
  size_t wlen;
  if (mp_obj_str_value(it[1], &type_id, &tlen) < 0 || tlen > MGR_NAME_MAX ||
      mp_obj_int_value(it[2], &id) < 0 || mp_obj_int_value(it[3], &uid) < 0 ||
      mp_obj_int_value(it[4], &fam) < 0 ||
      mp_obj_bytes_value(it[5], &where, &wlen) < 0 ||
      mp_obj_int_value(it[6], &port) < 0)
    return 0;
  memset(t, 0, sizeof *t);
  memcpy(t->type_id, type_id, tlen);
  t->id = (uint64_t)id;
  t->server_uid = (uint64_t)uid;
  t->addr.family = (int)fam;
  t->addr.port = (int)port;
  if (fam == MP_AF_INET) {
    if (wlen >= sizeof t->addr.host)
      return 0;
    memcpy(t->addr.host, where, wlen);
  } else if (fam == MP_AF_UNIX) {
    if (wlen >= sizeof t->addr.path)
      return 0;
    memcpy(t->addr.path, where, wlen);
  } else {
    return 0;
  }
  return 1;
}

/* ---- Descriptor passing ----------------------------------------------------------------- */

int mp__mgr_send_fd(int sock, int fd) {
  char byte = 1;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } u;
  memset(&u, 0, sizeof u);
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                       .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  for (;;) {
    ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n == 1)
      return 0;
    if (n < 0 && errno == EINTR)
      continue;
    return n < 0 ? -errno : -EIO;
  }
}

int mp__mgr_recv_fd(int sock, int *fd) {
  char byte;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int) * 4)];
  } u;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                       .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  ssize_t n;
  do
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return -errno;
  if (n == 0)
    return MP_EEOF;
  int got = -1;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
      continue;
    size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < k; i++) {
      int f;
      memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof f);
      if (got < 0)
        got = f;
      else
        mp__close(f);
    }
  }
  if (got < 0 || (msg.msg_flags & MSG_CTRUNC)) {
    if (got >= 0)
      mp__close(got);
    return MP_EPROTO;
  }
  *fd = got;
  return 0;
}

/* A slice crosses as an ext value of three big-endian int64s (start, stop,
 * step; INT64_MIN for None): mp_obj has no slice type of its own. */
mp_obj *mp_proxy_slice(ptrdiff_t start, ptrdiff_t stop, ptrdiff_t step) {
  unsigned char b[24];
  ptrdiff_t v[3] = {start, stop, step};
  for (int i = 0; i < 3; i++) {
    uint64_t x = v[i] == MP_SLICE_NONE ? (uint64_t)INT64_MIN : (uint64_t)v[i];
    for (int k = 0; k < 8; k++)
      b[i * 8 + k] = (unsigned char)(x >> (56 - 8 * k));
  }
  return mp_obj_ext(MP_PROXY_EXT_SLICE, b, sizeof b);
}

int mp__mgr_slice_of(const mp_obj *o, ptrdiff_t v[3]) {
  int8_t code;
  const void *data;
  size_t len;
  if (!o || mp_obj_get_type(o) != MP_OBJ_EXT ||
      mp_obj_ext_value(o, &code, &data, &len) < 0 || code != MP_PROXY_EXT_SLICE)
    return 0;
  if (len != 24)
    return MP_EVALUE;
  const unsigned char *b = data;
  for (int i = 0; i < 3; i++) {
    uint64_t x = 0;
    for (int k = 0; k < 8; k++)
      x = x << 8 | b[i * 8 + k];
    int64_t s = (int64_t)x;
    v[i] = s == INT64_MIN || s < PTRDIFF_MIN + 1 ? MP_SLICE_NONE : (ptrdiff_t)s;
  }
  return 1;
}
