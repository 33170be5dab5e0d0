/* mproc/errors.h: error codes, their names and messages, and the error record
 * that carries a failure's details.
 *
 * The one rule, in every area:
 * 1. A function that can fail returns int: negative is a failure, its
 *    code; zero or positive is success. Most return exactly 0 on success.
 *    Those that answer a question return the answer, never negative: a
 *    bool as 1 or 0 (mp_process_is_alive, mp_process_exitcode and
 *    mp_process_result: 1 = there is one; mp_conn_poll: 1 = data ready;
 *    mp_proxy_contains) or a count or index (mp_wait: how many are
 *    ready; mp_barrier_wait: the arrival index; the _describe functions:
 *    a length). Each says so in its comment. So `rc < 0` always tests
 *    for failure, and `rc == 1` (not `rc != 0`) for a yes.
 * 2. Codes: system errors are -errno (-ENOMEM, -EINVAL, ...); Python's
 *    exceptions are the library codes below, all in [-1999, -1000] so they
 *    never collide with an errno value. Where Python returns False (a
 *    timed-out acquire or wait) the code is MP_ETIMEOUT; StopIteration is
 *    MP_ESTOP in every area; EOFError (the other side is gone) MP_EEOF.
 * 3. Constructors (functions returning a new object) return it, or NULL
 *    with errno set to the positive value of the code: a system errno
 *    (ENOMEM) or a negated library code (errno = -MP_ETIMEOUT = 1001,
 *    say). mp_strerror() and mp_err_name() accept that errno as it is
 *    (either sign names the same code); mp_errno_code(errno) turns it
 *    back into the negative code. (perror() knows only system errnos: it
 *    prints "Unknown error 1001" for a library code; print
 *    mp_strerror(errno) instead.)
 * 4. Functions returning bool (snapshots: mp_lock_locked), void (_free,
 *    _set of an Event) or a borrowed pointer cannot fail, or say what
 *    they return instead (NULL, 0).
 * 5. The message: a failure that has more to say than its code (Python's
 *    words for a state error, a task's exception, a manager's remote
 *    error, why a handshake failed, a function that is not in the
 *    program) leaves the calling thread's error record, read with
 *    mp_last_error() -- the same call in every area, after a negative
 *    return or after a constructor's NULL. Its code field is the code
 *    that failure returned: compare it with yours, since a failure with
 *    nothing to add leaves the record as it was.
 * A call that fails never runs the callback it was given. */
#ifndef MPROC_ERRORS_H
#define MPROC_ERRORS_H

#include <stddef.h>

#include "version.h"

MP_EXTERN_C_BEGIN

/* XX(NAME, value, "message"): one row per library code. The Python exception
 * each one stands for is named in docs/python-to-c.md. */
#define MP_ERRNO_MAP(XX)                                                       \
  XX(ETIMEOUT, -1001, "operation timed out")                                   \
  XX(EEMPTY, -1002, "queue is empty")                                          \
  XX(EFULL, -1003, "queue is full")                                            \
  XX(EEOF, -1004, "end of file: the other end is closed")                      \
  XX(ETOOSHORT, -1005, "buffer too short for the message")                     \
  XX(EAUTH, -1006, "authentication failed")                                    \
  XX(EREMOTE, -1007, "the remote side reported an error")                      \
  XX(ETASK, -1008, "the task failed")                                          \
  XX(EWORKERDIED, -1009, "the worker running the task died")                   \
  XX(EBROKEN, -1010, "the barrier is broken")                                  \
  XX(EOWNERDEAD, -1011, "acquired; the previous owner died holding it")        \
  XX(ECLOSED, -1012, "the object is closed")                                   \
  XX(ESTATE, -1013, "the object is not in a state that allows this call")      \
  XX(ENOTOWNER, -1014, "the caller does not own it")                           \
  XX(EPROTO, -1015, "the peer broke the protocol")                             \
  XX(ETRUNCATED, -1016, "the stream ended in the middle of a message")         \
  XX(ETOOBIG, -1017, "the message is longer than allowed")                     \
  XX(EVALUE, -1018, "a value is out of its allowed range")                     \
  XX(ETYPE, -1019, "a value has the wrong type")                               \
  XX(EKEY, -1020, "no such key")                                               \
  XX(EINDEX, -1021, "index out of range")                                      \
  XX(ESTALE, -1022, "the function cannot be found in this binary")             \
  XX(ENOTREADY, -1023, "the result is not ready")                              \
  XX(EDAEMON, -1024, "a daemonic process may not have children")             \
  XX(EDECODE, -1025, "malformed encoded data")                                 \
  XX(EATTR, -1026, "no such method or attribute, or it is not exposed")        \
  XX(ENOTRECOVERABLE, -1027, "the lock's state was never made consistent")     \
  XX(ENOTSUP, -1028, "not supported by this start method or object")        \
  XX(ESTOP, -1029, "no more items (the iteration is over)")

typedef enum mp_errno {
  MP_OK = 0,
#define MP__ERR_ENUM(name, val, msg) MP_##name = (val),
  MP_ERRNO_MAP(MP__ERR_ENUM)
#undef MP__ERR_ENUM
} mp_errno;

/* A message for any code this library returns: library codes, -errno values
 * and 0, and also the positive value a failed constructor leaves in errno.
 * Never NULL; a static string. Thread-safe. */
MP_EXPORT const char *mp_strerror(int code);

/* The code's name: "MP_ETIMEOUT", "ENOMEM" (for -ENOMEM), "MP_OK".
 * Unknown codes give "UNKNOWN". A static string. Thread-safe. */
MP_EXPORT const char *mp_err_name(int code);

/* The code a failed constructor left in errno: mp_errno_code(errno) returns
 * -errno, which for library codes is the (negative) library code itself. */
MP_EXPORT int mp_errno_code(int err);

/* Why a task, call or process failed: what Python shows as a traceback.
 * code is the library code (MP_ETASK, MP_EWORKERDIED, MP_ETIMEOUT,
 * MP_EREMOTE, ...); signo is the signal that killed a worker, or 0;
 * status its exit status when it exited, or -1; message a NUL-terminated
 * description. Plain data: copy it freely. */
#define MP_ERROR_MESSAGE_MAX 256
typedef struct mp_error {
  int code;
  int signo;
  int status;
  char message[MP_ERROR_MESSAGE_MAX];
} mp_error;

/* Fills err (if not NULL) with code, signo, status and a printf-style
 * message; returns code, so a function may `return mp_error_set(...)`. */
MP_EXPORT int mp_error_set(mp_error *err, int code, int signo, int status,
                           const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* The calling thread's last error record: the details of the most recent
 * failure on this thread that had more to say than its code. Its code field
 * says which failure it describes: compare it with the code you got (a
 * failure without details leaves the record as it was). Never NULL (code 0
 * and an empty message before any failure). Borrowed: valid until this
 * thread's next call into the library. Thread-local, so thread-safe. */
MP_EXPORT const mp_error *mp_last_error(void);

MP_EXTERN_C_END

#endif
