// Process-wide LibTorch set-up: the compute thread count, and OpenBLAS kept on the calling thread
// (its own pool's threads spin on sched_yield beside LibTorch's OpenMP threads: worker/runtime.cc).
#include <dlfcn.h>

#include <cstdlib>

#include <gtest/gtest.h>

#include "worker/runtime.h"

namespace evosearch {
namespace {

TEST(Runtime, ComputeThreadsAreSetAndOpenBlasRunsOnTheCallingThread) {
  unsetenv("OPENBLAS_NUM_THREADS");
  EXPECT_EQ(set_compute_threads(2), 2);
  using GetThreads = int (*)();
  auto get = reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  if (!get) GTEST_SKIP() << "this LibTorch does not use OpenBLAS";
  EXPECT_EQ(get(), 1);
  // A user's OPENBLAS_NUM_THREADS is left alone.
  using SetThreads = void (*)(int);
  reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))(2);
  setenv("OPENBLAS_NUM_THREADS", "2", 1);
  set_compute_threads(2);
  EXPECT_EQ(get(), 2);
  unsetenv("OPENBLAS_NUM_THREADS");
}

}  // namespace
}  // namespace evosearch
