/* sync_helper: a program test_shm and test_sync_robust exec, so that
 * shared objects reach a process that did not inherit them by fork.
 *
 * Usage: sync_helper MODE SOCKFD
 *   lock-event: receives a Lock's handle and an Event's handle on SOCKFD,
 *               acquires the lock (waits while the test holds it), releases
 *               it, sets the event. Exit 0 on success.
 *   wrong-type: receives an Event's handle and checks that opening it as a
 *               Lock fails with MP_ETYPE while opening it as an Event works.
 * Any failure exits with 10 + the step number and a message on stderr. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mproc.h"

static int fail(int step, int code) {
  fprintf(stderr, "sync_helper: step %d: %s\n", step, mp_strerror(code));
  return 10 + step;
}

int main(int argc, char **argv) {
  if (argc != 3)
    return 2;
  int sock = atoi(argv[2]);
  mp_handle hl, he;
  int r;
  if (!strcmp(argv[1], "lock-event")) {
    if ((r = mp_handle_recv(sock, &hl, 10)) < 0)
      return fail(1, r);
    if ((r = mp_handle_recv(sock, &he, 10)) < 0)
      return fail(2, r);
    mp_lock *l = mp_lock_open(&hl);
    mp_event *e = mp_event_open(&he);
    mp_handle_close(&hl);
    mp_handle_close(&he);
    if (!l || !e)
      return fail(3, mp_errno_code(errno));
    if ((r = mp_lock_acquire(l, 10)) < 0)
      return fail(4, r);
    if ((r = mp_lock_release(l)) < 0)
      return fail(5, r);
    mp_event_set(e);
    mp_lock_free(l);
    mp_event_free(e);
    return 0;
  }
  if (!strcmp(argv[1], "wrong-type")) {
    if ((r = mp_handle_recv(sock, &he, 10)) < 0)
      return fail(1, r);
    mp_lock *l = mp_lock_open(&he);
    if (l || mp_errno_code(errno) != MP_ETYPE)
      return fail(2, l ? 0 : mp_errno_code(errno));
    mp_event *e = mp_event_open(&he);
    mp_handle_close(&he);
    if (!e)
      return fail(3, mp_errno_code(errno));
    mp_event_set(e);
    mp_event_free(e);
    return 0;
  }
  return 2;
}
