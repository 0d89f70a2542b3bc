// Process-wide LibTorch set-up, done once at a worker's entry.
#pragma once

#include <string>

#include "common/status.h"
#include "worker/torch_compat.h"

namespace evosearch {

// "auto" (CUDA when available, else CPU), "cpu", "cuda" or "cuda:N".
StatusOr<at::Device> choose_device(const std::string& name);
// As choose_device, but "auto" spreads the ranks of one host over its GPUs: cuda:(local_rank % count).
StatusOr<at::Device> choose_device_for_rank(const std::string& name, int local_rank);

// Sets LibTorch's intra-op threads; 0 means one per core. Returns the count in effect.
int set_compute_threads(int threads);

// LibTorch's intra-op thread count set for a scope, and restored after it (tests and benchmarks
// that time or check a draw at several counts).
class ScopedComputeThreads {
 public:
  explicit ScopedComputeThreads(int threads);
  ~ScopedComputeThreads();
  ScopedComputeThreads(const ScopedComputeThreads&) = delete;
  ScopedComputeThreads& operator=(const ScopedComputeThreads&) = delete;

 private:
  int saved_;
};

// A line describing the build: torch version, CUDA, BLAS threads.
std::string runtime_summary(const at::Device& device);

// What decides how fast a model runs here, for telling one machine's measurements from another's
// (a home folder is often shared by a cluster's different nodes): on the CPU its model name (from
// /proc/cpuinfo) and the compute threads; on CUDA the GPU's name and memory.
std::string device_description(const at::Device& device);

}  // namespace evosearch
