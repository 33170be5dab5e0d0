/* mproc/process.h: processes, Python's multiprocessing.Process (the
 * reference's 17.2.2.1) and the process functions of 17.2.2.3
 * (current_process, parent_process, active_children).
 *
 * A process runs a target function on a copy of argument bytes in a child
 * started with fork. Its return value (0..255) becomes the exit code; a
 * child killed by signal N has exit code -N. Beyond Python, the target may
 * hand back a result of any size with mp_process_return(); the parent reads
 * it after join with mp_process_result(), with no Manager and no Queue.
 *
 *   static int f(void *arg, size_t len) {
 *     printf("hello %.*s\n", (int)len, (char *)arg);
 *     return 0;
 *   }
 *   mp_process *p = mp_process_new(f, "bob", 3, NULL);
 *   mp_process_start(p);
 *   mp_process_join(p, MP_FOREVER);
 *   mp_process_free(p);
 *
 * Rules shared by every function below:
 * - Only the process that created an object may start, join, poll, signal
 *   or close it (Python's "should only be called by the process that created
 *   the process object"); elsewhere those calls return MP_ESTATE.
 * - Thread-safety: every function may be called on the same object from
 *   several threads at once (several threads may join or poll one process),
 *   except mp_process_close and mp_process_free, which must not race with
 *   other calls on that object, and the setters, which must not race with
 *   the getter of the same attribute (the name pointer, say).
 * - No zombies: finished children are reaped by join, is_alive, exitcode,
 *   by every mp_process_start and mp_active_children, and at exit. Only our
 *   own children are waited for (through their pidfd), so a program may
 *   fork and wait for processes of its own beside mproc's. */
#ifndef MPROC_PROCESS_H
#define MPROC_PROCESS_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

#include "errors.h"
#include "runtime.h"

MP_EXTERN_C_BEGIN

typedef struct mp_process mp_process;

/* The function a process runs: Python's target plus its args. arg points
 * to the child's own copy of the argument bytes given to mp_process_new
 * (NULL when len is 0); the child may modify it. The return value becomes
 * the exit code: it is truncated to 0..255 as by _exit() (so -1 gives 255). */
typedef int (*mp_target_fn)(void *arg, size_t len);

/* Values of mp_process_opts.daemon. The zero value inherits the creating
 * process's flag, as Python's daemon=None does. */
#define MP_DAEMON_INHERIT 0
#define MP_DAEMON_YES 1
#define MP_DAEMON_NO (-1)

/* Python's keyword arguments. Zero-initialise it (or start from
 * MP_PROCESS_OPTS_INIT) and set what you need: every zero field means the
 * default, so fields added later break no caller.
 * - name: the process name (copied; any length). NULL gives the default
 *   name Process-N1:N2:...:Nk, where Nk is the k-th child of its parent;
 *   for the thread start method "Thread-N (f)" as multiprocessing.dummy
 *   names it, f the target's name from the program's symbol table
 *   ("Thread-N" when the program is stripped).
 * - daemon: MP_DAEMON_INHERIT (default), MP_DAEMON_YES or MP_DAEMON_NO.
 * - start_method: NULL (the default: mp_set_start_method's choice, else
 *   "fork"), "fork", "spawn", "forkserver" or "thread" (see
 *   mproc/context.h); any other name fails with EINVAL.
 * - reserved: must be zero. */
typedef struct mp_process_opts {
  const char *name;
  int daemon;
  const char *start_method;
  void *reserved[6];
} mp_process_opts;

/* {} in C++: g++ -Wextra warns on {0} there (missing field initializers). */
#ifdef __cplusplus
#define MP_PROCESS_OPTS_INIT {}
#else
#define MP_PROCESS_OPTS_INIT {0}
#endif

/* Creates a process object that will run target(copy of arg, len) once
 * started. The argument bytes are copied now; the caller keeps arg. opts
 * may be NULL (all defaults). The name, daemon flag and authkey are
 * inherited from the calling process as in Python, and the default name
 * takes the next child number of the calling process.
 * Returns the object (free it with mp_process_free), or NULL with errno:
 * EINVAL (NULL target, arg NULL with len > 0, unknown start method, reserved
 * fields not zero), ENOMEM. */
MP_EXPORT mp_process *mp_process_new(mp_target_fn target, const void *arg,
                                     size_t len, const mp_process_opts *opts);

/* Starts the process (Python's start()). Once per object.
 * Returns 0, MP_ESTATE (started twice, closed, created by another process,
 * or not a process this process can start), MP_EDAEMON (the calling process
 * is daemonic: daemonic processes may not have children), or -errno from
 * fork, pidfd_open or memfd_create (-EAGAIN, -ENOMEM, -EMFILE). With spawn
 * and forkserver also MP_ESTALE (the target is not in the program the
 * child runs: rebuilt since, or another program), -EINVAL (the target is
 * not code of a loaded module), MP_EPROTO (the program did not answer as
 * an mproc program: it does not link mproc); no child is left then.
 * Also reaps children that have finished (no zombies). */
