/* main.c: a tiny user of the installed library (tests/test_install.sh builds
 * it with CMake and with pkg-config). It checks that the header and the
 * library agree on the version and that real calls work (a process is
 * started and joined once the process area is installed), and prints
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

#if __has_include(<mproc/process.h>)
static int child(void *arg, size_t len) {
  return len == 3 && memcmp(arg, "bob", 3) == 0 ? 7 : 1;
}

/* A real process through the installed library: start, join, exit code. */
static void check_process(void) {
  mp_process *p = mp_process_new(child, "bob", 3, NULL);
  int code = -1;
  check(p != NULL, "mp_process_new");
  if (!p)
    return;
  check(mp_process_start(p) == 0, "mp_process_start");
  check(mp_process_join(p, 30.0) == 0, "mp_process_join");
  check(mp_process_exitcode(p, &code) == 1 && code == 7, "mp_process_exitcode");
  mp_process_free(p);
}
#else
static void check_process(void) {}
#endif

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
  check_process();
  if (fails)
    return 1;
  printf("mproc %s ok\n", mp_version_string());
  return 0;
}
