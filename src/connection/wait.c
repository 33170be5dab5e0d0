/* wait.c: mp_wait, Python's multiprocessing.connection.wait(): one poll(2)
 * over connections and plain descriptors (process sentinels are pidfds,
 * readable when the process ends). A connection holding a message kept
 * after MP_ETOOSHORT or read-ahead bytes is ready without asking the
 * kernel. */
#include <poll.h>

#include "conn_internal.h"

/* Items polled without a heap allocation; more use mp__malloc. */
#define WAIT_STACK_ITEMS 64

int mp_wait(mp_wait_item *items, size_t n, double timeout) {
  if (!items && n)
    return -EINVAL;
  mp__deadline dl;
  int rc = mp__deadline_init(&dl, timeout);
  if (rc)
    return rc;
  if (n > (size_t)INT32_MAX)
    return -EINVAL;

  struct pollfd stack[WAIT_STACK_ITEMS];
  struct pollfd *pfd = n <= WAIT_STACK_ITEMS ? stack : mp__calloc(n, sizeof *pfd);
  if (!pfd)
    return -ENOMEM;

  int ready = 0;
  for (size_t i = 0; i < n; i++) {
    mp_wait_item *it = &items[i];
    it->ready = false;
    int fd = it->fd;
    if (it->conn) {
      fd = it->conn->fd;
      if (fd < 0) {
        rc = MP_ECLOSED;
        goto out;
      }
      if (mp__conn_buffered(it->conn)) {
        it->ready = true;
        ready++;
      }
    } else if (fd < 0) {
      rc = -EINVAL;
      goto out;
    }
    pfd[i] = (struct pollfd){.fd = fd, .events = POLLIN};
  }
  /* Something is already waiting in user space: report at once, with
   * whatever else the kernel says is ready right now. */
  if (ready)
    mp__deadline_init(&dl, 0);

  for (;;) {
    int r = poll(pfd, (nfds_t)n, mp__deadline_poll_ms(&dl));
    if (r < 0) {
      if (errno == EINTR)
        continue;
      rc = -errno;
      goto out;
    }
    if (r > 0) {
      for (size_t i = 0; i < n; i++) {
        if (pfd[i].revents & POLLNVAL) {
          rc = -EBADF;
          goto out;
        }
        if (pfd[i].revents && !items[i].ready) {
          items[i].ready = true;
          ready++;
        }
      }
    }
    /* poll rounds to milliseconds: go round until the deadline passed. */
    if (ready || mp__deadline_passed(&dl))
      break;
  }
  rc = ready;
out:
  if (rc < 0) {
    for (size_t i = 0; i < n; i++)
      items[i].ready = false;
  }
  if (pfd != stack)
    mp__free(pfd);
  return rc;
}
