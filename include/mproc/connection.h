/* mproc/connection.h: connections (the reference's 17.2.2.4), wait(),
 * Listener and Client (17.2.2.10) and authentication (17.2.2.11).
 *
 * A connection carries whole messages of bytes over a socket or a pipe.
 * The wire format is CPython's multiprocessing.connection: a 4-byte
 * big-endian signed length and the payload; a message over 2 GiB - 1 is sent
 * as -1, an 8-byte big-endian length and the payload. So a C program and a
 * Python program can talk through a Listener/Client pair, with the same
 * HMAC handshake (CPython 3.12's "{sha256}" form, and the HMAC-MD5 form of
 * CPython 3.11 and older).
 *
 * Errors (Python's exceptions):
 *   MP_EEOF        EOFError: nothing left to receive and the other end closed.
 *   MP_ETRUNCATED  the other end closed in the middle of a message.
 *   MP_ETOOBIG     OSError("bad message length"): longer than maxlength.
 *   MP_ETOOSHORT   BufferTooShort: the message did not fit the buffer.
 *   MP_EPROTO      the peer sent a malformed length.
 *   MP_EAUTH       AuthenticationError.
 *   MP_ECLOSED     the connection (or its receiving side) is closed.
 *   MP_ESTATE      the wrong end: receiving on a send-only end, or the
 *                  other way round.
 *   -EPIPE         the other end is gone while sending; SIGPIPE is never
 *                  raised (sockets use MSG_NOSIGNAL; pipes block and consume
 *                  the signal in the sending thread).
 *   -errno         any other system error.
 *
 * Threads: as in Python, one thread may receive and another send on the
 * same connection at the same time; two threads must not both receive (or
 * both send) on one connection at once. Closing a connection another thread
 * is using is the caller's race to avoid. After fork, parent and child each
 * hold the connection; the usual advice holds: close the end you don't use.
 */
#ifndef MPROC_CONNECTION_H
#define MPROC_CONNECTION_H

#include <stdbool.h>
#include <stddef.h>

#include "errors.h"
#include "obj.h"
#include "shm.h"

MP_EXTERN_C_BEGIN

/* One end of a connection. Opaque. */
typedef struct mp_conn mp_conn;

/* recv_bytes without a length limit (Python's maxlength=None). */
#define MP_CONN_NOLIMIT ((size_t)-1)

/* ---- Pipe and Connection ------------------------------------------------ */

/* Python's Pipe(duplex): a pair of connected ends, *c1 and *c2.
 * duplex: both ends send and receive (a Unix socketpair).
 * simplex (duplex false): *c1 only receives and *c2 only sends (a pipe),
 * as in Python, where `r, w = Pipe(duplex=False)`.
 * Returns 0 and two new connections (free each with mp_conn_free), or
 * -errno (both set to NULL). Descriptors are CLOEXEC. */
MP_EXPORT int mp_pipe(bool duplex, mp_conn **c1, mp_conn **c2);

/* Wraps a connected stream socket or pipe descriptor (Python's
 * Connection(handle, readable, writable)). The connection owns fd from now
 * on, also on failure (it is closed then). At least one of readable and
 * writable must be true. Returns NULL with errno EINVAL or ENOMEM. */
MP_EXPORT mp_conn *mp_conn_from_fd(int fd, bool readable, bool writable);

/* Closes the descriptor (Python's close()). Afterwards every call on c but
 * mp_conn_free, mp_conn_close and the state queries returns MP_ECLOSED.
 * Closing twice does nothing. Returns 0, or -errno from close(2) (the
 * descriptor is released anyway). */
MP_EXPORT int mp_conn_close(mp_conn *c);

/* Closes (if open) and frees c. mp_conn_free(NULL) does nothing. */
MP_EXPORT void mp_conn_free(mp_conn *c);

/* Python's closed, readable, writable properties. A connection whose
 * receiving side failed (maxlength exceeded, a malformed message) is no
 * longer readable. */
MP_EXPORT bool mp_conn_closed(const mp_conn *c);
MP_EXPORT bool mp_conn_readable(const mp_conn *c);
MP_EXPORT bool mp_conn_writable(const mp_conn *c);

