/* server.c: the manager's server: the listening socket, one thread per
 * client connection (as CPython's Server.handle_request threads), the
 * authentication handshake done by that thread (so a client that never
 * answers holds up nobody), and the request loop over a socket or, for a
 * local client, over the shared-memory channel it handed us.
 *
 * Liveness: a thread waiting for its client's next request sleeps in
 * slices and looks at the socket between them, so a client killed (even
 * mid-call) frees its thread and references; the accept loop watches the
 * starting process through a pidfd, so the server ends when that process
 * does, however it ends.
 *
 * Unauthenticated peers (issue 13): the handshake and HELLO together have
 * a deadline (handshake_ns from the accept), which the accept loop
 * enforces: it wakes at the nearest one and shuts down the socket of a
 * connection past it, so its thread's blocked read ends at once, however
 * the peer behaves (silent, or trickling bytes, which per-read
 * SO_RCVTIMEO cannot bound). And at most max_handshaking connections may
 * be in that phase: beyond it a new connection is closed at once. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manager/manager_internal.h"

#define IDLE_SLICE_NS (200 * 1000 * 1000)
/* After a reply, how long the thread keeps spinning for the next request
 * (back-to-back calls come within microseconds). */
#define SERVER_SPIN_NS (100 * 1000)

static uint64_t next_conn_id;

const mp_address *mp__mgr_server_address(const mgr_server *s) { return &s->addr; }

void mp__mgr_server_set_control(mgr_server *s, int fd) { s->ctl_fd = fd; }

void mp__mgr_server_set_limits(mgr_server *s, double timeout, int max) {
  double t = timeout > 0 ? timeout : MP_MANAGER_HANDSHAKE_TIMEOUT;
  s->handshake_ns = t > 1e9 ? (int64_t)1e18 : (int64_t)(t * 1e9); /* forever: 31 years */
  s->max_handshaking = max > 0 ? max : MP_MANAGER_MAX_HANDSHAKES;
}

