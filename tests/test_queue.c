/* test_queue.c: Queue, SimpleQueue and JoinableQueue: the API's contract
 * (codes, timeouts, bad input), order and content through chunk jumps and
 * out-of-line items, growth of unbounded queues, and many producers and
 * consumers across threads and real processes. Robustness against SIGKILL
 * is in test_queue_robust.c. The suite runs once per start method
 * (tests/mp_test.h): children get the queue as a passed handle. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "mp_test.h"
#include "mproc.h"
#include "queue/queue_internal.h"

/* A queue with small chunks, so jumps and out-of-line items happen often. */
static mp_queue *small_queue(int kind, long maxsize) {
  mp__qparams p = {.kind = kind, .maxsize = maxsize, .chunk_size = 2048};
  mp_queue *q = mp__queue_create(&p);
  assert_non_null(q);
  return q;
}

/* Deterministic item content: byte i of item (id, seq) of length len. */
static unsigned char pattern(uint32_t id, uint32_t seq, size_t i) {
  return (unsigned char)(id * 131 + seq * 7 + i * 13 + (i >> 8));
}

typedef struct item_hdr {
  uint32_t id, seq;
} item_hdr;

static size_t make_item(unsigned char *buf, uint32_t id, uint32_t seq,
                        size_t len) {
  if (len < sizeof(item_hdr))
    len = sizeof(item_hdr);
  item_hdr hd = {id, seq};
  memcpy(buf, &hd, sizeof hd);
  for (size_t i = sizeof hd; i < len; i++)
    buf[i] = pattern(id, seq, i);
  return len;
}

/* Whether the item is whole; its header goes to *out. Safe in children. */
static bool item_ok(const unsigned char *buf, size_t len, item_hdr *out) {
  if (len < sizeof(item_hdr))
    return false;
  memcpy(out, buf, sizeof *out);
  for (size_t i = sizeof *out; i < len; i++) {
    if (buf[i] != pattern(out->id, out->seq, i))
      return false;
  }
  return true;
}

static void check_item(const unsigned char *buf, size_t len, item_hdr *out) {
  if (!item_ok(buf, len, out))
    fail_msg("item %u/%u corrupt", out->id, out->seq);
}

/* Item lengths that cross the inline limit of a small queue and of a
 * default one. */
static size_t len_for(uint32_t seq) {
  static const size_t lens[] = {0, 1, 8, 9, 100, 255, 256, 257, 1000, 3000,
                                20000, 9000, 70000};
  return lens[seq % MP__ARRAY_SIZE(lens)];
}

static void test_basic(void **state) {
  (void)state;
  mp_test_watchdog(20);
  int fds = mp_test_count_fds_settled();
  mp_queue *q = mp_queue_new(3);
  assert_non_null(q);
  assert_int_equal(mp_queue_maxsize(q), 3);
  assert_true(mp_queue_empty(q));
  assert_false(mp_queue_full(q));
  assert_int_equal(mp_queue_qsize(q), 0);
  assert_int_equal(mp_queue_put(q, "a", 1, MP_FOREVER), 0);
  assert_int_equal(mp_queue_put_nowait(q, "bb", 2), 0);
  assert_int_equal(mp_queue_put(q, NULL, 0, 0), 0);
  assert_int_equal(mp_queue_qsize(q), 3);
  assert_true(mp_queue_full(q));
  assert_false(mp_queue_empty(q));
  assert_int_equal(mp_queue_put_nowait(q, "x", 1), MP_EFULL);
  double t0 = mp_monotonic();
  assert_int_equal(mp_queue_put(q, "x", 1, 0.05), MP_EFULL);
  assert_true(mp_monotonic() - t0 >= 0.049);
  void *d;
  size_t n;
  assert_int_equal(mp_queue_get(q, &d, &n, MP_FOREVER), 0);
  assert_int_equal(n, 1);
  assert_memory_equal(d, "a", 1);
  mp_free(d);
  char buf[4];
  assert_int_equal(mp_queue_get_into(q, buf, 1, &n, 0), MP_ETOOSHORT);
  assert_int_equal(n, 2);
  assert_int_equal(mp_queue_get_into(q, buf, sizeof buf, &n, 0), 0);
  assert_int_equal(n, 2);
  assert_memory_equal(buf, "bb", 2);
  assert_int_equal(mp_queue_get_nowait(q, &d, &n), 0);
  assert_int_equal(n, 0);
  assert_non_null(d);
  mp_free(d);
  assert_int_equal(mp_queue_get_nowait(q, &d, &n), MP_EEMPTY);
  t0 = mp_monotonic();
  assert_int_equal(mp_queue_get(q, &d, &n, 0.05), MP_EEMPTY);
  assert_true(mp_monotonic() - t0 >= 0.049);
  assert_int_equal(mp_queue_get(q, &d, &n, -1), MP_EEMPTY);
  assert_true(mp_queue_empty(q));
  mp_queue_free(q);
  mp_queue_free(NULL);
  assert_int_equal(mp_test_count_fds_settled(), fds);
}

