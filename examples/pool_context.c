/* pool_context.c: a pool from a context (the reference's 17.2.1.2: "context
 * objects have the same API as the multiprocessing module"), on the spawn
 * start method, and multiprocessing.dummy's thread pool beside it:
 *
 *   import multiprocessing as mp
 *   from multiprocessing.pool import ThreadPool
 *
 *   def square(x):
 *       return x * x
 *
 *   if __name__ == '__main__':
 *       with mp.get_context('spawn').Pool(2) as pool:
 *           print(pool.map(square, range(10)))
 *       with ThreadPool(2) as pool:
 *           print(pool.map(square, range(10)))
 *
 * The spawned workers run this program again; square crosses to them as a
 * reference into it (never as a raw address) and main() does not run there. */
#include <stdio.h>

#include <errno.h>

#include <mproc.h>

static int square(const void *arg, size_t len, mp_task_out *out) {
  (void)len;
  int x = *(const int *)arg;
  int y = x * x;
  return mp_task_out_set(out, &y, sizeof y);
}

static int run(mp_context *ctx) {
  mp_pool *pool = mp_context_pool_new(ctx, &(mp_pool_opts){.processes = 2});
  if (!pool) {
    fprintf(stderr, "mp_context_pool_new: %s\n", mp_strerror(errno));
    return 1;
  }
  int range10[10], out[10];
  for (int i = 0; i < 10; i++)
    range10[i] = i;
  mp_error err;
  if (mp_pool_map(pool, square, range10, 10, sizeof(int), out, sizeof(int),
                  NULL, &err) != 0) {
    fprintf(stderr, "map: %s\n", err.message);
    return 1;
  }
  printf("[");
  for (int i = 0; i < 10; i++)
    printf("%s%d", i ? ", " : "", out[i]);
  printf("]\n");
  mp_pool_free(pool); /* the with block's exit: terminate */
  return 0;
}

int main(void) {
  if (run(mp_get_context(MP_START_SPAWN)))
    return 1;
  return run(mp_get_context(MP_START_THREAD));
}
