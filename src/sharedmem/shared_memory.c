/* shared_memory.c: named shared memory (Python's SharedMemory) over POSIX
 * shm_open: create (O_EXCL, mode 0600, then ftruncate and mmap), attach
 * (fstat for the size), close (munmap), unlink (shm_unlink). The descriptor
 * is closed as soon as the memory is mapped: the mapping keeps the
 * segment alive, and a program with many segments does not run out of
 * descriptors. Nothing here ever unlinks a name on its own, except the one
 * this process just created when a later step of creating it failed. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mproc/shared_memory.h"
#include "runtime/runtime_internal.h"

#define SHM_NAME_MAX (NAME_MAX - 1) /* without the slash, with room for it */

struct mp_shared_memory {
  void *buf;
  size_t size;
  char path[SHM_NAME_MAX + 2]; /* "/name": what shm_open and shm_unlink take */
};

static void *fail(int code) {
  errno = -code;
  return NULL;
}

/* Writes "/name" into path after checking the name. */
static int make_path(const char *name, char *path) {
  while (*name == '/')
    name++;
  size_t n = strlen(name);
  if (n == 0 || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
    return -EINVAL;
  if (n > SHM_NAME_MAX)
    return -ENAMETOOLONG;
  path[0] = '/';
  memcpy(path + 1, name, n + 1);
  return 0;
}

/* Maps fd (size bytes) into m and closes fd. */
static int map_fd(mp_shared_memory *m, int fd, size_t size) {
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int e = p == MAP_FAILED ? -errno : 0;
  mp__close(fd);
  if (e)
    return e;
  m->buf = p;
  m->size = size;
  return 0;
}

static int create_named(mp_shared_memory *m, size_t size) {
  int fd = shm_open(m->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return -errno;
  int r = 0;
  if (ftruncate(fd, (off_t)size) < 0) {
    r = -errno;
    mp__close(fd);
  } else {
    r = map_fd(m, fd, size);
  }
  if (r < 0)
    shm_unlink(m->path); /* ours: created a moment ago */
  return r;
}

MP_EXPORT mp_shared_memory *mp_shared_memory_create(const char *name, size_t size) {
  if (size == 0 || size > (size_t)INT64_MAX)
    return fail(size ? -EOVERFLOW : -EINVAL);
  mp_shared_memory *m = mp__calloc(1, sizeof *m);
  if (!m)
    return fail(-ENOMEM);
  int r;
  if (name) {
    r = make_path(name, m->path);
    if (r == 0)
      r = create_named(m, size);
  } else {
    /* Python's _make_filename: "psm_" + 8 hex digits, again on a clash. */
    r = -EEXIST;
    for (int tries = 0; tries < 100 && r == -EEXIST; tries++) {
      uint32_t rnd;
      if ((r = mp__random_bytes(&rnd, sizeof rnd)) < 0)
        break;
      snprintf(m->path, sizeof m->path, "/psm_%08x", rnd);
      r = create_named(m, size);
    }
  }
  if (r < 0) {
    mp__free(m);
    return fail(r);
  }
  return m;
}

MP_EXPORT mp_shared_memory *mp_shared_memory_attach(const char *name) {
  if (!name)
    return fail(-EINVAL);
  mp_shared_memory *m = mp__calloc(1, sizeof *m);
  if (!m)
    return fail(-ENOMEM);
  int r = make_path(name, m->path);
  int fd = r < 0 ? r : shm_open(m->path, O_RDWR | O_CLOEXEC, 0);
  if (r == 0 && fd < 0)
    r = -errno;
  struct stat st;
  if (r == 0 && fstat(fd, &st) < 0)
    r = -errno;
  else if (r == 0 && st.st_size <= 0)
    r = MP_EVALUE;
  if (r == 0)
    r = map_fd(m, fd, (size_t)st.st_size);
  else if (fd >= 0)
    mp__close(fd);
  if (r < 0) {
    mp__free(m);
    return fail(r);
  }
  return m;
}

MP_EXPORT const char *mp_shared_memory_name(const mp_shared_memory *m) {
  return m ? m->path + 1 : NULL;
}

MP_EXPORT size_t mp_shared_memory_size(const mp_shared_memory *m) { return m ? m->size : 0; }

MP_EXPORT void *mp_shared_memory_buf(const mp_shared_memory *m) { return m ? m->buf : NULL; }

MP_EXPORT int mp_shared_memory_close(mp_shared_memory *m) {
  if (!m)
    return -EINVAL;
  if (m->buf) {
    munmap(m->buf, m->size);
    m->buf = NULL;
  }
  return 0;
}

MP_EXPORT int mp_shared_memory_unlink(mp_shared_memory *m) {
  if (!m)
    return -EINVAL;
  return shm_unlink(m->path) < 0 ? -errno : 0;
}

MP_EXPORT void mp_shared_memory_free(mp_shared_memory *m) {
  if (!m)
    return;
  mp_shared_memory_close(m);
  mp__free(m);
}