/* The descriptor (Python's fileno()), still owned by c; MP_ECLOSED when
 * closed. Reading or writing it directly breaks the message framing. Before
 * waiting on it with your own poll/epoll, ask mp_conn_poll(c, 0): a
 * connection that reads ahead may already hold the next message (mp_wait
 * knows this and needs no such care). */
MP_EXPORT int mp_conn_fileno(const mp_conn *c);

/* Read-ahead: when on, the read that fetches a message's header asks the
 * kernel for up to 8 KiB, so a small message costs one system call instead
 * of two; bytes past the message wait in the connection for the next
 * receive, and mp_conn_poll/mp_wait report them. On by default for duplex
 * socket connections (Pipe(true), Listener, Client, mp_conn_from_fd of a
 * socket both readable and writable); off for pipes. Turn it off when
 * several processes receive on the same end (CPython's "reader shared
 * under a Lock" pattern) or when the descriptor is handed to another
 * program: bytes read ahead stay in this process. Bytes already read ahead
 * are still returned first. Returns 0, MP_ECLOSED or -EINVAL. */
MP_EXPORT int mp_conn_set_readahead(mp_conn *c, bool on);

/* Sends len bytes of buf as one message (Python's send_bytes(buf)). Blocks
 * until the whole message is handed to the kernel. Messages of up to a few
 * KiB go out in one system call (header and payload together); larger ones
 * go out without a copy of the payload. len 0 sends an empty message.
 * Returns 0, MP_ECLOSED, MP_ESTATE (a receive-only end), -EPIPE (the other
 * end is gone) or -errno. */
MP_EXPORT int mp_conn_send_bytes(mp_conn *c, const void *buf, size_t len);

/* Python's send_bytes(buffer, offset, size): sends size bytes of buf
 * (buflen bytes long) from offset. size MP_CONN_NOLIMIT means "to the end"
 * (Python's size=None). offset > buflen or offset + size > buflen →
 * MP_EVALUE; otherwise as mp_conn_send_bytes. */
MP_EXPORT int mp_conn_send_bytes_range(mp_conn *c, const void *buf,
                                       size_t buflen, size_t offset,
                                       size_t size);

/* Receives one whole message (Python's recv_bytes(maxlength)). Blocks until
 * one arrives. On success *out is a new buffer of *len bytes, followed by a
 * NUL byte not counted in *len (so a text message is a C string); the
 * caller frees it with mp_free. maxlength MP_CONN_NOLIMIT means no limit.
 * The buffer grows as bytes arrive; an announced length alone never makes
 * it allocate.
 * Returns 0, or:
 *   MP_EEOF        nothing left and the other end closed;
 *   MP_ETRUNCATED  the other end closed in the middle of a message;
 *   MP_ETOOBIG     the message is longer than maxlength (or than this
 *                  machine's memory): as in Python, the connection is no
 *                  longer readable: later receives return MP_ECLOSED (a
 *                  receive-only end is closed altogether);
 *   MP_EPROTO      a malformed length (negative other than -1): the
 *                  stream cannot be trusted; not readable any more either;
 *   MP_ECLOSED, MP_ESTATE, -ENOMEM, -errno.
 * On failure *out is NULL and *len 0. */
MP_EXPORT int mp_conn_recv_bytes(mp_conn *c, void **out, size_t *len,
                                 size_t maxlength);

/* Receives one whole message into buf + offset (Python's
 * recv_bytes_into(buffer, offset)); buflen is the size of buf in bytes.
 * Returns 0 and the message's size in *nread. offset > buflen → MP_EVALUE.
 * When the message is longer than buflen - offset: MP_ETOOSHORT, *nread
 * tells the message's size, and the whole message stays with the
 * connection: the next receive (mp_conn_recv_bytes, or this call with a
 * buffer large enough) returns it — Python's e.args[0]. Meanwhile
 * mp_conn_poll and mp_wait report the connection ready. Other errors as
 * mp_conn_recv_bytes (*nread 0). */
MP_EXPORT int mp_conn_recv_bytes_into(mp_conn *c, void *buf, size_t buflen,
                                      size_t offset, size_t *nread);

