/* return_values.c: tutorial 000's question, "how do I get the return value
 * of a function run in another process?", answered with process results
 * instead of a Manager dict and a Pool. Each worker hands back its bytes
 * with mp_process_return; the parent reads them after join with
 * mp_process_result, with no server process and no queue.
 *
 * The tutorial's first example (a Manager dict):
 *
 *   def worker(procnum, return_dict):
 *       print(str(procnum) + " represent!")
 *       return_dict[procnum] = procnum
 *   ...
 *   for proc in jobs:
 *       proc.join()
 *   print(return_dict.values())
 *
 * and its second (Pool.map of a function returning the worker's pid):
 *
 *   def worker(procnum):
 *       print('I am number %d in process %d' % (procnum, getpid()))
 *       return getpid()
 *   ...
 *   print(pool.map(worker, range(5)))
 *
 * Both print what the tutorial's Python prints; the "represent!" lines come
 * in whatever order the processes run, as in Python. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <mproc.h>

#define N 5

static int worker(void *arg, size_t len) {
  (void)len;
  int procnum;
  memcpy(&procnum, arg, sizeof procnum);
  printf("%d represent!\n", procnum);
  return mp_process_return(&procnum, sizeof procnum) == 0 ? 0 : 1;
}

static int worker_pid(void *arg, size_t len) {
  (void)len;
  int procnum;
  memcpy(&procnum, arg, sizeof procnum);
  int pid = (int)getpid();
  printf("I am number %d in process %d\n", procnum, pid);
  return mp_process_return(&pid, sizeof pid) == 0 ? 0 : 1;
}

/* Runs target(i) for i in 0..N-1 in N processes, then prints the list of
 * the ints they returned, as Python prints a list. */
static int run_all(mp_target_fn target) {
  mp_process *jobs[N];
  for (int i = 0; i < N; i++) {
    jobs[i] = mp_process_new(target, &i, sizeof i, NULL);
    if (!jobs[i] || mp_process_start(jobs[i]) < 0)
      return 1;
  }
  printf("[");
  for (int i = 0; i < N; i++) {
    const void *data;
    size_t len;
    int value;
    if (mp_process_join(jobs[i], MP_FOREVER) < 0 ||
        mp_process_result(jobs[i], &data, &len) != 1 || len != sizeof value)
      return 1;
    memcpy(&value, data, sizeof value);
    printf(i ? ", %d" : "%d", value);
    mp_process_free(jobs[i]);
  }
  printf("]\n");
  return 0;
}

int main(void) {
  if (run_all(worker) != 0)
    return 1;
  return run_all(worker_pid);
}
