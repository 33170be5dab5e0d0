/* self.c: this process's identity (name, authkey, the Process-N1:N2 path)
 * and the CPU counts. The main process gets 32 random authkey bytes from the
 * kernel on first use, as Python's os.urandom(32); children inherit all of
 * it through fork and get their own name from the process area. */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime_internal.h"

static mp__self g_self;
static pthread_once_t g_self_once = PTHREAD_ONCE_INIT;

static void self_init(void) {
  strcpy(g_self.name, "MainProcess");
  g_self.authkey_len = 32;
  if (mp__random_bytes(g_self.authkey, g_self.authkey_len) < 0) {
    /* getrandom cannot fail on Linux >= 3.17 once the pool is ready; keep
     * a deterministic-free fallback rather than an all-zero key. */
    uint64_t t = (uint64_t)mp__now_ns() ^ ((uint64_t)getpid() << 32);
    for (size_t i = 0; i < g_self.authkey_len; i++) {
      t = t * 6364136223846793005ULL + 1442695040888963407ULL;
      g_self.authkey[i] = (unsigned char)(t >> 56);
    }
  }
}

/* Initialise at load time, not on first use: a program that calls fork()
 * itself before touching the library must still give parent and child the
 * same authkey, as Python's does. */
__attribute__((constructor)) static void self_init_at_load(void) {
  pthread_once(&g_self_once, self_init);
}

mp__self *mp__self_get(void) {
  pthread_once(&g_self_once, self_init);
  return &g_self;
}

const char *mp__self_name(void) { return mp__self_get()->name; }

MP_EXPORT int mp_cpu_count(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

bool mp__spin_allowed(void) {
  static int allowed = -1; /* -1 unread; a race only reads the same value twice */
  int a = __atomic_load_n(&allowed, __ATOMIC_RELAXED);
  if (a < 0) {
    const char *e = getenv("MP_SPIN");
    a = !(e && strcmp(e, "0") == 0);
    __atomic_store_n(&allowed, a, __ATOMIC_RELAXED);
  }
  return a;
}

MP_EXPORT int mp_cpu_count_usable(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0)
      return n;
  }
  return mp_cpu_count();
}
