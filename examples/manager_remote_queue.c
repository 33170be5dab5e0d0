/* manager_remote_queue.c: the reference's remote manager (17.2.2.7.3): a
 * server holding one queue on TCP with authkey b'abracadabra'; one client
 * process puts 'hello', another gets it.
 *
 *   queue = queue.Queue()
 *   QueueManager.register('get_queue', callable=lambda: queue)
 *   m = QueueManager(address=('', 50000), authkey=b'abracadabra')
 *   m.get_server().serve_forever()
 *   # client 1:  m.connect(); m.get_queue().put('hello')
 *   # client 2:  m.connect(); m.get_queue().get()  -> 'hello'
 *
 * Here the server serves from a thread of the main process on 127.0.0.1
 * (port 0: the system picks a free one, so runs never collide), and the
 * two clients are child processes that connect to it over TCP. A client
 * registers nothing (Python's client-side register('get_queue') only adds
 * the method to its class): mp_manager_create asks the server, whose
 * registration (create, methods_of = "Queue") gives the proxy its methods. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#include <mproc.h>
#include "check.h"

static void *queue;         /* the server's queue.Queue */
static mp_address address;  /* where the server listens */

static int get_queue(void *ctx, mp_method_call *c) {
  (void)ctx;
  c->referent = queue; /* an existing object: lambda: queue */
  return 0;
}

static mp_proxy *connect_queue(mp_manager **m) {
  mp_manager_opts o = {.address = &address, .authkey = "abracadabra",
                       .authkey_len = 11};
  *m = CHECKP(mp_manager_new(&o));
  mp_proxy *q = NULL;
  if (mp_manager_connect(*m) == 0)
    CHECK(mp_manager_create(*m, "get_queue", NULL, &q));
  return q;
}

static int client_put(void *arg, size_t len) {
  (void)arg, (void)len;
  mp_manager *m;
  mp_proxy *q = connect_queue(&m);
  mp_obj *hello = mp_obj_str("hello");
  int rc = q ? mp_proxy_put(q, hello, true, MP_FOREVER) : -1;
  mp_obj_free(hello);
  mp_proxy_free(q);
  mp_manager_free(m);
  return rc < 0;
}

static int client_get(void *arg, size_t len) {
  (void)arg, (void)len;
  mp_manager *m;
  mp_proxy *q = connect_queue(&m);
  mp_obj *item = NULL;
  int rc = q ? mp_proxy_get(q, true, MP_FOREVER, &item) : -1;
  if (rc == 0) {
    char *r;
    CHECK(mp_obj_repr(item, &r, NULL));
    printf("%s\n", r); /* 'hello' */
    mp_free(r);
  }
  mp_obj_free(item);
  mp_proxy_free(q);
  mp_manager_free(m);
  return rc < 0;
}

static void *serve(void *s) {
  CHECK(mp_server_serve_forever(s));
  return NULL;
}

static void run(mp_target_fn f) {
  mp_process *p = CHECKP(mp_process_new(f, NULL, 0, NULL));
  CHECK(mp_process_start(p));
  CHECK(mp_process_join(p, MP_FOREVER));
  mp_process_free(p);
}

int main(void) {
  CHECK(mp_manager_builtin_new("Queue", NULL, &queue));
  mp_address where = mp_address_inet("127.0.0.1", 0);
  mp_manager_opts o = {.address = &where, .authkey = "abracadabra",
                       .authkey_len = 11};
  mp_manager *m = CHECKP(mp_manager_new(&o));
  mp_type_def def = {.type_id = "get_queue", .create = get_queue,
                     .methods_of = "Queue"};
  CHECK(mp_manager_register(m, &def));
  mp_server *s = mp_manager_get_server(m);
  if (!s) {
    fprintf(stderr, "server: %s\n", mp_strerror(mp_errno_code(errno)));
    return 1;
  }
  address = *mp_server_address(s);
  pthread_t t;
  pthread_create(&t, NULL, serve, s);
  fflush(stdout);
  run(client_put);
  run(client_get);
  mp_server_stop(s);
  pthread_join(t, NULL);
  mp_server_free(s);
  mp_manager_free(m);
  return 0;
}
