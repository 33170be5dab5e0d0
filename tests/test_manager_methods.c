/* test_manager_methods.c: managers on every start method (this suite runs
 * once per method: test_manager_methods, @spawn, @forkserver, @thread): the
 * server process started by the suite's method (with a registered type and
 * an initializer, which must cross exec for spawn and forkserver), and
 * proxies (a dict, a list, a Lock, an Event) passed as bytes to children of
 * the same method, which reach the parent's objects. Also the start
 * method named in the options and through a context, and what cannot
 * cross exec (a data pointer) refused; the INFO log lines; keyword
 * arguments, Condition.wait_for and a Barrier's action through proxies. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/mman.h>

#include "mp_test.h"
#include "mproc.h"

/* ---- A registered type and an initializer (functions cross exec) ------- */

static int64_t g_base; /* set by the initializer, in the server */

static void init_base(void *arg) {
  (void)arg;
  g_base = 1000;
}

static int add(void *self, mp_method_call *c) {
  (void)self;
  mp_obj *a, *b;
  int64_t x, y;
  if (mp_obj_tuple_get(c->args, 0, &a) < 0 ||
      mp_obj_tuple_get(c->args, 1, &b) < 0 || mp_obj_int_value(a, &x) < 0 ||
      mp_obj_int_value(b, &y) < 0) {
    snprintf(c->message, sizeof c->message, "two ints expected");
    return MP_ETYPE;
  }
  c->result = mp_obj_int(g_base + x + y);
  return 0;
}

/* How many keyword arguments came (-1: none at all). */
static int kwcount(void *self, mp_method_call *c) {
  (void)self;
  c->result = mp_obj_int(c->kwargs ? (int64_t)mp_obj_dict_len(c->kwargs) : -1);
  return 0;
}

static int g_actions; /* Barrier actions run, in the server */

static void barrier_action(void) { g_actions++; }

static int actions(void *self, mp_method_call *c) {
  (void)self;
  c->result = mp_obj_int(g_actions);
  return 0;
}

static int maths_new(void *ctx, mp_method_call *c) {
  static char instance;
  (void)ctx;
  c->referent = &instance;
  return 0;
}

static const mp_method_def maths_methods[] = {{"add", add, NULL},
                                              {"kwcount", kwcount, NULL},
                                              {"actions", actions, NULL}};
static const mp_type_def maths = {.type_id = "Maths", .create = maths_new,
                                  .methods = maths_methods, .n_methods = 3};

static int64_t int_of(mp_obj *o) {
  int64_t v = -1;
  assert_int_equal(mp_obj_int_value(o, &v), 0);
  return v;
}

/* ---- The server, started by the suite's method ---------------------------- */

static void test_server_by_method(void **state) {
  (void)state;
  mp_test_watchdog(60);
  mp_manager_opts o = {.initializer = init_base};
  mp_manager *m = mp_manager_new(&o);
  assert_non_null(m);
  assert_int_equal(mp_manager_register(m, &maths), 0);
  assert_int_equal(mp_manager_start(m), 0);
  if (mp_test_method_is("thread"))
    assert_int_equal(mp_manager_pid(m), getpid());
  else
    assert_true(mp_manager_pid(m) > 0 && mp_manager_pid(m) != getpid());
  /* The server is a child process object named as CPython names it. */
  mp_process **list;
  size_t n;
  assert_int_equal(mp_active_children(&list, &n), 0);
  bool found = false;
  for (size_t i = 0; i < n; i++)
    found |= !strncmp(mp_process_name(list[i]), "SyncManager-", 12);
  mp_process_list_free(list, n);
  assert_true(found);
  /* The registered type's functions and the initializer made it. */
  mp_proxy *p;
  assert_int_equal(mp_manager_create(m, "Maths", NULL, &p), 0);
  mp_obj *r = NULL;
  assert_int_equal(mp_proxy_callf(p, "add", &r, "(i i)", 4, 3), 0);
  assert_int_equal(int_of(r), 1007);
  mp_obj_free(r);
  mp_proxy_free(p);
  /* The built-in types too. */
  mp_proxy *d = mp_manager_dict(m, NULL);
  assert_non_null(d);
  mp_obj *k = mp_obj_str("k");
  assert_int_equal(mp_proxy_setitem(d, k, k), 0);
  assert_int_equal(mp_proxy_contains(d, k), 1);
  mp_obj_free(k);
  mp_proxy_free(d);
  assert_int_equal(mp_manager_shutdown(m), 0);
  assert_int_equal(mp_manager_shutdown(m), 0);
  assert_int_equal(mp_manager_create(m, "dict", NULL, &d), MP_ESTATE);
  mp_manager_free(m);
}

