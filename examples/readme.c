/* readme.c: the example shown in README.md: four processes each compute a
 * square and hand it back with mp_process_return; no Queue, no Manager. */
#include <mproc.h>
#include "check.h"
#include <stdio.h>

static int square(void *arg, size_t len) {
  (void)len;
  long x = *(long *)arg, y = x * x;
  return mp_process_return(&y, sizeof y); /* 0: exit code 0 */
}

int main(void) {
  mp_process *p[4];
  for (long i = 0; i < 4; i++) {
    p[i] = CHECKP(mp_process_new(square, &i, sizeof i, NULL));
    CHECK(mp_process_start(p[i]));
  }
  for (int i = 0; i < 4; i++) {
    const void *r;
    size_t n;
    CHECK(mp_process_join(p[i], MP_FOREVER));
    if (mp_process_result(p[i], &r, &n) == 1)
      printf("%s -> %ld\n", mp_process_name(p[i]), *(const long *)r);
    mp_process_free(p[i]);
  }
  return 0;
}
