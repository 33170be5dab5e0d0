/* test_conn.c: Pipe, the Connection object and wait(): framing, errors
 * (EOF, truncation, maxlength, short buffers, garbage lengths), SIGPIPE,
 * threads and processes on both ends, and mp_wait over connections, plain
 * descriptors and process sentinels. Handshakes and Listener/Client are in
 * test_conn_auth.c. The suite runs once per start method (tests/mp_test.h):
 * a child gets its connection ends as passed descriptors. Under fork it
 * also holds copies of all the parent's descriptors, so no test here waits
 * for an EOF that only a child's own close could give. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "connection/conn_internal.h"
#include "mp_test.h"
#include "mproc.h"

/* ---- helpers ------------------------------------------------------------------ */

static void fill(unsigned char *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++)
    p[i] = (unsigned char)(i * 131 + seed + (i >> 12));
}

static bool check(const unsigned char *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != (unsigned char)(i * 131 + seed + (i >> 12)))
      return false;
  return true;
}

/* Writes raw bytes to the descriptor beneath a connection: a peer that
 * does not follow the protocol. */
static void raw(int fd, const void *p, size_t n) {
  assert_int_equal(mp__write_full(fd, p, n), 0);
}

/* ---- Pipe and messages -------------------------------------------------------- */

static void test_duplex_roundtrip(void **state) {
  (void)state;
  mp_test_watchdog(20);
  int fds0 = mp_test_count_fds();
  mp_conn *a, *b;
  assert_int_equal(mp_pipe(true, &a, &b), 0);
  assert_true(mp_conn_readable(a) && mp_conn_writable(a));
  assert_true(mp_conn_readable(b) && mp_conn_writable(b));
  assert_false(mp_conn_closed(a));
  assert_true(mp_conn_fileno(a) > 2);
  assert_true(fcntl(mp_conn_fileno(a), F_GETFD) & FD_CLOEXEC);

  assert_int_equal(mp_conn_send_bytes(a, "thank you", 9), 0);
  assert_int_equal(mp_conn_poll(b, 0), 1);
  void *m;
  size_t n;
  assert_int_equal(mp_conn_recv_bytes(b, &m, &n, MP_CONN_NOLIMIT), 0);
  assert_int_equal(n, 9);
  assert_string_equal(m, "thank you"); /* NUL after the message */
  mp_free(m);
  assert_int_equal(mp_conn_poll(b, 0), 0);

  /* The other way, an empty message, then several queued messages. */
  assert_int_equal(mp_conn_send_bytes(b, NULL, 0), 0);
  assert_int_equal(mp_conn_recv_bytes(a, &m, &n, MP_CONN_NOLIMIT), 0);
  assert_int_equal(n, 0);
  assert_non_null(m);
  assert_int_equal(((char *)m)[0], 0);
  mp_free(m);
  for (int i = 0; i < 10; i++) {
    char msg[16];
    int len = snprintf(msg, sizeof msg, "msg %d", i);
    assert_int_equal(mp_conn_send_bytes(a, msg, (size_t)len), 0);
  }
  for (int i = 0; i < 10; i++) {
    char want[16];
    snprintf(want, sizeof want, "msg %d", i);
    assert_int_equal(mp_conn_recv_bytes(b, &m, &n, 16), 0);
    assert_string_equal(m, want);
    mp_free(m);
  }
  /* The wire format is CPython's: a 4-byte big-endian length. */
  assert_int_equal(mp_conn_send_bytes(a, "xyz", 3), 0);
  unsigned char w[7];
  assert_int_equal(mp__read_full(mp_conn_fileno(b), w, 7), 7);
  assert_memory_equal(w, "\0\0\0\3xyz", 7);

  assert_int_equal(mp_conn_close(a), 0);
  assert_int_equal(mp_conn_close(a), 0);
  assert_true(mp_conn_closed(a));
  assert_int_equal(mp_conn_fileno(a), MP_ECLOSED);
  assert_int_equal(mp_conn_send_bytes(a, "x", 1), MP_ECLOSED);
  assert_int_equal(mp_conn_recv_bytes(a, &m, &n, 1), MP_ECLOSED);
  assert_int_equal(mp_conn_poll(a, 0), MP_ECLOSED);
  assert_false(mp_conn_readable(a));
  mp_conn_free(a);
  mp_conn_free(b);
  mp_conn_free(NULL);
  assert_int_equal(mp_test_count_fds(), fds0);
}

static void test_simplex_ends(void **state) {
  (void)state;
  mp_test_watchdog(20);
  mp_conn *r, *w;
  assert_int_equal(mp_pipe(false, &r, &w), 0);
  assert_true(mp_conn_readable(r) && !mp_conn_writable(r));
  assert_true(!mp_conn_readable(w) && mp_conn_writable(w));
  /* The wrong end is an error, not a hang or a crash. */
  assert_int_equal(mp_conn_send_bytes(r, "x", 1), MP_ESTATE);
  void *m;
  size_t n;
  assert_int_equal(mp_conn_recv_bytes(w, &m, &n, MP_CONN_NOLIMIT), MP_ESTATE);
  assert_int_equal(mp_conn_poll(w, 0), MP_ESTATE);
  char buf[8];
  assert_int_equal(mp_conn_recv_bytes_into(w, buf, sizeof buf, 0, &n), MP_ESTATE);

  assert_int_equal(mp_conn_send_bytes(w, "hello", 5), 0);
  assert_int_equal(mp_conn_poll(r, 1), 1);
  assert_int_equal(mp_conn_recv_bytes_into(r, buf, sizeof buf, 2, &n), 0);
  assert_int_equal(n, 5);
  assert_memory_equal(buf + 2, "hello", 5);
  mp_conn_free(w);
  /* EOF: poll says ready, the receive says MP_EEOF, and again. */
  assert_int_equal(mp_conn_poll(r, MP_FOREVER), 1);
  assert_int_equal(mp_conn_recv_bytes(r, &m, &n, MP_CONN_NOLIMIT), MP_EEOF);
  assert_null(m);
  assert_int_equal(mp_conn_recv_bytes(r, &m, &n, MP_CONN_NOLIMIT), MP_EEOF);
  mp_conn_free(r);

  assert_int_equal(mp_pipe(false, NULL, &w), -EINVAL);
  assert_null(mp_conn_from_fd(-1, true, true));
  assert_int_equal(errno, EINVAL);
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  assert_null(mp_conn_from_fd(fds[0], false, false)); /* closes fds[0] */
  assert_int_equal(fcntl(fds[0], F_GETFD), -1);
  close(fds[1]);
}