static void test_bad_input(void **state) {
  (void)state;
  mp_test_watchdog(20);
  void *d;
  size_t n;
  assert_int_equal(mp_queue_put(NULL, "a", 1, 0), -EINVAL);
  assert_int_equal(mp_queue_get(NULL, &d, &n, 0), -EINVAL);
  mp_queue *q = mp_queue_new(0);
  assert_int_equal(mp_queue_put(q, NULL, 5, 0), -EINVAL);
  assert_int_equal(mp_queue_put(q, "a", 1, NAN), -EINVAL);
  assert_int_equal(mp_queue_get(q, NULL, &n, 0), -EINVAL);
  assert_int_equal(mp_queue_get(q, &d, NULL, 0), -EINVAL);
  assert_int_equal(mp_queue_get(q, &d, &n, NAN), -EINVAL);
  assert_int_equal(mp_queue_get_into(q, NULL, 5, &n, 0), -EINVAL);
  assert_int_equal(mp_queue_get_into(q, NULL, 0, &n, 0), MP_EEMPTY);
  /* Not joinable. */
  assert_int_equal(mp_queue_task_done(q), MP_ENOTSUP);
  assert_int_equal(mp_queue_join(q, 0), MP_ENOTSUP);
  /* join_thread only after close; cancel_join_thread is harmless. */
  assert_int_equal(mp_queue_join_thread(q), MP_ESTATE);
  assert_int_equal(mp_queue_cancel_join_thread(q), 0);
  assert_int_equal(mp_queue_put(q, "a", 1, 0), 0);
  assert_int_equal(mp_queue_close(q), 0);
  assert_int_equal(mp_queue_close(q), 0);
  assert_int_equal(mp_queue_join_thread(q), 0);
  assert_int_equal(mp_queue_put(q, "a", 1, 0), MP_ECLOSED);
  assert_int_equal(mp_queue_get(q, &d, &n, 0), MP_ECLOSED);
  assert_int_equal(mp_queue_qsize(q), 1); /* the item stays */
  mp_queue_free(q);
  /* A queue whose shared memory was scribbled on fails, never crashes. */
  q = mp_queue_new(0);
  assert_int_equal(mp_queue_put(q, "abc", 3, 0), 0);
  uint64_t *rec = mp__qptr(q, q->h->cons.pos);
  uint64_t saved = rec[0], saved1 = rec[1];
  rec[0] = MP__REC_WORD(MP__REC_INLINE, UINT64_C(1) << 50);
  assert_int_equal(mp_queue_get(q, &d, &n, 0), MP_EPROTO);
  rec[0] = MP__REC_WORD(9, 3);
  assert_int_equal(mp_queue_get(q, &d, &n, 0), MP_EPROTO);
  rec[0] = MP__REC_WORD(MP__REC_OOL, 3);
  rec[1] = UINT64_C(1) << 62;
  assert_int_equal(mp_queue_get(q, &d, &n, 0), MP_EPROTO);
  rec[0] = saved;
  rec[1] = saved1;
  assert_int_equal(mp_queue_get(q, &d, &n, 0), 0);
  assert_memory_equal(d, "abc", 3);
  mp_free(d);
  /* The segment cannot be shrunk under the mappings. */
  assert_int_equal(ftruncate(q->fd, 4096), -1);
  assert_int_equal(errno, EPERM);
  mp_queue_free(q);
  /* Negative maxsize is unbounded, as in Python; too big is MP_EVALUE. */
  q = mp_queue_new(-5);
  assert_non_null(q);
  assert_int_equal(mp_queue_maxsize(q), 0);
  for (int i = 0; i < 100; i++)
    assert_int_equal(mp_queue_put_nowait(q, "z", 1), 0);
  assert_false(mp_queue_full(q));
  mp_queue_free(q);
  errno = 0;
  assert_null(mp_queue_new(MP_QUEUE_MAXSIZE_MAX + 1L));
  assert_int_equal(mp_errno_code(errno), MP_EVALUE);
  assert_int_equal(mp_queue_close(NULL), -EINVAL);
  assert_int_equal(mp_queue_qsize(NULL), 0);
  assert_true(mp_queue_empty(NULL));
}

