/* start.c: starting a manager's server process (Python's BaseManager.start
 * and _run_server) as an mp_process, so that it honours the start method:
 * the manager options' start_method, else mp_set_start_method's default.
 *
 * - fork and thread: the child has (fork: a copy of; thread: the very)
 *   manager object, so the argument bytes carry its address.
 * - spawn and forkserver: a fresh program image has none of the parent's
 *   memory, so the argument bytes carry the manager as data: address,
 *   authkey, the initializer and every type registered with
 *   mp_manager_register, each function as a reference that survives exec
 *   (module build-id + offset, context/context_internal.h). Pointers to
 *   data cannot cross (a type's ctx, the initarg): start refuses them.
 *
 * The child reports {status, address} up a socketpair passed to it
 * (mp_process_pass_fd, the same for every method); the parent keeps its
 * end as the control channel: a shutdown is one byte down it. The server
 * ends on that byte, on a shutdown request from a client, or when the
 * starting process ends (its pidfd, the parent process's sentinel). A
 * process-exit hook shuts down every manager this process started before
 * its children are joined, as CPython's manager finalizer. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "context/context_internal.h"
#include "manager/manager_internal.h"
#include "process/process_internal.h"

enum { ARG_MAGIC = 0x4d675372 /* "rSgM" */, ARG_POINTER = 1, ARG_DATA = 2 };

/* The head of the argument bytes; ARG_DATA: MessagePack follows. */
typedef struct {
  uint32_t magic, kind;
  pid_t starter;
  mp_manager *m; /* ARG_POINTER */
} arg_head;

typedef struct {
  int status;
  mp_address addr;
} report;

/* ---- The manager as data (spawn, forkserver) -------------------------------- */

mp_obj *mp__mgr_fn_obj(const void *fn, int *rc) {
  if (!fn)
    return mp_obj_none();
  mp__fnref r;
  int e = mp__fnref_make(fn, &r);
  if (e < 0) {
    *rc = e;
    return NULL;
  }
  return mp_obj_bytes(&r, sizeof r);
}

static mp_obj *type_obj(const mp_type_def *d, int *rc) {
  if (d->ctx) {
    *rc = mp__mgr_set_error(-EINVAL, "type '%s': a ctx pointer cannot cross "
                            "exec (start method spawn/forkserver)",
                            d->type_id);
    return NULL;
  }
  mp_obj *methods = mp_obj_list_new(), *exposed = mp_obj_none();
  for (size_t i = 0; methods && i < d->n_methods; i++) {
    mp_obj *f = mp__mgr_fn_obj((const void *)d->methods[i].fn, rc);
    mp_obj *e = f ? mp_obj_build("[s X s]", d->methods[i].name, f,
                                 d->methods[i].result_typeid)
                  : NULL;
    if (!e || mp_obj_list_append_steal(methods, e) < 0) {
      mp_obj_unref(methods);
      methods = NULL;
    }
  }
  if (methods && d->exposed) {
    mp_obj_unref(exposed);
    exposed = mp_obj_list_new();
    for (size_t i = 0; exposed && i < d->n_exposed; i++)
      if (mp_obj_list_append_steal(exposed, mp_obj_str(d->exposed[i])) < 0) {
        mp_obj_unref(exposed);
        exposed = NULL;
      }
  }
  mp_obj *c = mp__mgr_fn_obj((const void *)d->create, rc);
  mp_obj *x = c ? mp__mgr_fn_obj((const void *)d->destroy, rc) : NULL;
  mp_obj *r = x ? mp__mgr_fn_obj((const void *)d->repr, rc) : NULL;
  if (!methods || !exposed || !c || !x || !r) {
    mp_obj_unref(methods);
    mp_obj_unref(exposed);
    mp_obj_unref(c);
    mp_obj_unref(x);
    mp_obj_unref(r);
    if (*rc == 0)
      *rc = -ENOMEM;
    return NULL;
  }
  return mp_obj_build("[s X X X X s X s K]", d->type_id, c, x, r, methods,
                      d->methods_of, exposed, d->proxytype,
                      (unsigned long long)d->flags);
}

