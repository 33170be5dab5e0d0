/* accept.c: accept for a listener with a key, which a peer that connects
 * and then says nothing (or trickles its answer a byte at a time) cannot
 * stop (issue 13: one silent TCP peer blocked every later client).
 *
 * Each accepted peer is sent its challenge at once and joins a set of
 * pending handshakes, each with its own deadline (the listener's
 * handshake_timeout). One poll() watches the listening socket and every
 * pending peer; a peer is read only once its whole answer (a frame of at
 * most MP__AUTH_MAXLEN bytes) is in the socket, so reading it never
 * blocks. Peers past their deadline are closed quietly; other failures
 * (a wrong key, a peer gone) are returned as before. A peer whose answer
 * proved it holds the key finishes the handshake (our WELCOME, its
 * challenge, our reply, its WELCOME) in this accept, each of its two
 * frames awaited the same way, up to its deadline (SO_RCVTIMEO would not
 * do: the connection's reader waits out EAGAIN), with the connection's
 * read-ahead off meanwhile so that every byte it sent is still in the
 * socket, where the wait looks. Only a key holder can hold accept there,
 * and only until its deadline. Pending peers stay in the set across calls;
 * at most MP__PENDING_MAX of them, beyond which new connections wait in
 * the kernel's backlog. Calls on one listener are serialized by a mutex. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "conn_internal.h"

#define MP__PENDING_MAX 1024

typedef struct pending {
  mp_conn *c;
  int64_t deadline_ns; /* INT64_MAX: none */
  mp__challenge ch;
  struct sockaddr_storage ss;
  socklen_t sslen;
} pending;

struct mp__handshakes {
  pthread_mutex_t mu;
  pending *v;
  struct pollfd *pf; /* 1 + cap entries */
  size_t n, cap;
};

mp__handshakes *mp__handshakes_new(void) {
  mp__handshakes *hs = mp__calloc(1, sizeof *hs);
  if (hs)
    pthread_mutex_init(&hs->mu, NULL);
  return hs;
}

void mp__handshakes_clear(mp__handshakes *hs) {
  if (!hs || pthread_mutex_trylock(&hs->mu) != 0)
    return; /* an accept running: its peers go with the free */
  for (size_t i = 0; i < hs->n; i++)
    mp_conn_free(hs->v[i].c);
  hs->n = 0;
  pthread_mutex_unlock(&hs->mu);
}

void mp__handshakes_free(mp__handshakes *hs) {
  if (!hs)
    return;
  for (size_t i = 0; i < hs->n; i++)
    mp_conn_free(hs->v[i].c);
  mp__free(hs->v);
  mp__free(hs->pf);
  pthread_mutex_destroy(&hs->mu);
  mp__free(hs);
}

static void drop(mp__handshakes *hs, size_t i, bool close_it) {
  if (close_it)
    mp_conn_free(hs->v[i].c);
  hs->v[i] = hs->v[--hs->n];
}

static int grow(mp__handshakes *hs) {
  size_t cap = hs->cap ? hs->cap * 2 : 16;
  pending *v = mp__realloc(hs->v, cap * sizeof *v);
  if (!v)
    return -ENOMEM;
  hs->v = v;
  struct pollfd *pf = mp__realloc(hs->pf, (cap + 1) * sizeof *pf);
  if (!pf)
    return -ENOMEM;
  hs->pf = pf;
  hs->cap = cap;
  return 0;
}

/* Whether fd holds a whole handshake frame (or something that fails at
 * once: a length over the limit, end of file, an error), so that reading
 * it cannot block. */
static bool frame_ready(int fd) {
  unsigned char h[4];
  ssize_t n = recv(fd, h, sizeof h, MSG_PEEK | MSG_DONTWAIT);
  if (n <= 0)
    return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
  if (n < 4)
    return false;
  uint32_t len = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
  if (len > MP__AUTH_MAXLEN)
    return true;
  int avail = 0;
  return ioctl(fd, FIONREAD, &avail) < 0 || (size_t)avail >= 4 + (size_t)len;
}

/* Waits until fd holds a whole frame, or deadline_ns: 0 or MP_ETIMEOUT. */
static int wait_frame(int fd, int64_t deadline_ns) {
  while (!frame_ready(fd)) {
    mp__deadline dl = {deadline_ns};
    int r = mp__poll1(fd, POLLIN, deadline_ns == INT64_MAX ? NULL : &dl);
    if (r < 0)
      return r;
    if (r == 0)
      return MP_ETIMEOUT;
  }
  return 0;
}

