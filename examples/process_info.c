/* process_info.c: the reference's expanded first example (17.2.1.1), which
 * shows the process ids involved.
 *
 *   def info(title):
 *       print(title)
 *       print('module name:', __name__)
 *       if hasattr(os, 'getppid'):  # only available on Unix
 *           print('parent process:', os.getppid())
 *       print('process id:', os.getpid())
 *
 *   def f(name):
 *       info('function f')
 *       print('hello', name)
 *
 *   if __name__ == '__main__':
 *       info('main line')
 *       p = Process(target=f, args=('bob',))
 *       p.start()
 *       p.join()
 *
 * C has no module names; with fork the child runs the same program, whose
 * Python twin is __main__ in both processes, so that is what it prints. */
#include <stdio.h>
#include <unistd.h>

#include <mproc.h>

static void info(const char *title) {
  printf("%s\n", title);
  printf("module name: %s\n", "__main__");
  printf("parent process: %d\n", (int)getppid());
  printf("process id: %d\n", (int)getpid());
}

static int f(void *name, size_t len) {
  info("function f");
  printf("hello %.*s\n", (int)len, (const char *)name);
  return 0;
}

int main(void) {
  info("main line");
  mp_process *p = mp_process_new(f, "bob", 3, NULL);
  if (!p || mp_process_start(p) < 0 || mp_process_join(p, MP_FOREVER) < 0)
    return 1;
  mp_process_free(p);
  return 0;
}
