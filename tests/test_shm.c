/* test_shm.c: the shared-memory layer: segments and the allocator (many
 * allocations, large blocks, a child and its parent allocating at once,
 * references that keep a block alive across processes), handles on the
 * wire and across exec, descriptor passing, and no leaked descriptors.
 * The suite runs once per start method (tests/mp_test.h). */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "mp_test.h"
#include "mproc.h"
#include "shm/shm_internal.h"

static void fill(void *p, size_t n, unsigned seed) {
  unsigned char *c = p;
  for (size_t i = 0; i < n; i++)
    c[i] = (unsigned char)(seed * 131 + i * 7);
}

static bool check(const void *p, size_t n, unsigned seed) {
  const unsigned char *c = p;
  for (size_t i = 0; i < n; i++)
    if (c[i] != (unsigned char)(seed * 131 + i * 7))
      return false;
  return true;
}

static bool zeroed(const void *p, size_t n) {
  const unsigned char *c = p;
  for (size_t i = 0; i < n; i++)
    if (c[i])
      return false;
  return true;
}

#define NBLK 3000
static mp__shm_ref g_refs[NBLK];

static void test_alloc_many(void **state) {
  (void)state;
  mp_test_watchdog(30);
  srand(1);
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < NBLK; i++) {
      if (g_refs[i].seg)
        continue;
      size_t n = 1 + (size_t)(rand() % (i % 10 == 0 ? 5000 : 200));
      assert_int_equal(mp__shm_alloc(&g_refs[i], n, MP_TYPE_RAW), 0);
      assert_true(((uintptr_t)g_refs[i].ptr & 15) == 0);
      assert_true(zeroed(g_refs[i].ptr, n)); /* reused blocks come back zeroed */
      fill(g_refs[i].ptr, n, (unsigned)i);
    }
    /* Every block still holds its own pattern: no two overlap. */
    for (int i = 0; i < NBLK; i++)
      assert_true(check(g_refs[i].ptr, g_refs[i].size, (unsigned)i));
    for (int i = round % 2; i < NBLK; i += 2)
      mp__shm_release(&g_refs[i]);
  }
  for (int i = 0; i < NBLK; i++)
    mp__shm_release(&g_refs[i]);
  mp__shm_stats st;
  mp__shm_get_stats(&st);
  assert_int_equal(st.refs, 0);
  assert_true(st.segments <= 1); /* one empty arena is kept for reuse */
}

static void test_alloc_large_and_bad(void **state) {
  (void)state;
  mp_test_watchdog(20);
  mp__shm_stats before, mid, after;
  mp__shm_get_stats(&before);
  mp__shm_ref big;
  size_t n = 8u << 20;
  assert_int_equal(mp__shm_alloc(&big, n, MP_TYPE_RAW), 0);
  ((char *)big.ptr)[n - 1] = 1;
  mp__shm_get_stats(&mid);
  assert_int_equal(mid.segments, before.segments + 1);
  mp__shm_release(&big);
  mp__shm_get_stats(&after);
  assert_int_equal(after.segments, before.segments);
  mp__shm_release(&big); /* a zeroed ref does nothing */
  mp__shm_release(NULL);
  assert_int_equal(mp__shm_alloc(&big, SIZE_MAX - 8, MP_TYPE_RAW), -EOVERFLOW);
  assert_null(big.seg);
}

/* The parent and a child allocate at the same time. A forked child must
 * not hand out the parent's free blocks (it has a copy of the bitmap); a
 * spawned one allocates from segments of its own; a thread-process from
 * the same ones, concurrently. The child opens the parent's block `keep`
 * (passed as handle 0) and says so on the socket (descriptor 1) before
 * the parent may drop its own reference. */
enum { NALLOC = 500 };

