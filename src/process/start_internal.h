/* start_internal.h: what spawn.c and forkserver.c share: the bootstrap, the
 * message that tells a child started from a fresh image (exec, or the fork
 * server) who it is and what to run; and the child side that runs it.
 *
 * Wire format (native byte order: both ends are the same machine), one
 * stream message: a 256-byte header (magic, total length, counts, flags,
 * parent pid, result slot, argument length, the target's mp__fnref, the
 * logger's level and handler), then the identity (u32 each), name, parent
 * name, authkey, the passed items (u32 kind, then for a handle its
 * MP_HANDLE_WIRE_SIZE bytes) and the argument bytes. The descriptors travel
 * with SCM_RIGHTS on the first byte, in order: the parent's result arena
 * (the child's slot is in the header), the real parent's pidfd (flag
 * PARENT_PIDFD), the parent's 0, 1, 2 (flag STDIO: the fork server's
 * children write where the program writes now), the passed items'. */
#ifndef MPROC_START_INTERNAL_H
#define MPROC_START_INTERNAL_H

#include "context/context_internal.h"
#include "process_internal.h"

#define MP__SPAWN_MARKER "--mproc-spawn-child"
#define MP__SPAWN_FD 3
#define MP__BOOT_MAGIC 0x3142706dU /* "mpB1" */
#define MP__BOOT_HDR 256
#define MP__BOOT_MAX ((size_t)1 << 34) /* 16 GiB of argument bytes */
/* Descriptors in one bootstrap: result arena, parent pidfd, 0..2, passed. */
#define MP__BOOT_FDS (MP__PASS_FDS + 5)

enum {
  MP__BOOT_DAEMON = 1,
  MP__BOOT_SERVER = 2,       /* run the fork server, not a target */
  MP__BOOT_PARENT_PIDFD = 4, /* a pidfd of the real parent follows */
  MP__BOOT_STDIO = 8,        /* the parent's descriptors 0..2 follow */
  MP__BOOT_PAIR = 16,        /* no pidfds (sentinel.c): keep the bootstrap
                                socket for life, it is both sentinels */
};

/* A decoded bootstrap: owns its memory and descriptors. */
typedef struct mp__boot {
  uint32_t flags;
  pid_t parent_pid;
  int slot; /* the result slot in the arena result_fd */
  bool log_set;
  int log_level;
  mp__fnref log_handler;
  mp__fnref target;
  char *name, *parent_name;
  unsigned *identity;
  size_t identity_len;
  unsigned char authkey[MP__AUTHKEY_MAX];
  size_t authkey_len;
  void *arg;
  size_t len;
  int result_fd, parent_pidfd;
  int stdio[3]; /* -1 unless MP__BOOT_STDIO */
  mp__passed *passed;
} mp__boot;

/* Encodes the bootstrap of p (its target already made into *target) into a
 * new buffer (*buf, free with mp__free) and lists its descriptors (borrowed)
 * in fds (room for MP__BOOT_FDS). Returns 0, -ENOMEM, -E2BIG. */
int mp__boot_encode(const mp_process *p, const mp__fnref *target,
                    uint32_t flags, int result_fd, int parent_pidfd,
                    void **buf, size_t *len, int *fds, size_t *nfds);

/* Reads one bootstrap from sock until the deadline and decodes it into *b
 * (mp__boot_free it). Returns 0, MP_EEOF, MP_EDECODE / MP_EPROTO for a
 * malformed message (nothing leaks), MP_ETIMEOUT, -errno. */
int mp__boot_recv(int sock, mp__boot *b, const mp__deadline *dl);
void mp__boot_free(mp__boot *b);

/* Runs the target fn of b as this process's life and exits with its code.
 * direct_parent: the process a daemonic child dies with (its parent: the
 * program under spawn, the server under forkserver). Takes b. */
_Noreturn void mp__boot_run(mp__boot *b, mp_target_fn fn, pid_t direct_parent);

/* The fork server's loop (forkserver.c), run by a spawned server. */
_Noreturn void mp__forkserver_serve(mp__boot *b);

/* Spawns the executable with the bootstrap socket as MP__SPAWN_FD and every
 * other descriptor but 0..2 closed. Returns 0 with *pid, or -errno. */
int mp__spawn_exec(int boot_sock, pid_t *pid);
/* Spawns a child on p's bootstrap and waits for its answer. On success
 * *pid and *pidfd are set (the child is ours); on failure none is left. */
int mp__spawn_bootstrap(const mp_process *p, const mp__fnref *target,
                        uint32_t flags, int result_fd, int extra_fd,
                        pid_t *pid, int *pidfd);
int mp__pidfd_open(pid_t pid);

#endif
