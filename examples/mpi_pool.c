/* mpi_pool.c: the pool across MPI ranks. Run it as MPI programs run:
 *
 *   mpirun -n 3 ./mpi_pool     (make demo does; rank 0 prints, the others serve)
 *
 * First the tutorial's pool.map (the reference's 17.2.1 introduction):
 *
 *   from multiprocessing import Pool
 *   def f(x):
 *       return x*x
 *   if __name__ == '__main__':
 *       with Pool(5) as p:
 *           print(p.map(f, [1, 2, 3]))
 *
 * then the reference's "Using Pool" example (17.2.4), unchanged: it is
 * examples/pool_using.c, compiled here with its pool made on the "mpi"
 * start method. With mpi4py the Python twin is the same program under
 * `mpirun -n 3 python -m mpi4py.futures`, its Pool an MPIPoolExecutor.
 * Worker names are those of the serving ranks' local pool workers. */
#include <stdio.h>

#include <mproc.h>
#include <mproc/mpi.h>

/* The "Using Pool" program with every pool on "mpi": its main becomes
 * using_pool(). */
static mp_pool *mpi_pool_new(const mp_pool_opts *o) {
  mp_pool_opts m = *o;
  m.start_method = MP_START_MPI;
  return mp_pool_new(&m);
}
#define mp_pool_new mpi_pool_new
#define main using_pool
#include "pool_using.c"
#undef main
#undef mp_pool_new

static int square(const void *arg, size_t len, mp_task_out *out) {
  (void)len;
  int x = *(const int *)arg;
  int y = x * x;
  return mp_task_out_set(out, &y, sizeof y);
}

int main(int argc, char **argv) {
  if (mp_mpi_init(&argc, &argv) < 0) /* ranks > 0 serve and never return */
    return 1;
  mp_pool *p = mpi_pool_new(&(mp_pool_opts){.processes = 5});
  if (!p) {
    fprintf(stderr, "mp_pool_new: %s\n", mp_last_error()->message);
    return 1;
  }
  int in[3] = {1, 2, 3}, out[3];
  if (mp_pool_map(p, square, in, 3, sizeof(int), out, sizeof(int), NULL, NULL) != 0)
    return 1;
  printf("[%d, %d, %d]\n", out[0], out[1], out[2]);
  mp_pool_free(p); /* the end of `with`: terminate */
  int rc = using_pool();
  mp_mpi_finalize();
  return rc;
}