/* The rest of p's handshake, its answer being there: 0 or a code. */
static int finish(pending *p, const void *key, size_t keylen) {
  bool readahead = p->c->readahead;
  p->c->readahead = false;
  int rc = mp__challenge_check(p->c, key, keylen, &p->ch);
  if (!rc)
    rc = wait_frame(p->c->fd, p->deadline_ns);
  if (!rc)
    rc = mp__answer_reply(p->c, key, keylen);
  if (!rc)
    rc = wait_frame(p->c->fd, p->deadline_ns);
  if (!rc)
    rc = mp__answer_welcome(p->c);
  p->c->readahead = readahead;
  return rc;
}

/* Takes a new connection from the listening socket into the set and
 * challenges it. 0, or the error to report: of the listening socket, or
 * of the challenge's send (the peer already gone, as Python reports it). */
static int take_new(mp__handshakes *hs, int lfd, double timeout) {
  if (hs->n == hs->cap && grow(hs))
    return -ENOMEM;
  pending *p = &hs->v[hs->n];
  p->sslen = sizeof p->ss;
  int fd = accept4(lfd, (struct sockaddr *)&p->ss, &p->sslen, SOCK_CLOEXEC);
  if (fd < 0)
    return errno == EINTR || errno == EAGAIN || errno == ECONNABORTED || errno == EPROTO
               ? 0
               : -errno;
  p->c = mp_conn_from_fd(fd, true, true);
  if (!p->c) {
    mp__close(fd);
    return 0;
  }
  int rc = mp__challenge_send(p->c, "sha256", &p->ch);
  if (rc) {
    mp_conn_free(p->c);
    return rc;
  }
  p->deadline_ns = timeout > 9.0e9 ? INT64_MAX : mp__now_ns() + (int64_t)(timeout * 1e9);
  hs->n++;
  return 0;
}

/* The poll timeout until the nearest deadline, in ms (-1: none). */
static int poll_ms(const mp__handshakes *hs, int64_t now) {
  int64_t next = INT64_MAX;
  for (size_t i = 0; i < hs->n; i++)
    if (hs->v[i].deadline_ns < next)
      next = hs->v[i].deadline_ns;
  if (next == INT64_MAX)
    return -1;
  int64_t ms = (next - now + 999999) / 1000000;
  return ms < 0 ? 0 : ms > INT_MAX ? INT_MAX : (int)ms;
}

mp_conn *mp__accept_auth(int lfd, mp__handshakes *hs, const void *key, size_t keylen,
                         double timeout, struct sockaddr_storage *ss, socklen_t *sslen) {
  pthread_mutex_lock(&hs->mu);
  mp_conn *out = NULL;
  int err = 0;
  while (!out && !err) {
    int64_t now = mp__now_ns();
    for (size_t i = hs->n; i-- > 0;)
      if (hs->v[i].deadline_ns <= now)
        drop(hs, i, true);
    if (!hs->pf && grow(hs)) {
      err = ENOMEM;
      break;
    }
    hs->pf[0] = (struct pollfd){.fd = hs->n < MP__PENDING_MAX ? lfd : -1, .events = POLLIN};
    for (size_t i = 0; i < hs->n; i++)
      hs->pf[1 + i] = (struct pollfd){.fd = hs->v[i].c->fd, .events = POLLIN};
    size_t polled = hs->n;
    int r = poll(hs->pf, 1 + polled, poll_ms(hs, now));
    if (r < 0) {
      if (errno != EINTR)
        err = errno;
      continue;
    }
    /* Downwards: drop() moves the last entry, already looked at, into i. */
    for (size_t i = polled; i-- > 0 && !out && !err;) {
      if (!hs->pf[1 + i].revents || !frame_ready(hs->v[i].c->fd))
        continue;
      pending p = hs->v[i];
      drop(hs, i, false);
      int rc = finish(&p, key, keylen);
      if (rc == 0) {
        out = p.c;
        memcpy(ss, &p.ss, sizeof p.ss);
        *sslen = p.sslen;
      } else {
        /* Reported as Python raises (wrong key, end of file, reset),
         * except the deadline, which Python has not: that peer is
         * dropped quietly and the others go on. */
        mp_conn_free(p.c);
        if (rc != MP_ETIMEOUT)
          err = -rc;
      }
    }
    if (!out && !err && (hs->pf[0].revents & (POLLNVAL | POLLERR)))
      err = -MP_ECLOSED;
    if (!out && !err && (hs->pf[0].revents & POLLIN)) {
      int rc = take_new(hs, lfd, timeout);
      if (rc)
        err = -rc;
    }
  }
  pthread_mutex_unlock(&hs->mu);
  if (!out)
    errno = err;
  return out;
}
