/* list.c: Python's list and tuple operations on mp_obj: indexing with
 * negative indices, insert/pop/remove, slices with steps (CPython's
 * PySlice_AdjustIndices rules), index/count, and a stable merge sort that
 * uses Python's < and leaves the list untouched when two items cannot be
 * compared. Items that die during a change are freed only once the list is
 * consistent again. */
#include <string.h>

#include "obj_internal.h"

static bool is_list(const mp_obj *o) { return o && o->type == MP_OBJ_LIST; }

/* -EINVAL for NULL, MP_ETYPE unless a list (or, if ro, a tuple too). */
static int check(const mp_obj *o, bool ro) {
  if (!o)
    return -EINVAL;
  return is_list(o) || (ro && o->type == MP_OBJ_TUPLE) ? 0 : MP_ETYPE;
}

/* Python's index rule: i in [-len, len) → its position, else -1. */
static ptrdiff_t norm_index(const mp_obj *o, ptrdiff_t i) {
  ptrdiff_t n = (ptrdiff_t)o->u.seq.len;
  if (i < 0)
    i += n;
  return i >= 0 && i < n ? i : -1;
}

static int grow(mp_obj *l, size_t more) {
  size_t need = l->u.seq.len + more;
  if (need < l->u.seq.len || need > SIZE_MAX / sizeof(mp_obj *))
    return -ENOMEM;
  if (need <= l->u.seq.cap)
    return 0;
  size_t cap = l->u.seq.cap < 4 ? 4 : l->u.seq.cap + l->u.seq.cap / 2;
  if (cap < need || cap > SIZE_MAX / sizeof(mp_obj *))
    cap = need;
  mp_obj **items = mp__realloc(l->u.seq.items, cap * sizeof *items);
  if (!items)
    return -ENOMEM;
  l->u.seq.items = items;
  l->u.seq.cap = cap;
  return 0;
}

int mp__list_append_steal(mp_obj *list, mp_obj *item) {
  int r = grow(list, 1);
  if (r < 0) {
    mp_obj_unref(item);
    return r;
  }
  list->u.seq.items[list->u.seq.len++] = item;
  return 0;
}

MP_EXPORT int mp_obj_list_insert_steal(mp_obj *list, ptrdiff_t i, mp_obj *item) {
  int r = item ? check(list, false) : mp__obj_null_err();
  if (r == 0)
    r = grow(list, 1);
  if (r < 0) {
    mp_obj_unref(item);
    return r;
  }
  ptrdiff_t n = (ptrdiff_t)list->u.seq.len;
  if (i < 0)
    i = i + n < 0 ? 0 : i + n;
  if (i > n)
    i = n;
  memmove(list->u.seq.items + i + 1, list->u.seq.items + i,
          (size_t)(n - i) * sizeof(mp_obj *));
  list->u.seq.items[i] = item;
  list->u.seq.len++;
  return 0;
}

MP_EXPORT int mp_obj_list_insert(mp_obj *list, ptrdiff_t i, mp_obj *item) {
  if (!item)
    return -EINVAL;
  return mp_obj_list_insert_steal(list, i, mp__obj_ref(item));
}

MP_EXPORT int mp_obj_list_append_steal(mp_obj *list, mp_obj *item) {
  int r = item ? check(list, false) : mp__obj_null_err();
  if (r < 0) {
    mp_obj_unref(item);
    return r;
  }
  return mp__list_append_steal(list, item);
}

MP_EXPORT int mp_obj_list_append(mp_obj *list, mp_obj *item) {
  if (!item)
    return -EINVAL;
  return mp_obj_list_append_steal(list, mp__obj_ref(item));
}

MP_EXPORT int mp_obj_list_extend(mp_obj *list, const mp_obj *seq) {
  int r = check(list, false);
  if (r == 0)
    r = seq ? check(seq, true) : -EINVAL;
  if (r == 0)
    r = grow(list, seq->u.seq.len);
  if (r < 0)
    return r;
  size_t n = seq->u.seq.len; /* seq may be list: read its length once */
  for (size_t i = 0; i < n; i++)
    list->u.seq.items[list->u.seq.len + i] = mp__obj_ref(seq->u.seq.items[i]);
  list->u.seq.len += n;
  return 0;
}

