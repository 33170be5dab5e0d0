/* listener.c: addresses, Listener and Client (Python's
 * multiprocessing.connection.Listener and Client over sockets): AF_UNIX
 * paths (a private temporary one when none is given, Linux abstract names
 * too) and AF_INET host and port, SO_REUSEADDR as CPython sets it, and the
 * handshake in CPython's order: the listener delivers the first challenge,
 * the client the second (a listener with a key accepts in accept.c). */
#include <arpa/inet.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "conn_internal.h"

/* An address whose text did not fit its field: every call refuses it. */
#define AF_INVALID (-1)

struct mp_listener {
  int fd;
  mp_address address;
  mp_address last;
  bool has_last;
  bool auth;
  unsigned char *key;   /* owned copy, or NULL: this process's authkey */
  size_t keylen;
  uint8_t codec;        /* of the accepted connections (mp_conn_codec) */
  pid_t owner;          /* only the creating process removes the path */
  bool unlink_path;
  char tmpdir[MP_ADDRESS_PATH_MAX]; /* the private directory of a picked path */
  mp__handshakes *hs;   /* with a key: the peers in their handshake */
  double hs_timeout;
};

/* ---- Addresses ------------------------------------------------------------- */

static bool copy_str(char *dst, size_t cap, const char *src) {
  size_t n = src ? strlen(src) : 0;
  if (n >= cap)
    return false;
  memcpy(dst, src ? src : "", n);
  dst[n] = '\0';
  return true;
}

mp_address mp_address_inet(const char *host, int port) {
  mp_address a = {.family = MP_AF_INET, .port = port};
  if (!copy_str(a.host, sizeof a.host, host))
    a.family = AF_INVALID;
  return a;
}

mp_address mp_address_unix(const char *path) {
  mp_address a = {.family = MP_AF_UNIX};
  if (!copy_str(a.path, sizeof a.path, path))
    a.family = AF_INVALID;
  return a;
}

mp_address mp_address_abstract(const char *name) {
  mp_address a = {.family = MP_AF_UNIX};
  if (!copy_str(a.path + 1, sizeof a.path - 1, name))
    a.family = AF_INVALID;
  return a;
}

/* Appends s to buf as Python's repr of a str does (quotes, \\, \xNN). */
static size_t repr_str(char *buf, size_t n, size_t pos, const char *s, size_t len) {
#define PUT(ch)                                                                \
  do {                                                                         \
    if (pos + 1 < n)                                                           \
      buf[pos] = (ch);                                                         \
    pos++;                                                                     \
  } while (0)
  static const char hex[] = "0123456789abcdef";
  PUT('\'');
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch == '\\' || ch == '\'') {
      PUT('\\');
      PUT((char)ch);
    } else if (ch < 0x20 || ch == 0x7f) {
      PUT('\\');
      PUT('x');
      PUT(hex[ch >> 4]);
      PUT(hex[ch & 15]);
    } else {
      PUT((char)ch);
    }
  }
  PUT('\'');
#undef PUT
  return pos;
}

int mp_address_format(const mp_address *a, char *buf, size_t n) {
  size_t pos = 0;
  if (!a || (a->family != MP_AF_INET && a->family != MP_AF_UNIX)) {
    pos = 4;
    if (n)
      snprintf(buf, n, "None");
  } else if (a->family == MP_AF_INET) {
    pos = repr_str(buf, n, 1, a->host, strlen(a->host));
    int m = snprintf(pos < n ? buf + pos : NULL, pos < n ? n - pos : 0, ", %d)",
                     a->port);
    if (n)
      buf[0] = '(';
    pos += (size_t)m;
  } else if (a->path[0] == '\0' && a->path[1] != '\0') {
    /* Abstract: Python shows the leading NUL as \x00. */
    char tmp[MP_ADDRESS_PATH_MAX];
    tmp[0] = '\0';
    size_t len = strnlen(a->path + 1, sizeof a->path - 1);
    memcpy(tmp + 1, a->path + 1, len);
    pos = repr_str(buf, n, 0, tmp, len + 1);
  } else {
    pos = repr_str(buf, n, 0, a->path, strnlen(a->path, sizeof a->path));
  }
  if (n)
    buf[pos < n ? pos : n - 1] = '\0';
  return (int)pos;
}

/* Fills ss from a; *len gets the sockaddr's length. Returns 0 or -errno
 * (ENOENT for a host name that does not resolve). */
