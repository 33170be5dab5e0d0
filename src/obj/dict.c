/* dict.c: Python's dict: insertion-ordered, built like CPython's compact
 * dict: an array of entries in insertion order (deleted ones leave holes
 * until the next rebuild) and an open-addressing index of int32 slots
 * pointing into it, probed with CPython's perturbation so that keys whose
 * hashes differ only in high bits still spread. Keys are found by hash,
 * then identity, then Python equality, so 1, 1.0 and True are one key. */
#include <string.h>

#include "obj_internal.h"

#define SLOT_EMPTY (-1)
#define SLOT_DUMMY (-2)
#define DICT_MAX_ENTRIES ((size_t)INT32_MAX)

static bool is_dict(const mp_obj *d) { return d && d->type == MP_OBJ_DICT; }

/* Walks the probe sequence of hash; calls back through the macro users. */
#define PROBE_INIT(d, hash, i, perturb)                                        \
  uint64_t perturb = (uint64_t)(hash);                                         \
  size_t i = (size_t)perturb & (d)->u.d.mask
#define PROBE_NEXT(d, i, perturb)                                              \
  do {                                                                         \
    perturb >>= 5;                                                             \
    i = (i * 5 + (size_t)perturb + 1) & (d)->u.d.mask;                         \
  } while (0)

static bool key_matches(const mp__dent *e, const mp_obj *key, int64_t hash) {
  if (e->key == key)
    return true;
  return e->hash == hash && mp__obj_eq(e->key, key, 0) > 0;
}

/* The index slot holding key, or NULL. */
static int32_t *find_slot(const mp_obj *d, const mp_obj *key, int64_t hash) {
  if (!d->u.d.index)
    return NULL;
  PROBE_INIT(d, hash, i, perturb);
  for (;;) {
    int32_t ix = d->u.d.index[i];
    if (ix == SLOT_EMPTY)
      return NULL;
    if (ix >= 0 && key_matches(&d->u.d.ents[ix], key, hash))
      return &d->u.d.index[i];
    PROBE_NEXT(d, i, perturb);
  }
}

mp__dent *mp__dict_lookup(const mp_obj *d, const mp_obj *key, int64_t hash) {
  int32_t *slot = find_slot(d, key, hash);
  return slot ? &d->u.d.ents[*slot] : NULL;
}

mp__dent *mp__dict_find_str(const mp_obj *d, const char *s, size_t n) {
  if (!d->u.d.index)
    return NULL;
  int64_t hash = mp__hash_bytes(s, n);
  PROBE_INIT(d, hash, i, perturb);
  for (;;) {
    int32_t ix = d->u.d.index[i];
    if (ix == SLOT_EMPTY)
      return NULL;
    if (ix >= 0) {
      mp__dent *e = &d->u.d.ents[ix];
      if (e->hash == hash && e->key->type == MP_OBJ_STR &&
          e->key->u.s.len == n && memcmp(e->key->u.s.data, s, n) == 0)
        return e;
    }
    PROBE_NEXT(d, i, perturb);
  }
}

/* Rebuilds the table with room for `want` entries: compacts the entries
 * (dropping holes) and rehashes them. On -ENOMEM the dict is unchanged. */
static int rebuild(mp_obj *d, size_t want) {
  if (want > DICT_MAX_ENTRIES)
    return -ENOMEM;
  size_t slots = 8;
  while (slots < want + want / 2)
    slots *= 2;
  mp__dent *ents = mp__calloc(want, sizeof *ents);
  int32_t *index = mp__malloc(slots * sizeof *index);
  if (!ents || !index) {
    mp__free(ents);
    mp__free(index);
    return -ENOMEM;
  }
  memset(index, 0xff, slots * sizeof *index); /* all SLOT_EMPTY */
  size_t n = 0;
  for (size_t k = 0; k < d->u.d.nents; k++) {
    if (d->u.d.ents[k].key)
      ents[n++] = d->u.d.ents[k];
  }
  mp__free(d->u.d.ents);
  mp__free(d->u.d.index);
  d->u.d.ents = ents;
  d->u.d.index = index;
  d->u.d.nents = n;
  d->u.d.cap = want;
  d->u.d.fill = n;
  d->u.d.mask = slots - 1;
  for (size_t k = 0; k < n; k++) {
    PROBE_INIT(d, ents[k].hash, i, perturb);
    while (index[i] != SLOT_EMPTY)
      PROBE_NEXT(d, i, perturb);
    index[i] = (int32_t)k;
  }
  return 0;
}

/* As find_slot, and *freeslot = where key would be inserted (the first
 * deleted slot on its probe sequence, else the empty one that ended it),
 * so an insertion probes once. */
