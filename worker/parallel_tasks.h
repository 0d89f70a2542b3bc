// CPU work split over LibTorch's intra-op threads, really in parallel. ATen's own
// at::parallel_for is a header template whose OpenMP pragma only takes effect in a file compiled
// with OpenMP: in one compiled without it, it silently runs on the calling thread (the keyed
// noise did: one core of two drew it). parallel_tasks.cc is compiled with OpenMP.
#pragma once

#include <cstdint>
#include <functional>

namespace evosearch {

// Runs run(0) ... run(tasks - 1), each exactly once, over min(at::get_num_threads(), tasks)
// threads, contiguous ranges of tasks per thread; on the calling thread alone when that is one
// thread or it is already inside a parallel region. `run` must not throw.
void parallel_tasks(int64_t tasks, const std::function<void(int64_t)>& run);

}  // namespace evosearch
