/* errors.c: messages and names for every code the library returns, generated
 * from the one table in mproc/errors.h, the error record's setter, and the
 * calling thread's last error record (mp_last_error), which every area fills
 * through mp__error_record when a failure has more to say than its code. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "runtime_internal.h"

/* errno after a failed constructor holds the positive value of the code
 * (errors.h): both signs name the same code. */
static int canonical(int code) { return code > 0 ? -code : code; }

MP_EXPORT const char *mp_strerror(int code) {
  code = canonical(code);
  switch (code) {
  case 0:
    return "success";
#define MP__ERR_MSG(name, val, msg)                                            \
  case val:                                                                    \
    return msg;
    MP_ERRNO_MAP(MP__ERR_MSG)
#undef MP__ERR_MSG
  default:
    break;
  }
  if (code < 0 && code > -4096) {
    /* strerrordesc_np is thread-safe and returns a static string. */
    const char *s = strerrordesc_np(-code);
    if (s)
      return s;
  }
  return "unknown error";
}

MP_EXPORT const char *mp_err_name(int code) {
  code = canonical(code);
  switch (code) {
  case 0:
    return "MP_OK";
#define MP__ERR_NAME(name, val, msg)                                           \
  case val:                                                                    \
    return "MP_" #name;
    MP_ERRNO_MAP(MP__ERR_NAME)
#undef MP__ERR_NAME
  default:
    break;
  }
  if (code < 0 && code > -4096) {
    const char *s = strerrorname_np(-code);
    if (s)
      return s;
  }
  return "UNKNOWN";
}

MP_EXPORT int mp_errno_code(int err) { return err > 0 ? -err : err; }

MP_EXPORT int mp_error_set(mp_error *err, int code, int signo, int status,
                           const char *fmt, ...) {
  if (err) {
    err->code = code;
    err->signo = signo;
    err->status = status;
    err->message[0] = '\0';
    if (fmt) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(err->message, sizeof err->message, fmt, ap);
      va_end(ap);
    }
  }
  return code;
}

static __thread mp_error tl_last;

int mp__error_record(int code, const char *fmt, ...) {
  tl_last.code = code;
  tl_last.signo = 0;
  tl_last.status = -1;
  tl_last.message[0] = '\0';
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tl_last.message, sizeof tl_last.message, fmt, ap);
    va_end(ap);
  }
  return code;
}

void mp__error_record_copy(const mp_error *e) {
  if (e)
    tl_last = *e;
}

MP_EXPORT const mp_error *mp_last_error(void) { return &tl_last; }

MP_EXPORT unsigned mp_version(void) { return MP_VERSION_HEX; }
MP_EXPORT const char *mp_version_string(void) { return MP_VERSION_STRING; }