static void test_send_range(void **state) {
  (void)state;
  mp_test_watchdog(20);
  mp_conn *a, *b;
  assert_int_equal(mp_pipe(true, &a, &b), 0);
  const char text[] = "0123456789";
  assert_int_equal(mp_conn_send_bytes_range(a, text, 10, 3, 4), 0);
  assert_int_equal(mp_conn_send_bytes_range(a, text, 10, 7, MP_CONN_NOLIMIT), 0);
  assert_int_equal(mp_conn_send_bytes_range(a, text, 10, 10, MP_CONN_NOLIMIT), 0);
  assert_int_equal(mp_conn_send_bytes_range(a, text, 10, 11, 0), MP_EVALUE);
  assert_int_equal(mp_conn_send_bytes_range(a, text, 10, 5, 6), MP_EVALUE);
  assert_int_equal(mp_conn_send_bytes_range(a, text, 10, 0, SIZE_MAX - 1), MP_EVALUE);
  assert_int_equal(mp_conn_send_bytes(a, NULL, 3), -EINVAL);
  void *m;
  size_t n;
  const char *want[] = {"3456", "789", ""};
  for (int i = 0; i < 3; i++) {
    assert_int_equal(mp_conn_recv_bytes(b, &m, &n, MP_CONN_NOLIMIT), 0);
    assert_string_equal(m, want[i]);
    mp_free(m);
  }
  assert_int_equal(mp_conn_poll(b, 0), 0);
  mp_conn_free(a);
  mp_conn_free(b);
}

static void test_maxlength(void **state) {
  (void)state;
  mp_test_watchdog(20);
  mp_conn *a, *b;
  assert_int_equal(mp_pipe(true, &a, &b), 0);
  void *m;
  size_t n;
  assert_int_equal(mp_conn_send_bytes(a, "12345", 5), 0);
  assert_int_equal(mp_conn_send_bytes(a, "1", 1), 0);
  assert_int_equal(mp_conn_recv_bytes(b, &m, &n, 5), 0); /* exactly max */
  mp_free(m);
  assert_int_equal(mp_conn_recv_bytes(b, &m, &n, 0), MP_ETOOBIG);
  assert_null(m);
  /* As in Python: no longer readable; a duplex end can still send. */
  assert_false(mp_conn_readable(b));
  assert_true(mp_conn_writable(b));
  assert_false(mp_conn_closed(b));
  assert_int_equal(mp_conn_recv_bytes(b, &m, &n, 5), MP_ECLOSED);
  assert_int_equal(mp_conn_poll(b, 0), MP_ECLOSED);
  assert_int_equal(mp_conn_send_bytes(b, "still", 5), 0);
  assert_int_equal(mp_conn_recv_bytes(a, &m, &n, 5), 0);
  mp_free(m);
  mp_conn_free(a);
  mp_conn_free(b);

  /* A receive-only end is closed altogether (Python closes it). */
  mp_conn *r, *w;
  assert_int_equal(mp_pipe(false, &r, &w), 0);
  assert_int_equal(mp_conn_send_bytes(w, "toolong", 7), 0);
  assert_int_equal(mp_conn_recv_bytes(r, &m, &n, 3), MP_ETOOBIG);
  assert_true(mp_conn_closed(r));
  assert_int_equal(mp_conn_recv_bytes(r, &m, &n, 3), MP_ECLOSED);
  /* The writer now sees a closed pipe: an error, never SIGPIPE. */
  assert_int_equal(mp_conn_send_bytes(w, "x", 1), -EPIPE);
  mp_conn_free(r);
  mp_conn_free(w);
}

static void test_recv_into_short(void **state) {
  (void)state;
  mp_test_watchdog(20);
  mp_conn *a, *b;
  assert_int_equal(mp_pipe(true, &a, &b), 0);
  /* The reference's example: an int array of 5 into one of 10. */
  int arr1[5] = {0, 1, 2, 3, 4}, arr2[10] = {0};
  assert_int_equal(mp_conn_send_bytes(a, arr1, sizeof arr1), 0);
  size_t n;
  assert_int_equal(mp_conn_recv_bytes_into(b, arr2, sizeof arr2, 0, &n), 0);
  assert_int_equal(n, sizeof arr1);
  int want[10] = {0, 1, 2, 3, 4, 0, 0, 0, 0, 0};
  assert_memory_equal(arr2, want, sizeof want);

  /* Too short: MP_ETOOSHORT, the size, and the message is kept. */
  char big[100], small[10];
  memset(big, 'q', sizeof big);
  assert_int_equal(mp_conn_send_bytes(a, big, sizeof big), 0);
  assert_int_equal(mp_conn_send_bytes(a, "next", 4), 0);
  assert_int_equal(mp_conn_recv_bytes_into(b, small, sizeof small, 0, &n), MP_ETOOSHORT);
  assert_int_equal(n, 100);
  assert_int_equal(mp_conn_recv_bytes_into(b, small, sizeof small, 5, &n), MP_ETOOSHORT);
  assert_int_equal(n, 100);
  assert_int_equal(mp_conn_recv_bytes_into(b, small, sizeof small, 11, &n), MP_EVALUE);
  assert_int_equal(mp_conn_poll(b, 0), 1);
  mp_wait_item it = MP_WAIT_CONN(b);
  assert_int_equal(mp_wait(&it, 1, 0), 1);
  assert_true(it.ready);
  char bigger[120];
  assert_int_equal(mp_conn_recv_bytes_into(b, bigger, sizeof bigger, 20, &n), 0);
  assert_int_equal(n, 100);
  assert_memory_equal(bigger + 20, big, 100);
  /* Then the next message, in order. */
  void *m;
  assert_int_equal(mp_conn_recv_bytes(b, &m, &n, MP_CONN_NOLIMIT), 0);
  assert_string_equal(m, "next");
  mp_free(m);

  /* recv_bytes takes a kept message too; maxlength still applies. */
  assert_int_equal(mp_conn_send_bytes(a, big, 50), 0);
  assert_int_equal(mp_conn_recv_bytes_into(b, small, sizeof small, 0, &n), MP_ETOOSHORT);
  assert_int_equal(mp_conn_recv_bytes(b, &m, &n, MP_CONN_NOLIMIT), 0);
  assert_int_equal(n, 50);
  assert_memory_equal(m, big, 50);
  mp_free(m);
  assert_int_equal(mp_conn_send_bytes(a, big, 50), 0);
  assert_int_equal(mp_conn_recv_bytes_into(b, small, sizeof small, 0, &n), MP_ETOOSHORT);
  assert_int_equal(mp_conn_recv_bytes(b, &m, &n, 49), MP_ETOOBIG);
  assert_false(mp_conn_readable(b));
  mp_conn_free(a);
  mp_conn_free(b); /* nothing kept leaks */

  /* A message kept at close is freed (ASan would see a leak). */
  assert_int_equal(mp_pipe(true, &a, &b), 0);
  assert_int_equal(mp_conn_send_bytes(a, big, 30), 0);
  assert_int_equal(mp_conn_recv_bytes_into(b, small, sizeof small, 0, &n), MP_ETOOSHORT);
  mp_conn_free(a);
  mp_conn_free(b);
}

