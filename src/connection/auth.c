/* auth.c: CPython's connection handshake (deliver_challenge and
 * answer_challenge), wire-compatible with CPython 3.12 and with 3.11 and
 * older.
 *
 * The side that delivers sends "#CHALLENGE#" + MESSAGE, where MESSAGE is
 * "{sha256}" + 40 random bytes (3.12) or 20 bare random bytes (3.11). The
 * answering side replies with HMAC(key, MESSAGE): "{name}" + MAC in the
 * digest MESSAGE names, or a bare 16-byte HMAC-MD5 when MESSAGE is the
 * legacy 20 bytes. A 3.11 peer answers any challenge with a bare HMAC-MD5
 * of the whole MESSAGE, prefix included, which the deliverer accepts: the
 * MAC covers the prefix, so nobody can strip it to force a weaker digest
 * than the one the answerer chose. The deliverer replies "#WELCOME#" or
 * "#FAILURE#". Listener delivers first, then answers; Client the reverse. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "conn_internal.h"

static const char CHALLENGE[] = "#CHALLENGE#";
static const char WELCOME[] = "#WELCOME#";
static const char FAILURE[] = "#FAILURE#";
#define LIT_LEN(s) (sizeof(s) - 1)

/* CPython's _ALLOWED_DIGESTS. The longest name bounds the '}' search. */
static const char *const ALLOWED[] = {"md5", "sha256", "sha384", "sha3_256",
                                      "sha3_384"};
#define DIGEST_NAME_MAX 8

static const EVP_MD *digest_by_name(const char *name, size_t len) {
  static const struct {
    const char *name;
    const EVP_MD *(*md)(void);
  } table[] = {{"md5", EVP_md5},
               {"sha256", EVP_sha256},
               {"sha384", EVP_sha384},
               {"sha3_256", EVP_sha3_256},
               {"sha3_384", EVP_sha3_384}};
  for (size_t i = 0; i < MP__ARRAY_SIZE(table); i++) {
    if (strlen(table[i].name) == len && memcmp(table[i].name, name, len) == 0)
      return table[i].md();
  }
  return NULL;
}

int mp__auth_hmac(const char *digest, const void *key, size_t keylen,
                  const void *msg, size_t msglen, unsigned char *out,
                  size_t *outlen) {
  const EVP_MD *md = digest_by_name(digest, strlen(digest));
  if (!md || keylen > INT32_MAX)
    return -EINVAL;
  unsigned int n = 0;
  /* HMAC() with an empty key still needs a non-NULL pointer. */
  static const unsigned char nokey[1];
  if (!HMAC(md, keylen ? key : nokey, (int)keylen, msg, msglen, out, &n))
    return -EINVAL;
  *outlen = n;
  return 0;
}

void mp__auth_key(const void **key, size_t *keylen) {
  if (*key)
    return;
  mp__self *self = mp__self_get();
  *key = self->authkey;
  *keylen = self->authkey_len;
}

/* CPython's _get_digest_name_and_payload: a 16- or 20-byte message is the
 * legacy form (name "" → bare HMAC-MD5); otherwise "{name}payload" with an
 * allowed name. Returns false for anything else. */
static bool digest_name_of(const unsigned char *m, size_t len, char *name,
                           const unsigned char **payload, size_t *plen) {
  if (len == MP__AUTH_LEGACY_LENGTH || len == MP__AUTH_MD5_LEN) {
    name[0] = '\0';
    *payload = m;
    *plen = len;
    return true;
  }
  if (len < 2 || m[0] != '{')
    return false;
  const unsigned char *end = memchr(m + 1, '}', len - 1 < DIGEST_NAME_MAX + 1
                                                    ? len - 1
                                                    : DIGEST_NAME_MAX + 1);
  if (!end)
    return false;
  size_t nlen = (size_t)(end - (m + 1));
  for (size_t i = 0; i < MP__ARRAY_SIZE(ALLOWED); i++) {
    if (strlen(ALLOWED[i]) == nlen && memcmp(ALLOWED[i], m + 1, nlen) == 0) {
      memcpy(name, ALLOWED[i], nlen + 1);
      *payload = end + 1;
      *plen = len - (nlen + 2);
      return true;
    }
  }
  return false;
}

/* The handshake reads each message with maxlength 256, as CPython does.
 * A peer that sends something that is not a handshake message at all (too
 * long, a malformed length) failed to authenticate: MP_EAUTH. End of file
 * and system errors stay what they are. */
static int recv_auth(mp_conn *c, void **out, size_t *len) {
  int rc = mp_conn_recv_bytes(c, out, len, MP__AUTH_MAXLEN);
  if (rc == MP_ETOOBIG || rc == MP_EPROTO)
    rc = MP_EAUTH;
  return rc;
}

static bool verify(const void *key, size_t keylen, const unsigned char *msg,
                   size_t msglen, const unsigned char *resp, size_t resplen) {
  char name[DIGEST_NAME_MAX + 1];
  const unsigned char *mac;
  size_t maclen;
  if (!digest_name_of(resp, resplen, name, &mac, &maclen))
    return false;
  unsigned char expected[EVP_MAX_MD_SIZE];
  size_t elen;
  if (mp__auth_hmac(name[0] ? name : "md5", key, keylen, msg, msglen, expected,
                    &elen))
    return false;
  bool ok = elen == maclen && CRYPTO_memcmp(expected, mac, elen) == 0;
  OPENSSL_cleanse(expected, sizeof expected);
  return ok;
}

