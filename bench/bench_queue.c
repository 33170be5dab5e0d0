/* bench_queue.c: queues between processes: a stream of small items from one
 * producer process to one consumer process (Queue and SimpleQueue), from
 * four producers to one consumer, a ping-pong through two queues, and one
 * 64 MiB item. CPython's twin is bench/python/bench_queue.py.
 *
 * Rows:
 *   queue.stream.16B        msg/s  1 producer -> 1 consumer, 16-byte items;
 *                                  raw: the same messages through a pipe
 *   queue.simple.stream.16B msg/s  the same with a SimpleQueue
 *   queue.stream.16B.4p1c   msg/s  4 producer processes -> 1 consumer
 *   queue.pingpong.16B      us     round trip: put on one queue, the other
 *                                  process gets and puts on a second queue;
 *                                  raw: the same through two pipes
 *   queue.item.64MiB        MB/s   one 64 MiB item from one process to
 *                                  another, put to get returning; the
 *                                  consumer receives it in place
 *                                  (mp_queue_get_view: one copy in all);
 *                                  raw: memcpy of 64 MiB in this process
 *   queue.item.64MiB.copy   MB/s   the same, the consumer copying it into
 *                                  its own buffer (mp_queue_get_into)
 * Processes are plain fork() children: each row is about the queue. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mproc.h>

#include "bench_util.h"

#define ITEM 16
#define BIG ((size_t)64 << 20)

static void reap(pid_t p) {
  int st;
  while (waitpid(p, &st, 0) < 0 && errno == EINTR)
    ;
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    bench_fail("a child failed", -ECHILD);
}

static void check(int rc, const char *what) {
  if (rc != 0)
    bench_fail(what, rc);
}

/* ---- streams ---------------------------------------------------------------- */

/* Seconds to move n items from nprod producer processes to this one. */
static double stream_once(mp_queue *q, int nprod, long n) {
  char item[ITEM] = "0123456789abcdef";
  pid_t kids[8];
  uint64_t t0 = bench_now_ns();
  for (int p = 0; p < nprod; p++) {
    if ((kids[p] = fork()) == 0) {
      for (long i = 0; i < n / nprod; i++) {
        if (mp_queue_put(q, item, ITEM, MP_FOREVER) != 0)
          _exit(1);
      }
      _exit(0);
    }
  }
  char buf[ITEM];
  size_t len;
  for (long i = 0; i < n / nprod * nprod; i++)
    check(mp_queue_get_into(q, buf, sizeof buf, &len, MP_FOREVER), "get");
  double s = (double)(bench_now_ns() - t0) / 1e9;
  for (int p = 0; p < nprod; p++)
    reap(kids[p]);
  return s;
}

static double raw_stream_once(long n) {
  int fd[2];
  if (pipe(fd) < 0)
    bench_fail("pipe", -errno);
  char item[ITEM] = "0123456789abcdef";
  uint64_t t0 = bench_now_ns();
  pid_t k = fork();
  if (k == 0) {
    close(fd[0]);
    for (long i = 0; i < n; i++) {
      if (write(fd[1], item, ITEM) != ITEM)
        _exit(1);
    }
    _exit(0);
  }
  close(fd[1]);
  char buf[ITEM];
  for (long i = 0; i < n; i++) {
    size_t got = 0;
    while (got < ITEM) {
      ssize_t r = read(fd[0], buf + got, ITEM - got);
      if (r <= 0)
        bench_fail("pipe read", -EIO);
      got += (size_t)r;
    }
  }
  double s = (double)(bench_now_ns() - t0) / 1e9;
  close(fd[0]);
  reap(k);
  return s;
}

/* Messages per second: n sized so one run lasts about a tenth of the
 * budget, median of five runs. kind: 0 Queue, 1 SimpleQueue, 2 pipe. */
