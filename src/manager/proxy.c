/* proxy.c: proxies (Python's BaseProxy and its SyncManager subclasses):
 * the generic call (_callmethod), _getvalue, describe strings, tokens, the
 * reference a proxy holds in the server (taken again by a child that
 * inherited the proxy through fork, on its first use), and the shorthands
 * for the built-in types' common methods. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "manager/manager_internal.h"

struct mp_proxy {
  mgr_endpoint *ep;
  uint64_t id;
  pid_t owner; /* the process holding this proxy's reference in the server */
  char type_id[MGR_NAME_MAX + 1];
  char proxytype[MGR_NAME_MAX + 16];
  char **exposed;
  size_t n_exposed;
};

/* Fills type_id, proxytype and exposed from [id?, type_id, proxytype, [..]]
 * starting at item `at`. */
static int proxy_fill(mp_proxy *p, const mp_obj *info, size_t at) {
  mp_obj *t, *pt, *ex;
  const char *s;
  size_t n;
  if (mp_obj_list_len(info) != at + 3 || mp_obj_list_get(info, at, &t) < 0 ||
      mp_obj_list_get(info, at + 1, &pt) < 0 ||
      mp_obj_list_get(info, at + 2, &ex) < 0 ||
      mp_obj_str_value(t, &s, &n) < 0 || n > MGR_NAME_MAX)
    return MP_EPROTO;
  memcpy(p->type_id, s, n + 1);
  if (mp_obj_str_value(pt, &s, &n) < 0 || n >= sizeof p->proxytype)
    return MP_EPROTO;
  memcpy(p->proxytype, s, n + 1);
  size_t k = mp_obj_list_len(ex);
  p->exposed = mp__calloc(k + 1, sizeof *p->exposed);
  if (!p->exposed)
    return -ENOMEM;
  for (size_t i = 0; i < k; i++) {
    mp_obj *it;
    if (mp_obj_list_get(ex, (ptrdiff_t)i, &it) < 0 ||
        mp_obj_str_value(it, &s, NULL) < 0 || !(p->exposed[i] = mp__strdup(s)))
      return MP_EPROTO;
    p->n_exposed++;
  }
  return 0;
}

static void proxy_release(mp_proxy *p) {
  for (size_t i = 0; p->exposed && i < p->n_exposed; i++)
    mp__free(p->exposed[i]);
  mp__free(p->exposed);
  mp__mgr_endpoint_put(p->ep);
  mp__free(p);
}

mp_proxy *mp__mgr_proxy_new(mgr_endpoint *e, const mp_obj *info) {
  mp_proxy *p = mp__calloc(1, sizeof *p);
  if (!p)
    return NULL;
  mp_obj *idv;
  int64_t id = 0;
  int rc = (mp_obj_list_get(info, 0, &idv) < 0 || mp_obj_int_value(idv, &id) < 0)
               ? MP_EPROTO
               : proxy_fill(p, info, 1);
  p->ep = e; /* the caller's reference on e becomes ours */
  p->id = (uint64_t)id;
  p->owner = mp__mgr_getpid();
  if (rc < 0) {
    int st;
    mp_obj *v;
    mp__mgr_roundtrip(e, MGR_OP_DECREF, p->id, NULL, NULL, &st, &v);
    mp_obj_unref(v);
    proxy_release(p);
    errno = -rc;
    return NULL;
  }
  return p;
}

/* A child that inherited p through fork takes its own reference first. */
static int proxy_own(mp_proxy *p) {
  pid_t me = mp__mgr_getpid(), was = __atomic_load_n(&p->owner, __ATOMIC_ACQUIRE);
  if (was == me)
    return 0;
  if (!__atomic_compare_exchange_n(&p->owner, &was, me, false, __ATOMIC_ACQ_REL,
                                   __ATOMIC_ACQUIRE))
    return 0;
  int st;
  mp_obj *v;
  int rc = mp__mgr_roundtrip(p->ep, MGR_OP_INCREF, p->id, NULL, NULL, &st, &v);
  mp_obj_unref(v);
  if (rc < 0)
    __atomic_store_n(&p->owner, was, __ATOMIC_RELEASE);
  return rc;
}

