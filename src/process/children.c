/* children.c: what a process knows about its family: the registry of the
 * children it started (for active_children, reaping and the exit function),
 * the objects for itself and its parent, the lock that guards all process
 * state, the rebuild of that state in a new child, and the hooks other
 * areas run there.
 *
 * The registry holds a reference to each started child until it is
 * reaped, so a user may free a running process (Python's "drop the
 * object") and the child is still reaped and, at exit, joined. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "process_internal.h"

static mp_process g_main = {
    .kind = MP__PROC_MAIN,
    .state = MP__ST_STARTED,
    .pidfd = -1,
    .slot = -1,
    .result_state = -1,
};

/* Everything a new child rewrites, on one page: after fork each page
 * written costs a copy-on-write fault, in the child and the parent alike,
 * and those faults are most of what start+join costs beyond fork itself. */
static struct {
  pthread_mutex_t lock;
  mp_process *children; /* started, not yet reaped */
  mp_process *current;  /* NULL in the main process */
  pid_t pid;            /* getpid(), cached; 0 = not known yet */
  bool has_parent;
  bool exiting;
  mp__arena *arenas; /* result arenas of our children (result.c) */
  int unwaitable;    /* registered children waitid cannot see (thread, ...) */
  /* What a fork child forgets of its parent's (and their parents') state:
   * still in this copy of the heap, never used nor freed here (a child's
   * own result goes to its parent's arena, the program may still point at
   * those objects), only kept reachable so that a leak checker
   * (LeakSanitizer at exit()) does not report it. */
  mp_process *forgotten_children;
  mp__arena *forgotten_arenas;
  mp_process parent;
  char parent_name[MP__NAME_MAX];
} g __attribute__((aligned(4096))) = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
};

/* In a thread-process (the thread start method): its object. NULL in
 * every other thread. */
static __thread mp_process *t_current;

void mp__proc_thread_enter(mp_process *p) { t_current = p; }
void mp__proc_thread_leave(void) { t_current = NULL; }

MP__HOT void mp__proc_lock(void) { pthread_mutex_lock(&g.lock); }
MP__HOT void mp__proc_unlock(void) { pthread_mutex_unlock(&g.lock); }

MP__HOT bool mp__proc_is_current(const mp_process *p) {
  return p == g.current || (t_current && p == t_current);
}

MP__HOT pid_t mp__proc_getpid(void) {
  pid_t pid = __atomic_load_n(&g.pid, __ATOMIC_RELAXED);
  if (MP__UNLIKELY(pid == 0)) {
    pid = getpid();
    __atomic_store_n(&g.pid, pid, __ATOMIC_RELAXED);
  }
  return pid;
}

mp__arena **mp__proc_arenas(void) { return &g.arenas; }

MP__HOT MP_EXPORT mp_process *mp_current_process(void) {
  if (t_current)
    return t_current;
  return g.current ? g.current : &g_main;
}

MP_EXPORT mp_process *mp_parent_process(void) {
  return g.has_parent ? &g.parent : NULL;
}

MP__HOT void mp__children_add(mp_process *p) {
  p->refs++;
  p->registered = true;
  if (!p->method->waitable)
    g.unwaitable++;
  p->prev = NULL;
  p->next = g.children;
  if (g.children)
    g.children->prev = p;
  g.children = p;
}

MP__HOT void mp__children_remove(mp_process *p) {
  p->state = MP__ST_ENDED;
  mp__result_collect(p);
  if (!p->registered)
    return;
  if (p->prev)
    p->prev->next = p->next;
  else
    g.children = p->next;
  if (p->next)
    p->next->prev = p->prev;
  p->prev = p->next = NULL;
  p->registered = false;
  if (!p->method->waitable)
    g.unwaitable--;
  mp__proc_unref(p);
}

MP__HOT void mp__proc_unref(mp_process *p) {
  if (--p->refs == 0)
    mp__proc_destroy(p);
}

MP__HOT void mp__children_reap(void) {
  if (!g.children)
    return;
  /* One system call instead of one per child when nothing has ended
   * (the common case when a pool of workers starts one more). WNOWAIT
   * leaves the zombie for the per-child poll below. A zombie that is not
   * ours (the program forks too) only costs the full scan. */
  siginfo_t si;
  si.si_pid = 0;
  if (!g.unwaitable &&
      waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == 0)
    return;
  for (mp_process *p = g.children, *next; p; p = next) {
    next = p->next;
    mp__proc_poll_locked(p);
  }
}

