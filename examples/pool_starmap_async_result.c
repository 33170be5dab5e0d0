/* pool_starmap_async_result.c: tutorial 001, "How to Get Result From
 * starmap_async()": each task gets three arguments, adds them and a random
 * number (after sleeping that long).
 *
 *   def task(arg1, arg2, arg3):
 *       value = random()
 *       sleep(value)
 *       return arg1 + arg2 + arg3 + value
 *
 *   if __name__ == '__main__':
 *       with Pool() as pool:
 *           args = [(i,i*2, i*3) for i in range(5)]
 *           async_result = pool.starmap_async(task, args)
 *           print('Waiting for results...')
 *           results = async_result.get()
 *           for result in results:
 *               print(f'Got: {result}')
 *
 * In C a tuple of arguments is a struct: starmap maps over an array of
 * them. */
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

typedef struct args3 {
  int arg1, arg2, arg3;
} args3;

static int task(const void *arg, size_t len, mp_task_out *out) {
  (void)len;
  const args3 *a = arg;
  double value = rnd();
  sleep_s(value);
  double r = a->arg1 + a->arg2 + a->arg3 + value;
  return mp_task_out_set(out, &r, sizeof r);
}

int main(void) {
  mp_pool *pool = mp_pool_new(NULL);
  if (!pool) {
    fprintf(stderr, "mp_pool_new: %s\n", mp_strerror(errno));
    return 1;
  }
  args3 args[5];
  for (int i = 0; i < 5; i++)
    args[i] = (args3){i, i * 2, i * 3};
  double results[5];
  mp_result *async_result = mp_pool_starmap_async(
      pool, task, args, 5, sizeof(args3), results, sizeof(double), NULL);
  printf("Waiting for results...\n");
  if (mp_result_get(async_result, MP_FOREVER, NULL, NULL) == 0)
    for (int i = 0; i < 5; i++)
      print_float("Got: ", results[i]);
  mp_result_free(async_result);
  mp_pool_free(pool);
  return 0;
}
