/* pipe_sender_receiver.c: tutorial 003's Pipe example: one process sends
 * messages into one end of a pipe, another receives them from the other
 * end until "END".
 *
 *   def sender(conn, msgs):
 *       for msg in msgs:
 *           conn.send(msg)
 *           print("Sent the message: {}".format(msg))
 *       conn.close()
 *
 *   def receiver(conn):
 *       while 1:
 *           msg = conn.recv()
 *           if msg == "END":
 *               break
 *           print("Received the message: {}".format(msg))
 *
 *   if __name__ == "__main__":
 *       msgs = ["hello", "hey", "hru?", "END"]
 *       parent_conn, child_conn = multiprocessing.Pipe()
 *       p1 = multiprocessing.Process(target=sender, args=(parent_conn,msgs))
 *       p2 = multiprocessing.Process(target=receiver, args=(child_conn,))
 *       p1.start()
 *       p2.start()
 *       p1.join()
 *       p2.join()
 *
 * The two processes' lines interleave differently on each run. */
#include <stdio.h>
#include <string.h>

#include <mproc.h>
#include "check.h"

static const char *const msgs[] = {"hello", "hey", "hru?", "END"};

static int sender(void *arg, size_t len) {
  (void)len;
  mp_conn *conn = *(mp_conn **)arg;
  for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
    mp_obj *msg = mp_obj_str(msgs[i]);
    int rc = mp_conn_send_obj(conn, msg);
    mp_obj_free(msg);
    if (rc)
      return 1;
    printf("Sent the message: %s\n", msgs[i]);
  }
  CHECK(mp_conn_close(conn));
  return 0;
}

static int receiver(void *arg, size_t len) {
  (void)len;
  mp_conn *conn = *(mp_conn **)arg;
  for (;;) {
    mp_obj *msg;
    CHECK(mp_conn_recv_obj(conn, &msg));
    const char *text;
    size_t n;
    CHECK(mp_obj_str_value(msg, &text, &n));
    bool end = strcmp(text, "END") == 0;
    if (!end)
      printf("Received the message: %s\n", text);
    mp_obj_free(msg);
    if (end)
      return 0;
  }
}

int main(void) {
  mp_conn *parent_conn, *child_conn;
  CHECK(mp_pipe(true, &parent_conn, &child_conn));
  mp_process *p1 = mp_process_new(sender, &parent_conn, sizeof parent_conn, NULL);
  mp_process *p2 = mp_process_new(receiver, &child_conn, sizeof child_conn, NULL);
  if (!p1 || !p2 || mp_process_start(p1) != 0 || mp_process_start(p2) != 0)
    return 1;
  CHECK(mp_process_join(p1, MP_FOREVER));
  CHECK(mp_process_join(p2, MP_FOREVER));
  int c1 = 1, c2 = 1;
  CHECK(mp_process_exitcode(p1, &c1));
  CHECK(mp_process_exitcode(p2, &c2));
  mp_process_free(p1);
  mp_process_free(p2);
  mp_conn_free(parent_conn);
  mp_conn_free(child_conn);
  return c1 || c2;
}
