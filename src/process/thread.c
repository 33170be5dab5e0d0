/* thread.c: the thread start method, Python's multiprocessing.dummy: the
 * "process" is a detached thread of this program running the target. Its
 * sentinel is an eventfd, written once the target has returned and stays
 * readable; its exit code is the target's return value (0..255, as _exit
 * would make it); mp_process_return works through a memfd exactly as in a
 * forked child, and mp_current_process() in the thread is its own object.
 *
 * The thread and the process object share a small record (two references):
 * the thread never touches the object after it published its end, so the
 * user may free the object while the thread still runs, and the thread's
 * eventfd is its own duplicate, never a descriptor the parent closed. */
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "process_internal.h"

typedef struct thr {
  int refs;     /* atomic: the thread's and the object's */
  int done;     /* atomic: 1 once code is set */
  int code;
  int efd;      /* the thread's own copy of the sentinel */
  mp_process *p;
  mp_target_fn target;
  void *arg;
  size_t len;
} thr;

static void thr_unref(thr *t) {
  if (__atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) == 0) {
    mp__close(t->efd);
    mp__free(t->arg);
    mp__free(t);
  }
}

static void *thread_main(void *a) {
  thr *t = a;
  mp__proc_thread_enter(t->p);
  int code = t->target(t->arg, t->len) & 0xff;
  mp__proc_thread_leave();
  /* What was passed to it is read no more: close it before the end is
   * published, as a process's end would (the registry's reference keeps
   * the object alive until then). */
  mp__passed_free(t->p->passed);
  t->p->passed = NULL;
  t->code = code;
  __atomic_store_n(&t->done, 1, __ATOMIC_RELEASE);
  uint64_t one = 1;
  (void)!write(t->efd, &one, sizeof one);
  thr_unref(t);
  return NULL;
}

static int thread_start(mp_process *p, mp__started *out) {
  thr *t = mp__calloc(1, sizeof *t);
  if (!t)
    return -ENOMEM;
  t->refs = 2;
  int r = 0, sentinel = -1;
  if ((t->efd = eventfd(0, EFD_CLOEXEC)) < 0)
    r = -errno;
  else if ((sentinel = mp__dup_cloexec(t->efd)) < 0)
    r = sentinel;
  if (r == 0) {
    t->p = p;
    t->target = p->target;
    /* The object drops its argument once started; the thread keeps it. */
    t->arg = p->arg;
    t->len = p->len;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t tid;
    r = -pthread_create(&tid, &attr, thread_main, t);
    pthread_attr_destroy(&attr);
    if (r == 0)
      p->arg = NULL;
    else
      t->arg = NULL;
  }
  if (r < 0) {
    mp__close(sentinel);
    t->refs = 1;
    thr_unref(t);
    return r;
  }
  *out = (mp__started){
      .pid = mp__proc_getpid(), .pidfd = sentinel, .mdata = t};
  return 0;
}

static int thread_poll(mp_process *p) {
  thr *t = p->mdata;
  if (!__atomic_load_n(&t->done, __ATOMIC_ACQUIRE))
    return 0;
  p->exit_known = true;
  p->exitcode = t->code;
  return 1;
}

static int thread_send_signal(mp_process *p, int sig) {
  MP__UNUSED(p);
  MP__UNUSED(sig);
  return MP_ENOTSUP; /* a thread cannot be killed alone */
}

static void thread_release(mp_process *p) {
  thr_unref(p->mdata);
  p->mdata = NULL;
}

const mp__start_method mp__method_thread = {
    .name = "thread",
    .waitable = false,
    .start = thread_start,
    .poll = thread_poll,
    .send_signal = thread_send_signal,
    .release = thread_release,
};
