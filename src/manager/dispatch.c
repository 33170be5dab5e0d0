/* dispatch.c: what the server does with a request: the object table (ids
 * with a generation, so a stale or forged id finds nothing), references
 * counted per client process (a client that goes away drops its own), the
 * exposed-method check, tokens in arguments turned back into the referents
 * they stand for (`a.append(b)` nests b's referent in a), and the reply.
 *
 * Locking: the server lock (s->lock) plays CPython's GIL: it covers the
 * table, the client records and every mp_obj referent, so a call on a dict
 * or list runs under it, encoding of the result included (results may
 * share nested containers with referents). Types flagged
 * MP_TYPE_CONCURRENT (locks, queues, events...) run without it, pinned so
 * their entry cannot go away mid-call, and may block. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "manager/manager_internal.h"

#define SLOT_BITS 32

/* ---- Table ---------------------------------------------------------------------------- */

static uint64_t make_id(uint32_t slot, uint32_t gen) {
  return ((uint64_t)gen << SLOT_BITS | slot) & INT64_MAX;
}

static mgr_entry *lookup(mgr_server *s, uint64_t id) {
  uint32_t slot = (uint32_t)id;
  if (slot >= s->nslots)
    return NULL;
  mgr_entry *e = &s->slots[slot];
  if (!e->type || ((uint64_t)e->gen << SLOT_BITS & INT64_MAX) !=
                      (id & ~(uint64_t)UINT32_MAX))
    return NULL;
  return e;
}

static int table_add(mgr_server *s, const mgr_type *t, void *ref,
                     uint64_t *id) {
  if (s->free_head == 0) {
    uint32_t n = s->nslots ? s->nslots * 2 : 64;
    if (n > (1u << 30))
      return -ENOMEM;
    mgr_entry *ns = mp__realloc(s->slots, n * sizeof *ns);
    if (!ns)
      return -ENOMEM;
    uint32_t first = s->nslots ? s->nslots : 1; /* slot 0 stays unused */
    memset(ns + s->nslots, 0, (n - s->nslots) * sizeof *ns);
    for (uint32_t i = first; i < n; i++)
      ns[i].next_free = i + 1 < n ? i + 1 : 0;
    s->slots = ns;
    s->free_head = first;
    s->nslots = n;
  }
  uint32_t slot = s->free_head;
  mgr_entry *e = &s->slots[slot];
  s->free_head = e->next_free;
  e->type = t;
  e->ref = ref;
  e->refs = 0;
  e->pins = 0;
  s->nobjects++;
  *id = make_id(slot, e->gen);
  return 0;
}

static void entry_destroy(mgr_server *s, mgr_entry *e) {
  const mgr_type *t = e->type;
  void *ref = e->ref;
  e->type = NULL;
  e->ref = NULL;
  e->gen++;
  e->next_free = s->free_head;
  s->free_head = (uint32_t)(e - s->slots);
  s->nobjects--;
  if (t->ops->flags & MP_TYPE_OBJ)
    mp_obj_unref(ref);
  else if (t->def.destroy)
    t->def.destroy(ref);
}

static void entry_maybe_free(mgr_server *s, mgr_entry *e) {
  if (e->type && e->refs <= 0 && e->pins <= 0)
    entry_destroy(s, e);
}

void mp__mgr_table_free(mgr_server *s) {
  for (uint32_t i = 1; i < s->nslots; i++)
    if (s->slots[i].type)
      entry_destroy(s, &s->slots[i]);
  mp__free(s->slots);
  s->slots = NULL;
  s->nslots = 0;
}

/* ---- References per client -------------------------------------------------------------- */

