/* manager.c: the manager object (Python's BaseManager/SyncManager): its
 * type registry, starting the server process (fork; the child listens,
 * runs the initializer, reports its address through a pipe and serves
 * until shutdown or until the starting process ends, which it watches
 * through a pidfd), connecting to a running server, get_server /
 * serve_forever, shutdown, and the SyncManager constructors. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "manager/manager_internal.h"

enum { M_INITIAL, M_STARTED, M_CONNECTED, M_SHUTDOWN };

struct mp_manager {
  mgr_registry reg;
  mp_address addr;
  bool has_addr;
  unsigned char key[MP__AUTHKEY_MAX];
  size_t keylen;
  void (*initializer)(void *);
  void *initarg;
  int state;
  pid_t pid;     /* the server process */
  pid_t starter; /* the process that started it */
  int pidfd;
  int ctl;       /* the starter's end of a socketpair with the server:
                    the address comes up it, a shutdown byte goes down */
  mgr_endpoint *ep;
  pthread_mutex_t mu;
};

struct mp_server {
  mgr_server *s;
};

static int pidfd_open_(pid_t pid) {
  return (int)syscall(SYS_pidfd_open, pid, 0);
}

mp_manager *mp_manager_new(const mp_manager_opts *opts) {
  mp_manager_opts o = opts ? *opts : (mp_manager_opts){0};
  for (size_t i = 0; i < MP__ARRAY_SIZE(o.reserved); i++)
    if (o.reserved[i]) {
      errno = EINVAL;
      return NULL;
    }
  if (o.authkey_len > MP__AUTHKEY_MAX || (!o.authkey && o.authkey_len)) {
    errno = EINVAL;
    return NULL;
  }
  mp_manager *m = mp__calloc(1, sizeof *m);
  if (!m)
    return NULL;
  int rc = mp__mgr_registry_init(&m->reg);
  if (rc < 0) {
    mp__free(m);
    errno = -rc;
    return NULL;
  }
  if (o.address) {
    m->addr = *o.address;
    m->has_addr = true;
  }
  if (o.authkey) {
    memcpy(m->key, o.authkey, o.authkey_len);
    m->keylen = o.authkey_len;
  } else {
    mp__self *me = mp__self_get();
    memcpy(m->key, me->authkey, me->authkey_len);
    m->keylen = me->authkey_len;
  }
  m->initializer = o.initializer;
  m->initarg = o.initarg;
  m->pidfd = -1;
  m->ctl = -1;
  pthread_mutex_init(&m->mu, NULL);
  return m;
}

mp_manager *mp_manager_start_new(const mp_manager_opts *opts) {
  mp_manager *m = mp_manager_new(opts);
  if (!m)
    return NULL;
  int rc = mp_manager_start(m);
  if (rc < 0) {
    mp_manager_free(m);
    errno = -rc;
    return NULL;
  }
  return m;
}

int mp_manager_register(mp_manager *m, const mp_type_def *def) {
  if (!m)
    return -EINVAL;
  if (m->state != M_INITIAL)
    return MP_ESTATE;
  return mp__mgr_registry_add(&m->reg, def);
}

/* The server process: reports {status, address} on fd and serves. */
static void server_child(mp_manager *m, int fd, pid_t parent) {
  signal(SIGINT, SIG_IGN); /* as CPython's server: Ctrl-C is the parent's */
  signal(SIGPIPE, SIG_IGN);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  /* The pidfd follows the whole process (PR_SET_PDEATHSIG would follow
   * the starting thread); the latter is the fallback on old kernels. */
  int ppfd = pidfd_open_(parent);
  if (ppfd < 0)
    prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent)
    _exit(0);
  if (m->initializer)
    m->initializer(m->initarg);
  struct {
    int status;
    mp_address addr;
  } rep = {0};
  mgr_server *s = mp__mgr_server_new(m->has_addr ? &m->addr : NULL, &m->reg,
                                     m->key, m->keylen);
  if (!s) {
    rep.status = mp_errno_code(errno);
    (void)!write(fd, &rep, sizeof rep);
    _exit(1);
  }
  rep.addr = *mp__mgr_server_address(s);
  mp__mgr_server_set_exit_on_shutdown(s, true);
  if (mp__write_full(fd, &rep, sizeof rep) < 0)
    _exit(1);
  mp__mgr_server_set_control(s, fd);
  mp__mgr_server_run(s, ppfd);
  mp_listener_close(s->lst);
  _exit(0);
}

