/* bootstrap.c: the message a spawned or fork-server child starts from
 * (format in start_internal.h), and the child's life once it has it: the
 * library's per-process state rebuilt as a forked child's would be, the
 * target, Python's exit function, _exit.
 *
 * The decoder trusts nothing: every length is checked against the message
 * before it is used, so a truncated or foreign message is MP_EDECODE, and
 * every received descriptor is closed on failure. The argument bytes (up
 * to MP__BOOT_MAX) are read into a buffer that grows as they arrive: an
 * announced length alone allocates nothing. */
#include <string.h>
#include <signal.h>
#include <unistd.h>

#include "shm/shm_internal.h"
#include "start_internal.h"

typedef struct {
  uint32_t magic, total;
  uint32_t nfds, npassed;
  uint32_t name_len, parent_name_len;
  uint32_t identity_len, authkey_len;
  int32_t parent_pid;
  uint32_t flags;
  int32_t slot;
  uint32_t pad;
  uint64_t arg_len;
  mp__fnref target;
  int32_t log_level;
  uint32_t log_flags; /* 1: log_handler is set */
  mp__fnref log_handler;
} boot_hdr;
_Static_assert(sizeof(boot_hdr) <= MP__BOOT_HDR, "bootstrap header");

int mp__boot_encode(const mp_process *p, const mp__fnref *target,
                    uint32_t flags, int result_fd, int parent_pidfd,
                    void **buf, size_t *len, int *fds, size_t *nfds) {
  const mp__passed *pl = p->passed;
  size_t npassed = pl ? pl->n : 0;
  size_t name_len = strlen(p->name);
  const char *pname = mp__self_name();
  size_t pname_len = strlen(pname);
  if (p->len > MP__BOOT_MAX)
    return -E2BIG;
  size_t total = MP__BOOT_HDR + p->identity_len * 4 + name_len + pname_len +
                 p->authkey_len + npassed * (4 + MP_HANDLE_WIRE_SIZE) + p->len;
  if (total - p->len > UINT32_MAX)
    return -E2BIG;
  unsigned char *m = mp__calloc(1, total);
  if (!m)
    return -ENOMEM;
  size_t nf = 0;
  fds[nf++] = result_fd;
  if (parent_pidfd >= 0) {
    fds[nf++] = parent_pidfd;
    flags |= MP__BOOT_PARENT_PIDFD;
  }
  if (flags & MP__BOOT_STDIO) {
    for (int i = 0; i < 3; i++)
      fds[nf++] = i;
  }
  if (p->daemon)
    flags |= MP__BOOT_DAEMON;
  boot_hdr h = {
      .magic = MP__BOOT_MAGIC,
      .total = (uint32_t)(total - p->len),
      .npassed = (uint32_t)npassed,
      .name_len = (uint32_t)name_len,
      .parent_name_len = (uint32_t)pname_len,
      .identity_len = (uint32_t)p->identity_len,
      .authkey_len = (uint32_t)p->authkey_len,
      .parent_pid = mp__proc_getpid(),
      .flags = flags,
      .slot = p->slot,
      .arg_len = p->len,
      .target = *target,
  };
  size_t at = MP__BOOT_HDR;
#define PUT(src, n)                                                            \
  do {                                                                         \
    if (n)                                                                     \
      memcpy(m + at, (src), (n));                                              \
    at += (n);                                                                 \
  } while (0)
  for (size_t i = 0; i < p->identity_len; i++) {
    uint32_t v = p->identity[i];
    PUT(&v, 4);
  }
  PUT(p->name, name_len);
  PUT(pname, pname_len);
  PUT(p->authkey, p->authkey_len);
  for (size_t i = 0; i < npassed; i++) {
    const mp__passed_item *it = &pl->items[i];
    uint32_t kind = it->is_fd;
    PUT(&kind, 4);
    unsigned char wire[MP_HANDLE_WIRE_SIZE] = {0};
    size_t k = 0;
    if (it->is_fd)
      fds[nf++] = it->h.parts[0].fd;
    else if (mp_handle_encode(&it->h, wire, sizeof wire, fds + nf, &k) < 0) {
      mp__free(m);
      return -EINVAL;
    }
    nf += k;
    PUT(wire, sizeof wire);
  }
  PUT(p->arg, p->len);
#undef PUT
  /* The logger, as Python's spawn passes log_to_stderr's level: its
   * handler crosses like the target when it is code and has no context. */
  void *lctx;
  mp_log_handler lh = mp__log_handler(&lctx);
  h.log_level = mp_logger_get_level(mp_get_logger());
  if (lh && !lctx && mp__fnref_make((const void *)lh, &h.log_handler) == 0)
    h.log_flags = 1;
  h.nfds = (uint32_t)nf;
  memcpy(m, &h, sizeof h);
  *buf = m;
  *len = total;
  *nfds = nf;
  return 0;
}

