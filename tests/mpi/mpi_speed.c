/* mpi_speed.c: quick speed figures of the "mpi" pool (not a test, not the
 * formal bench rows: bench/mpi/ has those). Under mpirun:
 *   tests/mpi/run.sh 3 vader,self -- build/tests/mpi/mpi_speed
 * prints apply round trip, 10^4 apply_async+get, map of 10^5 ints with
 * chunksize 1 and the default, and map of 10^7 ints against a local fork
 * pool of the same number of workers. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mpi_test.h"
#include "mproc/mpi.h"
#include "pool_test_tasks.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double map_time(mp_pool *p, int *in, int *out, size_t n, size_t chunksize) {
  double t = now_s();
  CHECK_RC(mp_pool_map(p, square, in, n, sizeof(int), out, sizeof(int),
                       &(mp_call_opts){.chunksize = chunksize}, NULL), 0);
  return now_s() - t;
}

int main(int argc, char **argv) {
  CHECK_RC(mp_mpi_init(&argc, &argv), 0);
  mp_pool *p = mp_pool_new(&(mp_pool_opts){.start_method = MP_START_MPI});
  CHECK(p);
  int nproc = mp_pool_processes(p);
  printf("ranks %d, mpi pool workers %d\n", mp_mpi_size(), nproc);
  int x = 3, *y;
  for (int i = 0; i < 200; i++) { /* warm up */
    CHECK_RC(mp_pool_apply(p, square, &x, sizeof x, (void **)&y, NULL, NULL), 0);
    mp_free(y);
  }
  enum { NRT = 3000 };
  double t = now_s();
  for (int i = 0; i < NRT; i++) {
    CHECK_RC(mp_pool_apply(p, square, &x, sizeof x, (void **)&y, NULL, NULL), 0);
    mp_free(y);
  }
  printf("apply round trip: %.1f us\n", (now_s() - t) / NRT * 1e6);
  enum { NA = 10000 };
  static mp_result *rs[NA];
  t = now_s();
  for (int i = 0; i < NA; i++)
    CHECK((rs[i] = mp_pool_apply_async(p, square, &i, sizeof i, NULL)));
  for (int i = 0; i < NA; i++) {
    CHECK_RC(mp_result_get(rs[i], 60, NULL, NULL), 0);
    mp_result_free(rs[i]);
  }
  printf("10^4 apply_async+get: %.0f tasks/s\n", NA / (now_s() - t));
  size_t big = 10000000;
  int *in = malloc(big * sizeof *in), *out = malloc(big * sizeof *out);
  CHECK(in && out);
  for (size_t i = 0; i < big; i++)
    in[i] = (int)(i & 0x7fff);
  printf("map 10^5 chunksize 1: %.0f items/s\n", 1e5 / map_time(p, in, out, 100000, 1));
  printf("map 10^5 default chunksize: %.0f items/s\n", 1e5 / map_time(p, in, out, 100000, 0));
  double tm = map_time(p, in, out, big, 0);
  for (size_t i = 0; i < big; i += 9973)
    CHECK(out[i] == in[i] * in[i]);
  mp_pool_free(p);
  mp_pool *lp = mp_pool_new(&(mp_pool_opts){.processes = nproc});
  CHECK(lp);
  double tl = map_time(lp, in, out, big, 0);
  mp_pool_free(lp);
  printf("map 10^7 ints: mpi %.3f s, local fork pool of %d %.3f s, ratio %.2f\n",
         tm, nproc, tl, tm / tl);
  free(in);
  free(out);
  return mp_mpi_finalize();
}
