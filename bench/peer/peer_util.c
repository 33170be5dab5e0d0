/* peer_util.c: the stream and ping-pong harness of the peer programs (see
 * peer_util.h). */
#include "peer_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"

#define ITEM 16

pid_t peer_fork(void) {
  pid_t parent = getpid(), pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) /* the parent died before the prctl */
      _exit(1);
  }
  return pid;
}

void peer_reap(pid_t pid) {
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
    ;
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    bench_fail("a peer child failed", -ECHILD);
}

void peer_tmp_path(char *buf, size_t cap, const char *prefix) {
  const char *tmp = getenv("TMPDIR");
  snprintf(buf, cap, "%s/%s-%d", tmp && *tmp ? tmp : "/tmp", prefix, (int)getpid());
}

static double stream_once(const peer_chan *c, long n) {
  char item[ITEM] = "0123456789abcdef", buf[ITEM];
  void *h = c->open(c->arg, 0);
  if (!h)
    bench_fail("peer open", -EIO);
  uint64_t t0 = bench_now_ns();
  pid_t k = peer_fork();
  if (k == 0) {
    void *p = c->open(c->arg, 1);
    if (!p)
      _exit(1);
    for (long i = 0; i < n; i++)
      if (c->send(p, item, ITEM) != 0)
        _exit(1);
    c->close(p, 1);
    _exit(0);
  }
  for (long i = 0; i < n; i++)
    if (c->recv(h, buf, sizeof buf) != ITEM)
      bench_fail("peer stream recv", -EIO);
  double s = (double)(bench_now_ns() - t0) / 1e9;
  peer_reap(k);
  c->close(h, 0);
  return s;
}

double peer_stream_rate(const peer_chan *c) {
  long n = 20000;
  double s = stream_once(c, n), want = bench_budget() / 10;
  n = (long)((double)n * want / (s > 1e-6 ? s : 1e-6));
  if (n < 20000)
    n = 20000;
  double rates[5];
  for (int i = 0; i < 5; i++)
    rates[i] = (double)n / stream_once(c, n);
  return bench_median(rates, 5);
}

typedef struct pp {
  const peer_chan *c;
  void *h;
  size_t size;
} pp;

static int one_pingpong(void *ctx) {
  pp *x = ctx;
  char buf[4096];
  memset(buf, 'p', x->size);
  if (x->c->send(x->h, buf, x->size) != 0)
    return -EIO;
  return x->c->recv(x->h, buf, sizeof buf) == (long)x->size ? 0 : -EIO;
}

double peer_pingpong_ns(const peer_chan *c, size_t size) {
  pp x = {c, c->open(c->arg, 0), size};
  if (!x.h || size > 4096 || size == 0)
    bench_fail("peer open", -EIO);
  pid_t k = peer_fork();
  if (k == 0) {
    void *p = c->open(c->arg, 1);
    char buf[4096];
    long n;
    while (p && (n = c->recv(p, buf, sizeof buf)) > 0)
      if (c->send(p, buf, (size_t)n) != 0)
        _exit(1);
    if (p)
      c->close(p, 1);
    _exit(p ? 0 : 1);
  }
  double ns = bench_ns_per_op(one_pingpong, &x, NULL);
  if (c->send(x.h, "", 0) != 0)
    bench_fail("peer stop", -EIO);
  peer_reap(k);
  c->close(x.h, 0);
  return ns;
}