static double stream_rate(int kind, int nprod) {
  mp_queue *q = kind == 1 ? mp_simple_queue_new() : mp_queue_new(0);
  if (!q)
    bench_fail("mp_queue_new", mp_errno_code(errno));
  long n = 20000;
  double s = kind == 2 ? raw_stream_once(n) : stream_once(q, nprod, n);
  double want = bench_budget() / 10;
  n = (long)(n * want / (s > 1e-6 ? s : 1e-6));
  if (n < 20000)
    n = 20000;
  double rates[5];
  for (int i = 0; i < 5; i++) {
    s = kind == 2 ? raw_stream_once(n) : stream_once(q, nprod, n);
    rates[i] = (double)(n / nprod * nprod) / s;
  }
  mp_queue_free(q);
  return bench_median(rates, 5);
}

/* ---- ping-pong --------------------------------------------------------------- */

typedef struct pp {
  mp_queue *a, *b; /* there and back */
  int fa[2], fb[2];
} pp;

static int pingpong_queue(void *ctx) {
  pp *x = ctx;
  char buf[ITEM] = "ping............";
  size_t len;
  int rc = mp_queue_put(x->a, buf, ITEM, MP_FOREVER);
  if (rc == 0)
    rc = mp_queue_get_into(x->b, buf, sizeof buf, &len, MP_FOREVER);
  return rc;
}

static int pingpong_pipe(void *ctx) {
  pp *x = ctx;
  char buf[ITEM] = "ping............";
  if (write(x->fa[1], buf, ITEM) != ITEM || read(x->fb[0], buf, ITEM) != ITEM)
    return -EIO;
  return 0;
}

/* Prints the ping-pong rows (latency and CPU per round trip, see
 * bench_spin_rows) of column mproc, or raw for the pipes. */
static void pingpong(int raw) {
  pp x;
  x.a = mp_queue_new(0);
  x.b = mp_queue_new(0);
  if (!x.a || !x.b || pipe(x.fa) < 0 || pipe(x.fb) < 0)
    bench_fail("ping-pong setup", -ENOMEM);
  pid_t k = fork();
  if (k == 0) {
    char buf[ITEM];
    size_t len;
    close(x.fa[1]); /* so the parent's close ends the raw loop */
    for (;;) {
      if (raw) {
        if (read(x.fa[0], buf, ITEM) != ITEM)
          _exit(0);
        if (write(x.fb[1], buf, ITEM) != ITEM)
          _exit(1);
      } else {
        if (mp_queue_get_into(x.a, buf, sizeof buf, &len, MP_FOREVER) != 0)
          _exit(1);
        if (len == 0)
          _exit(0);
        if (mp_queue_put(x.b, buf, len, MP_FOREVER) != 0)
          _exit(1);
      }
    }
  }
  bench_spin_rows("queue.pingpong.16B", "us", 1e3, raw ? "raw" : "mproc",
                  raw ? pingpong_pipe : pingpong_queue, &x, NULL);
  check(mp_queue_put(x.a, "", 0, MP_FOREVER), "stop");
  close(x.fa[1]);
  reap(k);
  close(x.fa[0]);
  close(x.fb[0]);
  close(x.fb[1]);
  mp_queue_free(x.a);
  mp_queue_free(x.b);
}

/* ---- one big item ------------------------------------------------------------- */

/* MB/s of one 64 MiB item: this process puts it and waits for the
 * consumer's 1-byte acknowledgement; the consumer receives it in place
 * (view) or into a buffer it keeps (as a C program reading a stream
 * would), and checks a byte at each end. */