static int get_item(const mp_obj *seq, ptrdiff_t i, mp_obj **item) {
  ptrdiff_t k = norm_index(seq, i);
  if (k < 0)
    return MP_EINDEX;
  *item = seq->u.seq.items[k];
  return 0;
}

MP_EXPORT int mp_obj_list_get(const mp_obj *list, ptrdiff_t i, mp_obj **item) {
  int r = item ? check(list, true) : -EINVAL;
  return r < 0 ? r : get_item(list, i, item);
}

MP_EXPORT int mp_obj_tuple_get(const mp_obj *tuple, ptrdiff_t i, mp_obj **item) {
  if (!tuple || !item)
    return -EINVAL;
  if (tuple->type != MP_OBJ_TUPLE)
    return MP_ETYPE;
  return get_item(tuple, i, item);
}

static int set_item(mp_obj *seq, mp_obj_type type, ptrdiff_t i, mp_obj *item) {
  int r = 0;
  ptrdiff_t k = -1;
  if (!item)
    r = mp__obj_null_err();
  else if (!seq)
    r = -EINVAL;
  else if (seq->type != type)
    r = MP_ETYPE;
  else if ((k = norm_index(seq, i)) < 0)
    r = MP_EINDEX;
  if (r < 0) {
    mp_obj_unref(item);
    return r;
  }
  mp_obj *old = seq->u.seq.items[k];
  seq->u.seq.items[k] = item;
  mp_obj_unref(old);
  return 0;
}

MP_EXPORT int mp_obj_list_set_steal(mp_obj *list, ptrdiff_t i, mp_obj *item) {
  return set_item(list, MP_OBJ_LIST, i, item);
}
MP_EXPORT int mp_obj_list_set(mp_obj *list, ptrdiff_t i, mp_obj *item) {
  return item ? set_item(list, MP_OBJ_LIST, i, mp__obj_ref(item)) : -EINVAL;
}
MP_EXPORT int mp_obj_tuple_set_steal(mp_obj *tuple, ptrdiff_t i, mp_obj *item) {
  return set_item(tuple, MP_OBJ_TUPLE, i, item);
}
MP_EXPORT int mp_obj_tuple_set(mp_obj *tuple, ptrdiff_t i, mp_obj *item) {
  return item ? set_item(tuple, MP_OBJ_TUPLE, i, mp__obj_ref(item)) : -EINVAL;
}

MP_EXPORT int mp_obj_list_pop(mp_obj *list, ptrdiff_t i, mp_obj **item) {
  int r = check(list, false);
  if (r < 0)
    return r;
  ptrdiff_t k = norm_index(list, i);
  if (k < 0)
    return MP_EINDEX;
  mp_obj *o = list->u.seq.items[k];
  memmove(list->u.seq.items + k, list->u.seq.items + k + 1,
          (list->u.seq.len - (size_t)k - 1) * sizeof(mp_obj *));
  list->u.seq.len--;
  if (item)
    *item = o;
  else
    mp_obj_unref(o);
  return 0;
}

MP_EXPORT int mp_obj_list_delete(mp_obj *list, ptrdiff_t i) {
  return mp_obj_list_pop(list, i, NULL);
}

MP_EXPORT size_t mp_obj_list_len(const mp_obj *list) {
  return mp__obj_is_seq(list) ? list->u.seq.len : 0;
}

MP_EXPORT int mp_obj_list_clear(mp_obj *list) {
  return mp_obj_list_del_slice(list, MP_SLICE_NONE, MP_SLICE_NONE, 1);
}

/* ---- Slices ------------------------------------------------------------------ */

typedef struct slice {
  ptrdiff_t start, step;
  size_t n; /* places in the slice */
} slice;

