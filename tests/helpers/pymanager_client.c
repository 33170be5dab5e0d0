/* pymanager_client: the C side of tests/python/pymanager_server.py. It
 * connects to the CPython SyncManager the script started (mproc/pymanager.h)
 * and works its objects: a dict, list, Namespace, Queue, Value and Lock,
 * Python's exceptions as MP_EREMOTE with Python's text, a method that
 * returns a proxy (#PROXY), and a wrong key. Into the server's "shared"
 * dict it writes what the script then checks from Python.
 *
 *   pymanager_client unix PATH KEY
 *   pymanager_client inet HOST PORT KEY
 *   pymanager_client hostile PATH KEY   the script's fake server answers
 *       each connection with a bad reply: connect must fail with the
 *       codes listed in hostile_checks, never crash or hang
 *   pymanager_client killed PATH KEY    creates a dict, prints "ready",
 *       waits for a line on stdin (the script shuts the server down
 *       meanwhile), then a call must fail and the proxy free quietly
 * Exit status 0 when every check passed; each failure is printed. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mproc.h"

static int failures;

#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "FAIL line %d: %s: ", __LINE__, #cond);                  \
      fprintf(stderr, __VA_ARGS__);                                            \
      fprintf(stderr, " [%s]\n", mp_last_error()->message);                    \
      failures++;                                                              \
    }                                                                          \
  } while (0)

/* Calls method with args built from fmt (a tuple format, "" for none) and
 * checks the result's repr is want. */
static void expect(mp_pyproxy *p, const char *method, mp_obj *args, const char *want) {
  mp_obj *out = NULL;
  int rc = mp_pyproxy_call(p, method, args, NULL, &out);
  char *r = NULL;
  if (rc == 0)
    mp_obj_repr(out, &r, NULL);
  CHECK(rc == 0 && r && strcmp(r, want) == 0, "%s(%s): rc %s, got %s, want %s",
        mp_pyproxy_typeid(p), method, mp_err_name(rc), r ? r : "-", want);
  mp_free(r);
  mp_obj_unref(out);
  mp_obj_unref(args);
}

/* Checks the call fails with MP_EREMOTE and Python's text contains want. */
static void expect_remote(mp_pyproxy *p, const char *method, mp_obj *args, const char *want) {
  mp_obj *out = NULL;
  int rc = mp_pyproxy_call(p, method, args, NULL, &out);
  CHECK(rc == MP_EREMOTE && strstr(mp_last_error()->message, want),
        "%s(%s): rc %s, want MP_EREMOTE with %s", mp_pyproxy_typeid(p), method,
        mp_err_name(rc), want);
  mp_obj_unref(out);
  mp_obj_unref(args);
}

static mp_pyproxy *create(mp_pymanager *m, const char *typeid, mp_obj *args, mp_obj *kwds) {
  mp_pyproxy *p = NULL;
  int rc = mp_pymanager_create(m, typeid, args, kwds, &p);
  CHECK(rc == 0 && p, "create %s: %s", typeid, mp_err_name(rc));
  mp_obj_unref(args);
  mp_obj_unref(kwds);
  if (!p) {
    fprintf(stderr, "pymanager_client: cannot go on\n");
    exit(1);
  }
  return p;
}

static void dict_checks(mp_pymanager *m) {
  mp_pyproxy *d = create(m, "dict", NULL, NULL);
  expect(d, "__setitem__", mp_obj_build("(s i)", "a", 1), "None");
  expect(d, "__getitem__", mp_obj_build("(s)", "a"), "1");
  expect(d, "get", mp_obj_build("(s s)", "zz", "dflt"), "'dflt'");
  expect(d, "__len__", NULL, "1");
  expect(d, "#GETVALUE", NULL, "{'a': 1}");
  /* KeyError('x'): MP_EREMOTE, Python's text, the exception in *out. */
  mp_obj *args = mp_obj_build("(s)", "x"), *e = NULL;
  int rc = mp_pyproxy_call(d, "__getitem__", args, NULL, &e);
  const char *module = NULL, *name = NULL;
  CHECK(rc == MP_EREMOTE && strcmp(mp_last_error()->message, "KeyError: 'x'") == 0,
        "d['x']: %s", mp_err_name(rc));
  CHECK(mp_obj_pyobj_parts(e, NULL, &module, &name, NULL, NULL) == 0 &&
            strcmp(module, "builtins") == 0 && strcmp(name, "KeyError") == 0,
        "d['x'] gave no KeyError recipe");
  mp_obj_unref(e);
  mp_obj_unref(args);
  /* Not exposed: the server's traceback (its last line: the KeyError of
   * the fallback lookup that follows the AttributeError). */
  expect_remote(d, "__class__", NULL, "KeyError: '__class__'");
  /* The connection goes on after errors. */
  expect(d, "pop", mp_obj_build("(s)", "a"), "1");
  mp_pyproxy_free(d);
}

