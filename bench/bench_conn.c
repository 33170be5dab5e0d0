/* bench_conn.c: connections against the floor: the same job done with bare
 * socketpair read/write in the same program (raw), and CPython's
 * multiprocessing.Pipe in bench/python/bench_conn.py.
 *
 * Rows:
 *   conn.pingpong.64B        us per round trip: the parent sends 64 bytes
 *                            with send_bytes, a child echoes them, the parent
 *                            receives them with recv_bytes; Pipe(), both
 *                            processes pinned to one CPU.
 *   conn.pingpong.64B.2cpu   the same, unpinned (cross-CPU wake-ups).
 *   conn.bulk.64MiB          MB/s: a child sends one 64 MiB message with
 *                            send_bytes on request; the parent receives it
 *                            with recv_bytes (a new buffer each time, freed
 *                            with mp_free, as Python's recv_bytes returns
 *                            new bytes; mproc reuses the last large block
 *                            freed, see docs/design-notes.md). raw: the
 *                            bare socketpair's throughput, write(2) of
 *                            64 MiB and read(2) into a reused buffer: the
 *                            floor the issue measures against.
 *   conn.bulk.64MiB.into     the same into a reused buffer with
 *                            recv_bytes_into (CPython: recv_bytes_into a
 *                            bytearray); raw: read(2) into a reused
 *                            buffer. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mproc.h>

#include "bench_util.h"

#define SMALL 64
#define BULK ((size_t)64 << 20)

/* ---- the floor: bare socketpair ---------------------------------------------- */

static int read_full(int fd, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, (char *)buf + got, n - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return r < 0 ? -errno : -EPIPE;
    got += (size_t)r;
  }
  return 0;
}

static int write_full(int fd, const void *buf, size_t n) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = write(fd, (const char *)buf + done, n - done);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return -errno;
    done += (size_t)r;
  }
  return 0;
}

typedef struct raw_fixture {
  int fd;
  pid_t pid;
  char *buf;
} raw_fixture;

/* The raw child: echoes 64-byte blocks, or on a 1-byte request writes
 * BULK bytes. */
static void raw_child(int fd, bool bulk) {
  char *big = bulk ? malloc(BULK) : NULL;
  if (big)
    memset(big, 'b', BULK);
  char buf[SMALL];
  for (;;) {
    if (read_full(fd, buf, bulk ? 1 : SMALL))
      _exit(0);
    if (write_full(fd, bulk ? big : buf, bulk ? BULK : SMALL))
      _exit(1);
  }
}

static void raw_start(raw_fixture *f, bool bulk) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    bench_fail("socketpair", -errno);
  f->pid = fork();
  if (f->pid == 0) {
    close(sv[0]);
    raw_child(sv[1], bulk);
  }
  close(sv[1]);
  f->fd = sv[0];
  f->buf = malloc(bulk ? BULK : SMALL);
  memset(f->buf, 'a', bulk ? BULK : SMALL);
}

static void raw_stop(raw_fixture *f) {
  close(f->fd);
  waitpid(f->pid, NULL, 0);
  free(f->buf);
}

static int raw_pingpong(void *ctx) {
  raw_fixture *f = ctx;
  int rc = write_full(f->fd, f->buf, SMALL);
  return rc ? rc : read_full(f->fd, f->buf, SMALL);
}

static int raw_bulk(void *ctx) {
  raw_fixture *f = ctx;
  int rc = write_full(f->fd, "g", 1);
  return rc ? rc : read_full(f->fd, f->buf, BULK);
}

/* ---- mproc ------------------------------------------------------------------------ */

typedef struct mp_fixture {
  mp_conn *c;
  pid_t pid;
  char *buf;
} mp_fixture;

static void mp_child(mp_conn *c, bool bulk) {
  char *big = bulk ? malloc(BULK) : NULL;
  if (big)
    memset(big, 'b', BULK);
  for (;;) {
    void *m;
    size_t n;
    if (mp_conn_recv_bytes(c, &m, &n, MP_CONN_NOLIMIT))
      _exit(0);
    int rc = bulk ? mp_conn_send_bytes(c, big, BULK) : mp_conn_send_bytes(c, m, n);
    mp_free(m);
    if (rc)
      _exit(1);
  }
}

static void mp_start(mp_fixture *f, bool bulk) {
  mp_conn *a, *b;
  int rc = mp_pipe(true, &a, &b);
  if (rc)
    bench_fail("mp_pipe", rc);
  f->pid = fork();
  if (f->pid == 0) {
    mp_conn_free(a);
    mp_child(b, bulk);
  }
  mp_conn_free(b);
  f->c = a;
  f->buf = malloc(bulk ? BULK : SMALL);
  memset(f->buf, 'a', bulk ? BULK : SMALL);
}

static void mp_stop(mp_fixture *f) {
  mp_conn_free(f->c);
  waitpid(f->pid, NULL, 0);
  free(f->buf);
}

