/* conn.c: Pipe() and the Connection object: CPython's framing (a 4-byte
 * big-endian signed length, or -1 and an 8-byte length, then the payload),
 * sending without SIGPIPE, and receiving into fresh or caller-provided
 * buffers.
 *
 * A connection keeps no bytes of its own between calls (the one exception
 * is a message kept after MP_ETOOSHORT): it never reads ahead, so its
 * descriptor can be polled, passed to another process or handed to Python,
 * and what is readable there is exactly the next message. */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
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

int mp_conn_close(mp_conn *c) {
  if (!c)
    return -EINVAL;
  mp__free(c->held);
  c->held = NULL;
  c->held_len = 0;
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
  mp__free(c);
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
    if (c->is_socket) {
      struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)cnt};
      r = sendmsg(c->fd, &m, MSG_NOSIGNAL);
    } else {
      r = writev(c->fd, iov, cnt);
    }
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
  unsigned char hdr[MP__CONN_HDR_MAX];
  /* Header and payload in one vector: one system call for a message that
   * fits the socket buffer, no copy of the payload whatever its size. */
  struct iovec iov[2] = {
      {.iov_base = hdr, .iov_len = mp__conn_frame_header(len, hdr)},
      {.iov_base = (void *)buf, .iov_len = len},
  };
  return write_all(c, iov, len ? 2 : 1);
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

/* ---- Receiving ---------------------------------------------------------------- */

/* One read(2): EINTR retried, EAGAIN waits for input. Returns bytes read,
 * 0 at end of file, or -errno. */
static ssize_t read_some(mp_conn *c, void *buf, size_t n) {
  for (;;) {
    ssize_t r = read(c->fd, buf, n);
    if (r >= 0)
      return r;
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN) {
      int p = mp__poll1(c->fd, POLLIN, NULL);
      if (p < 0)
        return p;
      continue;
    }
    return -errno;
  }
}

/* Reads up to n bytes, stopping early only at end of file; *got tells how
 * many came. Returns 0 or -errno. */
static int read_upto(mp_conn *c, void *buf, size_t n, size_t *got) {
  *got = 0;
  while (*got < n) {
    ssize_t r = read_some(c, (char *)buf + *got, n - *got);
    if (r < 0)
      return (int)r;
    if (r == 0)
      break;
    *got += (size_t)r;
  }
  return 0;
}

int mp__conn_read_exact(mp_conn *c, void *buf, size_t n) {
  size_t got;
  int rc = read_upto(c, buf, n, &got);
  if (rc)
    return rc;
  return got < n ? MP_ETRUNCATED : 0;
}

