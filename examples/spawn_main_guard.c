/* spawn_main_guard.c: the reference's "safe importing of main module"
 * example (17.2.3.2):
 *
 *   from multiprocessing import Process, freeze_support, set_start_method
 *
 *   def foo():
 *       print('hello')
 *
 *   if __name__ == '__main__':
 *       freeze_support()
 *       set_start_method('spawn')
 *       p = Process(target=foo)
 *       p.start()
 *
 * C needs no `if __name__ == '__main__'`: a spawned child never enters
 * main (the library runs foo before it), so main's code runs once, and
 * mp_freeze_support() does nothing. As in Python, the child is joined when
 * the program exits. */
#include <stdio.h>

#include <mproc.h>
#include "check.h"

static int foo(void *arg, size_t len) {
  (void)arg;
  (void)len;
  printf("hello\n");
  return 0;
}

int main(void) {
  mp_freeze_support();
  CHECK(mp_set_start_method(MP_START_SPAWN, false));
  mp_process *p = mp_process_new(foo, NULL, 0, NULL);
  if (!p || mp_process_start(p) != 0) {
    fprintf(stderr, "could not start the process\n");
    return 1;
  }
  mp_process_free(p);
  return 0;
}
