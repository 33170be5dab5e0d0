/* mproc/manager.h: managers (the reference's 17.2.1.5 "Server process",
 * 17.2.2.7 and 17.2.2.8): a server process holds objects; other processes
 * use them through proxies that call their methods by name with mp_obj
 * arguments and results.
 *
 *   mp_manager *m = mp_manager_start_new(NULL);      // Python's Manager()
 *   mp_proxy *d = mp_manager_dict(m, NULL);          // manager.dict()
 *   mp_proxy_setitem(d, key, value);                 // d[key] = value
 *   ... pass d to a child (fork inherits it), use it there ...
 *   mp_proxy_print(d, stdout);                       // print(d)
 *   mp_proxy_free(d);
 *   mp_manager_free(m);                              // shutdown
 *
 * Built-in types (Python's SyncManager): "dict", "list", "Namespace",
 * "Value", "Array", "Queue", "Lock", "RLock", "Semaphore",
 * "BoundedSemaphore", "Condition", "Event", "Barrier". Users add their own
 * as a table of C methods (mp_manager_register).
 *
 * Transport: a manager listens on a private abstract Unix socket by default
 * (nothing to clean up, even after kill -9), or on the address given (TCP
 * for remote clients). Every connection authenticates with CPython's HMAC
 * handshake using the manager's authkey (this process's authkey by
 * default). A local client then moves its calls to a shared-memory channel
 * (one per connection): a call is a write into shared memory and a futex
 * wake, not a socket round trip.
 *
 * Errors. A method that fails in the server returns its code to the
 * caller when it is one of Python's exceptions a method raises (MP_EKEY,
 * MP_EINDEX, MP_EVALUE, MP_ETYPE, MP_EATTR, MP_EEMPTY, MP_EFULL,
 * MP_ETIMEOUT, MP_EBROKEN, MP_ENOTOWNER, MP_ESTATE, MP_ENOTSUP): CPython
 * re-raises those as themselves. Any other failure in the server (a
 * system error, an error of the server itself) is MP_EREMOTE. Either way
 * the server's message is kept for the calling thread (mp_last_error() in
 * errors.h; mp_manager_last_error() is the same record). The built-in
 * list, dict, Namespace and Array methods word it as CPython 3.11 does
 * ("IndexError: list index out of range", "KeyError: 'x'", "TypeError:
 * unhashable type: 'list'", "TypeError: list.append() takes exactly one
 * argument (0 given)"), so printing it prints what Python prints.
 * An unknown or unexposed method is MP_EATTR. A server that went away
 * (shut down, killed) gives MP_EEOF on every later call of its proxies,
 * whatever the transport saw (a reset, a refused reconnection), never a
 * hang. An iterator-like method (a generator's __next__) ends with
 * MP_ESTOP, Python's StopIteration, as mp_imap_next does.
 *
 * Threads and processes. Proxies and managers may be used from several
 * threads at once: each thread gets its own connection (as in CPython), so
 * a thread blocked in a lock's acquire() never holds up another. A proxy
 * inherited through fork works in the child: the child opens its own
 * connections and takes its own reference to the object. A proxy travels
 * anywhere else as a token (mp_proxy_token / mp_proxy_from_token).
 * Objects are freed in the server when no proxy refers to them; a client
 * process that exits (or is killed) drops its references with it. */
#ifndef MPROC_MANAGER_H
#define MPROC_MANAGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "connection.h"
#include "errors.h"
#include "obj.h"

MP_EXTERN_C_BEGIN

typedef struct mp_manager mp_manager;
typedef struct mp_proxy mp_proxy;
typedef struct mp_server mp_server;

/* ---- Custom types (Python's register) -------------------------------------- */

/* One call of a server-side method (or of a type's create function).
 * args: the positional arguments, a tuple (borrowed; never NULL).
 * kwargs: the keyword arguments, a dict of str keys (borrowed), or NULL
 *   when the caller gave none (mp_proxy_call_kw). The built-in types get
 *   theirs as positional arguments (by Python's parameter names).
 * result: set it to a new reference (NULL means None).
 * referent: for create functions and methods listed with a result_typeid
 *   whose type does not hold an mp_obj: the new (or existing) object.
 *   Types flagged MP_TYPE_OBJ take call->result as their referent instead.
 * caller: a number unique to the calling connection (an RLock's owner).
 * message: on failure, what went wrong (shown to the caller). */
