/* handle.c: handles on the wire (a fixed 112-byte little-endian record
 * plus the segments' descriptors) and descriptor passing over Unix sockets
 * with SCM_RIGHTS, which the connection and start-method areas use too.
 *
 * Wire format: magic "mpH1", u16 version (1), u16 nparts, u32 type, u32 0,
 * then 4 parts of 24 bytes: u32 type, u32 descriptor index (= part index),
 * u64 offset, u64 size. Unused parts are zero. The descriptors travel in
 * part order. */
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shm_internal.h"

#define WIRE_MAGIC 0x3148706dU /* "mpH1" */

_Static_assert(16 + 24 * MP_HANDLE_MAX_PARTS == MP_HANDLE_WIRE_SIZE, "wire size");

static void put32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}
static void put64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get32(const unsigned char *p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++)
    v |= (uint32_t)p[i] << (8 * i);
  return v;
}
static uint64_t get64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

MP_EXPORT int mp_handle_encode(const mp_handle *h, void *buf, size_t cap, int *fds,
                               size_t *nfds) {
  if (!h || !buf || !fds || !nfds || h->nparts < 1 || h->nparts > MP_HANDLE_MAX_PARTS)
    return -EINVAL;
  if (cap < MP_HANDLE_WIRE_SIZE)
    return MP_ETOOSHORT;
  unsigned char *p = buf;
  memset(p, 0, MP_HANDLE_WIRE_SIZE);
  put32(p, WIRE_MAGIC);
  put32(p + 4, 1u | (h->nparts << 16));
  put32(p + 8, h->type);
  for (uint32_t i = 0; i < h->nparts; i++) {
    const mp_handle_part *pt = &h->parts[i];
    if (pt->fd < 0)
      return -EINVAL;
    unsigned char *q = p + 16 + 24 * i;
    put32(q, pt->type);
    put32(q + 4, i);
    put64(q + 8, pt->offset);
    put64(q + 16, pt->size);
    fds[i] = pt->fd;
  }
  *nfds = h->nparts;
  return 0;
}

MP_EXPORT int mp_handle_decode(const void *buf, size_t len, const int *fds, size_t nfds,
                               mp_handle *h) {
  if (!buf || !h || len != MP_HANDLE_WIRE_SIZE || (nfds && !fds))
    return MP_EDECODE;
  const unsigned char *p = buf;
  uint32_t vn = get32(p + 4);
  uint32_t n = vn >> 16;
  if (get32(p) != WIRE_MAGIC || (vn & 0xffff) != 1 || n < 1 || n > MP_HANDLE_MAX_PARTS ||
      n != nfds || get32(p + 12) != 0)
    return MP_EDECODE;
  mp_handle out;
  memset(&out, 0, sizeof out);
  out.type = get32(p + 8);
  out.nparts = n;
  for (uint32_t i = 0; i < MP_HANDLE_MAX_PARTS; i++) {
    const unsigned char *q = p + 16 + 24 * i;
    if (i >= n) {
      for (int k = 0; k < 24; k++)
        if (q[k])
          return MP_EDECODE;
      out.parts[i].fd = -1;
      continue;
    }
    if (get32(q + 4) != i || fds[i] < 0)
      return MP_EDECODE;
    out.parts[i].type = get32(q);
    out.parts[i].offset = get64(q + 8);
    out.parts[i].size = get64(q + 16);
    out.parts[i].fd = fds[i];
  }
  *h = out;
  return 0;
}

MP_EXPORT int mp_handle_send(int sock, const mp_handle *h) {
  unsigned char buf[MP_HANDLE_WIRE_SIZE];
  int fds[MP_HANDLE_MAX_PARTS];
  size_t nfds;
  int r = mp_handle_encode(h, buf, sizeof buf, fds, &nfds);
  return r < 0 ? r : mp__send_fds(sock, buf, sizeof buf, fds, nfds);
}

