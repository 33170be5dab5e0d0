/* client.c: the client side of a manager: endpoints (one per server address
 * and key in a process, shared by the manager and its proxies), their pools
 * of connections (a call takes an idle connection or opens one, so threads
 * never wait for each other's calls, as CPython's thread-local
 * connections), the connection setup (authentication, HELLO, and for a
 * local server a shared-memory channel handed over as a memfd), and the
 * round trip itself: spin briefly for the reply, then sleep on a futex in
 * slices that check the server is still there.
 *
 * After fork the child must not use its parent's connections (the socket
 * and the channel are shared with the parent): an endpoint remembers the
 * pid that opened its connections, and a child drops them and opens its
 * own. A process has a random client uid (new in each child) under which
 * the server counts its references. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "manager/manager_internal.h"

/* How long a caller spins for the reply before sleeping: enough for a
 * method and for waking a server thread that slept. */
#define CLIENT_SPIN_NS (50 * 1000)
#define CLIENT_SLICE_NS (100 * 1000 * 1000)

typedef struct cconn {
  mp_conn *conn;
  int fd;
  mgr_chan *chan;
  uint32_t seq;
  mgr_waiter wait;
  bool broken;
  mgr_buf buf;
  struct cconn *next;
} cconn;

struct mgr_endpoint {
  mp_address addr;
  unsigned char key[MP__AUTHKEY_MAX];
  size_t keylen;
  pthread_mutex_t mu;
  cconn *idle;
  pid_t pid; /* the process the idle connections belong to */
  int refs;
  uint64_t server_uid;
  mgr_endpoint *next;
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static mgr_endpoint *g_endpoints;
static uint64_t g_uid;
static pid_t g_uid_pid;

static void atfork_prepare(void) {
  pthread_mutex_lock(&g_mu);
  for (mgr_endpoint *e = g_endpoints; e; e = e->next)
    pthread_mutex_lock(&e->mu);
}

static void atfork_after(void) {
  for (mgr_endpoint *e = g_endpoints; e; e = e->next)
    pthread_mutex_unlock(&e->mu);
  pthread_mutex_unlock(&g_mu);
}

static pid_t g_pid;
/* This process's threads spinning for a reply now. */
static int g_spinners;

static void atfork_child(void) {
  g_pid = getpid();
  g_spinners = 0; /* a thread spinning at fork time is not in the child */
  atfork_after();
}

static void register_atfork(void) {
  g_pid = getpid();
  pthread_atfork(atfork_prepare, atfork_after, atfork_child);
}

pid_t mp__mgr_getpid(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, register_atfork);
  return g_pid;
}

/* This process's client uid (a new one after fork). */
static uint64_t client_uid(void) {
  pid_t me = mp__mgr_getpid();
  if (__atomic_load_n(&g_uid_pid, __ATOMIC_ACQUIRE) != me) {
    uint64_t u;
    mp__random_bytes(&u, sizeof u);
    pthread_mutex_lock(&g_mu);
    if (g_uid_pid != me) {
      g_uid = u & INT64_MAX;
      __atomic_store_n(&g_uid_pid, me, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&g_mu);
  }
  return g_uid;
}

/* The caller identity sent with each request: the thread (an RLock's
 * owner), distinct across processes. */
static uint64_t caller_id(void) {
  static __thread uint64_t id;
  static __thread pid_t pid;
  if (pid != mp__mgr_getpid()) {
    pid = mp__mgr_getpid();
    id = (client_uid() ^ ((uint64_t)gettid() * 0x9E3779B97F4A7C15ull)) &
         INT64_MAX;
  }
  return id;
}

/* ---- Errors ----------------------------------------------------------------------------- */

/* The manager's errors are the thread's error record (mp_last_error), with
 * status = code as the manager has always reported it. */
int mp__mgr_set_error(int code, const char *fmt, ...) {
  mp_error e = {.code = code, .signo = 0, .status = code};
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e.message, sizeof e.message, fmt, ap);
  va_end(ap);
  mp__error_record_copy(&e);
  return code;
}

const mp_error *mp_manager_last_error(void) { return mp_last_error(); }

/* ---- Endpoints ------------------------------------------------------------------------------ */

static bool same_addr(const mp_address *a, const mp_address *b) {
  if (a->family != b->family)
    return false;
  if (a->family == MP_AF_INET)
    return a->port == b->port && !strcmp(a->host, b->host);
  return !memcmp(a->path, b->path, sizeof a->path);
}