void mp_proxy_free(mp_proxy *p) {
  if (!p)
    return;
  if (__atomic_load_n(&p->owner, __ATOMIC_ACQUIRE) == mp__mgr_getpid()) {
    int st;
    mp_obj *v;
    mp__mgr_roundtrip(p->ep, MGR_OP_DECREF, p->id, NULL, NULL, &st, &v);
    mp_obj_unref(v);
  }
  proxy_release(p);
}

static int call_op_kw(mp_proxy *p, int op, const char *method, mp_obj *args,
                      mp_obj *kwargs, int *status, mp_obj **value) {
  *value = NULL;
  if (!p || !method)
    return -EINVAL;
  if (strlen(method) > MGR_NAME_MAX)
    return mp__mgr_set_error(MP_EATTR, "no method '%.40s...'", method);
  int rc = proxy_own(p);
  if (rc < 0)
    return rc;
  return mp__mgr_roundtrip_kw(p->ep, op, p->id, method, args, kwargs, status,
                              value);
}

static int call_op(mp_proxy *p, int op, const char *method, mp_obj *args,
                   int *status, mp_obj **value) {
  return call_op_kw(p, op, method, args, NULL, status, value);
}

int mp_proxy_call_kw(mp_proxy *p, const char *method, mp_obj *args,
                     mp_obj *kwargs, mp_obj **result) {
  if (kwargs && mp_obj_get_type(kwargs) != MP_OBJ_DICT)
    return mp__mgr_set_error(MP_ETYPE, "keyword arguments must be a dict");
  int st;
  mp_obj *v;
  int rc = call_op_kw(p, MGR_OP_CALL, method, args, kwargs, &st, &v);
  if (rc == 0 && result)
    *result = v;
  else
    mp_obj_unref(v);
  return rc;
}

int mp_proxy_call(mp_proxy *p, const char *method, mp_obj *args,
                  mp_obj **result) {
  int st;
  mp_obj *v;
  int rc = call_op(p, MGR_OP_CALL, method, args, &st, &v);
  if (rc == 0 && result)
    *result = v;
  else
    mp_obj_unref(v);
  return rc;
}

int mp_proxy_callf(mp_proxy *p, const char *method, mp_obj **result,
                   const char *fmt, ...) {
  mp_obj *args = NULL;
  if (fmt && *fmt) {
    va_list ap;
    va_start(ap, fmt);
    args = mp_obj_buildv(fmt, ap);
    va_end(ap);
    if (!args)
      return mp_errno_code(errno);
    if (mp_obj_get_type(args) != MP_OBJ_TUPLE &&
        mp_obj_get_type(args) != MP_OBJ_LIST) {
      mp_obj *t = mp_obj_build("(X)", args);
      if (!t)
        return mp_errno_code(errno);
      args = t;
    }
  }
  int rc = mp_proxy_call(p, method, args, result);
  mp_obj_unref(args);
  return rc;
}

int mp_proxy_call_proxy(mp_proxy *p, const char *method, mp_obj *args,
                        mp_proxy **out) {
  if (!out)
    return -EINVAL;
  *out = NULL;
  int st;
  mp_obj *v;
  int rc = call_op(p, MGR_OP_CALL_PROXY, method, args, &st, &v);
  if (rc == 0 && st != MGR_R_PROXY)
    rc = MP_EPROTO;
  if (rc == 0) {
    *out = mp__mgr_proxy_new(mp__mgr_endpoint_ref(p->ep), v);
    if (!*out)
      rc = mp_errno_code(errno);
  }
  mp_obj_unref(v);
  return rc;
}

int mp_proxy_getvalue(mp_proxy *p, mp_obj **out) {
  if (!out)
    return -EINVAL;
  return mp_proxy_call(p, MGR_GETVALUE, NULL, out);
}

int mp_proxy_describe(const mp_proxy *p, char *buf, size_t n) {
  if (!p)
    return -EINVAL;
  return snprintf(buf, n, "<%s object, typeid '%s' at %p>", p->proxytype,
                  p->type_id, (const void *)p);
}