static void test_eof_and_truncation(void **state) {
  (void)state;
  mp_test_watchdog(20);
  struct {
    const char *bytes;
    size_t len;
    int want;
  } cases[] = {
      {"", 0, MP_EEOF},
      {"\0\0", 2, MP_ETRUNCATED},                     /* half a header */
      {"\0\0\0\x0a" "abc", 7, MP_ETRUNCATED},         /* 10 announced, 3 sent */
      {"\xff\xff\xff\xff\0\0", 6, MP_ETRUNCATED},     /* half a long header */
      {"\xff\xff\xff\xfb", 4, MP_EPROTO},             /* -5 */
      {"\x80\0\0\0", 4, MP_EPROTO},                   /* INT32_MIN */
      {"\xff\xff\xff\xff\x80\0\0\0\0\0\0\0", 12, MP_EPROTO},  /* 2^63 */
      {"\xff\xff\xff\xff\x40\0\0\0\0\0\0\0", 12, MP_ETOOBIG}, /* 2^62 */
      {"\xff\xff\xff\xff\0\0\0\0\0\0\0\3" "abc", 15, 0}, /* long form, small */
  };
  for (size_t i = 0; i < MP__ARRAY_SIZE(cases); i++) {
    for (int into = 0; into < 2; into++) {
      mp_conn *a, *b;
      assert_int_equal(mp_pipe(true, &a, &b), 0);
      raw(mp_conn_fileno(a), cases[i].bytes, cases[i].len);
      mp_conn_free(a);
      void *m = NULL;
      size_t n;
      char buf[16];
      int rc = into ? mp_conn_recv_bytes_into(b, buf, sizeof buf, 0, &n)
                    : mp_conn_recv_bytes(b, &m, &n, MP_CONN_NOLIMIT);
      if (rc != cases[i].want)
        fail_msg("case %zu into=%d: got %s", i, into, mp_err_name(rc));
      if (rc == 0)
        assert_memory_equal(into ? buf : m, "abc", 3);
      mp_free(m);
      if (rc == MP_EPROTO || rc == MP_ETOOBIG)
        assert_false(mp_conn_readable(b));
      mp_conn_free(b);
    }
  }
}

/* ---- Allocation follows arriving bytes ---------------------------------------- */

static size_t g_biggest;
static void *track_malloc(void *ctx, size_t n) {
  (void)ctx;
  if (n > g_biggest)
    g_biggest = n;
  return malloc(n);
}
static void *track_realloc(void *ctx, void *p, size_t n) {
  (void)ctx;
  if (n > g_biggest)
    g_biggest = n;
  return realloc(p, n);
}
static void track_free(void *ctx, void *p) {
  (void)ctx;
  free(p);
}

static void test_no_blind_allocation(void **state) {
  (void)state;
  mp_test_watchdog(20);
  mp_allocator al = {track_malloc, track_realloc, track_free, NULL};
  mp_set_allocator(&al);
  mp_conn *a, *b;
  assert_int_equal(mp_pipe(true, &a, &b), 0);
  /* 1 GiB announced, 5 bytes sent: the reader allocates for what came. */
  raw(mp_conn_fileno(a), "\x40\0\0\0hello", 9);
  mp_conn_free(a);
  g_biggest = 0;
  void *m;
  size_t n;
  assert_int_equal(mp_conn_recv_bytes(b, &m, &n, MP_CONN_NOLIMIT), MP_ETRUNCATED);
  assert_true(g_biggest <= 2 * MP__CONN_GROW_MIN);
  mp_conn_free(b);

  /* The same through recv_bytes_into's "too short" path. */
  assert_int_equal(mp_pipe(true, &a, &b), 0);
  raw(mp_conn_fileno(a), "\x40\0\0\0hello", 9);
  mp_conn_free(a);
  g_biggest = 0;
  char buf[4];
  assert_int_equal(mp_conn_recv_bytes_into(b, buf, sizeof buf, 0, &n), MP_ETRUNCATED);
  assert_true(g_biggest <= 2 * MP__CONN_GROW_MIN);
  mp_conn_free(b);
  mp_set_allocator(NULL);
}

/* ---- Large messages, processes, threads ------------------------------------ */

static const size_t g_sizes[] = {1, 16383, 16384, 16385, 200000, 8u << 20};

