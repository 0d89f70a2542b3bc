#include "worker/allocator.h"

#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace evosearch {
namespace {

std::atomic<bool> retaining{false};

}  // namespace

bool configure_allocator() {
  const char* setting = std::getenv("EVOSEARCH_RETAIN_MEMORY");
  if (setting && std::strcmp(setting, "0") == 0) return false;
#if defined(__GLIBC__)
  // Setting either threshold also turns off glibc's dynamic mmap threshold.
  const bool mmap_set = mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1;
  const bool trim_set = mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1;
  retaining = mmap_set && trim_set;
#endif
  return retaining.load();
}

bool allocator_retains_memory() { return retaining.load(); }

}  // namespace evosearch