int mp_proxy_str(mp_proxy *p, char **out) {
  if (!out)
    return -EINVAL;
  *out = NULL;
  mp_obj *s;
  int rc = mp_proxy_call(p, MGR_REPR, NULL, &s);
  if (rc < 0)
    return rc;
  const char *text;
  size_t len;
  if (mp_obj_str_value(s, &text, &len) < 0)
    rc = MP_EPROTO;
  else if (!(*out = mp__memdup(text, len + 1)))
    rc = -ENOMEM;
  mp_obj_unref(s);
  return rc;
}

int mp_proxy_print(mp_proxy *p, FILE *f) {
  char *s;
  int rc = mp_proxy_str(p, &s);
  if (rc < 0)
    return rc;
  rc = fprintf(f, "%s\n", s) < 0 ? -EIO : 0;
  mp_free(s);
  return rc;
}

const char *mp_proxy_typeid(const mp_proxy *p) { return p ? p->type_id : NULL; }

const char *const *mp_proxy_exposed(const mp_proxy *p, size_t *n) {
  if (n)
    *n = p ? p->n_exposed : 0;
  return p ? (const char *const *)p->exposed : NULL;
}

mp_obj *mp_proxy_token(const mp_proxy *p) {
  if (!p) {
    errno = EINVAL;
    return NULL;
  }
  mgr_token t = {.id = p->id,
                 .server_uid = mp__mgr_endpoint_server_uid(p->ep)};
  memcpy(t.type_id, p->type_id, sizeof t.type_id);
  t.addr = *mp__mgr_endpoint_address(p->ep);
  return mp__mgr_token_make(&t);
}

mp_proxy *mp_proxy_from_token(const mp_obj *token, const void *authkey,
                              size_t authkey_len) {
  mgr_token t;
  if (mp__mgr_token_parse(token, &t) != 1) {
    errno = -MP_ETYPE;
    return NULL;
  }
  mgr_endpoint *e = mp__mgr_endpoint_get(&t.addr, authkey, authkey_len);
  if (!e)
    return NULL;
  int st;
  mp_obj *v;
  int rc = mp__mgr_roundtrip(e, MGR_OP_INCREF, t.id, NULL, NULL, &st, &v);
  mp_proxy *p = NULL;
  if (rc == 0)
    p = mp__mgr_proxy_new(e, v); /* v is [id, type_id, proxytype, exposed] */
  else
    mp__mgr_endpoint_put(e);
  mp_obj_unref(v);
  if (rc < 0)
    errno = -rc;
  return p;
}

int mp_proxy_dumps(const mp_proxy *p, void **buf, size_t *len) {
  if (!p || !buf || !len)
    return -EINVAL;
  mp_obj *t = mp_proxy_token(p);
  if (!t)
    return mp_errno_code(errno);
  int rc = mp_obj_encode(t, buf, len);
  mp_obj_unref(t);
  return rc;
}

mp_proxy *mp_proxy_loads(const void *buf, size_t len, const void *authkey,
                         size_t authkey_len) {
  mp_obj *t = NULL;
  if (!buf || mp_obj_decode(buf, len, &t) < 0) {
    errno = -MP_ETYPE;
    return NULL;
  }
  mp_proxy *p = mp_proxy_from_token(t, authkey, authkey_len);
  int e = errno;
  mp_obj_unref(t);
  errno = e;
  return p;
}

uint64_t mp__mgr_proxy_id(const mp_proxy *p) { return p->id; }

int mp_proxy_wait_for(mp_proxy *p, bool (*predicate)(void *arg), void *arg,
                      double timeout) {
  if (!p || !predicate || isnan(timeout))
    return -EINVAL;
  /* As CPython's ConditionProxy.wait_for: the predicate runs here, in the
   * caller, between waits in the server. */
  mp__deadline dl;
  mp__deadline_init(&dl, timeout);
  while (!predicate(arg)) {
    double left = MP_FOREVER;
    if (!mp__deadline_forever(&dl)) {
      left = (double)mp__deadline_left_ns(&dl) / 1e9;
      if (left <= 0)
        return MP_ETIMEOUT;
    }
    int w = mp_proxy_wait(p, left);
    if (w < 0 && w != MP_ETIMEOUT)
      return w;
  }
  return 0;
}

