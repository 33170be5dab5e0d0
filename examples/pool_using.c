/* pool_using.c: the reference's 17.2.4 example "Using Pool", translated
 * whole: ordered results from apply_async, imap and map, unordered ones from
 * imap_unordered; the error-handling section (a task dividing by zero fails
 * apply, map and list(imap), and imap's next() raises at i == 5 and then goes
 * on); get() with a timeout polled every 0.02 s; imap's next() with a
 * timeout. Process names differ from run to run, as in Python.
 *
 * Python's calculate(func, args) runs func(*args) and describes it:
 *
 *   def calculate(func, args):
 *       result = func(*args)
 *       return '%s says that %s%s = %s' % (
 *           multiprocessing.current_process().name,
 *           func.__name__, args, result)
 *
 * In C the (func, args) pair is a struct; the task returns the sentence as
 * a NUL-terminated string, so map can also collect it into fixed-size
 * elements of 128 bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mproc.h>
#include "check.h"

#define PROCESSES 4
#define NTASKS 20
#define LINE 128

enum { MUL, PLUS };
typedef struct task {
  int func;
  int a, b;
} task;

static double rnd(void) {
  static unsigned short state[3];
  static pid_t seeded;
  if (seeded != getpid()) {
    seeded = getpid();
    state[0] = (unsigned short)seeded;
    state[1] = (unsigned short)time(NULL);
    state[2] = 0x330e;
  }
  return erand48(state);
}

static void sleep_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
  nanosleep(&ts, NULL);
}

static int mul(int a, int b) {
  sleep_s(0.5 * rnd());
  return a * b;
}

static int plus(int a, int b) {
  sleep_s(0.5 * rnd());
  return a + b;
}

static int calculate(const void *arg, size_t len, mp_task_out *out) {
  (void)len;
  const task *t = arg;
  int result = t->func == MUL ? mul(t->a, t->b) : plus(t->a, t->b);
  char line[LINE];
  int n = snprintf(line, sizeof line, "%s says that %s(%d, %d) = %d",
                   mp_process_name(mp_current_process()),
                   t->func == MUL ? "mul" : "plus", t->a, t->b, result);
  return mp_task_out_set(out, line, (size_t)n + 1);
}

/* f(x) = 1.0 / (x - 5.0) */
static int f(const void *arg, size_t len, mp_task_out *out) {
  (void)len;
  int x = *(const int *)arg;
  if (x == 5)
    return mp_task_fail(out, 1, "ZeroDivisionError: float division by zero");
  double y = 1.0 / (x - 5.0);
  return mp_task_out_set(out, &y, sizeof y);
}

static int is_zero_division(const mp_error *e) {
  return e && strncmp(e->message, "ZeroDivisionError", 17) == 0;
}

static void expected(const char *what) {
  fprintf(stderr, "AssertionError: expected ZeroDivisionError from %s\n", what);
  exit(1);
}