/* Order and content through many chunk jumps, inline and out-of-line items,
 * in an unbounded queue that grows far beyond its first chunk. */
static void test_order_growth(void **state) {
  (void)state;
  mp_test_watchdog(60);
  mp_queue *q = small_queue(MP__Q_QUEUE, 0);
  static unsigned char buf[80000];
  const uint32_t N = 3000;
  for (int round = 0; round < 2; round++) {
    for (uint32_t s = 0; s < N; s++) {
      size_t len = make_item(buf, 1, s, len_for(s));
      assert_int_equal(mp_queue_put_nowait(q, buf, len), 0);
    }
    assert_int_equal(mp_queue_qsize(q), N);
    for (uint32_t s = 0; s < N; s++) {
      size_t n;
      assert_int_equal(mp_queue_get_into(q, buf, sizeof buf, &n, 0), 0);
      item_hdr hd;
      check_item(buf, n, &hd);
      assert_int_equal(hd.seq, s);
    }
    assert_true(mp_queue_empty(q));
  }
  /* Interleaved: the queue stays small and reuses its chunks. */
  uint64_t bump = q->h->heap.bump;
  for (uint32_t s = 0; s < 20000; s++) {
    size_t len = make_item(buf, 2, s, 8 + s % 200);
    assert_int_equal(mp_queue_put_nowait(q, buf, len), 0);
    size_t n;
    assert_int_equal(mp_queue_get_into(q, buf, sizeof buf, &n, 0), 0);
    item_hdr hd;
    check_item(buf, n, &hd);
    assert_int_equal(hd.seq, s);
  }
  assert_true(q->h->heap.bump == bump);
  mp_queue_free(q);
}

/* Zero-copy receive: a big item is read in place and its block recycled on
 * release; a small one is a copy. */
static void test_view(void **state) {
  (void)state;
  mp_test_watchdog(30);
  mp_queue *q = mp_queue_new(0);
  static unsigned char buf[200000];
  mp_queue_item it;
  uint64_t bump = 0;
  for (uint32_t s = 0; s < 50; s++) {
    size_t len = make_item(buf, 7, s, s % 2 ? 150000 : 40);
    assert_int_equal(mp_queue_put(q, buf, len, 0), 0);
    assert_int_equal(mp_queue_get_view(q, &it, 0), 0);
    assert_int_equal(it.len, len);
    item_hdr hd;
    check_item(it.data, it.len, &hd);
    assert_int_equal(hd.seq, s);
    bool in_place = (const char *)it.data >= q->base &&
                    (const char *)it.data < q->base + q->map_len;
    assert_true(in_place == (s % 2 == 1));
    assert_true(mp_queue_empty(q)); /* it has left the queue */
    mp_queue_item_release(&it);
    assert_null(it.data);
    mp_queue_item_release(&it); /* cleared: nothing */
    if (s == 3)
      bump = q->h->heap.bump;
    if (s > 3)
      assert_true(q->h->heap.bump == bump); /* blocks are reused */
  }
  assert_int_equal(mp_queue_get_view(q, &it, 0), MP_EEMPTY);
  assert_null(it.data);
  assert_int_equal(mp_queue_get_view(NULL, &it, 0), -EINVAL);
  assert_int_equal(mp_queue_get_view(q, NULL, 0), -EINVAL);
  mp_queue_item_release(NULL);
  mp_queue_free(q);
}

