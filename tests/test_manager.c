/* test_manager.c: managers and proxies: start/shutdown, the built-in types
 * (dict, list, Namespace, Value, Array, Queue, Lock, RLock, Semaphore,
 * BoundedSemaphore, Condition, Event, Barrier), errors, custom types,
 * nesting, reference counting, proxies in child processes, tokens, TCP,
 * get_server/serve_forever/connect. Robustness (garbage, killed clients,
 * killed servers) is in test_manager_robust.c. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "manager/manager_internal.h"
#include "mp_test.h"
#include "mproc.h"

static mp_manager *start(void) {
  mp_manager *m = mp_manager_start_new(NULL);
  assert_non_null(m);
  return m;
}

static char *str_of(mp_proxy *p) {
  char *s = NULL;
  assert_int_equal(mp_proxy_str(p, &s), 0);
  return s;
}

#define ASSERT_STR(p, want)                                                    \
  do {                                                                         \
    char *s_ = str_of(p);                                                      \
    assert_string_equal(s_, want);                                             \
    mp_free(s_);                                                               \
  } while (0)

static void objects_are(mp_manager *m, size_t want) {
  size_t objs, conns;
  assert_int_equal(mp__mgr_info(m, &objs, &conns), 0);
  assert_int_equal(objs, want);
}

static void test_start_shutdown(void **state) {
  (void)state;
  mp_test_watchdog(20);
  mp_test_warm_up(); /* the process layer's result arena stays open */
  int fds = mp_test_count_fds();
  mp_manager *m = start();
  assert_true(mp_manager_pid(m) > 0);
  assert_int_equal(mp_manager_address(m)->family, MP_AF_UNIX);
  assert_int_equal(mp_manager_start(m), MP_ESTATE);
  pid_t pid = mp_manager_pid(m);
  assert_int_equal(mp_manager_shutdown(m), 0);
  assert_int_equal(mp_manager_shutdown(m), 0); /* repeatable */
  assert_int_equal(kill(pid, 0), -1);          /* gone and reaped */
  mp_proxy *d;
  assert_int_equal(mp_manager_create(m, "dict", NULL, &d), MP_ESTATE);
  mp_manager_free(m);
  mp_manager_free(NULL);
  assert_int_equal(mp_test_count_fds(), fds);
}

static void test_dict(void **state) {
  (void)state;
  mp_test_watchdog(20);
  mp_manager *m = start();
  mp_proxy *d = mp_manager_dict(m, NULL);
  assert_non_null(d);
  mp_obj *k1 = mp_obj_int(1), *v1 = mp_obj_str("1"), *k2 = mp_obj_str("2"),
         *k3 = mp_obj_float(0.25), *v = NULL;
  assert_int_equal(mp_proxy_setitem(d, k1, v1), 0);
  assert_int_equal(mp_proxy_setitem(d, k2, k1), 0);
  assert_int_equal(mp_proxy_setitem(d, k3, NULL), 0);
  ASSERT_STR(d, "{1: '1', '2': 1, 0.25: None}");
  assert_int_equal(mp_proxy_getitem(d, k1, &v), 0);
  assert_true(mp_obj_equal(v, v1));
  mp_obj_free(v);
  size_t n;
  assert_int_equal(mp_proxy_len(d, &n), 0);
  assert_int_equal(n, 3);
  assert_int_equal(mp_proxy_contains(d, k2), 1);
  assert_int_equal(mp_proxy_delitem(d, k2), 0);
  assert_int_equal(mp_proxy_contains(d, k2), 0);
  assert_int_equal(mp_proxy_getitem(d, k2, &v), MP_EKEY);
  assert_non_null(strstr(mp_manager_last_error()->message, "KeyError: '2'"));
  assert_int_equal(mp_proxy_callf(d, "get", &v, "(s i)", "zz", 5), 0);
  int64_t five;
  assert_int_equal(mp_obj_int_value(v, &five), 0);
  assert_int_equal(five, 5);
  mp_obj_free(v);
  assert_int_equal(mp_proxy_callf(d, "keys", &v, ""), 0);
  char *r;
  mp_obj_repr(v, &r, NULL);
  assert_string_equal(r, "[1, 0.25]");
  mp_free(r);
  mp_obj_free(v);
  assert_int_equal(mp_proxy_callf(d, "update", NULL, "({s: i})", "x", 9), 0);
  assert_int_equal(mp_proxy_callf(d, "pop", &v, "(s)", "x"), 0);
  mp_obj_free(v);
  assert_int_equal(mp_proxy_callf(d, "setdefault", &v, "(s i)", "y", 3), 0);
  mp_obj_free(v);
  assert_int_equal(mp_proxy_callf(d, "popitem", &v, ""), 0);
  mp_obj_repr(v, &r, NULL);
  assert_string_equal(r, "('y', 3)");
  mp_free(r);
  mp_obj_free(v);
  assert_int_equal(mp_proxy_getvalue(d, &v), 0);
  assert_int_equal(mp_obj_get_type(v), MP_OBJ_DICT);
  mp_obj_free(v);
  /* A list key is unhashable: TypeError in the server. */
  mp_obj *lk = mp_obj_list_new();
  assert_int_equal(mp_proxy_setitem(d, lk, lk), MP_ETYPE);
  mp_obj_free(lk);
  /* Unknown and unexposed methods. */
  assert_int_equal(mp_proxy_call(d, "nosuch", NULL, NULL), MP_EATTR);
  assert_int_equal(mp_proxy_callf(d, "get", NULL, "(i i i)", 1, 2, 3), MP_ETYPE);
  assert_int_equal(mp_proxy_callf(d, "clear", NULL, ""), 0);
  ASSERT_STR(d, "{}");
  char desc[128];
  mp_proxy_describe(d, desc, sizeof desc);
  assert_non_null(strstr(desc, "<DictProxy object, typeid 'dict' at 0x"));
  mp_obj_free(k1), mp_obj_free(v1), mp_obj_free(k2), mp_obj_free(k3);
  mp_proxy_free(d);
  objects_are(m, 0);
  mp_manager_free(m);
}

