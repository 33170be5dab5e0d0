/* mproc/obj.h: typed values — what Python passes around between processes
 * (None, bool, int, float, str, bytes, bytearray, list, tuple, dict, set,
 * frozenset) as one C type,
 * plus an ext kind for other areas' own types (a manager's proxies),
 * mp_obj, for what needs them: connections (send_obj/recv_obj), queues
 * (put_obj/get_obj) and managers (dict and list proxies, method calls).
 * Objects print exactly like Python's repr(), compare and hash with Python's
 * semantics (1 == 1.0 == True, also as dict keys), and travel as MessagePack.
 *
 * Ownership: objects are reference counted.
 *  - A function that returns mp_obj * (constructors, mp_obj_copy, ...)
 *    returns a NEW reference: the caller owns it and drops it with
 *    mp_obj_unref() (or its alias mp_obj_free()). They return NULL with errno
 *    set on failure (ENOMEM; EINVAL; -MP_EVALUE, -MP_ETYPE for library codes,
 *    see errors.h and mp_errno_code()).
 *  - Out-parameters say what they hand over: "borrowed" references live as
 *    long as the container holds them (do not unref them); "new" references
 *    belong to the caller.
 *  - Functions that store an object in a container BORROW it by default:
 *    the container takes its own reference and the caller keeps theirs
 *    (mp_obj_list_append). The _steal variants take over the caller's
 *    reference instead (mp_obj_list_append_steal(l, mp_obj_int(1))), and
 *    always consume it, even when they fail. Passed NULL as the stolen
 *    object (a constructor that failed), they return the constructor's error,
 *    mp_errno_code(errno) (-ENOMEM, say), so calls chain without leaks.
 *  - None, True and False are immortal singletons: their constructors never
 *    fail, and ref/unref do nothing to them.
 *  - mp_obj_unref(NULL) and mp_obj_free(NULL) do nothing.
 *  - Containers nest freely (a list inside a list inside a dict). A container
 *    that contains itself, directly or not, is a cycle: there is no cycle
 *    collector, so it is never freed unless the cycle is broken first
 *    (mp_obj_list_clear). repr prints such a cycle as Python does ([[...]]).
 *
 * Limits: int is int64_t (Python's larger ints are out of range: MP_EVALUE
 * on decode). Operations that walk nested containers (repr, equal, hash,
 * deep copy, encode, decode) stop at MP_OBJ_MAX_DEPTH levels with
 * MP_EVALUE, Python's RecursionError. A str holds valid UTF-8 (no
 * surrogates); it may contain NUL characters.
 *
 * Thread-safety: reference counts are atomic, so references to one object
 * may be taken and dropped from several threads at once. The object itself
 * is not locked: any number of threads may read it (repr, encode, get, ...)
 * while nobody modifies it; a modification needs the caller's own lock.
 *
 * Errors: functions returning int return 0 on success or a negative code:
 * -EINVAL for NULL or malformed arguments, -ENOMEM, MP_ETYPE (wrong type:
 * Python's TypeError), MP_EINDEX (IndexError), MP_EKEY (KeyError),
 * MP_EVALUE (ValueError), MP_EDECODE (malformed encoded data). A call that
 * fails leaves its arguments as they were (except that _steal consumes). */
#ifndef MPROC_OBJ_H
#define MPROC_OBJ_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "errors.h"

MP_EXTERN_C_BEGIN

typedef struct mp_obj mp_obj;

/* The types, in the order Python's reprs of mixed containers do not care
 * about: the values are stable and may be stored. */