mgr_endpoint *mp__mgr_endpoint_get(const mp_address *addr, const void *key,
                                   size_t keylen) {
  mp__mgr_getpid(); /* installs the fork handlers */
  if (!key) {
    mp__self *me = mp__self_get();
    key = me->authkey;
    keylen = me->authkey_len;
  }
  if (keylen > MP__AUTHKEY_MAX) {
    errno = EINVAL;
    return NULL;
  }
  pthread_mutex_lock(&g_mu);
  mgr_endpoint *e = g_endpoints;
  while (e && !(same_addr(&e->addr, addr) && e->keylen == keylen &&
                !memcmp(e->key, key, keylen)))
    e = e->next;
  if (e) {
    e->refs++;
  } else if ((e = mp__calloc(1, sizeof *e))) {
    e->addr = *addr;
    memcpy(e->key, key, keylen);
    e->keylen = keylen;
    pthread_mutex_init(&e->mu, NULL);
    e->refs = 1;
    e->pid = mp__mgr_getpid();
    e->next = g_endpoints;
    g_endpoints = e;
  }
  pthread_mutex_unlock(&g_mu);
  if (!e)
    errno = ENOMEM;
  return e;
}

const mp_address *mp__mgr_endpoint_address(const mgr_endpoint *e) {
  return &e->addr;
}

mgr_endpoint *mp__mgr_endpoint_ref(mgr_endpoint *e) {
  pthread_mutex_lock(&g_mu);
  e->refs++;
  pthread_mutex_unlock(&g_mu);
  return e;
}

uint64_t mp__mgr_endpoint_server_uid(mgr_endpoint *e) {
  return __atomic_load_n(&e->server_uid, __ATOMIC_ACQUIRE);
}

static void cconn_free(cconn *c) {
  if (c->chan)
    munmap(c->chan, sizeof(mgr_chan));
  mp_conn_free(c->conn);
  mp__mgr_buf_free(&c->buf);
  mp__free(c);
}

/* With e->mu held: forgets connections inherited from a parent. */
static void endpoint_check_pid(mgr_endpoint *e) {
  pid_t me = mp__mgr_getpid();
  if (e->pid == me)
    return;
  while (e->idle) {
    cconn *n = e->idle->next;
    cconn_free(e->idle);
    e->idle = n;
  }
  e->pid = me;
}

void mp__mgr_endpoint_reset(mgr_endpoint *e) {
  pthread_mutex_lock(&e->mu);
  endpoint_check_pid(e);
  while (e->idle) {
    cconn *n = e->idle->next;
    cconn_free(e->idle);
    e->idle = n;
  }
  pthread_mutex_unlock(&e->mu);
}

void mp__mgr_endpoint_put(mgr_endpoint *e) {
  if (!e)
    return;
  pthread_mutex_lock(&g_mu);
  if (--e->refs > 0) {
    pthread_mutex_unlock(&g_mu);
    return;
  }
  mgr_endpoint **pp = &g_endpoints;
  while (*pp != e)
    pp = &(*pp)->next;
  *pp = e->next;
  pthread_mutex_unlock(&g_mu);
  mp__mgr_endpoint_reset(e);
  pthread_mutex_destroy(&e->mu);
  mp__free(e);
}

/* ---- Connections ------------------------------------------------------------------------------ */

static int reply_parse(const char *buf, size_t len, int *status,
                       mp_obj **value);

static int cconn_alive(void *ctx);

/* A transport failure as a proxy reports it: once a server has answered
 * at this address, a refused or reset connection means it went away, the
 * one code manager.h gives for that (MP_EEOF). Before, a refusal stays
 * -ECONNREFUSED (Python's ConnectionRefusedError at connect). */
static int gone_code(const mgr_endpoint *e, int rc) {
  bool served = __atomic_load_n(&e->server_uid, __ATOMIC_ACQUIRE) != 0;
  if (rc == MP_ETRUNCATED || rc == -ECONNRESET || rc == -EPIPE ||
      (served && (rc == -ECONNREFUSED || rc == -ENOENT)))
    return MP_EEOF;
  return rc;
}