typedef struct mp_method_call {
  mp_obj *args;
  mp_obj *kwargs; /* keyword arguments: a dict (borrowed), or NULL */
  mp_obj *result;
  void *referent;
  uint64_t caller;
  char message[MP_ERROR_MESSAGE_MAX];
} mp_method_call;

/* A method: runs in the server with self the referent. Returns 0, or a
 * negative code (see "Errors" above) with call->message filled. */
typedef int (*mp_method_fn)(void *self, mp_method_call *call);

/* A method table entry. result_typeid: Python's method_to_typeid: the
 * result becomes a new shared object of that type and the caller gets a
 * proxy for it; NULL returns the result by value. */
typedef struct mp_method_def {
  const char *name;
  mp_method_fn fn;
  const char *result_typeid;
} mp_method_def;

/* Type flags. */
#define MP_TYPE_NO_CREATE 1u  /* Python's create_method=False */
#define MP_TYPE_CONCURRENT 2u /* methods run without the server's lock and
                                 may block (they do their own locking) */
#define MP_TYPE_OBJ 4u        /* the referent is an mp_obj * (may nest) */

/* A type the server can hold (Python's register(typeid, callable, proxytype,
 * exposed, method_to_typeid, create_method)). Plain data; the pointers must
 * stay valid while the manager (and its server) lives; the server process
 * inherits them through fork.
 * - type_id: the name (any length up to 63 bytes).
 * - create: Python's callable: makes the referent from call->args (or
 *   returns an existing one: a registered callable returning a global
 *   object); NULL when the type is only a method_to_typeid target or this
 *   side only connects. ctx is passed as self.
 * - destroy: called in the server when no proxy refers to the referent any
 *   more; NULL for referents that must outlive their proxies.
 * - repr: the referent's repr (Python's str(proxy)); *out freed with mp_free.
 *   NULL gives "<typeid object at 0x...>".
 * - methods, n_methods: the method table. methods_of: use the methods,
 *   repr and flags of another (built-in or registered) type_id instead, as
 *   the reference's get_queue returns a queue.Queue.
 * - exposed, n_exposed: the names proxies may call (Python's exposed);
 *   NULL: every method whose name does not begin with '_'.
 * - proxytype: the proxy's name in its describe string; NULL gives
 *   "AutoProxy[type_id]". */
typedef struct mp_type_def {
  const char *type_id;
  int (*create)(void *ctx, mp_method_call *call);
  void *ctx;
  void (*destroy)(void *referent);
  int (*repr)(void *referent, char **out);
  const mp_method_def *methods;
  size_t n_methods;
  const char *methods_of;
  const char *const *exposed;
  size_t n_exposed;
  const char *proxytype;
  unsigned flags;
} mp_type_def;

/* ---- Managers (BaseManager / SyncManager) -------------------------------- */

/* Python's BaseManager(address, authkey) and start(initializer, initargs).
 * Zero-initialise and set what you need.
 * - address: where the server listens (copied): NULL picks a private
 *   abstract Unix socket; mp_address_inet("", 50000) listens on TCP.
 * - authkey/authkey_len: NULL uses this process's authkey.
 * - initializer(initarg): run in the server process before it serves.
 * - start_method: how the server process starts (Python's ctx): "fork",
 *   "spawn", "forkserver" or "thread" (the server is then a thread of
 *   this process); NULL: the default (mp_set_start_method's, else "fork").
 *   With spawn and forkserver the server runs in a fresh image of the
 *   program: the initializer and the functions of registered types cross
 *   as references (see mproc/context.h, "Targets across exec"), and
 *   pointers to data cannot: initarg and a type's ctx must be NULL there
 *   (mp_manager_start returns -EINVAL otherwise).
 * - reserved: must be zero. */
