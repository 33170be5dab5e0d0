/* pool_apply_async_result.c: tutorial 001, "How to Get Result From
 * apply_async()": a task returns a random number after sleeping that long;
 * the main process waits for it with get().
 *
 *   from time import sleep
 *   from random import random
 *   from multiprocessing import Pool
 *
 *   def task():
 *       value = random()
 *       sleep(value)
 *       return value
 *
 *   if __name__ == '__main__':
 *       with Pool() as pool:
 *           async_result = pool.apply_async(task)
 *           print('Waiting for result...')
 *           result = async_result.get()
 *           print(f'Got: {result}')
 *
 * Python reseeds random in every forked process; so does rnd() here. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <mproc.h>
#include "check.h"

static double rnd(void) {
  static unsigned short state[3];
  static pid_t seeded;
  if (seeded != getpid()) {
    seeded = getpid();
    state[0] = (unsigned short)seeded;
    state[1] = (unsigned short)time(NULL);
    state[2] = (unsigned short)(clock() ^ 0x330e);
  }
  return erand48(state);
}

static void sleep_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
  nanosleep(&ts, NULL);
}

/* Python's repr of a float: the shortest text that reads back the same. */
static void print_float(const char *prefix, double v) {
  char buf[32];
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (strtod(buf, NULL) == v)
      break;
  }
  printf("%s%s\n", prefix, buf);
}

static int task(const void *arg, size_t len, mp_task_out *out) {
  (void)arg;
  (void)len;
  double value = rnd();
  sleep_s(value);
  return mp_task_out_set(out, &value, sizeof value);
}

int main(void) {
  mp_pool *pool = mp_pool_new(NULL);
  if (!pool) {
    fprintf(stderr, "mp_pool_new: %s\n", mp_strerror(errno));
    return 1;
  }
  mp_result *async_result = CHECKP(mp_pool_apply_async(pool, task, NULL, 0, NULL));
  printf("Waiting for result...\n");
  const void *result;
  if (mp_result_get(async_result, MP_FOREVER, &result, NULL) == 0)
    print_float("Got: ", *(const double *)result);
  mp_result_free(async_result);
  mp_pool_free(pool);
  return 0;
}