/* ---- processes ----------------------------------------------------------- */

static pid_t fork_or_die(void) {
  pid_t p = fork();
  assert_true(p >= 0);
  return p;
}

static void wait_ok(pid_t p) {
  int st;
  assert_int_equal(waitpid(p, &st, 0), p);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    fail_msg("child %d ended with status 0x%x", (int)p, st);
}

/* A child of the suite's method given the queue q as handle 0. */
static mp_process *queue_child(mp_target_fn fn, const void *arg, size_t len,
                               mp_queue *q) {
  mp_handle h;
  assert_int_equal(mp_queue_handle(q, &h), 0);
  return mp_test_start(fn, arg, len, &h, 1);
}

/* The reference's deadlock example: a child puts a big item and exits; the
 * parent joins it before getting. No feeder thread, so no deadlock. */
enum { BIG_PUT = 1000000 };

static int put_big(void *arg, size_t len) {
  CHILD_OPEN(mp_queue, q, 0, mp_queue_open(h));
  char *x = malloc(BIG_PUT);
  CHILD_FAIL(x);
  memset(x, 'X', BIG_PUT);
  int r = mp_queue_put(q, x, BIG_PUT, MP_FOREVER);
  free(x);
  mp_queue_free(q);
  return r == 0 ? 0 : 1;
}

static void test_put_then_exit(void **state) {
  (void)state;
  mp_test_watchdog(30);
  mp_queue *q = mp_queue_new(0);
  mp_test_join_ok(queue_child(put_big, NULL, 0, q));
  void *d;
  size_t n;
  assert_int_equal(mp_queue_get(q, &d, &n, 0), 0);
  assert_int_equal(n, BIG_PUT);
  assert_int_equal(((char *)d)[0], 'X');
  assert_int_equal(((char *)d)[BIG_PUT - 1], 'X');
  mp_free(d);
  mp_queue_free(q);
}

/* A bounded queue blocks a producer process until a consumer makes room,
 * and wakes a consumer process that waits for an item. */
static int put_200(void *arg, size_t len) {
  CHILD_OPEN(mp_queue, q, 0, mp_queue_open(h));
  int r = 0;
  for (uint32_t i = 0; i < 200 && !r; i++)
    r = mp_queue_put(q, &i, sizeof i, MP_FOREVER);
  mp_queue_free(q);
  return r ? 1 : 0;
}

static int get_77(void *arg, size_t len) {
  CHILD_OPEN(mp_queue, q, 0, mp_queue_open(h));
  uint32_t v;
  size_t n;
  int r = mp_queue_get_into(q, &v, sizeof v, &n, 10.0);
  mp_queue_free(q);
  return r == 0 && v == 77 ? 0 : 1;
}

static void test_blocking_processes(void **state) {
  (void)state;
  mp_test_watchdog(30);
  mp_queue *q = mp_queue_new(2);
  mp_process *p = queue_child(put_200, NULL, 0, q);
  for (uint32_t i = 0; i < 200; i++) {
    if (i % 50 == 0)
      usleep(20000); /* the producer is blocked on a full queue now */
    assert_true(mp_queue_qsize(q) <= 2);
    uint32_t v;
    size_t n;
    assert_int_equal(mp_queue_get_into(q, &v, sizeof v, &n, 10.0), 0);
    assert_int_equal(v, i);
  }
  mp_test_join_ok(p);
  /* A consumer process sleeping on an empty queue is woken by a put. */
  p = queue_child(get_77, NULL, 0, q);
  usleep(50000);
  uint32_t v = 77;
  assert_int_equal(mp_queue_put(q, &v, sizeof v, MP_FOREVER), 0);
  mp_test_join_ok(p);
  mp_queue_free(q);
}

/* Many producer and consumer processes: every item arrives once, whole, and
 * each consumer sees each producer's items in order. Handles: 0 the
 * queue, 1 (consumers) the scratch array counting what was seen. */
#define MP_NPROD 4
#define MP_NCONS 3
#define MP_PER 3000

