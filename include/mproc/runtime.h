/* mproc/runtime.h: what every area of the library stands on and users may
 * need directly: timeouts, the allocator hook, logging and CPU counts.
 *
 * Timeouts are double seconds, as in Python: MP_FOREVER blocks, 0 polls, a
 * negative value counts as 0, NaN is -EINVAL. Waits use the monotonic clock,
 * and a signal (EINTR) never cuts a wait short. */
#ifndef MPROC_RUNTIME_H
#define MPROC_RUNTIME_H

#include <stdarg.h>
#include <stddef.h>

#include "errors.h"

MP_EXTERN_C_BEGIN

/* Block without a time limit: Python's timeout=None. */
#define MP_FOREVER (__builtin_inf())

/* Seconds on the monotonic clock since an arbitrary point; for measuring. */
MP_EXPORT double mp_monotonic(void);

/* ---- Allocator -------------------------------------------------------- */

/* Where the library gets the private (not shared) memory it allocates.
 * Any member left NULL falls back to libc. ctx is passed to every call. */
typedef struct mp_allocator {
  void *(*malloc)(void *ctx, size_t size);
  void *(*realloc)(void *ctx, void *ptr, size_t size);
  void (*free)(void *ctx, void *ptr);
  void *ctx;
} mp_allocator;

/* Installs alloc (copied; NULL restores libc). Call it before creating any
 * object: memory must be freed by the allocator that gave it. Not
 * thread-safe with calls that allocate. */
MP_EXPORT void mp_set_allocator(const mp_allocator *alloc);

/* Frees memory the library returned to the caller ("free with mp_free").
 * mp_free(NULL) does nothing. */
MP_EXPORT void mp_free(void *ptr);

/* ---- Logging (the reference's 17.2.2.12) ------------------------------ */

/* Python's logging levels; multiprocessing adds SUBDEBUG and SUBWARNING. */
enum {
  MP_LOG_NOTSET = 0,
  MP_LOG_SUBDEBUG = 5,
  MP_LOG_DEBUG = 10,
  MP_LOG_INFO = 20,
  MP_LOG_SUBWARNING = 25,
  MP_LOG_WARNING = 30,
  MP_LOG_ERROR = 40,
  MP_LOG_CRITICAL = 50,
};

/* The library's logger: a level and a handler. Records below the level are
 * dropped. The logger is process-wide and children inherit its settings. */
typedef struct mp_logger mp_logger;

/* A handler receives one finished line, "[LEVEL/ProcessName] message\n",
 * and its length. */
typedef void (*mp_log_handler)(void *ctx, int level, const char *line,
                               size_t len);

/* The library's logger (created on first use, never freed). As in Python it
 * starts with no handler and level MP_LOG_NOTSET, which logs nothing. */
MP_EXPORT mp_logger *mp_get_logger(void);

/* Python's log_to_stderr(level): sends records at or above level to stderr,
 * each line written with one write(2) so lines from several processes never
 * interleave. level < 0 keeps the current level (Python's None). Returns the
 * logger. */
MP_EXPORT mp_logger *mp_log_to_stderr(int level);

/* Python's logger.setLevel(level) and getLevel(): records below
 * the level are dropped (MP_LOG_NOTSET, the starting level, logs nothing). */
MP_EXPORT void mp_logger_set_level(mp_logger *lg, int level);
MP_EXPORT int mp_logger_get_level(const mp_logger *lg);
/* handler NULL removes the handler (nothing is logged). */
MP_EXPORT void mp_logger_set_handler(mp_logger *lg, mp_log_handler handler,
                                     void *ctx);
/* Logs one record if level is enabled. Thread- and fork-safe. */
MP_EXPORT void mp_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
MP_EXPORT void mp_logv(int level, const char *fmt, va_list ap);
/* logging.getLevelName(level): "DEBUG", "INFO", "WARNING", ...; "Level N"
 * for others, including SUBDEBUG ("Level 5") and SUBWARNING ("Level 25"),
 * which CPython 3.11's multiprocessing does not name (log lines read
 * "[Level 25/Process-1] ..." there and here). A static string, or for
 * "Level N" a thread-local buffer valid until this thread's next call. */
MP_EXPORT const char *mp_log_level_name(int level);

/* ---- CPUs --------------------------------------------------------------- */

/* The number of CPUs in the system (Python's cpu_count()); >= 1. */
MP_EXPORT int mp_cpu_count(void);
/* The number of CPUs this process may run on (its affinity mask, as
 * len(os.sched_getaffinity(0))); >= 1. The pool's default size. */
MP_EXPORT int mp_cpu_count_usable(void);

MP_EXTERN_C_END

#endif