typedef enum mp_obj_type {
  MP_OBJ_NONE = 0,
  MP_OBJ_BOOL = 1,
  MP_OBJ_INT = 2,
  MP_OBJ_FLOAT = 3,
  MP_OBJ_STR = 4,
  MP_OBJ_BYTES = 5,
  MP_OBJ_LIST = 6,
  MP_OBJ_TUPLE = 7,
  MP_OBJ_DICT = 8,
  MP_OBJ_EXT = 9, /* an application-defined MessagePack ext: code + bytes */
  MP_OBJ_SET = 10,       /* Python's set: mutable, unhashable */
  MP_OBJ_FROZENSET = 11, /* frozenset: a set that is hashable */
  MP_OBJ_BYTEARRAY = 12, /* bytearray: bytes, but unhashable */
  MP_OBJ_PYOBJ = 13, /* a Python object as its pickle recipe (pickle.h) */
} mp_obj_type;

/* How deep nested containers may go for repr, equal, hash, copy, encode and
 * decode: deeper is MP_EVALUE (decode: MP_EDECODE). */
#define MP_OBJ_MAX_DEPTH 512

/* ---- Constructors: each returns a new reference, or NULL with errno ---- */

/* None, True/False: immortal singletons; never NULL. */
MP_EXPORT mp_obj *mp_obj_none(void);
MP_EXPORT mp_obj *mp_obj_bool(bool v);
MP_EXPORT mp_obj *mp_obj_int(int64_t v);
MP_EXPORT mp_obj *mp_obj_float(double v);
/* A str from NUL-terminated UTF-8 (copied). Invalid UTF-8 (overlong forms,
 * surrogates, beyond U+10FFFF) gives NULL with errno = -MP_EVALUE; a NULL s
 * gives EINVAL. */
MP_EXPORT mp_obj *mp_obj_str(const char *s);
/* The same from len bytes, which may include NUL characters. */
MP_EXPORT mp_obj *mp_obj_strn(const char *s, size_t len);
/* printf into a new str (the result must be valid UTF-8). */
MP_EXPORT mp_obj *mp_obj_strf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
/* Bytes: len bytes copied from p (p may be NULL when len is 0). */
MP_EXPORT mp_obj *mp_obj_bytes(const void *p, size_t len);
/* An application-defined MessagePack ext value: a type code and len bytes
 * (copied). It lets another area carry its own kind of value inside mp_obj
 * (a manager's proxy token, say). Immutable and hashable; equal when code
 * and bytes are; repr as Python's msgpack.ExtType: ExtType(code=5,
 * data=b'...'). Codes MP_OBJ_EXT_TUPLE..MP_OBJ_EXT_BYTEARRAY are reserved: EINVAL. */
MP_EXPORT mp_obj *mp_obj_ext(int8_t code, const void *data, size_t len);
/* An empty list / dict. */
MP_EXPORT mp_obj *mp_obj_list_new(void);
MP_EXPORT mp_obj *mp_obj_dict_new(void);
/* An empty set / frozenset (fill a frozenset with mp_obj_set_add before
 * sharing it or using it as a key: it is immutable in Python). */
MP_EXPORT mp_obj *mp_obj_set_new(void);
MP_EXPORT mp_obj *mp_obj_frozenset_new(void);
/* A bytearray of len bytes copied from p (p may be NULL when len is 0).
 * It equals the bytes of the same contents, as in Python, but is not
 * hashable. mp_obj_bytes_value reads it. */
MP_EXPORT mp_obj *mp_obj_bytearray(const void *p, size_t len);
/* A tuple of n items, each None until set with mp_obj_tuple_set. */
MP_EXPORT mp_obj *mp_obj_tuple_new(size_t n);