static int t_alloc(void *arg, size_t len) {
  mp_handle h = mp_test_handle(0);
  int sock = mp_inherited_fd(1);
  mp__shm_ref keep = {0};
  CHILD_FAIL(h.nparts == 1 && sock >= 0);
  CHILD_FAIL(mp__shm_open(&keep, &h.parts[0], MP_TYPE_RAW, 100) == 0);
  char c = 'r';
  CHILD_FAIL(write(sock, &c, 1) == 1 && read(sock, &c, 1) == 1 && c == 'g');
  mp__shm_ref *mine = calloc(NALLOC, sizeof *mine);
  CHILD_FAIL(mine);
  for (int i = 0; i < NALLOC; i++) {
    CHILD_FAIL(mp__shm_alloc(&mine[i], 64, MP_TYPE_RAW) == 0);
    fill(mine[i].ptr, 64, 1000u + (unsigned)i);
  }
  usleep(50000);
  for (int i = 0; i < NALLOC; i++)
    CHILD_FAIL(check(mine[i].ptr, 64, 1000u + (unsigned)i));
  /* The parent's block is still intact. */
  CHILD_FAIL(check(keep.ptr, 100, 7));
  mp__shm_stats st;
  mp__shm_get_stats(&st);
  CHILD_FAIL(st.owned >= 1);
  for (int i = 0; i < NALLOC; i++)
    mp__shm_release(&mine[i]);
  mp__shm_release(&keep);
  free(mine);
  return 0;
}

static void test_child_then_alloc(void **state) {
  (void)state;
  mp_test_watchdog(30);
  mp__shm_ref keep;
  assert_int_equal(mp__shm_alloc(&keep, 100, MP_TYPE_RAW), 0);
  fill(keep.ptr, 100, 7);
  mp_handle h = {.type = MP_TYPE_RAW, .nparts = 1};
  assert_int_equal(mp__shm_part(&keep, &h.parts[0]), 0);
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  mp_process *p = mp_test_process(t_alloc, NULL, 0);
  mp_test_pass(p, &h);
  mp_test_pass_fd(p, sv[1]);
  assert_int_equal(mp_process_start(p), 0);
  char c;
  assert_int_equal(read(sv[0], &c, 1), 1);
  assert_int_equal(write(sv[0], "g", 1), 1);
  static mp__shm_ref mine[NALLOC];
  for (int i = 0; i < NALLOC; i++) {
    assert_int_equal(mp__shm_alloc(&mine[i], 64, MP_TYPE_RAW), 0);
    fill(mine[i].ptr, 64, 5000u + (unsigned)i);
  }
  /* The child still holds `keep`: freeing it here must not let the next
   * allocation reuse it while the child may read it. */
  void *old = keep.ptr;
  mp__shm_release(&keep);
  mp__shm_ref again;
  assert_int_equal(mp__shm_alloc(&again, 100, MP_TYPE_RAW), 0);
  assert_ptr_not_equal(again.ptr, old);
  mp_test_join_ok(p);
  for (int i = 0; i < NALLOC; i++) {
    assert_true(check(mine[i].ptr, 64, 5000u + (unsigned)i));
    mp__shm_release(&mine[i]);
  }
  mp__shm_release(&again);
  close(sv[0]);
  close(sv[1]);
}

