/* driver.c: runs a libFuzzer target without libFuzzer, so every fuzz target
 * also runs in `make test` (under ASan/UBSan in that build): first each file
 * of the corpus folder given as argv[1] (the folder must exist and hold at
 * least one file: a target without a corpus fails, so every corpus, with the
 * crashing inputs kept there as regressions, is replayed under the normal
 * build too), then random inputs and mutations of the corpus for
 * MP_FUZZ_SECONDS (default 5) seconds. With clang, configure with
 * -DMP_LIBFUZZER=ON to build real coverage-guided fuzzers instead.
 *
 * Like libFuzzer's -malloc_limit_mb, the library's allocations go through a
 * hook that aborts on any single one over MP_FUZZ_MALLOC_MB (default 64
 * MiB): no input here is that large, so such an allocation can only come
 * from a length the input announced, and without the hook a normal build
 * would let overcommit hide it (issue 13: malloc(4294967298) in the
 * bootstrap decoder). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mproc/runtime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t g_malloc_limit;

static void check(size_t size) {
  if (size > g_malloc_limit) {
    fprintf(stderr, "fuzz driver: an allocation of %zu bytes (limit %zu): a "
                    "decoder trusts an announced length\n",
            size, g_malloc_limit);
    abort();
  }
}

static void *limited_malloc(void *ctx, size_t size) {
  (void)ctx;
  check(size);
  return malloc(size);
}

static void *limited_realloc(void *ctx, void *p, size_t size) {
  (void)ctx;
  check(size);
  return realloc(p, size);
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

typedef struct {
  uint8_t *data;
  size_t size;
} input;

static input corpus[4096];
static size_t ncorpus;

static void load(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "fuzz driver: no corpus folder %s\n", dir);
    exit(1);
  }
  struct dirent *e;
  while ((e = readdir(d)) && ncorpus < 4096) {
    if (e->d_name[0] == '.')
      continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    FILE *f = fopen(path, "rb");
    if (!f)
      continue;
    uint8_t *buf = malloc(1 << 20);
    size_t n = fread(buf, 1, 1 << 20, f);
    fclose(f);
    corpus[ncorpus].data = buf;
    corpus[ncorpus].size = n;
    ncorpus++;
    LLVMFuzzerTestOneInput(buf, n);
  }
  closedir(d);
  if (!ncorpus) {
    fprintf(stderr, "fuzz driver: the corpus folder %s is empty\n", dir);
    exit(1);
  }
}

int main(int argc, char **argv) {
  const char *mb = getenv("MP_FUZZ_MALLOC_MB");
  g_malloc_limit = (size_t)(mb ? atof(mb) : 64) << 20;
  mp_set_allocator(&(mp_allocator){.malloc = limited_malloc, .realloc = limited_realloc});
  if (argc > 1)
    load(argv[1]);
  const char *s = getenv("MP_FUZZ_SECONDS");
  double seconds = s ? atof(s) : 5;
  rng ^= (uint64_t)time(NULL);
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  unsigned long runs = 0;
  uint8_t *buf = malloc(1 << 16);
  for (;;) {
    size_t n;
    if (ncorpus && (next() & 1)) {
      input *in = &corpus[next() % ncorpus];
      n = in->size < (1 << 16) ? in->size : (1 << 16);
      memcpy(buf, in->data, n);
      for (int k = (int)(next() % 8) + 1; k > 0 && n; k--) {
        switch (next() % 4) {
        case 0: buf[next() % n] = (uint8_t)next(); break;
        case 1: buf[next() % n] ^= (uint8_t)(1u << (next() % 8)); break;
        case 2: n = next() % (n + 1); break;
        default: buf[next() % n] = (uint8_t)(0xff * (next() & 1)); break;
        }
      }
    } else {
      n = next() % 512;
      for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)next();
    }
    LLVMFuzzerTestOneInput(buf, n);
    runs++;
    if ((runs & 255) == 0) {
      clock_gettime(CLOCK_MONOTONIC, &t);
      if ((double)(t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 > seconds)
        break;
    }
  }
  printf("fuzz driver: %zu corpus files, %lu random and mutated inputs, no crash\n",
         ncorpus, runs);
  free(buf);
  for (size_t i = 0; i < ncorpus; i++)
    free(corpus[i].data);
  return 0;
}
