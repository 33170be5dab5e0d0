/* hello.c: the plainest MPI program, used to prove that a launch works
 * before anything of mproc's rides on it (tests/mpi/netns.sh runs it with
 * ranks in separate network namespaces over TCP). Every rank passes a token
 * around the ring (so every rank really talked to its neighbours), then
 * rank 0 gathers one line per rank and prints it:
 *
 *     hello rank R of N netns net:[INODE] token T
 *
 * The network namespace's inode tells the script which "host" each rank
 * ran on. Exits 0 when the token came back with every rank's mark, 1
 * otherwise. Uses only MPI (no mproc), so it also builds with MPICH. */
#include <mpi.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum { LINE = 128 };

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);

  /* The ring: rank 0 starts the token at 0, each rank adds 1 << rank. */
  long token = 0;
  if (size > 1) {
    int next = (rank + 1) % size, prev = (rank + size - 1) % size;
    if (rank == 0) {
      token = 1;
      MPI_Send(&token, 1, MPI_LONG, next, 0, MPI_COMM_WORLD);
      MPI_Recv(&token, 1, MPI_LONG, prev, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else {
      MPI_Recv(&token, 1, MPI_LONG, prev, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      token |= 1L << rank;
      MPI_Send(&token, 1, MPI_LONG, next, 0, MPI_COMM_WORLD);
    }
  } else {
    token = 1;
  }

  char ns[64] = "?";
  ssize_t n = readlink("/proc/self/ns/net", ns, sizeof ns - 1);
  if (n > 0)
    ns[n] = '\0';
  char line[LINE];
  memset(line, 0, sizeof line);
  snprintf(line, sizeof line, "hello rank %d of %d netns %s token %ld", rank,
           size, ns, token);

  static char all[64 * LINE];
  if (size > 64) {
    if (rank == 0)
      fprintf(stderr, "hello: at most 64 ranks\n");
    MPI_Finalize();
    return 1;
  }
  MPI_Gather(line, LINE, MPI_CHAR, all, LINE, MPI_CHAR, 0, MPI_COMM_WORLD);
  int ok = 1;
  if (rank == 0) {
    for (int r = 0; r < size; r++)
      printf("%s\n", all + (size_t)r * LINE);
    long want = size >= 63 ? -1 : (1L << size) - 1;
    ok = token == want;
    if (!ok)
      fprintf(stderr, "hello: token %ld, expected %ld\n", token, want);
    fflush(stdout);
  }
  MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
  MPI_Finalize();
  return ok ? 0 : 1;
}
