/* conn_internal.h: the connection object's insides, shared by the files of
 * src/connection/ (framing in conn.c, wait.c, auth.c, listener.c) and by
 * the tests and fuzz targets, which drive the frame reader and the
 * handshake over in-memory streams. */
#ifndef MPROC_CONN_INTERNAL_H
#define MPROC_CONN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h> /* socklen_t */
#include <sys/types.h> /* ssize_t, which runtime_internal.h uses */

#include "mproc/connection.h"
#include "runtime/runtime_internal.h"

/* The longest frame header: -1 and an 8-byte length. */
#define MP__CONN_HDR_MAX 12

/* Payloads up to this size are copied behind the header and sent with one
 * send(2)/write(2); larger ones go as a header + payload vector (CPython
 * concatenates up to 16 KiB; a vector needs no copy at all). */
#define MP__CONN_SMALL 1024

/* How far recv_bytes' buffer grows ahead of the bytes that arrived: a
 * length announced by the peer is never allocated before the bytes come. */
#define MP__CONN_GROW_MIN (64 * 1024)

/* Largest accepted length: a 64-bit length with the top bit set is not a
 * length, it is garbage. */
#define MP__CONN_LEN_MAX ((uint64_t)INT64_MAX)

/* Challenge and reply limits (CPython: MESSAGE_LENGTH = 40, replies are
 * read with maxlength 256). */
#define MP__AUTH_MESSAGE_LENGTH 40
#define MP__AUTH_LEGACY_LENGTH 20
#define MP__AUTH_MD5_LEN 16
#define MP__AUTH_MAXLEN 256

/* Read-ahead buffer of a connection that reads ahead (see struct mp_conn):
 * one read(2) fetches a small message's header and payload together. */
#define MP__CONN_RBUF (8 * 1024)

struct mp_conn {
  int fd;            /* -1 once closed */
  bool readable;     /* Python's _readable: false on a send-only end or
                        after a receive failed mid-stream */
  bool writable;
  bool read_failed;  /* readable was cleared by a failure, not by the
                        kind of end: receives report MP_ECLOSED */
  bool is_socket;    /* sendmsg(MSG_NOSIGNAL) works; else the SIGPIPE dance */
  bool is_unix;      /* an AF_UNIX socket: descriptors may come with the
                        bytes, so every read is a recvmsg (see fds below) */
  /* Read-ahead: a read for a header asks for up to MP__CONN_RBUF bytes, so
   * a small message costs one system call instead of two. Bytes past the
   * message stay in rbuf[rpos..rend) for the next receive. On by default
   * for duplex sockets, off for pipes (whose reading end CPython programs
   * share between processes under a lock). */
  bool readahead;
  uint8_t codec; /* mp_conn_codec of send_obj/recv_obj; 0 is MessagePack */
  unsigned char *rbuf; /* allocated on first use */
  size_t rpos, rend;
  /* A message kept after MP_ETOOSHORT (Python's e.args[0]); the next
   * receive returns it. held is NULL when there is none. */
  char *held;
  size_t held_len;
  /* Descriptors that arrived (SCM_RIGHTS) with the bytes of some read,
   * oldest first, fds[fd_head..fd_n), each tagged with the stream range
   * [start, end) of the read that brought it. rx_total counts every byte
   * the kernel gave, so the stream position of the next byte to hand out is
   * rx_total - (rend - rpos). mp_conn_recv_fd claims the descriptors whose
   * read covered its marker byte; older unclaimed ones are closed then,
   * and every unclaimed one at close. See fds.c. */
  uint64_t rx_total;
  struct mp__conn_fd *fds;
  size_t fd_head, fd_n, fd_cap;
};

/* One received descriptor waiting to be claimed. */
struct mp__conn_fd {
  int fd;
  uint64_t start, end;
};

/* At most this many descriptors are accepted with one read; a peer that
 * sends more (MSG_CTRUNC) breaks the stream: MP_EPROTO. mp_handle needs
 * MP_HANDLE_MAX_PARTS; CPython's send_handle sends one. */
#define MP__CONN_MAXFDS 16

/* Queues the descriptors of one read that covered the stream range
 * [start, end). Returns 0, or -ENOMEM (they are closed then). */
int mp__conn_fds_push(mp_conn *c, const int *fds, size_t n, uint64_t start,
                      uint64_t end);

/* Closes every queued descriptor (at close, or when framing is lost). */
void mp__conn_fds_drop(mp_conn *c);

