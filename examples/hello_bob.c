/* hello_bob.c: the reference's first example (17.2.1.1): start a process
 * that greets bob, and wait for it.
 *
 *   from multiprocessing import Process
 *
 *   def f(name):
 *       print('hello', name)
 *
 *   if __name__ == '__main__':
 *       p = Process(target=f, args=('bob',))
 *       p.start()
 *       p.join()
 *
 * Python's args tuple becomes argument bytes, copied for the child. */
#include <errno.h>
#include <stdio.h>

#include <mproc.h>

static int f(void *name, size_t len) {
  printf("hello %.*s\n", (int)len, (const char *)name);
  return 0;
}

int main(void) {
  mp_process *p = mp_process_new(f, "bob", 3, NULL);
  if (!p || mp_process_start(p) < 0 || mp_process_join(p, MP_FOREVER) < 0) {
    fprintf(stderr, "hello_bob: %s\n", mp_strerror(mp_errno_code(errno)));
    return 1;
  }
  mp_process_free(p);
  return 0;
}
