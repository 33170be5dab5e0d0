/* bench_peer_boost.cpp: Boost.Interprocess (libboost-dev, headers only) as
 * the peer of mproc's Queue, Lock and manager dict; column peer:boost.*:
 *   queue.stream.16B, queue.pingpong.16B   peer:boost.mq: message_queue
 *       (a mutex + condition ring in shared memory), 1000 messages deep,
 *       one queue each way, the harness of peer_util.h
 *   sync.lock.uncontended, sync.lock.counter_2proc   peer:boost.mutex:
 *       interprocess_mutex in shared memory, the same loops as
 *       bench_sync.c (200000 increments per process, 2 processes)
 *   manager.dict_set, manager.dict_get   peer:boost.map: a map<long, long>
 *       in managed_shared_memory under an interprocess_mutex, used from a
 *       forked child: no server and no message, so this is the floor of
 *       a shared-memory design rather than a manager (which serves any
 *       object over a connection). */
#include <boost/interprocess/allocators/allocator.hpp>
#include <boost/interprocess/containers/map.hpp>
#include <boost/interprocess/ipc/message_queue.hpp>
#include <boost/interprocess/managed_shared_memory.hpp>
#include <boost/interprocess/sync/interprocess_mutex.hpp>
#include <boost/interprocess/sync/scoped_lock.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <new>
#include <string>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "peer_util.h"

namespace bip = boost::interprocess;

/* ---- message_queue through the harness ---------------------------------------- */

static std::string g_qname[2]; /* [0]: child -> parent, [1]: parent -> child */

struct mq_end {
  bip::message_queue *in, *out;
};

static void *mq_open(void *, int side) {
  try {
    if (side == 0) {
      for (int i = 0; i < 2; i++) {
        g_qname[i] = "mproc-bench-bmq-" + std::to_string(getpid()) + "-" + std::to_string(i);
        bip::message_queue::remove(g_qname[i].c_str());
      }
      return new mq_end{
          new bip::message_queue(bip::create_only, g_qname[0].c_str(), 1000, 4096),
          new bip::message_queue(bip::create_only, g_qname[1].c_str(), 1000, 4096)};
    }
    return new mq_end{new bip::message_queue(bip::open_only, g_qname[1].c_str()),
                      new bip::message_queue(bip::open_only, g_qname[0].c_str())};
  } catch (const std::exception &e) {
    std::fprintf(stderr, "bench: boost message_queue: %s\n", e.what());
    return nullptr;
  }
}

static int mq_send(void *h, const void *buf, size_t n) {
  try {
    static_cast<mq_end *>(h)->out->send(buf, n, 0);
    return 0;
  } catch (...) {
    return -EIO;
  }
}

static long mq_recv(void *h, void *buf, size_t cap) {
  char tmp[4096]; /* receive wants room for the largest message */
  bip::message_queue::size_type n;
  unsigned prio;
  try {
    static_cast<mq_end *>(h)->in->receive(tmp, sizeof tmp, n, prio);
  } catch (...) {
    return -EIO;
  }
  if (n > cap)
    return -EMSGSIZE;
  std::memcpy(buf, tmp, n);
  return (long)n;
}

static void mq_close(void *h, int side) {
  auto *e = static_cast<mq_end *>(h);
  delete e->in;
  delete e->out;
  delete e;
  if (side == 0)
    for (auto &n : g_qname)
      bip::message_queue::remove(n.c_str());
}

/* ---- interprocess_mutex ------------------------------------------------------------ */

#define COUNTER_N 200000

struct shared {
  bip::interprocess_mutex mutex;
  volatile long counter;
  volatile int go;
};

static shared *g_sh;

static int lock_op(void *) {
  g_sh->mutex.lock();
  g_sh->mutex.unlock();
  return 0;
}