typedef struct mp_manager_opts {
  const mp_address *address;
  const void *authkey;
  size_t authkey_len;
  void (*initializer)(void *initarg);
  void *initarg;
  const char *start_method;
  /* The server's limits on connections that have not yet authenticated
   * (the handshake and the first request, HELLO): each has
   * handshake_timeout seconds from its connect, a deadline on the whole
   * exchange (a peer that sends nothing, or trickles, is closed when it
   * passes); at most max_handshakes of them at once, beyond which a new
   * connection is closed at once, before a byte is exchanged (its client
   * sees MP_EEOF or -ECONNRESET). 0 means MP_MANAGER_HANDSHAKE_TIMEOUT
   * and MP_MANAGER_MAX_HANDSHAKES; negative or NaN: EINVAL. */
  double handshake_timeout;
  int max_handshakes;
  void *reserved[3];
} mp_manager_opts;

#define MP_MANAGER_HANDSHAKE_TIMEOUT 10.0
#define MP_MANAGER_MAX_HANDSHAKES 1024

/* A manager not yet started or connected, with the built-in types
 * registered. opts may be NULL. NULL with errno EINVAL (reserved fields
 * set, an authkey too long, an unknown start method) or ENOMEM. */
MP_EXPORT mp_manager *mp_manager_new(const mp_manager_opts *opts);

/* Python's Manager(): mp_manager_new + mp_manager_start. */
MP_EXPORT mp_manager *mp_manager_start_new(const mp_manager_opts *opts);

/* Registers a type (copied; the pointers inside are kept) before start,
 * get_server or connect. A type_id registered twice replaces the earlier
 * one (as Python's register does). Returns 0, -EINVAL (no type_id, a
 * method without name or function, methods_of unknown, a name in exposed
 * that is no method of the type), MP_ESTATE (already started), -ENOMEM.
 *
 * Remote managers (the reference's get_queue): the server's registration
 * is what counts. The server side registers the type with its create
 * function and methods_of = "Queue" (its methods are a Queue's); a client
 * that only connects need not register anything: mp_manager_create(m,
 * "get_queue", NULL, &q) asks the server, and the proxy learns its methods
 * (exposed) from the server's answer. Python's client-side
 * QueueManager.register('get_queue') only adds the method get_queue to the
 * class; registering the same type_id on a C client (create NULL) is
 * allowed and changes nothing. See examples/manager_remote_queue.c. */
MP_EXPORT int mp_manager_register(mp_manager *m, const mp_type_def *def);

/* Python's start(): starts the server process (an mp_process named
 * SyncManager-N, by the options' start method), which serves until
 * shutdown, until the process that started it exits, or until that process
 * is killed (even by SIGKILL). A manager still running when its starting
 * process ends (exit, or a child's target returning) is shut down then,
 * before children are joined, as CPython's finalizer does. Returns 0,
 * MP_ESTATE (started, connected or shut down already), -EADDRINUSE,
 * MP_EDAEMON (called in a daemonic process, which may have no children),
 * -EINVAL (spawn/forkserver with a data pointer, see the options), MP_ESTALE
 * (a function not in the program the server runs), or another -errno. */
MP_EXPORT int mp_manager_start(mp_manager *m);

/* Python's connect(): connects to a running server at the manager's
 * address. Returns 0, MP_EAUTH, -ECONNREFUSED, -ENOENT, MP_ESTATE. */
MP_EXPORT int mp_manager_connect(mp_manager *m);

/* Python's shutdown(): stops the server this manager started and waits
 * for its process to end (1 s, then it is terminated, then killed). May be repeated; does nothing on a manager that
 * only connected or never started. Proxies of the manager then fail with
 * MP_EEOF; the manager's own constructors with MP_ESTATE. Returns 0. */
MP_EXPORT int mp_manager_shutdown(mp_manager *m);

/* Shuts the manager down (if it started a server) and frees it. Proxies
 * made by it stay valid objects (their calls fail once the server is
 * gone) and must still be freed. NULL does nothing. */
MP_EXPORT void mp_manager_free(mp_manager *m);

/* Python's address: where the server listens (the chosen one when the
 * options gave none, once started). Borrowed, valid until free. */
MP_EXPORT const mp_address *mp_manager_address(const mp_manager *m);

