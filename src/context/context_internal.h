/* context_internal.h: what the start methods share beyond process_internal.h:
 * the list of objects passed to a child, function references that survive
 * exec, and the program spawn runs. */
#ifndef MPROC_CONTEXT_INTERNAL_H
#define MPROC_CONTEXT_INTERNAL_H

#include <stdint.h>

#include "mproc/context.h"
#include "runtime/runtime_internal.h"

/* ---- passed objects (pass.c) ------------------------------------------------ */
#define MP__PASS_MAX 64  /* objects */
#define MP__PASS_FDS 240 /* descriptors in all (SCM_RIGHTS carries 253) */

typedef struct mp__passed_item {
  bool is_fd;
  mp_handle h; /* handle: parts[].fd owned by the list; fd: parts[0].fd */
} mp__passed_item;

typedef struct mp__passed {
  size_t n;
  mp__passed_item items[MP__PASS_MAX];
} mp__passed;

/* The number of descriptors in the list. */
size_t mp__passed_nfds(const mp__passed *l);

/* ---- function references (fnref.c) ------------------------------------------ */
#define MP__FNREF_ID_MAX 64
enum { MP__FNREF_BUILD_ID = 1, MP__FNREF_FILE = 2 };

/* A function as (module identity, offset from the module's load base). */
typedef struct mp__fnref {
  uint32_t kind;   /* MP__FNREF_BUILD_ID or MP__FNREF_FILE */
  uint32_t id_len; /* bytes of id */
  unsigned char id[MP__FNREF_ID_MAX];
  uint64_t offset;
} mp__fnref;

/* Describes fn. Returns 0, or -EINVAL when fn is in no loaded module's
 * executable segment (a pointer to data, a JIT buffer). Thread-safe. */
int mp__fnref_make(const void *fn, mp__fnref *ref);
/* Finds the function in this process image: 0 with *fn set, or MP_ESTALE
 * when no loaded module has that identity or the offset is not inside its
 * executable segments. Safe in a constructor. */
int mp__fnref_resolve(const mp__fnref *ref, void **fn);

/* ---- function names (fnname.c) ----------------------------------------------- */
/* The name of the function at fn from its module's symbol tables, into buf
 * (n bytes, truncated). Returns 0, MP_EKEY when no symbol covers fn (a
 * stripped program), -errno when the module's file cannot be read. */
int mp__fn_name(const void *fn, char *buf, size_t n);

/* ---- the program spawn runs (context.c) -------------------------------------- */
/* A pool-only start method of a registered pool backend: mp_get_context
 * finds it (the name must live as long as the process). */
void mp__context_add(const char *method);
void mp__executable_copy(char *buf, size_t n);

#endif
