/* registry.c: a manager's table of types (Python's register()): the
 * built-in SyncManager types first, then the user's, each with its exposed
 * methods worked out once; and the small helpers method implementations
 * share (argument checks, failures with a message, blocking waits that
 * notice a stopping server or a departed caller). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "manager/manager_internal.h"

static void type_free(mgr_type *t) {
  if (!t)
    return;
  mp__free((char *)t->def.type_id);
  mp__free((char *)t->def.proxytype);
  mp__free((char *)t->def.methods_of);
  for (size_t i = 0; i < t->n_exposed_names; i++)
    mp__free(t->exposed_names[i]);
  mp__free(t->exposed_names);
  mp__free(t->exposed);
  mp__free(t);
}

const mgr_type *mp__mgr_registry_find(const mgr_registry *r,
                                      const char *type_id) {
  for (size_t i = 0; i < r->n; i++)
    if (!strcmp(r->types[i]->def.type_id, type_id))
      return r->types[i];
  return NULL;
}

int mp__mgr_type_method(const mgr_type *t, const char *name) {
  for (size_t i = 0; i < t->ops->n_methods; i++)
    if (!strcmp(t->ops->methods[i].name, name))
      return (int)i;
  return -1;
}

static bool has_method(const mp_type_def *ops, const char *name) {
  if (!strcmp(name, MGR_GETVALUE) || !strcmp(name, MGR_REPR) ||
      !strcmp(name, MGR_STR))
    return true; /* answered by every object */
  for (size_t i = 0; i < ops->n_methods; i++)
    if (!strcmp(ops->methods[i].name, name))
      return true;
  return false;
}

static int add_name(mgr_type *t, const char *name) {
  char *d = mp__strdup(name);
  if (!d)
    return -ENOMEM;
  t->exposed_names[t->n_exposed_names++] = d;
  return 0;
}

int mp__mgr_registry_add(mgr_registry *r, const mp_type_def *def) {
  if (!def || !def->type_id || !*def->type_id ||
      strlen(def->type_id) > MGR_NAME_MAX || (def->n_methods && !def->methods))
    return -EINVAL;
  for (size_t i = 0; i < def->n_methods; i++)
    if (!def->methods[i].name || !def->methods[i].fn ||
        strlen(def->methods[i].name) > MGR_NAME_MAX)
      return -EINVAL;
  const mp_type_def *ops = def;
  unsigned flags = def->flags;
  if (def->methods_of) {
    const mgr_type *o = mp__mgr_registry_find(r, def->methods_of);
    if (!o)
      return mp__mgr_set_error(-EINVAL, "methods_of: no type '%s'",
                               def->methods_of);
    ops = o->ops;
    flags = (flags & MP_TYPE_NO_CREATE) | (o->ops->flags & ~MP_TYPE_NO_CREATE);
  }
  /* An exposed name that is no method could never be called: refuse it
   * here, where the mistake is made (Python finds it at the call). */
  for (size_t k = 0; def->exposed && k < def->n_exposed; k++)
    if (def->exposed[k] && !has_method(ops, def->exposed[k]))
      return mp__mgr_set_error(-EINVAL, "register('%s'): exposed names '%s', "
                                        "which is no method of the type",
                               def->type_id, def->exposed[k]);
  mgr_type *t = mp__calloc(1, sizeof *t);
  if (!t)
    return -ENOMEM;
  t->def = *def;
  t->def.flags = flags;
  t->def.type_id = mp__strdup(def->type_id);
  t->def.proxytype = def->proxytype ? mp__strdup(def->proxytype) : NULL;
  t->def.methods_of = def->methods_of ? mp__strdup(def->methods_of) : NULL;
  t->ops = ops == def ? &t->def : ops;
  size_t nm = t->ops->n_methods;
  t->exposed = mp__calloc(nm ? nm : 1, sizeof *t->exposed);
  size_t nx = def->exposed ? def->n_exposed : nm;
  t->exposed_names = mp__calloc(nx ? nx : 1, sizeof *t->exposed_names);
  int rc = (!t->def.type_id || (def->proxytype && !t->def.proxytype) ||
            (def->methods_of && !t->def.methods_of) || !t->exposed ||
            !t->exposed_names)
               ? -ENOMEM
               : 0;
  for (size_t i = 0; rc == 0 && i < nm; i++) {
    const char *name = t->ops->methods[i].name;
    bool on;
    if (def->exposed) {
      on = false;
      for (size_t k = 0; k < def->n_exposed; k++)
        if (def->exposed[k] && !strcmp(def->exposed[k], name))
          on = true;
    } else {
      on = name[0] != '#' &&
           ((ops->flags & MGR_TYPE_ALL_EXPOSED) || name[0] != '_');
      if (on)
        rc = add_name(t, name);
    }
    t->exposed[i] = on;
  }
  for (size_t k = 0; rc == 0 && def->exposed && k < def->n_exposed; k++)
    if (def->exposed[k])
      rc = add_name(t, def->exposed[k]);
  if (rc < 0) {
    type_free(t);
    return rc;
  }
  for (size_t i = 0; i < r->n; i++)
    if (!strcmp(r->types[i]->def.type_id, def->type_id)) {
      /* Replaced, as Python's register does; the old one stays alive
       * (other types' methods_of may point at it) until the registry
       * goes. */
      mgr_type *old = r->types[i];
      r->types[i] = t;
      t = old;
      break;
    }
  if (r->n == r->cap) {
    size_t n = r->cap ? r->cap * 2 : 32;
    mgr_type **nt = mp__realloc(r->types, n * sizeof *nt);
    if (!nt) {
      type_free(t);
      return -ENOMEM;
    }
    r->types = nt;
    r->cap = n;
  }
  r->types[r->n++] = t;
  return 0;
}

