/* pymgr.c: the C client of a CPython manager server (mproc/pymanager.h).
 * It follows Lib/multiprocessing/managers.py: dispatch() sends the request
 * tuple (ident, methodname, args, kwds) and reads a (kind, result) pair;
 * 'dummy', 'create' and 'decref' each use a fresh connection (BaseManager
 * opens one per such request and the server answers it in handle_request);
 * method calls use one connection per handle that 'accept_connection'
 * turned into a serve_client loop, as a BaseProxy's thread-local
 * connection. Replies are decoded with MP_PICKLE_KEEP_OBJECTS, so an
 * exception or a Token arrives as an inert recipe and nothing is run. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "mproc/pickle.h"
#include "mproc/pymanager.h"
#include "runtime/runtime_internal.h"

struct mp_pymanager {
  atomic_int refs; /* the caller's handle + one per proxy */
  mp_address address;
  void *key;
  size_t key_len;
  pthread_mutex_t lock; /* serialises the calls on conn */
  mp_conn *conn;        /* the serve_client connection, NULL until needed */
};

struct mp_pyproxy {
  mp_pymanager *m;
  char *typeid;
  char *id;
  mp_obj *exposed;
};

/* What the server answered: the reply's first item. */
typedef enum reply_kind {
  R_RETURN,
  R_ERROR,     /* '#ERROR': an exception object */
  R_TRACEBACK, /* '#TRACEBACK' or '#UNSERIALIZABLE': text */
  R_PROXY,     /* '#PROXY': (exposed, token) */
} reply_kind;

static int open_conn(mp_pymanager *m, mp_conn **out) {
  mp_conn_opts o = {.authkey = m->key, .authkey_len = m->key_len,
                    .codec = MP_CONN_CODEC_PICKLE};
  *out = mp_client(&m->address, &o);
  return *out ? 0 : mp_errno_code(errno);
}

static bool is_str(const mp_obj *o, const char *s) {
  const char *v;
  size_t n;
  return mp_obj_str_value(o, &v, &n) == 0 && strlen(s) == n && memcmp(v, s, n) == 0;
}

/* One request and its reply on c: *value is the reply's second item. */
static int round_trip(mp_conn *c, const char *ident, const char *method,
                      const mp_obj *args, const mp_obj *kwds, reply_kind *kind,
                      mp_obj **value) {
  *value = NULL;
  mp_obj *req = ident ? mp_obj_build("(s s O O)", ident, method, args, kwds)
                      : mp_obj_build("(N s O O)", method, args, kwds);
  if (!req)
    return mp_errno_code(errno);
  int rc = mp_conn_send_obj(c, req);
  mp_obj_unref(req);
  if (rc)
    return rc;
  void *buf;
  size_t len;
  if ((rc = mp_conn_recv_bytes(c, &buf, &len, MP_CONN_NOLIMIT)))
    return rc;
  mp_pickle_load_opts lo = {.flags = MP_PICKLE_KEEP_OBJECTS};
  mp_obj *reply = NULL;
  rc = mp_obj_from_pickle_opts(buf, len, &lo, NULL, &reply);
  mp_free(buf);
  if (rc == MP_ETRUNCATED) /* a whole message without STOP: not a pickle */
    rc = MP_EDECODE;
  if (rc)
    return rc;
  size_t n = 0;
  mp_obj *k = NULL;
  if (mp_obj_get_type(reply) != MP_OBJ_TUPLE || mp_obj_len(reply, &n) || n != 2 ||
      mp_obj_tuple_get(reply, 0, &k) || mp_obj_get_type(k) != MP_OBJ_STR) {
    mp_obj_unref(reply);
    return mp__error_record(MP_EPROTO, "pymanager: a reply is not a (kind, result) pair");
  }
  if (is_str(k, "#RETURN"))
    *kind = R_RETURN;
  else if (is_str(k, "#ERROR"))
    *kind = R_ERROR;
  else if (is_str(k, "#TRACEBACK") || is_str(k, "#UNSERIALIZABLE"))
    *kind = R_TRACEBACK;
  else if (is_str(k, "#PROXY"))
    *kind = R_PROXY;
  else
    rc = mp__error_record(MP_EPROTO, "pymanager: unknown reply kind");
  if (rc == 0) {
    mp_obj_tuple_get(reply, 1, value);
    mp_obj_ref(*value);
  }
  mp_obj_unref(reply);
  return rc;
}

/* Python's str(e) for an exception recipe's args: '' for none, repr(a)
 * for a KeyError's one (KeyError.__str__), str(a) for another's one, the
 * args tuple's repr for more. */
