/* driver.c: runs a libFuzzer target without libFuzzer, so every fuzz target
 * also runs in `make test` (under ASan/UBSan in that build): first each file
 * of the corpus folder given as argv[1], then random inputs and mutations of
 * the corpus for MP_FUZZ_SECONDS (default 5) seconds. With clang, configure
 * with -DMP_LIBFUZZER=ON to build real coverage-guided fuzzers instead. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
  if (!d)
    return;
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
}

int main(int argc, char **argv) {
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
