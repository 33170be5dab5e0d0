/* recv.c: the receiving side of a connection: reading CPython's frame
 * header, then the payload into a buffer that grows as bytes arrive (never
 * to a length the peer merely announced), into the caller's buffer, or
 * kept whole after MP_ETOOSHORT; and poll().
 *
 * Read-ahead (duplex sockets by default, see struct mp_conn): the read that
 * fetches a header asks for up to MP__CONN_RBUF bytes, so a small message
 * costs one system call; bytes past it wait in the connection, and
 * mp_conn_poll and mp_wait report them. Large payloads are read straight
 * into their destination. */
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "conn_internal.h"

/* One recvmsg on a Unix socket, with room for descriptors: whatever
 * descriptors come with these bytes are queued in the connection (a plain
 * read(2) would make the kernel close them: lost). MSG_CTRUNC means some
 * were dropped: the stream cannot be trusted. */
static ssize_t recv_unix(mp_conn *c, void *buf, size_t n) {
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(MP__CONN_MAXFDS * sizeof(int))];
  } ctl;
  struct iovec iov = {.iov_base = buf, .iov_len = n};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                       .msg_controllen = sizeof ctl.buf};
  ssize_t r = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC);
  if (r < 0)
    return -errno;
  if (msg.msg_controllen == 0) { /* the usual case: bytes only */
    c->rx_total += (uint64_t)r;
    return r;
  }
  int fds[MP__CONN_MAXFDS];
  size_t nf = 0;
  for (struct cmsghdr *h = CMSG_FIRSTHDR(&msg); h; h = CMSG_NXTHDR(&msg, h)) {
    if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
      continue;
    size_t k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < k && nf < MP__CONN_MAXFDS; i++)
      memcpy(&fds[nf++], CMSG_DATA(h) + i * sizeof(int), sizeof(int));
  }
  if (msg.msg_flags & MSG_CTRUNC) {
    for (size_t i = 0; i < nf; i++)
      mp__close(fds[i]);
    return MP_EPROTO;
  }
  uint64_t start = c->rx_total;
  c->rx_total += (uint64_t)r;
  int rc = nf ? mp__conn_fds_push(c, fds, nf, start, c->rx_total) : 0;
  return rc ? rc : r;
}

/* One read: EINTR retried, EAGAIN waits for input. Returns bytes read, 0
 * at end of file, MP_EPROTO or -errno. */
static ssize_t read_some(mp_conn *c, void *buf, size_t n) {
  for (;;) {
    ssize_t r;
    if (c->is_unix) {
      r = recv_unix(c, buf, n);
    } else {
      r = read(c->fd, buf, n);
      if (r >= 0)
        c->rx_total += (uint64_t)r;
      else
        r = -errno;
    }
    if (r == -EINTR)
      continue;
    if (r == -EAGAIN) {
      int p = mp__poll1(c->fd, POLLIN, NULL);
      if (p < 0)
        return p;
      continue;
    }
    return r;
  }
}

/* Up to n bytes: from the read-ahead bytes if there are any; else, when
 * reading ahead and n is small, one read of up to MP__CONN_RBUF bytes into
 * the connection's buffer; else straight into buf. Returns bytes copied,
 * 0 at end of file, or -errno. */
ssize_t mp__conn_read(mp_conn *c, void *buf, size_t n) {
  if (c->rpos == c->rend && c->readahead && n < MP__CONN_RBUF) {
    if (!c->rbuf && !(c->rbuf = mp__malloc(MP__CONN_RBUF)))
      return -ENOMEM;
    ssize_t r = read_some(c, c->rbuf, MP__CONN_RBUF);
    if (r <= 0)
      return r;
    c->rpos = 0;
    c->rend = (size_t)r;
  }
  if (c->rpos < c->rend) {
    size_t k = c->rend - c->rpos < n ? c->rend - c->rpos : n;
    memcpy(buf, c->rbuf + c->rpos, k);
    c->rpos += k;
    return (ssize_t)k;
  }
  return read_some(c, buf, n);
}

/* Reads up to n bytes, stopping early only at end of file; *got tells how
 * many came. Returns 0 or -errno. */
static int read_upto(mp_conn *c, void *buf, size_t n, size_t *got) {
  *got = 0;
  while (*got < n) {
    ssize_t r = mp__conn_read(c, (char *)buf + *got, n - *got);
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

/* Large buffers and page faults. On this VM a fresh 4 KiB page costs
 * several microseconds to fault in, so a 64 MiB recv_bytes spent most of
 * its time faulting 16384 pages. Transparent huge pages make that 32
 * faults, but only for 2 MiB-aligned ranges not yet touched, and realloc
 * (mremap) moves a buffer to addresses of any alignment. So from
 * MP__CONN_HUGE on, a growing buffer is a fresh allocation, advised
 * MADV_HUGEPAGE before anything touches it, and the bytes so far are
 * copied over (at most once the final size in all). Advice only (nothing
 * changes where THP is off), and only on libc's memory: a user's
 * allocator may hand out memory madvise should not touch. */
#define MP__CONN_HUGE ((size_t)4 << 20)

static char *grow(char *buf, size_t used, size_t n) {
  if (n < MP__CONN_HUGE || !mp__alloc_is_default())
    return mp__realloc(buf, n);
  char *nb = mp__malloc(n);
  if (!nb)
    return NULL;
  const uintptr_t huge = (uintptr_t)2 << 20;
  uintptr_t lo = ((uintptr_t)nb + huge - 1) & ~(huge - 1);
  uintptr_t hi = ((uintptr_t)nb + n) & ~(huge - 1);
  if (hi > lo)
    (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
  memcpy(nb, buf, used);
  mp__free(buf);
  return nb;
}

/* Reads a len-byte body into a fresh buffer that grows as bytes arrive
 * (doubling, capped by len), plus a NUL after it. */
static int recv_body_alloc(mp_conn *c, uint64_t len, char **out) {
  *out = NULL;
  if (len > memory_limit() || len >= SIZE_MAX)
    return mp__conn_fail_read(c, MP_ETOOBIG);
  size_t want = (size_t)len;
  /* A large block already allocated (the last large one freed: see
   * mp__malloc_cached) takes the whole message at once; it is not memory
   * the announced length made us allocate. */
  size_t cap = want;
  char *buf = want >= MP__CONN_HUGE ? mp__malloc_cached(want + 1) : NULL;
  if (!buf) {
    cap = want < MP__CONN_GROW_MIN ? want : MP__CONN_GROW_MIN;
    buf = mp__malloc(cap + 1);
  }
  if (!buf)
    return mp__conn_fail_read(c, -ENOMEM);
  size_t got = 0;
  while (got < want) {
    if (got == cap) {
      size_t ncap = cap > want / 2 ? want : cap * 2;
      char *nb = grow(buf, got, ncap + 1);
      if (!nb) {
        mp__free(buf);
        return mp__conn_fail_read(c, -ENOMEM);
      }
      buf = nb;
      cap = ncap;
    }
    ssize_t r = mp__conn_read(c, buf + got, cap - got);
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
  if (mp__conn_buffered(c))
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
