/* bench_peer_redis.c: Redis (redis-server, hiredis client) as the peer of
 * mproc's manager dict and list: the bench starts its own redis-server on
 * a private Unix socket (no TCP port, no persistence), a forked child
 * connects with hiredis and makes one call per operation, as the manager
 * rows do from a forked client; the server is stopped after.
 *   manager.dict_set     HSET d <k> <k>, k cycling over 1024 keys
 *   manager.dict_get     HGET d 7
 *   manager.list_append  RPUSH l <i>, the list emptied every 4096
 * Column peer:redis. */
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "peer_util.h"

static const char *ROWS[] = {"manager.dict_set", "manager.dict_get", "manager.list_append"};

static pid_t start_server(const char *sock) {
  unlink(sock);
  pid_t pid = peer_fork();
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    execl(REDIS_SERVER, REDIS_SERVER, "--port", "0", "--unixsocket", sock,
          "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
          "--daemonize", "no", (char *)NULL);
    _exit(127);
  }
  return pid;
}

static redisContext *connect_retry(const char *sock) {
  for (int i = 0; i < 500; i++) { /* 5 s for the server to listen */
    redisContext *c = redisConnectUnix(sock);
    if (c && !c->err)
      return c;
    if (c)
      redisFree(c);
    usleep(10000);
  }
  return NULL;
}

typedef struct fx {
  redisContext *c;
  long i;
} fx;

static int reply_ok(redisReply *r) {
  int ok = r && r->type != REDIS_REPLY_ERROR;
  freeReplyObject(r);
  return ok ? 0 : -EIO;
}

static int dict_set(void *ctx) {
  fx *f = ctx;
  long k = f->i++ & 1023;
  return reply_ok(redisCommand(f->c, "HSET d %ld %ld", k, k));
}

static int dict_get(void *ctx) {
  fx *f = ctx;
  return reply_ok(redisCommand(f->c, "HGET d 7"));
}

static int list_append(void *ctx) {
  fx *f = ctx;
  int rc = reply_ok(redisCommand(f->c, "RPUSH l %ld", f->i++));
  if (rc == 0 && (f->i & 4095) == 0)
    rc = reply_ok(redisCommand(f->c, "DEL l"));
  return rc;
}

int main(void) {
  char sock[256];
  peer_tmp_path(sock, sizeof sock, "mproc-redis.sock");
  pid_t srv = start_server(sock);
  redisContext *c = srv > 0 ? connect_retry(sock) : NULL;
  if (!c) {
    for (int i = 0; i < 3; i++)
      bench_skip(ROWS[i], "peer redis: redis-server did not start on a Unix socket");
    if (srv > 0) {
      kill(srv, SIGKILL);
      waitpid(srv, NULL, 0);
    }
    return 0;
  }
  if (reply_ok(redisCommand(c, "HSET d 7 7")) != 0)
    bench_fail("redis HSET", -EIO);
  fflush(stdout);
  pid_t k = peer_fork();
  if (k == 0) { /* a client process of its own, as the manager rows */
    fx f = {connect_retry(sock), 0};
    if (!f.c)
      _exit(1);
    bench_fn fns[] = {dict_set, dict_get, list_append};
    for (int i = 0; i < 3; i++)
      bench_row(ROWS[i], "us", "peer:redis", bench_ns_per_op(fns[i], &f, NULL) / 1e3);
    redisFree(f.c);
    _exit(0);
  }
  int st;
  waitpid(k, &st, 0);
  freeReplyObject(redisCommand(c, "SHUTDOWN NOSAVE"));
  redisFree(c);
  kill(srv, SIGTERM);
  waitpid(srv, NULL, 0);
  unlink(sock);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    bench_fail("the redis client", -EIO);
  return 0;
}