/* CPython's PySlice_Unpack + PySlice_AdjustIndices. */
static int adjust(const mp_obj *seq, ptrdiff_t start, ptrdiff_t stop,
                  ptrdiff_t step, slice *s) {
  ptrdiff_t len = (ptrdiff_t)seq->u.seq.len;
  if (step == MP_SLICE_NONE)
    step = 1;
  if (step == 0)
    return MP_EVALUE;
  ptrdiff_t *ends[2] = {&start, &stop};
  for (int k = 0; k < 2; k++) {
    ptrdiff_t *e = ends[k];
    if (*e == MP_SLICE_NONE) {
      *e = k == 0 ? (step < 0 ? len - 1 : 0) : (step < 0 ? -1 : len);
    } else if (*e < 0) {
      *e += len;
      if (*e < 0)
        *e = step < 0 ? -1 : 0;
    } else if (*e >= len) {
      *e = step < 0 ? len - 1 : len;
    }
  }
  if (step < 0)
    s->n = stop < start ? (size_t)((start - stop - 1) / -step + 1) : 0;
  else
    s->n = start < stop ? (size_t)((stop - start - 1) / step + 1) : 0;
  s->start = start;
  s->step = step;
  return 0;
}

MP_EXPORT int mp_obj_list_get_slice(const mp_obj *seq, ptrdiff_t start,
                                    ptrdiff_t stop, ptrdiff_t step,
                                    mp_obj **out) {
  slice s;
  int r = out ? check(seq, true) : -EINVAL;
  if (r == 0)
    r = adjust(seq, start, stop, step, &s);
  if (r < 0)
    return r;
  mp_obj *o = mp__obj_alloc_seq(seq->type, 0, s.n);
  if (!o)
    return -ENOMEM;
  for (size_t i = 0; i < s.n; i++)
    o->u.seq.items[i] = mp__obj_ref(seq->u.seq.items[s.start + (ptrdiff_t)i * s.step]);
  o->u.seq.len = s.n;
  *out = o;
  return 0;
}

/* Turns a slice with a negative step into the same places walked upwards. */
static void upwards(slice *s) {
  if (s->step < 0 && s->n) {
    s->start += s->step * (ptrdiff_t)(s->n - 1);
    s->step = -s->step;
  }
}

MP_EXPORT int mp_obj_list_del_slice(mp_obj *list, ptrdiff_t start,
                                    ptrdiff_t stop, ptrdiff_t step) {
  slice s;
  int r = check(list, false);
  if (r == 0)
    r = adjust(list, start, stop, step, &s);
  if (r < 0)
    return r;
  upwards(&s);
  mp_obj *dead = NULL, **items = list->u.seq.items;
  size_t len = list->u.seq.len, w = 0, k = 0;
  for (size_t i = 0; i < len; i++) {
    if (k < s.n && (ptrdiff_t)i == s.start + (ptrdiff_t)k * s.step) {
      mp__obj_unref_push(items[i], &dead);
      k++;
    } else {
      items[w++] = items[i];
    }
  }
  list->u.seq.len = w;
  mp__obj_free_stack(dead);
  return 0;
}

MP_EXPORT int mp_obj_list_set_slice(mp_obj *list, ptrdiff_t start,
                                    ptrdiff_t stop, ptrdiff_t step,
                                    const mp_obj *items) {
  slice s;
  int r = check(list, false);
  if (r == 0)
    r = items ? check(items, true) : -EINVAL;
  if (r == 0)
    r = adjust(list, start, stop, step, &s);
  if (r < 0)
    return r;
  size_t m = items->u.seq.len;
  if (s.step != 1 && s.n != m)
    return MP_EVALUE; /* an extended slice keeps its size */
  mp_obj *copy = NULL;
  if (items == list) { /* a[1:2] = a: take the items before moving them */
    copy = mp_obj_copy(list);
    if (!copy)
      return -ENOMEM;
    items = copy;
  }
  mp_obj *dead = NULL;
  if (s.step == 1) {
    if (m > s.n && (r = grow(list, m - s.n)) < 0) {
      mp_obj_unref(copy);
      return r;
    }
    mp_obj **it = list->u.seq.items;
    for (size_t i = 0; i < s.n; i++)
      mp__obj_unref_push(it[s.start + (ptrdiff_t)i], &dead);
    size_t tail = list->u.seq.len - (size_t)s.start - s.n;
    memmove(it + s.start + m, it + s.start + s.n, tail * sizeof *it);
    for (size_t i = 0; i < m; i++)
      it[s.start + (ptrdiff_t)i] = mp__obj_ref(items->u.seq.items[i]);
    list->u.seq.len = list->u.seq.len - s.n + m;
  } else {
    for (size_t i = 0; i < m; i++) {
      mp_obj **slot = &list->u.seq.items[s.start + (ptrdiff_t)i * s.step];
      mp__obj_unref_push(*slot, &dead);
      *slot = mp__obj_ref(items->u.seq.items[i]);
    }
  }
  mp_obj_unref(copy);
  mp__obj_free_stack(dead);
  return 0;
}

