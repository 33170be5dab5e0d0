/* fds.c: passing descriptors over a Unix-domain connection (Python's
 * multiprocessing.reduction.send_handle / recv_handle), and the two things
 * built on it: a connection (mp_conn_send_conn) and a shared object's
 * handle (mp_conn_send_handle, mp_handle's own encoding).
 *
 * The receiving side never uses read(2) on a Unix socket: the kernel would
 * close any descriptor that came with the bytes. Every read is a recvmsg
 * with room for MP__CONN_MAXFDS descriptors (recv.c), and what comes is
 * queued here with the stream range of the read that brought it. The
 * kernel hands descriptors over with the read that includes the first byte
 * they were sent with, and ends that read inside their message; so a
 * receive claims the descriptors whose read covered its message's first
 * byte, whether that read was its own or an earlier read-ahead. Older
 * unclaimed ones (sent with bytes somebody received as plain data) are
 * closed when a later claim passes them, the rest at close. */
#include <fcntl.h>
#include <string.h>

#include "conn_internal.h"
#include "shm/shm_internal.h"

/* CPython's sendfds: one byte, the number of descriptors mod 256. */
#define FD_MARKER 1

int mp__conn_fds_push(mp_conn *c, const int *fds, size_t n, uint64_t start,
                      uint64_t end) {
  if (c->fd_head == c->fd_n) /* empty: start over at the front */
    c->fd_head = c->fd_n = 0;
  if (c->fd_n + n > c->fd_cap) {
    if (c->fd_head) { /* slide the live entries down first */
      memmove(c->fds, c->fds + c->fd_head, (c->fd_n - c->fd_head) * sizeof *c->fds);
      c->fd_n -= c->fd_head;
      c->fd_head = 0;
    }
    size_t cap = c->fd_cap ? c->fd_cap : 8;
    while (cap < c->fd_n + n)
      cap *= 2;
    struct mp__conn_fd *nq = cap == c->fd_cap ? c->fds : mp__realloc(c->fds, cap * sizeof *nq);
    if (!nq) {
      for (size_t i = 0; i < n; i++)
        mp__close(fds[i]);
      return -ENOMEM;
    }
    c->fds = nq;
    c->fd_cap = cap;
  }
  for (size_t i = 0; i < n; i++)
    c->fds[c->fd_n++] = (struct mp__conn_fd){.fd = fds[i], .start = start, .end = end};
  return 0;
}

void mp__conn_fds_drop(mp_conn *c) {
  for (size_t i = c->fd_head; i < c->fd_n; i++)
    mp__close(c->fds[i].fd);
  c->fd_head = c->fd_n = 0;
}

/* Takes the descriptors whose read covered stream position p (up to max
 * into out; any beyond are closed and counted) after closing older
 * unclaimed ones. Returns how many came with p. */
static size_t fds_claim(mp_conn *c, uint64_t p, int *out, size_t max) {
  while (c->fd_head < c->fd_n && c->fds[c->fd_head].end <= p)
    mp__close(c->fds[c->fd_head++].fd);
  size_t n = 0;
  while (c->fd_head < c->fd_n && c->fds[c->fd_head].start <= p) {
    int fd = c->fds[c->fd_head++].fd;
    if (n < max)
      out[n] = fd;
    else
      mp__close(fd);
    n++;
  }
  return n;
}

static void close_all(const int *fds, size_t n) {
  for (size_t i = 0; i < n; i++)
    mp__close(fds[i]);
}

/* ---- descriptors ------------------------------------------------------------- */

int mp_conn_send_fd(mp_conn *c, int fd) {
  int rc = mp__conn_check_write(c);
  if (rc)
    return rc;
  if (!c->is_unix)
    return MP_ENOTSUP;
  if (fd < 0 || fcntl(fd, F_GETFD) < 0)
    return -EBADF;
  const unsigned char marker = FD_MARKER;
  return mp__send_fds(c->fd, &marker, 1, &fd, 1);
}

/* Checks that c may receive descriptors now: a message kept after
 * MP_ETOOSHORT comes first in the stream, so it is not a descriptor. */
static int check_recv_fds(mp_conn *c) {
  int rc = mp__conn_check_read(c);
  if (rc)
    return rc;
  if (!c->is_unix)
    return MP_ENOTSUP;
  return c->held ? MP_EPROTO : 0;
}

