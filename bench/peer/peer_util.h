/* peer_util.h: the harness the peer programs share (bench/peer/: the
 * libraries a C or C++ user would pick instead of mproc: ZeroMQ, Boost,
 * POSIX message queues, Redis). A peer is a message channel described by
 * four callbacks; the harness runs the same two jobs bench_queue.c runs on
 * mproc's Queue, with the same sizes, process layout and timing, and
 * prints the peer:<name> column of the same rows:
 *   - stream: a forked child sends n 16-byte messages, this process
 *     receives them; messages per second, the median of 5 runs of about a
 *     tenth of the budget each (the fork is inside the timing, as in
 *     bench_queue.c);
 *   - ping-pong: a forked child echoes; one round trip, bench_ns_per_op.
 * A zero-length message tells the echo child to exit. */
#ifndef PEER_UTIL_H
#define PEER_UTIL_H

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct peer_chan {
  /* Opens one end: side 0 in this process before the fork (binds, creates),
   * side 1 in the child after it (connects, opens). NULL on failure. */
  void *(*open)(void *arg, int side);
  int (*send)(void *h, const void *buf, size_t n);          /* 0 or -errno */
  long (*recv)(void *h, void *buf, size_t cap);              /* bytes or -errno */
  void (*close)(void *h, int side);
  void *arg;
} peer_chan;

/* Messages per second of 16-byte messages, child -> this process. */
double peer_stream_rate(const peer_chan *c);

/* Nanoseconds per round trip of size-byte messages (size <= 4096) to an
 * echoing child. */
double peer_pingpong_ns(const peer_chan *c, size_t size);

/* fork(), and in the child: die with this process (PR_SET_PDEATHSIG), so
 * a peer program killed by run.sh's timeout leaves no server or worker
 * behind. Returns what fork returns. */
pid_t peer_fork(void);

/* Waits for pid; fails the program unless it exited 0. */
void peer_reap(pid_t pid);

/* A path under $TMPDIR (or /tmp) unique to this process: prefix-<pid>. */
void peer_tmp_path(char *buf, size_t cap, const char *prefix);

#ifdef __cplusplus
}
#endif
#endif
