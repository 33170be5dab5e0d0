/* bench_mpi_util.h: what the MPI benchmark programs share. `make bench`
 * (bench/run.sh) starts every program in build-bench/bench/ plainly, not
 * under mpirun, so an MPI benchmark starts itself again under mpirun, once
 * per phase (a phase is a set of rows needing a given number of ranks),
 * and its ranks print the ROW lines. Open MPI only (its mpirun flags); a
 * machine without mpirun gets SKIP lines instead. */
#ifndef BENCH_MPI_UTIL_H
#define BENCH_MPI_UTIL_H

/* 1 when this process was started by an MPI launcher (Open MPI's or
 * MPICH's environment variables are set), else 0. */
int bench_mpi_launched(void);

/* Runs this program again as `mpirun --oversubscribe -n ranks <self> phase`
 * (as root too), waits for it and returns 0 when it exited 0, else -1 with
 * a message on stderr. When mpirun is absent it prints "SKIP id reason"
 * for each of the NULL-terminated ids and returns 0. */
int bench_mpi_phase(const char *phase, int ranks, const char *const *ids);

#endif