/* Python's Py_BuildValue, for writing values in one line:
 *   mp_obj_build("[i N s]", 42, "hello")        -> [42, None, 'hello']
 *   mp_obj_build("{s: i, s: (f, b)}", "a", 1, "b", 0.5, 1)
 *                                               -> {'a': 1, 'b': (0.5, True)}
 * Format units (each takes the C arguments named):
 *   N        None (no argument)
 *   b        bool from int
 *   i        int from int;  l  from long;  L  from long long / int64_t
 *   K        int from unsigned long long (over INT64_MAX: -MP_EVALUE)
 *   f, d     float from double (a float argument is promoted to double)
 *   s        str from const char * (UTF-8; NULL gives None)
 *   s#       str from const char *, size_t length
 *   y        bytes from a NUL-terminated const char *
 *   y#       bytes from const void *, size_t length
 *   O        an mp_obj * (borrowed: the result takes its own reference;
 *            NULL is EINVAL)
 *   X        an mp_obj * whose reference the result takes over (steals,
 *            also when the build fails)
 *   [...]    a list, (...) a tuple, {k: v, ...} a dict of the units inside
 * Spaces, commas and colons between units are ignored. An empty format
 * gives None; several units at the top level give a tuple, as in
 * Py_BuildValue. Returns a new reference, or NULL with errno: EINVAL for a
 * malformed format (in which case X arguments after the fault may leak: a
 * format error is a programming error), -MP_ETYPE for an unhashable dict
 * key, -MP_EVALUE for invalid UTF-8, ENOMEM. */
MP_EXPORT mp_obj *mp_obj_build(const char *fmt, ...);
MP_EXPORT mp_obj *mp_obj_buildv(const char *fmt, va_list ap);

/* ---- References ---------------------------------------------------------- */

/* Takes one more reference to o and returns o (NULL gives NULL). */
MP_EXPORT mp_obj *mp_obj_ref(mp_obj *o);
/* Drops one reference; the last one frees o and drops the references it
 * holds (iteratively: any nesting depth is safe). NULL does nothing. */
MP_EXPORT void mp_obj_unref(mp_obj *o);
/* The same as mp_obj_unref: every _new has a _free. */
MP_EXPORT void mp_obj_free(mp_obj *o);

/* ---- Type, truth, length ----------------------------------------------- */

/* The object's type. o must not be NULL. */
MP_EXPORT mp_obj_type mp_obj_get_type(const mp_obj *o);
/* Python's type(o).__name__: "NoneType", "bool", "int", "float", "str",
 * "bytes", "list", "tuple", "dict", "set", "frozenset", "bytearray"
 * ("ExtType" for ext, "pyobject" for a Python object's recipe). A static
 * string. */
MP_EXPORT const char *mp_obj_type_name(const mp_obj *o);
/* Python's bool(o): False for None, False, 0, 0.0, and empty str, bytes,
 * bytearray, list, tuple, dict, set and frozenset; True otherwise. */
MP_EXPORT bool mp_obj_truthy(const mp_obj *o);
/* Python's len(o) into *len: code points of a str, bytes of a bytes or
 * bytearray, items of a list, tuple, dict, set or frozenset. Other types:
 * MP_ETYPE. */
MP_EXPORT int mp_obj_len(const mp_obj *o, size_t *len);

/* ---- Scalar accessors (wrong type: MP_ETYPE) --------------------------- */

/* A bool's value into *out (an int is not a bool here: MP_ETYPE). */
MP_EXPORT int mp_obj_bool_value(const mp_obj *o, bool *out);
/* An int, or a bool as 0/1 (in Python bool is a subtype of int). */
MP_EXPORT int mp_obj_int_value(const mp_obj *o, int64_t *out);
/* A float, or an int or bool converted as Python's float() does. */
MP_EXPORT int mp_obj_float_value(const mp_obj *o, double *out);
/* A str's UTF-8 bytes, NUL-terminated, and their number (without the NUL).
 * Borrowed: valid while o lives. len may be NULL. */
MP_EXPORT int mp_obj_str_value(const mp_obj *o, const char **s, size_t *len);
/* A bytes' or bytearray's contents (also followed by a NUL, not counted).
 * Borrowed. */
MP_EXPORT int mp_obj_bytes_value(const mp_obj *o, const void **p, size_t *len);
/* An ext value's code and bytes (borrowed); code and len may be NULL. */
MP_EXPORT int mp_obj_ext_value(const mp_obj *o, int8_t *code, const void **data,
                               size_t *len);