_Static_assert(MP__CHALLENGE_MAX >= LIT_LEN(CHALLENGE) + DIGEST_NAME_MAX + 2 +
                                        MP__AUTH_MESSAGE_LENGTH,
               "room for a challenge");

int mp__challenge_send(mp_conn *c, const char *digest, mp__challenge *ch) {
  /* "#CHALLENGE#" + "{name}" + 40 random bytes, or + 20 (legacy). */
  unsigned char *out = ch->msg;
  size_t pos = LIT_LEN(CHALLENGE);
  memcpy(out, CHALLENGE, pos);
  size_t nrand = MP__AUTH_LEGACY_LENGTH;
  if (digest) {
    size_t dlen = strlen(digest);
    if (dlen > DIGEST_NAME_MAX || !digest_by_name(digest, dlen))
      return -EINVAL;
    out[pos++] = '{';
    memcpy(out + pos, digest, dlen);
    pos += dlen;
    out[pos++] = '}';
    nrand = MP__AUTH_MESSAGE_LENGTH;
  }
  int rc = mp__random_bytes(out + pos, nrand);
  if (rc)
    return rc;
  pos += nrand;
  ch->len = pos;
  return mp_conn_send_bytes(c, out, pos);
}

int mp__challenge_check(mp_conn *c, const void *key, size_t keylen,
                        const mp__challenge *ch) {
  mp__auth_key(&key, &keylen);
  void *resp;
  size_t rlen;
  int rc = recv_auth(c, &resp, &rlen);
  if (rc)
    return rc;
  const unsigned char *msg = ch->msg + LIT_LEN(CHALLENGE);
  bool ok = verify(key, keylen, msg, ch->len - LIT_LEN(CHALLENGE), resp, rlen);
  mp_free(resp);
  if (!ok) {
    (void)mp_conn_send_bytes(c, FAILURE, LIT_LEN(FAILURE));
    return mp__error_record(MP_EAUTH, "digest received was wrong");
  }
  return mp_conn_send_bytes(c, WELCOME, LIT_LEN(WELCOME));
}

int mp_deliver_challenge_digest(mp_conn *c, const void *key, size_t keylen,
                                const char *digest) {
  mp__challenge ch;
  int rc = mp__challenge_send(c, digest, &ch);
  return rc ? rc : mp__challenge_check(c, key, keylen, &ch);
}

int mp_deliver_challenge(mp_conn *c, const void *key, size_t keylen) {
  return mp_deliver_challenge_digest(c, key, keylen, "sha256");
}

int mp__answer_reply(mp_conn *c, const void *key, size_t keylen) {
  mp__auth_key(&key, &keylen);
  void *in;
  size_t len;
  int rc = recv_auth(c, &in, &len);
  if (rc)
    return rc;
  /* CPython's answer_challenge refuses anything but "#CHALLENGE#" and at
   * least 20 bytes after it. */
  if (len < LIT_LEN(CHALLENGE) + MP__AUTH_LEGACY_LENGTH ||
      memcmp(in, CHALLENGE, LIT_LEN(CHALLENGE)) != 0) {
    mp_free(in);
    return mp__error_record(MP_EAUTH, "Protocol error, expected challenge");
  }
  const unsigned char *msg = (const unsigned char *)in + LIT_LEN(CHALLENGE);
  size_t mlen = len - LIT_LEN(CHALLENGE);
  char name[DIGEST_NAME_MAX + 1];
  const unsigned char *payload;
  size_t plen;
  if (!digest_name_of(msg, mlen, name, &payload, &plen)) {
    mp_free(in);
    return mp__error_record(MP_EAUTH, "unsupported digest in the challenge");
  }
  /* The reply: bare HMAC-MD5 for a legacy challenge, else "{name}" + MAC,
   * the MAC always over the whole message, prefix included. */
  unsigned char reply[DIGEST_NAME_MAX + 2 + EVP_MAX_MD_SIZE];
  size_t pos = 0;
  if (name[0]) {
    size_t nlen = strlen(name);
    reply[pos++] = '{';
    memcpy(reply + pos, name, nlen);
    pos += nlen;
    reply[pos++] = '}';
  }
  size_t maclen;
  rc = mp__auth_hmac(name[0] ? name : "md5", key, keylen, msg, mlen, reply + pos,
                     &maclen);
  mp_free(in);
  if (rc)
    return MP_EAUTH;
  return mp_conn_send_bytes(c, reply, pos + maclen);
}

int mp__answer_welcome(mp_conn *c) {
  void *in;
  size_t len;
  int rc = recv_auth(c, &in, &len);
  if (rc)
    return rc;
  bool ok = len == LIT_LEN(WELCOME) && memcmp(in, WELCOME, len) == 0;
  mp_free(in);
  return ok ? 0 : mp__error_record(MP_EAUTH, "digest sent was rejected");
}

int mp_answer_challenge(mp_conn *c, const void *key, size_t keylen) {
  int rc = mp__answer_reply(c, key, keylen);
  return rc ? rc : mp__answer_welcome(c);
}