/* The server process's pid once started, else 0. */
MP_EXPORT int mp_manager_pid(const mp_manager *m);

/* Python's get_server(): a server in this process for the manager's
 * address, types and authkey. Free with mp_server_free. NULL with errno
 * (EADDRINUSE, ...). */
MP_EXPORT mp_server *mp_manager_get_server(mp_manager *m);

/* Python's serve_forever(): serves in the calling thread until
 * mp_server_stop (from another thread or a signal handler). Each client
 * connection is served by a thread of its own. Returns 0, or -errno. */
MP_EXPORT int mp_server_serve_forever(mp_server *s);

/* Makes serve_forever return (async-signal-safe). */
MP_EXPORT void mp_server_stop(mp_server *s);

/* The server's address (the port filled in). Borrowed. */
MP_EXPORT const mp_address *mp_server_address(const mp_server *s);

/* Stops the server, closes every connection (their clients get MP_EEOF),
 * and frees everything it holds. NULL does nothing. */
MP_EXPORT void mp_server_free(mp_server *s);

/* A referent of a built-in type made in this (the server's) process, for a
 * registered create function that returns an existing object (the
 * reference's `callable=lambda: queue`). *referent lives until the
 * process exits. Returns 0, -EINVAL (unknown type_id), or the type's
 * create error. */
MP_EXPORT int mp_manager_builtin_new(const char *type_id, mp_obj *args,
                                     void **referent);

/* Why the calling thread's last failed manager call failed: the code and
 * the server's message. The same record as mp_last_error() (errors.h),
 * kept under this name for existing callers. Thread-local; never NULL. */
MP_EXPORT const mp_error *mp_manager_last_error(void);

/* ---- Creating shared objects -------------------------------------------- */

/* Python's manager.<typeid>(*args): asks the server to create an object of
 * a registered type and returns a proxy for it in *out (free with
 * mp_proxy_free). args: a tuple or list of arguments, or NULL for none
 * (borrowed). Returns 0, MP_EATTR (unknown type_id or create_method=False),
 * MP_ESTATE (neither started nor connected), the create function's code,
 * or the transport's. */
MP_EXPORT int mp_manager_create(mp_manager *m, const char *type_id,
                                mp_obj *args, mp_proxy **out);

/* SyncManager's constructors: a new proxy, or NULL with errno set to the
 * negated code (errno = -MP_EVALUE, say; see mp_errno_code).
 * init (dict, list): a dict, or a list/tuple of pairs (dict); a list or
 * tuple (list, Array); NULL for empty. */
MP_EXPORT mp_proxy *mp_manager_dict(mp_manager *m, mp_obj *init);
MP_EXPORT mp_proxy *mp_manager_list(mp_manager *m, mp_obj *init);
MP_EXPORT mp_proxy *mp_manager_namespace(mp_manager *m);
/* Value(typecode, value) and Array(typecode, sequence): typecode one of
 * Python's array codes ("b", "B", "h", "H", "i", "I", "l", "L", "q", "Q",
 * "f", "d", "c", "u"); Array checks item types (integer codes need ints,
 * "f"/"d" numbers), Value stores what it is given, as CPython's does. */
MP_EXPORT mp_proxy *mp_manager_value(mp_manager *m, const char *typecode,
                                     mp_obj *value);
MP_EXPORT mp_proxy *mp_manager_array(mp_manager *m, const char *typecode,
                                     mp_obj *sequence);
/* Queue(maxsize): maxsize <= 0 is unbounded. */
MP_EXPORT mp_proxy *mp_manager_queue(mp_manager *m, long maxsize);
MP_EXPORT mp_proxy *mp_manager_lock(mp_manager *m);
MP_EXPORT mp_proxy *mp_manager_rlock(mp_manager *m);
MP_EXPORT mp_proxy *mp_manager_semaphore(mp_manager *m, long value);
MP_EXPORT mp_proxy *mp_manager_bounded_semaphore(mp_manager *m, long value);
/* Condition(lock): lock a Lock or RLock proxy of the same manager, or NULL
 * for a new RLock. */