int mp__mgr_registry_init(mgr_registry *r) {
  memset(r, 0, sizeof *r);
  for (size_t i = 0; i < mp__mgr_n_obj_types + mp__mgr_n_sync_types; i++) {
    int rc = mp__mgr_registry_add(
        r, i < mp__mgr_n_obj_types
               ? &mp__mgr_obj_types[i]
               : &mp__mgr_sync_types[i - mp__mgr_n_obj_types]);
    if (rc < 0) {
      mp__mgr_registry_free(r);
      return rc;
    }
  }
  return 0;
}

void mp__mgr_registry_free(mgr_registry *r) {
  for (size_t i = 0; i < r->n; i++)
    type_free(r->types[i]);
  mp__free(r->types);
  memset(r, 0, sizeof *r);
}

/* ---- Helpers for methods ------------------------------------------------------------------ */

int mp__mgr_fail(mp_method_call *c, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->message, sizeof c->message, fmt, ap);
  va_end(ap);
  return code;
}

static __thread const char *tl_type, *tl_method;

void mp__mgr_set_call_name(const char *type_id, const char *method) {
  tl_type = type_id;
  tl_method = method;
}

int mp__mgr_nargs(mp_method_call *c, size_t min, size_t max) {
  size_t n = mp_obj_list_len(c->args);
  if (n >= min && n <= max)
    return 0;
  /* CPython's words for a built-in method called with the wrong count;
   * for a create, the type's own ("dict expected at most 1 argument"). */
  const char *t = tl_type ? tl_type : "?";
  const char *m = tl_method ? tl_method : t;
  const char *dot = tl_method ? "." : "";
  if (!tl_method)
    t = "";
  if (max == 0)
    return mp__mgr_fail(c, MP_ETYPE, "TypeError: %s%s%s() takes no arguments "
                                     "(%zu given)", t, dot, m, n);
  if (min == 1 && max == 1)
    return mp__mgr_fail(c, MP_ETYPE, "TypeError: %s%s%s() takes exactly one "
                                     "argument (%zu given)", t, dot, m, n);
  if (min == max)
    return mp__mgr_fail(c, MP_ETYPE, "TypeError: %s expected %zu arguments, "
                                     "got %zu", m, min, n);
  if (n < min)
    return mp__mgr_fail(c, MP_ETYPE, "TypeError: %s expected at least %zu "
                                     "argument%s, got %zu", m, min,
                        min == 1 ? "" : "s", n);
  return mp__mgr_fail(c, MP_ETYPE, "TypeError: %s expected at most %zu "
                                   "argument%s, got %zu", m, max,
                      max == 1 ? "" : "s", n);
}

mp_obj *mp__mgr_arg(mp_method_call *c, size_t i) {
  mp_obj *o = NULL;
  if (i >= mp_obj_list_len(c->args))
    return NULL;
  if (mp_obj_get_type(c->args) == MP_OBJ_TUPLE)
    mp_obj_tuple_get(c->args, (ptrdiff_t)i, &o);
  else
    mp_obj_list_get(c->args, (ptrdiff_t)i, &o);
  return o;
}

int mp__mgr_arg_timeout(mp_method_call *c, size_t i, double *timeout) {
  mp_obj *o = mp__mgr_arg(c, i);
  *timeout = MP_FOREVER;
  if (!o || mp_obj_get_type(o) == MP_OBJ_NONE)
    return 0;
  if (mp_obj_float_value(o, timeout) < 0 || isnan(*timeout))
    return mp__mgr_fail(c, MP_ETYPE, "timeout must be a number or None");
  return 0;
}

int mp__mgr_cond_init(pthread_cond_t *cv) {
  pthread_condattr_t a;
  pthread_condattr_init(&a);
  pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
  int e = pthread_cond_init(cv, &a);
  pthread_condattr_destroy(&a);
  return -e;
}

static __thread int (*tl_alive)(void *);
static __thread void *tl_alive_ctx;

void mp__mgr_set_call_alive(int (*alive)(void *ctx), void *ctx) {
  tl_alive = alive;
  tl_alive_ctx = ctx;
}

int mp__mgr_cond_wait(pthread_cond_t *cv, pthread_mutex_t *mu,
                      const mp__deadline *dl) {
  int64_t left = mp__deadline_left_ns(dl);
  if (left == 0)
    return MP_ETIMEOUT;
  int64_t slice = 100 * 1000 * 1000;
  mp__deadline d = {.at_ns = mp__now_ns() + (left < slice ? left : slice)};
  struct timespec ts = mp__deadline_timespec(&d);
  int e = pthread_cond_timedwait(cv, mu, &ts);
  /* Checked after every wake-up, not only timeouts: a waiter whose client
   * died must not take what it waited for (a lock) on its behalf. */
  if (tl_alive && tl_alive(tl_alive_ctx) < 0)
    return MP_ECLOSED;
  if (e == ETIMEDOUT && mp__deadline_passed(dl))
    return MP_ETIMEOUT;
  return 0;
}