static int send_sizes(void *arg, size_t len) {
  mp_conn *w = mp_test_passed_conn(0, false, true);
  CHILD_FAIL(w);
  int r = 0;
  for (size_t i = 0; i < MP__ARRAY_SIZE(g_sizes) && !r; i++) {
    unsigned char *p = malloc(g_sizes[i]);
    fill(p, g_sizes[i], (unsigned)i);
    r = mp_conn_send_bytes(w, p, g_sizes[i]);
    free(p);
  }
  mp_conn_free(w);
  return r ? 1 : 0;
}

static void test_large_across_processes(void **state) {
  (void)state;
  mp_test_watchdog(60);
  for (int duplex = 0; duplex < 2; duplex++) {
    mp_conn *r, *w;
    assert_int_equal(mp_pipe(duplex, &r, &w), 0);
    int fd = mp_conn_fileno(w);
    mp_process *p = mp_test_start_fds(send_sizes, NULL, 0, &fd, 1);
    mp_conn_free(w);
    for (size_t i = 0; i < MP__ARRAY_SIZE(g_sizes); i++) {
      void *m;
      size_t n;
      if (i % 2) {
        assert_int_equal(mp_conn_recv_bytes(r, &m, &n, MP_CONN_NOLIMIT), 0);
      } else {
        m = malloc(g_sizes[i] + 3);
        assert_int_equal(mp_conn_recv_bytes_into(r, m, g_sizes[i] + 3, 3, &n), 0);
        memmove(m, (char *)m + 3, n);
      }
      assert_int_equal(n, g_sizes[i]);
      assert_true(check(m, n, (unsigned)i));
      if (i % 2)
        mp_free(m);
      else
        free(m);
    }
    /* The child's end, its only writer, closes when the child is done. */
    void *m;
    size_t n;
    assert_int_equal(mp_conn_recv_bytes(r, &m, &n, MP_CONN_NOLIMIT), MP_EEOF);
    mp_test_join_ok(p);
    mp_conn_free(r);
  }
}

#define BIG_REUSE ((size_t)8 << 20)

static int send_big3(void *arg, size_t len) {
  mp_conn *w = mp_test_passed_conn(0, false, true);
  unsigned char *p = malloc(BIG_REUSE);
  CHILD_FAIL(w && p);
  int r = 0;
  for (unsigned i = 0; i < 3 && !r; i++) {
    fill(p, BIG_REUSE, i);
    r = mp_conn_send_bytes(w, p, BIG_REUSE);
  }
  free(p);
  mp_conn_free(w);
  return r ? 1 : 0;
}

/* A large message received into the last large block freed (alloc.c's
 * one-block cache), with libc's allocator only; never one that does not
 * fit, and nothing kept across a switch of allocator. */
static void test_large_buffer_reuse(void **state) {
  (void)state;
  mp_test_watchdog(60);
  const size_t big = BIG_REUSE;
  mp_conn *r, *w;
  assert_int_equal(mp_pipe(true, &r, &w), 0);
  int fd = mp_conn_fileno(w);
  mp_process *p = mp_test_start_fds(send_big3, NULL, 0, &fd, 1);
  mp_conn_free(w);
  void *first = NULL;
  for (unsigned i = 0; i < 3; i++) {
    void *m;
    size_t n;
    assert_int_equal(mp_conn_recv_bytes(r, &m, &n, MP_CONN_NOLIMIT), 0);
    assert_int_equal(n, big);
    assert_true(check(m, n, i));
    if (i == 0)
      first = m;
    else
      assert_ptr_equal(m, first); /* the freed block, taken whole */
    mp_free(m);
  }
  mp_test_join_ok(p);
  mp_conn_free(r);
  /* What does not fit stays cached for what does. */
  assert_null(mp__malloc_cached((size_t)1 << 30));
  assert_null(mp__malloc_cached(big / 4));
  void *again = mp__malloc_cached(big / 2 + 65536);
  assert_ptr_equal(again, first);
  mp__free(again);
  /* A new allocator empties the cache: its memory is not libc's. */
  mp_allocator al = {track_malloc, track_realloc, track_free, NULL};
  mp_set_allocator(&al);
  assert_null(mp__malloc_cached(big));
  mp_set_allocator(NULL);
  assert_null(mp__malloc_cached(big));
}

/* One thread sends while another receives on the same duplex end. */
typedef struct {
  mp_conn *c;
  int count;
} thread_arg;

static void *sender_thread(void *p) {
  thread_arg *t = p;
  for (int i = 0; i < t->count; i++) {
    if (mp_conn_send_bytes(t->c, &i, sizeof i))
      return (void *)1;
  }
  return NULL;
}

/* Echoes back as many messages as its argument says. */
static int echo_child(void *arg, size_t len) {
  int count;
  memcpy(&count, arg, sizeof count);
  mp_conn *b = mp_test_passed_conn(0, true, true);
  CHILD_FAIL(b);
  int r = 0;
  for (int i = 0; i < count && !r; i++) {
    void *m;
    size_t n;
    r = mp_conn_recv_bytes(b, &m, &n, MP_CONN_NOLIMIT);
    if (!r) {
      r = mp_conn_send_bytes(b, m, n);
      mp_free(m);
    }
  }
  mp_conn_free(b);
  return r ? 1 : 0;
}

static void test_threads_send_and_receive(void **state) {
  (void)state;
  mp_test_watchdog(60);
  mp_conn *a, *b;
  assert_int_equal(mp_pipe(true, &a, &b), 0);
  enum { COUNT = 20000 };
  int fd = mp_conn_fileno(b);
  int count = COUNT;
  mp_process *p = mp_test_start_fds(echo_child, &count, sizeof count, &fd, 1);
  mp_conn_free(b);
  thread_arg t = {a, COUNT};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, sender_thread, &t), 0);
  for (int i = 0; i < COUNT; i++) {
    int v;
    size_t n;
    assert_int_equal(mp_conn_recv_bytes_into(a, &v, sizeof v, 0, &n), 0);
    assert_int_equal(v, i);
  }
  void *ret;
  pthread_join(th, &ret);
  assert_null(ret);
  mp_conn_free(a);
  mp_test_join_ok(p);
}

