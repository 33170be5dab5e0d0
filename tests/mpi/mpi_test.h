/* mpi_test.h: the checks the MPI test programs share (rank 0 runs the
 * cases; a failed check exits nonzero, and mpirun then ends every rank). */
#ifndef MPI_TEST_H
#define MPI_TEST_H

#include <stdio.h>
#include <stdlib.h>

#include "mproc.h"

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);          \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)
#define CHECK_RC(expr, want)                                                   \
  do {                                                                         \
    int rc_ = (expr);                                                          \
    if (rc_ != (want)) {                                                       \
      fprintf(stderr, "FAIL %s:%d: %s = %d (%s), want %s\n", __FILE__,        \
              __LINE__, #expr, rc_, mp_err_name(rc_), #want);                 \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)

#endif