MP_EXPORT mp_proxy *mp_manager_condition(mp_manager *m, mp_proxy *lock);
MP_EXPORT mp_proxy *mp_manager_event(mp_manager *m);
/* Barrier(parties, timeout): timeout MP_FOREVER for none. */
MP_EXPORT mp_proxy *mp_manager_barrier(mp_manager *m, long parties,
                                       double timeout);
/* Barrier(parties, action, timeout): action runs in the server process (as
 * in CPython, where the manager's thread serving the last party calls it)
 * once all parties arrived, before they are released. It crosses as a
 * function reference (module build-id + offset, see mproc/context.h), so
 * it must be a function of the program the server runs (or of a library
 * it loaded at start): otherwise NULL with errno -MP_ESTALE (a server of
 * another program) or EINVAL (not code). action NULL: mp_manager_barrier. */
MP_EXPORT mp_proxy *mp_manager_barrier_action(mp_manager *m, long parties,
                                              void (*action)(void),
                                              double timeout);

/* ---- Proxies (BaseProxy) ------------------------------------------------- */

/* Python's _callmethod(name, args): calls the referent's method in the
 * server. args: a tuple or list, or NULL (borrowed). On success *result (if
 * result is not NULL) is a new reference to a copy of the method's value;
 * for a method returning a shared object it is that object's token (turn
 * it into a proxy with mp_proxy_from_token, or use mp_proxy_call_proxy).
 * Returns 0 or a code (see "Errors"). Thread-safe. */
MP_EXPORT int mp_proxy_call(mp_proxy *p, const char *method, mp_obj *args,
                            mp_obj **result);

/* Python's _callmethod(name, args, kwds): the same with keyword arguments,
 * kwargs a dict of str keys (borrowed) or NULL. The built-in types take
 * the parameter names Python's methods have: q.get(timeout=1) is
 *   mp_obj *kw = mp_obj_build("{s: i}", "timeout", 1);
 *   mp_proxy_call_kw(q, "get", NULL, kw, &item);
 * (also acquire(blocking, timeout), wait(timeout), notify(n), dict get/pop/
 * setdefault(key, default), update(**kw), list sort(reverse), index, pop,
 * insert...); an unknown keyword is MP_ETYPE with Python's message. A
 * registered type's method finds them in mp_method_call.kwargs. */
MP_EXPORT int mp_proxy_call_kw(mp_proxy *p, const char *method, mp_obj *args,
                               mp_obj *kwargs, mp_obj **result);

/* The same with the arguments built by mp_obj_build's format (an empty
 * format for none): mp_proxy_callf(l, "insert", NULL, "(i s)", 0, "x"). */
MP_EXPORT int mp_proxy_callf(mp_proxy *p, const char *method, mp_obj **result,
                             const char *fmt, ...);

/* For a method listed with a result_typeid: calls it and returns a proxy
 * for the object it made, in *out. */
MP_EXPORT int mp_proxy_call_proxy(mp_proxy *p, const char *method,
                                  mp_obj *args, mp_proxy **out);

/* Python's _getvalue(): a copy of the referent (a new reference). Types
 * that do not hold an mp_obj give their repr as a str. */
MP_EXPORT int mp_proxy_getvalue(mp_proxy *p, mp_obj **out);

/* Python's repr(proxy): "<DictProxy object, typeid 'dict' at 0x...>",
 * into buf as snprintf does (returns the full length). */
MP_EXPORT int mp_proxy_describe(const mp_proxy *p, char *buf, size_t n);

/* Python's str(proxy): the referent's repr, in a new string *out (free
 * with mp_free). */
MP_EXPORT int mp_proxy_str(mp_proxy *p, char **out);

/* Python's print(proxy): the referent's repr and a newline. */
MP_EXPORT int mp_proxy_print(mp_proxy *p, FILE *f);

/* The type_id ("dict") and the exposed method names (Python's _exposed_),
 * borrowed: valid until mp_proxy_free. */
MP_EXPORT const char *mp_proxy_typeid(const mp_proxy *p);
MP_EXPORT const char *const *mp_proxy_exposed(const mp_proxy *p, size_t *n);

