/* manager_internal.h: what the files of src/manager/ share: the wire format
 * of requests and replies, the shared-memory call channel, the server's
 * type table, and the server-side call context the built-in types use.
 *
 * Wire format (little-endian), the same over a socket frame and through a
 * shared-memory channel:
 *   request: op u8 | name length u8 | object id u64 | caller u64 | name |
 *            arguments (MessagePack of a list or tuple; may be empty) |
 *            keyword arguments (MessagePack of a dict; may be absent)
 *   reply:   R_OK u8 | value (MessagePack)
 *            R_PROXY u8 | [id, type_id, proxytype, [exposed...]]
 *            R_ERR u8 | code i32 | message (UTF-8, not terminated)
 * The decoder (mp__mgr_request_decode) is what a fuzz target drives: every
 * byte of a request comes from another process. */
#ifndef MPROC_MANAGER_INTERNAL_H
#define MPROC_MANAGER_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "mproc/context.h"
#include "mproc/manager.h"
#include "mproc/process.h"
#include "runtime/runtime_internal.h"

/* ---- Wire ------------------------------------------------------------------- */

enum {
  MGR_OP_CALL = 1,       /* id, method, args */
  MGR_OP_CALL_PROXY = 2, /* the same, for a method that returns a proxy */
  MGR_OP_CREATE = 3,     /* type_id in name, args */
  MGR_OP_INCREF = 4,     /* id; reply [type_id, proxytype, [exposed]] */
  MGR_OP_DECREF = 5,     /* id */
  MGR_OP_HELLO = 6,      /* id = client uid; args [pid, want_channel] */
  MGR_OP_SHUTDOWN = 7,
  MGR_OP_INFO = 8,       /* reply [objects held, connections] (tests) */
  MGR_OP_MAX = 8,
};

enum { MGR_R_OK = 0, MGR_R_PROXY = 1, MGR_R_ERR = 2 };

#define MGR_HDR 18
#define MGR_NAME_MAX 63
/* Requests and replies larger than this are refused (MP_ETOOBIG). */
#define MGR_MSG_MAX ((size_t)1 << 30)

/* Special method names every object answers (as CPython's fallbacks). */
#define MGR_GETVALUE "#GETVALUE"
#define MGR_REPR "__repr__"
#define MGR_STR "__str__"

typedef struct mgr_request {
  int op;
  uint64_t id;
  uint64_t caller;
  char name[MGR_NAME_MAX + 1];
  mp_obj *args; /* a new reference: a tuple (an empty one when absent) */
  mp_obj *kwargs; /* a new reference to a dict, or NULL when none came */
} mgr_request;

/* Decodes a request. Returns 0 (req->args, req->kwargs owned by the caller), or
 * MP_EDECODE / MP_EPROTO for anything malformed. Never crashes. */
int mp__mgr_request_decode(const void *buf, size_t len, mgr_request *req);

/* A growable byte buffer (library allocator). */
typedef struct mgr_buf {
  char *data;
  size_t len, cap;
} mgr_buf;
int mp__mgr_buf_reserve(mgr_buf *b, size_t extra);
int mp__mgr_buf_put(mgr_buf *b, const void *p, size_t n);
void mp__mgr_buf_free(mgr_buf *b);

/* Appends a request header (op, id, caller, name) to b. */
int mp__mgr_put_header(mgr_buf *b, int op, uint64_t id, uint64_t caller,
                       const char *name);
/* Appends an error reply. */
int mp__mgr_put_error(mgr_buf *b, int code, const char *msg);

/* ---- Tokens ------------------------------------------------------------------ */

/* A proxy's token: (b"\0mpx", type_id, id, server uid, family, where, port). */
#define MGR_TOKEN_MAGIC "\0mpx"
#define MGR_TOKEN_MAGIC_LEN 4
typedef struct mgr_token {
  char type_id[MGR_NAME_MAX + 1];
  uint64_t id;
  uint64_t server_uid;
  mp_address addr;
} mgr_token;
mp_obj *mp__mgr_token_make(const mgr_token *t);
/* 1 and *t filled when o is a token, 0 when it is not. */
int mp__mgr_token_parse(const mp_obj *o, mgr_token *t);

/* ---- Shared-memory channel ----------------------------------------------------- */

#define MGR_CHAN_CAP (64 * 1024 - 256)
#define MGR_CHAN_BIG 1u /* the message travels on the socket instead */

typedef struct mgr_chan {
  _Alignas(64) uint32_t req_seq;
  uint32_t server_sleeping;
  _Alignas(64) uint32_t rep_seq;
  uint32_t client_sleeping;
  _Alignas(64) uint32_t req_len, req_flags;
  uint32_t rep_len, rep_flags;
  _Alignas(64) char buf[MGR_CHAN_CAP];
} mgr_chan;