static void test_handle_wire(void **state) {
  (void)state;
  mp_test_watchdog(10);
  mp_lock *l = mp_lock_new();
  assert_non_null(l);
  mp_handle h, h2;
  assert_int_equal(mp_lock_handle(l, &h), 0);
  assert_int_equal(h.type, MP_TYPE_LOCK);
  assert_int_equal(h.nparts, 1);
  unsigned char buf[MP_HANDLE_WIRE_SIZE];
  int fds[MP_HANDLE_MAX_PARTS];
  size_t nfds;
  assert_int_equal(mp_handle_encode(&h, buf, 10, fds, &nfds), MP_ETOOSHORT);
  assert_int_equal(mp_handle_encode(&h, buf, sizeof buf, fds, &nfds), 0);
  assert_int_equal(nfds, 1);
  assert_int_equal(mp_handle_decode(buf, sizeof buf, fds, nfds, &h2), 0);
  assert_memory_equal(&h.parts[0], &h2.parts[0], sizeof h.parts[0]);
  /* Malformed input: wrong length, descriptor count, magic, stray bytes. */
  assert_int_equal(mp_handle_decode(buf, sizeof buf - 1, fds, nfds, &h2), MP_EDECODE);
  assert_int_equal(mp_handle_decode(buf, sizeof buf, fds, 0, &h2), MP_EDECODE);
  unsigned char bad[MP_HANDLE_WIRE_SIZE];
  for (size_t i = 0; i < sizeof bad; i += 9) {
    memcpy(bad, buf, sizeof bad);
    bad[i] ^= 0x5a;
    int r = mp_handle_decode(bad, sizeof bad, fds, nfds, &h2);
    if (r == 0) { /* only offset/size/type bits can flip unnoticed here... */
      mp_lock *x = mp_lock_open(&h2); /* ...and opening checks them */
      if (x) {
        assert_true(i >= 16 + 8); /* never the header or the part's type */
        mp_lock_free(x);
      }
    }
  }
  /* A part that does not name a block, or names one of another type. */
  mp_handle hb = h;
  hb.parts[0].offset += 64;
  assert_null(mp_lock_open(&hb));
  assert_int_equal(mp_errno_code(errno), MP_EDECODE);
  hb = h;
  hb.parts[0].offset = UINT64_MAX - 47;
  assert_null(mp_lock_open(&hb));
  mp_event *ev = mp_event_new();
  mp_handle he;
  assert_int_equal(mp_event_handle(ev, &he), 0);
  he.type = MP_TYPE_LOCK;
  he.parts[0].type = MP_TYPE_LOCK;
  assert_null(mp_lock_open(&he));
  assert_int_equal(mp_errno_code(errno), MP_ETYPE);
  he.type = MP_TYPE_EVENT;
  assert_null(mp_event_open(&he));
  /* Opening in the same process works and shares the state. */
  mp_lock *l2 = mp_lock_open(&h);
  assert_non_null(l2);
  assert_int_equal(mp_lock_acquire(l2, 0), 0);
  assert_true(mp_lock_locked(l));
  assert_int_equal(mp_lock_release(l), 0);
  /* Freed by everyone: a stale handle fails instead of reviving it. */
  mp_handle keep = h;
  int dupfd = dup(h.parts[0].fd);
  keep.parts[0].fd = dupfd;
  mp_lock_free(l);
  mp_lock_free(l2);
  assert_null(mp_lock_open(&keep));
  assert_int_equal(mp_errno_code(errno), MP_ESTATE);
  close(dupfd);
  mp_event_free(ev);
  /* Lock in caller memory: no handle of its own. */
  uint64_t mem[4];
  mp_lock *cl = mp_lock_init(mem, false);
  assert_int_equal(mp_lock_handle(cl, &h), MP_ENOTSUP);
  mp_lock_free(cl);
  assert_null(mp_lock_init((char *)mem + 1, false));
  assert_int_equal(errno, EINVAL);
  assert_null(mp_lock_open(NULL));
  mp_handle_close(NULL);
}

static void test_fd_passing(void **state) {
  (void)state;
  mp_test_watchdog(10);
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  mp__deadline dl;
  mp__deadline_init(&dl, 0.05);
  char buf[8];
  int fds[4];
  size_t n = 99;
  assert_int_equal(mp__recv_fds(sv[1], buf, 4, fds, 4, &n, &dl), MP_ETIMEOUT);
  assert_int_equal(n, 0);
  /* More descriptors than the receiver takes: all closed, MP_EPROTO. */
  int many[6] = {0, 1, 2, 0, 1, 2};
  int before = mp_test_count_fds();
  assert_int_equal(mp__send_fds(sv[0], "abcd", 4, many, 6), 0);
  assert_int_equal(mp__recv_fds(sv[1], buf, 4, fds, 2, &n, NULL), MP_EPROTO);
  assert_int_equal(n, 0);
  assert_int_equal(mp_test_count_fds(), before);
  /* A message cut short, then end of file. */
  assert_int_equal(mp__send_fds(sv[0], "ab", 2, NULL, 0), 0);
  close(sv[0]);
  assert_int_equal(mp__recv_fds(sv[1], buf, 4, fds, 4, &n, NULL), MP_ETRUNCATED);
  assert_int_equal(mp__recv_fds(sv[1], buf, 4, fds, 4, &n, NULL), MP_EEOF);
  mp_handle h;
  assert_int_equal(mp_handle_recv(sv[1], &h, 1), MP_EEOF);
  close(sv[1]);
  assert_int_equal(mp_handle_recv(sv[1], &h, NAN), -EINVAL);
}