#define NONBLOCK_SIZE ((size_t)4 << 20)

/* Sends over a passed descriptor that is O_NONBLOCK (a flag of the open
 * file, which every duplicate shares). */
static int send_nonblocking(void *arg, size_t len) {
  mp_conn *a = mp_test_passed_conn(0, true, true);
  unsigned char *p = malloc(NONBLOCK_SIZE);
  CHILD_FAIL(a && p);
  CHILD_FAIL(fcntl(mp_conn_fileno(a), F_GETFL) & O_NONBLOCK);
  fill(p, NONBLOCK_SIZE, 7);
  int r = mp_conn_send_bytes(a, p, NONBLOCK_SIZE);
  free(p);
  mp_conn_free(a);
  return r ? 1 : 0;
}

static void test_nonblocking_descriptor(void **state) {
  (void)state;
  mp_test_watchdog(30);
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
  mp_conn *a = mp_conn_from_fd(sv[0], true, true);
  mp_conn *b = mp_conn_from_fd(sv[1], true, true);
  assert_non_null(a);
  assert_non_null(b);
  size_t size = NONBLOCK_SIZE;
  mp_process *p = mp_test_start_fds(send_nonblocking, NULL, 0, &sv[0], 1);
  void *m;
  size_t n;
  assert_int_equal(mp_conn_recv_bytes(b, &m, &n, MP_CONN_NOLIMIT), 0);
  assert_int_equal(n, size);
  assert_true(check(m, n, 7));
  mp_free(m);
  mp_test_join_ok(p);
  mp_conn_free(a);
  mp_conn_free(b);
}

/* ---- SIGPIPE never kills ------------------------------------------------------ */

static bool sigpipe_pending(void) {
  sigset_t p;
  sigpending(&p);
  return sigismember(&p, SIGPIPE);
}

static void test_sigpipe(void **state) {
  (void)state;
  mp_test_watchdog(20);
  signal(SIGPIPE, SIG_DFL); /* the default kills: prove we never raise it */
  for (int duplex = 0; duplex < 2; duplex++) {
    mp_conn *r, *w;
    assert_int_equal(mp_pipe(duplex, &r, &w), 0);
    mp_conn_free(r);
    assert_int_equal(mp_conn_send_bytes(w, "x", 1), -EPIPE);
    char big[100000] = {0};
    assert_int_equal(mp_conn_send_bytes(w, big, sizeof big), -EPIPE);
    assert_false(sigpipe_pending());
    sigset_t cur;
    pthread_sigmask(SIG_SETMASK, NULL, &cur);
    assert_false(sigismember(&cur, SIGPIPE)); /* mask restored */
    mp_conn_free(w);
  }
  /* A SIGPIPE the caller already had pending and blocked stays pending. */
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, &old);
  raise(SIGPIPE);
  mp_conn *r, *w;
  assert_int_equal(mp_pipe(false, &r, &w), 0);
  mp_conn_free(r);
  assert_int_equal(mp_conn_send_bytes(w, "x", 1), -EPIPE);
  assert_true(sigpipe_pending());
  struct timespec zero = {0, 0};
  assert_int_equal(sigtimedwait(&set, NULL, &zero), SIGPIPE);
  /* ... and one we cause while it is blocked is consumed. */
  assert_int_equal(mp_conn_send_bytes(w, "x", 1), -EPIPE);
  assert_false(sigpipe_pending());
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  mp_conn_free(w);
}

/* ---- wait() --------------------------------------------------------------------- */

static void on_usr1(int sig) { (void)sig; }

static void *interrupter(void *p) {
  pthread_t target = *(pthread_t *)p;
  for (int i = 0; i < 20; i++) {
    usleep(10000);
    pthread_kill(target, SIGUSR1);
  }
  return NULL;
}

/* Child i (the argument) sends {i, k} for k in 0..9, slower for larger i. */
static int send_ten(void *arg, size_t len) {
  int i;
  memcpy(&i, arg, sizeof i);
  mp_conn *w = mp_test_passed_conn(0, false, true);
  CHILD_FAIL(w);
  int r = 0;
  for (int k = 0; k < 10 && !r; k++) {
    int msg[2] = {i, k};
    r = mp_conn_send_bytes(w, msg, sizeof msg);
    usleep(1000 * (unsigned)(i + 1));
  }
  mp_conn_free(w);
  return r ? 1 : 0;
}

static void test_wait(void **state) {
  (void)state;
  mp_test_watchdog(60);
  enum { N = 4 };
  mp_conn *r[N], *w[N];
  mp_process *pids[N];
  for (int i = 0; i < N; i++) {
    assert_int_equal(mp_pipe(false, &r[i], &w[i]), 0);
  }
  for (int i = 0; i < N; i++) {
    int fd = mp_conn_fileno(w[i]);
    pids[i] = mp_test_start_fds(send_ten, &i, sizeof i, &fd, 1);
  }
  for (int i = 0; i < N; i++)
    mp_conn_free(w[i]);
  /* The reference's loop: wait, receive from the ready ones, drop those at
   * EOF, until none is left. (Under fork every child holds copies of all
   * the write ends: the EOFs come as the children end.) */
  int next[N] = {0}, open = N;
  bool live[N] = {true, true, true, true};
  while (open) {
    mp_wait_item items[N];
    int idx[N], k = 0;
    for (int i = 0; i < N; i++) {
      if (live[i]) {
        idx[k] = i;
        items[k++] = MP_WAIT_CONN(r[i]);
      }
    }
    int nready = mp_wait(items, (size_t)k, MP_FOREVER);
    assert_true(nready >= 1);
    int seen = 0;
    for (int j = 0; j < k; j++) {
      if (!items[j].ready)
        continue;
      seen++;
      int i = idx[j], msg[2];
      size_t n;
      int rc = mp_conn_recv_bytes_into(r[i], msg, sizeof msg, 0, &n);
      if (rc == MP_EEOF) {
        live[i] = false;
        open--;
        continue;
      }
      assert_int_equal(rc, 0);
      assert_int_equal(msg[0], i);
      assert_int_equal(msg[1], next[i]++);
    }
    assert_int_equal(seen, nready);
  }
  for (int i = 0; i < N; i++) {
    assert_int_equal(next[i], 10);
    mp_test_join_ok(pids[i]);
    mp_conn_free(r[i]);
  }
}