static int exception_text(const mp_obj *e, char *buf, size_t n) {
  mp_pyobj_kind kind;
  const char *module, *name;
  mp_obj *args;
  if (mp_obj_pyobj_parts(e, &kind, &module, &name, &args, NULL) || kind == MP_PYOBJ_REF) {
    char *r = NULL;
    int rc = mp_obj_repr(e, &r, NULL);
    snprintf(buf, n, "%s", rc ? "?" : r);
    mp_free(r);
    return rc;
  }
  size_t nargs = 0;
  mp_obj_len(args, &nargs);
  int at = strcmp(module, "builtins") == 0 ? snprintf(buf, n, "%s", name)
                                           : snprintf(buf, n, "%s.%s", module, name);
  if (nargs == 0 || at < 0 || (size_t)at >= n)
    return 0;
  mp_obj *a = args;
  if (nargs == 1)
    mp_obj_tuple_get(args, 0, &a);
  char *t = NULL;
  int rc = nargs == 1 && strcmp(name, "KeyError") != 0 ? mp_obj_to_string(a, &t, NULL)
                                                       : mp_obj_repr(a, &t, NULL);
  if (rc == 0)
    snprintf(buf + at, n - (size_t)at, ": %s", t);
  mp_free(t);
  return rc;
}

/* A traceback's last lines that fit the error record, from a line start. */
static const char *traceback_tail(const char *s, size_t len) {
  while (len && (s[len - 1] == '\n' || s[len - 1] == ' '))
    len--;
  const char *p = s;
  if (len >= MP_ERROR_MESSAGE_MAX) {
    p = s + len - (MP_ERROR_MESSAGE_MAX - 1);
    const char *nl = memchr(p, '\n', (size_t)(s + len - p));
    if (nl)
      p = nl + 1;
  }
  return p;
}

/* Turns an error reply into MP_EREMOTE with Python's text recorded. */
static int remote_error(reply_kind kind, const mp_obj *value) {
  char text[MP_ERROR_MESSAGE_MAX];
  const char *s;
  size_t len;
  if (kind == R_TRACEBACK && mp_obj_str_value(value, &s, &len) == 0) {
    const char *tail = traceback_tail(s, len);
    size_t keep = len - (size_t)(tail - s);
    while (keep && (tail[keep - 1] == '\n' || tail[keep - 1] == ' '))
      keep--;
    return mp__error_record(MP_EREMOTE, "%.*s", (int)keep, tail);
  }
  exception_text(value, text, sizeof text);
  return mp__error_record(MP_EREMOTE, "%s", text);
}

/* BaseManager's dispatch over a connection of its own. */
static int one_shot(mp_pymanager *m, const char *method, const mp_obj *args,
                    mp_obj **result) {
  mp_conn *c;
  int rc = open_conn(m, &c);
  if (rc)
    return rc;
  mp_obj *kw = mp_obj_dict_new();
  reply_kind kind = R_RETURN;
  mp_obj *value = NULL;
  rc = kw ? round_trip(c, NULL, method, args, kw, &kind, &value) : -ENOMEM;
  mp_obj_unref(kw);
  mp_conn_free(c);
  if (rc == 0 && kind != R_RETURN) {
    rc = kind == R_PROXY ? mp__error_record(MP_EPROTO, "pymanager: '%s' answered #PROXY", method)
                         : remote_error(kind, value);
    mp_obj_unref(value);
    value = NULL;
  }
  if (result)
    *result = value;
  else
    mp_obj_unref(value);
  return rc;
}

mp_pymanager *mp_pymanager_connect(const mp_address *address, const void *key,
                                   size_t key_len) {
  if (!address || (!key && key_len)) {
    errno = EINVAL;
    return NULL;
  }
  mp_pymanager *m = mp__calloc(1, sizeof *m);
  if (!m || (key_len && !(m->key = mp__memdup(key, key_len)))) {
    mp__free(m);
    errno = ENOMEM;
    return NULL;
  }
  atomic_init(&m->refs, 1);
  m->address = *address;
  m->key_len = key_len;
  pthread_mutex_init(&m->lock, NULL);
  mp_obj *none = mp_obj_tuple_new(0);
  int rc = none ? one_shot(m, "dummy", none, NULL) : -ENOMEM;
  mp_obj_unref(none);
  if (rc) {
    mp_pymanager_free(m);
    errno = -rc;
    return NULL;
  }
  return m;
}

void mp_pymanager_free(mp_pymanager *m) {
  if (!m || atomic_fetch_sub(&m->refs, 1) != 1)
    return;
  mp_conn_free(m->conn);
  pthread_mutex_destroy(&m->lock);
  mp__free(m->key);
  mp__free(m);
}

