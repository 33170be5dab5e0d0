/* queue_workers.c: the reference's 17.2.4 example of queues feeding tasks
 * to a collection of worker processes and collecting the results:
 *
 *   def worker(input, output):
 *       for func, args in iter(input.get, 'STOP'):
 *           result = calculate(func, args)
 *           output.put(result)
 *
 *   def calculate(func, args):
 *       result = func(*args)
 *       return '%s says that %s%s = %s' % \
 *           (current_process().name, func.__name__, args, result)
 *
 *   def mul(a, b): time.sleep(0.5*random.random()); return a * b
 *   def plus(a, b): time.sleep(0.5*random.random()); return a + b
 *
 *   NUMBER_OF_PROCESSES = 4
 *   TASKS1 = [(mul, (i, 7)) for i in range(20)]
 *   TASKS2 = [(plus, (i, 8)) for i in range(10)]
 *   task_queue = Queue(); done_queue = Queue()
 *   for task in TASKS1: task_queue.put(task)
 *   for i in range(NUMBER_OF_PROCESSES):
 *       Process(target=worker, args=(task_queue, done_queue)).start()
 *   print('Unordered results:')
 *   for i in range(len(TASKS1)): print('\t', done_queue.get())
 *   for task in TASKS2: task_queue.put(task)
 *   for i in range(len(TASKS2)): print('\t', done_queue.get())
 *   for i in range(NUMBER_OF_PROCESSES): task_queue.put('STOP')
 *
 * A task is a small struct of bytes (which function, two ints); 'STOP' is
 * the four bytes "STOP"; a result is its text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mproc.h>
#include "check.h"

#define NUMBER_OF_PROCESSES 4

typedef struct task {
  char func[8]; /* "mul" or "plus": the function's __name__ */
  int a, b;
} task;

typedef struct queues {
  mp_queue *input, *output;
} queues;

static void nap(void) { /* time.sleep(0.5 * random.random()) */
  usleep((useconds_t)(500000.0 * (double)rand() / ((double)RAND_MAX + 1)));
}
static int mul(int a, int b) {
  nap();
  return a * b;
}
static int plus(int a, int b) {
  nap();
  return a + b;
}

/* calculate(func, args) as text, into out. */
static int calculate(const task *t, char *out, size_t cap) {
  int result = strcmp(t->func, "mul") == 0 ? mul(t->a, t->b) : plus(t->a, t->b);
  return snprintf(out, cap, "%s says that %s(%d, %d) = %d",
                  mp_process_name(mp_current_process()), t->func, t->a, t->b,
                  result);
}

static int worker(void *arg, size_t len) {
  queues *qs = arg;
  (void)len;
  srand((unsigned)getpid() ^ (unsigned)time(NULL));
  for (;;) {
    task t;
    size_t n;
    CHECK(mp_queue_get_into(qs->input, &t, sizeof t, &n, MP_FOREVER));
    if (n == 4 && memcmp(&t, "STOP", 4) == 0) /* iter(input.get, 'STOP') */
      return 0;
    char result[128];
    int rlen = calculate(&t, result, sizeof result);
    CHECK(mp_queue_put(qs->output, result, (size_t)rlen, MP_FOREVER));
  }
}

static void put_task(mp_queue *q, const char *func, int a, int b) {
  task t = {{0}, a, b};
  strncpy(t.func, func, sizeof t.func - 1);
  CHECK(mp_queue_put(q, &t, sizeof t, MP_FOREVER));
}

static void print_result(mp_queue *q) {
  char buf[128];
  size_t n;
  if (mp_queue_get_into(q, buf, sizeof buf, &n, MP_FOREVER) == 0)
    printf("\t %.*s\n", (int)n, buf); /* print('\t', ...) */
}

int main(void) {
  /* Create queues */
  queues qs = {mp_queue_new(0), mp_queue_new(0)};
  if (!qs.input || !qs.output) {
    fprintf(stderr, "mp_queue_new: %s\n", mp_strerror(errno));
    return 1;
  }
  /* Submit tasks */
  for (int i = 0; i < 20; i++)
    put_task(qs.input, "mul", i, 7);
  /* Start worker processes */
  mp_process *workers[NUMBER_OF_PROCESSES];
  for (int i = 0; i < NUMBER_OF_PROCESSES; i++) {
    workers[i] = mp_process_new(worker, &qs, sizeof qs, NULL);
    if (!workers[i] || mp_process_start(workers[i]) != 0) {
      fprintf(stderr, "could not start a worker\n");
      return 1;
    }
  }
  /* Get and print results */
  printf("Unordered results:\n");
  for (int i = 0; i < 20; i++)
    print_result(qs.output);
  /* Add more tasks using put() */
  for (int i = 0; i < 10; i++)
    put_task(qs.input, "plus", i, 8);
  /* Get and print some more results */
  for (int i = 0; i < 10; i++)
    print_result(qs.output);
  fflush(stdout);
  /* Tell child processes to stop */
  for (int i = 0; i < NUMBER_OF_PROCESSES; i++)
    CHECK(mp_queue_put(qs.input, "STOP", 4, MP_FOREVER));
  /* Python joins non-daemonic children at exit; C says so. */
  for (int i = 0; i < NUMBER_OF_PROCESSES; i++) {
    CHECK(mp_process_join(workers[i], MP_FOREVER));
    mp_process_free(workers[i]);
  }
  mp_queue_free(qs.input);
  mp_queue_free(qs.output);
  return 0;
}