static void test_wait_timeout_and_errors(void **state) {
  (void)state;
  mp_test_watchdog(30);
  mp_conn *a, *b;
  assert_int_equal(mp_pipe(true, &a, &b), 0);
  mp_wait_item it[2] = {MP_WAIT_CONN(a), MP_WAIT_CONN(b)};
  assert_int_equal(mp_wait(it, 2, 0), 0);
  assert_int_equal(mp_wait(it, 2, -3), 0);
  double t0 = mp_monotonic();
  assert_int_equal(mp_wait(it, 2, 0.05), 0);
  assert_true(mp_monotonic() - t0 >= 0.049);
  assert_int_equal(mp_wait(it, 2, NAN), -EINVAL);
  assert_int_equal(mp_wait(NULL, 1, 0), -EINVAL);
  assert_int_equal(mp_wait(NULL, 0, 0), 0);

  /* Signals do not cut the wait short. */
  struct sigaction sa = {.sa_handler = on_usr1}, old;
  sigaction(SIGUSR1, &sa, &old);
  pthread_t self = pthread_self(), th;
  pthread_create(&th, NULL, interrupter, &self);
  t0 = mp_monotonic();
  assert_int_equal(mp_wait(it, 2, 0.3), 0);
  assert_true(mp_monotonic() - t0 >= 0.299);
  assert_int_equal(mp_conn_poll(a, 0.05), 0);
  pthread_join(th, NULL);
  sigaction(SIGUSR1, &old, NULL);

  /* A plain descriptor, and readiness reported per item. */
  int fds[2];
  assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
  mp_wait_item three[3] = {MP_WAIT_CONN(a), MP_WAIT_FD(fds[0]), MP_WAIT_CONN(b)};
  assert_int_equal(write(fds[1], "z", 1), 1);
  assert_int_equal(mp_conn_send_bytes(a, "to b", 4), 0);
  assert_int_equal(mp_wait(three, 3, MP_FOREVER), 2);
  assert_false(three[0].ready);
  assert_true(three[1].ready);
  assert_true(three[2].ready);
  /* A closed peer counts as ready. */
  close(fds[1]);
  char z;
  assert_int_equal(read(fds[0], &z, 1), 1);
  mp_wait_item one = MP_WAIT_FD(fds[0]);
  assert_int_equal(mp_wait(&one, 1, 5), 1);
  close(fds[0]);
  /* Errors: a closed connection, a bad descriptor, an empty item. */
  assert_int_equal(mp_wait(&one, 1, 0), -EBADF);
  assert_false(one.ready);
  mp_wait_item none = {.conn = NULL, .fd = -1};
  assert_int_equal(mp_wait(&none, 1, 0), -EINVAL);
  mp_conn_close(a);
  assert_int_equal(mp_wait(it, 2, 0), MP_ECLOSED);
  mp_conn_free(a);
  mp_conn_free(b);

  /* Many items: beyond the on-stack array. */
  enum { MANY = 100 };
  mp_conn *c1[MANY], *c2[MANY];
  mp_wait_item items[MANY];
  for (int i = 0; i < MANY; i++) {
    assert_int_equal(mp_pipe(false, &c1[i], &c2[i]), 0);
    items[i] = MP_WAIT_CONN(c1[i]);
  }
  assert_int_equal(mp_conn_send_bytes(c2[77], "x", 1), 0);
  assert_int_equal(mp_wait(items, MANY, MP_FOREVER), 1);
  assert_true(items[77].ready);
  for (int i = 0; i < MANY; i++) {
    mp_conn_free(c1[i]);
    mp_conn_free(c2[i]);
  }
}

/* A process sentinel (a pidfd, or a thread-process's eventfd) is a plain
 * descriptor to mp_wait. */
static int sleep_100ms(void *arg, size_t len) {
  usleep(100000);
  return 0;
}

static void test_wait_process_sentinel(void **state) {
  (void)state;
  mp_test_watchdog(30);
  mp_conn *r, *w;
  assert_int_equal(mp_pipe(false, &r, &w), 0);
  mp_process *p = mp_test_start(sleep_100ms, NULL, 0, NULL, 0);
  mp_wait_item items[2] = {MP_WAIT_CONN(r), MP_WAIT_FD(mp_process_sentinel(p))};
  assert_true(items[1].fd >= 0);
  assert_int_equal(mp_wait(items, 2, MP_FOREVER), 1);
  assert_false(items[0].ready);
  assert_true(items[1].ready);
  mp_test_join_ok(p);
  mp_conn_free(r);
  mp_conn_free(w);
}

/* Read-ahead: queued small messages come out whole and in order, mixed
 * with large ones; what is read ahead counts as ready for poll and wait
 * even though the descriptor itself has nothing left. */
enum { RA_COUNT = 300 };
static unsigned char g_ra_big[100000];

/* Sends RA_COUNT messages (every 50th, from the 7th, a big one) on passed
 * descriptor 0; writes a byte on descriptor 1 once two are on their way. */
static int readahead_sender(void *arg, size_t len) {
  mp_conn *a = mp_test_passed_conn(0, true, true);
  int sent = mp_inherited_fd(1);
  CHILD_FAIL(a && sent >= 0);
  unsigned char *big = malloc(sizeof g_ra_big);
  CHILD_FAIL(big);
  fill(big, sizeof g_ra_big, 3);
  int r = 0;
  for (int i = 0; i < RA_COUNT && !r; i++) {
    r = i % 50 == 7 ? mp_conn_send_bytes(a, big, sizeof g_ra_big)
                    : mp_conn_send_bytes(a, &i, sizeof i);
    if (i == 1 && write(sent, "x", 1) != 1)
      r = -1;
  }
  free(big);
  mp_conn_free(a);
  return r ? 1 : 0;
}