int mp__conn_read_header(mp_conn *c, uint64_t *len) {
  unsigned char h[8];
  size_t got;
  int rc = read_upto(c, h, 4, &got);
  if (rc)
    return rc;
  if (got == 0)
    return MP_EEOF;
  if (got < 4)
    return MP_ETRUNCATED;
  int32_t n = (int32_t)((uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 |
                        (uint32_t)h[2] << 8 | h[3]);
  if (n >= 0) {
    *len = (uint64_t)n;
    return 0;
  }
  if (n != -1)
    return MP_EPROTO;
  rc = mp__conn_read_exact(c, h, 8);
  if (rc)
    return rc;
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | h[i];
  if (v > MP__CONN_LEN_MAX)
    return MP_EPROTO;
  *len = v;
  return 0;
}

/* A message longer than all memory and swap cannot be received; refusing
 * it up front keeps a peer's 2^62 from looking like a slow message. */
static uint64_t memory_limit(void) {
  static uint64_t limit;
  uint64_t l = __atomic_load_n(&limit, __ATOMIC_RELAXED);
  if (!l) {
    struct sysinfo si;
    if (sysinfo(&si) == 0)
      l = ((uint64_t)si.totalram + si.totalswap) * (si.mem_unit ? si.mem_unit : 1);
    if (!l || l > MP__CONN_LEN_MAX)
      l = MP__CONN_LEN_MAX;
    __atomic_store_n(&limit, l, __ATOMIC_RELAXED);
  }
  return l;
}

/* Reads the header; on a failure that loses the framing, marks the
 * receiving side failed. MP_EEOF and MP_ETRUNCATED leave it: the stream
 * simply ended. */
static int recv_header(mp_conn *c, uint64_t *len) {
  int rc = mp__conn_read_header(c, len);
  if (rc && rc != MP_EEOF && rc != MP_ETRUNCATED)
    return mp__conn_fail_read(c, rc);
  return rc;
}

/* Reads a len-byte body into a fresh buffer that grows as bytes arrive
 * (doubling, capped by len), plus a NUL after it. */
static int recv_body_alloc(mp_conn *c, uint64_t len, char **out) {
  *out = NULL;
  if (len > memory_limit() || len >= SIZE_MAX)
    return mp__conn_fail_read(c, MP_ETOOBIG);
  size_t want = (size_t)len;
  size_t cap = want < MP__CONN_GROW_MIN ? want : MP__CONN_GROW_MIN;
  char *buf = mp__malloc(cap + 1);
  if (!buf)
    return mp__conn_fail_read(c, -ENOMEM);
  size_t got = 0;
  while (got < want) {
    if (got == cap) {
      size_t ncap = cap > want / 2 ? want : cap * 2;
      char *nb = mp__realloc(buf, ncap + 1);
      if (!nb) {
        mp__free(buf);
        return mp__conn_fail_read(c, -ENOMEM);
      }
      buf = nb;
      cap = ncap;
    }
    ssize_t r = read_some(c, buf + got, cap - got);
    if (r <= 0) {
      mp__free(buf);
      return r == 0 ? MP_ETRUNCATED : mp__conn_fail_read(c, (int)r);
    }
    got += (size_t)r;
  }
  buf[want] = '\0';
  *out = buf;
  return 0;
}

int mp_conn_recv_bytes(mp_conn *c, void **out, size_t *len, size_t maxlength) {
  if (!out || !len)
    return -EINVAL;
  *out = NULL;
  *len = 0;
  int rc = mp__conn_check_read(c);
  if (rc)
    return rc;
  if (c->held) {
    if (c->held_len > maxlength) {
      mp__free(c->held);
      c->held = NULL;
      return mp__conn_fail_read(c, MP_ETOOBIG);
    }
    *out = c->held;
    *len = c->held_len;
    c->held = NULL;
    c->held_len = 0;
    return 0;
  }
  uint64_t n;
  rc = recv_header(c, &n);
  if (rc)
    return rc;
  if (n > maxlength)
    return mp__conn_fail_read(c, MP_ETOOBIG);
  char *buf;
  rc = recv_body_alloc(c, n, &buf);
  if (rc)
    return rc;
  *out = buf;
  *len = (size_t)n;
  return 0;
}

int mp_conn_recv_bytes_into(mp_conn *c, void *buf, size_t buflen, size_t offset,
                            size_t *nread) {
  if (!nread || (!buf && buflen))
    return -EINVAL;
  *nread = 0;
  int rc = mp__conn_check_read(c);
  if (rc)
    return rc;
  if (offset > buflen)
    return MP_EVALUE;
  size_t space = buflen - offset;
  if (c->held) {
    *nread = c->held_len;
    if (c->held_len > space)
      return MP_ETOOSHORT;
    memcpy((char *)buf + offset, c->held, c->held_len);
    mp__free(c->held);
    c->held = NULL;
    c->held_len = 0;
    return 0;
  }
  uint64_t n;
  rc = recv_header(c, &n);
  if (rc)
    return rc;
  if (n <= space) {
    rc = mp__conn_read_exact(c, (char *)buf + offset, (size_t)n);
    if (rc)
      return rc == MP_ETRUNCATED ? rc : mp__conn_fail_read(c, rc);
    *nread = (size_t)n;
    return 0;
  }
  /* Too long for the caller's buffer: read it whole and keep it, so it is
   * not lost (Python hands it over as e.args[0]). */
  char *whole;
  rc = recv_body_alloc(c, n, &whole);
  if (rc)
    return rc;
  c->held = whole;
  c->held_len = (size_t)n;
  *nread = (size_t)n;
  return MP_ETOOSHORT;
}

int mp_conn_poll(mp_conn *c, double timeout) {
  int rc = mp__conn_check_read(c);
  if (rc)
    return rc;
  if (c->held)
    return 1;
  mp__deadline dl;
  rc = mp__deadline_init(&dl, timeout);
  if (rc)
    return rc;
  int r = mp__poll1(c->fd, POLLIN, &dl);
  if (r < 0)
    return r;
  if (r & POLLNVAL)
    return -EBADF;
  return r != 0;
}
