#include "worker/parallel_tasks.h"

#include <algorithm>

#include <ATen/Parallel.h>

#ifndef _OPENMP
#error "worker/parallel_tasks.cc must be compiled with OpenMP (worker/CMakeLists.txt sets it)"
#endif

namespace evosearch {

void parallel_tasks(int64_t tasks, const std::function<void(int64_t)>& run) {
  const int threads = static_cast<int>(std::min<int64_t>(at::get_num_threads(), tasks));
  if (threads <= 1 || at::in_parallel_region()) {
    for (int64_t task = 0; task < tasks; ++task) run(task);
    return;
  }
  // num_threads is named: a LibTorch with its own bundled OpenMP runtime (the pip wheels) does not
  // share its thread count with the system runtime this file links.
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t task = 0; task < tasks; ++task) run(task);
}

}  // namespace evosearch
