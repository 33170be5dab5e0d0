/* square_list_queue.c: tutorial 003's queue example (GeeksforGeeks,
 * "Multiprocessing in Python | Set 2"): one process puts the squares of a
 * list on a queue, a second prints what it finds there.
 *
 *   def square_list(mylist, q):
 *       for num in mylist:
 *           q.put(num * num)
 *
 *   def print_queue(q):
 *       print("Queue elements:")
 *       while not q.empty():
 *           print(q.get())
 *       print("Queue is now empty!")
 *
 *   mylist = [1,2,3,4]
 *   q = multiprocessing.Queue()
 *   p1 = multiprocessing.Process(target=square_list, args=(mylist, q))
 *   p2 = multiprocessing.Process(target=print_queue, args=(q,))
 *   p1.start(); p1.join()
 *   p2.start(); p2.join()
 *
 * Items are bytes here: each is one int. The argument of each process is a
 * small struct copied into the child: the queue pointer (valid in a forked
 * child) and the list. */
#include <stdio.h>

#include <mproc.h>
#include "check.h"

typedef struct args {
  mp_queue *q;
  int mylist[4];
} args;

static int square_list(void *arg, size_t len) {
  args *a = arg;
  (void)len;
  for (int i = 0; i < 4; i++) {
    int sq = a->mylist[i] * a->mylist[i];
    CHECK(mp_queue_put(a->q, &sq, sizeof sq, MP_FOREVER));
  }
  return 0;
}

static int print_queue(void *arg, size_t len) {
  args *a = arg;
  (void)len;
  printf("Queue elements:\n");
  while (!mp_queue_empty(a->q)) {
    int v;
    size_t n;
    CHECK(mp_queue_get_into(a->q, &v, sizeof v, &n, MP_FOREVER));
    printf("%d\n", v);
  }
  printf("Queue is now empty!\n");
  fflush(stdout);
  return 0;
}

int main(void) {
  args a = {mp_queue_new(0), {1, 2, 3, 4}};
  if (!a.q) {
    fprintf(stderr, "mp_queue_new: %s\n", mp_strerror(errno));
    return 1;
  }
  mp_process *p1 = mp_process_new(square_list, &a, sizeof a, NULL);
  mp_process *p2 = mp_process_new(print_queue, &a, sizeof a, NULL);
  if (!p1 || !p2 || mp_process_start(p1) != 0)
    return 1;
  CHECK(mp_process_join(p1, MP_FOREVER));
  CHECK(mp_process_start(p2));
  CHECK(mp_process_join(p2, MP_FOREVER));
  mp_process_free(p1);
  mp_process_free(p2);
  mp_queue_free(a.q);
  return 0;
}
