/* process.c: the process object: creation, attributes, start, join, poll,
 * signals, close and free. How a child comes to life is the start method's
 * business (fork.c); the registry of children, the current and parent
 * objects and the exit function live in children.c; results in result.c.
 * All state changes happen under mp__proc_lock; waits poll the sentinel
 * with the lock released, so several threads may join one process. */
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "context/context_internal.h"
#include "process_internal.h"

static const mp__start_method *const g_methods[] = {
    &mp__method_fork, &mp__method_spawn, &mp__method_forkserver,
    &mp__method_thread};

MP__HOT const mp__start_method *mp__method_find(const char *name, int *err) {
  if (!name)
    name = mp__start_method_default();
  for (size_t i = 0; i < MP__ARRAY_SIZE(g_methods); i++)
    if (strcmp(name, g_methods[i]->name) == 0)
      return g_methods[i];
  *err = -EINVAL;
  return NULL;
}

MP__HOT static bool opts_valid(const mp_process_opts *o) {
  for (size_t i = 0; i < MP__ARRAY_SIZE(o->reserved); i++)
    if (o->reserved[i])
      return false;
  return o->daemon == MP_DAEMON_INHERIT || o->daemon == MP_DAEMON_YES ||
         o->daemon == MP_DAEMON_NO;
}

/* "Process-1:2": the identity path as Python's default name. A process
 * of the thread start method is a thread, named as multiprocessing.dummy
 * (threading) names it: "Thread-N (f)", N counting this program's
 * thread-processes (threading's counter, not the processes'), f the
 * target's name when the symbol tables have it. */
MP__HOT static char *default_name(const unsigned *id, size_t n, bool thread,
                                  mp_target_fn target) {
  static unsigned threads;
  char fn[128] = "";
  size_t cap = 8 + 11 * n + sizeof fn + 4;
  char *s = mp__malloc(cap);
  if (!s)
    return NULL;
  if (!thread) {
    size_t at = (size_t)snprintf(s, cap, "Process-");
    for (size_t i = 0; i < n; i++)
      at += (size_t)snprintf(s + at, cap - at, i ? ":%u" : "%u", id[i]);
    return s;
  }
  unsigned k = __atomic_add_fetch(&threads, 1, __ATOMIC_RELAXED);
  mp__fn_name((const void *)target, fn, sizeof fn);
  snprintf(s, cap, *fn ? "Thread-%u (%s)" : "Thread-%u", k, fn);
  return s;
}

MP__HOT MP_EXPORT mp_process *mp_process_new(mp_target_fn target, const void *arg,
                                     size_t len, const mp_process_opts *opts) {
  static const mp_process_opts defaults = MP_PROCESS_OPTS_INIT;
  if (!opts)
    opts = &defaults;
  if (!target || (!arg && len) || !opts_valid(opts)) {
    errno = EINVAL;
    return NULL;
  }
  int err = 0;
  const mp__start_method *method = mp__method_find(opts->start_method, &err);
  if (!method) {
    errno = -err;
    return NULL;
  }
  mp_process *cur = mp_current_process();
  mp_process *p = mp__calloc(1, sizeof *p);
  if (!p)
    goto oom;
  p->kind = MP__PROC_CHILD;
  p->method = method;
  p->parent_pid = mp__proc_getpid();
  p->refs = 1;
  p->state = MP__ST_INITIAL;
  p->pidfd = -1;
  p->slot = -1;
  p->result_state = -1;
  p->target = target;
  p->len = len;
  if (len && !(p->arg = mp__memdup(arg, len)))
    goto oom;

  /* Python numbers a child when it is created, not when it starts. */
  mp__self *self = mp__self_get();
  unsigned nth = __atomic_add_fetch(&self->child_counter, 1, __ATOMIC_RELAXED);
  p->identity_len = cur->identity_len + 1;
  p->identity = mp__calloc(p->identity_len, sizeof *p->identity);
  if (!p->identity)
    goto oom;
  if (cur->identity_len)
    memcpy(p->identity, cur->identity, cur->identity_len * sizeof *p->identity);
  p->identity[cur->identity_len] = nth;
  p->name = opts->name ? mp__strdup(opts->name)
                       : default_name(p->identity, p->identity_len,
                                      method == &mp__method_thread, target);
  if (!p->name)
    goto oom;
  p->daemon = opts->daemon == MP_DAEMON_INHERIT ? mp_process_daemon(cur)
                                                : opts->daemon == MP_DAEMON_YES;
  size_t klen;
  const unsigned char *key = mp_process_authkey(cur, &klen);
  memcpy(p->authkey, key, klen);
  p->authkey_len = klen;
  return p;
oom:
  mp__proc_destroy(p);
  errno = ENOMEM;
  return NULL;
}