/* ---- Proxies passed to children ---------------------------------------------- */

/* The argument bytes for a child: a list of the proxies' bytes. */
static void dump_all(mp_proxy **px, int n, void **arg, size_t *len) {
  mp_obj *all = mp_obj_list_new();
  assert_non_null(all);
  for (int i = 0; i < n; i++) {
    void *buf;
    size_t blen;
    assert_non_null(px[i]);
    assert_int_equal(mp_proxy_dumps(px[i], &buf, &blen), 0);
    assert_int_equal(mp_obj_list_append_steal(all, mp_obj_bytes(buf, blen)), 0);
    mp_free(buf);
  }
  assert_int_equal(mp_obj_encode(all, arg, len), 0);
  mp_obj_unref(all);
}

/* In a child: the n proxies of dump_all's bytes. 0, or the failed step. */
static int load_all(void *arg, size_t len, mp_proxy **px, int n) {
  mp_obj *all = NULL;
  CHILD_FAIL(mp_obj_decode(arg, len, &all) == 0);
  CHILD_FAIL(mp_obj_list_len(all) == (size_t)n);
  for (int i = 0; i < n; i++) {
    mp_obj *b;
    const void *p;
    size_t bn;
    CHILD_FAIL(mp_obj_list_get(all, i, &b) == 0 &&
               mp_obj_bytes_value(b, &p, &bn) == 0);
    px[i] = mp_proxy_loads(p, bn, NULL, 0);
    CHILD_FAIL(px[i] != NULL);
  }
  mp_obj_unref(all);
  return 0;
}

enum { P_DICT, P_LIST, P_LOCK, P_EVENT, NPROXIES };

static int c_use_proxies(void *arg, size_t len) {
  mp_proxy *px[NPROXIES];
  int rc = load_all(arg, len, px, NPROXIES);
  if (rc)
    return rc;
  /* The parent's dict: read what it set, set something for it. */
  mp_obj *k = mp_obj_str("parent"), *v = NULL;
  int64_t x = 0;
  CHILD_FAIL(mp_proxy_getitem(px[P_DICT], k, &v) == 0);
  CHILD_FAIL(mp_obj_int_value(v, &x) == 0 && x == 1);
  mp_obj_free(v);
  mp_obj_free(k);
  k = mp_obj_str("child");
  v = mp_obj_int(2);
  CHILD_FAIL(mp_proxy_setitem(px[P_DICT], k, v) == 0);
  mp_obj_free(k);
  mp_obj_free(v);
  v = mp_obj_int(7);
  CHILD_FAIL(mp_proxy_append(px[P_LIST], v) == 0);
  mp_obj_free(v);
  /* The parent holds the Lock for our whole life. */
  CHILD_FAIL(mp_proxy_acquire(px[P_LOCK], false, 0) == MP_ETIMEOUT);
  CHILD_FAIL(mp_proxy_event_set(px[P_EVENT]) == 0);
  for (int i = 0; i < NPROXIES; i++)
    mp_proxy_free(px[i]);
  return 0;
}