static int to_sockaddr(const mp_address *a, struct sockaddr_storage *ss,
                       socklen_t *len) {
  memset(ss, 0, sizeof *ss);
  if (a->family == MP_AF_UNIX) {
    struct sockaddr_un *un = (struct sockaddr_un *)ss;
    un->sun_family = AF_UNIX;
    size_t n;
    if (a->path[0] == '\0') {
      n = 1 + strnlen(a->path + 1, sizeof a->path - 1);
      if (n == 1)
        return -EINVAL;
    } else {
      n = strnlen(a->path, sizeof a->path);
    }
    if (n >= sizeof un->sun_path)
      return -ENAMETOOLONG;
    memcpy(un->sun_path, a->path, n);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
                       (a->path[0] ? 1 : 0));
    return 0;
  }
  if (a->family != MP_AF_INET || a->port < 0 || a->port > 65535)
    return -EINVAL;
  struct sockaddr_in *in = (struct sockaddr_in *)ss;
  in->sin_family = AF_INET;
  in->sin_port = htons((uint16_t)a->port);
  *len = sizeof *in;
  if (a->host[0] == '\0') {
    in->sin_addr.s_addr = htonl(INADDR_ANY);
    return 0;
  }
  if (inet_pton(AF_INET, a->host, &in->sin_addr) == 1)
    return 0;
  struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
  struct addrinfo *res = NULL;
  int r = getaddrinfo(a->host, NULL, &hints, &res);
  if (r != 0 || !res)
    return r == EAI_SYSTEM ? -errno : -ENOENT;
  in->sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
  freeaddrinfo(res);
  return 0;
}

static void from_sockaddr(const struct sockaddr_storage *ss, socklen_t len,
                          mp_address *a) {
  memset(a, 0, sizeof *a);
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
    a->family = MP_AF_INET;
    inet_ntop(AF_INET, &in->sin_addr, a->host, sizeof a->host);
    a->port = ntohs(in->sin_port);
    return;
  }
  a->family = MP_AF_UNIX;
  const struct sockaddr_un *un = (const struct sockaddr_un *)ss;
  size_t off = offsetof(struct sockaddr_un, sun_path);
  if (len <= off)
    return; /* an unnamed socket: Python's '' */
  size_t n = len - off;
  if (n > sizeof a->path - 1)
    n = sizeof a->path - 1;
  memcpy(a->path, un->sun_path, n);
  a->path[n] = '\0';
}

/* ---- Listener ---------------------------------------------------------------- */

static int pick_unix_path(mp_listener *l) {
  const char *tmp = getenv("TMPDIR");
  if (!tmp || !*tmp)
    tmp = "/tmp";
  int n = snprintf(l->tmpdir, sizeof l->tmpdir, "%s/mproc-XXXXXX", tmp);
  if (n < 0 || (size_t)n >= sizeof l->tmpdir)
    return -ENAMETOOLONG;
  if (!mkdtemp(l->tmpdir))
    return -errno;
  n = snprintf(l->address.path, sizeof l->address.path, "%s/listener",
               l->tmpdir);
  if (n < 0 || (size_t)n >= sizeof l->address.path) {
    rmdir(l->tmpdir);
    l->tmpdir[0] = '\0';
    return -ENAMETOOLONG;
  }
  return 0;
}

static int listener_open(mp_listener *l, const mp_address *address,
                         const mp_conn_opts *o) {
  int family = o->family;
  if (address) {
    if (address->family != MP_AF_UNIX && address->family != MP_AF_INET)
      return -EINVAL;
    if (family && family != address->family)
      return -EINVAL;
    l->address = *address;
  } else {
    if (!family)
      family = MP_AF_UNIX; /* Python's default_family on Linux */
    if (family == MP_AF_UNIX) {
      l->address.family = MP_AF_UNIX;
      int rc = pick_unix_path(l);
      if (rc)
        return rc;
    } else if (family == MP_AF_INET) {
      l->address = mp_address_inet("127.0.0.1", 0);
    } else {
      return -EINVAL;
    }
  }
  struct sockaddr_storage ss;
  socklen_t len;
  int rc = to_sockaddr(&l->address, &ss, &len);
  if (rc)
    return rc;
  l->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (l->fd < 0)
    return -errno;
  int one = 1;
  if (setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      bind(l->fd, (struct sockaddr *)&ss, len) < 0)
    return -errno;
  bool abstract = l->address.family == MP_AF_UNIX && l->address.path[0] == '\0';
  l->unlink_path = l->address.family == MP_AF_UNIX && !abstract;
  if (listen(l->fd, o->backlog > 0 ? o->backlog : 1) < 0)
    return -errno;
  len = sizeof ss;
  if (getsockname(l->fd, (struct sockaddr *)&ss, &len) < 0)
    return -errno;
  if (l->address.family == MP_AF_INET)
    from_sockaddr(&ss, len, &l->address); /* the port the kernel picked */
  return 0;
}

