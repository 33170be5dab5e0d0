/* pool_map_pids.c: tutorial 000's process pool: map over range(5) returns
 * each call's return value, here the pid of the worker that ran it.
 *
 *   import multiprocessing
 *   from os import getpid
 *
 *   def worker(procnum):
 *       print('I am number %d in process %d' % (procnum, getpid()))
 *       return getpid()
 *
 *   if __name__ == '__main__':
 *       pool = multiprocessing.Pool(processes=3)
 *       print(pool.map(worker, range(5)))
 *
 * The workers' lines come in any order; the list comes in input order. */
#include <stdio.h>
#include <unistd.h>

#include <mproc.h>
#include "check.h"

static int worker(const void *arg, size_t len, mp_task_out *out) {
  (void)len;
  int procnum = *(const int *)arg;
  printf("I am number %d in process %d\n", procnum, (int)getpid());
  fflush(stdout);
  int pid = (int)getpid();
  return mp_task_out_set(out, &pid, sizeof pid);
}

int main(void) {
  mp_pool *pool = mp_pool_new(&(mp_pool_opts){.processes = 3});
  if (!pool) {
    fprintf(stderr, "mp_pool_new: %s\n", mp_strerror(errno));
    return 1;
  }
  int range5[5] = {0, 1, 2, 3, 4}, pids[5];
  mp_error err;
  if (mp_pool_map(pool, worker, range5, 5, sizeof(int), pids, sizeof(int),
                  NULL, &err) != 0) {
    fprintf(stderr, "map: %s\n", err.message);
    return 1;
  }
  printf("[");
  for (int i = 0; i < 5; i++)
    printf("%s%d", i ? ", " : "", pids[i]);
  printf("]\n");
  CHECK(mp_pool_close(pool));
  CHECK(mp_pool_join(pool, MP_FOREVER));
  mp_pool_free(pool);
  return 0;
}