static void test_proxies_to_children(void **state) {
  (void)state;
  mp_test_watchdog(90);
  mp_manager *m = mp_manager_start_new(NULL);
  assert_non_null(m);
  mp_proxy *px[NPROXIES] = {mp_manager_dict(m, NULL), mp_manager_list(m, NULL),
                            mp_manager_lock(m), mp_manager_event(m)};
  for (int i = 0; i < NPROXIES; i++)
    assert_non_null(px[i]);
  mp_obj *k = mp_obj_str("parent"), *one = mp_obj_int(1);
  assert_int_equal(mp_proxy_setitem(px[P_DICT], k, one), 0);
  mp_obj_free(k);
  mp_obj_free(one);
  assert_int_equal(mp_proxy_acquire(px[P_LOCK], true, MP_FOREVER), 0);
  void *arg;
  size_t len;
  dump_all(px, NPROXIES, &arg, &len);
  enum { CHILDREN = 2 };
  mp_process *c[CHILDREN];
  for (int i = 0; i < CHILDREN; i++) {
    c[i] = mp_test_process(c_use_proxies, arg, len);
    assert_int_equal(mp_process_start(c[i]), 0);
  }
  mp_free(arg);
  for (int i = 0; i < CHILDREN; i++)
    mp_test_join_ok(c[i]);
  /* What the children did is in the parent's objects. */
  k = mp_obj_str("child");
  mp_obj *v = NULL;
  assert_int_equal(mp_proxy_getitem(px[P_DICT], k, &v), 0);
  assert_int_equal(int_of(v), 2);
  mp_obj_free(v);
  mp_obj_free(k);
  size_t n = 0;
  assert_int_equal(mp_proxy_len(px[P_LIST], &n), 0);
  assert_int_equal(n, CHILDREN);
  assert_int_equal(mp_proxy_event_is_set(px[P_EVENT]), 1);
  assert_int_equal(mp_proxy_release(px[P_LOCK]), 0);
  /* The children's references went with them: only ours are left. */
  for (int i = 0; i < NPROXIES; i++)
    mp_proxy_free(px[i]);
  mp_manager_free(m);
}

/* ---- Naming the method: options, context; what cannot cross ---------------- */

static void test_method_options(void **state) {
  (void)state;
  mp_test_watchdog(60);
  const char *meth = mp_test_method();
  mp_manager_opts o = {.start_method = meth};
  mp_manager *m = mp_manager_start_new(&o);
  assert_non_null(m);
  mp_proxy *l = mp_manager_list(m, NULL);
  assert_non_null(l);
  mp_proxy_free(l);
  mp_manager_free(m);
  m = mp_context_manager_new(mp_get_context(meth), NULL);
  assert_non_null(m);
  l = mp_manager_list(m, NULL);
  assert_non_null(l);
  mp_proxy_free(l);
  mp_manager_free(m);
  /* The context's method and the options' must agree. */
  const char *other = strcmp(meth, "fork") ? "fork" : "spawn";
  mp_manager_opts bad = {.start_method = other};
  errno = 0;
  assert_null(mp_context_manager_new(mp_get_context(meth), &bad));
  assert_int_equal(errno, EINVAL);
  mp_manager_opts unknown = {.start_method = "teleport"};
  assert_null(mp_manager_new(&unknown));
  assert_int_equal(errno, EINVAL);
  /* A data pointer cannot cross exec: refused, nothing left running. */
  static int data;
  mp_manager_opts ptr = {.start_method = "spawn", .initializer = init_base,
                         .initarg = &data};
  m = mp_manager_new(&ptr);
  assert_non_null(m);
  assert_int_equal(mp_manager_start(m), -EINVAL);
  mp_manager_free(m);
  mp_type_def with_ctx = maths;
  with_ctx.ctx = &data;
  mp_manager_opts fs = {.start_method = "forkserver"};
  m = mp_manager_new(&fs);
  assert_int_equal(mp_manager_register(m, &with_ctx), 0);
  assert_int_equal(mp_manager_start(m), -EINVAL);
  mp_manager_free(m);
}

/* ---- Keyword arguments, Condition.wait_for, a Barrier's action ----------- */

static mp_obj *call_kw(mp_proxy *p, const char *method, mp_obj *args,
                       const char *kwfmt, int want, ...) {
  va_list ap;
  va_start(ap, want);
  mp_obj *kw = mp_obj_buildv(kwfmt, ap);
  va_end(ap);
  assert_non_null(kw);
  mp_obj *r = NULL;
  int rc = mp_proxy_call_kw(p, method, args, kw, &r);
  mp_obj_unref(kw);
  if (rc != want)
    fail_msg("%s(**%s): %d, not %d (%s)", method, kwfmt, rc, want,
             mp_manager_last_error()->message);
  return r;
}

