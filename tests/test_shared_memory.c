/* test_shared_memory.c: named shared memory (mproc/shared_memory.h):
 * create with a name or a generated one, attach by name from this and
 * from other processes, close, unlink, the explicit lifetime (a segment
 * outlives the process that made it until someone unlinks it), bad input,
 * and no leaked descriptors. Every name a test creates is recorded and
 * unlinked again by the group teardown, even when a test fails midway.
 * The suite runs once per start method (tests/mp_test.h). */
#include <sys/stat.h>

#include "sync_test_util.h"

static char g_names[64][300];
static int g_nnames;

/* A name unique to this run, remembered for the cleanup. */
static const char *test_name(const char *tag) {
  assert_true(g_nnames < 64);
  char *n = g_names[g_nnames++];
  snprintf(n, sizeof g_names[0], "mproc_test_%d_%s", (int)getpid(), tag);
  return n;
}

static void remember(const char *name) {
  assert_true(g_nnames < 64);
  snprintf(g_names[g_nnames++], sizeof g_names[0], "%s", name);
}

static int cleanup(void **state) {
  (void)state;
  for (int i = 0; i < g_nnames; i++) {
    char path[400];
    snprintf(path, sizeof path, "/%.300s", g_names[i]);
    shm_unlink(path); /* most are gone already: ENOENT is fine */
  }
  return 0;
}

static bool exists(const char *name) {
  char path[400];
  snprintf(path, sizeof path, "/dev/shm/%s", name);
  return access(path, F_OK) == 0;
}

static void test_create_attach_unlink(void **state) {
  (void)state;
  mp_test_watchdog(30);
  int fds0 = mp_test_count_fds();
  const char *name = test_name("basic");
  mp_shared_memory *m = mp_shared_memory_create(name, 10000);
  assert_non_null(m);
  assert_string_equal(mp_shared_memory_name(m), name);
  assert_int_equal(mp_shared_memory_size(m), 10000);
  unsigned char *buf = mp_shared_memory_buf(m);
  assert_non_null(buf);
  for (int i = 0; i < 10000; i++)
    assert_int_equal(buf[i], 0);
  assert_true(exists(name));
  struct stat st;
  char path[400];
  snprintf(path, sizeof path, "/dev/shm/%s", name);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  memcpy(buf, "howdy", 5);

  /* Attach by name (a leading slash is accepted and dropped). */
  char slashed[400];
  snprintf(slashed, sizeof slashed, "/%s", name);
  mp_shared_memory *m2 = mp_shared_memory_attach(slashed);
  assert_non_null(m2);
  assert_string_equal(mp_shared_memory_name(m2), name);
  assert_int_equal(mp_shared_memory_size(m2), 10000);
  unsigned char *buf2 = mp_shared_memory_buf(m2);
  assert_ptr_not_equal(buf2, buf);
  assert_memory_equal(buf2, "howdy", 5);
  buf2[5] = '!';
  assert_int_equal(buf[5], '!');

  /* close: unmapped here, the segment stays. */
  assert_int_equal(mp_shared_memory_close(m2), 0);
  assert_null(mp_shared_memory_buf(m2));
  assert_int_equal(mp_shared_memory_close(m2), 0);
  assert_true(exists(name));
  /* unlink: the name goes, mappings stay valid. */
  assert_int_equal(mp_shared_memory_unlink(m2), 0); /* after close: fine */
  assert_false(exists(name));
  assert_int_equal(mp_shared_memory_unlink(m), -ENOENT);
  assert_memory_equal(buf, "howdy!", 6);
  errno = 0;
  assert_null(mp_shared_memory_attach(name));
  assert_int_equal(errno, ENOENT);
  mp_shared_memory_free(m2);
  mp_shared_memory_free(m);
  mp_shared_memory_free(NULL);
  assert_int_equal(mp_test_count_fds(), fds0);
}

static void test_generated_names(void **state) {
  (void)state;
  mp_test_watchdog(30);
  mp_shared_memory *a = mp_shared_memory_create(NULL, 1);
  mp_shared_memory *b = mp_shared_memory_create(NULL, 1);
  assert_non_null(a);
  assert_non_null(b);
  remember(mp_shared_memory_name(a));
  remember(mp_shared_memory_name(b));
  const char *na = mp_shared_memory_name(a);
  assert_int_equal(strlen(na), 12);
  assert_memory_equal(na, "psm_", 4);
  for (int i = 4; i < 12; i++)
    assert_non_null(strchr("0123456789abcdef", na[i]));
  assert_string_not_equal(na, mp_shared_memory_name(b));
  assert_true(exists(na));
  assert_int_equal(mp_shared_memory_unlink(a), 0);
  assert_int_equal(mp_shared_memory_unlink(b), 0);
  mp_shared_memory_free(a);
  mp_shared_memory_free(b);
}