mp_listener *mp_listener_new(const mp_address *address, const mp_conn_opts *opts) {
  static const mp_conn_opts defaults;
  const mp_conn_opts *o = opts ? opts : &defaults;
  if ((unsigned)o->codec > MP_CONN_CODEC_PICKLE) {
    errno = EINVAL;
    return NULL;
  }
  mp_listener *l = mp__calloc(1, sizeof *l);
  if (!l) {
    errno = ENOMEM;
    return NULL;
  }
  l->fd = -1;
  l->owner = getpid();
  l->auth = o->authkey || o->authenticate;
  l->codec = o->codec ? (uint8_t)o->codec : MP_CONN_CODEC_PICKLE;
  if (o->authkey) {
    l->key = mp__memdup(o->authkey, o->authkey_len ? o->authkey_len : 1);
    l->keylen = o->authkey_len;
    if (!l->key) {
      mp__free(l);
      errno = ENOMEM;
      return NULL;
    }
  }
  double hst = o->handshake_timeout;
  int rc = isnan(hst) || hst < 0 ? -EINVAL : 0;
  l->hs_timeout = hst == 0 ? MP_HANDSHAKE_TIMEOUT : hst;
  if (!rc && l->auth && !(l->hs = mp__handshakes_new()))
    rc = -ENOMEM;
  if (!rc)
    rc = listener_open(l, address, o);
  if (rc) {
    mp_listener_free(l);
    errno = -rc;
    return NULL;
  }
  return l;
}

int mp_listener_close(mp_listener *l) {
  if (!l)
    return -EINVAL;
  if (l->fd < 0 && !l->unlink_path && !l->tmpdir[0])
    return 0;
  int rc = mp__close(l->fd);
  l->fd = -1;
  mp__handshakes_clear(l->hs); /* the peers still in their handshake */
  if (getpid() == l->owner) {
    if (l->unlink_path)
      unlink(l->address.path);
    if (l->tmpdir[0])
      rmdir(l->tmpdir);
  }
  l->unlink_path = false;
  l->tmpdir[0] = '\0';
  return rc;
}

void mp_listener_free(mp_listener *l) {
  if (!l)
    return;
  mp_listener_close(l);
  mp__handshakes_free(l->hs);
  if (l->key)
    OPENSSL_cleanse(l->key, l->keylen);
  mp__free(l->key);
  mp__free(l);
}

const mp_address *mp_listener_address(const mp_listener *l) {
  return l ? &l->address : NULL;
}

const mp_address *mp_listener_last_accepted(const mp_listener *l) {
  return l && l->has_last ? &l->last : NULL;
}

int mp_listener_fileno(const mp_listener *l) {
  if (!l)
    return -EINVAL;
  return l->fd < 0 ? MP_ECLOSED : l->fd;
}

mp_conn *mp_listener_accept(mp_listener *l) {
  if (!l) {
    errno = EINVAL;
    return NULL;
  }
  if (l->fd < 0) {
    errno = -MP_ECLOSED;
    return NULL;
  }
  struct sockaddr_storage ss;
  socklen_t len;
  if (l->auth) {
    mp_conn *c = mp__accept_auth(l->fd, l->hs, l->key, l->keylen, l->hs_timeout, &ss, &len);
    if (c) {
      c->codec = l->codec;
      from_sockaddr(&ss, len, &l->last);
      l->has_last = true;
    }
    return c;
  }
  int fd;
  do {
    len = sizeof ss;
    fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0)
    return NULL;
  from_sockaddr(&ss, len, &l->last);
  l->has_last = true;
  mp_conn *c = mp_conn_from_fd(fd, true, true);
  if (c)
    c->codec = l->codec;
  return c;
}

/* ---- Client -------------------------------------------------------------------- */

/* connect(2) that survives EINTR: the connection goes on in the kernel, so
 * wait for it to finish and read its result instead of calling again. */
static int connect_retry(int fd, const struct sockaddr *sa, socklen_t len) {
  if (connect(fd, sa, len) == 0)
    return 0;
  if (errno != EINTR)
    return -errno;
  int r = mp__poll1(fd, POLLOUT, NULL);
  if (r < 0)
    return r;
  int err = 0;
  socklen_t elen = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
    return -errno;
  return -err;
}

mp_conn *mp_client(const mp_address *address, const mp_conn_opts *opts) {
  static const mp_conn_opts defaults;
  const mp_conn_opts *o = opts ? opts : &defaults;
  if (!address || (o->family && o->family != address->family) ||
      (unsigned)o->codec > MP_CONN_CODEC_PICKLE) {
    errno = EINVAL;
    return NULL;
  }
  struct sockaddr_storage ss;
  socklen_t len;
  int rc = to_sockaddr(address, &ss, &len);
  if (rc) {
    errno = -rc;
    return NULL;
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return NULL;
  rc = connect_retry(fd, (struct sockaddr *)&ss, len);
  if (rc) {
    mp__close(fd);
    errno = -rc;
    return NULL;
  }
  mp_conn *c = mp_conn_from_fd(fd, true, true);
  if (!c)
    return NULL;
  c->codec = o->codec ? (uint8_t)o->codec : MP_CONN_CODEC_PICKLE;
  if (o->authkey || o->authenticate) {
    rc = mp_answer_challenge(c, o->authkey, o->authkey_len);
    if (!rc)
      rc = mp_deliver_challenge(c, o->authkey, o->authkey_len);
    if (rc) {
      mp_conn_free(c);
      errno = -rc;
      return NULL;
    }
  }
  return c;
}
