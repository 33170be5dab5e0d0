/* conn.c: Pipe() and the Connection object's life (creating, closing,
 * state) and its sending side: CPython's framing (a 4-byte big-endian
 * signed length, or -1 and an 8-byte length, then the payload) written in
 * one vector, without SIGPIPE. Receiving is in recv.c. */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "conn_internal.h"

/* ---- Creating and closing -------------------------------------------------- */

mp_conn *mp_conn_from_fd(int fd, bool readable, bool writable) {
  if (fd < 0 || (!readable && !writable)) {
    mp__close(fd);
    errno = EINVAL;
    return NULL;
  }
  mp_conn *c = mp__calloc(1, sizeof *c);
  if (!c) {
    mp__close(fd);
    errno = ENOMEM;
    return NULL;
  }
  struct stat st;
  c->fd = fd;
  c->readable = readable;
  c->writable = writable;
  c->is_socket = fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
  int domain = 0;
  socklen_t dlen = sizeof domain;
  c->is_unix = c->is_socket &&
               getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dlen) == 0 &&
               domain == AF_UNIX;
  c->readahead = c->is_socket && readable && writable;
  return c;
}

int mp_pipe(bool duplex, mp_conn **c1, mp_conn **c2) {
  if (!c1 || !c2)
    return -EINVAL;
  *c1 = *c2 = NULL;
  int fds[2];
  if (duplex) {
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
      return -errno;
  } else if (pipe2(fds, O_CLOEXEC) < 0) {
    return -errno;
  }
  /* Python: c1 receives (and sends when duplex), c2 sends (and receives). */
  mp_conn *a = mp_conn_from_fd(fds[0], true, duplex);
  if (!a) {
    mp__close(fds[1]);
    return -ENOMEM;
  }
  mp_conn *b = mp_conn_from_fd(fds[1], duplex, true);
  if (!b) {
    mp_conn_free(a);
    return -ENOMEM;
  }
  *c1 = a;
  *c2 = b;
  return 0;
}

void mp__conn_drop_input(mp_conn *c) {
  mp__free(c->held);
  c->held = NULL;
  c->held_len = 0;
  mp__free(c->rbuf);
  c->rbuf = NULL;
  c->rpos = c->rend = 0;
  mp__conn_fds_drop(c);
}

int mp_conn_close(mp_conn *c) {
  if (!c)
    return -EINVAL;
  mp__conn_drop_input(c);
  if (c->fd < 0)
    return 0;
  int fd = c->fd;
  c->fd = -1;
  return mp__close(fd);
}

void mp_conn_free(mp_conn *c) {
  if (!c)
    return;
  mp_conn_close(c);
  mp__free(c->fds);
  mp__free(c);
}

int mp_conn_set_readahead(mp_conn *c, bool on) {
  if (!c)
    return -EINVAL;
  if (c->fd < 0)
    return MP_ECLOSED;
  c->readahead = on; /* bytes already read ahead are still returned first */
  return 0;
}

bool mp_conn_closed(const mp_conn *c) { return !c || c->fd < 0; }
bool mp_conn_readable(const mp_conn *c) { return c && c->fd >= 0 && c->readable; }
bool mp_conn_writable(const mp_conn *c) { return c && c->fd >= 0 && c->writable; }

int mp_conn_fileno(const mp_conn *c) {
  if (!c)
    return -EINVAL;
  return c->fd < 0 ? MP_ECLOSED : c->fd;
}

int mp__conn_check_read(const mp_conn *c) {
  if (!c)
    return -EINVAL;
  if (c->fd < 0 || c->read_failed)
    return MP_ECLOSED;
  return c->readable ? 0 : MP_ESTATE;
}

int mp__conn_check_write(const mp_conn *c) {
  if (!c)
    return -EINVAL;
  if (c->fd < 0)
    return MP_ECLOSED;
  return c->writable ? 0 : MP_ESTATE;
}

int mp__conn_fail_read(mp_conn *c, int err) {
  /* CPython's _bad_message_length: a duplex end stops receiving, a
   * receive-only end is closed; the stream's framing is lost either way. */
  if (c->writable) {
    c->readable = false;
    c->read_failed = true;
    mp__conn_drop_input(c);
  } else {
    mp_conn_close(c);
  }
  return err;
}

/* ---- Sending ------------------------------------------------------------------ */

