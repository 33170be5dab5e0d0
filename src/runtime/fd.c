/* fd.c: descriptor helpers. Every descriptor the library creates is born
 * CLOEXEC (so a spawned program inherits only what is passed explicitly),
 * short transfers and EINTR are retried, and randomness comes from the
 * kernel. */
#include <fcntl.h>
#include <poll.h>
#include <sys/random.h>
#include <unistd.h>

#include "runtime_internal.h"

int mp__close(int fd) {
  if (fd < 0)
    return 0;
  /* On Linux the descriptor is gone even when close reports EINTR:
   * retrying could close a descriptor another thread just opened. */
  int r = close(fd);
  return (r < 0 && errno != EINTR) ? -errno : 0;
}

int mp__set_nonblock(int fd, bool on) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0)
    return -errno;
  int nfl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
  if (nfl != fl && fcntl(fd, F_SETFL, nfl) < 0)
    return -errno;
  return 0;
}

int mp__set_cloexec(int fd, bool on) {
  int fl = fcntl(fd, F_GETFD);
  if (fl < 0)
    return -errno;
  int nfl = on ? (fl | FD_CLOEXEC) : (fl & ~FD_CLOEXEC);
  if (nfl != fl && fcntl(fd, F_SETFD, nfl) < 0)
    return -errno;
  return 0;
}

int mp__dup_cloexec(int fd) {
  int r = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  return r < 0 ? -errno : r;
}

ssize_t mp__read_full(int fd, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, (char *)buf + got, n - got);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    if (r == 0)
      break;
    got += (size_t)r;
  }
  return (ssize_t)got;
}

int mp__write_full(int fd, const void *buf, size_t n) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = write(fd, (const char *)buf + done, n - done);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    done += (size_t)r;
  }
  return 0;
}

int mp__poll1(int fd, short events, const mp__deadline *dl) {
  for (;;) {
    struct pollfd p = {.fd = fd, .events = events};
    int r = poll(&p, 1, dl ? mp__deadline_poll_ms(dl) : -1);
    if (r > 0)
      return p.revents;
    if (r == 0) {
      /* poll rounds to milliseconds; go round until the deadline passed. */
      if (!dl || mp__deadline_passed(dl))
        return 0;
      continue;
    }
    if (errno != EINTR)
      return -errno;
  }
}

int mp__random_bytes(void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = getrandom((char *)buf + got, n - got, 0);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    got += (size_t)r;
  }
  return 0;
}
