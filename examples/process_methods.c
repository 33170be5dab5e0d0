/* process_methods.c: the reference's "Example usage of some of the methods
 * of Process" (17.2.2.1), printed as CPython 3.12 prints it:
 *
 *   >>> p = multiprocessing.Process(target=time.sleep, args=(1000,))
 *   >>> print(p, p.is_alive())
 *   <Process name='Process-1' parent=... initial> False
 *   >>> p.start()
 *   >>> print(p, p.is_alive())
 *   <Process name='Process-1' pid=... parent=... started> True
 *   >>> p.terminate()
 *   >>> time.sleep(0.1)
 *   >>> print(p, p.is_alive())
 *   <Process name='Process-1' pid=... parent=... stopped exitcode=-SIGTERM> False
 *   >>> p.exitcode == -signal.SIGTERM
 *   True
 *
 * Python's print(p) is mp_process_describe. Where Python sleeps 0.1 s and
 * hopes the child is gone, we join it: the same output, on a busy machine
 * too. */
#include <signal.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>

#include <mproc.h>
#include "check.h"

static int sleep_seconds(void *arg, size_t len) {
  (void)len;
  unsigned s;
  memcpy(&s, arg, sizeof s);
  sleep(s);
  return 0;
}

static void show(mp_process *p) {
  char repr[256];
  CHECK(mp_process_describe(p, repr, sizeof repr));
  printf("%s %s\n", repr, mp_process_is_alive(p) ? "True" : "False");
}

int main(void) {
  unsigned seconds = 1000;
  mp_process *p = CHECKP(mp_process_new(sleep_seconds, &seconds, sizeof seconds, NULL));
  show(p);
  CHECK(mp_process_start(p));
  show(p);
  CHECK(mp_process_terminate(p));
  CHECK(mp_process_join(p, 10.0));
  show(p);
  int code;
  printf("%s\n", mp_process_exitcode(p, &code) == 1 && code == -SIGTERM
                     ? "True" : "False");
  mp_process_free(p);
  return 0;
}