static void test_list_and_nesting(void **state) {
  (void)state;
  mp_test_watchdog(20);
  mp_manager *m = start();
  mp_obj *init = mp_obj_build("[i i i i]", 0, 1, 4, 9);
  mp_proxy *l = mp_manager_list(m, init);
  mp_obj_free(init);
  ASSERT_STR(l, "[0, 1, 4, 9]");
  mp_obj *v;
  mp_obj *s13 = mp_proxy_slice(1, 3, MP_SLICE_NONE); /* l[1:3] */
  assert_int_equal(mp_proxy_getitem(l, s13, &v), 0);
  mp_obj_free(s13);
  char *r;
  mp_obj_repr(v, &r, NULL);
  assert_string_equal(r, "[1, 4]");
  mp_free(r);
  mp_obj_free(v);
  assert_int_equal(mp_proxy_callf(l, "__getitem__", NULL, "(i)", 20), MP_EINDEX);
  assert_int_equal(mp_proxy_callf(l, "insert", NULL, "(i s)", 0, "x"), 0);
  assert_int_equal(mp_proxy_callf(l, "remove", NULL, "(s)", "x"), 0);
  assert_int_equal(mp_proxy_callf(l, "remove", NULL, "(s)", "x"), MP_EVALUE);
  assert_int_equal(mp_proxy_callf(l, "index", &v, "(i)", 9), 0);
  mp_obj_free(v);
  assert_int_equal(mp_proxy_callf(l, "sort", NULL, "(b)", 1), 0);
  ASSERT_STR(l, "[9, 4, 1, 0]");
  /* a.append(b) nests b's referent: later changes to b show in a. */
  mp_proxy *a = mp_manager_list(m, NULL), *b = mp_manager_list(m, NULL);
  mp_obj *tok = mp_proxy_token(b);
  assert_int_equal(mp_proxy_append(a, tok), 0);
  mp_obj_free(tok);
  ASSERT_STR(a, "[[]]");
  mp_obj *hello = mp_obj_str("hello");
  assert_int_equal(mp_proxy_append(b, hello), 0);
  mp_obj_free(hello);
  ASSERT_STR(a, "[['hello']]");
  ASSERT_STR(b, "['hello']");
  objects_are(m, 3);
  mp_proxy_free(b); /* a still holds b's referent */
  objects_are(m, 2);
  ASSERT_STR(a, "[['hello']]");
  mp_proxy_free(a);
  mp_proxy_free(l);
  objects_are(m, 0);
  mp_manager_free(m);
}

