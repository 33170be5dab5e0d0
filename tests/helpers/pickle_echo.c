/* pickle_echo.c: the C side of tests/python/pickle_roundtrip.py. Reads
 * requests from stdin, each a 4-byte big-endian length and a pickle
 * written by CPython; decodes it with mp_obj_from_pickle and answers on
 * stdout with a 4-byte big-endian length and:
 *   int32 code (0 or the negative error), then on success the repr and the
 *   object re-encoded with protocols 2, 3, 4 and 5, each as a 4-byte length
 *   and the bytes; on failure the error record's message.
 * Python then loads each pickle and compares it with what it sent. With
 * PICKLE_ECHO_KEEP=1 in the environment it decodes with
 * MP_PICKLE_KEEP_OBJECTS (class instances kept as recipes). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mproc.h"

static void put32(FILE *f, uint32_t v) {
  unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                        (unsigned char)(v >> 8), (unsigned char)v};
  fwrite(b, 1, 4, f);
}

/* Appends a length-prefixed field to the reply buffer. */
static void field(char **buf, size_t *len, const void *p, size_t n) {
  *buf = realloc(*buf, *len + 4 + n);
  if (!*buf)
    exit(2);
  unsigned char *q = (unsigned char *)*buf + *len;
  q[0] = (unsigned char)(n >> 24), q[1] = (unsigned char)(n >> 16);
  q[2] = (unsigned char)(n >> 8), q[3] = (unsigned char)n;
  memcpy(q + 4, p, n);
  *len += 4 + n;
}

int main(void) {
  const char *keep = getenv("PICKLE_ECHO_KEEP");
  mp_pickle_load_opts opts = {.flags = keep && *keep == '1' ? MP_PICKLE_KEEP_OBJECTS : 0};
  for (;;) {
    unsigned char h[4];
    if (fread(h, 1, 4, stdin) != 4)
      return 0;
    size_t n = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
    unsigned char *in = malloc(n ? n : 1);
    if (!in || fread(in, 1, n, stdin) != n)
      return 2;
    mp_obj *o = NULL;
    int rc = mp_obj_from_pickle_opts(in, n, &opts, NULL, &o);
    free(in);
    char *reply = NULL;
    size_t rlen = 0;
    int32_t code = rc;
    field(&reply, &rlen, &code, 4);
    if (rc < 0) {
      const char *msg = mp_last_error()->message;
      field(&reply, &rlen, msg, strlen(msg));
    } else {
      char *s;
      size_t slen;
      if (mp_obj_repr(o, &s, &slen) < 0)
        return 3;
      field(&reply, &rlen, s, slen);
      mp_free(s);
      for (int p = 2; p <= 5; p++) {
        void *buf;
        size_t blen;
        if (mp_obj_to_pickle(o, p, &buf, &blen) < 0)
          return 4;
        field(&reply, &rlen, buf, blen);
        mp_free(buf);
      }
      mp_obj_unref(o);
    }
    put32(stdout, (uint32_t)rlen);
    fwrite(reply, 1, rlen, stdout);
    fflush(stdout);
    free(reply);
  }
}