/* Python's send(obj) and recv(), for mp_obj values (mproc/obj.h): the
 * object travels as one message of the same framing, encoded with the
 * connection's object codec (mp_conn_set_codec):
 *  - pickle (mproc/pickle.h, protocol 4 as CPython's ForkingPickler), the
 *    default of Listener and Client connections, so Python's
 *    Client(address, authkey=...).send(obj) arrives in mp_conn_recv_obj
 *    and the other way round; data only: a pickle of a class instance is
 *    MP_EDECODE naming the class (mp_last_error());
 *  - MessagePack, the default of mp_pipe and mp_conn_from_fd (the fastest,
 *    between mproc processes; a Python peer reads it with msgpack.unpackb).
 * mp_conn_send_obj returns 0, the encoder's error (MP_EVALUE for nesting
 * deeper than MP_OBJ_MAX_DEPTH, -EINVAL for o NULL, MP_ETYPE for an ext
 * value over pickle, -ENOMEM) or mp_conn_send_bytes's. Small MessagePack
 * objects are encoded on the stack.
 * mp_conn_recv_obj sets *out to a new reference (release with
 * mp_obj_unref). A message that is not one valid object is MP_EDECODE
 * (MessagePack: MP_EVALUE for an integer beyond int64); it was consumed
 * whole, so the connection stays usable. Other
 * errors as mp_conn_recv_bytes. On failure *out is NULL. */
MP_EXPORT int mp_conn_send_obj(mp_conn *c, const mp_obj *o);
MP_EXPORT int mp_conn_recv_obj(mp_conn *c, mp_obj **out);

/* The object codec of send_obj/recv_obj. MP_CONN_CODEC_DEFAULT in
 * mp_conn_opts means pickle for Listener/Client connections. */
typedef enum mp_conn_codec {
  MP_CONN_CODEC_DEFAULT = 0,
  MP_CONN_CODEC_MSGPACK = 1,
  MP_CONN_CODEC_PICKLE = 2,
} mp_conn_codec;
/* Sets c's codec (both directions; the peer must use the same). DEFAULT
 * gives MessagePack. Returns 0, MP_ECLOSED or -EINVAL. Not thread-safe
 * with send_obj/recv_obj on the same end. */
MP_EXPORT int mp_conn_set_codec(mp_conn *c, mp_conn_codec codec);
/* c's codec (MP_CONN_CODEC_MSGPACK or _PICKLE; DEFAULT for c NULL). */
MP_EXPORT mp_conn_codec mp_conn_get_codec(const mp_conn *c);

/* Whether a message (or end of file) is waiting to be received (Python's
 * poll(timeout)): waits up to timeout seconds (0 polls, MP_FOREVER blocks;
 * signals never cut it short). Returns 1 when ready, 0 when not, or
 * MP_ECLOSED, MP_ESTATE (a send-only end), -EINVAL (timeout NaN). A closed
 * peer counts as ready: the next receive reports MP_EEOF. */
MP_EXPORT int mp_conn_poll(mp_conn *c, double timeout);

/* ---- Passing descriptors, connections and handles ---------------------- */

/* Python's multiprocessing.reduction.send_handle(conn, fd, pid) /
 * recv_handle(conn), over a connection whose descriptor is a Unix-domain
 * socket (Pipe(true), an AF_UNIX Listener or Client). The wire is
 * CPython's: one byte (1) carrying the descriptor with SCM_RIGHTS, outside
 * the message framing; so a Python peer's recv_handle receives what
 * mp_conn_send_fd sends, and the other way round. As in Python, each
 * send_fd must be met by a recv_fd at the same point of the stream.
 *
 * mp_conn_send_fd sends a duplicate of fd (fd stays the caller's; closing
 * it after the call is fine: the descriptor in flight is the kernel's).
 * Returns 0, MP_ENOTSUP (not a Unix socket: a pipe end, TCP), -EBADF (fd
 * not open), MP_ECLOSED, MP_ESTATE (receive-only end), -EPIPE, -errno.
 *
 * mp_conn_recv_fd blocks until the descriptor comes; *fd is then a new
 * descriptor of this process (CLOEXEC) the caller closes. Read-ahead may
 * stay on: every read on a Unix socket keeps what descriptors come with
 * its bytes until a receive claims them, and close/free closes unclaimed
 * ones, so none is lost or leaked. Returns 0, MP_ENOTSUP, MP_EEOF (the
 * peer closed), MP_EPROTO (the peer sent bytes where a descriptor was
 * expected, or more than 16 descriptors with one write: any received are
 * closed, and as with a malformed length the end is no longer readable),
 * MP_ECLOSED, MP_ESTATE, -errno. *fd is -1 on failure.
 *
 * Threads: as for the other sends and receives of one connection. */