static void test_namespace_value_array(void **state) {
  (void)state;
  mp_test_watchdog(20);
  mp_manager *m = start();
  mp_proxy *ns = mp_manager_namespace(m);
  mp_obj *ten = mp_obj_int(10), *hello = mp_obj_str("hello"), *v;
  assert_int_equal(mp_proxy_setattr(ns, "x", ten), 0);
  assert_int_equal(mp_proxy_setattr(ns, "y", hello), 0);
  ASSERT_STR(ns, "Namespace(x=10, y='hello')");
  assert_int_equal(mp_proxy_getattr(ns, "x", &v), 0);
  assert_true(mp_obj_equal(v, ten));
  mp_obj_free(v);
  assert_int_equal(mp_proxy_getattr(ns, "nope", &v), MP_EATTR);
  assert_int_equal(mp_proxy_delattr(ns, "x"), 0);
  ASSERT_STR(ns, "Namespace(y='hello')");
  mp_proxy *val = mp_manager_value(m, "i", ten);
  ASSERT_STR(val, "Value('i', 10)");
  assert_int_equal(mp_proxy_set_value(val, hello), 0);
  assert_int_equal(mp_proxy_get_value(val, &v), 0);
  assert_true(mp_obj_equal(v, hello));
  mp_obj_free(v);
  assert_null(mp_manager_value(m, "z", ten));
  assert_int_equal(mp_errno_code(errno), MP_EVALUE);
  mp_obj *seq = mp_obj_build("[i i i]", 1, 2, 3);
  mp_proxy *arr = mp_manager_array(m, "i", seq);
  ASSERT_STR(arr, "array('i', [1, 2, 3])");
  assert_int_equal(mp_proxy_callf(arr, "__setitem__", NULL, "(i s)", 0, "x"),
                   MP_ETYPE);
  assert_int_equal(mp_proxy_callf(arr, "__setitem__", NULL, "(i L)", 0,
                                  (long long)1 << 40),
                   MP_EVALUE);
  assert_int_equal(mp_proxy_callf(arr, "__setitem__", NULL, "(i i)", 0, 7), 0);
  assert_int_equal(mp_proxy_getvalue(arr, &v), 0);
  char *r;
  mp_obj_repr(v, &r, NULL);
  assert_string_equal(r, "[7, 2, 3]");
  mp_free(r);
  mp_obj_free(v);
  mp_obj_free(seq), mp_obj_free(ten), mp_obj_free(hello);
  mp_proxy_free(ns), mp_proxy_free(val), mp_proxy_free(arr);
  mp_manager_free(m);
}

