// test_cpp.cpp: mproc from C++. tests/test_cpp.sh compiles this one file
// with g++ and clang++ in C++11, C++17 and C++20 with -Wall -Wextra
// -pedantic -Werror, so <mproc.h> and its macros stay valid C++, and runs
// each build: processes handing back a result, a queue between processes,
// the pool with captureless lambdas as tasks (writing into a std::vector),
// a manager dict, mp_wait on items built with MP_WAIT_FD and MP_WAIT_CONN,
// MP_PROCESS_OPTS_INIT, MP_POOL_OPTS_INIT, MP_CTYPE and MP_CTYPE_OF. A
// plain program (no cmocka): the test needs only the compilers; alarm()
// is its watchdog.
#include <mproc.h>

#include <signal.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

int failures = 0;

// Records a failed check with its line; the test goes on and fails at the end.
void check(bool ok, const char *what, int line) {
  if (!ok) {
    std::fprintf(stderr, "test_cpp.cpp:%d: check failed: %s\n", line, what);
    ++failures;
  }
}
#define CHECK(x) check((x), #x, __LINE__)
// A call that returns 0 or a negative mproc code.
#define CHECK_OK(call)                                                       \
  do {                                                                       \
    int rc_ = (call);                                                        \
    if (rc_ < 0)                                                             \
      std::fprintf(stderr, "test_cpp.cpp:%d: %s: %s\n", __LINE__, #call,    \
                   mp_strerror(rc_));                                        \
    check(rc_ >= 0, #call, __LINE__);                                        \
  } while (0)

// A process target: squares a long and hands it back to join.
int square_target(void *arg, size_t len) {
  if (len != sizeof(long))
    return 2;
  long x = *static_cast<long *>(arg), y = x * x;
  return mp_process_return(&y, sizeof y) < 0 ? 3 : 0;
}

void test_process() {
  std::vector<mp_process *> procs;
  for (long i = 0; i < 3; i++) {
    mp_process_opts opts = MP_PROCESS_OPTS_INIT; // {} in C++
    opts.name = i == 0 ? "Square-0" : NULL;
    mp_process *p = mp_process_new(square_target, &i, sizeof i, &opts);
    CHECK(p != NULL);
    if (!p)
      return;
    CHECK_OK(mp_process_start(p));
    procs.push_back(p);
  }
  // MP_WAIT_FD in C++: wait until the first child's sentinel is ready.
  mp_wait_item item = MP_WAIT_FD(mp_process_sentinel(procs[0]));
  CHECK(mp_wait(&item, 1, 30) == 1 && item.ready);
  CHECK(std::string(mp_process_name(procs[0])) == "Square-0");
  for (size_t i = 0; i < procs.size(); i++) {
    CHECK_OK(mp_process_join(procs[i], 30));
    int code = -1;
    CHECK(mp_process_exitcode(procs[i], &code) == 1 && code == 0);
    const void *r = NULL;
    size_t n = 0;
    CHECK(mp_process_result(procs[i], &r, &n) == 1 && n == sizeof(long));
    if (r)
      CHECK(*static_cast<const long *>(r) == long(i * i));
    mp_process_free(procs[i]);
  }
}

mp_queue *queue;

int producer(void *arg, size_t len) {
  (void)arg;
  (void)len;
  for (int i = 0; i < 100; i++)
    if (mp_queue_put(queue, &i, sizeof i, MP_FOREVER) < 0)
      return 1;
  return 0;
}

void test_queue() {
  queue = mp_queue_new(0);
  CHECK(queue != NULL);
  if (!queue)
    return;
  mp_process *p = mp_process_new(producer, NULL, 0, NULL);
  CHECK(p != NULL);
  if (p)
    CHECK_OK(mp_process_start(p));
  long sum = 0;
  for (int i = 0; i < 100; i++) {
    void *data = NULL;
    size_t len = 0;
    int rc = mp_queue_get(queue, &data, &len, 30);
    CHECK(rc == 0 && len == sizeof(int));
    if (rc == 0)
      sum += *static_cast<int *>(data);
    mp_free(data);
  }
  CHECK(sum == 99 * 100 / 2);
  if (p) {
    CHECK_OK(mp_process_join(p, 30));
    mp_process_free(p);
  }
  mp_queue_free(queue);
}

void test_pool() {
  mp_pool_opts opts = MP_POOL_OPTS_INIT;
  opts.processes = 2;
  mp_pool *pool = mp_pool_new(&opts);
  CHECK(pool != NULL);
  if (!pool)
    return;
  std::vector<int> in(50), out(in.size());
  for (size_t i = 0; i < in.size(); i++)
    in[i] = int(i);
  // A captureless lambda converts to the C task pointer.
  mp_task_fn square = [](const void *arg, size_t, mp_task_out *o) -> int {
    int x = *static_cast<const int *>(arg), y = x * x;
    return mp_task_out_set(o, &y, sizeof y);
  };
  CHECK_OK(mp_pool_map(pool, square, in.data(), in.size(), sizeof(int),
                       out.data(), sizeof(int), NULL, NULL));
  for (size_t i = 0; i < in.size(); i++)
    CHECK(out[i] == int(i * i));

  int seven = 7;
  void *res = NULL;
  size_t len = 0;
  CHECK_OK(mp_pool_apply(pool, +[](const void *arg, size_t, mp_task_out *o) {
                           int y = *static_cast<const int *>(arg) + 1;
                           return mp_task_out_set(o, &y, sizeof y);
                         },
                         &seven, sizeof seven, &res, &len, NULL));
  CHECK(res && len == sizeof(int) && *static_cast<int *>(res) == 8);
  mp_free(res);

  // A failing task comes back as MP_ETASK with its record.
  mp_error err;
  int rc = mp_pool_apply(pool, [](const void *, size_t, mp_task_out *) {
    return 5;
  }, NULL, 0, NULL, NULL, &err);
  CHECK(rc == MP_ETASK && err.status == 5);
  CHECK_OK(mp_pool_close(pool));
  CHECK_OK(mp_pool_join(pool, 30));
  mp_pool_free(pool);
}

void test_manager() {
  mp_manager *m = mp_manager_start_new(NULL);
  CHECK(m != NULL);
  if (!m)
    return;
  mp_proxy *d = mp_manager_dict(m, NULL);
  CHECK(d != NULL);
  if (d) {
    for (int64_t i = 0; i < 5; i++) {
      mp_obj *k = mp_obj_int(i), *v = mp_obj_int(i * 10);
      CHECK_OK(mp_proxy_setitem(d, k, v));
      mp_obj_free(k);
      mp_obj_free(v);
    }
    size_t n = 0;
    CHECK_OK(mp_proxy_len(d, &n));
    CHECK(n == 5);
    mp_obj *k = mp_obj_int(3), *v = NULL;
    CHECK_OK(mp_proxy_getitem(d, k, &v));
    int64_t got = 0;
    CHECK(v && mp_obj_int_value(v, &got) == 0 && got == 30);
    mp_obj_free(k);
    mp_obj_free(v);
    mp_proxy_free(d);
  }
  mp_manager_free(m);
}

void test_pipe() {
  mp_conn *a = NULL, *b = NULL;
  CHECK_OK(mp_pipe(true, &a, &b));
  if (!a || !b)
    return;
  CHECK_OK(mp_conn_send_bytes(a, "hi", 2));
  mp_wait_item item = MP_WAIT_CONN(b); // the C++ form of the macro
  CHECK(mp_wait(&item, 1, 30) == 1 && item.ready);
  mp_conn_free(a);
  mp_conn_free(b);
}

void test_value() {
  // MP_CTYPE_OF and MP_CTYPE in C++.
  struct point {
    int x, y;
  } p0 = {1, 2};
  mp_value *v = mp_value_new(MP_CTYPE_OF(point), &p0, NULL);
  CHECK(v != NULL);
  if (v) {
    CHECK(mp_value_size(v) == sizeof(point));
    mp_value_free(v);
  }
  long seed = 42;
  mp_value *l = mp_value_new(MP_CTYPE('l'), &seed, NULL);
  CHECK(l != NULL);
  int64_t got = 0;
  if (l) {
    CHECK(mp_value_get_int(l, &got) == 0 && got == 42);
    mp_value_free(l);
  }
}

} // namespace

int main() {
  alarm(120); // the watchdog: a hang fails the test
  test_process();
  test_queue();
  test_pool();
  test_manager();
  test_pipe();
  test_value();
  if (failures) {
    std::fprintf(stderr, "test_cpp: %d checks failed\n", failures);
    return 1;
  }
  std::printf("test_cpp (C++%ld): all checks passed\n", long(__cplusplus / 100 % 100));
  return 0;
}