static int mpmc_consumer(void *arg, size_t len) {
  CHILD_OPEN(mp_queue, q, 0, mp_queue_open(h));
  mp_array *a;
  uint8_t *seen = mp_test_scratch_open(1, &a);
  unsigned char *buf = malloc(80000);
  CHILD_FAIL(seen && buf);
  uint32_t last[MP_NPROD];
  memset(last, 0xff, sizeof last);
  int r = 0;
  while (!r) {
    size_t n;
    item_hdr hd;
    if (mp_queue_get_into(q, buf, 80000, &n, 30.0) != 0)
      r = 2;
    else if (n == 1)
      break; /* a stop item */
    else if (!item_ok(buf, n, &hd))
      r = 5;
    else if (hd.id >= MP_NPROD || hd.seq >= MP_PER)
      r = 3;
    else if (last[hd.id] != UINT32_MAX && hd.seq <= last[hd.id])
      r = 4;
    else {
      last[hd.id] = hd.seq;
      __atomic_fetch_add(&seen[hd.id * MP_PER + hd.seq], 1, __ATOMIC_RELAXED);
    }
  }
  free(buf);
  mp_array_free(a);
  mp_queue_free(q);
  return r;
}

/* arg: the producer's id. */
static int mpmc_producer(void *arg, size_t len) {
  uint32_t id;
  memcpy(&id, arg, sizeof id);
  CHILD_OPEN(mp_queue, q, 0, mp_queue_open(h));
  unsigned char *buf = malloc(80000);
  CHILD_FAIL(buf);
  int r = 0;
  for (uint32_t s = 0; s < MP_PER && !r; s++) {
    size_t n = make_item(buf, id, s, len_for(s + id));
    r = mp_queue_put(q, buf, n, 30.0);
  }
  free(buf);
  mp_queue_free(q);
  return r ? 1 : 0;
}

static void test_mpmc_processes(void **state) {
  (void)state;
  mp_test_watchdog(120);
  for (int bounded = 0; bounded < 2; bounded++) {
    mp_queue *q = small_queue(MP__Q_QUEUE, bounded ? 16 : 0);
    mp_array *a;
    uint8_t *seen = mp_test_scratch(MP_NPROD * MP_PER, &a);
    mp_handle h[2];
    assert_int_equal(mp_queue_handle(q, &h[0]), 0);
    assert_int_equal(mp_array_handle(a, &h[1]), 0);
    mp_process *kids[MP_NPROD + MP_NCONS];
    for (int c = 0; c < MP_NCONS; c++)
      kids[MP_NPROD + c] = mp_test_start(mpmc_consumer, NULL, 0, h, 2);
    for (uint32_t p = 0; p < MP_NPROD; p++)
      kids[p] = mp_test_start(mpmc_producer, &p, sizeof p, h, 1);
    for (int p = 0; p < MP_NPROD; p++)
      mp_test_join_ok(kids[p]);
    for (int c = 0; c < MP_NCONS; c++)
      assert_int_equal(mp_queue_put(q, "S", 1, 30.0), 0);
    for (int c = 0; c < MP_NCONS; c++)
      mp_test_join_ok(kids[MP_NPROD + c]);
    for (int i = 0; i < MP_NPROD * MP_PER; i++) {
      if (seen[i] != 1)
        fail_msg("item %d seen %d times", i, seen[i]);
    }
    assert_true(mp_queue_empty(q));
    mp_array_free(a);
    mp_queue_free(q);
  }
}

/* A program that did not inherit the queue (exec'd) receives its handle
 * over a Unix socket, opens it and uses it both ways. */