MP_EXPORT int mp_handle_recv(int sock, mp_handle *h, double timeout) {
  mp__deadline dl;
  int r = mp__deadline_init(&dl, timeout);
  if (r < 0 || !h)
    return r < 0 ? r : -EINVAL;
  unsigned char buf[MP_HANDLE_WIRE_SIZE];
  int fds[MP_HANDLE_MAX_PARTS];
  size_t nfds = 0;
  r = mp__recv_fds(sock, buf, sizeof buf, fds, MP_HANDLE_MAX_PARTS, &nfds, &dl);
  if (r < 0)
    return r;
  r = mp_handle_decode(buf, sizeof buf, fds, nfds, h);
  if (r < 0) {
    for (size_t i = 0; i < nfds; i++)
      mp__close(fds[i]);
  }
  return r;
}

MP_EXPORT void mp_handle_close(mp_handle *h) {
  if (!h)
    return;
  for (uint32_t i = 0; i < h->nparts && i < MP_HANDLE_MAX_PARTS; i++) {
    mp__close(h->parts[i].fd);
    h->parts[i].fd = -1;
  }
}

/* ---- descriptor passing ---------------------------------------------------- */

int mp__send_fds(int sock, const void *buf, size_t len, const int *fds, size_t nfds) {
  if (len == 0 || nfds > 253)
    return -EINVAL;
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(253 * sizeof(int))];
  } ctl;
  struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
  if (nfds) {
    memset(&ctl, 0, sizeof ctl);
    msg.msg_control = ctl.buf;
    msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
    memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
  }
  ssize_t n;
  do
    n = sendmsg(sock, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return -errno;
  /* The descriptors went with the first byte; the rest is plain data. */
  size_t done = (size_t)n;
  while (done < len) {
    n = send(sock, (const char *)buf + done, len - done, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN) {
        int pr = mp__poll1(sock, POLLOUT, NULL);
        if (pr < 0)
          return pr;
        continue;
      }
      return -errno;
    }
    done += (size_t)n;
  }
  return 0;
}

int mp__recv_fds(int sock, void *buf, size_t len, int *fds, size_t maxfds, size_t *nfds,
                 const mp__deadline *dl) {
  size_t got = 0, nf = 0;
  bool overflow = false;
  int r = 0;
  while (got < len) {
    int pr = mp__poll1(sock, POLLIN, dl);
    if (pr < 0) {
      r = pr;
      break;
    }
    if (pr == 0) {
      r = MP_ETIMEOUT;
      break;
    }
    union {
      struct cmsghdr align;
      char buf[CMSG_SPACE(16 * sizeof(int))];
    } ctl;
    struct iovec iov = {.iov_base = (char *)buf + got, .iov_len = len - got};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                         .msg_controllen = sizeof ctl.buf};
    ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN)
        continue;
      r = -errno;
      break;
    }
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
        continue;
      size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < k; i++) {
        int fd;
        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        if (nf < maxfds)
          fds[nf++] = fd;
        else {
          mp__close(fd);
          overflow = true;
        }
      }
    }
    if (msg.msg_flags & MSG_CTRUNC)
      overflow = true;
    if (n == 0) {
      r = got ? MP_ETRUNCATED : MP_EEOF;
      break;
    }
    got += (size_t)n;
  }
  if (!r && overflow)
    r = MP_EPROTO;
  if (r < 0) {
    for (size_t i = 0; i < nf; i++)
      mp__close(fds[i]);
    nf = 0;
  }
  *nfds = nf;
  return r;
}

static const char *type_name(uint32_t t) {
  switch (t) {
  case MP_TYPE_RAW: return "raw block";
  case MP_TYPE_LOCK: return "Lock";
  case MP_TYPE_SEMAPHORE: return "Semaphore";
  case MP_TYPE_EVENT: return "Event";
  case MP_TYPE_CONDITION: return "Condition";
  case MP_TYPE_BARRIER: return "Barrier";
  case MP_TYPE_VALUE: return "Value";
  case MP_TYPE_ARRAY: return "Array";
  case MP_TYPE_QUEUE: return "Queue";
  default: return "unknown object";
  }
}

int mp__shm_wrong_type(uint32_t got, uint32_t want) {
  return mp__error_record(MP_ETYPE, "the handle names a %s, not a %s",
                          type_name(got), type_name(want));
}
