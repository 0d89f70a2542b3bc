// LibTorch's intra-op thread count set for a scope, and restored after it.
#pragma once

#include <ATen/Parallel.h>

namespace evosearch::testing_support {

class ThreadCount {
 public:
  explicit ThreadCount(int n) : saved_(at::get_num_threads()) { at::set_num_threads(n); }
  ~ThreadCount() { at::set_num_threads(saved_); }
  ThreadCount(const ThreadCount&) = delete;
  ThreadCount& operator=(const ThreadCount&) = delete;

 private:
  int saved_;
};

}  // namespace evosearch::testing_support