static void test_handle_exec(void **state) {
  (void)state;
  mp_test_watchdog(30);
  const char *bindir = getenv("MP_TEST_BINDIR");
  char path[4096];
  snprintf(path, sizeof path, "%s/queue_peer", bindir ? bindir : ".");
  if (access(path, X_OK) != 0) {
    fprintf(stderr, "test_handle_exec: %s not built; skipped\n", path);
    return;
  }
  int fds = mp_test_count_fds_settled();
  mp_queue *q = small_queue(MP__Q_QUEUE, 0);
  const uint32_t N = 500; /* several chunks */
  for (uint32_t i = 0; i < N; i++)
    assert_int_equal(mp_queue_put(q, &i, sizeof i, 0), 0);
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  int child_end = fcntl(sv[1], F_DUPFD, 3); /* inheritable across exec */
  assert_true(child_end >= 0);
  pid_t p = fork_or_die();
  if (p == 0) {
    char a1[16], a2[16];
    snprintf(a1, sizeof a1, "%d", child_end);
    snprintf(a2, sizeof a2, "%u", N);
    execl(path, path, a1, a2, (char *)NULL);
    _exit(127);
  }
  close(child_end);
  close(sv[1]);
  mp_handle h;
  assert_int_equal(mp_queue_handle(q, &h), 0);
  assert_int_equal(h.type, MP_TYPE_QUEUE);
  assert_int_equal(mp_handle_send(sv[0], &h), 0);
  close(sv[0]);
  wait_ok(p); /* first: the parent must not take the peer's items */
  uint32_t v;
  size_t n;
  assert_int_equal(mp_queue_get_into(q, &v, sizeof v, &n, 0), 0);
  assert_int_equal(v, N + 1000);
  assert_true(mp_queue_empty(q));
  /* Opening in this process too gives a second, independent handle. */
  mp_queue *q2 = mp_queue_open(&h);
  assert_non_null(q2);
  assert_int_equal(mp_queue_put(q2, "x", 1, 0), 0);
  assert_int_equal(mp_queue_close(q2), 0);
  assert_int_equal(mp_queue_get_into(q, &v, sizeof v, &n, 0), 0);
  mp_queue_free(q2);
  /* Bad handles. */
  mp_handle bad = h;
  bad.type = MP_TYPE_LOCK;
  errno = 0;
  assert_null(mp_queue_open(&bad));
  assert_int_equal(mp_errno_code(errno), MP_ETYPE);
  assert_null(mp_queue_open(NULL));
  assert_int_equal(mp_queue_handle(NULL, &h), -EINVAL);
  int other = memfd_create("not-a-queue", MFD_CLOEXEC);
  assert_true(other >= 0);
  assert_int_equal(ftruncate(other, 1 << 20), 0);
  bad = h;
  bad.parts[0].fd = other;
  assert_null(mp_queue_open(&bad));
  assert_int_equal(mp_errno_code(errno), MP_EPROTO);
  assert_int_equal(ftruncate(other, 0), 0); /* too small to look into */
  assert_null(mp_queue_open(&bad));
  assert_int_equal(mp_errno_code(errno), MP_EPROTO);
  close(other);
  mp_queue_free(q);
  assert_int_equal(mp_test_count_fds_settled(), fds);
}

/* ---- threads --------------------------------------------------------------- */

typedef struct targ {
  mp_queue *q;
  uint32_t id;
  uint32_t count;
  uint32_t *seen;
} targ;

static void *producer_thread(void *arg) {
  targ *a = arg;
  unsigned char buf[4096];
  for (uint32_t s = 0; s < a->count; s++) {
    size_t len = make_item(buf, a->id, s, 8 + (s * 37) % 4000);
    if (mp_queue_put(a->q, buf, len, 30.0) != 0)
      return (void *)1;
  }
  return NULL;
}

static void *consumer_thread(void *arg) {
  targ *a = arg;
  uint32_t last[8];
  memset(last, 0xff, sizeof last);
  for (;;) {
    void *d;
    size_t n;
    if (mp_queue_get(a->q, &d, &n, 30.0) != 0)
      return (void *)1;
    if (n == 1) {
      mp_free(d);
      return NULL;
    }
    item_hdr hd;
    check_item(d, n, &hd);
    mp_free(d);
    if (last[hd.id] != UINT32_MAX && hd.seq <= last[hd.id])
      return (void *)2;
    last[hd.id] = hd.seq;
    __atomic_fetch_add(&a->seen[hd.id * a->count + hd.seq], 1, __ATOMIC_RELAXED);
  }
}