static void list_checks(mp_pymanager *m) {
  mp_pyproxy *l = create(m, "list", mp_obj_build("([i i])", 1, 2), NULL);
  expect(l, "append", mp_obj_build("(s)", "three"), "None");
  expect(l, "__len__", NULL, "3");
  expect(l, "__getitem__", mp_obj_build("(i)", -1), "'three'");
  expect(l, "pop", mp_obj_build("(i)", 0), "1");
  expect(l, "#GETVALUE", NULL, "[2, 'three']");
  expect_remote(l, "__getitem__", mp_obj_build("(i)", 9), "IndexError: list index out of range");
  mp_pyproxy_free(l);
}

static void namespace_checks(mp_pymanager *m) {
  mp_pyproxy *n = create(m, "Namespace", NULL, mp_obj_build("{s: i}", "x", 1));
  expect(n, "__getattribute__", mp_obj_build("(s)", "x"), "1");
  expect(n, "__setattr__", mp_obj_build("(s s)", "y", "hi"), "None");
  expect(n, "__getattribute__", mp_obj_build("(s)", "y"), "'hi'");
  expect_remote(n, "__getattribute__", mp_obj_build("(s)", "nope"), "AttributeError");
  mp_pyproxy_free(n);
}

static void queue_checks(mp_pymanager *m) {
  mp_pyproxy *q = create(m, "Queue", NULL, NULL);
  expect(q, "put", mp_obj_build("(i)", 5), "None");
  expect(q, "put", mp_obj_build("([s])", "s"), "None");
  expect(q, "qsize", NULL, "2");
  expect(q, "get", NULL, "5");
  expect(q, "get_nowait", NULL, "['s']");
  expect_remote(q, "get_nowait", NULL, "Empty");
  mp_pyproxy_free(q);
}

static void value_lock_checks(mp_pymanager *m) {
  mp_pyproxy *v = create(m, "Value", mp_obj_build("(s i)", "i", 5), NULL);
  expect(v, "get", NULL, "5");
  expect(v, "set", mp_obj_build("(i)", 7), "None");
  expect(v, "get", NULL, "7");
  mp_pyproxy_free(v);
  mp_pyproxy *k = create(m, "Lock", NULL, NULL);
  expect(k, "acquire", NULL, "True");
  expect(k, "acquire", mp_obj_build("(b)", 0), "False");
  expect(k, "release", NULL, "None");
  expect_remote(k, "release", NULL, "RuntimeError: release unlocked lock");
  mp_pyproxy_free(k);
}

/* A method of the script's "Maker" that returns a list proxy (#PROXY). */
static void proxy_checks(mp_pymanager *m) {
  mp_pyproxy *mk = create(m, "Maker", NULL, NULL), *l = NULL;
  mp_obj *args;
  int rc = mp_pyproxy_call_proxy(mk, "make_list", args = mp_obj_build("(i)", 3), NULL, &l);
  mp_obj_unref(args);
  CHECK(rc == 0 && l && strcmp(mp_pyproxy_typeid(l), "list") == 0, "make_list: %s",
        mp_err_name(rc));
  if (l) {
    expect(l, "append", mp_obj_build("(i)", 4), "None");
    expect(l, "#GETVALUE", NULL, "[0, 1, 2, 4]");
  }
  mp_pyproxy_free(l);
  mp_obj *out = NULL;
  rc = mp_pyproxy_call(mk, "make_list", args = mp_obj_build("(i)", 1), NULL, &out);
  mp_obj_unref(args);
  CHECK(rc == MP_ETYPE && !out, "plain call of a proxy method: %s", mp_err_name(rc));
  mp_pyproxy_free(mk);
}

