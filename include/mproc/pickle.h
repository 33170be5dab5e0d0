/* mproc/pickle.h: mp_obj as Python's pickle, data only, so that a C program
 * and a Python program exchange objects (Connection.send/recv, managers).
 *
 * Encoding writes protocols 2 to 5 with the opcodes CPython's own pickler
 * writes for the same values (default: protocol 4, what CPython 3.11's
 * multiprocessing.reduction.ForkingPickler uses, pickle.DEFAULT_PROTOCOL).
 * Decoding reads protocols 0 to 5 and never runs anything: a global
 * (GLOBAL, STACK_GLOBAL, INST, OBJ, EXT1/2/4) is refused with MP_EDECODE
 * naming it (mp_last_error()'s message: "pickle: global 'mod.name' is not
 * allowed"), except the allowlist data needs: builtins.set, frozenset,
 * bytearray and bytes, _codecs.encode (protocol 2's bytes),
 * collections.OrderedDict (a dict), also under their Python 2 names
 * (__builtin__). A caller may accept more with find_class, as Python's
 * Unpickler.find_class, or keep what it cannot represent as inert data
 * (MP_PICKLE_KEEP_OBJECTS, MP_OBJ_PYOBJ below). Python 2 module names in
 * protocol 0-2 pickles are mapped to Python 3's, as CPython's Unpickler
 * does. See docs/python-interop.md for every opcode.
 *
 * Kinds: None, bool, int (int64: a larger int is MP_EDECODE), float, str
 * (a lone surrogate is MP_EDECODE: a str holds valid UTF-8), bytes,
 * bytearray, list, tuple, dict, set, frozenset. Shared references (the
 * memo) decode as shared objects: an object that appears twice in the
 * pickle is one mp_obj referenced twice. An ext value does not encode
 * (MP_ETYPE).
 *
 * Limits, for streams from an untrusted peer: memory is bounded by a small
 * multiple of the input length (announced lengths are checked against the
 * bytes left, memo indices against the input length); the result may nest
 * MP_OBJ_MAX_DEPTH levels; the tree the result would be if every shared
 * reference were copied may have at most max_nodes nodes (default: 64 per
 * input byte, at least 65536), so that a short pickle that shares one list
 * a million times is refused before anything walks it (repr, encode, hash
 * would take that long); a recursive structure (a list that contains
 * itself) is refused unless MP_PICKLE_ALLOW_CYCLES is given, since mp_obj
 * has no cycle collector to free it. Out-of-band buffers (protocol 5's
 * NEXT_BUFFER, READONLY_BUFFER) and persistent ids are refused.
 *
 * Errors: MP_EDECODE for malformed or refused input (with a message in
 * mp_last_error()), -ENOMEM, -EINVAL for NULL arguments; the encoder
 * MP_EVALUE for a protocol outside 2..5 or nesting deeper than
 * MP_OBJ_MAX_DEPTH, MP_ETYPE for an ext value.
 *
 * Thread-safety: as mp_obj: any threads may encode one object while nobody
 * modifies it; decoding touches only what it creates. */
#ifndef MPROC_PICKLE_H
#define MPROC_PICKLE_H

#include <stddef.h>

#include "errors.h"
#include "obj.h"

MP_EXTERN_C_BEGIN

#define MP_PICKLE_DEFAULT_PROTOCOL 4
#define MP_PICKLE_HIGHEST_PROTOCOL 5

/* ---- Python objects as data ------------------------------------------------
 * What pickle says about an object that is not plain data, kept as inert
 * data instead of being run: "call module.name with args" (REDUCE, e.g.
 * an exception KeyError('x')), "module.name.__new__(module.name, *args)"
 * (NEWOBJ, e.g. a manager's Token), or a bare reference to a class or
 * function; then an optional state (BUILD, __setstate__). The decoder makes
 * these when MP_PICKLE_KEEP_OBJECTS is given, the encoder writes them back
 * with the same opcodes, so a C program can read, make and forward Python
 * objects it cannot represent (a manager's replies and requests) without
 * running them. Immutable once made; unhashable; repr as Python prints an
 * exception (KeyError('x')) or a class (<class 'mod.name'>); not carried
 * by MessagePack (MP_ETYPE). */
typedef enum mp_pyobj_kind {
  MP_PYOBJ_CALL = 0, /* module.name(*args), pickle's REDUCE */
  MP_PYOBJ_NEW = 1,  /* cls.__new__(cls, *args), NEWOBJ */
  MP_PYOBJ_REF = 2,  /* the global itself (args is None) */
} mp_pyobj_kind;

