/* log_to_stderr.c: the reference's logging session (17.2.2.12), with a
 * process where the reference starts a Manager:
 *
 *   >>> logger = multiprocessing.log_to_stderr()
 *   >>> logger.setLevel(logging.INFO)
 *   >>> logger.warning('doomed')
 *   [WARNING/MainProcess] doomed
 *
 * then the lines CPython logs at INFO for a process that runs and exits,
 * and for the main process at exit ("process shutting down"). */
#include <mproc.h>
#include "check.h"

static int quiet(void *arg, size_t len) {
  (void)arg;
  (void)len;
  return 0;
}

int main(void) {
  mp_logger *logger = mp_log_to_stderr(-1);
  mp_logger_set_level(logger, MP_LOG_INFO);
  mp_log(MP_LOG_WARNING, "doomed");
  mp_process *p = CHECKP(mp_process_new(quiet, NULL, 0, NULL));
  CHECK(mp_process_start(p));
  CHECK(mp_process_join(p, MP_FOREVER));
  mp_process_free(p);
  return 0;
}