/* A proxy for (typeid, ident, exposed); takes a handle reference on m. */
static int new_proxy(mp_pymanager *m, const char *typeid, const mp_obj *ident,
                     mp_obj *exposed, mp_pyproxy **out) {
  const char *id;
  size_t n;
  if (mp_obj_str_value(ident, &id, &n) || mp_obj_get_type(exposed) != MP_OBJ_TUPLE)
    return mp__error_record(MP_EPROTO, "pymanager: a token is not (str id, exposed tuple)");
  mp_pyproxy *p = mp__calloc(1, sizeof *p);
  if (!p || !(p->typeid = mp__strdup(typeid)) || !(p->id = mp__memdup(id, n + 1))) {
    if (p)
      mp__free(p->typeid);
    mp__free(p);
    return -ENOMEM;
  }
  p->exposed = mp_obj_ref(exposed);
  p->m = m;
  atomic_fetch_add(&m->refs, 1);
  *out = p;
  return 0;
}

int mp_pymanager_create(mp_pymanager *m, const char *typeid, const mp_obj *args,
                        const mp_obj *kwds, mp_pyproxy **out) {
  if (out)
    *out = NULL;
  if (!m || !typeid || !out || (args && mp_obj_get_type(args) != MP_OBJ_TUPLE) ||
      (kwds && mp_obj_get_type(kwds) != MP_OBJ_DICT))
    return -EINVAL;
  /* BaseManager._create: dispatch(conn, None, 'create', (typeid,)+args,
   * kwds). kwds go in the request's own slot. */
  size_t nargs = 0;
  if (args)
    mp_obj_len(args, &nargs);
  mp_obj *tuple = mp_obj_tuple_new(nargs + 1);
  if (!tuple)
    return -ENOMEM;
  int rc = mp_obj_tuple_set_steal(tuple, 0, mp_obj_str(typeid));
  for (size_t i = 0; rc == 0 && i < nargs; i++) {
    mp_obj *it;
    mp_obj_tuple_get(args, (ptrdiff_t)i, &it);
    rc = mp_obj_tuple_set(tuple, (ptrdiff_t)i + 1, it);
  }
  if (rc) {
    mp_obj_unref(tuple);
    return rc;
  }
  mp_conn *c;
  reply_kind kind = R_RETURN;
  mp_obj *value = NULL;
  mp_obj *kw = kwds ? mp_obj_ref((mp_obj *)kwds) : mp_obj_dict_new();
  rc = kw ? open_conn(m, &c) : -ENOMEM;
  if (rc == 0) {
    rc = round_trip(c, NULL, "create", tuple, kw, &kind, &value);
    mp_conn_free(c);
  }
  mp_obj_unref(kw);
  mp_obj_unref(tuple);
  if (rc == 0 && kind != R_RETURN)
    rc = remote_error(kind, value);
  /* create answers (ident, exposed); the server counted one reference,
   * which the proxy owns from now on. */
  mp_obj *ident = NULL, *exposed = NULL;
  size_t n = 0;
  if (rc == 0 && (mp_obj_get_type(value) != MP_OBJ_TUPLE || mp_obj_len(value, &n) || n != 2))
    rc = mp__error_record(MP_EPROTO, "pymanager: 'create' did not answer (id, exposed)");
  if (rc == 0) {
    mp_obj_tuple_get(value, 0, &ident);
    mp_obj_tuple_get(value, 1, &exposed);
    rc = new_proxy(m, typeid, ident, exposed, out);
  }
  mp_obj_unref(value);
  return rc;
}

/* A '#PROXY' result (exposed, Token): Token pickles as Token.__new__ and
 * BUILD of its state (typeid, address, id). The address is the server's
 * own view; the proxy uses the handle's, as CPython's _callmethod does. */
static int proxy_from_reply(mp_pymanager *m, const mp_obj *value, mp_pyproxy **out) {
  mp_obj *exposed = NULL, *token = NULL, *state = NULL, *typeid = NULL, *ident = NULL;
  size_t n = 0;
  const char *t;
  size_t tn;
  if (mp_obj_get_type(value) != MP_OBJ_TUPLE || mp_obj_len(value, &n) || n != 2 ||
      mp_obj_tuple_get(value, 0, &exposed) || mp_obj_tuple_get(value, 1, &token) ||
      mp_obj_pyobj_parts(token, NULL, NULL, NULL, NULL, &state) ||
      mp_obj_get_type(state) != MP_OBJ_TUPLE || mp_obj_len(state, &n) || n != 3 ||
      mp_obj_tuple_get(state, 0, &typeid) || mp_obj_tuple_get(state, 2, &ident) ||
      mp_obj_str_value(typeid, &t, &tn))
    return mp__error_record(MP_EPROTO, "pymanager: a #PROXY reply is not (exposed, Token)");
  char name[128];
  snprintf(name, sizeof name, "%.*s", (int)tn, t);
  return new_proxy(m, name, ident, exposed, out);
}

