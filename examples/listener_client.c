/* listener_client.c: the reference's Listener and Client example
 * (17.2.2.10), the server and the client in one program: the main process
 * listens, a child process connects.
 *
 *   # server
 *   address = ('localhost', 6000)     # family is deduced to be 'AF_INET'
 *   with Listener(address, authkey=b'secret password') as listener:
 *       with listener.accept() as conn:
 *           print('connection accepted from', listener.last_accepted)
 *           conn.send([2.25, None, 'junk', float])
 *           conn.send_bytes(b'hello')
 *           conn.send_bytes(array('i', [42, 1729]))
 *
 *   # client
 *   with Client(address, authkey=b'secret password') as conn:
 *       print(conn.recv())                  # => [2.25, None, 'junk', float]
 *       print(conn.recv_bytes())            # => 'hello'
 *       arr = array('i', [0, 0, 0, 0, 0])
 *       print(conn.recv_bytes_into(arr))    # => 8
 *       print(arr)                          # => array('i', [42, 1729, 0, 0, 0])
 *
 * Differences, on purpose: the address is 127.0.0.1 with port 0 (the
 * kernel picks a free port, which the child is given), so the example never
 * collides with a port in use; and a Python type object (float) does not
 * travel as an mp_obj, so its name goes as a string. Both sides prove they
 * know the key; a wrong key fails with MP_EAUTH on both. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <mproc.h>
#include "check.h"

static const char AUTHKEY[] = "secret password";

static int client(void *arg, size_t len) {
  (void)len;
  int port = *(int *)arg;
  mp_address address = mp_address_inet("127.0.0.1", port);
  mp_conn_opts opts = {.authkey = AUTHKEY, .authkey_len = strlen(AUTHKEY)};
  mp_conn *conn = mp_client(&address, &opts);
  if (!conn) {
    fprintf(stderr, "client: %s\n", mp_strerror(mp_errno_code(errno)));
    return 1;
  }
  mp_obj *obj;
  CHECK(mp_conn_recv_obj(conn, &obj));
  mp_obj_print(obj, stdout); /* [2.25, None, 'junk', 'float'] */
  mp_obj_free(obj);

  void *msg;
  size_t n;
  CHECK(mp_conn_recv_bytes(conn, &msg, &n, MP_CONN_NOLIMIT));
  mp_obj *bytes = mp_obj_bytes(msg, n);
  mp_obj_print(bytes, stdout); /* b'hello' */
  mp_obj_free(bytes);
  mp_free(msg);

  int arr[5] = {0, 0, 0, 0, 0};
  CHECK(mp_conn_recv_bytes_into(conn, arr, sizeof arr, 0, &n));
  printf("%zu\n", n); /* 8 */
  printf("array('i', [%d, %d, %d, %d, %d])\n", arr[0], arr[1], arr[2], arr[3],
         arr[4]);
  mp_conn_free(conn);
  return 0;
}

int main(void) {
  mp_address address = mp_address_inet("127.0.0.1", 0);
  mp_conn_opts opts = {.authkey = AUTHKEY, .authkey_len = strlen(AUTHKEY)};
  mp_listener *listener = mp_listener_new(&address, &opts);
  if (!listener) {
    fprintf(stderr, "listener: %s\n", mp_strerror(mp_errno_code(errno)));
    return 1;
  }
  int port = mp_listener_address(listener)->port;
  mp_process *p = mp_process_new(client, &port, sizeof port, NULL);
  if (!p || mp_process_start(p) != 0)
    return 1;

  mp_conn *conn = mp_listener_accept(listener);
  if (!conn) {
    fprintf(stderr, "accept: %s\n", mp_strerror(mp_errno_code(errno)));
    return 1;
  }
  char from[128];
  CHECK(mp_address_format(mp_listener_last_accepted(listener), from, sizeof from));
  printf("connection accepted from %s\n", from);
  fflush(stdout); /* before the client, which prints after our sends */

  mp_obj *obj = mp_obj_build("[f N s s]", 2.25, "junk", "float");
  CHECK(mp_conn_send_obj(conn, obj));
  mp_obj_free(obj);
  CHECK(mp_conn_send_bytes(conn, "hello", 5));
  int arr[2] = {42, 1729};
  CHECK(mp_conn_send_bytes(conn, arr, sizeof arr));
  mp_conn_free(conn);
  mp_listener_free(listener);

  CHECK(mp_process_join(p, MP_FOREVER));
  int code = 1;
  CHECK(mp_process_exitcode(p, &code));
  mp_process_free(p);
  return code;
}
