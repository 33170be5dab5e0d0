/* test_queue_robust.c: producers and consumers killed with SIGKILL leave no
 * partial item, lose no item whose put returned, and leave no one stuck.
 *
 * First, deterministic deaths: a child installs the queue's test hook and
 * kills itself at each point that matters (payload written but not
 * committed, mid out-of-line copy, item copied out but not committed,
 * holding the heap lock, a chunk jump written but not committed); the
 * parent then checks the queue holds exactly what it should and works.
 * Then 200 rounds of random deaths mid-stream: producers and consumers run
 * flat out on shared queues, some are SIGKILLed at random moments, the
 * survivors go on; every item carries its producer, a sequence number and
 * a checksum, and the books must balance.
 * The suite runs once per start method (tests/mp_test.h): children get
 * the queue as a passed handle and their shared books as a raw array.
 * Under "thread" every test skips: each kills or stops a child, which a
 * thread-process cannot be alone. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>

#include "mp_test.h"
#include "mproc.h"
#include "queue/queue_internal.h"

static mp_queue *small_queue(long maxsize) {
  mp__qparams p = {.kind = MP__Q_QUEUE, .maxsize = maxsize, .chunk_size = 4096};
  mp_queue *q = mp__queue_create(&p);
  assert_non_null(q);
  return q;
}

/* ---- items ------------------------------------------------------------------ */

typedef struct item_hdr {
  uint32_t id, seq, len, sum;
} item_hdr;

static uint32_t checksum(const unsigned char *p, size_t n, uint32_t seed) {
  uint32_t h = 2166136261u ^ seed;
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 16777619u;
  return h;
}