int mp_manager_start(mp_manager *m) {
  if (!m)
    return -EINVAL;
  pthread_mutex_lock(&m->mu);
  if (m->state != M_INITIAL) {
    pthread_mutex_unlock(&m->mu);
    return MP_ESTATE;
  }
  int p[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) < 0) {
    pthread_mutex_unlock(&m->mu);
    return -errno;
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    mp__close(p[0]);
    mp__close(p[1]);
    pthread_mutex_unlock(&m->mu);
    return -e;
  }
  if (pid == 0) {
    mp__close(p[0]);
    server_child(m, p[1], parent);
  }
  mp__close(p[1]);
  struct {
    int status;
    mp_address addr;
  } rep;
  ssize_t n = mp__read_full(p[0], &rep, sizeof rep);
  int rc = n == (ssize_t)sizeof rep ? rep.status : MP_EEOF;
  if (rc < 0) {
    mp__close(p[0]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
      ;
    pthread_mutex_unlock(&m->mu);
    return rc;
  }
  m->pid = pid;
  m->ctl = p[0];
  m->starter = parent;
  m->pidfd = pidfd_open_(pid);
  m->addr = rep.addr;
  m->has_addr = true;
  m->ep = mp__mgr_endpoint_get(&m->addr, m->key, m->keylen);
  m->state = M_STARTED;
  pthread_mutex_unlock(&m->mu);
  return m->ep ? 0 : -ENOMEM;
}

int mp_manager_connect(mp_manager *m) {
  if (!m)
    return -EINVAL;
  pthread_mutex_lock(&m->mu);
  int rc = 0;
  if (m->state != M_INITIAL || !m->has_addr)
    rc = MP_ESTATE;
  if (rc == 0 && !(m->ep = mp__mgr_endpoint_get(&m->addr, m->key, m->keylen)))
    rc = -ENOMEM;
  if (rc == 0 && (rc = mp__mgr_endpoint_check(m->ep)) < 0) {
    mp__mgr_endpoint_put(m->ep);
    m->ep = NULL;
  }
  if (rc == 0)
    m->state = M_CONNECTED;
  pthread_mutex_unlock(&m->mu);
  return rc;
}

/* Waits up to `seconds` for the server process to end; reaps it. */
static bool reap(mp_manager *m, double seconds) {
  if (m->pidfd >= 0) {
    mp__deadline dl;
    mp__deadline_init(&dl, seconds);
    if (mp__poll1(m->pidfd, POLLIN, &dl) <= 0)
      return false;
  }
  int st;
  pid_t r;
  do
    r = waitpid(m->pid, &st, 0);
  while (r < 0 && errno == EINTR);
  return true;
}

int mp_manager_shutdown(mp_manager *m) {
  if (!m)
    return -EINVAL;
  pthread_mutex_lock(&m->mu);
  if (m->state == M_STARTED && mp__mgr_getpid() == m->starter) {
    /* The control socket, not a connection: no handshake to pay for. */
    char b = 'S';
    (void)!send(m->ctl, &b, 1, MSG_NOSIGNAL);
    if (!reap(m, 1.0)) {
      kill(m->pid, SIGKILL);
      reap(m, MP_FOREVER);
    }
    if (m->pidfd >= 0)
      mp__close(m->pidfd);
    m->pidfd = -1;
    mp__close(m->ctl);
    m->ctl = -1;
    mp__mgr_endpoint_reset(m->ep);
    m->state = M_SHUTDOWN;
  }
  pthread_mutex_unlock(&m->mu);
  return 0;
}