static int client_incref(mgr_client *cl, mgr_entry *e, uint64_t id) {
  for (size_t i = 0; i < cl->nheld; i++)
    if (cl->held[i].id == id) {
      cl->held[i].n++;
      e->refs++;
      return 0;
    }
  if (cl->nheld == cl->capheld) {
    size_t n = cl->capheld ? cl->capheld * 2 : 8;
    void *h = mp__realloc(cl->held, n * sizeof *cl->held);
    if (!h)
      return -ENOMEM;
    cl->held = h;
    cl->capheld = n;
  }
  cl->held[cl->nheld].id = id;
  cl->held[cl->nheld].n = 1;
  cl->nheld++;
  e->refs++;
  return 0;
}

static void client_decref(mgr_server *s, mgr_client *cl, uint64_t id) {
  for (size_t i = 0; i < cl->nheld; i++) {
    if (cl->held[i].id != id)
      continue;
    if (--cl->held[i].n == 0)
      cl->held[i] = cl->held[--cl->nheld];
    mgr_entry *e = lookup(s, id);
    if (e) {
      e->refs--;
      entry_maybe_free(s, e);
    }
    return;
  }
  /* A decref for a reference this client does not hold: ignored. */
}

void mp__mgr_client_release(mgr_server *s, mgr_client *cl) {
  for (size_t i = 0; i < cl->nheld; i++) {
    mgr_entry *e = lookup(s, cl->held[i].id);
    if (e) {
      e->refs -= cl->held[i].n;
      entry_maybe_free(s, e);
    }
  }
  mgr_client **pp = &s->clients;
  while (*pp && *pp != cl)
    pp = &(*pp)->next;
  if (*pp)
    *pp = cl->next;
  mp__free(cl->held);
  mp__free(cl);
}

/* ---- Arguments -------------------------------------------------------------------------- */

