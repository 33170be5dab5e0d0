/* process_internal.h: the process object's layout, the lock and registry of
 * started children, the start-method table, and the registry of hooks other
 * areas run in every new child (pool threads, queues and locks that must
 * reset per-process state after fork).
 *
 * Locking: one mutex (mp__proc_lock) guards every process object's state
 * and the children registry. Calls hold it only for short, non-blocking
 * work (a WNOHANG waitid, a flag); blocking waits poll the sentinel with
 * the lock released. A child re-initialises the lock after fork, since
 * another thread may have held it at that moment. */
#ifndef MPROC_PROCESS_INTERNAL_H
#define MPROC_PROCESS_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include "mproc/process.h"
#include "runtime/runtime_internal.h"

/* The start/join path and everything a new child runs: gcc gathers these
 * in .text.hot, so a child faults in one or two pages of our code instead
 * of one per source file (fork does not copy the page tables of code). */
#define MP__HOT __attribute__((hot))

typedef enum mp__proc_kind {
  MP__PROC_CHILD,  /* made by mp_process_new */
  MP__PROC_MAIN,   /* the MainProcess object of the main process */
  MP__PROC_PARENT, /* mp_parent_process() in a child */
} mp__proc_kind;

typedef enum mp__proc_state {
  MP__ST_INITIAL, /* not started */
  MP__ST_STARTED, /* running, or ended but not yet reaped */
  MP__ST_ENDED,   /* reaped (exit_known tells whether we saw its code) */
} mp__proc_state;

typedef struct mp__start_method mp__start_method;
typedef struct mp__arena mp__arena; /* result.c */

/* What a start method hands back; stored in the object under the lock. */
typedef struct mp__started {
  pid_t pid;
  int pidfd;   /* the sentinel */
  void *mdata; /* the method's state (mp_process.mdata) */
  bool pair;   /* the sentinel is a socket pair's end, not a pidfd */
} mp__started;

struct mp_process {
  mp__proc_kind kind;
  const mp__start_method *method;
  pid_t parent_pid; /* the process that created the object */

  /* Guarded by mp__proc_lock. */
  int refs;          /* the user's reference + one while registered */
  mp__proc_state state;
  bool closed;
  bool registered;   /* in the children registry */
  bool daemon;
  bool exit_known;
  int exitcode;
  pid_t pid;
  int pidfd;         /* the sentinel */
  bool pair;         /* it is a socket pair's end (sentinel.c), not a pidfd */
  mp__arena *arena;  /* where the child writes its result */
  int slot;          /* its slot there, -1 when it has none */
  int result_state;  /* -1 not looked at yet, 0 none, 1 mapped, -errno */
  void *result_map;
  uint64_t result_off;
  size_t result_len;
  char *name;
  unsigned *identity; /* Process-N1:N2:...: the path of child numbers */
  size_t identity_len;
  unsigned char authkey[MP__AUTHKEY_MAX];
  size_t authkey_len;

  mp_target_fn target;
  void *arg; /* freed in the parent once started */
  size_t len;

  struct mp__passed *passed; /* objects passed to the child (context/pass.c) */
  void *mdata;               /* the start method's own state, or NULL */

  mp_process *prev, *next; /* children registry */
};

/* A start method: how a child comes to life and how the parent observes it:
 * fork (fork.c), spawn (spawn.c), forkserver (forkserver.c) and thread (a
 * process that is a thread, thread.c). */
struct mp__start_method {
  const char *name;
  /* Whether its children are this process's own (waitid sees them). */
  bool waitable;
  /* Called with the lock released (p is claimed: its state is STARTED and
   * no other call touches it); fills *out and returns 0, or -errno. */
  int (*start)(mp_process *p, mp__started *out);
  /* Non-blocking: has it ended? Called with the lock held. Returns 1 (and
   * sets exit_known/exitcode) if it ended, 0 if running. */
  int (*poll)(mp_process *p);
  /* Sends sig; 0 also when it already ended. */
  int (*send_signal)(mp_process *p, int sig);
  /* Frees mdata when the object is destroyed; NULL if none. */
  void (*release)(mp_process *p);
};

extern const mp__start_method mp__method_fork, mp__method_spawn,
    mp__method_forkserver, mp__method_thread;
/* The end of every child's life once its state is rebuilt: the target,
 * Python's exit function, stdio flushed, _exit with the target's code. */
_Noreturn void mp__child_run(mp_target_fn target, void *arg, size_t len);
/* In a daemonic child: arranges to be SIGKILLed when the process `parent`
 * ends (not merely the thread that started us: see fork.c), or at once if
 * it has ended already. */