mgr_server *mp__mgr_server_new(const mp_address *addr, const mgr_registry *reg,
                               const void *key, size_t keylen) {
  mgr_server *s = mp__calloc(1, sizeof *s);
  if (!s)
    return NULL;
  s->reg = reg;
  s->stop_pipe[0] = s->stop_pipe[1] = -1;
  s->ctl_fd = -1;
  if (!key) {
    mp__self *me = mp__self_get();
    key = me->authkey;
    keylen = me->authkey_len;
  }
  if (keylen > sizeof s->key) {
    mp__free(s);
    errno = EINVAL;
    return NULL;
  }
  memcpy(s->key, key, keylen);
  s->keylen = keylen;
  mp__random_bytes(&s->uid, sizeof s->uid);
  s->uid &= INT64_MAX;
  mp_address def;
  if (!addr) {
    char name[64];
    uint64_t r;
    mp__random_bytes(&r, sizeof r);
    snprintf(name, sizeof name, "mproc-manager-%d-%016llx", (int)getpid(),
             (unsigned long long)r);
    def = mp_address_abstract(name);
    addr = &def;
  }
  if (pipe2(s->stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
    goto fail;
  s->lst = mp_listener_new(addr, NULL);
  if (!s->lst)
    goto fail;
  s->addr = *mp_listener_address(s->lst);
  mp__mgr_server_set_limits(s, 0, 0);
  pthread_mutex_init(&s->lock, NULL);
  mp__mgr_cond_init(&s->idle);
  return s;
fail:;
  int e = errno;
  if (s->stop_pipe[0] >= 0) {
    mp__close(s->stop_pipe[0]);
    mp__close(s->stop_pipe[1]);
  }
  mp__free(s);
  errno = e;
  return NULL;
}

void mp__mgr_server_stop(mgr_server *s) {
  __atomic_store_n(&s->stopping, 1, __ATOMIC_SEQ_CST);
  char b = 1;
  (void)!write(s->stop_pipe[1], &b, 1);
}

/* ---- One connection ------------------------------------------------------------------ */

static int sconn_alive(void *ctx) {
  mgr_sconn *c = ctx;
  if (__atomic_load_n(&c->srv->stopping, __ATOMIC_ACQUIRE))
    return MP_ECLOSED;
  struct pollfd p = {.fd = c->fd, .events = POLLRDHUP};
  int n = poll(&p, 1, 0);
  if (n > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
    return MP_EEOF;
  return 0;
}

/* HELLO: learns the client's uid and, for a local client, takes the
 * channel it offers. Returns 0 or a code (the connection is dropped). */
static int sconn_hello(mgr_sconn *c) {
  void *msg;
  size_t len;
  int rc = mp_conn_recv_bytes(c->conn, &msg, &len, 4096);
  if (rc < 0)
    return rc;
  mgr_request req;
  rc = mp__mgr_request_decode(msg, len, &req);
  mp_free(msg);
  if (rc < 0)
    return rc;
  mp_obj *want = NULL;
  bool want_chan = false;
  if (req.op != MGR_OP_HELLO) {
    mp_obj_unref(req.args);
    return MP_EPROTO;
  }
  if (mp_obj_list_len(req.args) >= 2 &&
      mp_obj_list_get(req.args, 1, &want) == 0)
    want_chan = mp_obj_truthy(want);
  mp_obj_unref(req.args);
  bool local = c->srv->addr.family == MP_AF_UNIX;
  mgr_server *s = c->srv;
  pthread_mutex_lock(&s->lock);
  mgr_client *cl = s->clients;
  while (cl && cl->uid != req.id)
    cl = cl->next;
  if (!cl && (cl = mp__calloc(1, sizeof *cl))) {
    cl->uid = req.id;
    cl->next = s->clients;
    s->clients = cl;
  }
  if (cl)
    cl->nconns++;
  c->client = cl;
  pthread_mutex_unlock(&s->lock);
  if (!cl)
    return -ENOMEM;
  mp_obj *r = mp_obj_build("[K b]", (unsigned long long)s->uid,
                           (int)(want_chan && local));
  mgr_buf out = {0};
  char st = MGR_R_OK;
  rc = r ? mp__mgr_buf_put(&out, &st, 1) : -ENOMEM;
  if (rc == 0)
    rc = mp_obj_encode_append(r, (void **)&out.data, &out.len, &out.cap);
  mp_obj_unref(r);
  if (rc == 0)
    rc = mp_conn_send_bytes(c->conn, out.data, out.len);
  mp__mgr_buf_free(&out);
  if (rc < 0 || !(want_chan && local))
    return rc;
  int fd;
  rc = mp__mgr_recv_fd(c->fd, &fd);
  if (rc < 0)
    return rc;
  struct stat st_;
  if (fstat(fd, &st_) < 0 || (size_t)st_.st_size < sizeof(mgr_chan)) {
    mp__close(fd);
    return MP_EPROTO;
  }
  void *m = mmap(NULL, sizeof(mgr_chan), PROT_READ | PROT_WRITE, MAP_SHARED,
                 fd, 0);
  mp__close(fd);
  if (m == MAP_FAILED)
    return -errno;
  c->chan = m;
  c->seen = 0; /* a fresh channel: the client may have posted already */
  return 0;
}

/* Receives the next request into *req and *len: from the channel (buf points
 * into it) or a socket frame (*owned set: free it). */
static int sconn_next(mgr_sconn *c, const void **req, size_t *len,
                      void **owned) {
  *owned = NULL;
  if (!c->chan) {
    int rc = mp_conn_recv_bytes(c->conn, owned, len, MGR_MSG_MAX);
    *req = *owned;
    return rc;
  }
  int rc = mp__mgr_chan_wait(&c->wait, &c->chan->req_seq, c->seen,
                             &c->chan->server_sleeping);
  if (rc < 0)
    return rc;
  c->seen = __atomic_load_n(&c->chan->req_seq, __ATOMIC_ACQUIRE);
  if (__atomic_load_n(&c->chan->req_flags, __ATOMIC_RELAXED) & MGR_CHAN_BIG) {
    rc = mp_conn_recv_bytes(c->conn, owned, len, MGR_MSG_MAX);
    *req = *owned;
    return rc;
  }
  uint32_t n = __atomic_load_n(&c->chan->req_len, __ATOMIC_RELAXED);
  if (n > MGR_CHAN_CAP)
    return MP_EPROTO;
  /* The client may scribble over the buffer while we read it (it is
   * misbehaving then); copy it so the decoder sees stable bytes. */
  *owned = mp__malloc(n ? n : 1);
  if (!*owned)
    return -ENOMEM;
  memcpy(*owned, c->chan->buf, n);
  *req = *owned;
  *len = n;
  return 0;
}

static int sconn_reply(mgr_sconn *c, const mgr_buf *out) {
  if (!c->chan)
    return mp_conn_send_bytes(c->conn, out->data, out->len);
  mgr_chan *ch = c->chan;
  if (out->len <= MGR_CHAN_CAP) {
    memcpy(ch->buf, out->data, out->len);
    ch->rep_len = (uint32_t)out->len;
    ch->rep_flags = 0;
  } else {
    ch->rep_len = 0;
    ch->rep_flags = MGR_CHAN_BIG;
    int rc = mp_conn_send_bytes(c->conn, out->data, out->len);
    if (rc < 0)
      return rc;
  }
  mp__mgr_chan_post(&c->wait, &ch->rep_seq, c->seen, &ch->client_sleeping);
  return 0;
}

static void sconn_link(mgr_server *s, mgr_sconn *c, bool add) {
  pthread_mutex_lock(&s->lock);
  if (add) {
    c->next = s->conns;
    if (s->conns)
      s->conns->prev = c;
    s->conns = c;
    s->nconns++;
  } else {
    if (c->prev)
      c->prev->next = c->next;
    else
      s->conns = c->next;
    if (c->next)
      c->next->prev = c->prev;
    if (c->handshaking)
      s->nhandshaking--;
    if (c->client && --c->client->nconns == 0)
      mp__mgr_client_release(s, c->client);
    if (--s->nconns == 0)
      pthread_cond_broadcast(&s->idle);
  }
  pthread_mutex_unlock(&s->lock);
}

static void *sconn_main(void *arg) {
  mgr_sconn *c = arg;
  mgr_server *s = c->srv;
  mp__mgr_set_call_alive(sconn_alive, c);
  /* The accept loop shuts the socket down if this takes too long. */
  int rc = mp_deliver_challenge(c->conn, s->key, s->keylen);
  if (rc == 0)
    rc = mp_answer_challenge(c->conn, s->key, s->keylen);
  if (rc == 0)
    rc = sconn_hello(c);
  pthread_mutex_lock(&s->lock);
  if (rc == 0 && c->hs_deadline_ns != INT64_MAX) { /* through, in time */
    c->hs_deadline_ns = INT64_MAX;
    c->handshaking = false;
    s->nhandshaking--;
  } else if (rc == 0) {
    rc = MP_ETIMEOUT; /* shut down at the deadline meanwhile */
  }
  pthread_mutex_unlock(&s->lock);
  mgr_buf out = {0};
  while (rc == 0) {
    const void *req;
    size_t len;
    void *owned;
    rc = sconn_next(c, &req, &len, &owned);
    if (rc < 0)
      break;
    out.len = 0;
    __atomic_add_fetch(&s->busy, 1, __ATOMIC_RELAXED);
    int shut = mp__mgr_dispatch(s, c, req, len, &out);
    __atomic_sub_fetch(&s->busy, 1, __ATOMIC_RELAXED);
    mp__free(owned);
    rc = sconn_reply(c, &out);
    if (shut) /* the serving loop ends; a server process then exits */
      mp__mgr_server_stop(s);
  }
  mp__mgr_buf_free(&out);
  sconn_link(s, c, false);
  if (c->chan)
    munmap(c->chan, sizeof(mgr_chan));
  mp_conn_free(c->conn);
  mp__free(c);
  return NULL;
}

static int start_conn(mgr_server *s, mp_conn *conn) {
  mgr_sconn *c = mp__calloc(1, sizeof *c);
  if (!c) {
    mp_conn_free(conn);
    return -ENOMEM;
  }
  c->srv = s;
  c->conn = conn;
  c->fd = mp_conn_fileno(conn);
  c->hs_deadline_ns = mp__now_ns() + s->handshake_ns;
  c->handshaking = true;
  c->conn_id = __atomic_add_fetch(&next_conn_id, 1, __ATOMIC_RELAXED);
  c->wait = (mgr_waiter){.spin_ns = mp__mgr_spin_ns(SERVER_SPIN_NS),
                         .slice_ns = IDLE_SLICE_NS,
                         .alive = sconn_alive,
                         .ctx = c,
                         .spinners = &s->spinners,
                         .max_spinners = mp__mgr_max_spinners()};
  pthread_mutex_lock(&s->lock);
  bool full = s->nhandshaking >= s->max_handshaking;
  if (!full)
    s->nhandshaking++;
  pthread_mutex_unlock(&s->lock);
  if (full) { /* refused: closed before a byte is read or sent */
    mp_conn_free(conn);
    mp__free(c);
    return -EBUSY;
  }
  sconn_link(s, c, true);
  pthread_attr_t at;
  pthread_attr_init(&at);
  pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&at, 256 * 1024);
  /* Serving threads take no signals: the program's handlers run in its
   * own threads, as they would without a server in the process. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  pthread_t t;
  int e = pthread_create(&t, &at, sconn_main, c);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&at);
  if (e) {
    sconn_link(s, c, false);
    mp_conn_free(conn);
    mp__free(c);
    return -e;
  }
  return 0;
}

/* Shuts down the connections past their handshake deadline; returns the
 * poll timeout (ms) until the next one, -1 for none. */
static int expire_handshakes(mgr_server *s) {
  int64_t now = mp__now_ns(), next = INT64_MAX;
  pthread_mutex_lock(&s->lock);
  for (mgr_sconn *c = s->nhandshaking ? s->conns : NULL; c; c = c->next) {
    if (c->hs_deadline_ns == INT64_MAX)
      continue;
    if (c->hs_deadline_ns <= now) {
      c->hs_deadline_ns = INT64_MAX; /* the thread sees it: not in time */
      shutdown(c->fd, SHUT_RDWR);
    } else if (c->hs_deadline_ns < next) {
      next = c->hs_deadline_ns;
    }
  }
  pthread_mutex_unlock(&s->lock);
  if (next == INT64_MAX)
    return -1;
  int64_t ms = (next - now + 999999) / 1000000;
  return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

int mp__mgr_server_run(mgr_server *s, int parent_pidfd) {
  int lfd = mp_listener_fileno(s->lst);
  while (!__atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE)) {
    int ms = expire_handshakes(s);
    /* A negative fd is ignored by poll. */
    struct pollfd p[4] = {{.fd = lfd, .events = POLLIN},
                          {.fd = s->stop_pipe[0], .events = POLLIN},
                          {.fd = parent_pidfd, .events = POLLIN},
                          {.fd = s->ctl_fd, .events = POLLIN}};
    int n = poll(p, 4, ms);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    if (p[1].revents || p[2].revents || p[3].revents)
      break;
    if (!(p[0].revents & POLLIN))
      continue;
    mp_conn *conn = mp_listener_accept(s->lst);
    if (!conn) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOMEM)
        usleep(10000); /* let connections close before trying again */
      continue;
    }
    start_conn(s, conn);
  }
  return 0;
}

void mp__mgr_server_free(mgr_server *s) {
  if (!s)
    return;
  mp__mgr_server_stop(s);
  mp_listener_close(s->lst);
  /* Wake every connection thread: sockets shut down, channel waiters
   * woken (they see `stopping` and leave), blocked calls end in slices. */
  pthread_mutex_lock(&s->lock);
  for (mgr_sconn *c = s->conns; c; c = c->next) {
    shutdown(c->fd, SHUT_RDWR);
    if (c->chan) {
      __atomic_add_fetch(&c->chan->rep_seq, 0, __ATOMIC_SEQ_CST);
      mp__futex_wake(&c->chan->req_seq, INT32_MAX);
    }
  }
  while (s->nconns)
    pthread_cond_wait(&s->idle, &s->lock);
  pthread_mutex_unlock(&s->lock);
  mp__mgr_table_free(s);
  while (s->clients) {
    mgr_client *n = s->clients->next;
    mp__free(s->clients->held);
    mp__free(s->clients);
    s->clients = n;
  }
  mp_listener_free(s->lst);
  mp__close(s->stop_pipe[0]);
  mp__close(s->stop_pipe[1]);
  if (s->ctl_fd >= 0)
    mp__close(s->ctl_fd);
  pthread_mutex_destroy(&s->lock);
  pthread_cond_destroy(&s->idle);
  mp__free(s);
}
