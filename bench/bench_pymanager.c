/* bench_pymanager.c: a C client (mproc/pymanager.h) of a CPython
 * SyncManager server against a Python client of the same kind of server
 * (bench/python/bench_pymanager.py, same row):
 *   pymanager.dict_set.tcp   d[k] = v on a dict proxy over TCP 127.0.0.1
 * The server is CPython's own in both columns (started here with
 * `python3 -c`, $PYTHON if set), so the row compares the clients. Skipped
 * when python3 cannot be run. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "mproc.h"

/* Starts a SyncManager on 127.0.0.1 with a free port, prints the port and
 * serves until its stdin closes. */
static const char SERVER[] =
    "import sys\n"
    "from multiprocessing.managers import SyncManager\n"
    "m = SyncManager(address=('127.0.0.1', 0), authkey=b'bench')\n"
    "m.start()\n"
    "print(m.address[1], flush=True)\n"
    "sys.stdin.read()\n"
    "m.shutdown()\n";

typedef struct ctx {
  mp_pyproxy *d;
  int64_t i;
} ctx;

static int dict_set(void *p) {
  ctx *c = p;
  c->i++;
  mp_obj *args = mp_obj_build("(L L)", (long long)(c->i & 1023), (long long)(c->i & 1023));
  mp_obj *out = NULL;
  int rc = args ? mp_pyproxy_call(c->d, "__setitem__", args, NULL, &out) : -ENOMEM;
  mp_obj_unref(out);
  mp_obj_unref(args);
  return rc;
}

int main(void) {
  const char *py = getenv("PYTHON") ? getenv("PYTHON") : "python3";
  bench_desc("pymanager.dict_set.tcp",
             "d[k] = v on a CPython SyncManager over TCP: C client vs Python client");
  int to_server[2], from_server[2];
  if (pipe(to_server) || pipe(from_server))
    bench_fail("pipe", -errno);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(to_server[0], 0);
    dup2(from_server[1], 1);
    close(to_server[1]);
    close(from_server[0]);
    execlp(py, py, "-c", SERVER, (char *)NULL);
    _exit(127);
  }
  close(to_server[0]);
  close(from_server[1]);
  FILE *in = fdopen(from_server[0], "r");
  int port = 0;
  if (!in || fscanf(in, "%d", &port) != 1 || port <= 0) {
    bench_skip("pymanager.dict_set.tcp", "python3 cannot start a SyncManager");
    waitpid(pid, NULL, 0);
    return 0;
  }
  mp_address a = mp_address_inet("127.0.0.1", port);
  mp_pymanager *m = mp_pymanager_connect(&a, "bench", 5);
  if (!m)
    bench_fail("connect", mp_errno_code(errno));
  ctx c = {0};
  int rc = mp_pymanager_create(m, "dict", NULL, NULL, &c.d);
  if (rc)
    bench_fail("create dict", rc);
  bench_row("pymanager.dict_set.tcp", "us", "mproc", bench_ns_per_op(dict_set, &c, NULL) / 1e3);
  mp_pyproxy_free(c.d);
  mp_pymanager_free(m);
  close(to_server[1]); /* the server shuts down at end of file */
  fclose(in);
  waitpid(pid, NULL, 0);
  return 0;
}