MP_EXPORT int mp_conn_send_fd(mp_conn *c, int fd);
MP_EXPORT int mp_conn_recv_fd(mp_conn *c, int *fd);

/* Sends the connection conn over c (CPython 3.3+ sending a Connection
 * through a Pipe): its descriptor, as mp_conn_send_fd. conn stays open and
 * the caller's; close it here when the other process takes over (Python
 * programs do the same). A connection holding bytes already received
 * (read ahead, or a message kept after MP_ETOOSHORT) cannot be sent
 * (MP_ESTATE): those bytes would stay behind; mp_conn_set_readahead(conn,
 * false) before traffic on it starts avoids that. Errors as
 * mp_conn_send_fd, and MP_ECLOSED for a closed conn.
 *
 * mp_conn_recv_conn receives it as a new connection in *out (free with
 * mp_conn_free): both ways for a socket, receive-only or send-only for a
 * pipe's end, as it was on the sending side. Errors as mp_conn_recv_fd, and
 * -ENOMEM; *out is NULL on failure. */
MP_EXPORT int mp_conn_send_conn(mp_conn *c, const mp_conn *conn);
MP_EXPORT int mp_conn_recv_conn(mp_conn *c, mp_conn **out);

/* Sends a shared object's handle (mproc/shm.h: mp_lock_handle,
 * mp_queue_handle, mp_value_handle, ...) over c, so a process that did not
 * inherit the object opens it: one message whose payload is
 * mp_handle_encode's record, the handle's descriptors attached. h's
 * descriptors stay the caller's. Errors as mp_conn_send_fd, and -EINVAL
 * for a malformed handle.
 *
 * mp_conn_recv_handle receives it into *h, which then owns the received
 * descriptors (CLOEXEC): open the object (mp_lock_open(h), ...), then
 * mp_handle_close(h). Returns 0, MP_EPROTO (a message without descriptors,
 * or not a handle's size: it was consumed whole and the connection stays
 * usable, unless it was over 8 KiB), MP_EDECODE (the bytes are not a
 * handle), or mp_conn_recv_fd's errors. On failure no descriptor is left
 * open. */
MP_EXPORT int mp_conn_send_handle(mp_conn *c, const mp_handle *h);
MP_EXPORT int mp_conn_recv_handle(mp_conn *c, mp_handle *h);

/* ---- wait() ---------------------------------------------------------------- */

/* One object for mp_wait: a connection, or a plain descriptor such as a
 * process sentinel (mp_process_sentinel), a listener's descriptor or any
 * socket or pipe. When conn is not NULL it is used and fd is ignored.
 * ready is set by mp_wait. Build items with MP_WAIT_CONN and MP_WAIT_FD. */
typedef struct mp_wait_item {
  mp_conn *conn;
  int fd;
  bool ready;
} mp_wait_item;

/* C builds a compound literal; C++ (which has none before C++20's
 * designators, and no compound literals at all) an aggregate temporary. */
#ifdef __cplusplus
#define MP_WAIT_CONN(c) (mp_wait_item{(c), -1, false})
#define MP_WAIT_FD(d) (mp_wait_item{NULL, (d), false})
#else
#define MP_WAIT_CONN(c) ((mp_wait_item){.conn = (c), .fd = -1, .ready = false})
#define MP_WAIT_FD(d) ((mp_wait_item){.conn = NULL, .fd = (d), .ready = false})
#endif

/* Python's multiprocessing.connection.wait(object_list, timeout): waits
 * until at least one of the n items is ready, or timeout seconds passed
 * (MP_FOREVER blocks, 0 polls, negative is 0). An item is ready when a
 * message or end of file can be read from it, its peer closed, or (for a
 * process sentinel) the process ended. Sets every item's ready flag and
 * returns how many are ready: 0 at the timeout. Signals (EINTR) never cut
 * the wait short. Errors: -EINVAL (items NULL with n > 0, timeout NaN, an
 * item with neither conn nor fd >= 0), MP_ECLOSED (a closed connection),
 * -EBADF (a descriptor that is not open), -ENOMEM. Thread-safe (it reads
 * the items and polls; it receives nothing). */
