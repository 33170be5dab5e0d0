/* lock.c: the reference's 17.2.1.4 example, "Synchronization between
 * processes": ten processes print through one lock, so their lines never
 * mix.
 *
 *   from multiprocessing import Process, Lock
 *
 *   def f(l, i):
 *       l.acquire()
 *       try:
 *           print('hello world', i)
 *       finally:
 *           l.release()
 *
 *   if __name__ == '__main__':
 *       lock = Lock()
 *       for num in range(10):
 *           Process(target=f, args=(lock, num)).start()
 *
 * The lock is created before the children, which inherit it by fork. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mproc.h>
#include "check.h"

static void f(mp_lock *l, int i) {
  CHECK(mp_lock_acquire(l, MP_FOREVER));
  printf("hello world %d\n", i);
  fflush(stdout);
  CHECK(mp_lock_release(l));
}

int main(void) {
  mp_lock *lock = mp_lock_new();
  if (!lock) {
    fprintf(stderr, "mp_lock_new: %s\n", mp_strerror(mp_errno_code(errno)));
    return 1;
  }
  fflush(stdout);
  for (int num = 0; num < 10; num++) {
    pid_t pid = fork();
    if (pid == 0) {
      f(lock, num);
      _exit(0);
    }
  }
  while (wait(NULL) > 0)
    ;
  mp_lock_free(lock);
  return 0;
}
