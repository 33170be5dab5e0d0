/* bench_mpi_util.c: starting an MPI benchmark's phases under mpirun (see
 * bench_mpi_util.h). */
#include "bench_mpi_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"

int bench_mpi_launched(void) {
  return getenv("OMPI_COMM_WORLD_SIZE") != NULL || getenv("PMI_SIZE") != NULL ||
         getenv("PMIX_RANK") != NULL;
}

static int have_mpirun(void) {
  return system("command -v mpirun >/dev/null 2>&1") == 0;
}

int bench_mpi_phase(const char *phase, int ranks, const char *const *ids) {
  if (!have_mpirun()) {
    for (; *ids; ids++)
      bench_skip(*ids, "mpirun not found (Debian package openmpi-bin)");
    return 0;
  }
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0)
    return -1;
  self[n] = '\0';
  char nr[16];
  snprintf(nr, sizeof nr, "%d", ranks);
  /* Root may run Open MPI only when it says so; -n 3 on two cores needs
   * --oversubscribe, which also makes idle ranks yield their CPU. */
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    execlp("mpirun", "mpirun", "--oversubscribe", "-n", nr, self, phase,
           (char *)NULL);
    perror("bench: exec mpirun");
    _exit(127);
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0)
    ;
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
    return 0;
  fprintf(stderr, "bench: mpirun -n %d (phase %s) failed (status 0x%x)\n",
          ranks, phase, st);
  return -1;
}