/* Encodes what a fresh image needs into a new buffer after the head. */
static int encode_manager(const mp_manager *m, void **buf, size_t *len) {
  if (m->initarg)
    return mp__mgr_set_error(-EINVAL, "the initializer's argument cannot "
                             "cross exec (start method spawn/forkserver)");
  int rc = 0;
  mp_obj *types = mp_obj_list_new();
  for (size_t i = 0; types && i < m->nuser; i++) {
    mp_obj *t = type_obj(&m->user[i], &rc);
    if (!t || mp_obj_list_append_steal(types, t) < 0) {
      mp_obj_unref(types);
      types = NULL;
    }
  }
  mp_obj *init = types ? mp__mgr_fn_obj((const void *)m->initializer, &rc) : NULL;
  mp_obj *o = init ? mp_obj_build("[y# b y# X X d i]", &m->addr, sizeof m->addr,
                                  (int)m->has_addr, m->key, m->keylen, init,
                                  types, m->hs_timeout, m->max_handshakes)
                   : NULL;
  if (!init)
    mp_obj_unref(types);
  if (!o)
    return rc < 0 ? rc : -ENOMEM;
  arg_head h = {.magic = ARG_MAGIC, .kind = ARG_DATA,
                .starter = mp__mgr_getpid()};
  size_t cap = 0;
  *buf = NULL;
  *len = 0;
  rc = mp_obj_encode_append(o, buf, len, &cap);
  mp_obj_unref(o);
  char *all = rc == 0 ? mp__malloc(sizeof h + *len) : NULL;
  if (all) {
    memcpy(all, &h, sizeof h);
    memcpy(all + sizeof h, *buf, *len);
  }
  mp_free(*buf);
  *buf = all;
  *len += sizeof h;
  return rc < 0 ? rc : all ? 0 : -ENOMEM;
}

/* The decoded manager of a fresh image: owns the tables it registers. */
typedef struct {
  mp_manager m;
  mp_method_def **tables;
  const char ***exposed;
  size_t n;
} decoded;

static const char *str_or_null(mp_obj *o) {
  const char *s;
  size_t n;
  return mp_obj_str_value(o, &s, &n) == 0 ? s : NULL;
}

int mp__mgr_fn_of(const mp_obj *o, void **fn) {
  const void *p;
  size_t n;
  *fn = NULL;
  if (!o || mp_obj_get_type(o) == MP_OBJ_NONE)
    return 0;
  if (mp_obj_bytes_value(o, &p, &n) < 0 || n != sizeof(mp__fnref))
    return MP_EDECODE;
  mp__fnref r;
  memcpy(&r, p, sizeof r);
  return mp__fnref_resolve(&r, fn);
}

static void decoded_free(decoded *d) {
  for (size_t i = 0; i < d->n; i++) {
    mp__free(d->tables[i]);
    mp__free(d->exposed[i]);
  }
  mp__free(d->tables);
  mp__free(d->exposed);
  mp__mgr_registry_free(&d->m.reg);
}