static int cconn_open(mgr_endpoint *e, cconn **out) {
  mp_conn_opts o = {.authkey = e->key, .authkey_len = e->keylen};
  mp_conn *conn = mp_client(&e->addr, &o);
  if (!conn) {
    int rc = gone_code(e, mp_errno_code(errno));
    return mp__mgr_set_error(rc, rc == MP_EEOF
                                     ? "the manager went away: %s"
                                     : "cannot connect to the manager: %s",
                             mp_strerror(mp_errno_code(errno)));
  }
  cconn *c = mp__calloc(1, sizeof *c);
  if (!c) {
    mp_conn_free(conn);
    return -ENOMEM;
  }
  c->conn = conn;
  c->fd = mp_conn_fileno(conn);
  c->wait = (mgr_waiter){.spin_ns = mp__mgr_spin_ns(CLIENT_SPIN_NS),
                         .slice_ns = CLIENT_SLICE_NS,
                         .alive = cconn_alive,
                         .ctx = c,
                         .spinners = &g_spinners,
                         .max_spinners = mp__mgr_max_spinners()};
  bool local = e->addr.family == MP_AF_UNIX;
  mp_obj *args = mp_obj_build("[i b]", (int)mp__mgr_getpid(), (int)local);
  int rc = args ? mp__mgr_put_header(&c->buf, MGR_OP_HELLO, client_uid(), 0,
                                     NULL)
                : -ENOMEM;
  if (rc == 0)
    rc = mp_obj_encode_append(args, (void **)&c->buf.data, &c->buf.len,
                              &c->buf.cap);
  mp_obj_unref(args);
  if (rc == 0)
    rc = mp_conn_send_bytes(conn, c->buf.data, c->buf.len);
  void *rep = NULL;
  size_t replen = 0;
  if (rc == 0)
    rc = mp_conn_recv_bytes(conn, &rep, &replen, 4096);
  int status = 0;
  mp_obj *v = NULL;
  if (rc == 0)
    rc = reply_parse(rep, replen, &status, &v);
  mp_free(rep);
  mp_obj *chan_ok = NULL, *suid = NULL;
  int64_t uid = 0;
  if (rc == 0 && (status != MGR_R_OK || mp_obj_list_len(v) != 2 ||
                  mp_obj_list_get(v, 0, &suid) < 0 ||
                  mp_obj_int_value(suid, &uid) < 0 ||
                  mp_obj_list_get(v, 1, &chan_ok) < 0))
    rc = MP_EPROTO;
  if (rc == 0)
    __atomic_store_n(&e->server_uid, (uint64_t)uid, __ATOMIC_RELEASE);
  if (rc == 0 && mp_obj_truthy(chan_ok)) {
    int fd = memfd_create("mproc-manager-channel", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, sizeof(mgr_chan)) < 0)
      rc = -errno;
    void *m = rc == 0 ? mmap(NULL, sizeof(mgr_chan), PROT_READ | PROT_WRITE,
                             MAP_SHARED, fd, 0)
                      : MAP_FAILED;
    if (rc == 0 && m == MAP_FAILED)
      rc = -errno;
    if (rc == 0) {
      c->chan = m;
      rc = mp__mgr_send_fd(c->fd, fd);
    }
    if (fd >= 0)
      mp__close(fd);
  }
  mp_obj_unref(v);
  if (rc < 0) {
    cconn_free(c);
    return mp__mgr_set_error(gone_code(e, rc), "manager handshake failed: %s",
                             mp_strerror(rc));
  }
  *out = c;
  return 0;
}

static int cconn_get(mgr_endpoint *e, cconn **out) {
  pthread_mutex_lock(&e->mu);
  endpoint_check_pid(e);
  cconn *c = e->idle;
  if (c)
    e->idle = c->next;
  pthread_mutex_unlock(&e->mu);
  if (c) {
    *out = c;
    return 0;
  }
  return cconn_open(e, out);
}

static void cconn_put(mgr_endpoint *e, cconn *c) {
  pthread_mutex_lock(&e->mu);
  if (c->broken || e->pid != mp__mgr_getpid()) {
    pthread_mutex_unlock(&e->mu);
    cconn_free(c);
    return;
  }
  c->next = e->idle;
  e->idle = c;
  pthread_mutex_unlock(&e->mu);
}

int mp__mgr_endpoint_check(mgr_endpoint *e) {
  cconn *c;
  int rc = cconn_get(e, &c);
  if (rc == 0)
    cconn_put(e, c);
  return rc;
}