static uint64_t rng_next(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static size_t make_item(unsigned char *buf, uint32_t id, uint32_t seq,
                        size_t len, uint64_t *rng) {
  if (len < sizeof(item_hdr))
    len = sizeof(item_hdr);
  for (size_t i = sizeof(item_hdr); i < len; i++)
    buf[i] = (unsigned char)rng_next(rng);
  item_hdr hd = {id, seq, (uint32_t)len, 0};
  hd.sum = checksum(buf + sizeof hd, len - sizeof hd, id ^ (seq << 8));
  memcpy(buf, &hd, sizeof hd);
  return len;
}

/* 0 when whole, else a code saying what is wrong. */
static int check_item(const unsigned char *buf, size_t len, item_hdr *hd) {
  if (len < sizeof *hd)
    return 10;
  memcpy(hd, buf, sizeof *hd);
  if (hd->len != len)
    return 11;
  if (hd->sum != checksum(buf + sizeof *hd, len - sizeof *hd,
                          hd->id ^ (hd->seq << 8)))
    return 12;
  return 0;
}

static const char g_no_kill[] =
    "a thread-process cannot be killed or stopped alone";

/* Creates a child of the suite's method running fn on (arg, len) and
 * passes it the queue (handle 0) and, if a is not NULL, the array (1). */
static mp_process *start_child(mp_target_fn fn, const void *arg, size_t len,
                               mp_queue *q, mp_array *a) {
  mp_handle h[2];
  assert_int_equal(mp_queue_handle(q, &h[0]), 0);
  if (a)
    assert_int_equal(mp_array_handle(a, &h[1]), 0);
  return mp_test_start(fn, arg, len, h, a ? 2 : 1);
}

/* ---- deterministic deaths --------------------------------------------------- */

static int g_kill_point;
static int g_kill_skip; /* occurrences to let pass first */
static void kill_hook(int point) {
  if (point == g_kill_point && g_kill_skip-- == 0)
    raise(SIGKILL);
}

static void expect_killed(mp_process *p) {
  int code = mp_test_join_code(p);
  if (code != -SIGKILL)
    fail_msg("child did not die by SIGKILL (exit code %d)", code);
  mp_process_free(p);
}

/* Puts n items with sequence numbers from..from+n-1 (sizes vary, some out
 * of line); returns 0 or the failing code. */
static int put_range(mp_queue *q, uint32_t id, uint32_t from, uint32_t n) {
  static unsigned char buf[40000];
  uint64_t rng = 88172645463325252ull + from;
  for (uint32_t s = from; s < from + n; s++) {
    size_t len = (s % 5 == 4) ? 1000 + s % 30000 : 16 + s % 300;
    len = make_item(buf, id, s, len, &rng);
    int r = mp_queue_put(q, buf, len, 5.0);
    if (r)
      return r;
  }
  return 0;
}

/* Gets exactly n items: producer id, seq from..; then the queue is empty. */
static void expect_range(mp_queue *q, uint32_t id, uint32_t from, uint32_t n) {
  static unsigned char buf[40000];
  for (uint32_t s = from; s < from + n; s++) {
    size_t len;
    assert_int_equal(mp_queue_get_into(q, buf, sizeof buf, &len, 5.0), 0);
    item_hdr hd = {0};
    assert_int_equal(check_item(buf, len, &hd), 0);
    assert_int_equal(hd.id, id);
    assert_int_equal(hd.seq, s);
  }
  size_t len;
  assert_int_equal(mp_queue_get_into(q, buf, sizeof buf, &len, 0), MP_EEMPTY);
}

/* In a child: the queue (handle 0), the counter of items done (the array,
 * handle 1), and the hook armed at (point, skip) from the argument. */
typedef struct death {
  int point, skip;
} death;

#define DYING_CHILD(q, done, arg)                                              \
  CHILD_OPEN(mp_queue, q, 0, mp_queue_open(h));                                \
  mp_array *a_;                                                                \
  uint32_t *done = mp_test_scratch_open(1, &a_);                               \
  CHILD_FAIL(done);                                                            \
  g_kill_point = ((const death *)(arg))->point;                                \
  g_kill_skip = ((const death *)(arg))->skip;                                  \
  mp__queue_hook = kill_hook

static int dying_producer(void *arg, size_t len) {
  DYING_CHILD(q, done, arg);
  for (uint32_t s = 10; s < 10000; s++) {
    if (put_range(q, 1, s, 1) != 0)
      return 1;
    *done = s + 1;
  }
  return 0; /* the point was never reached */
}

/* A producer dies at `point` after `skip` passes: the queue then holds the
 * items whose put returned, whole, and works for everyone. */
static void producer_death(int point, int skip) {
  mp_queue *q = small_queue(0);
  assert_int_equal(put_range(q, 1, 0, 10), 0);
  mp_array *a;
  uint32_t *done = mp_test_scratch(4096, &a);
  *done = 10;
  death d = {point, skip};
  expect_killed(start_child(dying_producer, &d, sizeof d, q, a));
  uint64_t pending = q->h->prod.pending;
  if (point == MP__QHOOK_JUMP)
    assert_true(pending != 0); /* the dead producer's unlinked chunk */
  uint32_t n = *done;
  assert_true(n >= 10);
  assert_int_equal(mp_queue_qsize(q), n);
  expect_range(q, 1, 0, n);
  if (pending) {
    /* The next put recovers the producers' lock and gives the chunk back
     * for reuse (or uses it for its own jump). */
    assert_int_equal(put_range(q, 3, 0, 1), 0);
    expect_range(q, 3, 0, 1);
    mp__qhdr *h = q->h;
    assert_int_equal(h->prod.pending, 0);
    unsigned cls = mp__qblk(q, pending)->cls;
    assert_true(h->spare_chunk == pending || h->prod.chunk == pending ||
                h->heap.free_head[cls] == pending);
  }
  /* Everyone goes on: the lock was recovered, the tail is consistent. */
  assert_int_equal(put_range(q, 2, 0, 300), 0);
  expect_range(q, 2, 0, 300);
  mp_array_free(a);
  mp_queue_free(q);
}

static int dying_consumer(void *arg, size_t len) {
  DYING_CHILD(q, done, arg);
  static unsigned char buf[40000];
  for (uint32_t s = 0; s < 200; s++) {
    size_t n;
    if (mp_queue_get_into(q, buf, sizeof buf, &n, 5.0) != 0)
      return 1;
    *done = s + 1;
  }
  return 0;
}

/* A consumer dies at `point`: the item it was taking is still there. */
static void consumer_death(int point, int skip) {
  mp_queue *q = small_queue(0);
  assert_int_equal(put_range(q, 1, 0, 200), 0);
  mp_array *a;
  uint32_t *done = mp_test_scratch(4096, &a);
  death d = {point, skip};
  expect_killed(start_child(dying_consumer, &d, sizeof d, q, a));
  uint32_t n = *done;
  assert_true(n < 200);
  /* Dying while freeing a block after the commit has taken the item; dying
   * anywhere before the commit has not. */
  uint32_t left = (uint32_t)mp_queue_qsize(q);
  if (point == MP__QHOOK_HEAP_LOCKED)
    assert_true(left == 200 - n || left == 199 - n);
  else
    assert_int_equal(left, 200 - n);
  expect_range(q, 1, 200 - left, left);
  assert_int_equal(put_range(q, 2, 0, 300), 0);
  expect_range(q, 2, 0, 300);
  mp_array_free(a);
  mp_queue_free(q);
}

static void test_hook_deaths(void **state) {
  (void)state;
  mp_test_watchdog(60);
  mp_test_skip_method("thread", g_no_kill);
  for (int skip = 0; skip < 3; skip++) {
    producer_death(MP__QHOOK_PUT_WRITTEN, skip * 7);
    producer_death(MP__QHOOK_OOL_COPY, skip);
    producer_death(MP__QHOOK_HEAP_LOCKED, skip);
    producer_death(MP__QHOOK_JUMP, skip);
    consumer_death(MP__QHOOK_GET_COPIED, skip * 5);
    consumer_death(MP__QHOOK_OOL_COPY, skip);
    consumer_death(MP__QHOOK_HEAP_LOCKED, skip); /* freeing a block or chunk */
  }
}

/* A producer killed after committing an item and clearing the sleeper bit,
 * but before its futex_wake: the consumer asleep with no time limit still
 * gets the item (its sleep is sliced), instead of sleeping forever. */
static int sleeping_consumer(void *arg, size_t len) {
  CHILD_OPEN(mp_queue, q, 0, mp_queue_open(h));
  static unsigned char buf[40000];
  size_t n;
  item_hdr hd;
  CHILD_FAIL(mp_queue_get_into(q, buf, sizeof buf, &n, MP_FOREVER) == 0);
  CHILD_FAIL(check_item(buf, n, &hd) == 0 && hd.seq == 0);
  mp_queue_free(q);
  return 0;
}

static int dying_waker(void *arg, size_t len) {
  CHILD_OPEN(mp_queue, q, 0, mp_queue_open(h));
  g_kill_point = MP__QHOOK_WAKE;
  g_kill_skip = 0;
  mp__queue_hook = kill_hook;
  put_range(q, 1, 0, 1);
  return 0;
}

static void test_lost_wakeup(void **state) {
  (void)state;
  mp_test_watchdog(30);
  mp_test_skip_method("thread", g_no_kill);
  mp_queue *q = small_queue(0);
  mp_process *c = start_child(sleeping_consumer, NULL, 0, q, NULL);
  /* Wait until the consumer sleeps: its sleeper bit is set. */
  double end = mp_monotonic() + 20;
  while (!(__atomic_load_n(&q->h->data_seq, __ATOMIC_ACQUIRE) & 1) &&
         mp_monotonic() < end)
    usleep(1000);
  assert_true(q->h->data_seq & 1);
  expect_killed(start_child(dying_waker, NULL, 0, q, NULL));
  double t0 = mp_monotonic();
  mp_test_join_ok(c);
  assert_true(mp_monotonic() - t0 < 5.0);
  mp_queue_free(q);
}

/* A producer stopped (SIGSTOP) while holding the producers' lock: a put
 * with a timeout gives up in time instead of hanging; gets still work; once
 * it continues, its item arrives. */
static void stop_hook(int point) {
  if (point == MP__QHOOK_PUT_WRITTEN)
    raise(SIGSTOP);
}

static int stopping_producer(void *arg, size_t len) {
  CHILD_OPEN(mp_queue, q, 0, mp_queue_open(h));
  mp__queue_hook = stop_hook;
  return put_range(q, 1, 5, 1) == 0 ? 0 : 1;
}

/* Whether process pid is stopped, from /proc (a forkserver child is not
 * ours to waitpid for). */
static bool is_stopped(pid_t pid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return false;
  size_t got = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[got] = 0;
  char *rp = strrchr(buf, ')');
  return rp && rp[1] == ' ' && rp[2] == 'T';
}

static void test_stopped_holder(void **state) {
  (void)state;
  mp_test_watchdog(30);
  mp_test_skip_method("thread", g_no_kill);
  mp_queue *q = small_queue(0);
  assert_int_equal(put_range(q, 1, 0, 5), 0);
  mp_process *p = start_child(stopping_producer, NULL, 0, q, NULL);
  while (!is_stopped(mp_process_pid(p)))
    usleep(1000);
  double t0 = mp_monotonic();
  assert_int_equal(mp_queue_put(q, "x", 1, 0.1), MP_EFULL);
  double took = mp_monotonic() - t0;
  assert_true(took >= 0.09 && took < 5.0);
  assert_int_equal(mp_queue_put_nowait(q, "x", 1), MP_EFULL);
  expect_range(q, 1, 0, 5); /* consumers are not held up */
  kill(mp_process_pid(p), SIGCONT);
  mp_test_join_ok(p);
  expect_range(q, 1, 5, 1);
  mp_queue_free(q);
}

/* ---- random deaths ----------------------------------------------------------- */

#define R_NPROD 3
#define R_NCONS 2
#define R_MAXSEQ 200000
#define R_ROUNDS 200

typedef struct shared {
  uint32_t stop;
  uint32_t error;             /* first error code a child saw */
  uint32_t acked[R_NPROD];    /* puts that returned, per producer */
  uint8_t seen[R_NPROD][R_MAXSEQ];
} shared;

static int child_error(shared *sh, uint32_t code) {
  uint32_t zero = 0;
  __atomic_compare_exchange_n(&sh->error, &zero, code, false,
                              __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return (int)code;
}

static int run_producer(mp_queue *q, shared *sh, uint32_t id, uint64_t seed) {
  static unsigned char buf[40000];
  uint64_t rng = seed | 1;
  for (uint32_t s = 0; s < R_MAXSEQ; s++) {
    if (__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE))
      return 0;
    uint64_t x = rng_next(&rng);
    size_t len = (x % 11 == 0) ? 600 + x % 30000 : 16 + x % 400;
    len = make_item(buf, id, s, len, &rng);
    int r;
    while ((r = mp_queue_put(q, buf, len, 0.05)) == MP_EFULL) {
      if (__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE))
        return 0;
    }
    if (r)
      return child_error(sh, 20);
    __atomic_store_n(&sh->acked[id], s + 1, __ATOMIC_RELEASE);
  }
  return 0;
}