/* ---- Lists and tuples ---------------------------------------------------
 * Indices are Python's: negative counts from the end. The read-only calls
 * (get, index, count, get_slice) also accept a tuple; the others need a list
 * (a tuple gives MP_ETYPE). Items out of range: MP_EINDEX. */

/* Appends item (borrowed: the list takes its own reference). */
MP_EXPORT int mp_obj_list_append(mp_obj *list, mp_obj *item);
MP_EXPORT int mp_obj_list_append_steal(mp_obj *list, mp_obj *item);
/* Python's list.insert(i, item): i is clamped to the list, never an error. */
MP_EXPORT int mp_obj_list_insert(mp_obj *list, ptrdiff_t i, mp_obj *item);
MP_EXPORT int mp_obj_list_insert_steal(mp_obj *list, ptrdiff_t i, mp_obj *item);
/* Python's list.extend(seq): seq a list or tuple (may be list itself). */
MP_EXPORT int mp_obj_list_extend(mp_obj *list, const mp_obj *seq);
/* *item = list[i], borrowed. */
MP_EXPORT int mp_obj_list_get(const mp_obj *list, ptrdiff_t i, mp_obj **item);
/* list[i] = item (borrowed / stolen); the old item is dropped. */
MP_EXPORT int mp_obj_list_set(mp_obj *list, ptrdiff_t i, mp_obj *item);
MP_EXPORT int mp_obj_list_set_steal(mp_obj *list, ptrdiff_t i, mp_obj *item);
/* del list[i]. */
MP_EXPORT int mp_obj_list_delete(mp_obj *list, ptrdiff_t i);
/* Python's list.pop(i): removes list[i] and hands it over in *item as a new
 * reference (item may be NULL to drop it). Empty list or bad i: MP_EINDEX. */
MP_EXPORT int mp_obj_list_pop(mp_obj *list, ptrdiff_t i, mp_obj **item);
/* The number of items of a list or tuple (0 for other types). */
MP_EXPORT size_t mp_obj_list_len(const mp_obj *list);
/* Python's list.clear(). */
MP_EXPORT int mp_obj_list_clear(mp_obj *list);

/* Slices: list[start:stop:step] with Python's rules. MP_SLICE_NONE stands
 * for an omitted bound (list[:3] is start = MP_SLICE_NONE, stop = 3, step =
 * MP_SLICE_NONE or 1). A step of 0 is MP_EVALUE. */
#define MP_SLICE_NONE PTRDIFF_MIN
/* A new list (a new tuple when seq is a tuple) of the slice, in *out. */
MP_EXPORT int mp_obj_list_get_slice(const mp_obj *seq, ptrdiff_t start,
                                    ptrdiff_t stop, ptrdiff_t step,
                                    mp_obj **out);
/* list[start:stop:step] = items (a list or tuple, may be list itself). With
 * step 1 the slice may change size; an extended slice (step != 1) needs as
 * many items as it has places, else MP_EVALUE. */
MP_EXPORT int mp_obj_list_set_slice(mp_obj *list, ptrdiff_t start,
                                    ptrdiff_t stop, ptrdiff_t step,
                                    const mp_obj *items);
/* del list[start:stop:step]. */
MP_EXPORT int mp_obj_list_del_slice(mp_obj *list, ptrdiff_t start,
                                    ptrdiff_t stop, ptrdiff_t step);
/* Python's seq.index(item): the first i with seq[i] == item, in *pos.
 * Not found: MP_EVALUE. */
MP_EXPORT int mp_obj_list_index(const mp_obj *seq, const mp_obj *item,
                                size_t *pos);
/* Python's seq.count(item), in *count. */
MP_EXPORT int mp_obj_list_count(const mp_obj *seq, const mp_obj *item,
                                size_t *count);
/* Python's list.remove(item): removes the first equal item; MP_EVALUE if
 * there is none. */
