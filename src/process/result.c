/* result.c: a child's result, handed to its parent without a Manager or a
 * Queue. The parent creates a memfd at start; the child inherits it and,
 * when the target calls mp_process_return, writes the bytes followed by an
 * 8-byte trailer (the length xor a magic number). When the parent reaps
 * the child it maps the file read-only and closes it: the parent reads the
 * child's bytes in place, with no copy and no descriptor kept.
 *
 * The trailer tells "returned these bytes" from "returned nothing" (an
 * empty file) and from a child killed while writing (the file's end is
 * data, not a matching trailer), and an empty result from none. */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "process_internal.h"

#define TRAILER_MAGIC 0x6d70726f63526573ULL /* "mprocRes" */

static int pwrite_full(int fd, const void *buf, size_t n, off_t at) {
  const char *p = buf;
  while (n) {
    ssize_t w = pwrite(fd, p, n, at);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    p += w;
    n -= (size_t)w;
    at += w;
  }
  return 0;
}

MP_EXPORT int mp_process_return(const void *data, size_t len) {
  if (!data && len)
    return -EINVAL;
  bool *written;
  int fd = *mp__proc_result_fd(&written);
  if (fd < 0)
    return MP_ESTATE;
  if (len > (size_t)INT64_MAX - 8)
    return -EFBIG;
  mp__proc_lock();
  int r = 0;
  /* A second call replaces the first: empty the file first, so a kill
   * in between leaves no trailer (none) rather than a mix. */
  if (*written && ftruncate(fd, 0) < 0)
    r = -errno;
  *written = true;
  uint64_t trailer = (uint64_t)len ^ TRAILER_MAGIC;
  if (r == 0)
    r = pwrite_full(fd, data, len, 0);
  if (r == 0)
    r = pwrite_full(fd, &trailer, sizeof trailer, (off_t)len);
  if (r < 0 && ftruncate(fd, 0) < 0) {
    /* Nothing more to do: the trailer was not written, so it reads as none. */
  }
  mp__proc_unlock();
  return r;
}

void mp__result_collect(mp_process *p) {
  if (p->result_state >= 0 || p->result_fd < 0)
    return;
  int fd = p->result_fd;
  p->result_fd = -1;
  p->result_state = 0;
  off_t size = lseek(fd, 0, SEEK_END);
  if (size >= 8) {
    void *m = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
      p->result_state = -errno;
    } else {
      uint64_t trailer;
      memcpy(&trailer, (char *)m + size - 8, sizeof trailer);
      if ((trailer ^ TRAILER_MAGIC) == (uint64_t)(size - 8)) {
        p->result_map = m;
        p->result_map_len = (size_t)size;
        p->result_len = (size_t)size - 8;
        p->result_state = 1;
      } else {
        munmap(m, (size_t)size);
      }
    }
  }
  mp__close(fd);
}

void mp__result_release(mp_process *p, bool unmap) {
  mp__close(p->result_fd);
  p->result_fd = -1;
  if (unmap && p->result_map) {
    munmap(p->result_map, p->result_map_len);
    p->result_map = NULL;
  }
}

MP_EXPORT int mp_process_result(mp_process *p, const void **data,
                                 size_t *len) {
  if (!p || !data || !len)
    return -EINVAL;
  *data = NULL;
  *len = 0;
  mp__proc_lock();
  int r;
  if (p->closed || !mp__proc_is_ours(p) || p->state == MP__ST_INITIAL)
    r = MP_ESTATE;
  else if (!mp__proc_poll_locked(p))
    r = MP_ENOTREADY;
  else if (p->result_state == 1) {
    *data = p->result_map;
    *len = p->result_len;
    r = 1;
  } else
    r = p->result_state; /* 0 none, or -errno from mmap */
  mp__proc_unlock();
  return r;
}