static void test_mpmc_threads(void **state) {
  (void)state;
  mp_test_watchdog(60);
  enum { NP = 4, NC = 3, PER = 5000 };
  mp_queue *q = mp_simple_queue_new();
  assert_non_null(q);
  uint32_t *seen = calloc(NP * PER, sizeof *seen);
  pthread_t tp[NP], tc[NC];
  targ ap[NP], ac[NC];
  for (int i = 0; i < NC; i++) {
    ac[i] = (targ){q, 0, PER, seen};
    pthread_create(&tc[i], NULL, consumer_thread, &ac[i]);
  }
  for (int i = 0; i < NP; i++) {
    ap[i] = (targ){q, (uint32_t)i, PER, seen};
    pthread_create(&tp[i], NULL, producer_thread, &ap[i]);
  }
  void *ret;
  for (int i = 0; i < NP; i++) {
    pthread_join(tp[i], &ret);
    assert_null(ret);
  }
  for (int i = 0; i < NC; i++)
    assert_int_equal(mp_queue_put(q, "S", 1, 0), 0);
  for (int i = 0; i < NC; i++) {
    pthread_join(tc[i], &ret);
    assert_null(ret);
  }
  for (int i = 0; i < NP * PER; i++)
    assert_int_equal(seen[i], 1);
  free(seen);
  mp_queue_free(q);
}

/* ---- typed values ----------------------------------------------------------- */

static int put_obj(void *arg, size_t len) {
  CHILD_OPEN(mp_queue, q, 0, mp_queue_open(h));
  mp_obj *o = mp_obj_build("[i N s]", 42, "hello");
  CHILD_FAIL(o);
  int r = mp_queue_put_obj(q, o, MP_FOREVER);
  mp_obj_free(o);
  mp_queue_free(q);
  return r == 0 ? 0 : 1;
}

static void test_objects(void **state) {
  (void)state;
  mp_test_watchdog(30);
  mp_queue *q = mp_queue_new(0);
  mp_obj *o = mp_obj_build("[i N s]", 42, "hello");
  assert_non_null(o);
  mp_process *p = queue_child(put_obj, NULL, 0, q);
  mp_obj *got = NULL;
  assert_int_equal(mp_queue_get_obj(q, &got, 10.0), 0);
  mp_test_join_ok(p);
  char *text;
  assert_int_equal(mp_obj_repr(got, &text, NULL), 0);
  assert_string_equal(text, "[42, None, 'hello']");
  mp_free(text);
  assert_true(mp_obj_equal(o, got));
  mp_obj_free(got);
  /* A big object goes through the heap-encoded path. */
  mp_obj *big = mp_obj_list_new();
  for (int i = 0; i < 2000; i++)
    mp_obj_list_append_steal(big, mp_obj_strf("item %d", i));
  assert_int_equal(mp_queue_put_obj(q, big, 0), 0);
  assert_int_equal(mp_queue_get_obj(q, &got, 0), 0);
  assert_true(mp_obj_equal(big, got));
  mp_obj_free(got);
  mp_obj_free(big);
  /* Bytes that are not an encoded object: MP_EDECODE, and the item is gone. */
  assert_int_equal(mp_queue_put(q, "\xc1", 1, 0), 0);
  assert_int_equal(mp_queue_get_obj(q, &got, 0), MP_EDECODE);
  assert_true(mp_queue_empty(q));
  assert_int_equal(mp_queue_get_obj(q, &got, 0), MP_EEMPTY);
  assert_int_equal(mp_queue_put_obj(q, NULL, 0), -EINVAL);
  assert_int_equal(mp_queue_get_obj(q, NULL, 0), -EINVAL);
  mp_obj_free(o);
  mp_queue_free(q);
}

/* ---- JoinableQueue ----------------------------------------------------------- */

static int take_ten(void *arg, size_t len) {
  CHILD_OPEN(mp_queue, q, 0, mp_queue_open(h));
  int r = 0;
  for (int i = 0; i < 10 && !r; i++) {
    uint32_t v;
    size_t n;
    if (mp_queue_get_into(q, &v, sizeof v, &n, 10.0) != 0)
      r = 1;
    usleep(2000);
    if (!r && mp_queue_task_done(q) != 0)
      r = 2;
  }
  if (!r && mp_queue_task_done(q) != MP_EVALUE)
    r = 3;
  mp_queue_free(q);
  return r;
}