/* A new recipe: module and name (UTF-8, copied), args a tuple (borrowed;
 * ignored for MP_PYOBJ_REF), state the BUILD argument or NULL for none
 * (borrowed). NULL with errno EINVAL (bad arguments) or ENOMEM. */
MP_EXPORT mp_obj *mp_obj_pyobj(mp_pyobj_kind kind, const char *module,
                               const char *name, mp_obj *args, mp_obj *state);
/* Its parts, borrowed (any pointer may be NULL): *args is a tuple (None for
 * MP_PYOBJ_REF), *state None when there is none. Not a recipe: MP_ETYPE. */
MP_EXPORT int mp_obj_pyobj_parts(const mp_obj *o, mp_pyobj_kind *kind,
                                 const char **module, const char **name,
                                 mp_obj **args, mp_obj **state);

/* ---- Encoding ------------------------------------------------------------ */

/* Python's pickle.dumps(o, protocol): a new buffer *buf (free with mp_free)
 * of *len bytes. protocol 0 means MP_PICKLE_DEFAULT_PROTOCOL; otherwise
 * 2..5 (else MP_EVALUE). Shared objects are written once and referenced
 * (a list that contains itself encodes as Python encodes it). */
MP_EXPORT int mp_obj_to_pickle(const mp_obj *o, int protocol, void **buf,
                               size_t *len);
/* Appends the pickle to a growable buffer, as mp_obj_encode_append. */
MP_EXPORT int mp_obj_to_pickle_append(const mp_obj *o, int protocol,
                                      void **buf, size_t *len, size_t *cap);

/* ---- Decoding ------------------------------------------------------------ */

/* Python's Unpickler.find_class, for globals outside the allowlist. Called:
 *  - with args == NULL and out == NULL when the pickle names module.name
 *    (GLOBAL, STACK_GLOBAL): return 0 to accept it, or a negative code to
 *    refuse (the decode fails with that code);
 *  - with args (a tuple, borrowed) and out when the pickle calls the
 *    accepted global (REDUCE, NEWOBJ): set *out to a new reference to the
 *    object module.name(*args) stands for, or return a negative code;
 *  - with args == NULL and out when the global itself is a value (a
 *    function or class sent as such): the same.
 * module and name are NUL-terminated and valid during the call. */
typedef int (*mp_pickle_find_class_fn)(void *ctx, const char *module,
                                       const char *name, const mp_obj *args,
                                       mp_obj **out);
/* Python's obj.__setstate__(state) for BUILD on an object find_class made:
 * set *out to the object that results (a new reference; *out = a new
 * reference to obj keeps it), or return a negative code. Without it BUILD
 * is MP_EDECODE. */
typedef int (*mp_pickle_build_fn)(void *ctx, mp_obj *obj, mp_obj *state,
                                  mp_obj **out);

/* A recursive structure decodes (the caller must break its cycles, e.g.
 * with mp_obj_list_clear, before it can be freed). */
#define MP_PICKLE_ALLOW_CYCLES 1u
/* Globals outside the allowlist that find_class (if any) does not accept
 * become MP_OBJ_PYOBJ recipes instead of MP_EDECODE: REDUCE and NEWOBJ of
 * them record the call, BUILD records the state. Nothing is run. */
#define MP_PICKLE_KEEP_OBJECTS 2u

typedef struct mp_pickle_load_opts {
  mp_pickle_find_class_fn find_class; /* NULL: only the allowlist */
  mp_pickle_build_fn build;           /* NULL: BUILD is refused */
  void *ctx;                          /* passed to both */
  size_t max_nodes; /* bound on the expanded tree; 0: the default above,
                       SIZE_MAX: no bound */
  unsigned flags;   /* MP_PICKLE_ALLOW_CYCLES, MP_PICKLE_KEEP_OBJECTS */
} mp_pickle_load_opts;

/* Python's pickle.loads(buf): the object of the pickle at the start of buf
 * into *out (a new reference). As in Python, bytes after the STOP opcode
 * are ignored. */
MP_EXPORT int mp_obj_from_pickle(const void *buf, size_t len, mp_obj **out);
/* The same with options (NULL: defaults); *used (may be NULL) = the
 * pickle's length up to and including STOP, for a stream of pickles. A
 * stream that ends before STOP is MP_ETRUNCATED. */
MP_EXPORT int mp_obj_from_pickle_opts(const void *buf, size_t len,
                                      const mp_pickle_load_opts *opts,
                                      size_t *used, mp_obj **out);

MP_EXTERN_C_END

#endif
