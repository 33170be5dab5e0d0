/* kwargs.c: keyword arguments of a call (Python's _callmethod(name, args,
 * kwds)). For the built-in types the server turns them into positional
 * arguments by the parameter names Python's methods have (q.get(timeout=1)
 * is q.get(True, 1)), filling the positions in between with the defaults;
 * a user type's method receives them as they came (mp_method_call.kwargs).
 * dict.update(**kw) takes them itself. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manager/manager_internal.h"

/* typeids ('|' between), method, parameters in order ("name=default";
 * a bare name has no default: it must be given). */
static const struct {
  const char *typeids, *method, *params;
} g_params[] = {
    {"Queue", "put", "item block=True timeout=None"},
    {"Queue", "get", "block=True timeout=None"},
    {"Queue", "put_nowait", "item"},
    {"Lock|RLock|Semaphore|BoundedSemaphore|Condition", "acquire",
     "blocking=True timeout=None"},
    {"Semaphore|BoundedSemaphore", "release", "n=1"},
    {"Condition|Event|Barrier", "wait", "timeout=None"},
    {"Condition", "notify", "n=1"},
    {"dict", "get", "key default=None"},
    {"dict", "pop", "key default"},
    {"dict", "setdefault", "key default=None"},
    {"list", "sort", "reverse=False"},
    {"list", "index", "value start=0 stop=9223372036854775807"},
    {"list", "pop", "index=-1"},
    {"list", "insert", "index object"},
    {"list", "append", "object"},
    {"list", "extend", "iterable"},
    {"list", "count", "value"},
    {"list", "remove", "value"},
};

static bool typeid_in(const char *list, const char *type_id) {
  size_t n = strlen(type_id);
  for (const char *p = list; p; p = strchr(p, '|')) {
    if (*p == '|')
      p++;
    if (!strncmp(p, type_id, n) && (p[n] == '|' || !p[n]))
      return true;
  }
  return false;
}

/* The idx-th parameter of params: its name (length *nlen) and default
 * (NULL: none). false past the last. */
static bool param_at(const char *params, size_t idx, const char **name,
                     size_t *nlen, const char **dflt, size_t *dlen) {
  const char *p = params;
  for (size_t i = 0; i < idx && p; i++) {
    p = strchr(p, ' ');
    if (p)
      p++;
  }
  if (!p || !*p)
    return false;
  size_t len = strcspn(p, " ");
  const char *eq = memchr(p, '=', len);
  *name = p;
  *nlen = eq ? (size_t)(eq - p) : len;
  *dflt = eq ? eq + 1 : NULL;
  *dlen = eq ? len - *nlen - 1 : 0;
  return true;
}

static mp_obj *literal(const char *s, size_t n) {
  if (n == 4 && !memcmp(s, "True", 4))
    return mp_obj_bool(true);
  if (n == 5 && !memcmp(s, "False", 5))
    return mp_obj_bool(false);
  if (n == 4 && !memcmp(s, "None", 4))
    return mp_obj_none();
  return mp_obj_int(strtoll(s, NULL, 10));
}

int mp__mgr_kwargs_apply(const mgr_type *t, const char *method, mp_obj **args,
                         mp_obj *kwargs, char *msg, size_t msgn) {
  if (!kwargs || mp_obj_dict_len(kwargs) == 0)
    return 0;
  if (!(t->ops->flags & MGR_TYPE_ALL_EXPOSED)) /* a user type: as they are */
    return 1;
  if (!strcmp(t->def.type_id, "dict") && !strcmp(method, "update"))
    return 1;
  const char *params = NULL;
  for (size_t i = 0; i < MP__ARRAY_SIZE(g_params) && !params; i++)
    if (!strcmp(g_params[i].method, method) &&
        typeid_in(g_params[i].typeids, t->def.type_id))
      params = g_params[i].params;
  if (!params) {
    snprintf(msg, msgn, "TypeError: %s() takes no keyword arguments", method);
    return MP_ETYPE;
  }
  size_t npos = 0;
  mp_obj_len(*args, &npos);
  size_t top = npos;
  /* Where each keyword goes; every keyword must name a parameter. */
  size_t pos = 0;
  mp_obj *k, *v;
  while (mp_obj_dict_next(kwargs, &pos, &k, &v)) {
    const char *ks;
    size_t kn;
    if (mp_obj_str_value(k, &ks, &kn) < 0) {
      snprintf(msg, msgn, "TypeError: keywords must be strings");
      return MP_ETYPE;
    }
    const char *name, *dflt;
    size_t nlen, dlen, i = 0;
    while (param_at(params, i, &name, &nlen, &dflt, &dlen) &&
           (nlen != kn || memcmp(name, ks, kn)))
      i++;
    if (!param_at(params, i, &name, &nlen, &dflt, &dlen)) {
      snprintf(msg, msgn,
               "TypeError: %s() got an unexpected keyword argument '%.*s'",
               method, (int)kn, ks);
      return MP_ETYPE;
    }
    if (i < npos) {
      snprintf(msg, msgn,
               "TypeError: %s() got multiple values for argument '%.*s'",
               method, (int)kn, ks);
      return MP_ETYPE;
    }
    if (i + 1 > top)
      top = i + 1;
  }
  mp_obj *na = mp_obj_list_new();
  int rc = na ? 0 : -ENOMEM;
  for (size_t i = 0; i < top && rc == 0; i++) {
    mp_obj *item = NULL;
    if (i < npos) {
      mp_obj_list_get(*args, (ptrdiff_t)i, &item);
      rc = mp_obj_list_append(na, item);
      continue;
    }
    const char *name, *dflt;
    size_t nlen, dlen;
    param_at(params, i, &name, &nlen, &dflt, &dlen);
    mp_obj *key = mp_obj_strn(name, nlen);
    rc = key ? 0 : -ENOMEM;
    if (rc == 0 && mp_obj_dict_get(kwargs, key, &item) == 0)
      rc = mp_obj_list_append(na, item);
    else if (rc == 0 && dflt)
      rc = mp_obj_list_append_steal(na, literal(dflt, dlen));
    else if (rc == 0) {
      snprintf(msg, msgn, "TypeError: %s() missing required argument '%.*s'",
               method, (int)nlen, name);
      rc = MP_ETYPE;
    }
    mp_obj_unref(key);
  }
  if (rc < 0) {
    mp_obj_unref(na);
    return rc;
  }
  mp_obj_unref(*args);
  *args = na;
  return 0;
}