static void test_joinable(void **state) {
  (void)state;
  mp_test_watchdog(30);
  mp_queue *q = mp_joinable_queue_new(0);
  assert_non_null(q);
  assert_int_equal(mp_queue_join(q, 0), 0); /* nothing put: done */
  assert_int_equal(mp_queue_task_done(q), MP_EVALUE);
  for (uint32_t i = 0; i < 10; i++)
    assert_int_equal(mp_queue_put(q, &i, sizeof i, 0), 0);
  assert_int_equal(mp_queue_join(q, 0.02), MP_ETIMEOUT);
  mp_process *p = queue_child(take_ten, NULL, 0, q);
  assert_int_equal(mp_queue_join(q, 10.0), 0);
  assert_true(mp_queue_empty(q));
  mp_test_join_ok(p);
  mp_queue_free(q);
}

/* ---- big items -------------------------------------------------------------- */

/* Memory the machine has free, from /proc/meminfo, in bytes. */
static uint64_t mem_available(void) {
  FILE *f = fopen("/proc/meminfo", "r");
  if (!f)
    return 0;
  char line[256];
  uint64_t kb = 0;
  while (fgets(line, sizeof line, f)) {
    if (sscanf(line, "MemAvailable: %" SCNu64, &kb) == 1)
      break;
  }
  fclose(f);
  return kb * 1024;
}

/* An item far larger than any ring: 1 GiB from a child to the parent.
 * Under fork only: the size is the point, and it is the suite's slowest. */
static int put_huge(void *arg, size_t len) {
  const size_t big = (size_t)1 << 30;
  CHILD_OPEN(mp_queue, q, 0, mp_queue_open(h));
  /* Untouched anonymous pages read as the shared zero page: only the
   * marks take memory (first touches are slow on virtual machines). */
  unsigned char *x = mmap(NULL, big, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHILD_FAIL(x != MAP_FAILED);
  for (size_t i = 0; i < big; i += 1 << 20)
    x[i] = (unsigned char)(1 + (i >> 20));
  x[big - 1] = 0xab;
  int r = mp_queue_put(q, x, big, MP_FOREVER);
  munmap(x, big);
  mp_queue_free(q);
  return r == 0 ? 0 : 1;
}

static void test_huge_item(void **state) {
  (void)state;
  mp_test_watchdog(240);
  mp_test_only_method("fork", "the item's size is the point, not the start "
                              "method; the suite's slowest test runs once");
  const size_t big = (size_t)1 << 30;
  if (mem_available() < 4 * (uint64_t)big) {
    fprintf(stderr, "test_huge_item: less than 4 GiB free; skipped\n");
    return;
  }
  mp_queue *q = mp_queue_new(1);
  mp_test_join_ok(queue_child(put_huge, NULL, 0, q));
  void *d;
  size_t n;
  assert_int_equal(mp_queue_get(q, &d, &n, 10.0), 0);
  assert_int_equal(n, big);
  unsigned char *x = d;
  for (size_t i = 0; i < big; i += 4096) {
    unsigned char want = (i % (1 << 20)) ? 0 : (unsigned char)(1 + (i >> 20));
    if (x[i] != want)
      fail_msg("byte %zu wrong", i);
  }
  assert_int_equal(x[big - 1], 0xab);
  mp_free(d);
  mp_queue_free(q);
}

int main(void) {
  mp_test_use_start_method();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_basic),
      cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_order_growth),
      cmocka_unit_test(test_view),
      cmocka_unit_test(test_put_then_exit),
      cmocka_unit_test(test_blocking_processes),
      cmocka_unit_test(test_mpmc_processes),
      cmocka_unit_test(test_handle_exec),
      cmocka_unit_test(test_mpmc_threads),
      cmocka_unit_test(test_objects),
      cmocka_unit_test(test_joinable),
      cmocka_unit_test(test_huge_item),
  };
  if (getenv("MP_TEST_FILTER"))
    cmocka_set_test_filter(getenv("MP_TEST_FILTER"));
  return cmocka_run_group_tests(tests, NULL, NULL);
}