static void test_readahead(void **state) {
  (void)state;
  mp_test_watchdog(30);
  for (int on = 0; on < 2; on++) {
    mp_conn *a, *b;
    assert_int_equal(mp_pipe(true, &a, &b), 0);
    assert_int_equal(mp_conn_set_readahead(b, on), 0);
    enum { COUNT = RA_COUNT };
    unsigned char *big = g_ra_big;
    fill(big, sizeof g_ra_big, 3);
    int sent[2]; /* the child says when messages 0 and 1 are on their way */
    assert_int_equal(pipe2(sent, O_CLOEXEC), 0);
    int fds[2] = {mp_conn_fileno(a), sent[1]};
    mp_process *p = mp_test_start_fds(readahead_sender, NULL, 0, fds, 2);
    mp_conn_free(a);
    close(sent[1]);
    char one;
    assert_int_equal(read(sent[0], &one, 1), 1); /* let messages queue up */
    close(sent[0]);
    for (int i = 0; i < COUNT; i++) {
      void *m;
      size_t n;
      if (i == 1) {
        /* The rest sits in the kernel or in the connection: ready. */
        assert_int_equal(mp_conn_poll(b, 0), 1);
        mp_wait_item it = MP_WAIT_CONN(b);
        assert_int_equal(mp_wait(&it, 1, 0), 1);
      }
      if (i % 3 == 0) {
        int v[2];
        assert_int_equal(mp_conn_recv_bytes_into(b, v, sizeof v, 0, &n),
                         i % 50 == 7 ? MP_ETOOSHORT : 0);
      }
      assert_true(i % 3 != 0 || i % 50 == 7 || n == sizeof(int));
      if (i % 3 != 0 || i % 50 == 7) {
        assert_int_equal(mp_conn_recv_bytes(b, &m, &n, MP_CONN_NOLIMIT), 0);
        if (i % 50 == 7) {
          assert_int_equal(n, sizeof g_ra_big);
          assert_true(check(m, n, 3));
        } else {
          assert_int_equal(n, sizeof(int));
          assert_int_equal(*(int *)m, i);
        }
        mp_free(m);
      }
    }
    void *m;
    size_t n;
    assert_int_equal(mp_conn_recv_bytes(b, &m, &n, MP_CONN_NOLIMIT), MP_EEOF);
    mp_test_join_ok(p);
    mp_conn_free(b);
  }

  /* What read-ahead took is in the connection, not in the descriptor. */
  mp_conn *a, *b;
  assert_int_equal(mp_pipe(true, &a, &b), 0);
  assert_int_equal(mp_conn_send_bytes(a, "one", 3), 0);
  assert_int_equal(mp_conn_send_bytes(a, "two", 3), 0);
  void *m;
  size_t n;
  assert_int_equal(mp_conn_recv_bytes(b, &m, &n, 10), 0);
  mp_free(m);
  struct pollfd p = {.fd = mp_conn_fileno(b), .events = POLLIN};
  assert_int_equal(poll(&p, 1, 0), 0);
  assert_int_equal(mp_conn_poll(b, 0), 1);
  /* Turned off, bytes already read ahead still come first. */
  assert_int_equal(mp_conn_set_readahead(b, false), 0);
  assert_int_equal(mp_conn_send_bytes(a, "three", 5), 0);
  assert_int_equal(mp_conn_recv_bytes(b, &m, &n, 10), 0);
  assert_string_equal(m, "two");
  mp_free(m);
  assert_int_equal(mp_conn_recv_bytes(b, &m, &n, 10), 0);
  assert_string_equal(m, "three");
  mp_free(m);
  /* A failed receive drops what was read ahead with the framing. */
  assert_int_equal(mp_conn_set_readahead(b, true), 0);
  assert_int_equal(mp_conn_send_bytes(a, "12345", 5), 0);
  assert_int_equal(mp_conn_send_bytes(a, "6", 1), 0);
  usleep(10000);
  assert_int_equal(mp_conn_recv_bytes(b, &m, &n, 2), MP_ETOOBIG);
  assert_int_equal(mp_conn_recv_bytes(b, &m, &n, 2), MP_ECLOSED);
  mp_conn_close(b);
  assert_int_equal(mp_conn_set_readahead(b, true), MP_ECLOSED);
  assert_int_equal(mp_conn_set_readahead(NULL, true), -EINVAL);
  mp_conn_free(a);
  mp_conn_free(b);
}

/* A simplex reading end shared by several processes under a lock (the
 * CPython pattern): no read-ahead there, so every message is taken by
 * exactly one reader and none is lost when a reader exits. */
enum { READERS = 3, ITEMS = 600 };

/* Takes `quota` (the argument) items from passed descriptor 0, each under
 * the token lock (descriptors 2 and 3), and sends them back on 1. */
static int shared_reader(void *arg, size_t len) {
  int quota;
  memcpy(&quota, arg, sizeof quota);
  mp_conn *r = mp_test_passed_conn(0, true, false);
  mp_conn *res_w = mp_test_passed_conn(1, false, true);
  int lock_r = mp_inherited_fd(2), lock_w = mp_inherited_fd(3);
  CHILD_FAIL(r && res_w && lock_r >= 0 && lock_w >= 0);
  int bad = 0;
  for (int got = 0; got < quota && !bad; got++) {
    char t;
    if (read(lock_r, &t, 1) != 1) {
      bad = 1;
      break;
    }
    int v;
    size_t n;
    int rc = mp_conn_recv_bytes_into(r, &v, sizeof v, 0, &n);
    if (write(lock_w, "L", 1) != 1)
      bad = 1;
    else if (rc || mp_conn_send_bytes(res_w, &v, sizeof v))
      bad = 2;
  }
  mp_conn_free(r);
  mp_conn_free(res_w);
  return bad;
}