MP_EXPORT int mp_obj_list_remove(mp_obj *list, const mp_obj *item);
/* Python's list.reverse(). */
MP_EXPORT int mp_obj_list_reverse(mp_obj *list);
/* Python's list.sort(reverse=...): stable, with Python's ordering (see
 * mp_obj_less). Items that cannot be compared (an int and a str, None
 * and anything, dicts): MP_ETYPE, and the list is left as it was. */
MP_EXPORT int mp_obj_list_sort(mp_obj *list, bool reverse);

/* Tuples: t[i] (borrowed) and setting an item (borrowed / stolen) of a
 * tuple being filled. Tuples are immutable in Python: set items only
 * before the tuple is shared or used as a dict key. */
MP_EXPORT int mp_obj_tuple_get(const mp_obj *tuple, ptrdiff_t i, mp_obj **item);
MP_EXPORT int mp_obj_tuple_set(mp_obj *tuple, ptrdiff_t i, mp_obj *item);
MP_EXPORT int mp_obj_tuple_set_steal(mp_obj *tuple, ptrdiff_t i, mp_obj *item);

/* ---- Dicts -------------------------------------------------------------
 * Insertion-ordered, as Python's. Keys must be hashable (None, bool, int,
 * float, str, bytes, tuples of hashables); a list or dict key is MP_ETYPE.
 * Equal keys are the same key whatever their type: d[1], d[1.0] and d[True]
 * are one entry (and, as in Python, the first key inserted stays). Do not
 * modify a dict while iterating it with mp_obj_dict_next. */

/* *value = d[key], borrowed. Missing: MP_EKEY. */
MP_EXPORT int mp_obj_dict_get(const mp_obj *d, const mp_obj *key,
                              mp_obj **value);
/* The same for a str key given as a C string (no allocation). */
MP_EXPORT int mp_obj_dict_get_str(const mp_obj *d, const char *key,
                                  mp_obj **value);
/* d[key] = value. The _steal variant takes over both references. */
MP_EXPORT int mp_obj_dict_set(mp_obj *d, mp_obj *key, mp_obj *value);
MP_EXPORT int mp_obj_dict_set_steal(mp_obj *d, mp_obj *key, mp_obj *value);
/* d["key"] = value, key a C string (UTF-8). */
MP_EXPORT int mp_obj_dict_set_str(mp_obj *d, const char *key, mp_obj *value);
MP_EXPORT int mp_obj_dict_set_str_steal(mp_obj *d, const char *key,
                                        mp_obj *value);
/* del d[key]. Missing: MP_EKEY. */
MP_EXPORT int mp_obj_dict_delete(mp_obj *d, const mp_obj *key);
/* Python's `key in d`: 1 or 0, or a negative code (unhashable: MP_ETYPE). */
MP_EXPORT int mp_obj_dict_contains(const mp_obj *d, const mp_obj *key);
/* The number of items (0 for other types). */
MP_EXPORT size_t mp_obj_dict_len(const mp_obj *d);
/* Iterates in insertion order: start with *pos = 0; each call gives the next
 * key and value (borrowed; either pointer may be NULL) and returns true, then
 * false at the end. As PyDict_Next. */
MP_EXPORT bool mp_obj_dict_next(const mp_obj *d, size_t *pos, mp_obj **key,
                                mp_obj **value);
/* New lists of the keys, the values, and the (key, value) tuples, in
 * insertion order (Python's list(d.keys()), ...). */
MP_EXPORT int mp_obj_dict_keys(const mp_obj *d, mp_obj **out);
MP_EXPORT int mp_obj_dict_values(const mp_obj *d, mp_obj **out);
MP_EXPORT int mp_obj_dict_items(const mp_obj *d, mp_obj **out);
/* Python's d.update(other): other a dict, or a list or tuple of 2-item
 * lists or tuples (anything else: MP_ETYPE; a pair of another length:
 * MP_EVALUE). On failure d may hold the pairs before the faulty one, as in
 * Python. */