size_t mp__conn_frame_header(uint64_t len, unsigned char hdr[MP__CONN_HDR_MAX]) {
  if (len <= INT32_MAX) {
    for (int i = 0; i < 4; i++)
      hdr[i] = (unsigned char)(len >> (24 - 8 * i));
    return 4;
  }
  memset(hdr, 0xff, 4); /* -1: an 8-byte length follows */
  for (int i = 0; i < 8; i++)
    hdr[4 + i] = (unsigned char)(len >> (56 - 8 * i));
  return 12;
}

/* Writing to a pipe whose reader is gone raises SIGPIPE, and there is no
 * MSG_NOSIGNAL for write(2). So, as libraries do: block SIGPIPE in this
 * thread around the write; on EPIPE take the signal we caused off the
 * pending set with a zero-timeout sigtimedwait (unless one was already
 * pending before, which is someone else's); then restore the mask. */
typedef struct sigpipe_guard {
  sigset_t old;
  bool restore;
  bool pending_before;
} sigpipe_guard;

static void sigpipe_block(sigpipe_guard *g) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, &g->old);
  g->restore = !sigismember(&g->old, SIGPIPE);
  g->pending_before = false;
  /* While SIGPIPE was unblocked here, none can be pending for us: it would
   * have been delivered. Only an already-blocked one may be waiting. */
  if (!g->restore) {
    sigset_t pend;
    sigpending(&pend);
    g->pending_before = sigismember(&pend, SIGPIPE);
  }
}

static void sigpipe_unblock(sigpipe_guard *g, bool got_epipe) {
  int saved = errno;
  if (got_epipe && !g->pending_before) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    struct timespec zero = {0, 0};
    while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR) {
    }
  }
  if (g->restore)
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
  errno = saved;
}

/* Writes every byte of iov[0..cnt): sendmsg with MSG_NOSIGNAL on sockets,
 * writev on pipes. Short writes advance the vector; EINTR retries; EAGAIN
 * (a descriptor someone made non-blocking) waits for POLLOUT. */
static int write_all(mp_conn *c, struct iovec *iov, int cnt) {
  sigpipe_guard g;
  if (!c->is_socket)
    sigpipe_block(&g);
  int rc = 0;
  while (cnt > 0) {
    ssize_t r;
    if (cnt == 1) /* send/write: cheaper than their vector forms */
      r = c->is_socket ? send(c->fd, iov->iov_base, iov->iov_len, MSG_NOSIGNAL)
                       : write(c->fd, iov->iov_base, iov->iov_len);
    else if (c->is_socket)
      r = sendmsg(c->fd, &(struct msghdr){.msg_iov = iov, .msg_iovlen = (size_t)cnt},
                  MSG_NOSIGNAL);
    else
      r = writev(c->fd, iov, cnt);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN) {
        int p = mp__poll1(c->fd, POLLOUT, NULL);
        if (p < 0) {
          rc = p;
          break;
        }
        continue;
      }
      rc = -errno;
      break;
    }
    size_t done = (size_t)r;
    while (cnt > 0 && done >= iov->iov_len) {
      done -= iov->iov_len;
      iov++;
      cnt--;
    }
    if (cnt > 0) {
      iov->iov_base = (char *)iov->iov_base + done;
      iov->iov_len -= done;
    }
  }
  if (!c->is_socket)
    sigpipe_unblock(&g, rc == -EPIPE);
  return rc;
}

int mp_conn_send_bytes(mp_conn *c, const void *buf, size_t len) {
  int rc = mp__conn_check_write(c);
  if (rc)
    return rc;
  if (!buf && len)
    return -EINVAL;
  /* A small message is copied behind its header and goes out with one
   * send/write; a larger one as a two-part vector: one system call while
   * it fits the socket buffer, and never a copy of the payload. */
  unsigned char small[MP__CONN_HDR_MAX + MP__CONN_SMALL];
  size_t hlen = mp__conn_frame_header(len, small);
  if (len <= MP__CONN_SMALL) {
    if (len)
      memcpy(small + hlen, buf, len);
    struct iovec one = {.iov_base = small, .iov_len = hlen + len};
    return write_all(c, &one, 1);
  }
  struct iovec iov[2] = {
      {.iov_base = small, .iov_len = hlen},
      {.iov_base = (void *)buf, .iov_len = len},
  };
  return write_all(c, iov, 2);
}

int mp_conn_send_bytes_range(mp_conn *c, const void *buf, size_t buflen,
                             size_t offset, size_t size) {
  if (offset > buflen)
    return MP_EVALUE;
  if (size == MP_CONN_NOLIMIT)
    size = buflen - offset;
  else if (size > buflen - offset)
    return MP_EVALUE;
  return mp_conn_send_bytes(c, buf ? (const char *)buf + offset : NULL, size);
}