static int cconn_alive(void *ctx) {
  cconn *c = ctx;
  struct pollfd p = {.fd = c->fd, .events = POLLRDHUP};
  if (poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
    return MP_EEOF;
  return 0;
}

/* Sends c->buf and receives the reply into *rep (owned: free it). */
static int cconn_exchange(cconn *c, const char **rep, size_t *replen,
                          void **owned) {
  *owned = NULL;
  int rc;
  if (!c->chan) {
    rc = mp_conn_send_bytes(c->conn, c->buf.data, c->buf.len);
    if (rc == 0)
      rc = mp_conn_recv_bytes(c->conn, owned, replen, MGR_MSG_MAX);
    *rep = *owned;
    return rc;
  }
  mgr_chan *ch = c->chan;
  if (c->buf.len <= MGR_CHAN_CAP) {
    memcpy(ch->buf, c->buf.data, c->buf.len);
    ch->req_len = (uint32_t)c->buf.len;
    ch->req_flags = 0;
  } else {
    ch->req_len = 0;
    ch->req_flags = MGR_CHAN_BIG;
    rc = mp_conn_send_bytes(c->conn, c->buf.data, c->buf.len);
    if (rc < 0)
      return rc;
  }
  uint32_t seen = c->seq;
  mp__mgr_chan_post(&c->wait, &ch->req_seq, ++c->seq, &ch->server_sleeping);
  rc = mp__mgr_chan_wait(&c->wait, &ch->rep_seq, seen, &ch->client_sleeping);
  if (rc < 0)
    return rc;
  if (__atomic_load_n(&ch->rep_seq, __ATOMIC_ACQUIRE) != c->seq)
    return MP_EPROTO;
  if (ch->rep_flags & MGR_CHAN_BIG) {
    rc = mp_conn_recv_bytes(c->conn, owned, replen, MGR_MSG_MAX);
    *rep = *owned;
    return rc;
  }
  *replen = ch->rep_len;
  if (*replen > MGR_CHAN_CAP)
    return MP_EPROTO;
  *rep = ch->buf;
  return 0;
}

static int reply_parse(const char *buf, size_t len, int *status,
                       mp_obj **value) {
  *value = NULL;
  if (len < 1)
    return MP_EPROTO;
  *status = (unsigned char)buf[0];
  if (*status == MGR_R_ERR) {
    if (len < 5)
      return MP_EPROTO;
    uint32_t code = 0;
    for (int i = 3; i >= 0; i--)
      code = code << 8 | (unsigned char)buf[1 + i];
    int c = (int)code;
    if (c >= 0 || c < -1999)
      c = MP_EREMOTE;
    mp__mgr_set_error(c, "%.*s", (int)(len - 5), buf + 5);
    return c;
  }
  if (*status != MGR_R_OK && *status != MGR_R_PROXY)
    return MP_EPROTO;
  int rc = mp_obj_decode(buf + 1, len - 1, value);
  return rc < 0 ? MP_EPROTO : 0;
}

int mp__mgr_roundtrip(mgr_endpoint *e, int op, uint64_t id, const char *name,
                      mp_obj *args, int *status, mp_obj **value) {
  return mp__mgr_roundtrip_kw(e, op, id, name, args, NULL, status, value);
}

int mp__mgr_roundtrip_kw(mgr_endpoint *e, int op, uint64_t id,
                         const char *name, mp_obj *args, mp_obj *kwargs,
                         int *status, mp_obj **value) {
  *value = NULL;
  if (args && mp_obj_get_type(args) != MP_OBJ_LIST &&
      mp_obj_get_type(args) != MP_OBJ_TUPLE)
    return mp__mgr_set_error(MP_ETYPE, "arguments must be a tuple or list");
  cconn *c;
  int rc = cconn_get(e, &c);
  if (rc < 0)
    return rc;
  c->buf.len = 0;
  rc = mp__mgr_put_header(&c->buf, op, id, caller_id(), name);
  if (rc == 0 && (args || kwargs)) {
    mp_obj *empty = args ? NULL : mp_obj_tuple_new(0);
    rc = mp_obj_encode_append(args ? args : empty, (void **)&c->buf.data,
                              &c->buf.len, &c->buf.cap);
    mp_obj_unref(empty);
  }
  if (rc == 0 && kwargs) /* after the arguments: their own object */
    rc = mp_obj_encode_append(kwargs, (void **)&c->buf.data, &c->buf.len,
                              &c->buf.cap);
  if (rc < 0) {
    cconn_put(e, c);
    return mp__mgr_set_error(rc, "cannot encode the request: %s",
                             mp_strerror(rc));
  }
  const char *rep;
  size_t replen;
  void *owned;
  rc = cconn_exchange(c, &rep, &replen, &owned);
  if (rc < 0) {
    c->broken = true;
    cconn_put(e, c);
    mp_free(owned);
    return mp__mgr_set_error(gone_code(e, rc), "the manager went away: %s",
                             mp_strerror(rc));
  }
  rc = reply_parse(rep, replen, status, value);
  mp_free(owned);
  if (rc == MP_EPROTO)
    c->broken = true;
  cconn_put(e, c);
  return rc;
}