MP_EXPORT int mp_obj_dict_update(mp_obj *d, const mp_obj *other);
/* Python's d.pop(key[, dflt]): removes key and hands its value over in
 * *value (a new reference; value may be NULL to drop it). Missing key:
 * *value = a new reference to dflt when dflt is not NULL, else MP_EKEY. */
MP_EXPORT int mp_obj_dict_pop(mp_obj *d, const mp_obj *key, mp_obj *dflt,
                              mp_obj **value);
/* Python's d.popitem(): removes the last inserted item (LIFO) and hands over
 * its key and value (new references; either pointer may be NULL to drop).
 * Empty dict: MP_EKEY. */
MP_EXPORT int mp_obj_dict_popitem(mp_obj *d, mp_obj **key, mp_obj **value);
/* Python's d.setdefault(key, dflt): *value = d[key] if present, else inserts
 * dflt (None if NULL) and gives it. *value is borrowed (may be NULL). */
MP_EXPORT int mp_obj_dict_setdefault(mp_obj *d, mp_obj *key, mp_obj *dflt,
                                     mp_obj **value);
/* Python's d.clear(). */
MP_EXPORT int mp_obj_dict_clear(mp_obj *d);

/* ---- Sets and frozensets ------------------------------------------------
 * Hashed like dict keys (1, 1.0 and True are one item), in insertion order
 * (Python's order is by hash; only repr shows the difference). A set and a
 * frozenset of equal items are equal; a frozenset hashes as Python's does.
 * The read-only calls take either; add takes either (build a frozenset
 * before sharing it); remove needs a set. An unhashable item: MP_ETYPE. */

/* set.add(item) (borrowed / stolen). */
MP_EXPORT int mp_obj_set_add(mp_obj *set, mp_obj *item);
MP_EXPORT int mp_obj_set_add_steal(mp_obj *set, mp_obj *item);
/* Python's `item in set`: 1 or 0, or a negative code. */
MP_EXPORT int mp_obj_set_contains(const mp_obj *set, const mp_obj *item);
/* set.remove(item): missing is MP_EKEY. */
MP_EXPORT int mp_obj_set_remove(mp_obj *set, const mp_obj *item);
/* The number of items (0 for other types). */
MP_EXPORT size_t mp_obj_set_len(const mp_obj *set);
/* Iterates as mp_obj_dict_next: *pos = 0 first; *item borrowed. */
MP_EXPORT bool mp_obj_set_next(const mp_obj *set, size_t *pos, mp_obj **item);

/* ---- Whole objects --------------------------------------------------------- */

/* Python's copy.copy: a new list/dict/tuple holding the same items (new
 * references to them); other types: another reference to o. */
MP_EXPORT mp_obj *mp_obj_copy(mp_obj *o);
/* Python's copy.deepcopy: new containers all the way down (objects that
 * appear twice are copied twice; a cycle is MP_EVALUE). Immutable scalars
 * are shared. */
MP_EXPORT mp_obj *mp_obj_deepcopy(mp_obj *o);

/* Python's a == b: numbers compare by value across bool, int and float
 * (exactly: 2**53 + 1 != 2.0**53), NaN equals nothing (but a container
 * holding the very same NaN object equals itself, as in Python), containers
 * compare item by item, dicts regardless of order. NULL equals only NULL.
 * Deeper than MP_OBJ_MAX_DEPTH compares unequal. */
MP_EXPORT bool mp_obj_equal(const mp_obj *a, const mp_obj *b);
/* Python's a < b into *out: numbers with numbers, str with str (code point
 * order), bytes with bytes, lists with lists and tuples with tuples
 * (lexicographic). Anything else (None, dicts, mixed types): MP_ETYPE. */
