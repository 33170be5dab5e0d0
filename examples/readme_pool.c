/* readme_pool.c: the pool example shown in README.md: Python's
 * pool.map(square, range(10)) over an int array, results written straight
 * into the output array. A failed call prints mp_strerror's message and
 * ends the program with status 1. */
#include <errno.h>
#include <mproc.h>
#include <stdio.h>

static int square(const void *arg, size_t len, mp_task_out *out) {
  (void)len;
  int x = *(const int *)arg, y = x * x;
  return mp_task_out_set(out, &y, sizeof y);
}

int main(void) {
  int in[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, out[10];
  mp_pool *pool = mp_pool_new(&(mp_pool_opts){.processes = 4});
  if (!pool)
    return fprintf(stderr, "pool: %s\n", mp_strerror(errno)), 1;
  int rc = mp_pool_map(pool, square, in, 10, sizeof(int), out, sizeof(int), NULL, NULL);
  mp_pool_close(pool);
  mp_pool_join(pool, MP_FOREVER);
  mp_pool_free(pool);
  if (rc < 0)
    return fprintf(stderr, "map: %s\n", mp_strerror(rc)), 1;
  for (int i = 0; i < 10; i++)
    printf(i ? ", %d" : "[%d", out[i]);
  printf("]\n");
  return 0;
}
