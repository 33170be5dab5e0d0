/* bench_peer_zmq.c: ZeroMQ (libzmq3-dev) as the peer of mproc's Queue,
 * Connection and Pool, everything over ipc:// (Unix sockets), one context
 * per process (a child makes its own after fork, as ZeroMQ requires):
 *   queue.stream.16B        peer:zmq.pushpull, peer:zmq.pair
 *   queue.pingpong.16B      peer:zmq.pair
 *   conn.pingpong.64B       peer:zmq.pair, pinned to one CPU like the
 *                           mproc row; conn.pingpong.64B.2cpu unpinned
 *   conn.bulk.64MiB         peer:zmq.pair: the child sends 64 MiB on
 *                           request (zmq_send_const: no copy on its side),
 *                           this process receives it into a new zmq_msg_t
 *                           each time (ZeroMQ's own allocation)
 *   pool.apply_async.1e5    peer:zmq.pool: the common hand-rolled pool: a
 *                           PUSH socket fans 8-byte tasks out to one
 *                           worker process per CPU (PULL), which PUSH the
 *                           results back to one PULL socket; high-water
 *                           marks off so sending all tasks before reading
 *                           results cannot deadlock. Median of 3 runs, as
 *                           bench_pool.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "bench_util.h"
#include "peer_util.h"

#define BULK ((size_t)64 << 20)
#define NASYNC 100000

typedef struct zcfg {
  int type[2]; /* socket type of side 0 (binds) and side 1 (connects) */
  char endpoint[300];
} zcfg;

typedef struct zend {
  void *ctx, *sock;
} zend;

static void *zsock(int type, const char *ep, int bind) {
  /* One context per call: a child after fork must not touch its parent's. */
  void *ctx = zmq_ctx_new(), *s = ctx ? zmq_socket(ctx, type) : NULL;
  int zero = 0;
  if (!s)
    return NULL;
  zmq_setsockopt(s, ZMQ_SNDHWM, &zero, sizeof zero);
  zmq_setsockopt(s, ZMQ_RCVHWM, &zero, sizeof zero);
  if ((bind ? zmq_bind(s, ep) : zmq_connect(s, ep)) != 0) {
    zmq_close(s);
    zmq_ctx_term(ctx);
    return NULL;
  }
  zend *e = malloc(sizeof *e);
  e->ctx = ctx;
  e->sock = s;
  return e;
}

static void *z_open(void *arg, int side) {
  zcfg *c = arg;
  if (side == 0)
    unlink(c->endpoint + 6); /* a stale socket file from an earlier run */
  return zsock(c->type[side], c->endpoint, side == 0);
}

static int z_send(void *h, const void *buf, size_t n) {
  zend *e = h;
  return zmq_send(e->sock, buf, n, 0) == (int)n ? 0 : -zmq_errno();
}

static long z_recv(void *h, void *buf, size_t cap) {
  zend *e = h;
  int n = zmq_recv(e->sock, buf, cap, 0);
  return n < 0 ? -zmq_errno() : (size_t)n > cap ? -EMSGSIZE : n;
}

static void z_close(void *h, int side) {
  zend *e = h;
  int zero = 0;
  if (side == 0) /* nothing left to deliver from this side: do not linger */
    zmq_setsockopt(e->sock, ZMQ_LINGER, &zero, sizeof zero);
  zmq_close(e->sock);
  zmq_ctx_term(e->ctx);
  free(e);
}

static peer_chan chan(zcfg *c, int t0, int t1, const char *tag) {
  char path[256];
  peer_tmp_path(path, sizeof path, tag);
  snprintf(c->endpoint, sizeof c->endpoint, "ipc://%s", path);
  c->type[0] = t0;
  c->type[1] = t1;
  return (peer_chan){z_open, z_send, z_recv, z_close, c};
}

/* ---- 64 MiB ------------------------------------------------------------------- */

typedef struct bulk {
  zend *e;
} bulk;

static int bulk_once(void *ctx) {
  bulk *b = ctx;
  if (zmq_send(b->e->sock, "g", 1, 0) != 1)
    return -EIO;
  zmq_msg_t m;
  zmq_msg_init(&m);
  int n = zmq_msg_recv(&m, b->e->sock, 0);
  const char *d = zmq_msg_data(&m);
  int ok = n == (int)BULK && d[0] == 'b' && d[BULK - 1] == 'b';
  zmq_msg_close(&m);
  return ok ? 0 : -EPROTO;
}

