/* listener_client_python.c: the reference's Listener and Client example
 * (17.2.2.10) with one side the Python original, both ways round: first
 * this C program listens and the Python client (examples/python/
 * listener_client_client.py) connects, then the Python server
 * (examples/python/listener_client_server.py) listens and this program
 * connects. Objects cross as pickles (the default codec of Listener and
 * Client), bytes as bytes; each run prints what examples/listener_client.c
 * prints. The scripts are found beside this source (MP_SOURCE_DIR, or the
 * directory compiled in). Needs python3 on PATH. */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mproc.h>

#ifndef MP_EXAMPLES_SOURCE_DIR
#define MP_EXAMPLES_SOURCE_DIR "."
#endif

extern char **environ;

static const char AUTHKEY[] = "secret password";

/* Starts python3 on examples/python/<script> with one argument. */
static pid_t run_python(const char *script, const char *arg) {
  const char *src = getenv("MP_SOURCE_DIR");
  char path[4096];
  snprintf(path, sizeof path, "%s/examples/python/%s", src ? src : MP_EXAMPLES_SOURCE_DIR,
           script);
  char *argv[] = {"python3", path, (char *)arg, NULL};
  pid_t pid;
  if (posix_spawnp(&pid, "python3", NULL, NULL, argv, environ) != 0)
    return -1;
  return pid;
}

static int wait_python(pid_t pid) {
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return 1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

/* C server, Python client. */
static int c_server(void) {
  mp_address address = mp_address_inet("127.0.0.1", 0);
  mp_conn_opts opts = {.authkey = AUTHKEY, .authkey_len = strlen(AUTHKEY)};
  mp_listener *listener = mp_listener_new(&address, &opts);
  if (!listener)
    return 1;
  char port[16];
  snprintf(port, sizeof port, "%d", mp_listener_address(listener)->port);
  pid_t py = run_python("listener_client_client.py", port);
  mp_conn *conn = py > 0 ? mp_listener_accept(listener) : NULL;
  if (!conn)
    return 1;
  char from[128];
  mp_address_format(mp_listener_last_accepted(listener), from, sizeof from);
  printf("connection accepted from %s\n", from);
  fflush(stdout); /* before the client, which prints after our sends */
  mp_obj *obj = mp_obj_build("[f N s s]", 2.25, "junk", "float");
  mp_conn_send_obj(conn, obj);
  mp_obj_free(obj);
  mp_conn_send_bytes(conn, "hello", 5);
  int arr[2] = {42, 1729};
  mp_conn_send_bytes(conn, arr, sizeof arr);
  mp_conn_free(conn);
  mp_listener_free(listener);
  return wait_python(py);
}

/* Python server, C client. */
static int c_client(void) {
  int fds[2];
  if (pipe(fds) < 0)
    return 1;
  char fd[16];
  snprintf(fd, sizeof fd, "%d", fds[1]);
  pid_t py = run_python("listener_client_server.py", fd);
  close(fds[1]);
  char line[32] = {0};
  FILE *f = fdopen(fds[0], "r");
  if (py < 0 || !f || !fgets(line, sizeof line, f))
    return 1;
  fclose(f);
  mp_address address = mp_address_inet("127.0.0.1", atoi(line));
  mp_conn_opts opts = {.authkey = AUTHKEY, .authkey_len = strlen(AUTHKEY)};
  mp_conn *conn = mp_client(&address, &opts);
  if (!conn)
    return 1;
  mp_obj *obj;
  if (mp_conn_recv_obj(conn, &obj) != 0)
    return 1;
  mp_obj_print(obj, stdout); /* [2.25, None, 'junk', 'float'] */
  mp_obj_free(obj);
  void *msg;
  size_t n;
  if (mp_conn_recv_bytes(conn, &msg, &n, MP_CONN_NOLIMIT) != 0)
    return 1;
  mp_obj *bytes = mp_obj_bytes(msg, n);
  mp_obj_print(bytes, stdout); /* b'hello' */
  mp_obj_free(bytes);
  mp_free(msg);
  int arr[5] = {0, 0, 0, 0, 0};
  if (mp_conn_recv_bytes_into(conn, arr, sizeof arr, 0, &n) != 0)
    return 1;
  printf("%zu\n", n); /* 8 */
  printf("array('i', [%d, %d, %d, %d, %d])\n", arr[0], arr[1], arr[2], arr[3], arr[4]);
  mp_conn_free(conn);
  return wait_python(py);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  int rc = c_server();
  return rc ? rc : c_client();
}
