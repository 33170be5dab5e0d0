/* pool_reference.c: the reference's 17.2.2.9 example of the Pool class:
 * apply_async with get(timeout=1), map, imap stepped with next() and
 * next(timeout=1), and the TimeoutError of a sleeping task.
 *
 *   from multiprocessing import Pool
 *
 *   def f(x):
 *       return x*x
 *
 *   if __name__ == '__main__':
 *       with Pool(processes=4) as pool:         # start 4 worker processes
 *           result = pool.apply_async(f, (10,)) # evaluate "f(10)" asynchronously
 *           print(result.get(timeout=1))        # prints "100"
 *           print(pool.map(f, range(10)))       # prints "[0, 1, 4,..., 81]"
 *           it = pool.imap(f, range(10))
 *           print(next(it))                     # prints "0"
 *           print(next(it))                     # prints "1"
 *           print(it.next(timeout=1))           # prints "4"
 *           import time
 *           result = pool.apply_async(time.sleep, (10,))
 *           print(result.get(timeout=1))        # raises TimeoutError */
#include <stdio.h>
#include <unistd.h>

#include <mproc.h>
#include "check.h"

/* Python waits 1 s for results that come at once; so a loaded machine
 * (CI running sanitizers) cannot turn them into a TimeoutError, we wait
 * longer for those. The sleeping task's 1 s wait is kept. */
#define SURE 30

static int f(const void *arg, size_t len, mp_task_out *out) {
  (void)len;
  int x = *(const int *)arg;
  int y = x * x;
  return mp_task_out_set(out, &y, sizeof y);
}

static int sleep_task(const void *arg, size_t len, mp_task_out *out) {
  (void)len;
  (void)out;
  sleep(*(const unsigned *)arg);
  return 0;
}

int main(void) {
  mp_pool *pool = mp_pool_new(&(mp_pool_opts){.processes = 4});
  if (!pool) {
    fprintf(stderr, "mp_pool_new: %s\n", mp_strerror(errno));
    return 1;
  }
  const void *d;
  int ten = 10;
  mp_result *result = CHECKP(mp_pool_apply_async(pool, f, &ten, sizeof ten, NULL));
  if (mp_result_get(result, SURE, &d, NULL) == 0)
    printf("%d\n", *(const int *)d);
  mp_result_free(result);

  int range10[10], out[10];
  for (int i = 0; i < 10; i++)
    range10[i] = i;
  CHECK(mp_pool_map(pool, f, range10, 10, sizeof(int), out, sizeof(int), NULL, NULL));
  printf("[");
  for (int i = 0; i < 10; i++)
    printf("%s%d", i ? ", " : "", out[i]);
  printf("]\n");

  mp_imap *it = CHECKP(mp_pool_imap(pool, f, range10, 10, sizeof(int), NULL));
  if (mp_imap_next(it, MP_FOREVER, &d, NULL) == 0)
    printf("%d\n", *(const int *)d);
  if (mp_imap_next(it, MP_FOREVER, &d, NULL) == 0)
    printf("%d\n", *(const int *)d);
  if (mp_imap_next(it, SURE, &d, NULL) == 0)
    printf("%d\n", *(const int *)d);
  mp_imap_free(it);

  unsigned secs = 10;
  result = CHECKP(mp_pool_apply_async(pool, sleep_task, &secs, sizeof secs, NULL));
  int rc = mp_result_get(result, 1, &d, NULL);
  mp_result_free(result);
  mp_pool_free(pool);
  if (rc == MP_ETIMEOUT) {
    fflush(stdout);
    fprintf(stderr, "multiprocessing.context.TimeoutError\n");
    return 1;
  }
  return 0;
}