void mp__boot_free(mp__boot *b) {
  mp__free(b->name);
  mp__free(b->parent_name);
  mp__free(b->identity);
  mp__free(b->arg);
  mp__close(b->result_fd);
  mp__close(b->parent_pidfd);
  for (int i = 0; i < 3; i++)
    mp__close(b->stdio[i]);
  mp__passed_free(b->passed);
  memset(b, 0, sizeof *b);
  b->result_fd = b->parent_pidfd = -1;
  b->stdio[0] = b->stdio[1] = b->stdio[2] = -1;
}

static char *take_str(const unsigned char *at, size_t n) {
  char *s = mp__malloc(n + 1);
  if (s) {
    memcpy(s, at, n);
    s[n] = '\0';
  }
  return s;
}

/* Reads want bytes into a fresh buffer that grows as they arrive
 * (doubling from 64 KiB, capped by want), as the connection reader does:
 * never allocates what the sender merely announced. Returns 0 with *out,
 * MP_ETRUNCATED when the stream ends first, -ENOMEM, -errno. */
#define GROW_MIN ((size_t)64 << 10)
static int read_growing(int sock, size_t want, void **out) {
  size_t cap = want < GROW_MIN ? want : GROW_MIN, got = 0;
  unsigned char *buf = mp__malloc(cap);
  if (!buf)
    return -ENOMEM;
  while (got < want) {
    if (got == cap) {
      size_t ncap = cap > want / 2 ? want : cap * 2;
      unsigned char *nb = mp__realloc(buf, ncap);
      if (!nb) {
        mp__free(buf);
        return -ENOMEM;
      }
      buf = nb;
      cap = ncap;
    }
    ssize_t n = mp__read_full(sock, buf + got, cap - got);
    if (n < 0 || (size_t)n < cap - got) {
      mp__free(buf);
      return n < 0 ? (int)n : MP_ETRUNCATED;
    }
    got += (size_t)n;
  }
  *out = buf;
  return 0;
}