MP_EXPORT int mp_process_start(mp_process *p);

/* Waits until the process ends, at most timeout seconds (MP_FOREVER: no
 * limit; 0 polls; negative counts as 0). May be repeated; several threads
 * may join one process at once. Reaps the child.
 * Returns 0 once it has ended, MP_ETIMEOUT if it is still running at the
 * deadline (Python's join returns None then: check is_alive), -EINVAL for a
 * NaN timeout, MP_ESTATE before start, after close, when joining itself or
 * a process this process did not create. */
MP_EXPORT int mp_process_join(mp_process *p, double timeout);

/* Whether the process is running: 1 from the moment start returns until
 * it ends, 0 before start, after it ended (it is reaped then) and for
 * processes this process did not create. The current process is always
 * alive; the parent process (mp_parent_process) is alive until it exits.
 * MP_ESTATE after mp_process_close (Python's ValueError), -EINVAL for NULL:
 * test `== 1`, not for nonzero. */
MP_EXPORT int mp_process_is_alive(mp_process *p);

/* The process id: 0 before start and after close; getpid() for the current
 * process, the parent's pid for mp_parent_process(). Still valid after the
 * process ended (but the kernel may reuse the number then: use the sentinel
 * or the object's functions, never kill(pid), to reach it). */
MP_EXPORT pid_t mp_process_pid(const mp_process *p);

/* The exit code (Python's exitcode). Returns 1 and sets *code when the
 * process has ended: the target's return value 0..255, or -N when it was
 * killed by signal N. Returns 0 (Python's None, *code untouched) while it
 * runs, before start, for the current and the parent process, and when
 * someone else reaped the child (a SIGCHLD handler calling waitpid(-1), or
 * SIGCHLD ignored) so the code is lost. Returns MP_ESTATE after close and
 * -EINVAL when code is NULL. Reaps the child if it has ended. */
MP_EXPORT int mp_process_exitcode(mp_process *p, int *code);

/* The name (borrowed: valid until mp_process_set_name or mp_process_free).
 * Never NULL. */
MP_EXPORT const char *mp_process_name(const mp_process *p);

/* Sets the name (copied; any length: a name of 10 kB works). Setting the
 * current process's name also changes the name in its log lines, which
 * show at most its first 255 bytes. Returns 0, -EINVAL (NULL), -ENOMEM. */
MP_EXPORT int mp_process_set_name(mp_process *p, const char *name);

/* The daemon flag: 1 or 0. A daemonic process may not have children; when
 * a process exits it terminates its daemonic children (SIGTERM) and then
 * joins the others, as Python does. If it is killed instead (even by
 * SIGKILL), its daemonic children get SIGKILL from the kernel
 * (PR_SET_PDEATHSIG), and only when the whole process has ended: the
 * thread that started it may exit first (a pool created in a short-lived
 * thread keeps its workers). How: the kernel sends the death signal when
 * the starting *thread* ends, so a daemonic child runs with a handler for
 * MP_PDEATH_SIGNAL that SIGKILLs the child once its parent process is gone
 * and ignores the signal otherwise. A target that ignores, blocks or takes
 * over MP_PDEATH_SIGNAL gives that up (with SIG_DFL it ends when the
 * starting thread does), and a slow system call of the child (sleep) may
 * return early with EINTR when a thread of the parent ends. */
MP_EXPORT int mp_process_daemon(const mp_process *p);

/* The signal a daemonic child is sent when a thread of its parent ends;
 * it is handled in the child (see mp_process_daemon). */
/* SIGRTMAX - 1: valgrind reserves SIGRTMAX for itself. */
#define MP_PDEATH_SIGNAL (SIGRTMAX - 1)

/* Sets the daemon flag (any nonzero value means daemonic). Only before
 * start: returns 0, or MP_ESTATE once started or closed. */
MP_EXPORT int mp_process_set_daemon(mp_process *p, int daemon);

/* The authentication key (borrowed, valid until set_authkey or free), with
 * its length in *len (len may be NULL). A new process inherits its
 * creator's key (32 random bytes in the main process); the child runs with
 * it. For the current process this is the key the library authenticates
 * connections with. */
MP_EXPORT const unsigned char *mp_process_authkey(const mp_process *p,
                                                  size_t *len);

/* Sets the authentication key (copied). Before start it becomes the child's
 * key; on mp_current_process() it changes this process's key. Returns 0,
 * -EINVAL (key NULL with len > 0, or len over 256 bytes). */
MP_EXPORT int mp_process_set_authkey(mp_process *p, const void *key,
                                     size_t len);