static int run_consumer(mp_queue *q, shared *sh) {
  static unsigned char buf[40000];
  int64_t last[R_NPROD];
  for (int i = 0; i < R_NPROD; i++)
    last[i] = -1;
  for (;;) {
    size_t len;
    int r = mp_queue_get_into(q, buf, sizeof buf, &len, 0.02);
    if (r == MP_EEMPTY) {
      if (__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE))
        return 0;
      continue;
    }
    if (r)
      return child_error(sh, 30);
    item_hdr hd = {0};
    int c = check_item(buf, len, &hd);
    if (c)
      return child_error(sh, (uint32_t)c);
    if (hd.id >= R_NPROD || hd.seq >= R_MAXSEQ)
      return child_error(sh, 31);
    if ((int64_t)hd.seq <= last[hd.id])
      return child_error(sh, 32); /* out of order */
    last[hd.id] = hd.seq;
    __atomic_fetch_add(&sh->seen[hd.id][hd.seq], 1, __ATOMIC_RELAXED);
  }
}

/* arg: {index, seed}: producers 0..R_NPROD-1, then consumers. */
static int random_child(void *arg, size_t len) {
  uint64_t who[2];
  memcpy(who, arg, sizeof who);
  CHILD_OPEN(mp_queue, q, 0, mp_queue_open(h));
  mp_array *a;
  shared *sh = mp_test_scratch_open(1, &a);
  CHILD_FAIL(sh);
  return who[0] < R_NPROD ? run_producer(q, sh, (uint32_t)who[0], who[1])
                          : run_consumer(q, sh);
}