/* MP_ESTATE, with CPython's words for why in this thread's error record
 * (mp_last_error). verb: the call refused ("start", "join"). */
static int state_error(const mp_process *p, const char *verb) {
  if (p->closed)
    return mp__error_record(MP_ESTATE, "ValueError: process object is closed");
  if (p->kind != MP__PROC_CHILD || p->parent_pid != mp__proc_getpid() ||
      mp__proc_is_current(p))
    return mp__error_record(MP_ESTATE, "AssertionError: can only %s a child "
                                       "process", verb);
  if (p->state == MP__ST_INITIAL)
    return mp__error_record(MP_ESTATE, "AssertionError: can only %s a "
                                       "started process", verb);
  return mp__error_record(MP_ESTATE, "AssertionError: cannot %s a process "
                                     "twice", verb);
}

MP__HOT bool mp__proc_is_ours(const mp_process *p) {
  return p->kind == MP__PROC_CHILD && p->parent_pid == mp__proc_getpid() &&
         !mp__proc_is_current(p);
}

MP__HOT MP_EXPORT int mp_process_start(mp_process *p) {
  if (!p)
    return -EINVAL;
  mp__proc_lock();
  int r = 0;
  if (p->closed || p->state != MP__ST_INITIAL || !mp__proc_is_ours(p))
    r = state_error(p, "start");
  else if (mp_process_daemon(mp_current_process()))
    r = mp__error_record(MP_EDAEMON, "AssertionError: daemonic processes are "
                                     "not allowed to have children");
  else {
    mp__children_reap();
    r = mp__result_slot_take(p);
  }
  /* Claim the object: a second start from another thread sees STARTED. */
  if (r == 0)
    p->state = MP__ST_STARTED;
  mp__proc_unlock();
  if (r)
    return r;

  mp__started st;
  r = p->method->start(p, &st);

  mp__proc_lock();
  if (r < 0) {
    p->state = MP__ST_INITIAL;
    mp__result_slot_drop(p);
  } else {
    /* The argument copy stays until free: freeing it here would write
     * the allocator's pages while the child still shares them. */
    p->pid = st.pid;
    p->pidfd = st.pidfd;
    p->pair = st.pair;
    p->mdata = st.mdata;
    /* The child has its passed descriptors now (inherited or sent): close
     * ours, so that a connection end passed to it sees its peer's EOF. A
     * thread-process reads ours until it ends (thread.c). */
    if (p->passed && p->method != &mp__method_thread) {
      mp__passed_free(p->passed);
      p->passed = NULL;
    }
    mp__children_add(p);
  }
  mp__proc_unlock();
  return r;
}

MP__HOT int mp__proc_poll_locked(mp_process *p) {
  if (p->state == MP__ST_ENDED)
    return 1;
  if (p->state != MP__ST_STARTED || p->pidfd < 0)
    return 0;
  if (!p->method->poll(p))
    return 0;
  mp__children_remove(p);
  return 1;
}

/* The parent process object: alive until its pidfd turns readable. */
static int parent_wait(mp_process *p, const mp__deadline *dl) {
  int fd = mp_process_sentinel(p);
  if (fd < 0)
    return fd;
  int r = mp__poll1(fd, POLLIN, dl);
  return r < 0 ? r : r ? 0 : MP_ETIMEOUT;
}