void mp__die_with_parent(pid_t parent);
/* fork's poll and signal, which spawn shares (both make real children). */
int mp__fork_poll(mp_process *p);
int mp__fork_send_signal(mp_process *p, int sig);
/* The method named (NULL: the default, see context/context.c), or NULL
 * with *err set to -EINVAL (unknown). */
const mp__start_method *mp__method_find(const char *name, int *err);
/* The default method's name: what mp_set_start_method chose, else "fork".
 * Fixes the choice, as Python's default context does on first use. */
const char *mp__start_method_default(void);
/* Frees a list of passed objects (context/pass.c); NULL does nothing. */
void mp__passed_free(struct mp__passed *list);

/* ---- Without pidfds (sentinel.c) ---------------------------------------- */
/* Whether this kernel (or valgrind) lacks pidfd_open: probed once. Then
 * every child's sentinel is one end of a socket pair (mp__sentinel_pair,
 * CLOEXEC), the child holding the other for life as its parent sentinel
 * (mp__children_set_parent_sentinel). */
bool mp__pidfd_missing(void);
int mp__sentinel_pair(int sv[2]);
/* In a new child: fd is its parent sentinel (taken). */
void mp__children_set_parent_sentinel(int fd);

/* ---- Lock and registry (children.c) ------------------------------------ */
void mp__proc_lock(void);
void mp__proc_unlock(void);
/* Adds a started child (takes a reference). Lock held. */
void mp__children_add(mp_process *p);
/* Marks p ended and drops it from the registry; may free it. Lock held. */
void mp__children_remove(mp_process *p);
/* Polls every registered child, reaping those that ended. Lock held. */
void mp__children_reap(void);
/* Drops one reference; frees the object at zero. Lock held. */
void mp__proc_unref(mp_process *p);
void mp__proc_destroy(mp_process *p);
/* In a new child, with p its own object: rebuilds this process's state
 * (lock, registry, identity, current and parent objects). */
void mp__children_after_fork(mp_process *p, pid_t parent_pid,
                             const char *parent_name);
/* Python's util._exit_function: terminate daemonic children, join the
 * others. Runs at exit in every process and at the end of every child. */
void mp__process_exit_function(void);

/* A thread-process (thread.c): makes p the current process of the calling
 * thread; leave undoes it. */
void mp__proc_thread_enter(mp_process *p);
void mp__proc_thread_leave(void);

/* Whether p is this process's own object (in a child). A child writes
 * nothing into its object: every page it writes after fork costs a
 * copy-on-write fault, so its per-process state lives in children.c. */
bool mp__proc_is_current(const mp_process *p);
/* This process's pid, cached (reset in every fork child by an atfork
 * handler): the checks below run on every call. */
pid_t mp__proc_getpid(void);
/* The result arenas of this process's children (result.c's list head). */
mp__arena **mp__proc_arenas(void);
/* Links list `rest` after the last arena of `list` (not NULL). */
void mp__arenas_append(mp__arena *list, mp__arena *rest);

/* Poll p under the lock, reaping it if it ended. Returns 1 ended, 0 not. */
int mp__proc_poll_locked(mp_process *p);
/* Creator check: may this process start/join/signal p? */
bool mp__proc_is_ours(const mp_process *p);

/* ---- Results (result.c); all with the lock held ------------------------- */
/* Gives p a result slot before start: 0, or -errno creating an arena. */
int mp__result_slot_take(mp_process *p);
/* Returns p's slot (a failed start, or once collected). */
void mp__result_slot_drop(mp_process *p);
/* Looks at the slot of an ended child once, mapping its result. */
void mp__result_collect(mp_process *p);
/* Unmaps p's result and frees its memory (mp_process_free). */
void mp__result_release(mp_process *p);
/* Spawn and forkserver: the descriptor of p's arena, to send to the child
 * with its slot; and in such a child, p's result slot in an arena received
 * as fd (mapped here; fd is taken). 0 or -errno. */
int mp__result_arena_fd(const mp_process *p);
int mp__result_attach(mp_process *p, int fd, int slot);

/* ---- Hooks run in every new child ---------------------------------------- */
/* Registers fn to run in each child mproc starts, after the library has
 * rebuilt its own state and before the target runs; in registration
 * order. For state that must not be shared after fork: threads that did
 * not survive it, per-process caches. Thread-safe; no unregistration.
 * Returns 0, or -ENOMEM when the table (32 hooks) is full. */
int mp__atfork_child(void (*fn)(void));
/* Registers fn to run when this process ends (main's exit, or a child's
 * target returning), after "process shutting down" and before children
 * are terminated and joined: Python's finalizers with an exit priority.
 * At most 8. Returns 0 or -ENOMEM. */
int mp__at_process_exit(void (*fn)(void));
void mp__atfork_child_run(void);

#endif
