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

struct mp_server {
  mgr_server *s;
};

mp_manager *mp_manager_new(const mp_manager_opts *opts) {
  mp_manager_opts o = opts ? *opts : (mp_manager_opts){0};
  for (size_t i = 0; i < MP__ARRAY_SIZE(o.reserved); i++)
    if (o.reserved[i]) {
      errno = EINVAL;
      return NULL;
    }
  if (o.authkey_len > MP__AUTHKEY_MAX || (!o.authkey && o.authkey_len) ||
      !(o.handshake_timeout >= 0) || o.max_handshakes < 0) {
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
  m->hs_timeout = o.handshake_timeout;
  m->max_handshakes = o.max_handshakes;
  m->ctl = -1;
  if (o.start_method) {
    size_t n = strlen(o.start_method);
    if (n >= sizeof m->method_buf || !mp_get_context(o.start_method)) {
      mp__mgr_registry_free(&m->reg);
      mp__free(m);
      errno = EINVAL;
      return NULL;
    }
    memcpy(m->method_buf, o.start_method, n + 1);
    m->start_method = m->method_buf;
  }
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
  int rc = mp__mgr_registry_add(&m->reg, def);
  if (rc < 0)
    return rc;
  /* Kept in order for a server started from a fresh image (start.c). */
  mp_type_def *u = mp__realloc(m->user, (m->nuser + 1) * sizeof *u);
  if (!u)
    return -ENOMEM;
  m->user = u;
  m->user[m->nuser++] = *def;
  return 0;
}

int mp_manager_start(mp_manager *m) {
  if (!m)
    return -EINVAL;
  pthread_mutex_lock(&m->mu);
  int rc = m->state != M_INITIAL ? MP_ESTATE : mp__mgr_start_server(m);
  if (rc == 0) {
    m->ep = mp__mgr_endpoint_get(&m->addr, m->key, m->keylen);
    m->state = M_STARTED;
    if (!m->ep)
      rc = -ENOMEM;
  }
  pthread_mutex_unlock(&m->mu);
  return rc;
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

int mp_manager_shutdown(mp_manager *m) {
  if (!m)
    return -EINVAL;
  pthread_mutex_lock(&m->mu);
  if (m->state == M_STARTED && mp__mgr_getpid() == m->starter) {
    mp__mgr_stop_server(m);
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
  else if (m->proc) /* a copy inherited through fork: not ours to stop */
    mp__close(m->ctl);
  mp__free(m->user);
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
  mp__mgr_server_set_limits(srv->s, m->hs_timeout, m->max_handshakes);
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

int mp_manager_builtin_new(const char *type_id, mp_obj *args, void **referent) {
  if (!type_id || !referent)
    return -EINVAL;
  static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  static mgr_registry reg;
  static bool ready;
  pthread_mutex_lock(&mu);
  int rc = ready ? 0 : mp__mgr_registry_init(&reg);
  ready = rc == 0;
  const mgr_type *t = rc == 0 ? mp__mgr_registry_find(&reg, type_id) : NULL;
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

int mp_manager_create(mp_manager *m, const char *type_id, mp_obj *args,
                      mp_proxy **out) {
  if (!m || !type_id || !out)
    return -EINVAL;
  *out = NULL;
  if (m->state != M_STARTED && m->state != M_CONNECTED)
    return MP_ESTATE;
  if (strlen(type_id) > MGR_NAME_MAX)
    return mp__mgr_set_error(MP_EATTR, "no type '%.40s...'", type_id);
  int st;
  mp_obj *v;
  int rc = mp__mgr_roundtrip(m->ep, MGR_OP_CREATE, 0, type_id, args, &st, &v);
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

static mp_proxy *create_with(mp_manager *m, const char *type_id, mp_obj *args) {
  if (!args) /* a failed mp_obj_build */
    return NULL;
  mp_proxy *p = NULL;
  int rc = mp_manager_create(m, type_id, args, &p);
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

mp_proxy *mp_manager_barrier_action(mp_manager *m, long parties,
                                    void (*action)(void), double timeout) {
  if (!action)
    return mp_manager_barrier(m, parties, timeout);
  int rc = 0;
  mp_obj *fn = mp__mgr_fn_obj((const void *)action, &rc);
  if (rc < 0) {
    errno = -rc;
    return NULL;
  }
  return create_with(m, "Barrier",
                     !fn ? NULL
                     : timeout == MP_FOREVER
                         ? mp_obj_build("(l X N)", parties, fn)
                         : mp_obj_build("(l X d)", parties, fn, timeout));
}

int mp__mgr_wait_busy(mp_manager *m, size_t n, double seconds) {
  mp__deadline dl;
  mp__deadline_init(&dl, seconds);
  for (;;) {
    int st;
    mp_obj *v = NULL, *b;
    int64_t busy = 0;
    int rc = m && m->ep ? mp__mgr_roundtrip(m->ep, MGR_OP_INFO, 0, NULL, NULL,
                                            &st, &v)
                        : MP_ESTATE;
    if (rc == 0 && (mp_obj_list_get(v, 2, &b) < 0 ||
                    mp_obj_int_value(b, &busy) < 0))
      rc = MP_EPROTO;
    mp_obj_unref(v);
    if (rc < 0)
      return rc;
    if (busy >= (int64_t)n)
      return 0;
    if (mp__deadline_passed(&dl))
      return MP_ETIMEOUT;
    usleep(2000);
  }
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
