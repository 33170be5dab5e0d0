/* mproc/mpi.h: the pool across machines, on MPI (library libmproc_mpi,
 * CMake target mproc::mpi, pkg-config mproc-mpi; the core libmproc never
 * links MPI). Python's anchor is mpi4py.futures in its static mode
 * (`mpirun -n N python -m mpi4py.futures prog.py`): the same program runs
 * on every rank; rank 0 runs main, the others serve its pools.
 *
 *   int main(int argc, char **argv) {
 *     if (mp_mpi_init(&argc, &argv) < 0)  // ranks > 0 never return
 *       return 1;
 *     mp_pool *pool = mp_pool_new(&(mp_pool_opts){.start_method = MP_START_MPI});
 *     mp_pool_map(pool, square, in, n, sizeof(int), out, sizeof(int), NULL, NULL);
 *     mp_pool_free(pool);
 *     mp_mpi_finalize();
 *   }
 *
 *   mpirun -n 3 ./prog            # rank 0 + two serving ranks
 *   mpirun --map-by ppr:1:node ./prog   # one serving rank per host
 *
 * A pool with start method "mpi" (MP_START_MPI, or mp_get_context("mpi")
 * with mp_context_pool_new) has `processes` workers spread round-robin over
 * ranks 1..n-1 (default: the sum of those ranks' usable CPUs). Each serving
 * rank runs the tasks it receives in a local fork pool of as many workers as
 * it has slots, so a task that crashes or overruns task_timeout fails only
 * itself (MP_EWORKERDIED, MP_ETIMEOUT) and the rank goes on. What differs
 * from a local pool is written in mproc/pool.h ("mpi") and docs/mpi.md.
 *
 * Threads: call mp_mpi_init and mp_mpi_finalize from the main thread; pools
 * are then usable from any thread of rank 0. The library owns MPI: the
 * program must not call MPI itself between init and finalize except from
 * the main thread while no pool is running (MPI_THREAD_SERIALIZED). */
#ifndef MPROC_MPI_H
#define MPROC_MPI_H

#include "errors.h"
#include "pool.h"

MP_EXTERN_C_BEGIN

#define MP_START_MPI "mpi"

/* Call first thing in main(), before any pool or process. Initialises MPI
 * (MPI_Init_thread, MPI_THREAD_SERIALIZED); the "mpi" pool start method is
 * registered when the library loads (a pool on it before init fails with
 * MP_ENOTSUP saying to call this). Rank 0 returns 0 and runs main; every other rank serves
 * rank 0's pools until rank 0 finalizes or exits (or stops answering for
 * a few seconds), then calls exit(0): it never returns. Started without
 * mpirun (a singleton, one rank), it returns 0 and a pool on "mpi" fails
 * with MP_ENOTSUP saying so. argc/argv may be NULL.
 * Returns 0, MP_ESTATE (called twice), MP_ENOTSUP (the MPI offers less than
 * MPI_THREAD_SERIALIZED), MP_EPROTO (an MPI call failed: mp_last_error()
 * says which). */
MP_EXPORT int mp_mpi_init(int *argc, char ***argv);

/* This process's rank in MPI_COMM_WORLD, -1 before mp_mpi_init. */
MP_EXPORT int mp_mpi_rank(void);

/* The number of ranks in MPI_COMM_WORLD, 0 before mp_mpi_init. */
MP_EXPORT int mp_mpi_size(void);

/* Rank 0: terminates pools still running on "mpi", tells every serving
 * rank to stop, and finalizes MPI. Also runs at exit when not called.
 * Returns 0 (also when repeated or before init). */
MP_EXPORT int mp_mpi_finalize(void);

MP_EXTERN_C_END

#endif