MP__HOT MP_EXPORT int mp_process_join(mp_process *p, double timeout) {
  if (!p)
    return -EINVAL;
  mp__deadline dl;
  if (mp__deadline_init(&dl, timeout) < 0)
    return -EINVAL;
  if (p->kind == MP__PROC_PARENT)
    return parent_wait(p, &dl);
  for (;;) {
    mp__proc_lock();
    int r = 0;
    if (p->closed || !mp__proc_is_ours(p) || p->state == MP__ST_INITIAL)
      r = state_error(p, "join");
    else if (p->state != MP__ST_ENDED)
      r = MP_ETIMEOUT;
    int fd = p->pidfd;
    mp__proc_unlock();
    if (r != MP_ETIMEOUT)
      return r;
    /* Wait without the lock (the pidfd turns readable when the child
     * ends), then reap under it. */
    int ev = mp__poll1(fd, POLLIN, &dl);
    if (ev < 0)
      return ev;
    mp__proc_lock();
    int ended = mp__proc_poll_locked(p);
    mp__proc_unlock();
    if (ended)
      return 0;
    if (ev == 0)
      return MP_ETIMEOUT;
    /* A socket-pair sentinel (sentinel.c) turns readable as the child
     * closes its descriptors, a moment before it can be reaped. */
    if (p->pair)
      usleep(1000);
  }
}

MP_EXPORT int mp_process_is_alive(mp_process *p) {
  if (!p)
    return -EINVAL;
  if (p->kind == MP__PROC_MAIN || mp__proc_is_current(p))
    return 1;
  if (p->kind == MP__PROC_PARENT) {
    mp__deadline now = {0};
    return parent_wait(p, &now) == MP_ETIMEOUT;
  }
  mp__proc_lock();
  /* Closed: the state error, as every other method (Python's ValueError). */
  int alive = p->closed ? state_error(p, "test")
                        : (mp__proc_is_ours(p) && p->state == MP__ST_STARTED &&
                           !mp__proc_poll_locked(p));
  mp__proc_unlock();
  return alive;
}

MP_EXPORT pid_t mp_process_pid(const mp_process *p) {
  if (!p)
    return 0;
  if (p->kind == MP__PROC_MAIN || mp__proc_is_current(p))
    return mp__proc_getpid();
  return p->closed ? 0 : p->pid;
}

MP_EXPORT int mp_process_exitcode(mp_process *p, int *code) {
  if (!p || !code)
    return -EINVAL;
  mp__proc_lock();
  int r = 0;
  if (p->closed)
    r = state_error(p, "read the exit code of");
  else if (mp__proc_is_ours(p) && mp__proc_poll_locked(p) && p->exit_known) {
    *code = p->exitcode;
    r = 1;
  }
  mp__proc_unlock();
  return r;
}

MP_EXPORT const char *mp_process_name(const mp_process *p) {
  if (!p)
    return "";
  return p->kind == MP__PROC_MAIN ? mp__self_name() : p->name;
}

MP_EXPORT int mp_process_set_name(mp_process *p, const char *name) {
  if (!p || !name)
    return -EINVAL;
  char *copy = mp__strdup(name);
  if (!copy)
    return -ENOMEM;
  mp__proc_lock();
  char *old = p->name;
  p->name = copy;
  if (p->kind == MP__PROC_MAIN || mp__proc_is_current(p)) {
    mp__self *self = mp__self_get();
    snprintf(self->name, sizeof self->name, "%s", name);
  }
  mp__proc_unlock();
  mp__free(old);
  return 0;
}

/* Whether p's daemon flag and authkey are this process's (mp__self): for
 * the main process's object and a real child's own. A thread-process's
 * (the thread start method) stay on its object: its program is another's. */
static bool uses_self(const mp_process *p) {
  return p->kind == MP__PROC_MAIN ||
         (mp__proc_is_current(p) && p->method != &mp__method_thread);
}