/* A token standing for the proxy: an mp_obj (new reference) that may be
 * passed as an argument to another proxy's method (the server then uses
 * the referent itself: `a.append(b)` nests b's referent in a), encoded and
 * sent to another process, and turned back into a proxy there. It carries
 * the address, type_id and object id, never the authkey. NULL with errno. */
MP_EXPORT mp_obj *mp_proxy_token(const mp_proxy *p);

/* A proxy for a token, authenticating with authkey (NULL: this process's
 * authkey). The new proxy takes its own reference in the server on first
 * use. NULL with errno (-MP_ETYPE: not a token). */
MP_EXPORT mp_proxy *mp_proxy_from_token(const mp_obj *token,
                                        const void *authkey,
                                        size_t authkey_len);

/* A proxy as bytes and back (Python pickles proxies when they go to a
 * child). The bytes are the token's encoding: the server's address, the
 * type_id and the object id, never the authkey. This is how a proxy reaches
 * a child of any start method: put the bytes in the child's argument bytes
 * (mp_process_new) and load them there:
 *   parent:  mp_proxy_dumps(d, &buf, &len);
 *            mp_process *p = mp_process_new(child, buf, len, &opts);
 *            mp_free(buf); mp_process_start(p); ... join ...
 *   child:   mp_proxy *d = mp_proxy_loads(arg, len, NULL, 0);
 * The child authenticates with its own authkey (a child's is its parent's)
 * unless authkey is given. Keep the parent's proxy until the child has
 * loaded its copy: the object lives while some proxy refers to it.
 * (With fork a proxy also works in the child as it is.)
 * dumps: 0, -EINVAL, -ENOMEM; *buf freed with mp_free.
 * loads: a new proxy (taking its own reference in the server), or NULL
 * with errno -MP_ETYPE (not a proxy's bytes), or a connection's code
 * (-ECONNREFUSED: no server there, -MP_EEOF: the server that answered
 * there went away, -MP_EAUTH, -MP_ESTALE: the object is
 * gone). */
MP_EXPORT int mp_proxy_dumps(const mp_proxy *p, void **buf, size_t *len);
MP_EXPORT mp_proxy *mp_proxy_loads(const void *buf, size_t len,
                                   const void *authkey, size_t authkey_len);

/* Python's slice(start, stop, step), for the key of a list or Array
 * proxy's __getitem__ (list also __setitem__ and __delitem__), as Python
 * 3 turns l[2:5] into l.__getitem__(slice(2, 5, None)):
 *   mp_obj *s = mp_proxy_slice(2, 5, MP_SLICE_NONE);
 *   mp_proxy_getitem(l, s, &part);              // l[2:5]
 *   mp_proxy_setitem(l, s, items);              // l[2:5] = items
 * MP_SLICE_NONE (mproc/obj.h) stands for an omitted bound. An ext value
 * of code MP_PROXY_EXT_SLICE (a new reference), or NULL with errno
 * ENOMEM. */
#define MP_PROXY_EXT_SLICE 83
MP_EXPORT mp_obj *mp_proxy_slice(ptrdiff_t start, ptrdiff_t stop,
                                 ptrdiff_t step);

/* Drops the proxy: the server frees the referent when no proxy refers to
 * it any more. NULL does nothing. */
MP_EXPORT void mp_proxy_free(mp_proxy *p);

/* ---- Shorthands for the built-in proxies ---------------------------------
 * Each is one mp_proxy_call; results are new references. */

/* Containers: dict, list, Array (Python's p[key], p[key] = v, del p[key],
 * len(p), key in p, p.append(v)). A key may be a slice for list and Array
 * (mp_proxy_slice). */
MP_EXPORT int mp_proxy_getitem(mp_proxy *p, mp_obj *key, mp_obj **out);
MP_EXPORT int mp_proxy_setitem(mp_proxy *p, mp_obj *key, mp_obj *value);
MP_EXPORT int mp_proxy_delitem(mp_proxy *p, mp_obj *key);
MP_EXPORT int mp_proxy_len(mp_proxy *p, size_t *len);
/* 1 when key is in p, 0 when not, or a negative code. */
MP_EXPORT int mp_proxy_contains(mp_proxy *p, mp_obj *key);
MP_EXPORT int mp_proxy_append(mp_proxy *p, mp_obj *item);

