/* pickle_internal.h: what the pickle encoder (pickle_enc.c) and decoder
 * (pickle_dec.c) share: the opcodes, by the names Lib/pickle.py gives them,
 * and the frame size CPython's pickler aims at. */
#ifndef MPROC_PICKLE_INTERNAL_H
#define MPROC_PICKLE_INTERNAL_H

#include "mproc/pickle.h"
#include "obj/obj_internal.h"

enum {
  PK_MARK = '(', PK_STOP = '.', PK_POP = '0', PK_POP_MARK = '1', PK_DUP = '2',
  PK_FLOAT = 'F', PK_INT = 'I', PK_BININT = 'J', PK_BININT1 = 'K',
  PK_LONG = 'L', PK_BININT2 = 'M', PK_NONE = 'N', PK_PERSID = 'P',
  PK_BINPERSID = 'Q', PK_REDUCE = 'R', PK_STRING = 'S', PK_BINSTRING = 'T',
  PK_SHORT_BINSTRING = 'U', PK_UNICODE = 'V', PK_BINUNICODE = 'X',
  PK_APPEND = 'a', PK_BUILD = 'b', PK_GLOBAL = 'c', PK_DICT = 'd',
  PK_EMPTY_DICT = '}', PK_APPENDS = 'e', PK_GET = 'g', PK_BINGET = 'h',
  PK_INST = 'i', PK_LONG_BINGET = 'j', PK_LIST = 'l', PK_EMPTY_LIST = ']',
  PK_OBJ = 'o', PK_PUT = 'p', PK_BINPUT = 'q', PK_LONG_BINPUT = 'r',
  PK_SETITEM = 's', PK_TUPLE = 't', PK_EMPTY_TUPLE = ')', PK_SETITEMS = 'u',
  PK_BINFLOAT = 'G',
  /* protocol 2 */
  PK_PROTO = 0x80, PK_NEWOBJ = 0x81, PK_EXT1 = 0x82, PK_EXT2 = 0x83,
  PK_EXT4 = 0x84, PK_TUPLE1 = 0x85, PK_TUPLE2 = 0x86, PK_TUPLE3 = 0x87,
  PK_NEWTRUE = 0x88, PK_NEWFALSE = 0x89, PK_LONG1 = 0x8a, PK_LONG4 = 0x8b,
  /* protocol 3 */
  PK_BINBYTES = 'B', PK_SHORT_BINBYTES = 'C',
  /* protocol 4 */
  PK_SHORT_BINUNICODE = 0x8c, PK_BINUNICODE8 = 0x8d, PK_BINBYTES8 = 0x8e,
  PK_EMPTY_SET = 0x8f, PK_ADDITEMS = 0x90, PK_FROZENSET = 0x91,
  PK_NEWOBJ_EX = 0x92, PK_STACK_GLOBAL = 0x93, PK_MEMOIZE = 0x94,
  PK_FRAME = 0x95,
  /* protocol 5 */
  PK_BYTEARRAY8 = 0x96, PK_NEXT_BUFFER = 0x97, PK_READONLY_BUFFER = 0x98,
};

/* CPython's _FRAME_SIZE_TARGET: a frame is closed once it holds this much;
 * and _FRAME_SIZE_MIN: a smaller pickle gets no FRAME at all. */
#define MP__PK_FRAME_TARGET (64 * 1024)
#define MP__PK_FRAME_MIN 4

/* CPython's BATCHSIZE: APPENDS / SETITEMS / ADDITEMS carry at most this
 * many items each. */
#define MP__PK_BATCH 1000

/* An n-byte little-endian unsigned value (n <= 8). */
static inline uint64_t mp__pk_le(const unsigned char *p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

/* Records "pickle: <message>" as the thread's error and returns
 * MP_EDECODE (pickle_dec.c). */
int mp__pk_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* pickle_text.c: each sets *out to a new object or returns an error. */
int mp__pk_utf8_str(mp__arena *a, const char *s, size_t n, mp_obj **out); /* a NULL: no arena */
int mp__pk_raw_unicode(const char *s, size_t n, mp_obj **out);
int mp__pk_ascii_str(const char *s, size_t n, mp_obj **out);
int mp__pk_quoted_string(const char *s, size_t n, mp_obj **out);
int mp__pk_long_bytes(const unsigned char *p, size_t n, mp_obj **out);
int mp__pk_text_int(const char *s, size_t n, bool is_long, mp_obj **out);
int mp__pk_text_float(const char *s, size_t n, mp_obj **out);

/* pickle_graph.c: 0, or MP_EDECODE when root nests too deep, contains
 * itself (unless cycles_ok) or expands beyond max_nodes; -ENOMEM. */
int mp__pk_check_graph(const mp_obj *root, size_t max_nodes, bool cycles_ok);

/* A recipe from its parts (new references, all stolen, also on failure;
 * args and state may be NULL for None). pyobj.c. */
mp_obj *mp__pyobj_new(mp_pyobj_kind kind, mp_obj *module, mp_obj *name,
                      mp_obj *args, mp_obj *state);

#endif
