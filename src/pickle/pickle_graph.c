/* pickle_graph.c: the check a decoded pickle passes when it shared a
 * container (pickle_dec.c): one depth-first walk that visits each shared
 * container once, and refuses nesting deeper than MP_OBJ_MAX_DEPTH, a
 * cycle (unless allowed), and a tree that, with every shared reference
 * copied, would have more than max_nodes nodes. */
#include <string.h>

#include "pickle_internal.h"

/* ---- Checking the result ---------------------------------------------------- */

/* What check_graph knows of one container: being walked (on the path) or
 * done, the height below it and the size of its expanded tree. */
typedef struct gnode {
  const mp_obj *o;
  uint32_t height;
  bool done;
  uint64_t size;
} gnode;

typedef struct gmap {
  gnode *slots;
  size_t mask, used;
} gmap;

static bool is_container(const mp_obj *o) {
  return mp__obj_is_seq(o) || mp__obj_is_hashtab(o) || o->type == MP_OBJ_PYOBJ;
}

static gnode *gmap_find(gmap *m, const mp_obj *o, bool add) {
  if (add && (m->used + 1) * 2 > m->mask + 1) {
    size_t n = (m->mask + 1) * 2;
    gnode *s = mp__calloc(n, sizeof *s);
    if (!s)
      return NULL;
    for (size_t i = 0; i <= m->mask; i++) {
      if (!m->slots[i].o)
        continue;
      size_t j = ((uintptr_t)m->slots[i].o >> 4) * 0x9E3779B97F4A7C15ULL & (n - 1);
      while (s[j].o)
        j = (j + 1) & (n - 1);
      s[j] = m->slots[i];
    }
    mp__free(m->slots);
    m->slots = s;
    m->mask = n - 1;
  }
  size_t j = ((uintptr_t)o >> 4) * 0x9E3779B97F4A7C15ULL & m->mask;
  while (m->slots[j].o && m->slots[j].o != o)
    j = (j + 1) & m->mask;
  if (!m->slots[j].o) {
    if (!add)
      return NULL;
    m->slots[j] = (gnode){o, 0, false, 0};
    m->used++;
  }
  return &m->slots[j];
}

/* The k-th child of a container, or NULL past the last. */
static const mp_obj *child(const mp_obj *o, size_t *k) {
  if (mp__obj_is_seq(o) || o->type == MP_OBJ_PYOBJ)
    return *k < o->u.seq.len ? o->u.seq.items[(*k)++] : NULL;
  bool dict = o->type == MP_OBJ_DICT;
  for (;;) {
    size_t e = dict ? *k / 2 : *k;
    if (e >= o->u.d.nents)
      return NULL;
    const mp__dent *ent = &o->u.d.ents[e];
    size_t part = dict ? *k % 2 : 0;
    (*k)++;
    if (ent->key)
      return part ? ent->value : ent->key;
  }
}

typedef struct gframe {
  const mp_obj *o;
  size_t k;
  uint32_t height;
  uint64_t size;
} gframe;

static uint64_t sat_add(uint64_t a, uint64_t b) {
  return a + b < a ? UINT64_MAX : a + b;
}

/* Walks root depth-first once per shared container: refuses nesting
 * deeper than MP_OBJ_MAX_DEPTH, a cycle (unless allowed), and an expanded
 * size over max_nodes. */
int mp__pk_check_graph(const mp_obj *root, size_t max_nodes, bool cycles_ok) {
  if (!is_container(root))
    return 0;
  gmap m = {mp__calloc(64, sizeof(gnode)), 63, 0};
  gframe *st = mp__malloc((MP_OBJ_MAX_DEPTH + 2) * sizeof *st);
  int r = 0;
  size_t sp = 0;
  gnode *g;
  if (!m.slots || !st || !(g = gmap_find(&m, root, true))) {
    r = -ENOMEM;
    goto out;
  }
  g->size = 1; /* marks "on the path" until done */
  st[sp++] = (gframe){root, 0, 1, 1};
  while (sp) {
    gframe *f = &st[sp - 1];
    const mp_obj *c = child(f->o, &f->k);
    if (!c) { /* done with f */
      g = gmap_find(&m, f->o, false);
      g->done = true;
      g->height = f->height;
      g->size = f->size;
      sp--;
      if (sp) {
        gframe *p = &st[sp - 1];
        p->size = sat_add(p->size, f->size);
        if (f->height + 1 > p->height)
          p->height = f->height + 1;
      }
      if ((sp ? st[sp - 1].size : f->size) > max_nodes) {
        r = mp__pk_fail("the pickle expands to more than %zu objects", max_nodes);
        goto out;
      }
      continue;
    }
    if (!is_container(c)) {
      f->size = sat_add(f->size, 1);
      if (f->height < 2)
        f->height = 2;
      continue;
    }
    g = gmap_find(&m, c, true);
    if (!g) {
      r = -ENOMEM;
      goto out;
    }
    if (g->done) { /* shared: counted again, walked once */
      f->size = sat_add(f->size, g->size);
      if (g->height + 1 > f->height)
        f->height = g->height + 1;
    } else if (g->o == c && g->size == 1) { /* on the path: a cycle */
      if (!cycles_ok) {
        r = mp__pk_fail("a recursive structure (it contains itself)");
        goto out;
      }
    } else {
      if (sp > MP_OBJ_MAX_DEPTH) {
        r = mp__pk_fail("nested deeper than %d levels", MP_OBJ_MAX_DEPTH);
        goto out;
      }
      g->size = 1; /* marks "on the path" until done */
      st[sp++] = (gframe){c, 0, 1, 1};
      continue;
    }
    if (f->size > max_nodes) {
      r = mp__pk_fail("the pickle expands to more than %zu objects", max_nodes);
      goto out;
    }
  }
  if (st[0].height > MP_OBJ_MAX_DEPTH + 1)
    r = mp__pk_fail("nested deeper than %d levels", MP_OBJ_MAX_DEPTH);
out:
  mp__free(m.slots);
  mp__free(st);
  return r;
}
