/* api.c: the public Value and Array functions, thin shells over the shared
 * implementation (mp__sv in value_internal.h): a value is an object of one
 * element with index 0, an array one of len elements. */
#include "value_internal.h"

#define SV(x) ((mp__sv *)(x))
#define CSV(x) ((const mp__sv *)(x))

/* ---- Value ------------------------------------------------------------------ */

MP_EXPORT mp_value *mp_value_new(mp_ctype t, const void *init, const mp_value_opts *opts) {
  return (mp_value *)mp__sv_new(MP_TYPE_VALUE, t, 1, init, opts);
}

MP_EXPORT mp_value *mp_raw_value_new(mp_ctype t, const void *init) {
  return mp_value_new(t, init, &(mp_value_opts){.raw = true});
}

MP_EXPORT mp_lock *mp_value_get_lock(const mp_value *v) { return v ? v->s.lock : NULL; }
MP_EXPORT void *mp_value_get_obj(const mp_value *v) { return v ? v->s.data : NULL; }
MP_EXPORT char mp_value_typecode(const mp_value *v) { return v ? v->s.code : 0; }
MP_EXPORT size_t mp_value_size(const mp_value *v) { return v ? v->s.esize : 0; }

MP_EXPORT int mp_value_get_int(const mp_value *v, int64_t *out) {
  return mp__sv_get_num(CSV(v), 0, MP__SV_INT, out);
}
MP_EXPORT int mp_value_get_uint(const mp_value *v, uint64_t *out) {
  return mp__sv_get_num(CSV(v), 0, MP__SV_UINT, out);
}
MP_EXPORT int mp_value_get_double(const mp_value *v, double *out) {
  return mp__sv_get_num(CSV(v), 0, MP__SV_DOUBLE, out);
}
MP_EXPORT int mp_value_set_int(mp_value *v, int64_t x) {
  return mp__sv_set_num(SV(v), 0, MP__SV_INT, &x);
}
MP_EXPORT int mp_value_set_uint(mp_value *v, uint64_t x) {
  return mp__sv_set_num(SV(v), 0, MP__SV_UINT, &x);
}
MP_EXPORT int mp_value_set_double(mp_value *v, double x) {
  return mp__sv_set_num(SV(v), 0, MP__SV_DOUBLE, &x);
}
MP_EXPORT int mp_value_read(const mp_value *v, void *out) { return mp__sv_read(CSV(v), 0, 1, out); }
MP_EXPORT int mp_value_write(mp_value *v, const void *in) { return mp__sv_write(SV(v), 0, 1, in); }

MP_EXPORT mp_value *mp_value_copy(const mp_value *v) { return (mp_value *)mp__sv_copy(CSV(v)); }
MP_EXPORT mp_value *mp_value_synchronized(const mp_value *v, mp_lock *lock) {
  return (mp_value *)mp__sv_synchronized(CSV(v), lock);
}
MP_EXPORT int mp_value_handle(const mp_value *v, mp_handle *h) { return mp__sv_handle(CSV(v), h); }
MP_EXPORT mp_value *mp_value_open(const mp_handle *h) {
  return (mp_value *)mp__sv_open(h, MP_TYPE_VALUE);
}
MP_EXPORT void mp_value_free(mp_value *v) { mp__sv_free(SV(v)); }

/* ---- Array ------------------------------------------------------------------ */

MP_EXPORT mp_array *mp_array_new(mp_ctype t, size_t len, const void *init,
                                 const mp_value_opts *opts) {
  return (mp_array *)mp__sv_new(MP_TYPE_ARRAY, t, len, init, opts);
}

MP_EXPORT mp_array *mp_raw_array_new(mp_ctype t, size_t len, const void *init) {
  return mp_array_new(t, len, init, &(mp_value_opts){.raw = true});
}

MP_EXPORT mp_lock *mp_array_get_lock(const mp_array *a) { return a ? a->s.lock : NULL; }
MP_EXPORT void *mp_array_get_obj(const mp_array *a) { return a ? a->s.data : NULL; }
MP_EXPORT char mp_array_typecode(const mp_array *a) { return a ? a->s.code : 0; }
MP_EXPORT size_t mp_array_elem_size(const mp_array *a) { return a ? a->s.esize : 0; }
MP_EXPORT size_t mp_array_len(const mp_array *a) { return a ? a->s.count : 0; }

MP_EXPORT int mp_array_get_int(const mp_array *a, ptrdiff_t i, int64_t *out) {
  return mp__sv_get_num(CSV(a), i, MP__SV_INT, out);
}
MP_EXPORT int mp_array_get_uint(const mp_array *a, ptrdiff_t i, uint64_t *out) {
  return mp__sv_get_num(CSV(a), i, MP__SV_UINT, out);
}
MP_EXPORT int mp_array_get_double(const mp_array *a, ptrdiff_t i, double *out) {
  return mp__sv_get_num(CSV(a), i, MP__SV_DOUBLE, out);
}
MP_EXPORT int mp_array_set_int(mp_array *a, ptrdiff_t i, int64_t x) {
  return mp__sv_set_num(SV(a), i, MP__SV_INT, &x);
}
MP_EXPORT int mp_array_set_uint(mp_array *a, ptrdiff_t i, uint64_t x) {
  return mp__sv_set_num(SV(a), i, MP__SV_UINT, &x);
}
MP_EXPORT int mp_array_set_double(mp_array *a, ptrdiff_t i, double x) {
  return mp__sv_set_num(SV(a), i, MP__SV_DOUBLE, &x);
}

/* Element i's index from the front, or MP_EINDEX. */
static int index_of(const mp_array *a, ptrdiff_t i, size_t *out) {
  if (!a)
    return -EINVAL;
  const char *p = mp__sv_elem(&a->s, i);
  if (!p)
    return MP_EINDEX;
  *out = (size_t)(p - a->s.data) / a->s.esize;
  return 0;
}

MP_EXPORT int mp_array_get(const mp_array *a, ptrdiff_t i, void *out) {
  size_t k;
  int r = index_of(a, i, &k);
  return r < 0 ? r : mp__sv_read(CSV(a), k, 1, out);
}
MP_EXPORT int mp_array_set(mp_array *a, ptrdiff_t i, const void *in) {
  size_t k;
  int r = index_of(a, i, &k);
  return r < 0 ? r : mp__sv_write(SV(a), k, 1, in);
}
MP_EXPORT int mp_array_read(const mp_array *a, size_t start, size_t n, void *out) {
  return mp__sv_read(CSV(a), start, n, out);
}
MP_EXPORT int mp_array_write(mp_array *a, size_t start, size_t n, const void *in) {
  return mp__sv_write(SV(a), start, n, in);
}

MP_EXPORT mp_array *mp_array_copy(const mp_array *a) { return (mp_array *)mp__sv_copy(CSV(a)); }
MP_EXPORT mp_array *mp_array_synchronized(const mp_array *a, mp_lock *lock) {
  return (mp_array *)mp__sv_synchronized(CSV(a), lock);
}
MP_EXPORT int mp_array_handle(const mp_array *a, mp_handle *h) { return mp__sv_handle(CSV(a), h); }
MP_EXPORT mp_array *mp_array_open(const mp_handle *h) {
  return (mp_array *)mp__sv_open(h, MP_TYPE_ARRAY);
}
MP_EXPORT void mp_array_free(mp_array *a) { mp__sv_free(SV(a)); }