/* Registers one decoded type; the strings stay in obj (kept alive). */
static int decode_type(decoded *d, mp_obj *t) {
  mp_obj *f[9];
  for (int i = 0; i < 9; i++)
    if (mp_obj_list_get(t, i, &f[i]) < 0)
      return MP_EDECODE;
  mp_type_def def = {.type_id = str_or_null(f[0]),
                     .methods_of = str_or_null(f[5]),
                     .proxytype = str_or_null(f[7])};
  int64_t flags = 0;
  void *c, *x, *r;
  int rc = mp_obj_int_value(f[8], &flags);
  if (rc == 0 && (rc = mp__mgr_fn_of(f[1], &c)) == 0 && (rc = mp__mgr_fn_of(f[2], &x)) == 0)
    rc = mp__mgr_fn_of(f[3], &r);
  if (rc < 0)
    return rc;
  def.flags = (unsigned)flags;
  def.create = (int (*)(void *, mp_method_call *))c;
  def.destroy = (void (*)(void *))x;
  def.repr = (int (*)(void *, char **))r;
  size_t nm = mp_obj_list_len(f[4]);
  size_t nx = mp_obj_get_type(f[6]) == MP_OBJ_NONE ? 0 : mp_obj_list_len(f[6]);
  mp_method_def *tab = mp__calloc(nm ? nm : 1, sizeof *tab);
  const char **ex = mp__calloc(nx ? nx : 1, sizeof *ex);
  d->tables[d->n] = tab;
  d->exposed[d->n] = ex;
  d->n++;
  if (!tab || !ex)
    return -ENOMEM;
  for (size_t i = 0; i < nm; i++) {
    mp_obj *e, *name, *fn, *res;
    void *p;
    if (mp_obj_list_get(f[4], (ptrdiff_t)i, &e) < 0 ||
        mp_obj_list_get(e, 0, &name) < 0 || mp_obj_list_get(e, 1, &fn) < 0 ||
        mp_obj_list_get(e, 2, &res) < 0)
      return MP_EDECODE;
    if ((rc = mp__mgr_fn_of(fn, &p)) < 0)
      return rc;
    tab[i] = (mp_method_def){str_or_null(name), (mp_method_fn)p,
                             str_or_null(res)};
  }
  for (size_t i = 0; i < nx; i++) {
    mp_obj *e;
    if (mp_obj_list_get(f[6], (ptrdiff_t)i, &e) < 0)
      return MP_EDECODE;
    ex[i] = str_or_null(e);
  }
  def.methods = tab;
  def.n_methods = nm;
  def.exposed = mp_obj_get_type(f[6]) == MP_OBJ_NONE ? NULL : ex;
  def.n_exposed = nx;
  return mp__mgr_registry_add(&d->m.reg, &def);
}

/* Rebuilds the manager from its data; the strings live in *o (keep it). */
static int decode_manager(const void *buf, size_t len, decoded *d,
                          mp_obj **o) {
  memset(d, 0, sizeof *d);
  int rc = mp_obj_decode(buf, len, o);
  if (rc < 0)
    return rc;
  mp_obj *addr, *has, *key, *init, *types;
  const void *p, *k;
  size_t n, kn;
  if (mp_obj_list_get(*o, 0, &addr) < 0 || mp_obj_list_get(*o, 1, &has) < 0 ||
      mp_obj_list_get(*o, 2, &key) < 0 || mp_obj_list_get(*o, 3, &init) < 0 ||
      mp_obj_list_get(*o, 4, &types) < 0 ||
      mp_obj_bytes_value(addr, &p, &n) < 0 || n != sizeof(mp_address) ||
      mp_obj_bytes_value(key, &k, &kn) < 0 || kn > MP__AUTHKEY_MAX)
    return MP_EDECODE;
  memcpy(&d->m.addr, p, n);
  d->m.has_addr = mp_obj_truthy(has);
  memcpy(d->m.key, k, kn);
  d->m.keylen = kn;
  mp_obj *hst, *hsm;
  int64_t max = 0;
  if (mp_obj_list_get(*o, 5, &hst) < 0 || mp_obj_float_value(hst, &d->m.hs_timeout) < 0 ||
      mp_obj_list_get(*o, 6, &hsm) < 0 || mp_obj_int_value(hsm, &max) < 0 || max < 0 ||
      max > INT32_MAX)
    return MP_EDECODE;
  d->m.max_handshakes = (int)max;
  void *fn;
  if ((rc = mp__mgr_fn_of(init, &fn)) < 0)
    return rc;
  d->m.initializer = (void (*)(void *))fn;
  if ((rc = mp__mgr_registry_init(&d->m.reg)) < 0)
    return rc;
  size_t nt = mp_obj_list_len(types);
  d->tables = mp__calloc(nt ? nt : 1, sizeof *d->tables);
  d->exposed = mp__calloc(nt ? nt : 1, sizeof *d->exposed);
  if (!d->tables || !d->exposed)
    return -ENOMEM;
  for (size_t i = 0; i < nt && rc == 0; i++) {
    mp_obj *t;
    rc = mp_obj_list_get(types, (ptrdiff_t)i, &t) < 0 ? MP_EDECODE
                                                      : decode_type(d, t);
  }
  return rc;
}

/* ---- The server's side --------------------------------------------------------- */