MP_EXPORT int mp_active_children(mp_process ***list, size_t *n) {
  if (!n)
    return -EINVAL;
  mp__proc_lock();
  mp__children_reap();
  size_t count = 0;
  for (mp_process *p = g.children; p; p = p->next)
    count++;
  int r = 0;
  if (list) {
    *list = NULL;
    if (count && !(*list = mp__calloc(count, sizeof **list)))
      r = -ENOMEM;
    size_t i = 0;
    for (mp_process *p = g.children; p && !r; p = p->next) {
      p->refs++;
      (*list)[i++] = p;
    }
  }
  *n = r ? 0 : count;
  mp__proc_unlock();
  return r;
}

MP_EXPORT void mp_process_list_free(mp_process **list, size_t n) {
  if (!list)
    return;
  for (size_t i = 0; i < n; i++)
    mp_process_free(list[i]);
  mp__free(list);
}

/* The parent's sentinel, opened on first use: a pidfd of the parent, or,
 * when it has already died (we were reparented), an eventfd that is
 * readable at once. getppid() after pidfd_open closes the race with pid
 * reuse: if the parent is still our parent, the pidfd is of it. */
static int parent_sentinel_locked(void) {
  if (g.parent.pidfd >= 0)
    return g.parent.pidfd;
  int fd = (int)syscall(SYS_pidfd_open, g.parent.pid, 0);
  if (fd >= 0 && getppid() != g.parent.pid) {
    mp__close(fd);
    fd = -1;
  }
  if (fd < 0 && (fd = eventfd(1, EFD_CLOEXEC)) < 0)
    return -errno;
  g.parent.pidfd = fd;
  return fd;
}

void mp__children_set_parent_sentinel(int fd) {
  mp__close(g.parent.pidfd);
  g.parent.pidfd = fd;
}

MP_EXPORT int mp_process_sentinel(mp_process *p) {
  if (!p)
    return -EINVAL;
  mp__proc_lock();
  int r;
  if (p->kind == MP__PROC_PARENT)
    r = parent_sentinel_locked();
  else if (p->kind == MP__PROC_MAIN || mp__proc_is_current(p) || p->closed ||
           p->pidfd < 0)
    r = MP_ESTATE;
  else
    r = p->pidfd;
  mp__proc_unlock();
  return r;
}

MP__HOT void mp__children_after_fork(mp_process *p, pid_t parent_pid,
                             const char *parent_name) {
  /* forget_parent_state (atfork) has reset the lock (another thread may
   * have held it), the pid, the children (our siblings, left allocated and
   * unreachable in this copy of the heap) and the arenas (our own result
   * goes to our parent's: p->arena; our children get arenas of their own). */
  /* parent_name points into the identity rewritten below: copy it first.
   * Plain copies, not snprintf: its deep stack would fault more pages. */
  size_t pn = strnlen(parent_name, sizeof g.parent_name - 1);
  memcpy(g.parent_name, parent_name, pn);
  g.parent_name[pn] = '\0';
  /* The parent's sentinel we inherited is our grandparent's: holding a
   * socket-pair sentinel (sentinel.c) open would hide our parent's end. */
  if (g.has_parent)
    mp__close(g.parent.pidfd);
  g.parent = (mp_process){
      .kind = MP__PROC_PARENT,
      .state = MP__ST_STARTED,
      .pid = parent_pid,
      .pidfd = -1,
      .slot = -1,
      .result_state = -1,
      .name = g.parent_name,
  };
  g.has_parent = true;

  mp__self *self = mp__self_get();
  size_t nn = strnlen(p->name, sizeof self->name - 1);
  memcpy(self->name, p->name, nn);
  self->name[nn] = '\0';
  size_t n = p->identity_len;
  if (n > MP__ARRAY_SIZE(self->identity))
    n = MP__ARRAY_SIZE(self->identity);
  memcpy(self->identity, p->identity, n * sizeof *self->identity);
  self->identity_len = (int)n;
  self->child_counter = 0;
  self->daemon = p->daemon;
  memcpy(self->authkey, p->authkey, p->authkey_len);
  self->authkey_len = p->authkey_len;
  /* p itself is left untouched (see g above): "current" is g.current. */
  g.current = p;
}