/* The stream position of the next byte a receive will hand out. */
static inline uint64_t mp__conn_pos(const mp_conn *c) {
  return c->rx_total - (c->rend - c->rpos);
}

/* Whether a receive can make progress without the kernel: a kept message
 * or read-ahead bytes. mp_conn_poll and mp_wait count these as ready. */
static inline bool mp__conn_buffered(const mp_conn *c) {
  return c->held || c->rpos < c->rend;
}

/* Drops what the connection holds in user space (kept message, read-ahead
 * bytes): at close, or when the stream's framing is lost. */
void mp__conn_drop_input(mp_conn *c);

/* Reads the frame header: the message length into *len. Returns 0,
 * MP_EEOF (clean end before the header), MP_ETRUNCATED, MP_EPROTO or
 * -errno. */
int mp__conn_read_header(mp_conn *c, uint64_t *len);

/* Up to n bytes from the read-ahead buffer or the descriptor (one system
 * call at most). Returns bytes read, 0 at end of file, MP_EPROTO (more
 * descriptors than MP__CONN_MAXFDS came) or -errno. */
ssize_t mp__conn_read(mp_conn *c, void *buf, size_t n);

/* Reads exactly n bytes (blocking; EINTR and EAGAIN absorbed). Returns 0,
 * MP_ETRUNCATED on end of file, or -errno. */
int mp__conn_read_exact(mp_conn *c, void *buf, size_t n);

/* Encodes the frame header for a message of len bytes into hdr; returns
 * its size (4 or 12). */
size_t mp__conn_frame_header(uint64_t len, unsigned char hdr[MP__CONN_HDR_MAX]);

/* Receive-side failure that desynchronised the stream: clears readable
 * (closes a receive-only end, as CPython does) and returns err. */
int mp__conn_fail_read(mp_conn *c, int err);

/* Checks that c is open and may receive / send; returns 0 or the code. */
int mp__conn_check_read(const mp_conn *c);
int mp__conn_check_write(const mp_conn *c);

/* mp_deliver_challenge in two steps, which the listener runs apart
 * (accept.c): the challenge sent is kept in ch for the check. */
#define MP__CHALLENGE_MAX 64
typedef struct mp__challenge {
  unsigned char msg[MP__CHALLENGE_MAX];
  size_t len;
} mp__challenge;
/* Sends a challenge naming digest (NULL: the legacy form). 0 or -errno,
 * -EINVAL for an unknown digest. */
int mp__challenge_send(mp_conn *c, const char *digest, mp__challenge *ch);
/* Receives the answer to ch and sends WELCOME or FAILURE: 0, MP_EAUTH,
 * MP_EEOF, -errno. */
int mp__challenge_check(mp_conn *c, const void *key, size_t keylen,
                        const mp__challenge *ch);

/* mp_answer_challenge in two steps: receives the challenge and sends the
 * reply; then receives the WELCOME. Codes as mp_answer_challenge. */
int mp__answer_reply(mp_conn *c, const void *key, size_t keylen);
int mp__answer_welcome(mp_conn *c);

/* The pending handshakes of a listener with a key (accept.c). */
typedef struct mp__handshakes mp__handshakes;
mp__handshakes *mp__handshakes_new(void);
/* Closes the pending connections (unless an accept is running on hs:
 * then the free does). NULL does nothing. */
void mp__handshakes_clear(mp__handshakes *hs);
/* Closes the pending connections too. NULL does nothing. */
void mp__handshakes_free(mp__handshakes *hs);
/* Accepts and authenticates the next peer that completes its handshake
 * within timeout seconds of connecting (MP_FOREVER: no limit); *ss gets
 * its address. NULL with errno: MP_EAUTH (a peer with the wrong key),
 * MP_ECLOSED, ENOMEM, or the listening socket's error. */
mp_conn *mp__accept_auth(int lfd, mp__handshakes *hs, const void *key, size_t keylen,
                         double timeout, struct sockaddr_storage *ss, socklen_t *sslen);

/* The authentication key to use: key itself, or this process's authkey
 * when key is NULL. */
void mp__auth_key(const void **key, size_t *keylen);

/* HMAC over msg with the named digest ("md5", "sha256", ...). Writes the
 * MAC to out (64 bytes is enough for every allowed digest) and its size to
 * *outlen. Returns 0 or -EINVAL for an unknown digest. */
int mp__auth_hmac(const char *digest, const void *key, size_t keylen,
                  const void *msg, size_t msglen, unsigned char *out,
                  size_t *outlen);

#endif