MP_EXPORT int mp_wait(mp_wait_item *items, size_t n, double timeout);

/* ---- Authentication (17.2.2.11) ----------------------------------------- */

/* Python's deliver_challenge(connection, authkey): sends a random
 * challenge, checks the peer's HMAC of it, and sends #WELCOME# or
 * #FAILURE#. The challenge is CPython 3.12's "{sha256}" + 40 random bytes;
 * the peer may answer in that form or with a bare 16-byte HMAC-MD5 (CPython
 * 3.11 and older). Digests are compared in constant time. key NULL uses this
 * process's authkey (keylen ignored). Returns 0, MP_EAUTH (wrong digest or a
 * malformed reply; #FAILURE# was sent), or the transport's error (MP_EEOF,
 * MP_ETOOBIG for a reply over 256 bytes, -EPIPE, ...). */
MP_EXPORT int mp_deliver_challenge(mp_conn *c, const void *key,
                                   size_t keylen);

/* As mp_deliver_challenge with the challenge's digest named: "sha256",
 * "sha384", "md5", "sha3_256" or "sha3_384" (CPython's allowed digests), or
 * NULL for the legacy form CPython 3.11 sends (20 random bytes, no prefix,
 * HMAC-MD5). Unknown names → -EINVAL. */
MP_EXPORT int mp_deliver_challenge_digest(mp_conn *c, const void *key,
                                          size_t keylen, const char *digest);

/* Python's answer_challenge(connection, authkey): receives a challenge,
 * answers with its HMAC (the digest the challenge names, or bare HMAC-MD5
 * for a legacy 20-byte challenge) and expects #WELCOME#. key NULL uses this
 * process's authkey. Returns 0, MP_EAUTH (not a challenge, an unsupported
 * digest, or the peer rejected us), or the transport's error. */
MP_EXPORT int mp_answer_challenge(mp_conn *c, const void *key, size_t keylen);

/* ---- Addresses (17.2.2.10.1) ------------------------------------------------ */

/* Address families, as Python's 'AF_UNIX' and 'AF_INET'. */
enum { MP_AF_DEFAULT = 0, MP_AF_UNIX = 1, MP_AF_INET = 2 };

#define MP_ADDRESS_HOST_MAX 256
#define MP_ADDRESS_PATH_MAX 108

/* A Listener's or Client's address. AF_INET: host (a name or a dotted
 * address; "" means any address when listening) and port (0 when listening
 * picks a free port). AF_UNIX: path, a filesystem path; a Linux abstract
 * name is path[0] == '\0' followed by the name (NUL-terminated) in
 * path + 1, as Python's '\0name'. Plain data: copy it freely. */
typedef struct mp_address {
  int family;
  int port;
  char host[MP_ADDRESS_HOST_MAX];
  char path[MP_ADDRESS_PATH_MAX];
} mp_address;

/* Builders (Python's ('host', port), 'path' and '\0name'). A string too long
 * for the field is cut short (check with strlen if it matters); NULL is "". */
MP_EXPORT mp_address mp_address_inet(const char *host, int port);
MP_EXPORT mp_address mp_address_unix(const char *path);
MP_EXPORT mp_address mp_address_abstract(const char *name);

/* Writes the address as Python prints it: "('127.0.0.1', 6000)",
 * "'/tmp/sock'", "'\x00name'" into buf (always NUL-terminated when n > 0).
 * Returns the length the full text needs, like snprintf. */
MP_EXPORT int mp_address_format(const mp_address *a, char *buf, size_t n);

/* ---- Listener and Client (17.2.2.10) ---------------------------------------- */

typedef struct mp_listener mp_listener;

/* Options for mp_listener_new and mp_client; zero-initialise, then set what
 * you need ({0} is Python's defaults).
 * family: MP_AF_DEFAULT infers it from the address (AF_UNIX when the
 *   address is NULL too: Python's default on Linux).
 * backlog: listen(2)'s backlog; 0 means Python's default, 1.
 * authkey/authkey_len: when authkey is not NULL, both sides prove they know
 *   it (Python's authkey=b'...'). authenticate: when true and authkey is
 *   NULL, this process's authkey is used (Python's authenticate=True). */