void mp_manager_free(mp_manager *m) {
  if (!m)
    return;
  /* Only the process that started the server stops it; a child that
   * inherited the manager through fork just lets go. */
  if (m->state == M_STARTED && mp__mgr_getpid() == m->starter)
    mp_manager_shutdown(m);
  else if (m->pidfd >= 0)
    mp__close(m->pidfd);
  if (m->ctl >= 0)
    mp__close(m->ctl);
  mp__mgr_endpoint_put(m->ep);
  mp__mgr_registry_free(&m->reg);
  pthread_mutex_destroy(&m->mu);
  mp__free(m);
}

const mp_address *mp_manager_address(const mp_manager *m) {
  return m ? &m->addr : NULL;
}

int mp_manager_pid(const mp_manager *m) {
  return m && m->state == M_STARTED ? m->pid : 0;
}

mp_server *mp_manager_get_server(mp_manager *m) {
  if (!m) {
    errno = EINVAL;
    return NULL;
  }
  mp_server *srv = mp__calloc(1, sizeof *srv);
  if (!srv)
    return NULL;
  srv->s = mp__mgr_server_new(m->has_addr ? &m->addr : NULL, &m->reg, m->key,
                              m->keylen);
  if (!srv->s) {
    int e = errno;
    mp__free(srv);
    errno = e;
    return NULL;
  }
  return srv;
}

int mp_server_serve_forever(mp_server *s) {
  return s ? mp__mgr_server_run(s->s, -1) : -EINVAL;
}

void mp_server_stop(mp_server *s) {
  if (s)
    mp__mgr_server_stop(s->s);
}

const mp_address *mp_server_address(const mp_server *s) {
  return s ? mp__mgr_server_address(s->s) : NULL;
}

void mp_server_free(mp_server *s) {
  if (!s)
    return;
  mp__mgr_server_free(s->s);
  mp__free(s);
}

int mp_manager_builtin_new(const char *typeid, mp_obj *args, void **referent) {
  if (!typeid || !referent)
    return -EINVAL;
  static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  static mgr_registry reg;
  static bool ready;
  pthread_mutex_lock(&mu);
  int rc = ready ? 0 : mp__mgr_registry_init(&reg);
  ready = rc == 0;
  const mgr_type *t = rc == 0 ? mp__mgr_registry_find(&reg, typeid) : NULL;
  pthread_mutex_unlock(&mu);
  if (!t)
    return rc < 0 ? rc : -EINVAL;
  mp_obj *empty = args ? NULL : mp_obj_tuple_new(0);
  mp_method_call c = {.args = args ? args : empty};
  rc = t->def.create(t->def.ctx, &c);
  mp_obj_unref(empty);
  if (rc < 0)
    return rc;
  *referent = (t->ops->flags & MP_TYPE_OBJ) ? (void *)c.result : c.referent;
  return 0;
}

/* ---- Creating ----------------------------------------------------------------------------- */

int mp_manager_create(mp_manager *m, const char *typeid, mp_obj *args,
                      mp_proxy **out) {
  if (!m || !typeid || !out)
    return -EINVAL;
  *out = NULL;
  if (m->state != M_STARTED && m->state != M_CONNECTED)
    return MP_ESTATE;
  if (strlen(typeid) > MGR_NAME_MAX)
    return mp__mgr_set_error(MP_EATTR, "no type '%.40s...'", typeid);
  int st;
  mp_obj *v;
  int rc = mp__mgr_roundtrip(m->ep, MGR_OP_CREATE, 0, typeid, args, &st, &v);
  if (rc == 0 && st != MGR_R_PROXY)
    rc = MP_EPROTO;
  if (rc == 0) {
    *out = mp__mgr_proxy_new(mp__mgr_endpoint_ref(m->ep), v);
    if (!*out)
      rc = mp_errno_code(errno);
  }
  mp_obj_unref(v);
  return rc;
}