int mp__boot_recv(int sock, mp__boot *b, const mp__deadline *dl) {
  memset(b, 0, sizeof *b);
  b->result_fd = b->parent_pidfd = -1;
  b->stdio[0] = b->stdio[1] = b->stdio[2] = -1;
  unsigned char hb[MP__BOOT_HDR];
  int fds[MP__BOOT_FDS];
  size_t nf = 0;
  int r = mp__recv_fds(sock, hb, sizeof hb, fds, MP__ARRAY_SIZE(fds), &nf, dl);
  if (r < 0)
    return r;
  boot_hdr h;
  memcpy(&h, hb, sizeof h);
  size_t need_fds = 1 + !!(h.flags & MP__BOOT_PARENT_PIDFD) +
                    3 * !!(h.flags & MP__BOOT_STDIO);
  size_t fixed = (size_t)h.identity_len * 4 + h.name_len + h.parent_name_len +
                 h.authkey_len + (size_t)h.npassed * (4 + MP_HANDLE_WIRE_SIZE);
  unsigned char *m = NULL;
  r = MP_EDECODE;
  if (h.magic != MP__BOOT_MAGIC || h.nfds != nf || nf < need_fds ||
      h.identity_len > 64 || h.name_len > 65536 || h.parent_name_len > 65536 ||
      h.authkey_len > MP__AUTHKEY_MAX || h.npassed > MP__PASS_MAX ||
      h.arg_len > MP__BOOT_MAX || h.total != MP__BOOT_HDR + fixed)
    goto fail;
  r = -ENOMEM;
  if (!(m = mp__malloc(fixed + 1)))
    goto fail;
  ssize_t got = mp__read_full(sock, m, fixed);
  r = got < 0 ? (int)got : MP_ETRUNCATED;
  if (got != (ssize_t)fixed)
    goto fail;
  r = -ENOMEM;
  b->flags = h.flags;
  b->parent_pid = h.parent_pid;
  b->log_level = h.log_level;
  b->log_set = h.log_flags & 1;
  b->log_handler = h.log_handler;
  b->slot = h.slot;
  b->target = h.target;
  b->len = h.arg_len;
  if (b->len && (r = read_growing(sock, b->len, &b->arg)) < 0)
    goto fail;
  r = -ENOMEM;
  const unsigned char *at = m;
  b->identity_len = h.identity_len;
  if (!(b->identity = mp__calloc(h.identity_len + 1, sizeof *b->identity)))
    goto fail;
  for (size_t i = 0; i < h.identity_len; i++, at += 4)
    memcpy(&b->identity[i], at, 4);
  if (!(b->name = take_str(at, h.name_len)))
    goto fail;
  at += h.name_len;
  if (!(b->parent_name = take_str(at, h.parent_name_len)))
    goto fail;
  at += h.parent_name_len;
  memcpy(b->authkey, at, h.authkey_len);
  b->authkey_len = h.authkey_len;
  at += h.authkey_len;
  if (h.npassed && !(b->passed = mp__calloc(1, sizeof *b->passed)))
    goto fail;
  /* From here the descriptors are b's, one by one. */
  size_t fi = 0;
  b->result_fd = fds[fi++];
  if (h.flags & MP__BOOT_PARENT_PIDFD)
    b->parent_pidfd = fds[fi++];
  if (h.flags & MP__BOOT_STDIO)
    for (int i = 0; i < 3; i++)
      b->stdio[i] = fds[fi++];
  r = MP_EDECODE;
  for (size_t i = 0; i < h.npassed; i++) {
    uint32_t kind;
    memcpy(&kind, at, 4);
    const unsigned char *wire = at + 4;
    at += 4 + MP_HANDLE_WIRE_SIZE;
    mp__passed_item *it = &b->passed->items[i];
    if (kind == 1) {
      if (fi >= nf)
        goto fail;
      it->is_fd = true;
      it->h.nparts = 1;
      it->h.parts[0].fd = fds[fi];
    } else {
      uint32_t parts = (uint32_t)wire[6] | (uint32_t)wire[7] << 8;
      if (kind != 0 || parts > nf - fi ||
          mp_handle_decode(wire, MP_HANDLE_WIRE_SIZE, fds + fi, parts,
                           &it->h) < 0)
        goto fail;
    }
    fi += it->h.nparts;
    b->passed->n = i + 1;
  }
  if (fi != nf)
    goto fail;
  mp__free(m);
  return 0;
fail:
  /* Close the descriptors b does not own yet, then what b holds. */
  {
    size_t owned = (b->result_fd >= 0) + (b->parent_pidfd >= 0) +
                   3 * (b->stdio[0] >= 0) + mp__passed_nfds(b->passed);
    for (size_t i = owned; i < nf; i++)
      mp__close(fds[i]);
  }
  mp__free(m);
  mp__boot_free(b);
  return r;
}

_Noreturn void mp__boot_run(mp__boot *b, mp_target_fn fn, pid_t direct_parent) {
  mp_process *p = mp__calloc(1, sizeof *p);
  if (!p)
    _exit(255);
  p->kind = MP__PROC_CHILD;
  p->method = &mp__method_spawn;
  p->parent_pid = b->parent_pid;
  p->refs = 1;
  p->state = MP__ST_STARTED;
  p->pidfd = -1;
  p->slot = -1;
  p->result_state = -1;
  p->name = b->name;
  p->identity = b->identity;
  p->identity_len = b->identity_len;
  memcpy(p->authkey, b->authkey, b->authkey_len);
  p->authkey_len = b->authkey_len;
  p->daemon = b->flags & MP__BOOT_DAEMON;
  p->passed = b->passed;
  p->target = fn;
  /* The result arena: mapped here, as a forked child inherits it. */
  if (mp__result_attach(p, b->result_fd, b->slot) == 0)
    b->result_fd = -1;
  mp__children_after_fork(p, b->parent_pid, b->parent_name);
  void *lh;
  if (b->log_set && mp__fnref_resolve(&b->log_handler, &lh) == 0) {
    mp_logger_set_handler(mp_get_logger(), (mp_log_handler)lh, NULL);
    mp_logger_set_level(mp_get_logger(), b->log_level);
  }
  mp_process *parent = mp_parent_process();
  if (b->parent_pidfd >= 0 && parent)
    parent->pidfd = b->parent_pidfd;
  if (p->daemon)
    mp__die_with_parent(direct_parent);
  mp__child_run(fn, b->arg, b->len);
}