static void test_kwargs(void **state) {
  (void)state;
  mp_test_watchdog(60);
  mp_manager *m = mp_manager_new(NULL);
  assert_int_equal(mp_manager_register(m, &maths), 0);
  assert_int_equal(mp_manager_start(m), 0);
  mp_proxy *q = mp_manager_queue(m, 0), *d = mp_manager_dict(m, NULL),
           *l = mp_manager_list(m, NULL), *mx;
  assert_int_equal(mp_manager_create(m, "Maths", NULL, &mx), 0);
  /* q.get(timeout=0.05) blocks, then Empty; q.get(block=False) gets. */
  call_kw(q, "get", NULL, "{s: d}", MP_EEMPTY, "timeout", 0.05);
  mp_obj *one = mp_obj_int(1);
  assert_int_equal(mp_proxy_put(q, one, true, MP_FOREVER), 0);
  mp_obj *r = call_kw(q, "get", NULL, "{s: b}", 0, "block", 0);
  assert_int_equal(int_of(r), 1);
  mp_obj_free(r);
  /* d.update(a=1, b=2); d.get('z', default=5); d.pop('a', default=0). */
  call_kw(d, "update", NULL, "{s: i, s: i}", 0, "a", 1, "b", 2);
  size_t n = 0;
  assert_int_equal(mp_proxy_len(d, &n), 0);
  assert_int_equal(n, 2);
  mp_obj *z = mp_obj_build("(s)", "z");
  r = call_kw(d, "get", z, "{s: i}", 0, "default", 5);
  assert_int_equal(int_of(r), 5);
  mp_obj_free(r);
  mp_obj_free(z);
  /* l.sort(reverse=True). */
  for (int i = 0; i < 3; i++) {
    mp_obj *v = mp_obj_int(i);
    assert_int_equal(mp_proxy_append(l, v), 0);
    mp_obj_free(v);
  }
  call_kw(l, "sort", NULL, "{s: b}", 0, "reverse", 1);
  mp_obj *first = NULL, *zero = mp_obj_int(0);
  assert_int_equal(mp_proxy_getitem(l, zero, &first), 0);
  mp_obj_free(zero);
  assert_int_equal(int_of(first), 2);
  mp_obj_free(first);
  /* Errors, with Python's messages. */
  call_kw(q, "get", NULL, "{s: i}", MP_ETYPE, "tiemout", 1);
  assert_non_null(strstr(mp_manager_last_error()->message,
                         "unexpected keyword argument 'tiemout'"));
  mp_obj *t = mp_obj_build("(b)", 1);
  call_kw(q, "get", t, "{s: b}", MP_ETYPE, "block", 1);
  assert_non_null(strstr(mp_manager_last_error()->message, "multiple values"));
  mp_obj_free(t);
  call_kw(d, "keys", NULL, "{s: i}", MP_ETYPE, "x", 1);
  /* A registered type's method gets them as they came. */
  r = call_kw(mx, "kwcount", NULL, "{s: i, s: i}", 0, "x", 1, "y", 2);
  assert_int_equal(int_of(r), 2);
  mp_obj_free(r);
  assert_int_equal(mp_proxy_call(mx, "kwcount", NULL, &r), 0);
  assert_int_equal(int_of(r), -1);
  mp_obj_free(r);
  mp_obj_free(one);
  mp_proxy_free(q);
  mp_proxy_free(d);
  mp_proxy_free(l);
  mp_proxy_free(mx);
  mp_manager_free(m);
}

enum { W_COND, W_DICT, W_BARRIER, NW };

/* Sets d['ready'] under the condition and notifies; then meets the parent
 * at the barrier. */
static int c_notify(void *arg, size_t len) {
  mp_proxy *px[NW];
  int rc = load_all(arg, len, px, NW);
  if (rc)
    return rc;
  CHILD_FAIL(mp_proxy_acquire(px[W_COND], true, 30) == 0);
  mp_obj *k = mp_obj_str("ready"), *v = mp_obj_int(1);
  CHILD_FAIL(mp_proxy_setitem(px[W_DICT], k, v) == 0);
  mp_obj_free(k);
  mp_obj_free(v);
  CHILD_FAIL(mp_proxy_notify_all(px[W_COND]) == 0);
  CHILD_FAIL(mp_proxy_release(px[W_COND]) == 0);
  CHILD_FAIL(mp_proxy_wait(px[W_BARRIER], 30) >= 0);
  for (int i = 0; i < NW; i++)
    mp_proxy_free(px[i]);
  return 0;
}