/* One end of a channel waiting for the other (chan.c has the policy).
 * The caller fills the first fields once and keeps the struct per
 * channel; the rest is the waiter's record. */
typedef struct mgr_waiter {
  int64_t spin_ns;        /* the longest spin before sleeping; 0: never */
  int64_t slice_ns;       /* sleeping slices between alive() checks */
  int (*alive)(void *ctx); /* < 0: stop waiting with that code */
  void *ctx;
  int *spinners;          /* threads spinning now in this role, or NULL */
  int max_spinners;
  int fails;              /* spins in a row that ended in sleep */
  int skip;               /* waits left that sleep without spinning */
  bool woke_peer;         /* our last post had to wake the peer */
} mgr_waiter;

/* Waits until *word != seen (spin, then sleep with *sleeping set).
 * Returns 0, or the negative code alive() returned. */
int mp__mgr_chan_wait(mgr_waiter *w, uint32_t *word, uint32_t seen,
                      uint32_t *sleeping);
/* Publishes *word = val and wakes the other side if it sleeps. */
void mp__mgr_chan_post(mgr_waiter *w, uint32_t *word, uint32_t val,
                       uint32_t *sleeping);
/* The spin window: want, or MP_MGR_SPIN_NS from the environment; 0 on a
 * one-CPU machine. */
int64_t mp__mgr_spin_ns(int64_t want);
/* How many threads of one role may spin at once: max(1, CPUs - 1). */
int mp__mgr_max_spinners(void);

/* Sends / receives one descriptor with one byte over a Unix socket. */
int mp__mgr_send_fd(int sock, int fd);
int mp__mgr_recv_fd(int sock, int *fd);

/* ---- Server-side types ------------------------------------------------------------ */

/* A registered type as the server holds it: the definition and, for each
 * method, whether it is exposed. */
typedef struct mgr_type {
  mp_type_def def;       /* strings and tables owned by the manager */
  const mp_type_def *ops; /* where methods, repr and flags come from
                             (def itself, or the methods_of type) */
  bool *exposed;         /* per method of ops */
  char **exposed_names;  /* the exposed list sent to proxies */
  size_t n_exposed_names;
} mgr_type;

/* The registry of one manager: the built-in types first, then the user's. */
typedef struct mgr_registry {
  mgr_type **types;
  size_t n, cap;
} mgr_registry;

int mp__mgr_registry_init(mgr_registry *r);
int mp__mgr_registry_add(mgr_registry *r, const mp_type_def *def);
void mp__mgr_registry_free(mgr_registry *r);
const mgr_type *mp__mgr_registry_find(const mgr_registry *r, const char *type_id);
/* Internal flag: every method is exposed (the built-in types). */
#define MGR_TYPE_ALL_EXPOSED (1u << 16)
/* During a request, the server serving it and a lookup of this server's
 * referent for a token (create functions use it: Condition(lock)). */
void *mp__mgr_resolve_token(const mp_obj *token, const mgr_type **type);
/* Index of method name in t's table, or -1. */
int mp__mgr_type_method(const mgr_type *t, const char *name);
/* Keyword arguments for method of t: for a built-in type they become
 * positional arguments in *args (replaced; returns 0); a user type gets
 * them as they are (returns 1); or MP_ETYPE with msg filled. */
int mp__mgr_kwargs_apply(const mgr_type *t, const char *method, mp_obj **args,
                         mp_obj *kwargs, char *msg, size_t msgn);


/* The built-in types' definitions (types_obj.c, types_sync.c). */
extern const mp_type_def mp__mgr_obj_types[];
extern const size_t mp__mgr_n_obj_types;
extern const mp_type_def mp__mgr_sync_types[];
extern const size_t mp__mgr_n_sync_types;