static double counter_ns() {
  double v[7];
  int runs = 0;
  uint64_t start = bench_now_ns();
  while (runs < 7 && (runs < 3 || (double)(bench_now_ns() - start) / 1e9 < bench_budget())) {
    g_sh->counter = 0;
    g_sh->go = 0;
    pid_t pids[2];
    for (auto &pid : pids) {
      if ((pid = peer_fork()) == 0) {
        while (!__atomic_load_n(&g_sh->go, __ATOMIC_ACQUIRE))
          ;
        for (int i = 0; i < COUNTER_N; i++) {
          bip::scoped_lock<bip::interprocess_mutex> l(g_sh->mutex);
          g_sh->counter++;
        }
        _exit(0);
      }
    }
    uint64_t t0 = bench_now_ns();
    __atomic_store_n(&g_sh->go, 1, __ATOMIC_RELEASE);
    for (pid_t pid : pids)
      peer_reap(pid);
    v[runs++] = (double)(bench_now_ns() - t0) / (2.0 * COUNTER_N);
    if (g_sh->counter != 2 * COUNTER_N)
      bench_fail("boost counter", -EPROTO);
  }
  return bench_median(v, (size_t)runs);
}

/* ---- a map in managed shared memory ------------------------------------------------ */

typedef std::pair<const long, long> kv;
typedef bip::allocator<kv, bip::managed_shared_memory::segment_manager> kv_alloc;
typedef bip::map<long, long, std::less<long>, kv_alloc> shm_map;

struct map_fx {
  shm_map *m;
  bip::interprocess_mutex *mu;
  long i;
};

static int map_set(void *ctx) {
  auto *f = static_cast<map_fx *>(ctx);
  long k = f->i++ & 1023;
  bip::scoped_lock<bip::interprocess_mutex> l(*f->mu);
  (*f->m)[k] = k;
  return 0;
}

static int map_get(void *ctx) {
  auto *f = static_cast<map_fx *>(ctx);
  bip::scoped_lock<bip::interprocess_mutex> l(*f->mu);
  return f->m->find(7) != f->m->end() ? 0 : -ENOENT;
}

static void map_rows() {
  std::string name = "mproc-bench-bmap-" + std::to_string(getpid());
  bip::shared_memory_object::remove(name.c_str());
  try {
    bip::managed_shared_memory seg(bip::create_only, name.c_str(), 1 << 20);
    map_fx f{seg.construct<shm_map>("d")(std::less<long>(), kv_alloc(seg.get_segment_manager())),
             seg.construct<bip::interprocess_mutex>("mu")(), 0};
    (*f.m)[7] = 7;
    std::fflush(stdout);
    pid_t k = peer_fork();
    if (k == 0) { /* a process of its own, as the manager rows' client */
      bip::managed_shared_memory s(bip::open_only, name.c_str());
      map_fx c{s.find<shm_map>("d").first, s.find<bip::interprocess_mutex>("mu").first, 0};
      bench_row("manager.dict_set", "us", "peer:boost.map", bench_ns_per_op(map_set, &c, nullptr) / 1e3);
      bench_row("manager.dict_get", "us", "peer:boost.map", bench_ns_per_op(map_get, &c, nullptr) / 1e3);
      std::fflush(stdout);
      _exit(0);
    }
    peer_reap(k);
  } catch (const std::exception &e) {
    std::fprintf(stderr, "bench: boost managed_shared_memory: %s\n", e.what());
    bench_skip("manager.dict_set", "peer boost.map: managed_shared_memory failed");
    bench_skip("manager.dict_get", "peer boost.map: managed_shared_memory failed");
  }
  bip::shared_memory_object::remove(name.c_str());
}

int main() {
  peer_chan c = {mq_open, mq_send, mq_recv, mq_close, nullptr};
  bench_row("queue.stream.16B", "msg/s", "peer:boost.mq", peer_stream_rate(&c));
  bench_row("queue.pingpong.16B", "us", "peer:boost.mq", peer_pingpong_ns(&c, 16) / 1e3);

  void *mem = mmap(nullptr, sizeof(shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED)
    bench_fail("mmap", -errno);
  g_sh = new (mem) shared();
  bench_row("sync.lock.uncontended", "ns", "peer:boost.mutex", bench_ns_per_op(lock_op, nullptr, nullptr));
  bench_row("sync.lock.counter_2proc", "ns", "peer:boost.mutex", counter_ns());
  g_sh->~shared();
  munmap(mem, sizeof(shared));

  map_rows();
  return 0;
}
