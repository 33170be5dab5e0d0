/* readme.c: the example shown in README.md: four processes each compute a
 * square and hand it back with mp_process_return; no Queue, no Manager.
 * Every call is checked: a failure prints mp_strerror's message and ends
 * the program with status 1, as an uncaught exception would. */
#include <errno.h>
#include <mproc.h>
#include <stdio.h>
#include <stdlib.h>

static int check(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "%s: %s\n", what, mp_strerror(rc));
    exit(1);
  }
  return rc;
}

static int square(void *arg, size_t len) {
  (void)len;
  long x = *(long *)arg, y = x * x;
  return mp_process_return(&y, sizeof y); /* hand the result back */
}

int main(void) {
  mp_process *p[4];
  for (long i = 0; i < 4; i++) {
    p[i] = mp_process_new(square, &i, sizeof i, NULL);
    check(p[i] ? mp_process_start(p[i]) : -errno, "start");
  }
  for (int i = 0; i < 4; i++) {
    const void *r;
    size_t n;
    check(mp_process_join(p[i], MP_FOREVER), "join");
    if (check(mp_process_result(p[i], &r, &n), "result") == 1)
      printf("%s -> %ld\n", mp_process_name(p[i]), *(const long *)r);
    mp_process_free(p[i]);
  }
  return 0;
}
