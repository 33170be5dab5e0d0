/* bench_peer_mq.c: POSIX message queues (mq_send / mq_receive, glibc, no
 * package needed) as the peer of mproc's Queue: rows queue.stream.16B and
 * queue.pingpong.16B, column peer:posix.mq. Two queues, one each way,
 * created with the default depth an unprivileged user gets
 * (fs.mqueue.msg_max, 10 here) and 4 KiB messages. */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "peer_util.h"

typedef struct mq_end {
  mqd_t in, out;
} mq_end;

static char g_name[2][64]; /* [0]: child -> parent, [1]: parent -> child */

static void *mq_open_end(void *arg, int side) {
  (void)arg;
  mq_end *e = malloc(sizeof *e);
  if (!e)
    return NULL;
  if (side == 0) {
    struct mq_attr a = {.mq_maxmsg = 10, .mq_msgsize = 4096};
    for (int i = 0; i < 2; i++) {
      snprintf(g_name[i], sizeof g_name[i], "/mproc-bench-%d-%d", (int)getpid(), i);
      mq_unlink(g_name[i]);
    }
    e->in = mq_open(g_name[0], O_RDWR | O_CREAT | O_EXCL, 0600, &a);
    e->out = mq_open(g_name[1], O_RDWR | O_CREAT | O_EXCL, 0600, &a);
  } else {
    e->in = mq_open(g_name[1], O_RDWR);
    e->out = mq_open(g_name[0], O_RDWR);
  }
  if (e->in == (mqd_t)-1 || e->out == (mqd_t)-1) {
    free(e);
    return NULL;
  }
  return e;
}

static int mq_send_msg(void *h, const void *buf, size_t n) {
  mq_end *e = h;
  while (mq_send(e->out, buf, n, 0) < 0)
    if (errno != EINTR)
      return -errno;
  return 0;
}

static long mq_recv_msg(void *h, void *buf, size_t cap) {
  mq_end *e = h;
  char tmp[4096]; /* mq_receive wants room for the largest message */
  ssize_t n;
  while ((n = mq_receive(e->in, tmp, sizeof tmp, NULL)) < 0)
    if (errno != EINTR)
      return -errno;
  if ((size_t)n > cap)
    return -EMSGSIZE;
  memcpy(buf, tmp, (size_t)n);
  return n;
}

static void mq_close_end(void *h, int side) {
  mq_end *e = h;
  mq_close(e->in);
  mq_close(e->out);
  if (side == 0)
    for (int i = 0; i < 2; i++)
      mq_unlink(g_name[i]);
  free(e);
}

int main(void) {
  peer_chan c = {mq_open_end, mq_send_msg, mq_recv_msg, mq_close_end, NULL};
  void *probe = mq_open_end(NULL, 0);
  if (!probe) {
    bench_skip("queue.stream.16B", "peer posix.mq: mq_open failed (no /dev/mqueue?)");
    bench_skip("queue.pingpong.16B", "peer posix.mq: mq_open failed (no /dev/mqueue?)");
    return 0;
  }
  mq_close_end(probe, 0);
  bench_row("queue.stream.16B", "msg/s", "peer:posix.mq", peer_stream_rate(&c));
  bench_row("queue.pingpong.16B", "us", "peer:posix.mq", peer_pingpong_ns(&c, 16) / 1e3);
  return 0;
}