static void test_queue_and_sync(void **state) {
  (void)state;
  mp_test_watchdog(30);
  mp_manager *m = start();
  mp_proxy *q = mp_manager_queue(m, 2);
  mp_obj *one = mp_obj_int(1), *v;
  assert_int_equal(mp_proxy_put(q, one, true, MP_FOREVER), 0);
  assert_int_equal(mp_proxy_put(q, one, true, MP_FOREVER), 0);
  assert_int_equal(mp_proxy_put(q, one, true, 0.05), MP_EFULL);
  assert_int_equal(mp_proxy_put(q, one, false, 0), MP_EFULL);
  assert_int_equal(mp_proxy_get(q, true, 1, &v), 0);
  mp_obj_free(v);
  assert_int_equal(mp_proxy_get(q, true, 1, &v), 0);
  mp_obj_free(v);
  assert_int_equal(mp_proxy_get(q, true, 0.05, &v), MP_EEMPTY);
  assert_int_equal(mp_proxy_get(q, false, 0, &v), MP_EEMPTY);
  assert_int_equal(mp_proxy_get(q, true, -1, &v), MP_EEMPTY); /* polls */
  assert_int_equal(mp_proxy_get(q, true, NAN, &v), -EINVAL);

  mp_proxy *lk = mp_manager_lock(m);
  assert_int_equal(mp_proxy_acquire(lk, true, MP_FOREVER), 0);
  assert_int_equal(mp_proxy_acquire(lk, false, 0), MP_ETIMEOUT);
  assert_int_equal(mp_proxy_acquire(lk, true, 0.05), MP_ETIMEOUT);
  assert_int_equal(mp_proxy_acquire(lk, true, -1), MP_ETIMEOUT);
  assert_int_equal(mp_proxy_acquire(lk, true, NAN), -EINVAL);
  assert_int_equal(mp_proxy_release(lk), 0);
  assert_int_equal(mp_proxy_release(lk), MP_EVALUE);
  mp_proxy *rl = mp_manager_rlock(m);
  assert_int_equal(mp_proxy_acquire(rl, true, MP_FOREVER), 0);
  assert_int_equal(mp_proxy_acquire(rl, true, MP_FOREVER), 0);
  assert_int_equal(mp_proxy_release(rl), 0);
  assert_int_equal(mp_proxy_release(rl), 0);
  assert_int_equal(mp_proxy_release(rl), MP_ENOTOWNER);
  mp_proxy *sem = mp_manager_bounded_semaphore(m, 1);
  assert_int_equal(mp_proxy_acquire(sem, false, 0), 0);
  assert_int_equal(mp_proxy_acquire(sem, false, 0), MP_ETIMEOUT);
  assert_int_equal(mp_proxy_acquire(sem, true, 0.02), MP_ETIMEOUT);
  assert_int_equal(mp_proxy_release(sem), 0);
  assert_int_equal(mp_proxy_release(sem), MP_EVALUE);
  mp_proxy *ev = mp_manager_event(m);
  assert_int_equal(mp_proxy_event_is_set(ev), 0);
  assert_int_equal(mp_proxy_wait(ev, 0.05), MP_ETIMEOUT);
  assert_int_equal(mp_proxy_wait(ev, -1), MP_ETIMEOUT);
  assert_int_equal(mp_proxy_wait(ev, NAN), -EINVAL);
  assert_int_equal(mp_proxy_event_set(ev), 0);
  assert_int_equal(mp_proxy_event_is_set(ev), 1);
  assert_int_equal(mp_proxy_wait(ev, MP_FOREVER), 0);
  mp_proxy *cond = mp_manager_condition(m, lk);
  assert_non_null(cond);
  assert_int_equal(mp_proxy_wait(cond, 0.01), MP_ENOTOWNER);
  assert_int_equal(mp_proxy_acquire(cond, true, MP_FOREVER), 0);
  assert_int_equal(mp_proxy_wait(cond, 0.05), MP_ETIMEOUT);
  assert_int_equal(mp_proxy_notify(cond, 1), 0);
  assert_int_equal(mp_proxy_release(cond), 0);
  /* The condition shares the lock it was given. */
  assert_int_equal(mp_proxy_acquire(lk, false, 0), 0);
  assert_int_equal(mp_proxy_acquire(cond, false, 0), MP_ETIMEOUT);
  assert_int_equal(mp_proxy_release(lk), 0);

  /* A child blocked in get() does not stop the parent being served; a
   * put wakes it. A Barrier of 2 with the child. */
  mp_proxy *br = mp_manager_barrier(m, 2, MP_FOREVER);
  pid_t pid = fork();
  if (pid == 0) {
    mp_obj *got;
    int rc = mp_proxy_get(q, true, 10, &got);
    int ok = rc == 0 && mp_obj_equal(got, one);
    mp_obj_free(got);
    ok = ok && mp_proxy_wait(br, 10) >= 0;
    _exit(ok ? 0 : 1);
  }
  assert_int_equal(mp__mgr_wait_busy(m, 1, 20), 0); /* the child waits */
  assert_int_equal(mp_proxy_callf(q, "qsize", &v, ""), 0); /* still served */
  mp_obj_free(v);
  assert_int_equal(mp_proxy_put(q, one, true, MP_FOREVER), 0);
  assert_true(mp_proxy_wait(br, 10) >= 0);
  int st;
  waitpid(pid, &st, 0);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  mp_obj *attr;
  assert_int_equal(mp_proxy_callf(br, "parties", &attr, ""), 0);
  mp_obj_free(attr);
  assert_int_equal(mp_proxy_callf(br, "abort", NULL, ""), 0);
  assert_int_equal(mp_proxy_wait(br, 1), MP_EBROKEN);
  /* A wait's timeout breaks the barrier, as mp_barrier_wait_timeout. */
  mp_proxy *br2 = mp_manager_barrier(m, 2, MP_FOREVER);
  assert_int_equal(mp_proxy_wait(br2, 0.05), MP_EBROKEN);
  assert_int_equal(mp_proxy_wait(br2, NAN), -EINVAL);
  mp_proxy_free(br2);
  mp_obj_free(one);
  mp_proxy_free(q), mp_proxy_free(lk), mp_proxy_free(rl), mp_proxy_free(sem);
  mp_proxy_free(ev), mp_proxy_free(cond), mp_proxy_free(br);
  mp_manager_free(m);
}