static void one_round(mp_queue *q, mp_array *a, int round, uint64_t *rng) {
  shared *sh = mp_array_get_obj(a);
  memset(sh, 0, sizeof *sh);
  mp_process *kids[R_NPROD + R_NCONS];
  for (int i = 0; i < R_NPROD + R_NCONS; i++) {
    uint64_t who[2] = {(uint64_t)i, (uint64_t)round * 977 + (uint64_t)i};
    kids[i] = start_child(random_child, who, sizeof who, q, a);
  }
  /* Kill one to three of them at random moments while they run. */
  bool killed[R_NPROD + R_NCONS] = {false};
  int nkill = 1 + (int)(rng_next(rng) % 3), ckilled = 0;
  for (int k = 0; k < nkill; k++) {
    usleep((useconds_t)(rng_next(rng) % 3000));
    int v = (int)(rng_next(rng) % (R_NPROD + R_NCONS));
    if (killed[v])
      continue;
    assert_int_equal(mp_process_kill(kids[v]), 0);
    killed[v] = true;
    if (v >= R_NPROD)
      ckilled++;
  }
  usleep(2000); /* the survivors keep working */
  __atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
  for (int i = 0; i < R_NPROD + R_NCONS; i++) {
    int code = mp_test_join_code(kids[i]);
    mp_process_free(kids[i]);
    if (!killed[i] && code != 0)
      fail_msg("round %d: child %d ended with %d, error %u", round, i, code,
               sh->error);
  }
  assert_int_equal(sh->error, 0);
  /* Drain what is left, checking it the same way. */
  static unsigned char buf[40000];
  int64_t last[R_NPROD] = {-1, -1, -1};
  size_t len;
  int r;
  while ((r = mp_queue_get_into(q, buf, sizeof buf, &len, 0)) == 0) {
    item_hdr hd = {0};
    assert_int_equal(check_item(buf, len, &hd), 0);
    assert_true(hd.id < R_NPROD && hd.seq < R_MAXSEQ);
    assert_true((int64_t)hd.seq > last[hd.id]);
    last[hd.id] = hd.seq;
    sh->seen[hd.id][hd.seq]++;
  }
  assert_int_equal(r, MP_EEMPTY);
  assert_int_equal(mp_queue_qsize(q), 0);
  /* The books: no duplicates; every item whose put returned arrived, except
   * at most one per killed consumer (taken, then killed before recording
   * it); nothing beyond the one a killed producer may have committed. */
  int missing = 0;
  for (int p = 0; p < R_NPROD; p++) {
    uint32_t acked = sh->acked[p];
    for (uint32_t s = 0; s < R_MAXSEQ; s++) {
      if (sh->seen[p][s] > 1)
        fail_msg("round %d: item %d/%u seen %d times", round, p, s,
                 sh->seen[p][s]);
      if (s < acked && !sh->seen[p][s])
        missing++;
      if (s > acked && sh->seen[p][s])
        fail_msg("round %d: item %d/%u arrived, only %u acked", round, p, s,
                 acked);
      if (s > acked + 1)
        break;
    }
    if (!killed[p] && acked < R_MAXSEQ && sh->seen[p][acked])
      fail_msg("round %d: live producer %d: unacked item arrived", round, p);
  }
  if (missing > ckilled)
    fail_msg("round %d: %d items lost, %d consumers killed", round, missing,
             ckilled);
}

