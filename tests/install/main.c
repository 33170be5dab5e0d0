/* main.c: a tiny user of the installed library (tests/test_install.sh builds
 * it with CMake and with pkg-config). It checks that the header and the
 * library agree on the version and that real calls work, and prints
 * "mproc <version> ok". Exit 0 on success. */
#include <stdio.h>
#include <string.h>

#include <mproc.h>

static int fails;

static void check(int ok, const char *what) {
  if (!ok) {
    fprintf(stderr, "consumer: %s\n", what);
    fails++;
  }
}

int main(void) {
  check(mp_version() == MP_VERSION_HEX, "mp_version() differs from the header");
  check(strcmp(mp_version_string(), MP_VERSION_STRING) == 0,
        "mp_version_string() differs from the header");
  check(strcmp(mp_err_name(MP_ETIMEOUT), "MP_ETIMEOUT") == 0, "mp_err_name");
  check(mp_strerror(MP_EEMPTY) != NULL && *mp_strerror(MP_EEMPTY), "mp_strerror");
  check(mp_cpu_count() >= 1 && mp_cpu_count_usable() >= 1, "mp_cpu_count");
  double t0 = mp_monotonic();
  check(t0 >= 0 && mp_monotonic() >= t0, "mp_monotonic");
  mp_logger *lg = mp_get_logger();
  check(lg != NULL && mp_logger_get_level(lg) == MP_LOG_NOTSET, "mp_get_logger");
  if (fails)
    return 1;
  printf("mproc %s ok\n", mp_version_string());
  return 0;
}