static void bulk_row(zcfg *c) {
  (void)chan(c, ZMQ_PAIR, ZMQ_PAIR, "mproc-zbulk"); /* sets the endpoint */
  zend *e = z_open(c, 0);
  if (!e)
    bench_fail("zmq bind", -EIO);
  pid_t k = peer_fork();
  if (k == 0) {
    char *big = malloc(BULK), req[8];
    memset(big, 'b', BULK);
    zend *p = z_open(c, 1);
    while (p && z_recv(p, req, sizeof req) == 1)
      if (zmq_send_const(p->sock, big, BULK, 0) != (int)BULK)
        _exit(1);
    _exit(p ? 0 : 1);
  }
  bulk b = {e};
  bench_opts o = {.sample_s = 1e-9, .min_samples = 5, .max_samples = 40, .warmup = 2};
  bench_stats s;
  bench_ns_per_op(bulk_once, &b, &o);
  s = bench_stats_map(bench_last_stats(), (double)BULK / 1e6 * 1e9, 1);
  bench_row_stats("conn.bulk.64MiB", "MB/s", "peer:zmq.pair", s);
  z_send(e, "", 0);
  peer_reap(k);
  z_close(e, 0);
}

/* ---- the PUSH/PULL pool ---------------------------------------------------------- */

static double pool_once(zend *tasks, zend *results) {
  uint64_t t0 = bench_now_ns();
  long sum = 0, v;
  for (long i = 0; i < NASYNC; i++)
    if (zmq_send(tasks->sock, &i, sizeof i, 0) != (int)sizeof i)
      bench_fail("zmq pool send", -zmq_errno());
  for (long i = 0; i < NASYNC; i++) {
    if (zmq_recv(results->sock, &v, sizeof v, 0) != (int)sizeof v)
      bench_fail("zmq pool recv", -zmq_errno());
    sum += v;
  }
  if (sum != (long)NASYNC * (NASYNC - 1) / 2)
    bench_fail("zmq pool: wrong sum", -EPROTO);
  return (double)(bench_now_ns() - t0) / 1e6;
}

static void pool_row(void) {
  char tp[256], rp[256], te[300], re[300];
  peer_tmp_path(tp, sizeof tp, "mproc-ztasks");
  peer_tmp_path(rp, sizeof rp, "mproc-zresults");
  snprintf(te, sizeof te, "ipc://%s", tp);
  snprintf(re, sizeof re, "ipc://%s", rp);
  unlink(tp);
  unlink(rp);
  zend *tasks = zsock(ZMQ_PUSH, te, 1), *results = zsock(ZMQ_PULL, re, 1);
  if (!tasks || !results)
    bench_fail("zmq pool bind", -EIO);
  int nw = (int)sysconf(_SC_NPROCESSORS_ONLN);
  nw = nw < 1 ? 1 : nw > 64 ? 64 : nw;
  pid_t pids[64];
  for (int w = 0; w < nw; w++) {
    if ((pids[w] = peer_fork()) == 0) {
      zend *in = zsock(ZMQ_PULL, te, 0), *out = zsock(ZMQ_PUSH, re, 0);
      long v;
      while (in && out && zmq_recv(in->sock, &v, sizeof v, 0) == (int)sizeof v && v >= 0)
        if (zmq_send(out->sock, &v, sizeof v, 0) != (int)sizeof v)
          _exit(1);
      if (out)
        z_close(out, 1);
      _exit(in && out ? 0 : 1);
    }
  }
  /* PUSH deals round-robin over the workers connected so far: let them
   * all connect before the timed runs (one untimed run, then wait). */
  pool_once(tasks, results);
  usleep(100000);
  double v[3];
  for (int i = 0; i < 3; i++)
    v[i] = pool_once(tasks, results);
  bench_row("pool.apply_async.1e5", "ms", "peer:zmq.pool", bench_median(v, 3));
  long stop = -1;
  for (int w = 0; w < nw; w++)
    zmq_send(tasks->sock, &stop, sizeof stop, 0);
  for (int w = 0; w < nw; w++)
    peer_reap(pids[w]);
  z_close(tasks, 0);
  z_close(results, 0);
  unlink(tp);
  unlink(rp);
}

int main(void) {
  zcfg c;
  peer_chan pushpull = chan(&c, ZMQ_PULL, ZMQ_PUSH, "mproc-zpp");
  bench_row("queue.stream.16B", "msg/s", "peer:zmq.pushpull", peer_stream_rate(&pushpull));
  peer_chan pair = chan(&c, ZMQ_PAIR, ZMQ_PAIR, "mproc-zpair");
  bench_row("queue.stream.16B", "msg/s", "peer:zmq.pair", peer_stream_rate(&pair));
  bench_row("queue.pingpong.16B", "us", "peer:zmq.pair", peer_pingpong_ns(&pair, 16) / 1e3);
  int rc = bench_pin(1);
  if (rc < 0)
    bench_fail("pinning to one CPU", rc);
  bench_row("conn.pingpong.64B", "us", "peer:zmq.pair", peer_pingpong_ns(&pair, 64) / 1e3);
  bench_pin(0);
  bench_row("conn.pingpong.64B.2cpu", "us", "peer:zmq.pair", peer_pingpong_ns(&pair, 64) / 1e3);
  bulk_row(&c);
  pool_row();
  unlink(c.endpoint + 6);
  return 0;
}