/* ---- Shorthands ----------------------------------------------------------------------------- */

static int call1(mp_proxy *p, const char *m, mp_obj *a, mp_obj **out) {
  mp_obj *args = mp_obj_build("(O)", a ? a : mp_obj_none());
  if (!args)
    return mp_errno_code(errno);
  int rc = mp_proxy_call(p, m, args, out);
  mp_obj_unref(args);
  return rc;
}

static int call2(mp_proxy *p, const char *m, mp_obj *a, mp_obj *b,
                 mp_obj **out) {
  mp_obj *args = mp_obj_build("(O O)", a ? a : mp_obj_none(),
                              b ? b : mp_obj_none());
  if (!args)
    return mp_errno_code(errno);
  int rc = mp_proxy_call(p, m, args, out);
  mp_obj_unref(args);
  return rc;
}

/* Calls a method returning a bool or int and gives it as an int >= 0. */
static int call_int(mp_proxy *p, const char *m, mp_obj *args) {
  mp_obj *r;
  int rc = mp_proxy_call(p, m, args, &r);
  if (rc < 0)
    return rc;
  int64_t v;
  rc = mp_obj_int_value(r, &v) < 0 || v < 0 || v > INT32_MAX ? MP_EPROTO
                                                             : (int)v;
  mp_obj_unref(r);
  return rc;
}

int mp_proxy_getitem(mp_proxy *p, mp_obj *key, mp_obj **out) {
  return call1(p, "__getitem__", key, out);
}

int mp_proxy_setitem(mp_proxy *p, mp_obj *key, mp_obj *value) {
  return call2(p, "__setitem__", key, value, NULL);
}

int mp_proxy_delitem(mp_proxy *p, mp_obj *key) {
  return call1(p, "__delitem__", key, NULL);
}

int mp_proxy_len(mp_proxy *p, size_t *len) {
  int rc = call_int(p, "__len__", NULL);
  if (rc >= 0 && len)
    *len = (size_t)rc;
  return rc < 0 ? rc : 0;
}

int mp_proxy_contains(mp_proxy *p, mp_obj *key) {
  mp_obj *args = mp_obj_build("(O)", key ? key : mp_obj_none());
  if (!args)
    return mp_errno_code(errno);
  int rc = call_int(p, "__contains__", args);
  mp_obj_unref(args);
  return rc;
}

int mp_proxy_append(mp_proxy *p, mp_obj *item) {
  return call1(p, "append", item, NULL);
}

static int attr_call(mp_proxy *p, const char *m, const char *name,
                     mp_obj *value, int nargs, mp_obj **out) {
  if (!name)
    return -EINVAL;
  mp_obj *args = nargs == 1 ? mp_obj_build("(s)", name)
                            : mp_obj_build("(s O)", name,
                                           value ? value : mp_obj_none());
  if (!args)
    return mp_errno_code(errno);
  int rc = mp_proxy_call(p, m, args, out);
  mp_obj_unref(args);
  return rc;
}

int mp_proxy_getattr(mp_proxy *p, const char *name, mp_obj **out) {
  return attr_call(p, "__getattribute__", name, NULL, 1, out);
}

int mp_proxy_setattr(mp_proxy *p, const char *name, mp_obj *value) {
  return attr_call(p, "__setattr__", name, value, 2, NULL);
}

int mp_proxy_delattr(mp_proxy *p, const char *name) {
  return attr_call(p, "__delattr__", name, NULL, 1, NULL);
}

int mp_proxy_get_value(mp_proxy *p, mp_obj **out) {
  return mp_proxy_call(p, "get", NULL, out);
}

int mp_proxy_set_value(mp_proxy *p, mp_obj *value) {
  return call1(p, "set", value, NULL);
}

