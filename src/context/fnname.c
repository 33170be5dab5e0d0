/* fnname.c: the name of a function from its address, what Python reads as
 * target.__name__ (multiprocessing.dummy names a process "Thread-1 (f)").
 * C has no such attribute, so the name comes from the symbol tables of the
 * module holding the address: the file's .symtab (static functions too,
 * unless the program was stripped), else its .dynsym. The file is mapped
 * read-only and every offset and size it announces is checked against the
 * mapping before it is followed. A name that cannot be found is not an
 * error: the caller falls back to a name without it. Answers (found or
 * not) are cached per address. */
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "context_internal.h"

typedef struct {
  uintptr_t addr;
  uintptr_t off; /* addr minus the module's load base */
  char path[4096];
  bool found;
} find_ctx;

static int find_cb(struct dl_phdr_info *info, size_t size, void *data) {
  MP__UNUSED(size);
  find_ctx *c = data;
  if (c->addr < info->dlpi_addr)
    return 0;
  uintptr_t off = c->addr - info->dlpi_addr;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && off >= ph->p_vaddr &&
        off < ph->p_vaddr + ph->p_memsz) {
      const char *p = info->dlpi_name && *info->dlpi_name ? info->dlpi_name
                                                          : "/proc/self/exe";
      snprintf(c->path, sizeof c->path, "%s", p);
      c->off = off;
      c->found = true;
      return 1;
    }
  }
  return 0;
}

/* Whether [at, at + n) lies inside a mapping of size len. */
static bool inside(size_t len, uint64_t at, uint64_t n) {
  return at <= len && n <= len - at;
}

/* Looks for off in the symbol table of section type `type`. */
static bool lookup(const unsigned char *img, size_t len, uint32_t type,
                   uint64_t off, char *buf, size_t n) {
  const ElfW(Ehdr) *eh = (const void *)img;
  if (eh->e_shentsize != sizeof(ElfW(Shdr)) ||
      !inside(len, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(ElfW(Shdr))))
    return false;
  const ElfW(Shdr) *sh = (const void *)(img + eh->e_shoff);
  for (unsigned i = 0; i < eh->e_shnum; i++) {
    if (sh[i].sh_type != type || sh[i].sh_link >= eh->e_shnum ||
        sh[i].sh_entsize != sizeof(ElfW(Sym)) ||
        !inside(len, sh[i].sh_offset, sh[i].sh_size))
      continue;
    const ElfW(Shdr) *str = &sh[sh[i].sh_link];
    if (!inside(len, str->sh_offset, str->sh_size))
      continue;
    const ElfW(Sym) *sym = (const void *)(img + sh[i].sh_offset);
    size_t nsym = sh[i].sh_size / sizeof *sym;
    for (size_t k = 0; k < nsym; k++) {
      if (ELF64_ST_TYPE(sym[k].st_info) != STT_FUNC || !sym[k].st_value ||
          off < sym[k].st_value ||
          off >= sym[k].st_value + (sym[k].st_size ? sym[k].st_size : 1) ||
          sym[k].st_name >= str->sh_size)
        continue;
      const char *name = (const char *)img + str->sh_offset + sym[k].st_name;
      size_t max = str->sh_size - sym[k].st_name;
      size_t l = strnlen(name, max);
      if (l == max || l == 0)
        continue;
      snprintf(buf, n, "%.*s", (int)l, name);
      return true;
    }
  }
  return false;
}

/* Reading the symbol tables costs tens of microseconds, so the names found
 * are kept: a program starts its thread-processes from a few targets. */
#define CACHE_N 16
static struct {
  const void *fn;
  char name[128];
} g_cache[CACHE_N];
static unsigned g_next;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

/* 1 with the kept name in buf, 0 for a kept miss (no symbol: ""), -1 when
 * fn was not looked up yet. */
static int cached(const void *fn, char *buf, size_t n) {
  int hit = -1;
  pthread_mutex_lock(&g_mu);
  for (unsigned i = 0; i < CACHE_N && hit < 0; i++)
    if (g_cache[i].fn == fn) {
      snprintf(buf, n, "%s", g_cache[i].name);
      hit = g_cache[i].name[0] != '\0';
    }
  pthread_mutex_unlock(&g_mu);
  return hit;
}

static void keep(const void *fn, const char *name) {
  pthread_mutex_lock(&g_mu);
  unsigned i = g_next++ % CACHE_N;
  g_cache[i].fn = fn;
  snprintf(g_cache[i].name, sizeof g_cache[i].name, "%s", name);
  pthread_mutex_unlock(&g_mu);
}

static int lookup_file(const void *fn, char *buf, size_t n);

int mp__fn_name(const void *fn, char *buf, size_t n) {
  if (!fn || !buf || n == 0)
    return -EINVAL;
  buf[0] = '\0';
  int hit = cached(fn, buf, n);
  if (hit >= 0)
    return hit ? 0 : MP_EKEY;
  char name[128];
  int rc = lookup_file(fn, name, sizeof name);
  if (rc == 0 || rc == MP_EKEY) /* a stripped program stays stripped */
    keep(fn, rc == 0 ? name : "");
  if (rc == 0)
    snprintf(buf, n, "%s", name);
  return rc;
}

/* The lookup itself: the module holding fn, its file mapped read-only. */
static int lookup_file(const void *fn, char *buf, size_t n) {
  find_ctx c = {.addr = (uintptr_t)fn};
  dl_iterate_phdr(find_cb, &c);
  if (!c.found)
    return MP_EKEY;
  int fd = open(c.path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  struct stat st;
  void *img = MAP_FAILED;
  if (fstat(fd, &st) == 0 && st.st_size >= (off_t)sizeof(ElfW(Ehdr)))
    img = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (img == MAP_FAILED)
    return MP_EKEY;
  size_t len = (size_t)st.st_size;
  bool ok = memcmp(img, ELFMAG, SELFMAG) == 0 &&
            ((const unsigned char *)img)[EI_CLASS] == ELFCLASS64 &&
            (lookup(img, len, SHT_SYMTAB, c.off, buf, n) ||
             lookup(img, len, SHT_DYNSYM, c.off, buf, n));
  munmap(img, len);
  return ok ? 0 : MP_EKEY;
}