int main(void) {
  printf("Creating pool with %d processes\n\n", PROCESSES);
  mp_pool *pool = mp_pool_new(&(mp_pool_opts){.processes = PROCESSES});
  if (!pool) {
    fprintf(stderr, "mp_pool_new: %s\n", mp_strerror(errno));
    return 1;
  }

  /* ---- Tests ---- */
  task TASKS[NTASKS];
  for (int i = 0; i < 10; i++) {
    TASKS[i] = (task){MUL, i, 7};
    TASKS[10 + i] = (task){PLUS, i, 8};
  }
  mp_result *results[NTASKS];
  for (int i = 0; i < NTASKS; i++)
    results[i] = CHECKP(mp_pool_apply_async(pool, calculate, &TASKS[i], sizeof(task), NULL));
  mp_imap *imap_it = CHECKP(mp_pool_imap(pool, calculate, TASKS, NTASKS, sizeof(task), NULL));
  mp_imap *imap_unordered_it =
      mp_pool_imap_unordered(pool, calculate, TASKS, NTASKS, sizeof(task), NULL);

  const void *s;
  printf("Ordered results using pool.apply_async():\n");
  for (int i = 0; i < NTASKS; i++) {
    if (mp_result_get(results[i], MP_FOREVER, &s, NULL) == 0)
      printf("\t %s\n", (const char *)s);
    mp_result_free(results[i]);
  }
  printf("\n");

  printf("Ordered results using pool.imap():\n");
  while (mp_imap_next(imap_it, MP_FOREVER, &s, NULL) == 0)
    printf("\t %s\n", (const char *)s);
  mp_imap_free(imap_it);
  printf("\n");

  printf("Unordered results using pool.imap_unordered():\n");
  while (mp_imap_next(imap_unordered_it, MP_FOREVER, &s, NULL) == 0)
    printf("\t %s\n", (const char *)s);
  mp_imap_free(imap_unordered_it);
  printf("\n");

  printf("Ordered results using pool.map() --- will block till complete:\n");
  static char lines[NTASKS][LINE];
  CHECK(mp_pool_map(pool, calculate, TASKS, NTASKS, sizeof(task), lines, LINE, NULL, NULL));
  for (int i = 0; i < NTASKS; i++)
    printf("\t %s\n", lines[i]);
  printf("\n");

  /* ---- Test error handling ---- */
  printf("Testing error handling:\n");
  int five = 5;
  mp_error err;
  if (mp_pool_apply(pool, f, &five, sizeof five, NULL, NULL, &err) == MP_ETASK &&
      is_zero_division(&err))
    printf("\tGot ZeroDivisionError as expected from pool.apply()\n");
  else
    expected("pool.apply()");

  int range10[10];
  double out[10];
  for (int i = 0; i < 10; i++)
    range10[i] = i;
  if (mp_pool_map(pool, f, range10, 10, sizeof(int), out, sizeof(double), NULL,
                  &err) == MP_ETASK && is_zero_division(&err))
    printf("\tGot ZeroDivisionError as expected from pool.map()\n");
  else
    expected("pool.map()");

  /* list(pool.imap(f, ...)): the first error ends the list. */
  mp_imap *it = CHECKP(mp_pool_imap(pool, f, range10, 10, sizeof(int), NULL));
  int rc;
  while ((rc = mp_imap_next(it, MP_FOREVER, NULL, NULL)) == 0)
    ;
  if (rc == MP_ETASK && is_zero_division(mp_imap_error(it)))
    printf("\tGot ZeroDivisionError as expected from list(pool.imap())\n");
  else
    expected("list(pool.imap())");
  mp_imap_free(it);

  it = CHECKP(mp_pool_imap(pool, f, range10, 10, sizeof(int), NULL));
  int i;
  for (i = 0; i < 10; i++) {
    rc = mp_imap_next(it, MP_FOREVER, NULL, NULL);
    if (rc == MP_ESTOP)
      break;
    if (rc == 0 && i == 5)
      expected("IMapIterator.next()");
  }
  mp_imap_free(it);
  if (i != 10) /* Python's loop leaves i == 9 after its last pass */
    expected("IMapIterator.next(): not every item");
  printf("\tGot ZeroDivisionError as expected from IMapIterator.next()\n");
  printf("\n");

  /* ---- Testing timeouts ---- */
  printf("Testing ApplyResult.get() with timeout: ");
  mp_result *res = CHECKP(mp_pool_apply_async(pool, calculate, &TASKS[0], sizeof(task), NULL));
  for (;;) {
    fflush(stdout);
    rc = mp_result_get(res, 0.02, &s, NULL);
    if (rc == 0) {
      printf("\n\t%s", (const char *)s);
      break;
    }
    printf(".");
  }
  mp_result_free(res);
  printf("\n\n");

  printf("Testing IMapIterator.next() with timeout: ");
  it = CHECKP(mp_pool_imap(pool, calculate, TASKS, NTASKS, sizeof(task), NULL));
  for (;;) {
    fflush(stdout);
    rc = mp_imap_next(it, 0.02, &s, NULL);
    if (rc == 0)
      printf("\n\t%s", (const char *)s);
    else if (rc == MP_ESTOP)
      break;
    else
      printf(".");
  }
  mp_imap_free(it);
  printf("\n\n");

  mp_pool_free(pool); /* the end of `with`: terminate */
  return 0;
}
