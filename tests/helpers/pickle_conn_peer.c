/* pickle_conn_peer: the C side of tests/python/pickle_conn.py. It echoes
 * objects: every object received with mp_conn_recv_obj (a pickle, the
 * default codec of Listener/Client) goes back with mp_conn_send_obj. A
 * message it cannot represent (a class instance) is answered with the str
 * "EDECODE: <message>" and the connection goes on. Ends at end of file.
 *
 *   pickle_conn_peer listen unix|inet KEY    prints "unix PATH" or
 *                                            "inet HOST PORT", serves one
 *   pickle_conn_peer connect unix PATH KEY
 *   pickle_conn_peer connect inet HOST PORT KEY
 * Exit status: 0 after a clean end of file, 1 otherwise. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mproc.h"

static int fail(const char *what, int code) {
  fprintf(stderr, "pickle_conn_peer: %s: %s (%s) %s\n", what, mp_strerror(code),
          mp_err_name(code), mp_last_error()->message);
  return 1;
}

static int echo(mp_conn *c) {
  for (;;) {
    mp_obj *o = NULL;
    int rc = mp_conn_recv_obj(c, &o);
    if (rc == MP_EEOF)
      return 0;
    if (rc == MP_EDECODE)
      o = mp_obj_strf("EDECODE: %s", mp_last_error()->message);
    else if (rc)
      return fail("recv_obj", rc);
    rc = o ? mp_conn_send_obj(c, o) : -ENOMEM;
    mp_obj_unref(o);
    if (rc)
      return fail("send_obj", rc);
  }
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: see the comment at the top of pickle_conn_peer.c\n");
    return 2;
  }
  const char *key = argv[argc - 1];
  mp_conn_opts o = {.authkey = key, .authkey_len = strlen(key)};
  bool inet = strcmp(argv[2], "inet") == 0;
  mp_conn *c;
  mp_listener *l = NULL;
  if (strcmp(argv[1], "listen") == 0) {
    mp_address a = mp_address_inet("127.0.0.1", 0);
    o.family = inet ? MP_AF_INET : MP_AF_UNIX;
    l = mp_listener_new(inet ? &a : NULL, &o);
    if (!l)
      return fail("listener", mp_errno_code(errno));
    const mp_address *la = mp_listener_address(l);
    if (inet)
      printf("inet %s %d\n", la->host, la->port);
    else
      printf("unix %s\n", la->path);
    fflush(stdout);
    c = mp_listener_accept(l);
  } else {
    mp_address a = inet ? mp_address_inet(argv[3], atoi(argv[4])) : mp_address_unix(argv[3]);
    c = mp_client(&a, &o);
  }
  if (!c)
    return fail("connect/accept", mp_errno_code(errno));
  if (mp_conn_get_codec(c) != MP_CONN_CODEC_PICKLE)
    return fail("codec", -EINVAL);
  int rc = echo(c);
  mp_conn_free(c);
  mp_listener_free(l);
  return rc;
}