static int mp_pingpong(void *ctx) {
  mp_fixture *f = ctx;
  int rc = mp_conn_send_bytes(f->c, f->buf, SMALL);
  if (rc)
    return rc;
  void *m;
  size_t n;
  rc = mp_conn_recv_bytes(f->c, &m, &n, MP_CONN_NOLIMIT);
  mp_free(m);
  return rc;
}

static int mp_bulk(void *ctx) {
  mp_fixture *f = ctx;
  int rc = mp_conn_send_bytes(f->c, "g", 1);
  if (rc)
    return rc;
  void *m;
  size_t n;
  rc = mp_conn_recv_bytes(f->c, &m, &n, MP_CONN_NOLIMIT);
  mp_free(m);
  return rc ? rc : n == BULK ? 0 : -EPROTO;
}

static int mp_bulk_into(void *ctx) {
  mp_fixture *f = ctx;
  int rc = mp_conn_send_bytes(f->c, "g", 1);
  if (rc)
    return rc;
  size_t n;
  rc = mp_conn_recv_bytes_into(f->c, f->buf, BULK, 0, &n);
  return rc ? rc : n == BULK ? 0 : -EPROTO;
}

/* ---- rows ------------------------------------------------------------------------- */

/* Alternates raw and mproc measurements over several rounds and keeps the
 * better median of each, so a burst of load from elsewhere (other builds on
 * this 2-CPU machine) does not land on one column only. */
#define ROUNDS 6

/* Keeps in *best the measurement (its samples' spread too) whose median
 * is lower: ns is the median bench_ns_per_op just returned. */
static void keep_better(bench_stats *best, double ns) {
  if (ns < best->median)
    *best = bench_last_stats();
}

static void pingpong_row(const char *id) {
  raw_fixture r;
  mp_fixture m;
  raw_start(&r, false);
  mp_start(&m, false);
  bench_opts o = {.budget_s = bench_budget() / ROUNDS};
  bench_stats raw = {.median = 1e300}, mp = {.median = 1e300};
  for (int round = 0; round < ROUNDS; round++) {
    keep_better(&raw, bench_ns_per_op(raw_pingpong, &r, &o));
    keep_better(&mp, bench_ns_per_op(mp_pingpong, &m, &o));
  }
  mp_stop(&m); /* first: its child holds a copy of the raw socket */
  raw_stop(&r);
  bench_row_stats(id, "us", "mproc", bench_stats_map(mp, 1e-3, 0));
  bench_row_stats(id, "us", "raw", bench_stats_map(raw, 1e-3, 0));
}

/* ns per 64 MiB message -> MB/s. */
static bench_stats mbps(bench_stats ns) {
  return bench_stats_map(ns, (double)BULK / 1e6 * 1e9, 1);
}

static void bulk_rows(void) {
  raw_fixture r;
  mp_fixture m;
  raw_start(&r, true);
  mp_start(&m, true);
  bench_opts o = {.budget_s = bench_budget(), .sample_s = 1e-9, .min_samples = 5,
                  .max_samples = 40, .warmup = 2};
  bench_stats raw = {.median = 1e300}, mp = {.median = 1e300}, into = {.median = 1e300};
  for (int round = 0; round < 2; round++) {
    keep_better(&raw, bench_ns_per_op(raw_bulk, &r, &o));
    keep_better(&mp, bench_ns_per_op(mp_bulk, &m, &o));
    keep_better(&into, bench_ns_per_op(mp_bulk_into, &m, &o));
  }
  mp_stop(&m); /* first: its child holds a copy of the raw socket */
  raw_stop(&r);
  /* One floor for both rows: the bare socketpair moving 64 MiB. */
  bench_row_stats("conn.bulk.64MiB", "MB/s", "mproc", mbps(mp));
  bench_row_stats("conn.bulk.64MiB", "MB/s", "raw", mbps(raw));
  bench_row_stats("conn.bulk.64MiB.into", "MB/s", "mproc", mbps(into));
  bench_row_stats("conn.bulk.64MiB.into", "MB/s", "raw", mbps(raw));
}

int main(void) {
  signal(SIGPIPE, SIG_IGN); /* the raw floor writes with plain write(2) */
  bench_desc("conn.pingpong.64B", "Pipe() send_bytes/recv_bytes round trip, 64 B, one CPU");
  bench_desc("conn.pingpong.64B.2cpu", "Pipe() send_bytes/recv_bytes round trip, 64 B, unpinned");
  bench_desc("conn.bulk.64MiB", "Pipe() send_bytes -> recv_bytes, one 64 MiB message, new buffer each");
  bench_desc("conn.bulk.64MiB.into", "Pipe() send_bytes -> recv_bytes_into a reused buffer, 64 MiB");
  int rc = bench_pin(1);
  if (rc < 0)
    bench_fail("pinning to one CPU", rc);
  pingpong_row("conn.pingpong.64B");
  bench_pin(0);
  pingpong_row("conn.pingpong.64B.2cpu");
  bulk_rows();
  return 0;
}
