/* main.c: a tiny user of the installed libmproc_mpi (tests/test_install.sh
 * builds it with CMake and pkg-config). Run without mpirun it is a
 * singleton: mp_mpi_init returns, and a pool on "mpi" says MP_ENOTSUP.
 * Prints "mproc-mpi <version> ok". */
#include <errno.h>
#include <stdio.h>

#include <mproc.h>
#include <mproc/mpi.h>

int main(int argc, char **argv) {
  if (mp_mpi_init(&argc, &argv) != 0 || mp_mpi_size() != 1 || mp_mpi_rank() != 0)
    return 1;
  mp_pool *p = mp_pool_new(&(mp_pool_opts){.start_method = MP_START_MPI});
  if (p || mp_errno_code(errno) != MP_ENOTSUP)
    return 1;
  mp_mpi_finalize();
  printf("mproc-mpi %s ok\n", mp_version_string());
  return 0;
}