/* Threads share one handle and one proxy: their calls take turns. */
enum { THREADS = 4, PER_THREAD = 50 };
static void *setter(void *arg) {
  mp_pyproxy *d = arg;
  static atomic_int next;
  for (int i = 0; i < PER_THREAD; i++) {
    mp_obj *args = mp_obj_build("(i i)", atomic_fetch_add(&next, 1), i), *out = NULL;
    int rc = mp_pyproxy_call(d, "__setitem__", args, NULL, &out);
    CHECK(rc == 0, "__setitem__ from a thread: %s", mp_err_name(rc));
    mp_obj_unref(out);
    mp_obj_unref(args);
  }
  return NULL;
}

static void thread_checks(mp_pymanager *m) {
  mp_pyproxy *d = create(m, "dict", NULL, NULL);
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++)
    pthread_create(&t[i], NULL, setter, d);
  for (int i = 0; i < THREADS; i++)
    pthread_join(t[i], NULL);
  char want[16];
  snprintf(want, sizeof want, "%d", THREADS * PER_THREAD);
  expect(d, "__len__", NULL, want);
  mp_pyproxy_free(d);
}

/* The fake server's answers, one per connection, in this order. The last,
 * a class instance as dummy's result, is kept as an inert recipe (nothing
 * is run), so that connect succeeds. */
static int hostile_checks(const mp_address *a, const char *key) {
  static const int want[] = {MP_EPROTO, MP_EPROTO, MP_EDECODE, MP_EEOF, MP_OK};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    mp_pymanager *m = mp_pymanager_connect(a, key, strlen(key));
    int rc = m ? 0 : mp_errno_code(errno);
    CHECK(rc == want[i], "hostile reply %zu: %s, want %s", i, mp_err_name(rc),
          mp_err_name(want[i]));
    mp_pymanager_free(m);
  }
  return failures ? 1 : 0;
}

static int killed_checks(const mp_address *a, const char *key) {
  mp_pymanager *m = mp_pymanager_connect(a, key, strlen(key));
  if (!m)
    return 1;
  mp_pyproxy *d = create(m, "dict", NULL, NULL);
  expect(d, "__len__", NULL, "0");
  puts("ready");
  fflush(stdout);
  char line[16];
  if (!fgets(line, sizeof line, stdin))
    return 1;
  mp_obj *out = NULL;
  int rc = mp_pyproxy_call(d, "__len__", NULL, NULL, &out);
  CHECK(rc < 0 && !out, "a call after the server is gone: %s", mp_err_name(rc));
  rc = mp_pyproxy_call(d, "__len__", NULL, NULL, &out); /* reconnects, fails */
  CHECK(rc < 0 && !out, "a second call after the server is gone: %s", mp_err_name(rc));
  mp_pyproxy_free(d);
  mp_pymanager_free(m);
  return failures ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: see the comment at the top of pymanager_client.c\n");
    return 2;
  }
  alarm(60);
  const char *key = argv[argc - 1];
  mp_address a = strcmp(argv[1], "inet") == 0 ? mp_address_inet(argv[2], atoi(argv[3]))
                                              : mp_address_unix(argv[2]);
  if (strcmp(argv[1], "hostile") == 0)
    return hostile_checks(&a, key);
  if (strcmp(argv[1], "killed") == 0)
    return killed_checks(&a, key);
  mp_pymanager *bad = mp_pymanager_connect(&a, "wrong", 5);
  CHECK(!bad && mp_errno_code(errno) == MP_EAUTH, "a wrong key: %s",
        mp_err_name(mp_errno_code(errno)));
  mp_pymanager_free(bad);
  mp_pymanager *m = mp_pymanager_connect(&a, key, strlen(key));
  if (!m) {
    fprintf(stderr, "pymanager_client: connect: %s\n", mp_strerror(errno));
    return 1;
  }
  mp_pyproxy *p = NULL;
  int rc = mp_pymanager_create(m, "nosuch", NULL, NULL, &p);
  CHECK(rc == MP_EREMOTE && !p && strstr(mp_last_error()->message, "nosuch"),
        "an unknown typeid: %s", mp_err_name(rc));
  dict_checks(m);
  list_checks(m);
  namespace_checks(m);
  queue_checks(m);
  value_lock_checks(m);
  proxy_checks(m);
  thread_checks(m);
  mp_pyproxy *s = create(m, "shared", NULL, NULL);
  mp_pymanager_free(m); /* the proxy keeps the handle's connection alive */
  expect(s, "__setitem__", mp_obj_build("(s [i s])", "from_c", 1, "two"), "None");
  mp_pyproxy_free(s);
  if (failures)
    return 1;
  puts("pymanager_client: ok");
  return 0;
}