static double big_item(int view) {
  mp_queue *q = mp_queue_new(0), *ack = mp_queue_new(0);
  char *src = malloc(BIG);
  if (!q || !ack || !src)
    bench_fail("big item setup", -ENOMEM);
  memset(src, 'x', BIG);
  pid_t k = fork();
  if (k == 0) {
    char *dst = malloc(BIG);
    memset(dst, 0, BIG);
    size_t len;
    for (;;) {
      mp_queue_item it;
      const char *got = dst;
      if (view) {
        if (mp_queue_get_view(q, &it, MP_FOREVER) != 0)
          _exit(1);
        got = it.data;
        len = it.len;
      } else if (mp_queue_get_into(q, dst, BIG, &len, MP_FOREVER) != 0) {
        _exit(1);
      }
      if (len == 0)
        _exit(0);
      if (got[0] != 'x' || got[len - 1] != 'x')
        _exit(2);
      if (view)
        mp_queue_item_release(&it);
      if (mp_queue_put(ack, "k", 1, MP_FOREVER) != 0)
        _exit(1);
    }
  }
  double rates[9];
  char b;
  size_t len;
  int runs = 0;
  uint64_t start = bench_now_ns();
  for (int i = 0; i < 12 && runs < 9; i++) {
    uint64_t t0 = bench_now_ns();
    check(mp_queue_put(q, src, BIG, MP_FOREVER), "put 64 MiB");
    check(mp_queue_get_into(ack, &b, 1, &len, MP_FOREVER), "ack");
    double s = (double)(bench_now_ns() - t0) / 1e9;
    if (i >= 3) /* the first runs fault the pages in */
      rates[runs++] = (double)BIG / 1e6 / s;
    if (i >= 7 && (double)(bench_now_ns() - start) / 1e9 > 2 * bench_budget())
      break;
  }
  check(mp_queue_put(q, "", 0, MP_FOREVER), "stop");
  reap(k);
  free(src);
  mp_queue_free(q);
  mp_queue_free(ack);
  return bench_median(rates, (size_t)runs);
}

static double memcpy_rate(void) {
  char *a = malloc(BIG), *b = malloc(BIG);
  if (!a || !b)
    bench_fail("memcpy setup", -ENOMEM);
  memset(a, 'x', BIG);
  memset(b, 0, BIG);
  double rates[7];
  for (int i = 0; i < 7; i++) {
    uint64_t t0 = bench_now_ns();
    memcpy(b, a, BIG);
    __asm__ __volatile__("" : : "r"(b) : "memory");
    rates[i] = (double)BIG / 1e6 / ((double)(bench_now_ns() - t0) / 1e9);
  }
  free(a);
  free(b);
  return bench_median(rates, 7);
}

int main(void) {
  if (bench_nospin()) { /* the MP_SPIN=0 run: the spinning rows only */
    pingpong(0);
    pingpong(1);
    return 0;
  }
  bench_desc("queue.stream.16B", "Queue 1 producer -> 1 consumer process, 16 B items");
  bench_desc("queue.simple.stream.16B", "SimpleQueue 1 -> 1 process, 16 B items");
  bench_desc("queue.stream.16B.4p1c", "Queue 4 producers -> 1 consumer, 16 B items");
  bench_desc("queue.pingpong.16B", "Round trip through two queues, 16 B");
  bench_desc("queue.item.64MiB", "One 64 MiB item, process to process, received in place");
  bench_desc("queue.item.64MiB.copy", "One 64 MiB item, process to process, copied out");
  bench_row("queue.stream.16B", "msg/s", "mproc", stream_rate(0, 1));
  bench_row("queue.stream.16B", "msg/s", "raw", stream_rate(2, 1));
  bench_row("queue.simple.stream.16B", "msg/s", "mproc", stream_rate(1, 1));
  bench_row("queue.stream.16B.4p1c", "msg/s", "mproc", stream_rate(0, 4));
  pingpong(0);
  pingpong(1);
  bench_row("queue.item.64MiB", "MB/s", "mproc", big_item(1));
  memcpy_rate();
  bench_stats mc = bench_last_stats(); /* one floor for both rows */
  bench_row_stats("queue.item.64MiB", "MB/s", "raw", mc);
  bench_row("queue.item.64MiB.copy", "MB/s", "mproc", big_item(0));
  bench_row_stats("queue.item.64MiB.copy", "MB/s", "raw", mc);
  return bench_rerun_nospin();
}
