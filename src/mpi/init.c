/* init.c: mp_mpi_init and mp_mpi_finalize, the MPI library's process-wide
 * state, and its small helpers. Init starts MPI with MPI_THREAD_SERIALIZED
 * (rank 0's calls come from one progress thread, never two at once: this
 * level is what MPICH and Open MPI both offer), makes MPI errors return
 * instead of aborting (a dead rank must not take rank 0 with it), gathers
 * each rank's usable CPUs and host name on rank 0, registers the "mpi" pool
 * backend, and then either returns (rank 0) or serves (the others). */
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mpi_internal.h"
#include "mproc/runtime.h"

mpiw_global mpiw_g = {.rank = -1};
static bool g_inited, g_own_mpi;

int64_t mpiw_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void mpiw_log(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  fprintf(stderr, "mproc-mpi[rank %d]: %s\n", mpiw_g.rank, buf);
}

static int64_t dead_timeout_ns(void) {
  const char *s = getenv("MP_MPI_DEAD_TIMEOUT");
  char *end;
  double v = s ? strtod(s, &end) : 0;
  if (s && end != s && v >= 0.2 && v <= 3600)
    return (int64_t)(v * 1e9);
  return MPIW_DEAD_NS_DEFAULT;
}

static int mpi_failed(const char *what, int rc) {
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS)
    snprintf(msg, sizeof msg, "error %d", rc);
  return mpiw_g.core ? mpiw_g.core->error_record(MP_EPROTO, "%s failed: %s", what, msg)
                     : MP_EPROTO;
}

static void at_exit(void) { mp_mpi_finalize(); }

/* Linked in, the method exists before init: a pool on "mpi" made too early
 * then says to call mp_mpi_init (MP_ENOTSUP) instead of "no such method". */
__attribute__((constructor)) static void at_load(void) { (void)mpiw_register(); }

MP_EXPORT int mp_mpi_init(int *argc, char ***argv) {
  if (g_inited)
    return MP_ESTATE;
  g_inited = true;
  int rc = mpiw_register();
  if (rc)
    return rc;
  int flag = 0, provided = 0;
  MPI_Initialized(&flag);
  if (!flag) {
    rc = MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided);
    if (rc != MPI_SUCCESS)
      return mpi_failed("MPI_Init_thread", rc);
    g_own_mpi = true;
  } else {
    MPI_Query_thread(&provided);
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &mpiw_g.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &mpiw_g.size);
  mpiw_g.dead_ns = dead_timeout_ns();
  if (provided < MPI_THREAD_SERIALIZED) {
    /* Every rank sees the same level: all of them refuse alike. */
    return mpiw_g.core->error_record(
        MP_ENOTSUP, "the MPI library offers thread level %d, below "
                    "MPI_THREAD_SERIALIZED", provided);
  }
  /* Each rank's usable CPUs and host name, for the default pool size,
   * the spread of slots and messages naming a rank. */
  int mine = mp_cpu_count_usable();
  char name[MPI_MAX_PROCESSOR_NAME] = "", *names = NULL;
  int nlen = 0;
  MPI_Get_processor_name(name, &nlen);
  if (mpiw_g.rank == 0) {
    mpiw_g.cpus = calloc((size_t)mpiw_g.size, sizeof *mpiw_g.cpus);
    names = calloc((size_t)mpiw_g.size, MPIW_HOST_MAX);
    mpiw_g.hosts = names;
    if (!mpiw_g.cpus || !names)
      MPI_Abort(MPI_COMM_WORLD, 70); /* every rank waits in the gather */
  }
  char host[MPIW_HOST_MAX] = "";
  size_t hl = strnlen(name, sizeof host - 1); /* cut to our width */
  memcpy(host, name, hl);
  if ((rc = MPI_Gather(&mine, 1, MPI_INT, mpiw_g.cpus, 1, MPI_INT, 0,
                       MPI_COMM_WORLD)) != MPI_SUCCESS ||
      (rc = MPI_Gather(host, MPIW_HOST_MAX, MPI_CHAR, names, MPIW_HOST_MAX,
                       MPI_CHAR, 0, MPI_COMM_WORLD)) != MPI_SUCCESS)
    return mpi_failed("MPI_Gather", rc);
  if (mpiw_g.rank != 0)
    mpiw_serve(); /* never returns */
  if (mpiw_g.size > 1 && (rc = mpiw_engine_start()) != 0)
    return rc;
  atexit(at_exit);
  return 0;
}

MP_EXPORT int mp_mpi_rank(void) { return mpiw_g.rank; }

MP_EXPORT int mp_mpi_size(void) { return mpiw_g.rank < 0 ? 0 : mpiw_g.size; }

MP_EXPORT int mp_mpi_finalize(void) {
  if (!g_inited || mpiw_g.rank != 0 || mpiw_g.finalized)
    return 0;
  mpiw_g.finalized = true;
  if (mpiw_g.size > 1)
    mpiw_engine_stop();
  /* MPI_Finalize waits for every rank: not for one that died (under
   * --enable-recovery the job goes on without it). */
  if (g_own_mpi && !mpiw_engine_lost_rank())
    MPI_Finalize();
  return 0;
}