/* ---- exit ------------------------------------------------------------------ */

/* Appends fn to a hook table of cap entries (under the process lock). */
static int hook_add(void (**tab)(void), int *n, int cap, void (*fn)(void)) {
  mp__proc_lock();
  int r = 0;
  if (*n == cap)
    r = -ENOMEM;
  else
    tab[(*n)++] = fn;
  mp__proc_unlock();
  return r;
}

static void (*g_exit_hooks[8])(void);
static int g_nexit_hooks;

int mp__at_process_exit(void (*fn)(void)) {
  return hook_add(g_exit_hooks, &g_nexit_hooks,
                  (int)MP__ARRAY_SIZE(g_exit_hooks), fn);
}

MP__HOT void mp__process_exit_function(void) {
  if (g.exiting)
    return;
  g.exiting = true;
  mp_log(MP_LOG_INFO, "process shutting down");
  /* Python's finalizers with an exit priority (a manager's shutdown)
   * run before children are terminated and joined. */
  for (int i = 0; i < g_nexit_hooks; i++)
    g_exit_hooks[i]();
  /* Most children have no children: skip the lock and the lists. */
  if (!__atomic_load_n(&g.children, __ATOMIC_ACQUIRE))
    return;
  mp_process **list;
  size_t n;
  if (mp_active_children(&list, &n) == 0) {
    for (size_t i = 0; i < n; i++)
      if (mp_process_daemon(list[i])) {
        mp_log(MP_LOG_INFO, "calling terminate() for daemon %s",
               mp_process_name(list[i]));
        mp_process_terminate(list[i]);
      }
    mp_process_list_free(list, n);
  }
  if (mp_active_children(&list, &n) == 0) {
    for (size_t i = 0; i < n; i++) {
      /* A daemonic thread-process cannot be terminated: it is left to end
       * with the process, as Python leaves daemon threads at exit. */
      if (list[i]->method == &mp__method_thread && list[i]->daemon)
        continue;
      mp_log(MP_LOG_INFO, "calling join() for process %s",
             mp_process_name(list[i]));
      mp_process_join(list[i], MP_FOREVER);
    }
    mp_process_list_free(list, n);
  }
}

static void exit_hook(void) { mp__process_exit_function(); }

/* Registered when the library loads, as Python's util module registers
 * _exit_function on import: it runs after the program's own atexit
 * handlers. A child never runs it through atexit: it calls the exit
 * function itself and leaves with _exit(). */
/* In every child of a fork, ours or the program's own: the parent's
 * children, arenas and pid are not this process's. Our own children then
 * rebuild the rest in mp__children_after_fork. */
MP__HOT static void forget_parent_state(void) {
  g.lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
  g.pid = 0;
  /* Chained to what the parent had forgotten itself; a first-level child
   * (nothing forgotten before) writes no heap page for it. */
  if (g.children) {
    if (g.forgotten_children) {
      mp_process *last = g.children;
      while (last->next)
        last = last->next;
      last->next = g.forgotten_children;
    }
    g.forgotten_children = g.children;
  }
  if (g.arenas) {
    if (g.forgotten_arenas)
      mp__arenas_append(g.arenas, g.forgotten_arenas);
    g.forgotten_arenas = g.arenas;
  }
  g.children = NULL;
  g.arenas = NULL;
  g.unwaitable = 0;
  t_current = NULL; /* forked from a thread-process: now a real one */
}

__attribute__((constructor)) static void register_exit_hook(void) {
  atexit(exit_hook);
  pthread_atfork(NULL, NULL, forget_parent_state);
}

/* ---- hooks run in every new child ------------------------------------------ */

static void (*g_hooks[32])(void);
static int g_nhooks;

int mp__atfork_child(void (*fn)(void)) {
  return hook_add(g_hooks, &g_nhooks, (int)MP__ARRAY_SIZE(g_hooks), fn);
}

MP__HOT void mp__atfork_child_run(void) {
  for (int i = 0; i < g_nhooks; i++)
    g_hooks[i]();
}
