// How much memory this process may use: what the kernel says is available, capped by the
// cgroup limit a batch system (Slurm, a container) placed it in.
#pragma once

#include <cstdint>
#include <string>

namespace evosearch {

// Bytes this process can still allocate without swapping: MemAvailable from /proc/meminfo,
// or less when the process's cgroup (v2 memory.max, v1 memory.limit_in_bytes) allows less.
// 0 when neither can be read.
int64_t available_memory_bytes();

// "1.5 GB", "320 MB", "12 KB": for messages.
std::string human_bytes(double bytes);

}  // namespace evosearch
