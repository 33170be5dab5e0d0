/* fuzz_conn_frame.c: the frame reader (mp_conn_recv_bytes,
 * mp_conn_recv_bytes_into, mp_conn_poll) on a stream of arbitrary bytes.
 * The first byte picks maxlength and the order of calls; the rest is what
 * the peer sent, served from a memfd so any size reads without blocking.
 * Nothing may crash, hang, leak, or allocate a length the bytes announce
 * but never deliver. */
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mproc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  uint8_t mode = data[0];
  data++;
  size--;
  int fd = memfd_create("fuzz_conn_frame", MFD_CLOEXEC);
  if (fd < 0)
    return 0;
  if (size && write(fd, data, size) != (ssize_t)size) {
    close(fd);
    return 0;
  }
  lseek(fd, 0, SEEK_SET);
  /* Receive-only, like a simplex Pipe's reading end: a bad length closes
   * it; bit 0x40 makes it duplex-style (writable flag) instead. */
  mp_conn *c = mp_conn_from_fd(fd, true, (mode & 0x40) != 0);
  if (!c)
    return 0;
  size_t maxlength = (mode & 0x80) ? MP_CONN_NOLIMIT : (size_t)(mode & 0x3f) * 4;
  char buf[64];
  for (unsigned i = 0; i < 64; i++) {
    int rc;
    size_t n;
    switch ((mode + i) % 3) {
    case 0: {
      void *m;
      rc = mp_conn_recv_bytes(c, &m, &n, maxlength);
      if (rc == 0 && ((char *)m)[n] != '\0')
        __builtin_trap();
      mp_free(m);
      break;
    }
    case 1:
      rc = mp_conn_recv_bytes_into(c, buf, sizeof buf, i % 8, &n);
      if (rc == 0 && n > sizeof buf - i % 8)
        __builtin_trap();
      break;
    default:
      rc = mp_conn_poll(c, 0);
      if (rc > 0)
        rc = 0;
      break;
    }
    if (rc < 0 && rc != MP_ETOOSHORT)
      break;
  }
  mp_conn_free(c);
  return 0;
}