static void test_bad_input(void **state) {
  (void)state;
  mp_test_watchdog(30);
  int fds0 = mp_test_count_fds();
  const char *name = test_name("bad");
  errno = 0;
  assert_null(mp_shared_memory_create(name, 0)); /* Python: ValueError */
  assert_int_equal(errno, EINVAL);
  assert_false(exists(name));
  const char *bad[] = {"", "/", "a/b", ".", ".."};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    errno = 0;
    assert_null(mp_shared_memory_create(bad[i], 16));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(mp_shared_memory_attach(bad[i]));
    assert_int_equal(errno, EINVAL);
  }
  char longname[300];
  memset(longname, 'x', sizeof longname - 1);
  longname[sizeof longname - 1] = 0;
  assert_null(mp_shared_memory_create(longname, 16));
  assert_int_equal(errno, ENAMETOOLONG);
  assert_null(mp_shared_memory_attach(NULL));
  assert_int_equal(errno, EINVAL);
  assert_null(mp_shared_memory_attach(test_name("missing")));
  assert_int_equal(errno, ENOENT);
  /* Taken names are not overwritten. */
  mp_shared_memory *m = mp_shared_memory_create(name, 64);
  assert_non_null(m);
  ((char *)mp_shared_memory_buf(m))[0] = 'k';
  assert_null(mp_shared_memory_create(name, 128));
  assert_int_equal(errno, EEXIST);
  assert_int_equal(((char *)mp_shared_memory_buf(m))[0], 'k');
  assert_int_equal(mp_shared_memory_unlink(m), 0);
  mp_shared_memory_free(m);
  /* An empty segment (made by someone else) cannot be mapped. */
  const char *empty = test_name("empty");
  char path[400];
  snprintf(path, sizeof path, "/%s", empty);
  int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  close(fd);
  assert_null(mp_shared_memory_attach(empty));
  assert_int_equal(errno, -MP_EVALUE);
  assert_int_equal(shm_unlink(path), 0);
  assert_int_equal(mp_shared_memory_close(NULL), -EINVAL);
  assert_int_equal(mp_shared_memory_unlink(NULL), -EINVAL);
  assert_null(mp_shared_memory_name(NULL));
  assert_int_equal(mp_test_count_fds(), fds0);
}

/* ---- other processes ----------------------------------------------------- */

/* Attaches by name (the argument bytes), writes, and ends without
 * unlinking. */
static int attacher(void *arg, size_t len) {
  (void)len;
  mp_shared_memory *m = mp_shared_memory_attach(arg);
  if (!m)
    return 1;
  int *p = mp_shared_memory_buf(m);
  for (int i = 0; i < 10; i++)
    p[i] = -p[i];
  mp_shared_memory_free(m);
  return 0;
}

/* Creates a segment and ends without unlinking it (nor closing). */
static int creator(void *arg, size_t len) {
  (void)len;
  mp_shared_memory *m = mp_shared_memory_create(arg, 4096);
  if (!m)
    return 1;
  strcpy(mp_shared_memory_buf(m), "left for you");
  /* A process's end closes it; a thread-process is this very program. */
  if (mp_test_method_is("thread"))
    mp_shared_memory_free(m);
  return 0;
}

static int run(mp_target_fn fn, const void *arg, size_t len) {
  mp_process *p = mp_test_start(fn, arg, len, NULL, 0);
  int code = mp_test_join_code(p);
  mp_process_free(p);
  return code;
}

static void test_other_processes(void **state) {
  (void)state;
  mp_test_watchdog(30);
  const char *g_name = test_name("procs");
  mp_shared_memory *m = mp_shared_memory_create(g_name, 10 * sizeof(int));
  assert_non_null(m);
  int *p = mp_shared_memory_buf(m);
  for (int i = 0; i < 10; i++)
    p[i] = i;
  assert_int_equal(run(attacher, g_name, strlen(g_name) + 1), 0);
  for (int i = 0; i < 10; i++)
    assert_int_equal(p[i], -i);
  /* The child's exit removed nothing (no resource tracker). */
  assert_true(exists(g_name));
  assert_int_equal(mp_shared_memory_unlink(m), 0);
  mp_shared_memory_free(m);

  /* Explicit lifetime: a segment outlives its creator until unlinked. */
  const char *name = test_name("orphan");
  assert_int_equal(run(creator, name, strlen(name) + 1), 0);
  assert_true(exists(name));
  m = mp_shared_memory_attach(name);
  assert_non_null(m);
  assert_int_equal(mp_shared_memory_size(m), 4096);
  assert_string_equal(mp_shared_memory_buf(m), "left for you");
  assert_int_equal(mp_shared_memory_unlink(m), 0);
  assert_false(exists(name));
  mp_shared_memory_free(m);
}

int main(void) {
  mp_test_use_start_method();
  if (access("/dev/shm", W_OK) != 0)
    mp_test_skip("/dev/shm is not writable here");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_create_attach_unlink),
      cmocka_unit_test(test_generated_names),
      cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_other_processes),
  };
  return cmocka_run_group_tests(tests, NULL, cleanup);
}