static int32_t *find_or_free(const mp_obj *d, const mp_obj *key, int64_t hash,
                             int32_t **freeslot) {
  *freeslot = NULL;
  if (!d->u.d.index)
    return NULL;
  PROBE_INIT(d, hash, i, perturb);
  for (;;) {
    int32_t ix = d->u.d.index[i];
    if (ix == SLOT_EMPTY) {
      if (!*freeslot)
        *freeslot = &d->u.d.index[i];
      return NULL;
    }
    if (ix == SLOT_DUMMY && !*freeslot)
      *freeslot = &d->u.d.index[i];
    if (ix >= 0 && key_matches(&d->u.d.ents[ix], key, hash))
      return &d->u.d.index[i];
    PROBE_NEXT(d, i, perturb);
  }
}

int mp__dict_reserve(mp_obj *d, size_t more) {
  size_t want = d->u.d.len + more;
  if (want <= d->u.d.cap - (d->u.d.nents - d->u.d.len) && d->u.d.fill + more <= d->u.d.cap)
    return 0;
  return rebuild(d, want < 8 ? 8 : want);
}

int mp__dict_set_hashed(mp_obj *d, mp_obj *key, int64_t hash, mp_obj *value) {
  int32_t *freeslot;
  int32_t *slot = find_or_free(d, key, hash, &freeslot);
  if (slot) { /* Python keeps the key first inserted */
    mp__dent *e = &d->u.d.ents[*slot];
    mp_obj *old = e->value;
    e->value = value;
    mp_obj_unref(key);
    mp_obj_unref(old);
    return 0;
  }
  /* fill <= cap < 2/3 of the slots keeps empty slots, which end probes. */
  if (d->u.d.nents == d->u.d.cap || d->u.d.fill == d->u.d.cap) {
    size_t want = d->u.d.len < 4 ? 8 : d->u.d.len * 2;
    int r = rebuild(d, want);
    if (r < 0) {
      mp_obj_unref(key);
      mp_obj_unref(value);
      return r;
    }
    freeslot = NULL; /* the index was rebuilt: probe again below */
  }
  size_t k = d->u.d.nents++;
  d->u.d.ents[k] = (mp__dent){key, value, hash};
  d->u.d.len++;
  if (!freeslot) {
    PROBE_INIT(d, hash, i, perturb);
    while (d->u.d.index[i] >= 0)
      PROBE_NEXT(d, i, perturb);
    freeslot = &d->u.d.index[i];
  }
  d->u.d.fill += *freeslot == SLOT_EMPTY;
  *freeslot = (int32_t)k;
  return 0;
}

/* Removes the entry behind slot; hands its key and value over. */
static void remove_slot(mp_obj *d, int32_t *slot, mp_obj **key,
                        mp_obj **value) {
  mp__dent *e = &d->u.d.ents[*slot];
  *key = e->key;
  *value = e->value;
  e->key = e->value = NULL;
  *slot = SLOT_DUMMY;
  d->u.d.len--;
  while (d->u.d.nents && !d->u.d.ents[d->u.d.nents - 1].key)
    d->u.d.nents--; /* trailing holes: reuse them (popitem stays O(1)) */
}

bool mp__dict_del_hashed(mp_obj *d, const mp_obj *key, int64_t hash) {
  int32_t *slot = find_slot(d, key, hash);
  if (!slot)
    return false;
  mp_obj *k, *v;
  remove_slot(d, slot, &k, &v);
  mp_obj_unref(k);
  mp_obj_unref(v);
  return true;
}

void mp__dict_release(mp_obj *d, mp_obj **stack) {
  for (size_t k = 0; k < d->u.d.nents; k++) {
    mp__obj_unref_push(d->u.d.ents[k].key, stack);
    mp__obj_unref_push(d->u.d.ents[k].value, stack);
  }
  mp__free(d->u.d.ents);
  mp__free(d->u.d.index);
  memset(&d->u.d, 0, sizeof d->u.d);
}

/* ---- Public API ---------------------------------------------------------- */

MP_EXPORT int mp_obj_dict_get(const mp_obj *d, const mp_obj *key,
                              mp_obj **value) {
  if (!key || !value)
    return -EINVAL;
  if (!is_dict(d))
    return d ? MP_ETYPE : -EINVAL;
  int64_t hash;
  int r = mp_obj_hash(key, &hash);
  if (r < 0)
    return r;
  mp__dent *e = mp__dict_lookup(d, key, hash);
  if (!e)
    return MP_EKEY;
  *value = e->value;
  return 0;
}

