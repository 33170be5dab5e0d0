/* pool_basic.c: the reference's 17.2.1.6 example, "Using a pool of
 * workers": map, imap_unordered, apply_async with get(timeout=1), and the
 * TimeoutError of a task that sleeps longer than get waits.
 *
 *   from multiprocessing import Pool
 *   from time import sleep
 *
 *   def f(x):
 *       return x*x
 *
 *   if __name__ == '__main__':
 *       with Pool(processes=4) as pool:
 *           print(pool.map(f, range(10)))      # "[0, 1, 4,..., 81]"
 *           for i in pool.imap_unordered(f, range(10)):
 *               print(i)                       # same numbers, any order
 *           res = pool.apply_async(f, [10])
 *           print(res.get(timeout=1))          # prints "100"
 *           res = pool.apply_async(sleep, [10])
 *           print(res.get(timeout=1))          # raises TimeoutError
 *
 * Python's uncaught TimeoutError ends the program with status 1 after the
 * `with` block terminated the pool; so does this, through mp_pool_free. */
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

static void print_list(const int *v, size_t n) {
  printf("[");
  for (size_t i = 0; i < n; i++)
    printf("%s%d", i ? ", " : "", v[i]);
  printf("]\n");
}

int main(void) {
  mp_pool *pool = mp_pool_new(&(mp_pool_opts){.processes = 4});
  if (!pool) {
    fprintf(stderr, "mp_pool_new: %s\n", mp_strerror(errno));
    return 1;
  }
  int range10[10], out[10];
  for (int i = 0; i < 10; i++)
    range10[i] = i;
  CHECK(mp_pool_map(pool, f, range10, 10, sizeof(int), out, sizeof(int), NULL, NULL));
  print_list(out, 10);

  mp_imap *it = CHECKP(mp_pool_imap_unordered(pool, f, range10, 10, sizeof(int), NULL));
  const void *d;
  while (mp_imap_next(it, MP_FOREVER, &d, NULL) == 0)
    printf("%d\n", *(const int *)d);
  mp_imap_free(it);

  int ten = 10;
  mp_result *res = CHECKP(mp_pool_apply_async(pool, f, &ten, sizeof ten, NULL));
  if (mp_result_get(res, SURE, &d, NULL) == 0)
    printf("%d\n", *(const int *)d);
  mp_result_free(res);

  unsigned secs = 10;
  res = CHECKP(mp_pool_apply_async(pool, sleep_task, &secs, sizeof secs, NULL));
  int rc = mp_result_get(res, 1, &d, NULL);
  mp_result_free(res);
  mp_pool_free(pool); /* the end of `with`: terminate */
  if (rc == MP_ETIMEOUT) {
    fflush(stdout);
    fprintf(stderr, "multiprocessing.context.TimeoutError\n");
    return 1;
  }
  return 0;
}