static void test_shared_reader(void **state) {
  (void)state;
  mp_test_watchdog(60);
  mp_conn *r, *w, *res_r, *res_w;
  assert_int_equal(mp_pipe(false, &r, &w), 0);
  assert_int_equal(mp_pipe(false, &res_r, &res_w), 0);
  int lockfd[2]; /* a token in a pipe: the lock */
  assert_int_equal(pipe2(lockfd, O_CLOEXEC), 0);
  assert_int_equal(write(lockfd[1], "L", 1), 1);
  mp_process *pids[READERS];
  int fds[4] = {mp_conn_fileno(r), mp_conn_fileno(res_w), lockfd[0], lockfd[1]};
  for (int k = 0; k < READERS; k++) {
    /* Each reader takes a few items then exits; the last one takes the
     * rest. */
    int quota = k < READERS - 1 ? 50 : ITEMS - 50 * (READERS - 1);
    pids[k] = mp_test_start_fds(shared_reader, &quota, sizeof quota, fds, 4);
  }
  mp_conn_free(r);
  mp_conn_free(res_w);
  for (int i = 0; i < ITEMS; i++)
    assert_int_equal(mp_conn_send_bytes(w, &i, sizeof i), 0);
  mp_conn_free(w);
  static bool seen[ITEMS];
  for (int i = 0; i < ITEMS; i++) {
    int v;
    size_t n;
    assert_int_equal(mp_conn_recv_bytes_into(res_r, &v, sizeof v, 0, &n), 0);
    assert_true(v >= 0 && v < ITEMS && !seen[v]);
    seen[v] = true;
  }
  for (int k = 0; k < READERS; k++)
    mp_test_join_ok(pids[k]);
  mp_conn_free(res_r);
  close(lockfd[0]);
  close(lockfd[1]);
}

/* send_obj/recv_obj: the reference's [42, None, 'hello'] and friends. */
static void test_objects(void **state) {
  (void)state;
  mp_test_watchdog(30);
  mp_conn *a, *b;
  assert_int_equal(mp_pipe(true, &a, &b), 0);
  mp_obj *o = mp_obj_build("[i N s]", 42, "hello");
  assert_int_equal(mp_conn_send_obj(a, o), 0);
  mp_obj_free(o);
  o = mp_obj_build("{s: (f, b), s: y#}", "a", 0.5, 1, "b", "\0\1", (size_t)2);
  assert_int_equal(mp_conn_send_obj(a, o), 0);
  mp_obj_free(o);
  /* Bigger than the stack buffer. */
  mp_obj *big = mp_obj_list_new();
  for (int i = 0; i < 10000; i++)
    assert_int_equal(mp_obj_list_append_steal(big, mp_obj_int((int64_t)i * 1000003)), 0);
  assert_int_equal(mp_conn_send_obj(a, big), 0);
  /* Not an object at all, then one more. */
  assert_int_equal(mp_conn_send_bytes(a, "\xc1", 1), 0);
  assert_int_equal(mp_conn_send_obj(a, mp_obj_none()), 0);

  const char *want[] = {"[42, None, 'hello']", "{'a': (0.5, True), 'b': b'\\x00\\x01'}"};
  for (int i = 0; i < 2; i++) {
    assert_int_equal(mp_conn_recv_obj(b, &o), 0);
    char *text;
    size_t n;
    assert_int_equal(mp_obj_repr(o, &text, &n), 0);
    assert_string_equal(text, want[i]);
    mp_free(text);
    mp_obj_free(o);
  }
  assert_int_equal(mp_conn_recv_obj(b, &o), 0);
  assert_true(mp_obj_equal(o, big));
  mp_obj_free(o);
  mp_obj_free(big);
  assert_int_equal(mp_conn_recv_obj(b, &o), MP_EDECODE);
  assert_null(o);
  assert_int_equal(mp_conn_recv_obj(b, &o), 0); /* still usable */
  assert_int_equal(mp_obj_get_type(o), MP_OBJ_NONE);
  assert_int_equal(mp_conn_send_obj(a, NULL), -EINVAL);
  assert_int_equal(mp_conn_recv_obj(b, NULL), -EINVAL);
  mp_conn_free(a);
  assert_int_equal(mp_conn_recv_obj(b, &o), MP_EEOF);
  mp_conn_close(b);
  assert_int_equal(mp_conn_send_obj(b, mp_obj_none()), MP_ECLOSED);
  mp_conn_free(b);
}

static void test_frame_header(void **state) {
  (void)state;
  unsigned char h[MP__CONN_HDR_MAX];
  assert_int_equal(mp__conn_frame_header(0, h), 4);
  assert_memory_equal(h, "\0\0\0\0", 4);
  assert_int_equal(mp__conn_frame_header(0x7fffffff, h), 4);
  assert_memory_equal(h, "\x7f\xff\xff\xff", 4);
  /* Over 2 GiB - 1: -1 and an 8-byte length, as CPython's "!i" -1 "!Q". */
  assert_int_equal(mp__conn_frame_header(0x80000000u, h), 12);
  assert_memory_equal(h, "\xff\xff\xff\xff\0\0\0\0\x80\0\0\0", 12);
  assert_int_equal(mp__conn_frame_header(0x123456789aULL, h), 12);
  assert_memory_equal(h + 4, "\0\0\0\x12\x34\x56\x78\x9a", 8);
}

int main(void) {
  mp_test_use_start_method();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_duplex_roundtrip),
      cmocka_unit_test(test_simplex_ends),
      cmocka_unit_test(test_send_range),
      cmocka_unit_test(test_maxlength),
      cmocka_unit_test(test_recv_into_short),
      cmocka_unit_test(test_eof_and_truncation),
      cmocka_unit_test(test_no_blind_allocation),
      cmocka_unit_test(test_large_across_processes),
      cmocka_unit_test(test_large_buffer_reuse),
      cmocka_unit_test(test_threads_send_and_receive),
      cmocka_unit_test(test_nonblocking_descriptor),
      cmocka_unit_test(test_sigpipe),
      cmocka_unit_test(test_wait),
      cmocka_unit_test(test_wait_timeout_and_errors),
      cmocka_unit_test(test_wait_process_sentinel),
      cmocka_unit_test(test_readahead),
      cmocka_unit_test(test_shared_reader),
      cmocka_unit_test(test_objects),
      cmocka_unit_test(test_frame_header),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