/* ---- Searching ------------------------------------------------------------------ */

/* Python's PyObject_RichCompareBool: identity, then ==. */
static bool same(const mp_obj *a, const mp_obj *b) {
  return a == b || mp__obj_eq(a, b, 0) > 0;
}

MP_EXPORT int mp_obj_list_index(const mp_obj *seq, const mp_obj *item,
                                size_t *pos) {
  int r = item && pos ? check(seq, true) : -EINVAL;
  if (r < 0)
    return r;
  for (size_t i = 0; i < seq->u.seq.len; i++) {
    if (same(seq->u.seq.items[i], item)) {
      *pos = i;
      return 0;
    }
  }
  return MP_EVALUE;
}

MP_EXPORT int mp_obj_list_count(const mp_obj *seq, const mp_obj *item,
                                size_t *count) {
  int r = item && count ? check(seq, true) : -EINVAL;
  if (r < 0)
    return r;
  size_t n = 0;
  for (size_t i = 0; i < seq->u.seq.len; i++)
    n += same(seq->u.seq.items[i], item);
  *count = n;
  return 0;
}

MP_EXPORT int mp_obj_list_remove(mp_obj *list, const mp_obj *item) {
  size_t pos;
  int r = check(list, false);
  if (r == 0)
    r = mp_obj_list_index(list, item, &pos);
  return r < 0 ? r : mp_obj_list_pop(list, (ptrdiff_t)pos, NULL);
}

MP_EXPORT int mp_obj_list_reverse(mp_obj *list) {
  int r = check(list, false);
  if (r < 0)
    return r;
  mp_obj **it = list->u.seq.items;
  for (size_t i = 0, j = list->u.seq.len; i + 1 < j; i++, j--) {
    mp_obj *t = it[i];
    it[i] = it[j - 1];
    it[j - 1] = t;
  }
  return 0;
}

/* ---- Sorting ---------------------------------------------------------------------- */

/* a goes before b: a < b, or b < a when reversed (which keeps equal items
 * in their original order, as Python's reverse=True does). */
static int before(const mp_obj *a, const mp_obj *b, bool reverse, bool *out) {
  return reverse ? mp_obj_less(b, a, out) : mp_obj_less(a, b, out);
}

/* Bottom-up stable merge sort of n pointers in a, using tmp (n more). */
static int merge_sort(mp_obj **a, mp_obj **tmp, size_t n, bool reverse) {
  for (size_t width = 1; width < n; width *= 2) {
    for (size_t lo = 0; lo < n; lo += 2 * width) {
      size_t mid = lo + width < n ? lo + width : n;
      size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
      size_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi) {
        bool b_first;
        int r = before(a[j], a[i], reverse, &b_first);
        if (r < 0)
          return r;
        tmp[k++] = b_first ? a[j++] : a[i++];
      }
      while (i < mid)
        tmp[k++] = a[i++];
      while (j < hi)
        tmp[k++] = a[j++];
    }
    memcpy(a, tmp, n * sizeof *a);
  }
  return 0;
}

MP_EXPORT int mp_obj_list_sort(mp_obj *list, bool reverse) {
  int r = check(list, false);
  if (r < 0)
    return r;
  size_t n = list->u.seq.len;
  if (n < 2)
    return 0;
  mp_obj **work = mp__calloc(2 * n, sizeof *work);
  if (!work)
    return -ENOMEM;
  memcpy(work, list->u.seq.items, n * sizeof *work);
  r = merge_sort(work, work + n, n, reverse);
  if (r == 0)
    memcpy(list->u.seq.items, work, n * sizeof *work);
  mp__free(work);
  return r;
}