MP_EXPORT int mp_obj_dict_get_str(const mp_obj *d, const char *key,
                                  mp_obj **value) {
  if (!key || !value)
    return -EINVAL;
  if (!is_dict(d))
    return d ? MP_ETYPE : -EINVAL;
  mp__dent *e = mp__dict_find_str(d, key, strlen(key));
  if (!e)
    return MP_EKEY;
  *value = e->value;
  return 0;
}

MP_EXPORT int mp_obj_dict_set_steal(mp_obj *d, mp_obj *key, mp_obj *value) {
  int r = 0;
  int64_t hash = 0;
  if (!key || !value)
    r = mp__obj_null_err();
  else if (!is_dict(d))
    r = d ? MP_ETYPE : -EINVAL;
  else
    r = mp_obj_hash(key, &hash);
  if (r < 0) {
    mp_obj_unref(key);
    mp_obj_unref(value);
    return r;
  }
  return mp__dict_set_hashed(d, key, hash, value);
}

MP_EXPORT int mp_obj_dict_set(mp_obj *d, mp_obj *key, mp_obj *value) {
  if (!key || !value)
    return -EINVAL;
  return mp_obj_dict_set_steal(d, mp__obj_ref(key), mp__obj_ref(value));
}

MP_EXPORT int mp_obj_dict_set_str_steal(mp_obj *d, const char *key,
                                        mp_obj *value) {
  if (!key) {
    mp_obj_unref(value);
    return -EINVAL;
  }
  mp_obj *k = mp_obj_str(key);
  return mp_obj_dict_set_steal(d, k, value);
}

MP_EXPORT int mp_obj_dict_set_str(mp_obj *d, const char *key, mp_obj *value) {
  if (!value)
    return -EINVAL;
  return mp_obj_dict_set_str_steal(d, key, mp__obj_ref(value));
}

/* Finds key's slot after checking the arguments; *slot NULL when missing. */
static int find_checked(const mp_obj *d, const mp_obj *key, int32_t **slot) {
  if (!key)
    return -EINVAL;
  if (!is_dict(d))
    return d ? MP_ETYPE : -EINVAL;
  int64_t hash;
  int r = mp_obj_hash(key, &hash);
  if (r < 0)
    return r;
  *slot = find_slot(d, key, hash);
  return 0;
}

MP_EXPORT int mp_obj_dict_delete(mp_obj *d, const mp_obj *key) {
  int32_t *slot;
  int r = find_checked(d, key, &slot);
  if (r < 0)
    return r;
  if (!slot)
    return MP_EKEY;
  mp_obj *k, *v;
  remove_slot(d, slot, &k, &v);
  mp_obj_unref(k);
  mp_obj_unref(v);
  return 0;
}

MP_EXPORT int mp_obj_dict_contains(const mp_obj *d, const mp_obj *key) {
  int32_t *slot;
  int r = find_checked(d, key, &slot);
  return r < 0 ? r : slot != NULL;
}

MP_EXPORT size_t mp_obj_dict_len(const mp_obj *d) {
  return is_dict(d) ? d->u.d.len : 0;
}

MP_EXPORT bool mp_obj_dict_next(const mp_obj *d, size_t *pos, mp_obj **key,
                                mp_obj **value) {
  if (!is_dict(d) || !pos)
    return false;
  for (size_t k = *pos; k < d->u.d.nents; k++) {
    const mp__dent *e = &d->u.d.ents[k];
    if (!e->key)
      continue;
    *pos = k + 1;
    if (key)
      *key = e->key;
    if (value)
      *value = e->value;
    return true;
  }
  *pos = d->u.d.nents;
  return false;
}

/* keys/values/items: one list of len items, each made by `what`. */
enum { VIEW_KEYS, VIEW_VALUES, VIEW_ITEMS };
static int view(const mp_obj *d, int what, mp_obj **out) {
  if (!out)
    return -EINVAL;
  if (!is_dict(d))
    return d ? MP_ETYPE : -EINVAL;
  mp_obj *l = mp__obj_alloc_seq(MP_OBJ_LIST, 0, d->u.d.len);
  if (!l)
    return -ENOMEM;
  size_t pos = 0;
  mp_obj *k, *v;
  while (mp_obj_dict_next(d, &pos, &k, &v)) {
    mp_obj *item;
    if (what == VIEW_KEYS) {
      item = mp__obj_ref(k);
    } else if (what == VIEW_VALUES) {
      item = mp__obj_ref(v);
    } else {
      item = mp__obj_alloc_seq(MP_OBJ_TUPLE, 0, 2);
      if (!item) {
        mp_obj_unref(l);
        return -ENOMEM;
      }
      item->u.seq.items[0] = mp__obj_ref(k);
      item->u.seq.items[1] = mp__obj_ref(v);
      item->u.seq.len = 2;
    }
    l->u.seq.items[l->u.seq.len++] = item;
  }
  *out = l;
  return 0;
}

