/* pool_map_async_result.c: tutorial 001, "How to Get Result From
 * map_async()": five tasks each add a random number (after sleeping that
 * long) to their argument; get() returns all five results, in order.
 *
 *   def task(arg):
 *       value = random()
 *       sleep(value)
 *       return arg + value
 *
 *   if __name__ == '__main__':
 *       with Pool() as pool:
 *           async_result = pool.map_async(task, range(5))
 *           print('Waiting for results...')
 *           results = async_result.get()
 *           for result in results:
 *               print(f'Got: {result}')
 *
 * range(5) is an array of five ints; each result is a double, written by
 * the workers straight into shared memory that get() hands back. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <errno.h>

#include <mproc.h>

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
  (void)len;
  double value = rnd();
  sleep_s(value);
  double r = *(const int *)arg + value;
  return mp_task_out_set(out, &r, sizeof r);
}

int main(void) {
  mp_pool *pool = mp_pool_new(NULL);
  if (!pool) {
    fprintf(stderr, "mp_pool_new: %s\n", mp_strerror(errno));
    return 1;
  }
  int range5[5] = {0, 1, 2, 3, 4};
  mp_result *async_result = mp_pool_map_async(pool, task, range5, 5, sizeof(int),
                                              NULL, sizeof(double), NULL);
  printf("Waiting for results...\n");
  const void *results;
  size_t len;
  if (mp_result_get(async_result, MP_FOREVER, &results, &len) == 0)
    for (size_t i = 0; i < len / sizeof(double); i++)
      print_float("Got: ", ((const double *)results)[i]);
  mp_result_free(async_result);
  mp_pool_free(pool);
  return 0;
}