/* ---- Custom types ------------------------------------------------------------------------ */

static int maths_create(void *ctx, mp_method_call *c) {
  (void)ctx;
  static int dummy;
  c->referent = &dummy;
  return 0;
}

static int maths_add(void *self, mp_method_call *c) {
  int64_t a, b;
  mp_obj *x, *y;
  (void)self;
  if (mp_obj_list_len(c->args) != 2 || mp_obj_tuple_get(c->args, 0, &x) < 0 ||
      mp_obj_tuple_get(c->args, 1, &y) < 0 || mp_obj_int_value(x, &a) < 0 ||
      mp_obj_int_value(y, &b) < 0)
    return mp__mgr_fail(c, MP_ETYPE, "add needs two ints");
  c->result = mp_obj_int(a + b);
  return 0;
}

static int maths_fail(void *self, mp_method_call *c) {
  (void)self;
  snprintf(c->message, sizeof c->message, "it broke");
  return -EIO;
}

static int maths_hidden(void *self, mp_method_call *c) {
  (void)self, (void)c;
  return 0;
}

static int maths_newlist(void *self, mp_method_call *c) {
  (void)self;
  c->result = mp_obj_build("[s]", "made");
  return 0;
}

static const mp_method_def maths_methods[] = {
    {"add", maths_add, NULL},
    {"fail", maths_fail, NULL},
    {"_hidden", maths_hidden, NULL},
    {"newlist", maths_newlist, "list"},
};

static void test_custom(void **state) {
  (void)state;
  mp_test_watchdog(20);
  mp_manager *m = mp_manager_new(NULL);
  mp_type_def def = {.type_id = "Maths", .create = maths_create,
                     .methods = maths_methods, .n_methods = 4};
  assert_int_equal(mp_manager_register(m, &def), 0);
  mp_type_def bad = {.type_id = NULL};
  assert_int_equal(mp_manager_register(m, &bad), -EINVAL);
  mp_type_def other = {.type_id = "Hidden", .methods_of = "Maths",
                       .create = maths_create, .flags = MP_TYPE_NO_CREATE};
  assert_int_equal(mp_manager_register(m, &other), 0);
  assert_int_equal(mp_manager_start(m), 0);
  assert_int_equal(mp_manager_register(m, &def), MP_ESTATE);
  mp_proxy *p;
  assert_int_equal(mp_manager_create(m, "Maths", NULL, &p), 0);
  mp_obj *v;
  assert_int_equal(mp_proxy_callf(p, "add", &v, "(i i)", 4, 3), 0);
  int64_t x;
  mp_obj_int_value(v, &x);
  assert_int_equal(x, 7);
  mp_obj_free(v);
  assert_int_equal(mp_proxy_callf(p, "fail", NULL, ""), MP_EREMOTE);
  assert_string_equal(mp_manager_last_error()->message, "it broke");
  assert_int_equal(mp_proxy_callf(p, "_hidden", NULL, ""), MP_EATTR);
  size_t n;
  const char *const *ex = mp_proxy_exposed(p, &n);
  assert_int_equal(n, 3);
  assert_string_equal(ex[0], "add");
  char desc[128];
  mp_proxy_describe(p, desc, sizeof desc);
  assert_non_null(strstr(desc, "<AutoProxy[Maths] object, typeid 'Maths'"));
  assert_int_equal(mp_proxy_callf(p, "newlist", NULL, ""), MP_ETYPE);
  mp_proxy *l;
  assert_int_equal(mp_proxy_call_proxy(p, "newlist", NULL, &l), 0);
  ASSERT_STR(l, "['made']");
  assert_string_equal(mp_proxy_typeid(l), "list");
  mp_proxy_free(p);
  assert_int_equal(mp_manager_create(m, "Hidden", NULL, &p), MP_EATTR);
  assert_int_equal(mp_manager_create(m, "Nope", NULL, &p), MP_EATTR);
  mp_proxy_free(l);
  assert_int_equal(mp_manager_create(m, "Maths", NULL, &p), 0);
  mp_proxy_free(p);
  mp_manager_free(m);
}

/* ---- Processes, tokens, refcounts ----------------------------------------------------- */