MP_EXPORT int mp_obj_less(const mp_obj *a, const mp_obj *b, bool *out);
/* Python's hash(o) into *out. Numbers hash exactly as in Python (hash(1) ==
 * hash(1.0) == hash(True) == 1, hash(-1) == -2, hash(0.5) ==
 * 1152921504606846976), tuples combine their items' hashes as CPython
 * does; str and bytes use SipHash with a key random per process (as Python
 * without PYTHONHASHSEED). list and dict: MP_ETYPE. */
MP_EXPORT int mp_obj_hash(const mp_obj *o, int64_t *out);

/* ---- Text ------------------------------------------------------------------- */

/* Python's repr(o) into a new NUL-terminated string *out (free with
 * mp_free); its length in *len (len may be NULL). Exactly Python's text:
 * floats in the shortest form that reads back (0.1, 1.0, 1e+16, 1.5e-05,
 * inf, nan, -0.0), str with Python's quote choice and escapes, bytes as
 * b'...', (1,), {1: 'a'}, True, None. */
MP_EXPORT int mp_obj_repr(const mp_obj *o, char **out, size_t *len);
/* Python's str(o): a str's own text without quotes, repr for the rest. */
MP_EXPORT int mp_obj_to_string(const mp_obj *o, char **out, size_t *len);
/* Python's print(o, file=f): str(o) and a newline. Returns 0, -ENOMEM, or
 * -EIO when writing fails. */
MP_EXPORT int mp_obj_print(const mp_obj *o, FILE *f);

/* ---- MessagePack ---------------------------------------------------------------
 * None = nil, bool = bool, int = the smallest int format, float = float 64,
 * str = str (UTF-8), bytes = bin, list = array, dict = map, tuple = ext type
 * MP_OBJ_EXT_TUPLE whose data is the msgpack array of its items (docs/
 * design-notes.md), set and frozenset the same with their own ext codes,
 * bytearray = ext MP_OBJ_EXT_BYTEARRAY of its bytes, an ext value = that
 * ext. Decoding also accepts float 32
 * and reads any other ext type as an ext value; an unsigned value over
 * INT64_MAX is MP_EVALUE; invalid UTF-8, unhashable map keys, nesting
 * deeper than MP_OBJ_MAX_DEPTH, trailing bytes and truncation are
 * MP_EDECODE. A repeated map key keeps the last value, as Python. */
#define MP_OBJ_EXT_TUPLE 1
#define MP_OBJ_EXT_SET 2
#define MP_OBJ_EXT_FROZENSET 3
#define MP_OBJ_EXT_BYTEARRAY 4

/* The encoded size of o, in *len. */
MP_EXPORT int mp_obj_encoded_size(const mp_obj *o, size_t *len);
/* Encodes o into a new buffer *buf (free with mp_free) of *len bytes. */
MP_EXPORT int mp_obj_encode(const mp_obj *o, void **buf, size_t *len);
/* Encodes o into buf (cap bytes); *len = bytes written. If it does not fit:
 * MP_ETOOSHORT with *len = the size needed, buf unchanged beyond cap. */
MP_EXPORT int mp_obj_encode_into(const mp_obj *o, void *buf, size_t cap,
                                 size_t *len);
/* Appends o's encoding to a growable buffer: *buf (NULL at first, allocated
 * with the library's allocator, free with mp_free) holds *len bytes in *cap
 * allocated ones; both grow as needed. On failure nothing is appended. */
MP_EXPORT int mp_obj_encode_append(const mp_obj *o, void **buf, size_t *len,
                                   size_t *cap);
/* Decodes exactly one object spanning all len bytes into *out (a new
 * reference). Garbage is MP_EDECODE (never a crash; memory allocated is
 * bounded by a small multiple of len). */
MP_EXPORT int mp_obj_decode(const void *buf, size_t len, mp_obj **out);
/* Decodes the one object at the start of buf, for streams of several:
 * *used = its encoded length. An incomplete object is MP_ETRUNCATED. */
MP_EXPORT int mp_obj_decode_prefix(const void *buf, size_t len, size_t *used,
                                   mp_obj **out);

MP_EXTERN_C_END

#endif