int mp_conn_recv_fd(mp_conn *c, int *fd) {
  if (!fd)
    return -EINVAL;
  *fd = -1;
  int rc = check_recv_fds(c);
  if (rc)
    return rc;
  uint64_t p = mp__conn_pos(c);
  unsigned char marker;
  ssize_t r = mp__conn_read(c, &marker, 1);
  if (r == 0)
    return MP_EEOF;
  if (r < 0)
    return r == MP_EPROTO ? mp__conn_fail_read(c, MP_EPROTO) : (int)r;
  int got[MP__CONN_MAXFDS];
  size_t n = fds_claim(c, p, got, MP__CONN_MAXFDS);
  if (marker != FD_MARKER || n != 1) {
    /* Bytes where a descriptor was expected (or several descriptors): the
     * peer does not follow the protocol, and the framing is lost. */
    close_all(got, n < MP__CONN_MAXFDS ? n : MP__CONN_MAXFDS);
    return mp__conn_fail_read(c, MP_EPROTO);
  }
  *fd = got[0];
  return 0;
}

/* ---- connections ------------------------------------------------------------- */

int mp_conn_send_conn(mp_conn *c, const mp_conn *conn) {
  if (!conn)
    return -EINVAL;
  if (conn->fd < 0)
    return MP_ECLOSED;
  if (mp__conn_buffered(conn))
    return MP_ESTATE; /* bytes read ahead would stay behind in this process */
  return mp_conn_send_fd(c, conn->fd);
}

int mp_conn_recv_conn(mp_conn *c, mp_conn **out) {
  if (!out)
    return -EINVAL;
  *out = NULL;
  int fd;
  int rc = mp_conn_recv_fd(c, &fd);
  if (rc)
    return rc;
  /* The end's kind travels with the descriptor: a pipe's ends are opened
   * read-only and write-only, a socket read-write. */
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0) {
    rc = -errno;
    mp__close(fd);
    return rc;
  }
  int mode = fl & O_ACCMODE;
  mp_conn *n = mp_conn_from_fd(fd, mode != O_WRONLY, mode != O_RDONLY);
  if (!n)
    return -errno;
  *out = n;
  return 0;
}

/* ---- handles ----------------------------------------------------------------- */

int mp_conn_send_handle(mp_conn *c, const mp_handle *h) {
  int rc = mp__conn_check_write(c);
  if (rc)
    return rc;
  if (!c->is_unix)
    return MP_ENOTSUP;
  /* One ordinary message (header + mp_handle_encode's record), its
   * descriptors attached to the header's first byte. */
  unsigned char buf[MP__CONN_HDR_MAX + MP_HANDLE_WIRE_SIZE];
  size_t hl = mp__conn_frame_header(MP_HANDLE_WIRE_SIZE, buf);
  int fds[MP_HANDLE_MAX_PARTS];
  size_t nfds;
  rc = mp_handle_encode(h, buf + hl, MP_HANDLE_WIRE_SIZE, fds, &nfds);
  return rc ? rc : mp__send_fds(c->fd, buf, hl + MP_HANDLE_WIRE_SIZE, fds, nfds);
}

int mp_conn_recv_handle(mp_conn *c, mp_handle *h) {
  if (!h)
    return -EINVAL;
  int rc = check_recv_fds(c);
  if (rc)
    return rc;
  uint64_t p = mp__conn_pos(c);
  uint64_t len;
  rc = mp__conn_read_header(c, &len);
  int fds[MP__CONN_MAXFDS];
  size_t nfds = fds_claim(c, p, fds, MP__CONN_MAXFDS);
  size_t kept = nfds < MP__CONN_MAXFDS ? nfds : MP__CONN_MAXFDS;
  if (rc) {
    close_all(fds, kept);
    return rc == MP_EEOF || rc == MP_ETRUNCATED ? rc : mp__conn_fail_read(c, rc);
  }
  unsigned char buf[MP__CONN_RBUF];
  if (len > sizeof buf) { /* not a handle, and too long to skip cheaply */
    close_all(fds, kept);
    return mp__conn_fail_read(c, MP_EPROTO);
  }
  rc = mp__conn_read_exact(c, buf, (size_t)len);
  if (rc) {
    close_all(fds, kept);
    return rc == MP_ETRUNCATED ? rc : mp__conn_fail_read(c, rc);
  }
  /* The message was read whole: the stream stays in step whatever it
   * held. Plain bytes where a handle was expected: MP_EPROTO. */
  if (nfds == 0 || nfds > MP__CONN_MAXFDS || len != MP_HANDLE_WIRE_SIZE) {
    close_all(fds, kept);
    return MP_EPROTO;
  }
  rc = mp_handle_decode(buf, (size_t)len, fds, nfds, h);
  if (rc)
    close_all(fds, kept);
  return rc;
}