static pid_t spawn_helper(const char *mode, int sock) {
  const char *dir = getenv("MP_TEST_BINDIR");
  char path[4096];
  snprintf(path, sizeof path, "%s/sync_helper", dir ? dir : ".");
  if (access(path, X_OK) != 0)
    mp_test_skip("sync_helper not built (MP_TEST_BINDIR unset?)");
  pid_t pid = fork();
  if (pid == 0) {
    int fd = dup(sock); /* dup drops CLOEXEC: the helper inherits it */
    char num[16];
    snprintf(num, sizeof num, "%d", fd);
    execl(path, path, mode, num, (char *)NULL);
    _exit(127);
  }
  return pid;
}

/* A lock and an event travel to a freshly exec'd program by SCM_RIGHTS;
 * it waits for the lock we hold, then sets the event. */
static void test_handle_across_exec(void **state) {
  (void)state;
  mp_test_watchdog(30);
  mp_lock *l = mp_lock_new();
  mp_event *e = mp_event_new();
  assert_non_null(l);
  assert_non_null(e);
  assert_int_equal(mp_lock_acquire(l, MP_FOREVER), 0);
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  pid_t pid = spawn_helper("lock-event", sv[1]);
  assert_true(pid > 0);
  mp_handle h;
  assert_int_equal(mp_lock_handle(l, &h), 0);
  assert_int_equal(mp_handle_send(sv[0], &h), 0);
  assert_int_equal(mp_event_handle(e, &h), 0);
  assert_int_equal(mp_handle_send(sv[0], &h), 0);
  assert_int_equal(mp_event_wait(e, 0.2), MP_ETIMEOUT); /* it waits for our lock */
  assert_int_equal(mp_lock_release(l), 0);
  assert_int_equal(mp_event_wait(e, 20), 0);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);

  pid = spawn_helper("wrong-type", sv[1]);
  mp_event_clear(e);
  assert_int_equal(mp_event_handle(e, &h), 0);
  assert_int_equal(mp_handle_send(sv[0], &h), 0);
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  assert_true(mp_event_is_set(e));
  close(sv[0]);
  close(sv[1]);
  mp_lock_free(l);
  mp_event_free(e);
}

/* Creating, passing and freeing objects leaves no descriptor behind. */
static void test_no_fd_leaks(void **state) {
  (void)state;
  mp_test_watchdog(20);
  mp_lock_free(mp_lock_new()); /* warm up: the kept arena */
  int before = mp_test_count_fds();
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  for (int i = 0; i < 100; i++) {
    mp_condition *c = mp_condition_new(NULL);
    mp_barrier *b = mp_barrier_new(3, NULL, NULL, MP_FOREVER);
    mp_handle h, r;
    assert_int_equal(mp_condition_handle(c, &h), 0);
    assert_int_equal(h.nparts, 2);
    assert_int_equal(mp_handle_send(sv[0], &h), 0);
    assert_int_equal(mp_handle_recv(sv[1], &r, 5), 0);
    mp_condition *c2 = mp_condition_open(&r);
    assert_non_null(c2);
    mp_handle_close(&r);
    assert_int_equal(r.parts[0].fd, -1);
    assert_int_equal(mp_condition_acquire(c2, 0), 0);
    assert_int_equal(mp_condition_acquire(c, 0), 0); /* the same RLock, this thread */
    assert_int_equal(mp_condition_release(c), 0);
    assert_int_equal(mp_condition_release(c2), 0);
    mp_condition_free(c2);
    mp_condition_free(c);
    mp_barrier_free(b);
  }
  mp_lock *big[50];
  for (int i = 0; i < 50; i++)
    big[i] = mp_lock_new();
  for (int i = 0; i < 50; i++)
    mp_lock_free(big[i]);
  close(sv[0]);
  close(sv[1]);
  assert_int_equal(mp_test_count_fds(), before);
  mp__shm_stats st;
  mp__shm_get_stats(&st);
  assert_int_equal(st.refs, 0);
}

int main(void) {
  mp_test_use_start_method();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_alloc_many),
      cmocka_unit_test(test_alloc_large_and_bad),
      cmocka_unit_test(test_child_then_alloc),
      cmocka_unit_test(test_handle_wire),
      cmocka_unit_test(test_fd_passing),
      cmocka_unit_test(test_handle_across_exec),
      cmocka_unit_test(test_no_fd_leaks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