/* Namespace attributes: ns.name, ns.name = v, del ns.name (a missing
 * attribute is MP_EATTR). */
MP_EXPORT int mp_proxy_getattr(mp_proxy *p, const char *name, mp_obj **out);
MP_EXPORT int mp_proxy_setattr(mp_proxy *p, const char *name, mp_obj *value);
MP_EXPORT int mp_proxy_delattr(mp_proxy *p, const char *name);

/* Value.value. */
MP_EXPORT int mp_proxy_get_value(mp_proxy *p, mp_obj **out);
MP_EXPORT int mp_proxy_set_value(mp_proxy *p, mp_obj *value);

/* The shorthands below that wait read block and timeout as sync.h does:
 * MP_FOREVER blocks, 0 or a negative timeout (or block false) does not
 * wait, NaN is -EINVAL (sent nowhere). They return what their local twins
 * return (mp_queue_put, mp_lock_acquire, mp_event_wait, mp_barrier_wait...):
 * 0 on success, MP_ETIMEOUT where Python returns False. The generic
 * mp_proxy_call returns Python's own value instead (True / False).
 *
 * Queue: put(item, block, timeout) and get(block, timeout): 0, or MP_EFULL /
 * MP_EEMPTY when it did not succeed in time (Python's Full and Empty). */
MP_EXPORT int mp_proxy_put(mp_proxy *p, mp_obj *item, bool block,
                           double timeout);
MP_EXPORT int mp_proxy_get(mp_proxy *p, bool block, double timeout,
                           mp_obj **out);

/* Lock, RLock, Semaphore, BoundedSemaphore, Condition: acquire(block,
 * timeout) returns 0 when acquired, MP_ETIMEOUT when not (as
 * mp_lock_acquire). release() returns 0; MP_EVALUE for a Lock that is not
 * locked or a BoundedSemaphore past its bound (as mp_lock_release and
 * mp_semaphore_release); MP_ENOTOWNER for an RLock (or a Condition's
 * RLock) this caller does not hold. */
MP_EXPORT int mp_proxy_acquire(mp_proxy *p, bool block, double timeout);
MP_EXPORT int mp_proxy_release(mp_proxy *p);

/* Event: set and clear return 0; is_set returns 1 (set) or 0 (clear), as
 * mp_event_is_set's bool, or a negative code. */
MP_EXPORT int mp_proxy_event_set(mp_proxy *p);
MP_EXPORT int mp_proxy_event_clear(mp_proxy *p);
MP_EXPORT int mp_proxy_event_is_set(mp_proxy *p);

/* wait(timeout): Event and Condition return 0 (set / notified) or
 * MP_ETIMEOUT (as mp_event_wait, mp_condition_wait); a Condition not held
 * by the caller is MP_ENOTOWNER. Barrier returns its index
 * (0..parties-1), or MP_EBROKEN when the barrier is or becomes broken,
 * including by this wait's timeout (as mp_barrier_wait_timeout);
 * timeout MP_FOREVER waits the barrier's own timeout. */
MP_EXPORT int mp_proxy_wait(mp_proxy *p, double timeout);

/* Condition.wait_for(predicate, timeout), as CPython's ConditionProxy
 * does it: predicate(arg) runs in the caller; while it is false the
 * caller waits on the condition (which it must hold: acquire it first),
 * at most timeout seconds in all (MP_FOREVER: no limit). As
 * mp_condition_wait_for: 0 when the predicate was true (at once or
 * later), MP_ETIMEOUT when it was still false at the end, or a wait's
 * error (MP_ENOTOWNER when not held); -EINVAL for NULL or a NaN timeout. */
MP_EXPORT int mp_proxy_wait_for(mp_proxy *p, bool (*predicate)(void *arg),
                                void *arg, double timeout);

/* Condition: notify(n) and notify_all(). */
MP_EXPORT int mp_proxy_notify(mp_proxy *p, long n);
MP_EXPORT int mp_proxy_notify_all(mp_proxy *p);

MP_EXTERN_C_END

#endif
