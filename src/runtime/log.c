/* log.c: the reference's logging (17.2.2.12). One process-wide logger with a
 * level and a handler; lines look like "[INFO/Process-1] message". Each line
 * is formatted in full first and handed over whole, so the stderr handler
 * writes it with one write(2): lines from many processes never interleave. */
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include "runtime_internal.h"

struct mp_logger {
  _Atomic int level;
  mp_log_handler _Atomic handler;
  void *_Atomic ctx;
};

static mp_logger g_logger; /* level NOTSET, no handler: logs nothing */

MP_EXPORT mp_logger *mp_get_logger(void) { return &g_logger; }

static void stderr_handler(void *ctx, int level, const char *line,
                           size_t len) {
  MP__UNUSED(ctx);
  MP__UNUSED(level);
  /* One write: atomic for lines up to PIPE_BUF on pipes, and never split
   * by this process on terminals and files. */
  (void)!write(STDERR_FILENO, line, len);
}

MP_EXPORT mp_logger *mp_log_to_stderr(int level) {
  mp_logger_set_handler(&g_logger, stderr_handler, NULL);
  if (level >= 0)
    mp_logger_set_level(&g_logger, level);
  return &g_logger;
}

MP_EXPORT void mp_logger_set_level(mp_logger *lg, int level) {
  atomic_store(&lg->level, level);
}

MP_EXPORT int mp_logger_get_level(const mp_logger *lg) {
  return atomic_load(&((mp_logger *)lg)->level);
}

MP_EXPORT void mp_logger_set_handler(mp_logger *lg, mp_log_handler handler,
                                     void *ctx) {
  atomic_store(&lg->ctx, ctx);
  atomic_store(&lg->handler, handler);
}

mp_log_handler mp__log_handler(void **ctx) {
  *ctx = atomic_load(&g_logger.ctx);
  return atomic_load(&g_logger.handler);
}

/* The names logging itself registers. multiprocessing (3.x) defines
 * SUBDEBUG and SUBWARNING but never names them, so CPython 3.11 prints
 * them as "Level 5" and "Level 25": so do we. */
static const char *known_level(int level) {
  switch (level) {
  case MP_LOG_NOTSET: return "NOTSET";
  case MP_LOG_DEBUG: return "DEBUG";
  case MP_LOG_INFO: return "INFO";
  case MP_LOG_WARNING: return "WARNING";
  case MP_LOG_ERROR: return "ERROR";
  case MP_LOG_CRITICAL: return "CRITICAL";
  default: return NULL;
  }
}

MP_EXPORT const char *mp_log_level_name(int level) {
  static __thread char buf[24];
  const char *s = known_level(level);
  if (s)
    return s;
  snprintf(buf, sizeof buf, "Level %d", level);
  return buf;
}

MP_EXPORT void mp_logv(int level, const char *fmt, va_list ap) {
  mp_log_handler h = atomic_load(&g_logger.handler);
  int min = atomic_load(&g_logger.level);
  /* NOTSET with a handler logs everything, as Python's root default would
   * pass it on; without a handler nothing is logged. */
  if (!h || level < min)
    return;
  char line[1024];
  const char *lname = known_level(level);
  int n;
  if (lname)
    n = snprintf(line, sizeof line, "[%s/%s] ", lname, mp__self_name());
  else
    n = snprintf(line, sizeof line, "[Level %d/%s] ", level, mp__self_name());
  if (n < 0)
    return;
  if ((size_t)n < sizeof line - 1) {
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    if (m > 0)
      n += m;
  }
  if ((size_t)n > sizeof line - 2)
    n = (int)sizeof line - 2; /* truncated: keep the newline */
  line[n++] = '\n';
  line[n] = '\0';
  h(atomic_load(&g_logger.ctx), level, line, (size_t)n);
}

MP_EXPORT void mp_log(int level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mp_logv(level, fmt, ap);
  va_end(ap);
}
