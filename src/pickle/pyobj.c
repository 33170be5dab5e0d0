/* pyobj.c: MP_OBJ_PYOBJ, a Python object kept as its pickle recipe
 * (mproc/pickle.h): a tuple-like object of four items, module, name, args
 * (a tuple, or None for a bare global) and state (None: no BUILD), with
 * the mp_pyobj_kind in the object's code byte. The obj area frees,
 * compares and prints it; the pickle encoder and decoder make and write it. */
#include <string.h>

#include "pickle_internal.h"

mp_obj *mp__pyobj_new(mp_pyobj_kind kind, mp_obj *module, mp_obj *name,
                      mp_obj *args, mp_obj *state) {
  mp_obj *o = mp__obj_alloc_seq(MP_OBJ_TUPLE, 0, 4);
  if (!o) {
    mp_obj_unref(module), mp_obj_unref(name), mp_obj_unref(args), mp_obj_unref(state);
    return NULL;
  }
  o->type = MP_OBJ_PYOBJ;
  o->code = (int8_t)kind;
  o->u.seq.items[0] = module;
  o->u.seq.items[1] = name;
  o->u.seq.items[2] = args ? args : mp_obj_none();
  o->u.seq.items[3] = state ? state : mp_obj_none();
  o->u.seq.len = 4;
  return o;
}

MP_EXPORT mp_obj *mp_obj_pyobj(mp_pyobj_kind kind, const char *module,
                               const char *name, mp_obj *args, mp_obj *state) {
  if (!module || !name || (unsigned)kind > MP_PYOBJ_REF || !*module || !*name ||
      strchr(module, '\n') || strchr(name, '\n') || /* GLOBAL's separator */
      (kind != MP_PYOBJ_REF && (!args || args->type != MP_OBJ_TUPLE))) {
    errno = EINVAL;
    return NULL;
  }
  mp_obj *m = mp_obj_str(module), *n = mp_obj_str(name);
  if (!m || !n) {
    mp_obj_unref(m), mp_obj_unref(n);
    return NULL;
  }
  return mp__pyobj_new(kind, m, n, kind == MP_PYOBJ_REF ? NULL : mp_obj_ref(args),
                       mp_obj_ref(state));
}

MP_EXPORT int mp_obj_pyobj_parts(const mp_obj *o, mp_pyobj_kind *kind,
                                 const char **module, const char **name,
                                 mp_obj **args, mp_obj **state) {
  if (!o)
    return -EINVAL;
  if (o->type != MP_OBJ_PYOBJ)
    return MP_ETYPE;
  if (kind)
    *kind = (mp_pyobj_kind)o->code;
  if (module)
    *module = o->u.seq.items[0]->u.s.data;
  if (name)
    *name = o->u.seq.items[1]->u.s.data;
  if (args)
    *args = o->u.seq.items[2];
  if (state)
    *state = o->u.seq.items[3];
  return 0;
}
