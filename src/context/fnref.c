/* fnref.c: a function pointer that survives exec. A pointer is the address
 * of code in one process image; after exec (spawn) or in another image (the
 * fork server, started earlier with its own address layout) the same code
 * sits elsewhere. So a target crosses as (module identity, offset from the
 * module's load base) and is rebuilt where the module with that identity
 * is loaded.
 *
 * The identity is the module's GNU build-id (the NT_GNU_BUILD_ID note the
 * linker writes, read from the loaded image), so a program rebuilt since the
 * parent started has another identity and the target is refused (MP_ESTALE),
 * never called at a wrong address. A module without a build-id is named by
 * its file (device, inode, size, mtime), which a rebuild also changes. The
 * offset must also fall inside an executable segment of the module found. */
#include <elf.h>
#include <link.h>
#include <string.h>
#include <sys/stat.h>

#include "context_internal.h"

/* The build-id of a loaded module, from its PT_NOTE segments in memory. */
static uint32_t build_id(const struct dl_phdr_info *info, unsigned char *out) {
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_NOTE)
      continue;
    const char *at = (const char *)(info->dlpi_addr + ph->p_vaddr);
    const char *end = at + ph->p_memsz;
    while (at + sizeof(ElfW(Nhdr)) <= end) {
      const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)at;
      size_t name = (n->n_namesz + 3) & ~(size_t)3;
      size_t desc = (n->n_descsz + 3) & ~(size_t)3;
      const char *data = at + sizeof *n;
      if (data + name + desc > end)
        break;
      if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 &&
          memcmp(data, "GNU", 4) == 0 && n->n_descsz > 0 &&
          n->n_descsz <= MP__FNREF_ID_MAX) {
        memcpy(out, data + name, n->n_descsz);
        return n->n_descsz;
      }
      at = data + name + desc;
    }
  }
  return 0;
}

/* The file identity of a module without a build-id. */
static uint32_t file_id(const struct dl_phdr_info *info, unsigned char *out) {
  const char *path = info->dlpi_name && *info->dlpi_name ? info->dlpi_name
                                                         : "/proc/self/exe";
  struct stat st;
  if (stat(path, &st) < 0)
    return 0;
  uint64_t v[5] = {st.st_dev, st.st_ino, (uint64_t)st.st_size,
                   (uint64_t)st.st_mtim.tv_sec, (uint64_t)st.st_mtim.tv_nsec};
  memcpy(out, v, sizeof v);
  return sizeof v;
}

static bool in_exec_segment(const struct dl_phdr_info *info, uint64_t off) {
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && off >= ph->p_vaddr &&
        off < ph->p_vaddr + ph->p_memsz)
      return true;
  }
  return false;
}

typedef struct {
  uintptr_t addr;
  mp__fnref *ref;
  bool found;
} make_ctx;

static int make_cb(struct dl_phdr_info *info, size_t size, void *data) {
  MP__UNUSED(size);
  make_ctx *c = data;
  if (c->addr < info->dlpi_addr ||
      !in_exec_segment(info, c->addr - info->dlpi_addr))
    return 0;
  mp__fnref *ref = c->ref;
  ref->offset = c->addr - info->dlpi_addr;
  ref->kind = MP__FNREF_BUILD_ID;
  ref->id_len = build_id(info, ref->id);
  if (!ref->id_len) {
    ref->kind = MP__FNREF_FILE;
    ref->id_len = file_id(info, ref->id);
  }
  c->found = ref->id_len > 0;
  return 1;
}

int mp__fnref_make(const void *fn, mp__fnref *ref) {
  memset(ref, 0, sizeof *ref);
  make_ctx c = {.addr = (uintptr_t)fn, .ref = ref};
  dl_iterate_phdr(make_cb, &c);
  return c.found ? 0
                 : mp__error_record(-EINVAL, "%p is in no loaded module's code: "
                                             "only functions cross exec", fn);
}

typedef struct {
  const mp__fnref *ref;
  void *fn;
} resolve_ctx;

static int resolve_cb(struct dl_phdr_info *info, size_t size, void *data) {
  MP__UNUSED(size);
  resolve_ctx *c = data;
  unsigned char id[MP__FNREF_ID_MAX];
  uint32_t n = c->ref->kind == MP__FNREF_BUILD_ID ? build_id(info, id)
               : build_id(info, id) ? 0 /* has one: not this module */
                                    : file_id(info, id);
  if (n != c->ref->id_len || memcmp(id, c->ref->id, n) != 0)
    return 0;
  if (in_exec_segment(info, c->ref->offset))
    c->fn = (void *)(info->dlpi_addr + c->ref->offset);
  return 1;
}

int mp__fnref_resolve(const mp__fnref *ref, void **fn) {
  *fn = NULL;
  if ((ref->kind != MP__FNREF_BUILD_ID && ref->kind != MP__FNREF_FILE) ||
      ref->id_len == 0 || ref->id_len > MP__FNREF_ID_MAX)
    return MP_ESTALE;
  resolve_ctx c = {.ref = ref};
  dl_iterate_phdr(resolve_cb, &c);
  *fn = c.fn;
  return c.fn ? 0
              : mp__error_record(MP_ESTALE, "the function is not in this "
                                            "program image (rebuilt since, or "
                                            "another program)");
}
