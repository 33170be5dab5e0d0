/* fuzz_manager.c: the manager server's request path, fed bytes as a client
 * would send them: the request decoder, and for requests that decode, the
 * dispatcher itself on an in-memory server (no sockets) holding one dict:
 * calls go to that dict, creates of the non-blocking built-in types are
 * allowed, and everything the fake client holds is dropped after each
 * input. Blocking types (locks, queues) are kept out: their waits are
 * correct to block. */
#include <stdint.h>
#include <string.h>

#include "manager/manager_internal.h"

static mgr_server *srv;
static mgr_registry reg;
static mgr_sconn conn;
static uint64_t dict_id;

static void setup(void) {
  mp__mgr_registry_init(&reg);
  srv = mp__calloc(1, sizeof *srv);
  srv->reg = &reg;
  srv->uid = 1;
  pthread_mutex_init(&srv->lock, NULL);
  conn.srv = srv;
}

static void new_client(void) {
  conn.client = mp__calloc(1, sizeof *conn.client);
  conn.client->uid = 7;
  conn.client->nconns = 1;
  srv->clients = conn.client;
  mgr_buf req = {0}, out = {0};
  mp__mgr_put_header(&req, MGR_OP_CREATE, 0, 0, "dict");
  mp__mgr_dispatch(srv, &conn, req.data, req.len, &out);
  mp_obj *info = NULL, *id;
  int64_t v = 0;
  if (out.len > 1 && mp_obj_decode(out.data + 1, out.len - 1, &info) == 0 &&
      mp_obj_list_get(info, 0, &id) == 0)
    mp_obj_int_value(id, &v);
  mp_obj_unref(info);
  dict_id = (uint64_t)v;
  mp__mgr_buf_free(&req);
  mp__mgr_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!srv)
    setup();
  mgr_request rq;
  if (mp__mgr_request_decode(data, size, &rq) < 0)
    return 0;
  mp_obj_unref(rq.args);
  mp_obj_unref(rq.kwargs);
  bool ok = rq.op == MGR_OP_CALL || rq.op == MGR_OP_CALL_PROXY ||
            rq.op == MGR_OP_INCREF || rq.op == MGR_OP_DECREF ||
            rq.op == MGR_OP_INFO ||
            (rq.op == MGR_OP_CREATE &&
             (!strcmp(rq.name, "dict") || !strcmp(rq.name, "list") ||
              !strcmp(rq.name, "Namespace") || !strcmp(rq.name, "Value") ||
              !strcmp(rq.name, "Array")));
  if (!ok)
    return 0;
  new_client();
  uint8_t *copy = mp__memdup(data, size);
  if (rq.op != MGR_OP_CREATE && rq.op != MGR_OP_INFO) /* aim at the dict */
    for (int i = 0; i < 8; i++)
      copy[2 + i] = (uint8_t)(dict_id >> (8 * i));
  mgr_buf out = {0};
  mp__mgr_dispatch(srv, &conn, copy, size, &out);
  mp__mgr_buf_free(&out);
  mp__free(copy);
  pthread_mutex_lock(&srv->lock);
  mp__mgr_client_release(srv, conn.client);
  pthread_mutex_unlock(&srv->lock);
  return 0;
}