static mp_obj *timeout_obj(double timeout) {
  return timeout == MP_FOREVER ? mp_obj_none() : mp_obj_float(timeout);
}

/* The shorthands read timeouts as sync.h does (NaN -EINVAL, 0 or negative
 * polls), so they send the server threading's arguments that mean that:
 * block=False when the call must not wait. */
static int block_timeout(bool *block, double timeout, mp_obj **t) {
  if (isnan(timeout))
    return -EINVAL;
  if (timeout <= 0)
    *block = false;
  *t = *block ? timeout_obj(timeout) : mp_obj_none();
  return 0;
}

/* A bool result as sync.h gives it: true 0, false `no` (MP_ETIMEOUT when
 * a wait ran out). An int result (a Barrier's index) is returned as is. */
static int bool_result(mp_obj *r, int no) {
  bool b;
  int64_t v;
  if (mp_obj_get_type(r) == MP_OBJ_BOOL && mp_obj_bool_value(r, &b) == 0)
    return b ? 0 : no;
  if (mp_obj_int_value(r, &v) == 0 && v >= 0 && v <= INT32_MAX)
    return (int)v;
  return MP_EPROTO;
}

static int call_bool(mp_proxy *p, const char *m, mp_obj *args, int no) {
  mp_obj *r;
  int rc = mp_proxy_call(p, m, args, &r);
  if (rc < 0)
    return rc;
  rc = bool_result(r, no);
  mp_obj_unref(r);
  return rc;
}

int mp_proxy_put(mp_proxy *p, mp_obj *item, bool block, double timeout) {
  mp_obj *t;
  int rc = block_timeout(&block, timeout, &t);
  if (rc < 0)
    return rc;
  mp_obj *args = mp_obj_build("(O b X)", item ? item : mp_obj_none(),
                              (int)block, t);
  if (!args)
    return mp_errno_code(errno);
  rc = mp_proxy_call(p, "put", args, NULL);
  mp_obj_unref(args);
  return rc;
}

int mp_proxy_get(mp_proxy *p, bool block, double timeout, mp_obj **out) {
  mp_obj *t;
  int rc = block_timeout(&block, timeout, &t);
  if (rc < 0)
    return rc;
  mp_obj *args = mp_obj_build("(b X)", (int)block, t);
  if (!args)
    return mp_errno_code(errno);
  rc = mp_proxy_call(p, "get", args, out);
  mp_obj_unref(args);
  return rc;
}

int mp_proxy_acquire(mp_proxy *p, bool block, double timeout) {
  mp_obj *t;
  int rc = block_timeout(&block, timeout, &t);
  if (rc < 0)
    return rc;
  mp_obj *args = mp_obj_build("(b X)", (int)block, t);
  if (!args)
    return mp_errno_code(errno);
  rc = call_bool(p, "acquire", args, MP_ETIMEOUT);
  mp_obj_unref(args);
  return rc;
}

int mp_proxy_release(mp_proxy *p) { return mp_proxy_call(p, "release", NULL, NULL); }
int mp_proxy_event_set(mp_proxy *p) { return mp_proxy_call(p, "set", NULL, NULL); }
int mp_proxy_event_clear(mp_proxy *p) { return mp_proxy_call(p, "clear", NULL, NULL); }
int mp_proxy_event_is_set(mp_proxy *p) { return call_int(p, "is_set", NULL); }

int mp_proxy_wait(mp_proxy *p, double timeout) {
  if (isnan(timeout))
    return -EINVAL;
  mp_obj *args = mp_obj_build("(X)", timeout_obj(timeout < 0 ? 0 : timeout));
  if (!args)
    return mp_errno_code(errno);
  int rc = call_bool(p, "wait", args, MP_ETIMEOUT);
  mp_obj_unref(args);
  return rc;
}

int mp_proxy_notify(mp_proxy *p, long n) {
  return mp_proxy_callf(p, "notify", NULL, "(l)", n);
}

int mp_proxy_notify_all(mp_proxy *p) {
  return mp_proxy_call(p, "notify_all", NULL, NULL);
}