/* Replaces tokens of this server's mp_obj referents with the referents. */
static int untoken(mgr_server *s, mp_obj *o, int depth) {
  mp_obj_type t = mp_obj_get_type(o);
  if (depth > 64 || (t != MP_OBJ_LIST && t != MP_OBJ_TUPLE))
    return 0;
  size_t n = mp_obj_list_len(o);
  for (size_t i = 0; i < n; i++) {
    mp_obj *it;
    if (mp_obj_list_get(o, (ptrdiff_t)i, &it) < 0)
      return 0;
    mgr_token tok;
    if (mp__mgr_token_parse(it, &tok) == 1) {
      mgr_entry *e = tok.server_uid == s->uid ? lookup(s, tok.id) : NULL;
      if (e && (e->type->ops->flags & MP_TYPE_OBJ)) {
        int rc = t == MP_OBJ_LIST ? mp_obj_list_set(o, (ptrdiff_t)i, e->ref)
                                  : mp_obj_tuple_set(o, (ptrdiff_t)i, e->ref);
        if (rc < 0)
          return rc;
      }
      continue;
    }
    int rc = untoken(s, it, depth + 1);
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* ---- Replies ---------------------------------------------------------------------------- */

static int put_value(mgr_buf *out, mp_obj *v) {
  char st = MGR_R_OK;
  size_t mark = out->len;
  int rc = mp__mgr_buf_put(out, &st, 1);
  if (rc == 0)
    rc = mp_obj_encode_append(v ? v : mp_obj_none(), (void **)&out->data,
                              &out->len, &out->cap);
  if (rc < 0)
    out->len = mark;
  return rc;
}

static int put_error(mgr_buf *out, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int put_error(mgr_buf *out, int code, const char *fmt, ...) {
  char msg[MP_ERROR_MESSAGE_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  out->len = 0;
  mp__mgr_put_error(out, code, msg);
  return 0;
}

/* [id, type_id, proxytype, [exposed...]] for a proxy of entry e. */
static mp_obj *proxy_info(const mgr_type *t, uint64_t id) {
  char pt[MGR_NAME_MAX + 16];
  if (t->def.proxytype)
    snprintf(pt, sizeof pt, "%s", t->def.proxytype);
  else
    snprintf(pt, sizeof pt, "AutoProxy[%s]", t->def.type_id);
  mp_obj *ex = mp_obj_list_new();
  for (size_t i = 0; ex && i < t->n_exposed_names; i++)
    if (mp_obj_list_append_steal(ex, mp_obj_str(t->exposed_names[i])) < 0) {
      mp_obj_unref(ex);
      ex = NULL;
    }
  if (!ex)
    return NULL;
  return mp_obj_build("[K s s X]", (unsigned long long)id, t->def.type_id, pt,
                      ex);
}

/* Registers ref as a new object of type t held by the caller and writes
 * the proxy reply. Takes over ref (destroys it on failure). */
static int reply_new_object(mgr_server *s, mgr_sconn *c, const mgr_type *t,
                            void *ref, mgr_buf *out) {
  uint64_t id;
  int rc = table_add(s, t, ref, &id);
  if (rc < 0) {
    if (t->ops->flags & MP_TYPE_OBJ)
      mp_obj_unref(ref);
    else if (t->def.destroy)
      t->def.destroy(ref);
    return put_error(out, MP_EREMOTE, "server out of memory");
  }
  mgr_entry *e = lookup(s, id);
  mp_obj *info = proxy_info(t, id);
  char st = MGR_R_PROXY;
  if (info && client_incref(c->client, e, id) == 0) {
    out->len = 0;
    rc = mp__mgr_buf_put(out, &st, 1);
    if (rc == 0)
      rc = mp_obj_encode_append(info, (void **)&out->data, &out->len,
                                &out->cap);
    mp_obj_unref(info);
    if (rc == 0)
      return 0;
    client_decref(s, c->client, id);
  } else {
    mp_obj_unref(info);
  }
  entry_maybe_free(s, e);
  return put_error(out, MP_EREMOTE, "server out of memory");
}

/* The code a client sees for a method's failure: Python's exceptions as
 * themselves, anything else as a remote error. */
static int client_code(int code) {
  switch (code) {
  case MP_EKEY: case MP_EINDEX: case MP_EVALUE: case MP_ETYPE: case MP_EATTR:
  case MP_EEMPTY: case MP_EFULL: case MP_ETIMEOUT: case MP_EBROKEN:
  case MP_ENOTOWNER: case MP_ESTATE: case MP_ENOTSUP: case MP_EREMOTE:
  case MP_ESTOP:
    return code;
  default:
    return MP_EREMOTE;
  }
}

static int default_repr(const mgr_type *t, void *ref, char **out) {
  char buf[128];
  if (t->ops->repr)
    return t->ops->repr(ref, out);
  if (t->ops->flags & MP_TYPE_OBJ)
    return mp_obj_repr(ref, out, NULL);
  snprintf(buf, sizeof buf, "<%s object at %p>", t->def.type_id, ref);
  *out = mp__strdup(buf);
  return *out ? 0 : -ENOMEM;
}

/* ---- Calls -------------------------------------------------------------------------------- */

static int do_call(mgr_server *s, mgr_sconn *c, mgr_request *rq, mgr_buf *out) {
  mgr_entry *e = lookup(s, rq->id);
  if (!e)
    return put_error(out, MP_EKEY, "no shared object with id %llu",
                     (unsigned long long)rq->id);
  const mgr_type *t = e->type;
  void *ref = e->ref;
  bool special = !strcmp(rq->name, MGR_GETVALUE) ||
                 !strcmp(rq->name, MGR_REPR) || !strcmp(rq->name, MGR_STR);
  /* The special names are answered by every object (as CPython's
   * fallbacks), exposed or not: by the type's own method if it has one. */
  int mi = mp__mgr_type_method(t, rq->name);
  if (!special && (mi < 0 || !t->exposed[mi]))
    return put_error(out, MP_EATTR, "method '%s' of '%s' is not exposed",
                     rq->name, t->def.type_id);
  if (special && mi < 0) {
    if (!strcmp(rq->name, MGR_GETVALUE) && (t->ops->flags & MP_TYPE_OBJ)) {
      mp_obj *copy = mp_obj_deepcopy(ref);
      int rc = copy ? put_value(out, copy) : -errno;
      mp_obj_unref(copy);
      return rc < 0 ? put_error(out, MP_EREMOTE, "cannot copy the referent")
                    : 0;
    }
    char *text = NULL;
    int rc = default_repr(t, ref, &text);
    if (rc < 0)
      return put_error(out, client_code(rc), "repr failed: %s",
                       mp_strerror(rc));
    mp_obj *str = mp_obj_str(text);
    mp_free(text);
    rc = str ? put_value(out, str) : -ENOMEM;
    mp_obj_unref(str);
    return rc < 0 ? put_error(out, MP_EREMOTE, "server out of memory") : 0;
  }
  const mp_method_def *md = &t->ops->methods[mi];
  bool wants_proxy = md->result_typeid != NULL;
  if (wants_proxy != (rq->op == MGR_OP_CALL_PROXY))
    return put_error(out, MP_ETYPE,
                     wants_proxy ? "'%s' returns a shared object: call it "
                                   "with mp_proxy_call_proxy"
                                 : "'%s' returns a value, not a proxy",
                     rq->name);
  const mgr_type *rt = NULL;
  if (wants_proxy && !(rt = mp__mgr_registry_find(s->reg, md->result_typeid)))
    return put_error(out, MP_EREMOTE, "unknown result typeid '%s'",
                     md->result_typeid);
  int rc = untoken(s, rq->args, 0);
  if (rc < 0)
    return put_error(out, MP_EREMOTE, "server out of memory");
  mp_method_call call = {.caller = rq->caller};
  rc = mp__mgr_kwargs_apply(t, rq->name, &rq->args, rq->kwargs, call.message,
                            sizeof call.message);
  if (rc < 0)
    return put_error(out, client_code(rc), "%s", call.message);
  call.args = rq->args;
  call.kwargs = rc == 1 ? rq->kwargs : NULL;
  bool concurrent = t->ops->flags & MP_TYPE_CONCURRENT;
  if (concurrent) {
    e->pins++;
    pthread_mutex_unlock(&s->lock);
  }
  mp__mgr_set_call_name(t->def.type_id, rq->name);
  rc = md->fn(ref, &call);
  mp__mgr_set_call_name(NULL, NULL);
  if (concurrent) {
    pthread_mutex_lock(&s->lock);
    e->pins--;
    entry_maybe_free(s, e);
  }
  if (rc < 0) {
    mp_obj_unref(call.result);
    return put_error(out, client_code(rc), "%s",
                     call.message[0] ? call.message : mp_strerror(rc));
  }
  if (rt) {
    void *nref = (rt->ops->flags & MP_TYPE_OBJ)
                     ? (call.result ? call.result : mp_obj_none())
                     : call.referent;
    if (!(rt->ops->flags & MP_TYPE_OBJ))
      mp_obj_unref(call.result);
    if (!nref)
      return put_error(out, MP_EREMOTE, "'%s' made no object", rq->name);
    return reply_new_object(s, c, rt, nref, out);
  }
  rc = put_value(out, call.result);
  mp_obj_unref(call.result);
  return rc < 0 ? put_error(out, MP_EREMOTE, "cannot encode the result: %s",
                            mp_strerror(rc))
                : 0;
}

/* The server whose create request this thread is handling (for create
 * functions that take another object of the same server: Condition(lock)). */
static __thread mgr_server *tl_server;

static int do_create(mgr_server *s, mgr_sconn *c, mgr_request *rq,
                     mgr_buf *out) {
  const mgr_type *t = mp__mgr_registry_find(s->reg, rq->name);
  if (!t || !t->def.create || (t->def.flags & MP_TYPE_NO_CREATE))
    return put_error(out, MP_EATTR, "no type '%s' to create", rq->name);
  int rc = untoken(s, rq->args, 0);
  if (rc < 0)
    return put_error(out, MP_EREMOTE, "server out of memory");
  mp_method_call call = {.args = rq->args, .caller = rq->caller};
  /* Create functions of built-in sync types make their own locks; user
   * functions run under the server lock like any method. */
  tl_server = s;
  mp__mgr_set_call_name(t->def.type_id, NULL);
  rc = t->def.create(t->def.ctx, &call);
  mp__mgr_set_call_name(NULL, NULL);
  tl_server = NULL;
  if (rc < 0) {
    mp_obj_unref(call.result);
    return put_error(out, client_code(rc), "%s",
                     call.message[0] ? call.message : mp_strerror(rc));
  }
  void *ref;
  if (t->ops->flags & MP_TYPE_OBJ) {
    ref = call.result ? call.result : mp_obj_none();
  } else {
    mp_obj_unref(call.result);
    ref = call.referent;
  }
  if (!ref)
    return put_error(out, MP_EREMOTE, "'%s' made no object", rq->name);
  return reply_new_object(s, c, t, ref, out);
}

int mp__mgr_dispatch(mgr_server *s, mgr_sconn *c, const void *req, size_t len,
                     mgr_buf *out) {
  mgr_request rq;
  int rc = mp__mgr_request_decode(req, len, &rq);
  if (rc < 0)
    return put_error(out, rc == -ENOMEM ? MP_EREMOTE : MP_EPROTO,
                     "malformed request: %s", mp_strerror(rc)),
           0;
  int shut = 0;
  pthread_mutex_lock(&s->lock);
  switch (rq.op) {
  case MGR_OP_CALL:
  case MGR_OP_CALL_PROXY:
    do_call(s, c, &rq, out);
    break;
  case MGR_OP_CREATE:
    do_create(s, c, &rq, out);
    break;
  case MGR_OP_INCREF: {
    mgr_entry *e = lookup(s, rq.id);
    mp_obj *info = e ? proxy_info(e->type, rq.id) : NULL;
    if (!e)
      put_error(out, MP_EKEY, "no shared object with id %llu",
                (unsigned long long)rq.id);
    else if (!info || client_incref(c->client, e, rq.id) < 0 ||
             put_value(out, info) < 0)
      put_error(out, MP_EREMOTE, "server out of memory");
    mp_obj_unref(info);
    break;
  }
  case MGR_OP_DECREF:
    client_decref(s, c->client, rq.id);
    put_value(out, NULL);
    break;
  case MGR_OP_SHUTDOWN:
    put_value(out, NULL);
    shut = 1;
    break;
  case MGR_OP_INFO: {
    /* busy: calls in progress besides this one (a blocked acquire...) */
    int busy = __atomic_load_n(&s->busy, __ATOMIC_RELAXED) - 1;
    mp_obj *info = mp_obj_build("[K K i]", (unsigned long long)s->nobjects,
                                (unsigned long long)s->nconns, busy);
    if (!info || put_value(out, info) < 0)
      put_error(out, MP_EREMOTE, "server out of memory");
    mp_obj_unref(info);
    break;
  }
  default:
    put_error(out, MP_EPROTO, "unexpected request %d", rq.op);
  }
  pthread_mutex_unlock(&s->lock);
  mp_obj_unref(rq.args);
  mp_obj_unref(rq.kwargs);
  return shut;
}

void *mp__mgr_resolve_token(const mp_obj *token, const mgr_type **type) {
  mgr_token tok;
  mgr_server *s = tl_server;
  if (!s || mp__mgr_token_parse(token, &tok) != 1 || tok.server_uid != s->uid)
    return NULL;
  mgr_entry *e = lookup(s, tok.id);
  if (!e)
    return NULL;
  *type = e->type;
  return e->ref;
}