typedef struct mp_conn_opts {
  int family;
  int backlog;
  bool authenticate;
  const void *authkey;
  size_t authkey_len;
  /* Listener only: how long an accepted peer has to complete the
   * handshake, in seconds from its connect (0: MP_HANDSHAKE_TIMEOUT;
   * MP_FOREVER: no limit, as in Python). A peer that has not answered by
   * then is closed and accept goes on with the others: peers are
   * authenticated side by side, so one that sends nothing, or trickles,
   * delays nobody. Negative or NaN: mp_listener_new fails with EINVAL. */
  double handshake_timeout;
  /* codec: how send_obj/recv_obj encode objects on the connections made
   * (mp_conn_set_codec); MP_CONN_CODEC_DEFAULT is pickle, what a Python
   * peer's send()/recv() use. */
  mp_conn_codec codec;
} mp_conn_opts;

/* The default handshake deadline of a listener with a key, in seconds. */
#define MP_HANDSHAKE_TIMEOUT 5.0

/* Python's Listener(address, family, backlog, authkey): a socket bound to
 * address and listening. address NULL picks one: for AF_UNIX a fresh path in
 * a private temporary directory (both removed at close), for AF_INET
 * 127.0.0.1 and a free port. SO_REUSEADDR is set as in Python. A
 * filesystem AF_UNIX path is removed again when the listener is closed by
 * the process that created it (Python's finalizer). opts NULL means {0}.
 * Returns NULL with errno: EINVAL (bad address or family), EADDRINUSE,
 * ENOENT, ENAMETOOLONG, EAI-style failures as ENOENT (unknown host), ... */
MP_EXPORT mp_listener *mp_listener_new(const mp_address *address,
                                       const mp_conn_opts *opts);

/* Python's accept(): waits for a connection, authenticates it when the
 * listener has a key (deliver, then answer: Python's order) and returns the
 * new connection (free with mp_conn_free). NULL with errno -MP_EAUTH when
 * authentication failed (the connection is closed; the listener stays
 * usable), -MP_ECLOSED when the listener is closed, or another errno.
 * With a key, peers that connect are challenged at once and handled side
 * by side: the first to complete the handshake is returned, and a peer
 * that does not complete it within handshake_timeout (mp_conn_opts) is
 * closed without an error; peers still in their handshake wait in the
 * listener for the next accept (at most 1024; more wait in the kernel's
 * backlog). Calls from several threads on one listener take turns. */
MP_EXPORT mp_conn *mp_listener_accept(mp_listener *l);

/* Python's close(): closes the socket and removes the AF_UNIX path (and
 * the private directory of a picked path). Twice does nothing. */
MP_EXPORT int mp_listener_close(mp_listener *l);

/* Closes (if open) and frees l. mp_listener_free(NULL) does nothing. */
MP_EXPORT void mp_listener_free(mp_listener *l);

/* Python's address property: where the listener is bound (the port filled
 * in when 0 was asked for). Borrowed: valid until mp_listener_free. */
MP_EXPORT const mp_address *mp_listener_address(const mp_listener *l);

/* Python's last_accepted: the peer address of the last accepted
 * connection, or NULL when none was accepted yet (Python's None).
 * Borrowed: valid until the next accept or free. */
MP_EXPORT const mp_address *mp_listener_last_accepted(const mp_listener *l);

/* The listening descriptor (owned by l), for mp_wait/poll: it is ready
 * when accept will not block. MP_ECLOSED when closed. */
MP_EXPORT int mp_listener_fileno(const mp_listener *l);

/* Python's Client(address, family, authkey): connects to a Listener and,
 * when a key is given (or opts->authenticate), authenticates (answer, then
 * deliver: Python's order). opts NULL means {0}; backlog is ignored.
 * Returns the connection (free with mp_conn_free), or NULL with errno:
 * -MP_EAUTH, ECONNREFUSED, ENOENT, EINVAL, ... */
MP_EXPORT mp_conn *mp_client(const mp_address *address,
                             const mp_conn_opts *opts);

MP_EXTERN_C_END

#endif
