/* check.h: how the examples stop at a failed call, as a Python program
 * stops at an uncaught exception: CHECK(call) for calls that return 0 or
 * a negative code, CHECKP(call) for constructors that return NULL with
 * errno set. Either prints the call and mp_strerror's message on stderr
 * and ends the process with status 1 (in a child process: _exit, after
 * flushing stdio, so the parent's atexit handlers do not run there). */
#ifndef MP_EXAMPLE_CHECK_H
#define MP_EXAMPLE_CHECK_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <mproc.h>

static inline void mp_example_fail(int code, const char *call) {
  fflush(stdout);
  fprintf(stderr, "%s: %s\n", call, mp_strerror(code));
  if (mp_parent_process()) {
    fflush(stderr);
    _exit(1);
  }
  exit(1);
}

static inline int mp_example_check(int rc, const char *call) {
  if (rc < 0)
    mp_example_fail(rc, call);
  return rc;
}

static inline void *mp_example_checkp(void *p, const char *call) {
  if (!p)
    mp_example_fail(errno, call);
  return p;
}

#define CHECK(call) mp_example_check((call), #call)
#define CHECKP(call) mp_example_checkp((call), #call)

#endif
