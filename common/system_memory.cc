#include "common/system_memory.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace evosearch {
namespace {

int64_t meminfo_available() {
  std::ifstream in("/proc/meminfo");
  std::string key, unit;
  int64_t kb = 0;
  while (in >> key >> kb) {
    std::getline(in, unit);
    if (key == "MemAvailable:") return kb * 1024;
  }
  return 0;
}

// The cgroup this process is in ("0::/slurm/uid_0/job_12" on v2), then its limit and usage.
int64_t cgroup_headroom() {
  std::ifstream self("/proc/self/cgroup");
  std::string line, v2_path;
  while (std::getline(self, line)) {
    if (line.rfind("0::", 0) == 0) v2_path = line.substr(3);
  }
  auto read_number = [](const std::string& path, int64_t& value) {
    std::ifstream in(path);
    std::string text;
    if (!(in >> text) || text == "max") return false;
    try {
      value = std::stoll(text);
    } catch (...) {
      return false;
    }
    return true;
  };
  int64_t limit = 0, usage = 0;
  if (!v2_path.empty() && read_number("/sys/fs/cgroup" + v2_path + "/memory.max", limit)) {
    read_number("/sys/fs/cgroup" + v2_path + "/memory.current", usage);
    return std::max<int64_t>(limit - usage, 0);
  }
  // v1 reports "no limit" as a huge number; anything above 2^60 is no limit.
  if (read_number("/sys/fs/cgroup/memory/memory.limit_in_bytes", limit) && limit < (int64_t{1} << 60)) {
    read_number("/sys/fs/cgroup/memory/memory.usage_in_bytes", usage);
    return std::max<int64_t>(limit - usage, 0);
  }
  return 0;
}

}  // namespace

int64_t available_memory_bytes() {
  const int64_t system = meminfo_available();
  const int64_t cgroup = cgroup_headroom();
  if (system > 0 && cgroup > 0) return std::min(system, cgroup);
  return std::max(system, cgroup);
}

std::string human_bytes(double bytes) {
  const char* units[] = {"bytes", "KB", "MB", "GB", "TB", "PB"};
  int u = 0;
  while (bytes >= 1024 && u < 5) {
    bytes /= 1024;
    ++u;
  }
  char text[32];
  std::snprintf(text, sizeof text, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return text;
}

}  // namespace evosearch
