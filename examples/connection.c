/* connection.c: the reference's Connection example (17.2.2.4):
 *
 *   >>> from multiprocessing import Pipe
 *   >>> a, b = Pipe()
 *   >>> a.send([1, 'hello', None])
 *   >>> b.recv()
 *   [1, 'hello', None]
 *   >>> b.send_bytes(b'thank you')
 *   >>> a.recv_bytes()
 *   b'thank you'
 *   >>> import array
 *   >>> arr1 = array.array('i', range(5))
 *   >>> arr2 = array.array('i', [0] * 10)
 *   >>> a.send_bytes(arr1)
 *   >>> count = b.recv_bytes_into(arr2)
 *   >>> assert count == len(arr1) * arr1.itemsize
 *   >>> arr2
 *   array('i', [0, 1, 2, 3, 4, 0, 0, 0, 0, 0])
 *
 * The interpreter echoes each value; the C twin prints the same lines. An
 * array('i') is an int array; send_bytes takes its bytes as they are. */
#include <assert.h>
#include <stdio.h>

#include <mproc.h>
#include "check.h"

static void print_array(const int *v, size_t n) {
  printf("array('i', [");
  for (size_t i = 0; i < n; i++)
    printf("%s%d", i ? ", " : "", v[i]);
  printf("])\n");
}

int main(void) {
  mp_conn *a, *b;
  CHECK(mp_pipe(true, &a, &b));

  mp_obj *sent = mp_obj_build("[i s N]", 1, "hello");
  CHECK(mp_conn_send_obj(a, sent));
  mp_obj_free(sent);
  mp_obj *got;
  CHECK(mp_conn_recv_obj(b, &got));
  mp_obj_print(got, stdout); /* [1, 'hello', None] */
  mp_obj_free(got);

  CHECK(mp_conn_send_bytes(b, "thank you", 9));
  void *msg;
  size_t len;
  CHECK(mp_conn_recv_bytes(a, &msg, &len, MP_CONN_NOLIMIT));
  mp_obj *bytes = mp_obj_bytes(msg, len); /* printed as Python prints bytes */
  mp_obj_print(bytes, stdout);            /* b'thank you' */
  mp_obj_free(bytes);
  mp_free(msg);

  int arr1[5] = {0, 1, 2, 3, 4};
  int arr2[10] = {0};
  CHECK(mp_conn_send_bytes(a, arr1, sizeof arr1));
  size_t count;
  CHECK(mp_conn_recv_bytes_into(b, arr2, sizeof arr2, 0, &count));
  assert(count == sizeof arr1);
  print_array(arr2, 10); /* array('i', [0, 1, 2, 3, 4, 0, 0, 0, 0, 0]) */

  mp_conn_free(a);
  mp_conn_free(b);
  return 0;
}
