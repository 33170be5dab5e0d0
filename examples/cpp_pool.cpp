// cpp_pool.cpp: Python's pool.map from C++: a std::vector in, a
// std::vector out, and a captureless lambda as the task.
//
//   from multiprocessing import Pool
//
//   def square(x):
//       return x * x
//
//   if __name__ == '__main__':
//       with Pool() as pool:
//           print(pool.map(square, range(10)))
//
// prints [0, 1, 4, 9, 16, 25, 36, 49, 64, 81].
#include <mproc.h>

#include <cerrno>
#include <cstdio>
#include <numeric>
#include <vector>

int main() {
  mp_pool *pool = mp_pool_new(NULL);
  if (!pool) {
    std::fprintf(stderr, "mp_pool_new: %s\n", mp_strerror(errno));
    return 1;
  }
  std::vector<int> in(10), out(in.size());
  std::iota(in.begin(), in.end(), 0); // range(10)
  mp_task_fn square = [](const void *arg, size_t, mp_task_out *o) -> int {
    int x = *static_cast<const int *>(arg), y = x * x;
    return mp_task_out_set(o, &y, sizeof y);
  };
  int rc = mp_pool_map(pool, square, in.data(), in.size(), sizeof(int),
                       out.data(), sizeof(int), NULL, NULL);
  mp_pool_free(pool); // the end of `with`
  if (rc < 0) {
    std::fprintf(stderr, "mp_pool_map: %s\n", mp_strerror(rc));
    return 1;
  }
  std::printf("[");
  for (size_t i = 0; i < out.size(); i++)
    std::printf("%s%d", i ? ", " : "", out[i]);
  std::printf("]\n");
  return 0;
}