static mp_proxy *create_with(mp_manager *m, const char *typeid, mp_obj *args) {
  if (!args) /* a failed mp_obj_build */
    return NULL;
  mp_proxy *p = NULL;
  int rc = mp_manager_create(m, typeid, args, &p);
  mp_obj_unref(args);
  if (rc < 0)
    errno = -rc;
  return p;
}

mp_proxy *mp_manager_dict(mp_manager *m, mp_obj *init) {
  return create_with(m, "dict", init ? mp_obj_build("(O)", init)
                                     : mp_obj_tuple_new(0));
}

mp_proxy *mp_manager_list(mp_manager *m, mp_obj *init) {
  return create_with(m, "list", init ? mp_obj_build("(O)", init)
                                     : mp_obj_tuple_new(0));
}

mp_proxy *mp_manager_namespace(mp_manager *m) {
  return create_with(m, "Namespace", mp_obj_tuple_new(0));
}

mp_proxy *mp_manager_value(mp_manager *m, const char *typecode, mp_obj *value) {
  return create_with(m, "Value", mp_obj_build("(s O)", typecode,
                                              value ? value : mp_obj_none()));
}

mp_proxy *mp_manager_array(mp_manager *m, const char *typecode,
                           mp_obj *sequence) {
  return create_with(m, "Array",
                     sequence ? mp_obj_build("(s O)", typecode, sequence)
                              : mp_obj_build("(s [])", typecode));
}

mp_proxy *mp_manager_queue(mp_manager *m, long maxsize) {
  return create_with(m, "Queue", mp_obj_build("(l)", maxsize));
}

mp_proxy *mp_manager_lock(mp_manager *m) {
  return create_with(m, "Lock", mp_obj_tuple_new(0));
}

mp_proxy *mp_manager_rlock(mp_manager *m) {
  return create_with(m, "RLock", mp_obj_tuple_new(0));
}

mp_proxy *mp_manager_semaphore(mp_manager *m, long value) {
  return create_with(m, "Semaphore", mp_obj_build("(l)", value));
}

mp_proxy *mp_manager_bounded_semaphore(mp_manager *m, long value) {
  return create_with(m, "BoundedSemaphore", mp_obj_build("(l)", value));
}

mp_proxy *mp_manager_condition(mp_manager *m, mp_proxy *lock) {
  if (!lock)
    return create_with(m, "Condition", mp_obj_tuple_new(0));
  mp_obj *tok = mp_proxy_token(lock);
  return create_with(m, "Condition", tok ? mp_obj_build("(X)", tok) : NULL);
}

mp_proxy *mp_manager_event(mp_manager *m) {
  return create_with(m, "Event", mp_obj_tuple_new(0));
}

mp_proxy *mp_manager_barrier(mp_manager *m, long parties, double timeout) {
  return create_with(m, "Barrier",
                     timeout == MP_FOREVER
                         ? mp_obj_build("(l N N)", parties)
                         : mp_obj_build("(l N d)", parties, timeout));
}

int mp__mgr_info(mp_manager *m, size_t *objects, size_t *conns) {
  if (!m || !m->ep)
    return MP_ESTATE;
  int st;
  mp_obj *v, *a, *b;
  int rc = mp__mgr_roundtrip(m->ep, MGR_OP_INFO, 0, NULL, NULL, &st, &v);
  int64_t x = 0, y = 0;
  if (rc == 0 && (mp_obj_list_get(v, 0, &a) < 0 || mp_obj_list_get(v, 1, &b) < 0 ||
                  mp_obj_int_value(a, &x) < 0 || mp_obj_int_value(b, &y) < 0))
    rc = MP_EPROTO;
  mp_obj_unref(v);
  *objects = (size_t)x;
  *conns = (size_t)y;
  return rc;
}