static void test_child_and_tokens(void **state) {
  (void)state;
  mp_test_watchdog(30);
  mp_manager *m = start();
  mp_proxy *d = mp_manager_dict(m, NULL);
  mp_obj *tok = mp_proxy_token(d);
  void *buf;
  size_t len;
  assert_int_equal(mp_obj_encode(tok, &buf, &len), 0);
  pid_t pid = fork();
  if (pid == 0) {
    /* The inherited proxy works here; so does one rebuilt from bytes. */
    mp_obj *k = mp_obj_str("child"), *t2 = NULL;
    int ok = mp_proxy_setitem(d, k, k) == 0;
    ok = ok && mp_obj_decode(buf, len, &t2) == 0;
    mp_proxy *d2 = ok ? mp_proxy_from_token(t2, NULL, 0) : NULL;
    mp_obj *k2 = mp_obj_str("rebuilt");
    ok = ok && d2 && mp_proxy_setitem(d2, k2, k2) == 0;
    mp_proxy_free(d2);
    mp_proxy_free(d);
    _exit(ok ? 0 : 1);
  }
  int st;
  waitpid(pid, &st, 0);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  ASSERT_STR(d, "{'child': 'child', 'rebuilt': 'rebuilt'}");
  objects_are(m, 1); /* the child freed (or dropped) its references */
  /* A child that exits without freeing still drops its reference. */
  pid = fork();
  if (pid == 0) {
    mp_obj *k = mp_obj_str("x");
    _exit(mp_proxy_contains(d, k) == 0 ? 0 : 1);
  }
  waitpid(pid, &st, 0);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  mp_proxy_free(d);
  for (int i = 0; i < 100; i++) { /* the server sees the child go soon */
    size_t objs, conns;
    mp__mgr_info(m, &objs, &conns);
    if (objs == 0)
      break;
    usleep(20000);
  }
  objects_are(m, 0);
  mp_free(buf);
  mp_obj_free(tok);
  assert_null(mp_proxy_from_token(mp_obj_none(), NULL, 0));
  mp_manager_free(m);
}

static void *serve_thread(void *arg) {
  mp_server_serve_forever(arg);
  return NULL;
}

static int g_init_ran;
static void initializer(void *arg) { g_init_ran = *(int *)arg; }

static void test_server_connect_tcp(void **state) {
  (void)state;
  mp_test_watchdog(30);
  mp_address a = mp_address_inet("127.0.0.1", 0);
  mp_manager_opts o = {.address = &a, .authkey = "abracadabra",
                       .authkey_len = 11};
  mp_manager *sm = mp_manager_new(&o);
  mp_server *srv = mp_manager_get_server(sm);
  assert_non_null(srv);
  mp_address bound = *mp_server_address(srv);
  assert_true(bound.port > 0);
  pthread_t t;
  pthread_create(&t, NULL, serve_thread, srv);
  o.address = &bound;
  mp_manager *c = mp_manager_new(&o);
  assert_int_equal(mp_manager_connect(c), 0);
  mp_proxy *d = mp_manager_dict(c, NULL);
  mp_obj *k = mp_obj_int(1);
  assert_int_equal(mp_proxy_setitem(d, k, k), 0);
  ASSERT_STR(d, "{1: 1}");
  mp_obj_free(k);
  /* The wrong key is refused. */
  mp_manager_opts bad = {.address = &bound, .authkey = "nope", .authkey_len = 4};
  mp_manager *b = mp_manager_new(&bad);
  assert_int_equal(mp_manager_connect(b), MP_EAUTH);
  mp_manager_free(b);
  mp_proxy_free(d);
  mp_manager_free(c);
  mp_server_stop(srv);
  pthread_join(t, NULL);
  mp_server_free(srv);
  mp_manager_free(sm);

  /* start() with an initializer, on TCP. */
  int arg = 5;
  mp_address any = mp_address_inet("127.0.0.1", 0);
  mp_manager_opts io = {.address = &any, .initializer = initializer,
                        .initarg = &arg};
  mp_manager *m = mp_manager_start_new(&io);
  assert_non_null(m);
  assert_true(mp_manager_address(m)->port > 0);
  mp_manager_free(m);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_start_shutdown),
      cmocka_unit_test(test_dict),
      cmocka_unit_test(test_list_and_nesting),
      cmocka_unit_test(test_namespace_value_array),
      cmocka_unit_test(test_queue_and_sync),
      cmocka_unit_test(test_custom),
      cmocka_unit_test(test_child_and_tokens),
      cmocka_unit_test(test_server_connect_tcp),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
