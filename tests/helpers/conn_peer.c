/* conn_peer: the C side of the interop test with CPython
 * (tests/test_conn_interop.sh, tests/python/conn_interop.py). It plays the
 * same script as tests/python/conn_peer.py, so any pairing of the two
 * must succeed, or fail authentication the same way on both sides.
 *
 *   conn_peer listen unix|inet KEY    prints "unix PATH" or "inet HOST PORT",
 *                                     accepts one client, serves it
 *   conn_peer connect unix PATH KEY
 *   conn_peer connect inet HOST PORT KEY
 *
 * KEY "-" means no authentication. Exit status: 0 success, 3 the
 * handshake failed (AuthenticationError), 1 anything else. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mproc.h"

#define BIG (1u << 20)

static int fail(const char *what, int code) {
  fprintf(stderr, "conn_peer: %s: %s (%s)\n", what, mp_strerror(code),
          mp_err_name(code));
  return code == MP_EAUTH ? 3 : 1;
}

static unsigned char pattern(size_t i) { return (unsigned char)(i * 7 % 251); }

static int expect(mp_conn *c, const void *want, size_t len) {
  void *m;
  size_t n;
  int rc = mp_conn_recv_bytes(c, &m, &n, MP_CONN_NOLIMIT);
  if (rc)
    return fail("recv_bytes", rc);
  bool ok = n == len && memcmp(m, want, len) == 0;
  mp_free(m);
  if (!ok) {
    fprintf(stderr, "conn_peer: unexpected message of %zu bytes\n", n);
    return 1;
  }
  return 0;
}

/* The script: the server greets, the client answers; an empty message each
 * way; the server sends 1 MiB, the client sends it back; the server hangs
 * up and the client sees end of file. */
static int serve(mp_conn *c) {
  static unsigned char big[BIG];
  for (size_t i = 0; i < BIG; i++)
    big[i] = pattern(i);
  int rc;
  if ((rc = mp_conn_send_bytes(c, "hello from server", 17)))
    return fail("send", rc);
  if ((rc = expect(c, "hello from client", 17)))
    return rc;
  if ((rc = mp_conn_send_bytes(c, "", 0)))
    return fail("send", rc);
  if ((rc = expect(c, "", 0)))
    return rc;
  if ((rc = mp_conn_send_bytes(c, big, BIG)))
    return fail("send", rc);
  return expect(c, big, BIG);
}

static int client(mp_conn *c) {
  int rc;
  if ((rc = expect(c, "hello from server", 17)))
    return rc;
  if ((rc = mp_conn_send_bytes(c, "hello from client", 17)))
    return fail("send", rc);
  if ((rc = expect(c, "", 0)))
    return rc;
  if ((rc = mp_conn_send_bytes(c, "", 0)))
    return fail("send", rc);
  /* The big one into a buffer too short first: kept, then taken whole. */
  char small[16];
  size_t n;
  rc = mp_conn_recv_bytes_into(c, small, sizeof small, 0, &n);
  if (rc != MP_ETOOSHORT || n != BIG)
    return fail("recv_bytes_into (short)", rc);
  unsigned char *big = malloc(BIG);
  rc = mp_conn_recv_bytes_into(c, big, BIG, 0, &n);
  if (rc || n != BIG)
    return fail("recv_bytes_into", rc);
  for (size_t i = 0; i < BIG; i++) {
    if (big[i] != pattern(i))
      return fail("payload", MP_EPROTO);
  }
  rc = mp_conn_send_bytes(c, big, BIG);
  free(big);
  if (rc)
    return fail("send", rc);
  void *m;
  rc = mp_conn_recv_bytes(c, &m, &n, MP_CONN_NOLIMIT);
  return rc == MP_EEOF ? 0 : fail("expected EOF", rc);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: see the comment at the top of conn_peer.c\n");
    return 2;
  }
  const char *key = argv[argc - 1];
  mp_conn_opts o = {0};
  if (strcmp(key, "-") != 0) {
    o.authkey = key;
    o.authkey_len = strlen(key);
  }
  bool inet = strcmp(argv[2], "inet") == 0;
  if (strcmp(argv[1], "listen") == 0) {
    mp_address a = mp_address_inet("127.0.0.1", 0);
    o.family = inet ? MP_AF_INET : MP_AF_UNIX;
    mp_listener *l = mp_listener_new(inet ? &a : NULL, &o);
    if (!l)
      return fail("listener", mp_errno_code(errno));
    const mp_address *la = mp_listener_address(l);
    if (inet)
      printf("inet %s %d\n", la->host, la->port);
    else
      printf("unix %s\n", la->path);
    fflush(stdout);
    mp_conn *c = mp_listener_accept(l);
    int rc = c ? serve(c) : fail("accept", mp_errno_code(errno));
    mp_conn_free(c);
    mp_listener_free(l);
    return rc;
  }
  mp_address a = inet ? mp_address_inet(argv[3], atoi(argv[4]))
                      : mp_address_unix(argv[3]);
  mp_conn *c = mp_client(&a, &o);
  if (!c)
    return fail("client", mp_errno_code(errno));
  int rc = client(c);
  mp_conn_free(c);
  return rc;
}