/* A method call on the handle's serve_client connection. */
static int call(mp_pyproxy *p, const char *method, const mp_obj *args,
                const mp_obj *kwds, reply_kind *kind, mp_obj **value) {
  *value = NULL;
  if (!p || !method || (args && mp_obj_get_type(args) != MP_OBJ_TUPLE) ||
      (kwds && mp_obj_get_type(kwds) != MP_OBJ_DICT))
    return -EINVAL;
  mp_obj *a = args ? mp_obj_ref((mp_obj *)args) : mp_obj_tuple_new(0);
  mp_obj *kw = kwds ? mp_obj_ref((mp_obj *)kwds) : mp_obj_dict_new();
  mp_pymanager *m = p->m;
  int rc = a && kw ? 0 : -ENOMEM;
  pthread_mutex_lock(&m->lock);
  if (rc == 0 && !m->conn && (rc = open_conn(m, &m->conn)) == 0) {
    /* BaseProxy._connect: accept_connection makes the server serve this
     * connection in a loop of its own. */
    mp_obj *name = mp_obj_build("(s)", "mproc");
    rc = name ? round_trip(m->conn, NULL, "accept_connection", name, kw, kind, value) : -ENOMEM;
    mp_obj_unref(name);
    if (rc == 0 && *kind != R_RETURN)
      rc = remote_error(*kind, *value);
    mp_obj_unref(*value);
    *value = NULL;
  }
  if (rc == 0)
    rc = round_trip(m->conn, p->id, method, a, kw, kind, value);
  /* A stream that failed is not trusted again: the next call reconnects. */
  if (rc && rc != MP_EDECODE && m->conn) {
    mp_conn_free(m->conn);
    m->conn = NULL;
  }
  pthread_mutex_unlock(&m->lock);
  mp_obj_unref(a);
  mp_obj_unref(kw);
  return rc;
}

int mp_pyproxy_call(mp_pyproxy *p, const char *method, const mp_obj *args,
                    const mp_obj *kwds, mp_obj **out) {
  if (!out)
    return -EINVAL;
  reply_kind kind = R_RETURN;
  int rc = call(p, method, args, kwds, &kind, out);
  if (rc || kind == R_RETURN)
    return rc;
  if (kind == R_PROXY) {
    mp_pyproxy *q = NULL;
    rc = proxy_from_reply(p->m, *out, &q);
    mp_pyproxy_free(q);
    mp_obj_unref(*out);
    *out = NULL;
    return rc ? rc : mp__error_record(MP_ETYPE, "pymanager: '%s' returns a proxy", method);
  }
  return remote_error(kind, *out); /* *out keeps the exception */
}

int mp_pyproxy_call_proxy(mp_pyproxy *p, const char *method, const mp_obj *args,
                          const mp_obj *kwds, mp_pyproxy **out) {
  if (!out)
    return -EINVAL;
  *out = NULL;
  reply_kind kind = R_RETURN;
  mp_obj *value = NULL;
  int rc = call(p, method, args, kwds, &kind, &value);
  if (rc == 0) {
    if (kind == R_PROXY)
      rc = proxy_from_reply(p->m, value, out);
    else if (kind == R_RETURN)
      rc = mp__error_record(MP_ETYPE, "pymanager: '%s' does not return a proxy", method);
    else
      rc = remote_error(kind, value);
  }
  mp_obj_unref(value);
  return rc;
}

const char *mp_pyproxy_typeid(const mp_pyproxy *p) { return p ? p->typeid : NULL; }
const char *mp_pyproxy_id(const mp_pyproxy *p) { return p ? p->id : NULL; }
const mp_obj *mp_pyproxy_exposed(const mp_pyproxy *p) { return p ? p->exposed : NULL; }

void mp_pyproxy_free(mp_pyproxy *p) {
  if (!p)
    return;
  mp_obj *args = mp_obj_build("(s)", p->id);
  if (args) {
    int saved = errno;
    (void)one_shot(p->m, "decref", args, NULL); /* a server gone is fine */
    errno = saved;
  }
  mp_obj_unref(args);
  mp_pymanager_free(p->m);
  mp_obj_unref(p->exposed);
  mp__free(p->typeid);
  mp__free(p->id);
  mp__free(p);
}