/* The sentinel (Python's sentinel): a descriptor (a pidfd) that becomes
 * readable (POLLIN) when the process ends and stays readable. Owned by the
 * object: do not close it; valid until mp_process_close or free. For
 * mp_parent_process() it is readable once the parent has exited.
 * Returns the descriptor, or MP_ESTATE before start, after close and for
 * the main process. */
MP_EXPORT int mp_process_sentinel(mp_process *p);

/* Sends SIGTERM (terminate) or SIGKILL (kill) through the pidfd, so never
 * to a reused pid. As in Python, exit handlers do not run in the child and
 * its own children are orphaned. Returns 0 (also when it has already
 * ended), MP_ESTATE before start, after close or from another process,
 * MP_ENOTSUP for a process of the thread start method (a thread). */
MP_EXPORT int mp_process_terminate(mp_process *p);
MP_EXPORT int mp_process_kill(mp_process *p);

/* Python's close(): releases the sentinel; after it most functions return
 * MP_ESTATE (name, daemon, authkey and describe still work), including
 * mp_process_result, though a result already read stays valid until
 * mp_process_free. Returns 0 (also when repeated, or never started), or
 * MP_ESTATE while the process is still running (join or terminate it
 * first). */
MP_EXPORT int mp_process_close(mp_process *p);

/* Releases the caller's reference, and with the last one the object and its
 * result's memory. NULL does nothing; on the current or the parent process
 * object it does nothing. A process still running is not
 * stopped (as in Python, where dropping the object leaves the child
 * running): the library keeps what it needs and reaps the child later
 * (mp_process_start, mp_active_children, or at exit, where non-daemonic
 * children are joined and daemonic ones terminated). */
MP_EXPORT void mp_process_free(mp_process *p);

/* Python's repr into buf (always NUL-terminated when n > 0), e.g.
 *   <Process name='Process-1' parent=100 initial>
 *   <Process name='Process-1' pid=123 parent=100 started daemon>
 *   <Process name='Process-1' pid=123 parent=100 stopped exitcode=-SIGTERM>
 *   <_MainProcess name='MainProcess' parent=None started>
 * Polls (and reaps) the child like Python's repr. Returns the length of
 * the full text (as snprintf: >= n means it was cut), or -EINVAL. */
MP_EXPORT int mp_process_describe(mp_process *p, char *buf, size_t n);

/* ---- Results (beyond Python) -------------------------------------------- */

/* In a child: sets the current process's result to a copy of len bytes at
 * data (any size; len 0 is an empty result, distinct from none). A later
 * call replaces an earlier one. The parent reads it after the child ends.
 * The bytes go to a memory file the parent maps once the child ended.
 * Returns 0, MP_ESTATE in a process that is not an mproc child (the main
 * process), -EINVAL (data NULL with len > 0), -ENOSPC/-ENOMEM when memory
 * runs out (the result lives in memory, not on disk). Thread-safe. */
MP_EXPORT int mp_process_return(const void *data, size_t len);

/* In the parent, once the process has ended: its result. Returns 1 with
 * *data and *len set when the child called mp_process_return (*data is
 * never NULL then, even for an empty result); 0 with *data = NULL and
 * *len = 0 when it returned none (or was killed while setting one);
 * MP_ENOTREADY while it is still running; MP_ESTATE before start, after
 * close, for the current or parent process; -EINVAL for NULL pointers.
 * The bytes are mapped read-only straight from the child's memory file:
 * no copy. Borrowed: valid until mp_process_free. */
MP_EXPORT int mp_process_result(mp_process *p, const void **data,
                                size_t *len);

/* ---- The reference's 17.2.2.3 ------------------------------------------- */

/* The object for this process: the MainProcess object in the main
 * process, and in a child its own object (with its name, authkey, daemon
 * flag). Borrowed; never NULL; mp_process_free on it does nothing. */
MP_EXPORT mp_process *mp_current_process(void);

/* The object for the parent of this process, or NULL in the main process.
 * Borrowed. Supports name, pid, sentinel, is_alive, join (waits until the
 * parent exits) and describe. */
MP_EXPORT mp_process *mp_parent_process(void);

/* Reaps the children of this process that have ended (Python's "joining"
 * them) and returns those still running: *list gets an array of *n new
 * references (free each with mp_process_free, then the array with mp_free,
 * or both with mp_process_list_free). list may be NULL to only reap and
 * count. Includes children whose objects the caller already freed.
 * Returns 0, -EINVAL (n NULL), -ENOMEM. */
MP_EXPORT int mp_active_children(mp_process ***list, size_t *n);

/* Frees a list from mp_active_children: each element, then the array.
 * NULL does nothing. */
MP_EXPORT void mp_process_list_free(mp_process **list, size_t n);

MP_EXTERN_C_END

#endif
