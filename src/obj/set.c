/* set.c: Python's set and frozenset. They reuse the dict's hash table
 * (dict.c) with None as every value, so membership follows the dict's
 * rules exactly (1, 1.0 and True are one item) and the code that frees,
 * compares and walks dicts serves sets too. A frozenset is a set whose
 * kind says it is hashable; it is filled with the same add call before it
 * is shared, as a tuple is with mp_obj_tuple_set. */
#include <string.h>

#include "obj_internal.h"

MP_EXPORT mp_obj *mp_obj_set_new(void) { return mp__set_alloc(MP_OBJ_SET); }

MP_EXPORT mp_obj *mp_obj_frozenset_new(void) {
  return mp__set_alloc(MP_OBJ_FROZENSET);
}

int mp__set_add_hashed(mp_obj *set, mp_obj *item, int64_t hash) {
  if (mp__dict_lookup(set, item, hash)) { /* the first item stays, as Python */
    mp_obj_unref(item);
    return 0;
  }
  return mp__dict_set_hashed(set, item, hash, mp_obj_none());
}

MP_EXPORT int mp_obj_set_add_steal(mp_obj *set, mp_obj *item) {
  int64_t hash = 0;
  int r = 0;
  if (!item)
    r = mp__obj_null_err();
  else if (!mp__obj_is_set(set))
    r = set ? MP_ETYPE : -EINVAL;
  else
    r = mp_obj_hash(item, &hash);
  if (r < 0) {
    mp_obj_unref(item);
    return r;
  }
  return mp__set_add_hashed(set, item, hash);
}

MP_EXPORT int mp_obj_set_add(mp_obj *set, mp_obj *item) {
  if (!item)
    return -EINVAL;
  return mp_obj_set_add_steal(set, mp__obj_ref(item));
}

/* Checks the arguments and hashes item. */
static int set_hash(const mp_obj *set, const mp_obj *item, int64_t *hash) {
  if (!item)
    return -EINVAL;
  if (!mp__obj_is_set(set))
    return set ? MP_ETYPE : -EINVAL;
  return mp_obj_hash(item, hash);
}

MP_EXPORT int mp_obj_set_contains(const mp_obj *set, const mp_obj *item) {
  int64_t hash;
  int r = set_hash(set, item, &hash);
  return r < 0 ? r : mp__dict_lookup(set, item, hash) != NULL;
}

MP_EXPORT int mp_obj_set_remove(mp_obj *set, const mp_obj *item) {
  int64_t hash;
  int r = set_hash(set, item, &hash);
  if (r < 0)
    return r;
  if (set->type != MP_OBJ_SET)
    return MP_ETYPE; /* a frozenset has no remove */
  return mp__dict_del_hashed(set, item, hash) ? 0 : MP_EKEY;
}

MP_EXPORT size_t mp_obj_set_len(const mp_obj *set) {
  return mp__obj_is_set(set) ? set->u.d.len : 0;
}

MP_EXPORT bool mp_obj_set_next(const mp_obj *set, size_t *pos, mp_obj **item) {
  if (!mp__obj_is_set(set) || !pos)
    return false;
  for (size_t k = *pos; k < set->u.d.nents; k++) {
    if (!set->u.d.ents[k].key)
      continue;
    *pos = k + 1;
    if (item)
      *item = set->u.d.ents[k].key;
    return true;
  }
  *pos = set->u.d.nents;
  return false;
}

mp_obj *mp__obj_copy_mutable(const mp_obj *o) {
  if (o->type == MP_OBJ_BYTEARRAY)
    return mp_obj_bytearray(o->u.s.data, o->u.s.len);
  mp_obj *c = mp__set_alloc((mp_obj_type)o->type);
  if (!c)
    return NULL;
  for (size_t k = 0; k < o->u.d.nents; k++) {
    const mp__dent *e = &o->u.d.ents[k];
    if (!e->key)
      continue;
    int r = mp__set_add_hashed(c, mp__obj_ref(e->key), e->hash);
    if (r < 0) {
      mp_obj_unref(c);
      errno = -r;
      return NULL;
    }
  }
  return c;
}