static int server_target(void *arg, size_t len) {
  arg_head h;
  if (len < sizeof h)
    return 1;
  memcpy(&h, arg, sizeof h);
  if (h.magic != ARG_MAGIC)
    return 1;
  int ctl = fcntl(mp_inherited_fd(0), F_DUPFD_CLOEXEC, 3);
  if (ctl < 0)
    return 1;
  /* thread: the starting process itself; leave its signals alone. */
  bool same = mp__mgr_getpid() == h.starter;
  if (!same) {
    signal(SIGINT, SIG_IGN); /* as CPython's server: Ctrl-C is the parent's */
    signal(SIGPIPE, SIG_IGN);
  }
  decoded d;
  mp_obj *data = NULL;
  const mp_manager *m = h.m;
  report rep = {0};
  if (h.kind == ARG_DATA) {
    rep.status = decode_manager((char *)arg + sizeof h, len - sizeof h, &d,
                                &data);
    m = &d.m;
  }
  if (rep.status == 0 && m->initializer)
    m->initializer(m->initarg);
  mgr_server *s = NULL;
  if (rep.status == 0) {
    s = mp__mgr_server_new(m->has_addr ? &m->addr : NULL, &m->reg, m->key,
                           m->keylen);
    if (!s)
      rep.status = mp_errno_code(errno);
    else
      mp__mgr_server_set_limits(s, m->hs_timeout, m->max_handshakes);
  }
  if (s)
    rep.addr = *mp__mgr_server_address(s);
  if (s) { /* before the report: the parent's next lines come after it */
    char where[MP_ADDRESS_PATH_MAX + MP_ADDRESS_HOST_MAX + 16];
    mp_address_format(&rep.addr, where, sizeof where);
    mp_log(MP_LOG_INFO, "manager serving at %s", where);
  }
  if (mp__write_full(ctl, &rep, sizeof rep) < 0 && s) {
    mp__mgr_server_free(s);
    s = NULL;
  }
  if (s) {
    mp__mgr_server_set_control(s, ctl);
    ctl = -1;
    mp_process *parent = same ? NULL : mp_parent_process();
    mp__mgr_server_run(s, parent ? mp_process_sentinel(parent) : -1);
    /* A process ends here (its connection threads with it); a thread
     * must stop them and free everything. */
    if (same)
      mp__mgr_server_free(s);
  }
  if (ctl >= 0)
    mp__close(ctl);
  if (h.kind == ARG_DATA && (same || !s)) {
    decoded_free(&d);
    mp_obj_unref(data);
  }
  return rep.status < 0 ? 1 : 0;
}

/* ---- The starting side ------------------------------------------------------------ */

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static mp_manager *g_started; /* managers this process started */
static bool g_hooked;

static void at_exit(void) {
  for (;;) {
    pthread_mutex_lock(&g_mu);
    mp_manager **pp = &g_started;
    while (*pp && (*pp)->starter != mp__mgr_getpid())
      pp = &(*pp)->next_started;
    mp_manager *m = *pp;
    if (m)
      *pp = m->next_started;
    pthread_mutex_unlock(&g_mu);
    if (!m)
      return;
    mp_manager_shutdown(m);
  }
}

void mp__mgr_unlink_started(mp_manager *m) {
  pthread_mutex_lock(&g_mu);
  for (mp_manager **pp = &g_started; *pp; pp = &(*pp)->next_started)
    if (*pp == m) {
      *pp = m->next_started;
      break;
    }
  pthread_mutex_unlock(&g_mu);
}