/* Helpers for method implementations. */
int mp__mgr_fail(mp_method_call *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Checks the argument count is in [min, max]; MP_ETYPE otherwise, with
 * the message CPython's built-in method gives ("list.append() takes
 * exactly one argument (0 given)"), naming the call the server set. */
int mp__mgr_nargs(mp_method_call *c, size_t min, size_t max);
/* Set by the server around each method call (type_id and method, both
 * borrowed; method NULL for a create) for mp__mgr_nargs's message. */
void mp__mgr_set_call_name(const char *type_id, const char *method);
/* A slice argument (mp_proxy_slice): 1 with v = start, stop, step
 * (MP_SLICE_NONE for None), 0 when o is no slice, MP_EVALUE when it is
 * one but malformed. */
int mp__mgr_slice_of(const mp_obj *o, ptrdiff_t v[3]);
mp_obj *mp__mgr_arg(mp_method_call *c, size_t i); /* borrowed; NULL if absent */
/* Reads an optional timeout argument (None or absent: forever). */
int mp__mgr_arg_timeout(mp_method_call *c, size_t i, double *timeout);
/* Blocking server-side waits: waits on cv in slices, returning MP_ECLOSED
 * when the server stops or the caller's connection died meanwhile, and
 * MP_ETIMEOUT at the deadline. Called with mu held. */
int mp__mgr_cond_wait(pthread_cond_t *cv, pthread_mutex_t *mu,
                      const mp__deadline *dl);
/* Set by the server around each call: whether the calling connection is
 * still there (thread-local: the thread serving it). */
void mp__mgr_set_call_alive(int (*alive)(void *ctx), void *ctx);
int mp__mgr_cond_init(pthread_cond_t *cv);

/* ---- Server -------------------------------------------------------------------------- */

typedef struct mgr_server mgr_server;
/* Creates a server listening at addr (NULL: a private abstract socket) for
 * the registry (borrowed) and key. NULL with errno. */
mgr_server *mp__mgr_server_new(const mp_address *addr, const mgr_registry *reg,
                               const void *key, size_t keylen);
/* Serves until stopped (or, when parent_pidfd >= 0, until that process
 * ends). Returns 0 or -errno. */
int mp__mgr_server_run(mgr_server *s, int parent_pidfd);
void mp__mgr_server_stop(mgr_server *s);
void mp__mgr_server_free(mgr_server *s);
const mp_address *mp__mgr_server_address(const mgr_server *s);
/* A socket (taken over) whose readability (a byte or a hang-up) stops
 * mp__mgr_server_run: the starting manager's shutdown. */
void mp__mgr_server_set_control(mgr_server *s, int fd);
/* The limits on connections still in their handshake (mp_manager_opts):
 * timeout in seconds (0: MP_MANAGER_HANDSHAKE_TIMEOUT), max (0:
 * MP_MANAGER_MAX_HANDSHAKES). Before mp__mgr_server_run. */
void mp__mgr_server_set_limits(mgr_server *s, double timeout, int max);


/* The server's insides (server.c: transport and threads; dispatch.c: the
 * object table, references and requests). */
typedef struct mgr_entry {
  uint32_t gen;          /* bumped when the slot is freed: stale ids miss */
  const mgr_type *type;  /* NULL: free slot */
  void *ref;             /* the referent */
  long refs;             /* proxies' references, all clients together */
  int pins;              /* calls running without the server lock */
  uint32_t next_free;
} mgr_entry;

typedef struct mgr_client {
  uint64_t uid;
  int nconns;
  struct { uint64_t id; long n; } *held;
  size_t nheld, capheld;
  struct mgr_client *next;
} mgr_client;

typedef struct mgr_sconn mgr_sconn;

struct mgr_server {
  mp_listener *lst;
  mp_address addr;
  const mgr_registry *reg;
  unsigned char key[MP__AUTHKEY_MAX];
  size_t keylen;
  uint64_t uid;
  pthread_mutex_t lock; /* the object table, clients and mp_obj referents */
  mgr_entry *slots;
  uint32_t nslots, free_head;
  size_t nobjects;
  mgr_client *clients;
  mgr_sconn *conns;
  size_t nconns;
  pthread_cond_t idle; /* nconns reached 0 */
  int stop_pipe[2];
  int ctl_fd; /* -1, or see mp__mgr_server_set_control */
  int stopping;
  int spinners; /* connection threads spinning on their channels now */
  int busy;     /* requests being dispatched now */
  /* Connections not yet through the handshake and HELLO: how many, how
   * many may be (more are refused), and how long each has (server.c). */
  int nhandshaking, max_handshaking;
  int64_t handshake_ns;
};

/* One client connection, served by a thread of its own. */
struct mgr_sconn {
  mgr_server *srv;
  mp_conn *conn;
  int fd;
  mgr_chan *chan; /* NULL: requests come as socket frames */
  mgr_client *client;
  uint64_t conn_id;
  uint32_t seen;
  mgr_waiter wait;
  int64_t hs_deadline_ns; /* INT64_MAX once through (or shut down) */
  bool handshaking;       /* counted in nhandshaking; under the lock */
  mgr_sconn *next, *prev;
};

/* Handles one request and writes the reply into *reply. Returns 1 when
 * the request was a shutdown, 0 otherwise (errors go into the reply). */
int mp__mgr_dispatch(mgr_server *s, mgr_sconn *c, const void *req, size_t len,
                     mgr_buf *reply);
/* Drops everything a departed client held (with the server lock held). */
void mp__mgr_client_release(mgr_server *s, mgr_client *cl);
/* Frees all objects (server teardown). */
void mp__mgr_table_free(mgr_server *s);

/* The server's object and connection counts (tests). */
int mp__mgr_info(mp_manager *m, size_t *objects, size_t *conns);
/* Waits (polling, up to `seconds`) until at least n calls other than this
 * one are in progress in the server: a child blocked in a call (tests).
 * Returns 0 or MP_ETIMEOUT. */
int mp__mgr_wait_busy(mp_manager *m, size_t n, double seconds);

/* getpid() without a system call: cached, refreshed in a fork child. */
pid_t mp__mgr_getpid(void);

/* ---- Client -------------------------------------------------------------------------- */

typedef struct mgr_endpoint mgr_endpoint;
/* The endpoint for (addr, key) in this process: a new reference. */
mgr_endpoint *mp__mgr_endpoint_get(const mp_address *addr, const void *key,
                                   size_t keylen);
void mp__mgr_endpoint_put(mgr_endpoint *e);
mgr_endpoint *mp__mgr_endpoint_ref(mgr_endpoint *e);
/* The server's uid, learnt at the first connection (0 before). */
uint64_t mp__mgr_endpoint_server_uid(mgr_endpoint *e);
uint64_t mp__mgr_proxy_id(const mp_proxy *p);
const mp_address *mp__mgr_endpoint_address(const mgr_endpoint *e);
/* Opens a connection now (checks the server is there and the key works). */
int mp__mgr_endpoint_check(mgr_endpoint *e);
/* Drops this process's connections (after the server went away). */
void mp__mgr_endpoint_reset(mgr_endpoint *e);

/* One round trip: sends the request (header + encoded args) and gives
 * back the reply's status and value (a new reference; a token-like list
 * for R_PROXY). Errors are recorded for mp_manager_last_error. */
int mp__mgr_roundtrip(mgr_endpoint *e, int op, uint64_t id, const char *name,
                      mp_obj *args, int *status, mp_obj **value);
/* The same with keyword arguments (a dict, or NULL). */
int mp__mgr_roundtrip_kw(mgr_endpoint *e, int op, uint64_t id,
                         const char *name, mp_obj *args, mp_obj *kwargs,
                         int *status, mp_obj **value);

/* Builds a proxy from an R_PROXY / create / incref reply value:
 * [id, type_id, proxytype, [exposed]]; takes over the reference the server
 * gave this process. */
mp_proxy *mp__mgr_proxy_new(mgr_endpoint *e, const mp_obj *info);

/* Records the calling thread's last error and returns code. */
int mp__mgr_set_error(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- Managers (manager.c; start.c starts their servers) ----------------------------- */

enum { M_INITIAL, M_STARTED, M_CONNECTED, M_SHUTDOWN };

struct mp_manager {
  mgr_registry reg;
  mp_type_def *user; /* the registered types, in order (start.c) */
  size_t nuser;
  mp_address addr;
  bool has_addr;
  unsigned char key[MP__AUTHKEY_MAX];
  size_t keylen;
  void (*initializer)(void *);
  void *initarg;
  double hs_timeout; /* mp_manager_opts' limits on unauthenticated peers */
  int max_handshakes;
  const char *start_method; /* NULL: the default; else method_buf */
  char method_buf[16];
  int state;
  mp_process *proc; /* the server process */
  pid_t pid;
  pid_t starter; /* the process that started it */
  int ctl;       /* the starter's end of a socketpair with the server:
                    the address comes up it, a shutdown byte goes down */
  mp_manager *next_started;
  mgr_endpoint *ep;
  pthread_mutex_t mu;
};

/* A function as it crosses to the server (spawn, forkserver): an mp_obj
 * holding its reference (module build-id + offset; mp_obj_none for NULL),
 * or NULL with *rc set (-EINVAL: not code of a loaded module) or left
 * alone (no memory). */
mp_obj *mp__mgr_fn_obj(const void *fn, int *rc);
/* The function such an mp_obj names in this program (NULL for o NULL or
 * None): 0, MP_EDECODE (not a reference), MP_ESTALE (not in this program). */
int mp__mgr_fn_of(const mp_obj *o, void **fn);

/* Starts m's server process (sets proc, pid, starter, ctl, addr).
 * Returns 0 or a code; nothing is left running on failure. */
int mp__mgr_start_server(mp_manager *m);
/* Shuts the server down (as CPython's finalizer: a shutdown message, then
 * terminate, then kill) and reaps it. */
void mp__mgr_stop_server(mp_manager *m);

#endif