static void test_random_deaths(void **state) {
  (void)state;
  mp_test_watchdog(300);
  mp_test_skip_method("thread", g_no_kill);
  mp_array *a;
  mp_test_scratch(sizeof(shared), &a);
  /* The same two queues across all rounds: a bounded one (producers also
   * die while waiting for room) and an unbounded one. */
  mp_queue *qs[2] = {small_queue(32), small_queue(0)};
  uint64_t rng = 0x9e3779b97f4a7c15ull;
  for (int round = 0; round < R_ROUNDS; round++) {
    mp_test_watchdog(60);
    one_round(qs[round % 2], a, round, &rng);
  }
  /* After everything, both queues still carry items both ways. */
  for (int i = 0; i < 2; i++) {
    assert_int_equal(put_range(qs[i], 1, 0, 20), 0);
    expect_range(qs[i], 1, 0, 20);
    mp_queue_free(qs[i]);
  }
  mp_array_free(a);
}

int main(void) {
  mp_test_use_start_method();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hook_deaths),
      cmocka_unit_test(test_lost_wakeup),
      cmocka_unit_test(test_stopped_holder),
      cmocka_unit_test(test_random_deaths),
  };
  if (getenv("MP_TEST_FILTER"))
    cmocka_set_test_filter(getenv("MP_TEST_FILTER"));
  return cmocka_run_group_tests(tests, NULL, NULL);
}