/* Waits for the child's report (or its end). */
static int read_report(mp_process *p, int fd, report *rep) {
  struct pollfd pf[2] = {{.fd = fd, .events = POLLIN},
                         {.fd = mp_process_sentinel(p), .events = POLLIN}};
  for (;;) {
    int n = poll(pf, 2, -1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -errno;
    if (pf[0].revents)
      break;
    if (pf[1].revents)
      return MP_EEOF;
  }
  ssize_t n = mp__read_full(fd, rep, sizeof *rep);
  return n == (ssize_t)sizeof *rep ? rep->status : MP_EEOF;
}

/* Names the process as CPython does: SyncManager-<its identity>, taken
 * from the default name ("Process-1", or "Thread-1 (serve)" when the
 * server is a thread). */
static void name_it(mp_process *p) {
  const char *n = mp_process_name(p);
  const char *id = n ? strchr(n, '-') : NULL;
  if (!id)
    return;
  char buf[128];
  snprintf(buf, sizeof buf, "SyncManager%.*s", (int)strcspn(id, " "), id);
  mp_process_set_name(p, buf);
}

int mp__mgr_start_server(mp_manager *m) {
  const char *method = m->start_method;
  if (!method) /* Python's ctx=None: the default context */
    method = mp_get_start_method(false);
  bool fresh = !strcmp(method, MP_START_SPAWN) ||
               !strcmp(method, MP_START_FORKSERVER);
  void *arg = NULL;
  size_t len = 0;
  arg_head h = {.magic = ARG_MAGIC, .kind = ARG_POINTER,
                .starter = mp__mgr_getpid(), .m = m};
  int rc = fresh ? encode_manager(m, &arg, &len) : 0;
  if (rc < 0)
    return rc;
  mp_process_opts po = {.daemon = MP_DAEMON_NO, .start_method = method};
  mp_process *p = fresh ? mp_process_new(server_target, arg, len, &po)
                        : mp_process_new(server_target, &h, sizeof h, &po);
  mp__free(arg);
  if (!p)
    return mp_errno_code(errno);
  name_it(p);
  int sp[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
    rc = -errno;
    mp_process_free(p);
    return rc;
  }
  rc = mp_process_pass_fd(p, sp[1]);
  if (rc >= 0)
    rc = mp_process_start(p);
  mp__close(sp[1]);
  report rep;
  if (rc >= 0)
    rc = read_report(p, sp[0], &rep);
  if (rc < 0) {
    mp__close(sp[0]);
    if (mp_process_is_alive(p) == 1) {
      mp_process_kill(p);
      mp_process_join(p, MP_FOREVER);
    }
    mp_process_free(p);
    return rc;
  }
  m->proc = p;
  m->pid = mp_process_pid(p);
  m->ctl = sp[0];
  m->starter = h.starter;
  m->addr = rep.addr;
  m->has_addr = true;
  pthread_mutex_lock(&g_mu);
  if (!g_hooked)
    g_hooked = mp__at_process_exit(at_exit) == 0;
  m->next_started = g_started;
  g_started = m;
  pthread_mutex_unlock(&g_mu);
  return 0;
}

void mp__mgr_stop_server(mp_manager *m) {
  if (mp_process_is_alive(m->proc) == 1) {
    mp_log(MP_LOG_INFO, "sending shutdown message to manager");
    char b = 'S';
    (void)!send(m->ctl, &b, 1, MSG_NOSIGNAL);
    if (mp_process_join(m->proc, 1.0) == MP_ETIMEOUT) {
      mp_log(MP_LOG_INFO, "manager still alive");
      mp_log(MP_LOG_INFO, "trying to `terminate()` manager process");
      if (mp_process_terminate(m->proc) == 0 &&
          mp_process_join(m->proc, 1.0) == MP_ETIMEOUT) {
        mp_log(MP_LOG_INFO, "manager still alive after terminate");
        mp_process_kill(m->proc);
      }
      mp_process_join(m->proc, MP_FOREVER);
    }
  }
  mp_process_join(m->proc, MP_FOREVER);
  mp_process_free(m->proc);
  m->proc = NULL;
  mp__close(m->ctl);
  m->ctl = -1;
  mp__mgr_unlink_started(m);
}

mp_manager *mp_context_manager_new(mp_context *ctx,
                                   const mp_manager_opts *opts) {
  if (!ctx) {
    errno = EINVAL;
    return NULL;
  }
  const char *method = mp_context_start_method(ctx);
  mp_manager_opts o = opts ? *opts : (mp_manager_opts){0};
  if (o.start_method && strcmp(o.start_method, method)) {
    errno = EINVAL;
    return NULL;
  }
  o.start_method = method;
  return mp_manager_start_new(&o);
}
