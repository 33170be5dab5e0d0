/* alloc.c: private memory through the user's allocator hook (libc when none
 * is set). Shared memory is the shm area's business, not this file's. */
#include <stdlib.h>
#include <string.h>

#include "runtime_internal.h"

static mp_allocator g_alloc; /* all NULL: libc */

MP_EXPORT void mp_set_allocator(const mp_allocator *a) {
  if (a)
    g_alloc = *a;
  else
    memset(&g_alloc, 0, sizeof g_alloc);
}

void *mp__malloc(size_t n) {
  if (n == 0)
    n = 1;
  return g_alloc.malloc ? g_alloc.malloc(g_alloc.ctx, n) : malloc(n);
}

void *mp__calloc(size_t count, size_t size) {
  size_t n;
  if (__builtin_mul_overflow(count, size, &n)) {
    errno = ENOMEM;
    return NULL;
  }
  void *p = mp__malloc(n);
  if (p)
    memset(p, 0, n ? n : 1);
  return p;
}

void *mp__realloc(void *p, size_t n) {
  if (n == 0)
    n = 1;
  return g_alloc.realloc ? g_alloc.realloc(g_alloc.ctx, p, n) : realloc(p, n);
}

void mp__free(void *p) {
  if (!p)
    return;
  if (g_alloc.free)
    g_alloc.free(g_alloc.ctx, p);
  else
    free(p);
}

bool mp__alloc_is_default(void) {
  return !g_alloc.malloc && !g_alloc.realloc && !g_alloc.free;
}

MP_EXPORT void mp_free(void *p) { mp__free(p); }

void *mp__memdup(const void *p, size_t n) {
  void *q = mp__malloc(n);
  if (q && n)
    memcpy(q, p, n);
  return q;
}

char *mp__strdup(const char *s) { return mp__memdup(s, strlen(s) + 1); }