MP_EXPORT int mp_process_daemon(const mp_process *p) {
  if (!p)
    return 0;
  if (uses_self(p))
    return mp__self_get()->daemon;
  return p->daemon;
}

MP_EXPORT int mp_process_set_daemon(mp_process *p, int daemon) {
  if (!p)
    return -EINVAL;
  mp__proc_lock();
  int r = 0;
  if (p->kind == MP__PROC_PARENT || p->closed ||
      (p->kind == MP__PROC_CHILD && !mp__proc_is_current(p) &&
       p->state != MP__ST_INITIAL))
    r = MP_ESTATE;
  else if (uses_self(p))
    mp__self_get()->daemon = daemon != 0;
  else
    p->daemon = daemon != 0;
  mp__proc_unlock();
  return r;
}

MP_EXPORT const unsigned char *mp_process_authkey(const mp_process *p,
                                                  size_t *len) {
  const unsigned char *key;
  size_t n;
  if (!p || p->kind != MP__PROC_CHILD || uses_self(p)) {
    mp__self *self = mp__self_get();
    key = self->authkey;
    n = self->authkey_len;
  } else {
    key = p->authkey;
    n = p->authkey_len;
  }
  if (len)
    *len = n;
  return key;
}

MP_EXPORT int mp_process_set_authkey(mp_process *p, const void *key,
                                     size_t len) {
  if (!p || (!key && len) || len > MP__AUTHKEY_MAX)
    return -EINVAL;
  mp__proc_lock();
  if (p->kind != MP__PROC_CHILD || uses_self(p)) {
    mp__self *self = mp__self_get();
    if (len)
      memcpy(self->authkey, key, len);
    self->authkey_len = len;
  } else {
    if (len)
      memcpy(p->authkey, key, len);
    p->authkey_len = len;
  }
  mp__proc_unlock();
  return 0;
}

static int send_signal(mp_process *p, int sig) {
  if (!p)
    return -EINVAL;
  mp__proc_lock();
  int r;
  if (p->closed || !mp__proc_is_ours(p) || p->state == MP__ST_INITIAL)
    r = state_error(p, "signal");
  else if (p->state == MP__ST_ENDED)
    r = 0;
  else
    r = p->method->send_signal(p, sig);
  mp__proc_unlock();
  return r;
}

MP_EXPORT int mp_process_terminate(mp_process *p) {
  return send_signal(p, SIGTERM);
}

MP_EXPORT int mp_process_kill(mp_process *p) { return send_signal(p, SIGKILL); }

MP_EXPORT int mp_process_close(mp_process *p) {
  if (!p)
    return -EINVAL;
  if (p->kind != MP__PROC_CHILD || mp__proc_is_current(p))
    return state_error(p, "close");
  mp__proc_lock();
  int r = 0;
  if (p->state == MP__ST_STARTED && !mp__proc_poll_locked(p))
    r = mp__error_record(MP_ESTATE, "ValueError: Cannot close a process while "
                                    "it is still running. You should first "
                                    "call join() or terminate().");
  if (r == 0 && !p->closed) {
    p->closed = true;
    mp__close(p->pidfd);
    p->pidfd = -1;
  }
  mp__proc_unlock();
  return r;
}

MP__HOT MP_EXPORT void mp_process_free(mp_process *p) {
  if (!p || p->kind != MP__PROC_CHILD || mp__proc_is_current(p))
    return;
  mp__proc_lock();
  mp__proc_unref(p);
  mp__proc_unlock();
}

MP__HOT void mp__proc_destroy(mp_process *p) {
  if (!p)
    return;
  if (p->mdata && p->method->release)
    p->method->release(p);
  mp__passed_free(p->passed);
  mp__close(p->pidfd);
  mp__result_release(p);
  mp__free(p->arg);
  mp__free(p->name);
  mp__free(p->identity);
  mp__free(p);
}