MP_EXPORT int mp_obj_dict_keys(const mp_obj *d, mp_obj **out) {
  return view(d, VIEW_KEYS, out);
}
MP_EXPORT int mp_obj_dict_values(const mp_obj *d, mp_obj **out) {
  return view(d, VIEW_VALUES, out);
}
MP_EXPORT int mp_obj_dict_items(const mp_obj *d, mp_obj **out) {
  return view(d, VIEW_ITEMS, out);
}

MP_EXPORT int mp_obj_dict_update(mp_obj *d, const mp_obj *other) {
  if (!other)
    return -EINVAL;
  if (!is_dict(d))
    return d ? MP_ETYPE : -EINVAL;
  if (other->type == MP_OBJ_DICT) {
    /* other may be d itself: its entries stay put, values are replaced
     * by themselves, so walking it while setting is safe. */
    for (size_t k = 0; k < other->u.d.nents; k++) {
      const mp__dent *e = &other->u.d.ents[k];
      if (!e->key)
        continue;
      int r = mp__dict_set_hashed(d, mp__obj_ref(e->key), e->hash,
                                  mp__obj_ref(e->value));
      if (r < 0)
        return r;
    }
    return 0;
  }
  if (!mp__obj_is_seq(other))
    return MP_ETYPE;
  for (size_t k = 0; k < other->u.seq.len; k++) {
    const mp_obj *pair = other->u.seq.items[k];
    if (!mp__obj_is_seq(pair))
      return MP_ETYPE;
    if (pair->u.seq.len != 2)
      return MP_EVALUE;
    int r = mp_obj_dict_set(d, pair->u.seq.items[0], pair->u.seq.items[1]);
    if (r < 0)
      return r;
  }
  return 0;
}

MP_EXPORT int mp_obj_dict_pop(mp_obj *d, const mp_obj *key, mp_obj *dflt,
                              mp_obj **value) {
  int32_t *slot;
  int r = find_checked(d, key, &slot);
  if (r < 0)
    return r;
  if (!slot) {
    if (!dflt)
      return MP_EKEY;
    if (value)
      *value = mp__obj_ref(dflt);
    return 0;
  }
  mp_obj *k, *v;
  remove_slot(d, slot, &k, &v);
  mp_obj_unref(k);
  if (value)
    *value = v;
  else
    mp_obj_unref(v);
  return 0;
}

MP_EXPORT int mp_obj_dict_popitem(mp_obj *d, mp_obj **key, mp_obj **value) {
  if (!is_dict(d))
    return d ? MP_ETYPE : -EINVAL;
  if (!d->u.d.len)
    return MP_EKEY;
  size_t k = d->u.d.nents - 1; /* remove_slot trims trailing holes */
  mp__dent *e = &d->u.d.ents[k];
  PROBE_INIT(d, e->hash, i, perturb);
  while (d->u.d.index[i] != (int32_t)k)
    PROBE_NEXT(d, i, perturb);
  mp_obj *kk, *vv;
  remove_slot(d, &d->u.d.index[i], &kk, &vv);
  if (key)
    *key = kk;
  else
    mp_obj_unref(kk);
  if (value)
    *value = vv;
  else
    mp_obj_unref(vv);
  return 0;
}

MP_EXPORT int mp_obj_dict_setdefault(mp_obj *d, mp_obj *key, mp_obj *dflt,
                                     mp_obj **value) {
  int32_t *slot;
  int r = find_checked(d, key, &slot);
  if (r < 0)
    return r;
  if (!slot) {
    if (!dflt)
      dflt = mp_obj_none();
    int64_t hash;
    mp_obj_hash(key, &hash); /* succeeded in find_checked */
    r = mp__dict_set_hashed(d, mp__obj_ref(key), hash, mp__obj_ref(dflt));
    if (r < 0)
      return r;
    if (value)
      *value = dflt;
    return 0;
  }
  if (value)
    *value = d->u.d.ents[*slot].value;
  return 0;
}

MP_EXPORT int mp_obj_dict_clear(mp_obj *d) {
  if (!is_dict(d))
    return d ? MP_ETYPE : -EINVAL;
  mp_obj *stack = NULL;
  mp__dict_release(d, &stack);
  mp__obj_free_stack(stack);
  return 0;
}
