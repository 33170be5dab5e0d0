/* errors.c: messages and names for every code the library returns, generated
 * from the one table in mproc/errors.h, plus the error record's setter. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "runtime_internal.h"

MP_EXPORT const char *mp_strerror(int code) {
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

MP_EXPORT unsigned mp_version(void) { return MP_VERSION_HEX; }
MP_EXPORT const char *mp_version_string(void) { return MP_VERSION_STRING; }