static bool ready(void *arg) {
  mp_obj *k = mp_obj_str("ready");
  int r = mp_proxy_contains(arg, k);
  mp_obj_free(k);
  return r == 1;
}

static bool never(void *arg) {
  (void)arg;
  return false;
}

static void test_wait_for_and_action(void **state) {
  (void)state;
  mp_test_watchdog(60);
  mp_manager *m = mp_manager_new(NULL);
  assert_int_equal(mp_manager_register(m, &maths), 0);
  assert_int_equal(mp_manager_start(m), 0);
  mp_proxy *px[NW] = {mp_manager_condition(m, NULL), mp_manager_dict(m, NULL),
                      mp_manager_barrier_action(m, 2, barrier_action,
                                                MP_FOREVER)};
  void *arg;
  size_t len;
  dump_all(px, NW, &arg, &len);
  /* wait_for without a notifier: the predicate stays false, timeout. */
  assert_int_equal(mp_proxy_acquire(px[W_COND], true, MP_FOREVER), 0);
  assert_int_equal(mp_proxy_wait_for(px[W_COND], never, NULL, 0.05),
                   MP_ETIMEOUT);
  assert_int_equal(mp_proxy_wait_for(px[W_COND], never, NULL, NAN), -EINVAL);
  /* With one: true once the child set it. */
  mp_process *c = mp_test_process(c_notify, arg, len);
  mp_free(arg);
  assert_int_equal(mp_process_start(c), 0);
  assert_int_equal(mp_proxy_wait_for(px[W_COND], ready, px[W_DICT], 30), 0);
  assert_int_equal(mp_proxy_release(px[W_COND]), 0);
  assert_true(mp_proxy_wait(px[W_BARRIER], 30) >= 0);
  mp_test_join_ok(c);
  /* The action ran once, in the server. */
  mp_proxy *mx;
  assert_int_equal(mp_manager_create(m, "Maths", NULL, &mx), 0);
  mp_obj *r = NULL;
  assert_int_equal(mp_proxy_call(mx, "actions", NULL, &r), 0);
  assert_int_equal(int_of(r), 1);
  mp_obj_free(r);
  mp_proxy_free(mx);
  /* Not code: refused. */
  static char data[16];
  errno = 0;
  assert_null(mp_manager_barrier_action(m, 2, (void (*)(void))(void *)data,
                                        MP_FOREVER));
  for (int i = 0; i < NW; i++)
    mp_proxy_free(px[i]);
  mp_manager_free(m);
}

/* ---- The INFO log lines, as CPython's ----------------------------------------- */

static void test_log_lines(void **state) {
  (void)state;
  mp_test_watchdog(60);
  int fd = memfd_create("log", MFD_CLOEXEC);
  assert_true(fd >= 0);
  fflush(stderr);
  int saved = dup(2);
  dup2(fd, 2);
  mp_log_to_stderr(MP_LOG_INFO);
  mp_manager *m = mp_manager_start_new(NULL);
  int rc = m ? mp_manager_shutdown(m) : -1;
  mp_manager_free(m);
  mp_logger_set_handler(mp_get_logger(), NULL, NULL);
  mp_logger_set_level(mp_get_logger(), MP_LOG_NOTSET);
  dup2(saved, 2);
  close(saved);
  assert_int_equal(rc, 0);
  char buf[8192] = {0};
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  close(fd);
  assert_true(n > 0);
  const char *want[] = {"[INFO/SyncManager-", "] manager serving at '",
                        "[INFO/MainProcess] sending shutdown message to manager"};
  /* A thread-process logs under its program's name. */
  for (size_t i = mp_test_method_is("thread") ? 1 : 0; i < 3; i++)
    if (!strstr(buf, want[i]))
      fail_msg("%s: no \"%s\" in the log:\n%s", mp_test_method(), want[i], buf);
  /* Causal order: serving (logged before the server reports its
   * address) before the shutdown message. */
  assert_true(strstr(buf, "manager serving at") <
              strstr(buf, "sending shutdown message"));
}

int main(void) {
  mp_test_use_start_method();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_server_by_method),
      cmocka_unit_test(test_proxies_to_children),
      cmocka_unit_test(test_method_options),
      cmocka_unit_test(test_log_lines),
      cmocka_unit_test(test_kwargs),
      cmocka_unit_test(test_wait_for_and_action),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