/* ---- describe: Python's repr ---------------------------------------------- */

typedef struct {
  char *buf;
  size_t n, len; /* capacity, length of the full text */
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *at = t->len < t->n ? t->buf + t->len : NULL;
  int r = vsnprintf(at, at ? t->n - t->len : 0, fmt, ap);
  va_end(ap);
  if (r > 0)
    t->len += (size_t)r;
}

/* Python's repr() of a str: single quotes unless the text holds ' and no ",
 * backslash escapes for the quote, backslash and control characters. */
static void put_repr(text *t, const char *s) {
  char q = strchr(s, '\'') && !strchr(s, '"') ? '"' : '\'';
  put(t, "%c", q);
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    if (*c == q || *c == '\\')
      put(t, "\\%c", *c);
    else if (*c == '\n')
      put(t, "\\n");
    else if (*c == '\r')
      put(t, "\\r");
    else if (*c == '\t')
      put(t, "\\t");
    else if (*c < 0x20 || *c == 0x7f)
      put(t, "\\x%02x", *c);
    else
      put(t, "%c", *c);
  }
  put(t, "%c", q);
}

/* Python's signal.Signals names, for exitcode=-SIGTERM. */
static const char *signal_name(int sig) {
  static const char *const names[] = {
      NULL,       "SIGHUP",  "SIGINT",    "SIGQUIT", "SIGILL",    "SIGTRAP",
      "SIGABRT",  "SIGBUS",  "SIGFPE",    "SIGKILL", "SIGUSR1",   "SIGSEGV",
      "SIGUSR2",  "SIGPIPE", "SIGALRM",   "SIGTERM", "SIGSTKFLT", "SIGCHLD",
      "SIGCONT",  "SIGSTOP", "SIGTSTP",   "SIGTTIN", "SIGTTOU",   "SIGURG",
      "SIGXCPU",  "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH",  "SIGIO",
      "SIGPWR",   "SIGSYS"};
  if (sig > 0 && sig < (int)MP__ARRAY_SIZE(names))
    return names[sig];
  if (sig == SIGRTMIN)
    return "SIGRTMIN";
  if (sig == SIGRTMAX)
    return "SIGRTMAX";
  return NULL;
}

MP_EXPORT int mp_process_describe(mp_process *p, char *buf, size_t n) {
  if (!p || (!buf && n))
    return -EINVAL;
  text t = {buf, n, 0};
  if (n)
    buf[0] = '\0';
  static const char *const type[] = {"Process", "_MainProcess",
                                     "_ParentProcess"};
  mp__proc_lock();
  const char *status;
  bool show_pid = false, show_code = false;
  if (p->kind == MP__PROC_MAIN || mp__proc_is_current(p))
    status = "started";
  else if (p->closed)
    status = "closed";
  else if (p->kind == MP__PROC_PARENT || p->parent_pid != mp__proc_getpid())
    status = "unknown";
  else if (p->state == MP__ST_INITIAL)
    status = "initial";
  else {
    show_pid = true;
    status = mp__proc_poll_locked(p) ? "stopped" : "started";
    show_code = p->state == MP__ST_ENDED && p->exit_known;
  }
  put(&t, "<%s name=", type[p->kind]);
  put_repr(&t, mp_process_name(p));
  if (show_pid)
    put(&t, " pid=%d", (int)p->pid);
  if (p->kind == MP__PROC_CHILD)
    put(&t, " parent=%d", (int)p->parent_pid);
  else
    put(&t, " parent=None");
  put(&t, " %s", status);
  if (show_code) {
    const char *sig = p->exitcode < 0 ? signal_name(-p->exitcode) : NULL;
    if (sig)
      put(&t, " exitcode=-%s", sig);
    else
      put(&t, " exitcode=%d", p->exitcode);
  }
  if (mp_process_daemon(p))
    put(&t, " daemon");
  put(&t, ">");
  mp__proc_unlock();
  return t.len > INT32_MAX ? -EOVERFLOW : (int)t.len;
}
