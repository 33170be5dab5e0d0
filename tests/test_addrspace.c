/* test_addrspace.c: mproc in a small address space, as under `ulimit -v`
 * or valgrind. The program lowers its own RLIMIT_AS to about 4 GB (as
 * `ulimit -v 4000000`), then: several queues can be made (each takes a
 * share of what is left instead of 64 GiB), an unbounded queue still
 * carries items far larger than its ring between processes, and pools
 * start and map. A sanitizer build skips: ASan and TSan reserve terabytes
 * of shadow memory, which no such limit allows. */
#include <errno.h>
#include <stdint.h>
#include <sys/resource.h>

#include "mp_test.h"
#include "mproc.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif
#ifndef UNDER_SANITIZER
#define UNDER_SANITIZER 0
#endif

#define LIMIT ((rlim_t)4000000 * 1024) /* ulimit -v 4000000 (KiB) */
#define BIG ((size_t)48 << 20)          /* far beyond the 64 KiB ring */

static mp_queue *g_q;

static unsigned char pattern(size_t i) { return (unsigned char)(i * 131 + 7); }

static int put_big(void *arg, size_t len) {
  (void)arg;
  (void)len;
  unsigned char *buf = malloc(BIG);
  if (!buf)
    return 2;
  for (size_t i = 0; i < BIG; i++)
    buf[i] = pattern(i);
  int r = mp_queue_put(g_q, buf, BIG, 30);
  free(buf);
  return r < 0 ? 3 : 0;
}

static void test_queues(void **state) {
  (void)state;
  mp_test_watchdog(60);
  mp_queue *qs[8];
  for (int i = 0; i < 8; i++) {
    qs[i] = mp_queue_new(0);
    assert_non_null(qs[i]);
  }
  g_q = qs[0];
  /* An item larger than the ring, from a child, twice (the second reuses
   * the freed block). */
  for (int round = 0; round < 2; round++) {
    mp_process *p = mp_process_new(put_big, NULL, 0, NULL);
    assert_non_null(p);
    assert_int_equal(mp_process_start(p), 0);
    void *data = NULL;
    size_t len = 0;
    assert_int_equal(mp_queue_get(g_q, &data, &len, 30), 0);
    assert_int_equal(len, BIG);
    const unsigned char *b = data;
    size_t bad = 0;
    for (size_t i = 0; i < BIG; i++)
      bad += b[i] != pattern(i);
    assert_int_equal(bad, 0);
    mp_free(data);
    assert_int_equal(mp_process_join(p, 30), 0);
    int code = -1;
    assert_int_equal(mp_process_exitcode(p, &code), 1);
    assert_int_equal(code, 0);
    mp_process_free(p);
  }
  for (int i = 0; i < 8; i++)
    mp_queue_free(qs[i]);
}

static int square(const void *arg, size_t len, mp_task_out *out) {
  (void)len;
  long x = *(const long *)arg, y = x * x;
  return mp_task_out_set(out, &y, sizeof y);
}

static void test_pools(void **state) {
  (void)state;
  mp_test_watchdog(60);
  for (int round = 0; round < 2; round++) {
    mp_pool *pool = mp_pool_new(&(mp_pool_opts){.processes = 2});
    assert_non_null(pool);
    long in[100], out[100];
    for (long i = 0; i < 100; i++)
      in[i] = i;
    assert_int_equal(mp_pool_map(pool, square, in, 100, sizeof(long), out,
                                 sizeof(long), NULL, NULL),
                     0);
    for (long i = 0; i < 100; i++)
      assert_int_equal(out[i], i * i);
    mp_pool_free(pool);
  }
}

int main(void) {
  if (UNDER_SANITIZER)
    mp_test_skip("a sanitizer's shadow memory does not fit in 4 GB of address space");
  struct rlimit rl = {LIMIT, LIMIT};
  if (setrlimit(RLIMIT_AS, &rl) < 0) {
    perror("setrlimit");
    return 1;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_queues),
      cmocka_unit_test(test_pools),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
