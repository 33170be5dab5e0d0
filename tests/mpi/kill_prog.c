/* kill_prog.c: the program tests/mpi/test_kill_rank.sh kills a rank of, using
 * only mproc's public API. Under `mpirun -n N kill_prog ITEMS [MARKER]`:
 *
 * - every rank first writes its pid to $MP_KILL_DIR/rank.<R> (R from
 *   the launcher's environment, before mp_mpi_init), so the script knows
 *   whom to kill;
 * - rank 0 maps ITEMS ints on an "mpi" pool, chunksize 1; each task, the
 *   first time its process runs one, creates $MP_KILL_DIR/started.<R> (the
 *   script's sign that the map is under way), sleeps 20 ms (so the map
 *   lasts long enough to be cut) and returns {3x+1, its rank};
 * - when the map is done, rank 0 checks each item: a correct value, or the
 *   failure MP_EWORKERDIED whose message names a rank ("rank <k>"). It
 *   prints one line
 *       kill_prog: items N ok A died D other O dead_ranks K... verdict V
 *   with V "pass" when every item is correct or died, and "fail" otherwise,
 *   then the first failure's message, and exits 0 on pass, 1 on fail.
 *
 * MARKER is ignored: it is a word unique to the run that the script finds
 * in the command line of every process (ranks and their local workers) to
 * check that none is left. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mproc.h>
#include <mproc/mpi.h>

typedef struct item_out {
  int32_t value;
  int32_t rank;
} item_out;

static int env_rank(void) {
  const char *r = getenv("OMPI_COMM_WORLD_RANK");
  if (!r)
    r = getenv("PMI_RANK");
  return r ? atoi(r) : -1;
}

/* Creates $MP_KILL_DIR/<name>.<rank>[ with text]. */
static void mark(const char *name, int rank, const char *text) {
  const char *dir = getenv("MP_KILL_DIR");
  if (!dir)
    return;
  char path[4096];
  snprintf(path, sizeof path, "%s/%s.%d", dir, name, rank);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return;
  if (text && write(fd, text, strlen(text)) < 0)
    perror("kill_prog: write");
  close(fd);
}

static int task(const void *arg, size_t len, mp_task_out *out) {
  static int started;
  int32_t x;
  if (len != sizeof x)
    return mp_task_fail(out, 2, "bad item length %zu", len);
  memcpy(&x, arg, sizeof x);
  int rank = mp_mpi_rank();
  if (rank < 0)
    rank = env_rank();
  if (!started) {
    started = 1;
    mark("started", rank, NULL);
  }
  nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
  item_out *o = mp_task_out_alloc(out, sizeof *o);
  if (!o)
    return mp_task_fail(out, 3, "no output element");
  o->value = 3 * x + 1;
  o->rank = rank;
  return 0;
}

/* The k of the first "rank <k>" in msg, or -1. */
static int named_rank(const char *msg) {
  for (const char *p = msg; (p = strstr(p, "rank ")) != NULL; p += 5) {
    char *end;
    long k = strtol(p + 5, &end, 10);
    if (end != p + 5)
      return (int)k;
  }
  return -1;
}

int main(int argc, char **argv) {
  char pid[32];
  snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
  mark("rank", env_rank(), pid);
  int rc = mp_mpi_init(&argc, &argv);
  if (rc < 0) {
    fprintf(stderr, "kill_prog: mp_mpi_init: %s\n", mp_strerror(rc));
    return 1;
  }
  /* Only rank 0 comes here. */
  size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 200;
  int32_t *in = malloc(n * sizeof *in);
  if (!in)
    return 1;
  for (size_t i = 0; i < n; i++)
    in[i] = (int32_t)i;
  mp_pool_opts po = {.start_method = MP_START_MPI};
  mp_pool *pool = mp_pool_new(&po);
  if (!pool) {
    fprintf(stderr, "kill_prog: mp_pool_new: %s\n", mp_strerror(-errno));
    return 1;
  }
  mp_call_opts co = {.chunksize = 1};
  mp_result *r = mp_pool_map_async(pool, task, in, n, sizeof *in, NULL,
                                   sizeof(item_out), &co);
  if (!r) {
    fprintf(stderr, "kill_prog: map_async: %s\n", mp_strerror(-errno));
    return 1;
  }
  /* A bound, not a timing assertion: the script's watchdog is the judge;
   * this only turns a hang into a verdict. */
  rc = mp_result_wait(r, 90.0);
  if (rc != 0) {
    printf("kill_prog: map not done after 90 s: %s verdict fail\n", mp_strerror(rc));
    fflush(stdout);
    _exit(1);
  }
  size_t ok = 0, died = 0, other = 0;
  int dead[64], ndead = 0;
  char first[MP_ERROR_MESSAGE_MAX + 64] = "";
  for (size_t i = 0; i < n; i++) {
    const void *data = NULL;
    size_t len = 0;
    int irc = mp_result_item(r, i, &data, &len);
    if (irc == 0) {
      const item_out *o = data;
      if (len >= sizeof *o && o->value == 3 * in[i] + 1) {
        ok++;
      } else {
        other++;
        if (!first[0])
          snprintf(first, sizeof first, "item %zu: wrong value", i);
      }
      continue;
    }
    const mp_error *e = mp_result_item_error(r, i);
    const char *msg = e ? e->message : "";
    int k = named_rank(msg);
    if (irc == MP_EWORKERDIED && k > 0) {
      died++;
      int seen = 0;
      for (int j = 0; j < ndead; j++)
        seen |= dead[j] == k;
      if (!seen && ndead < 64)
        dead[ndead++] = k;
    } else {
      other++;
    }
    if (!first[0])
      snprintf(first, sizeof first, "item %zu: %s: %s", i, mp_err_name(irc), msg);
  }
  int pass = other == 0 && ok + died == n;
  printf("kill_prog: items %zu ok %zu died %zu other %zu dead_ranks", n, ok, died, other);
  for (int j = 0; j < ndead; j++)
    printf(" %d", dead[j]);
  printf(" verdict %s\n", pass ? "pass" : "fail");
  if (first[0])
    printf("kill_prog: first failure: %s\n", first);
  fflush(stdout);
  mp_result_free(r);
  mp_pool_close(pool);
  mp_pool_join(pool, 30.0);
  mp_pool_free(pool);
  free(in);
  mp_mpi_finalize();
  return pass ? 0 : 1;
}
