#include "cluster/launch.h"

#include <cstdlib>

#ifdef EVOSEARCH_WITH_NCCL
#include <nccl.h>
#endif

namespace evosearch {
namespace {

bool read_int(const char* name, int& out) {
  const char* value = std::getenv(name);
  if (!value || !*value) return false;
  char* end = nullptr;
  const long parsed = std::strtol(value, &end, 10);
  if (*end != '\0') return false;
  out = static_cast<int>(parsed);
  return true;
}

}  // namespace

LaunchInfo detect_launch() {
  LaunchInfo info;
  if (!read_int("OMPI_COMM_WORLD_LOCAL_RANK", info.local_rank)) read_int("SLURM_LOCALID", info.local_rank);
  if (read_int("OMPI_COMM_WORLD_RANK", info.rank)) {
    read_int("OMPI_COMM_WORLD_SIZE", info.world_size);
    info.launcher = "mpirun";
  } else if (read_int("PMIX_RANK", info.rank)) {
    if (!read_int("SLURM_NTASKS", info.world_size)) read_int("PMIX_SIZE", info.world_size);
    info.launcher = std::getenv("SLURM_JOB_ID") ? "srun" : "mpirun";
  } else if (read_int("SLURM_PROCID", info.rank)) {
    read_int("SLURM_NTASKS", info.world_size);
    info.launcher = "srun";
  }
  return info;
}

std::string build_features() {
  std::string out;
#ifdef EVOSEARCH_WITH_MPI
  out += "MPI: yes";
#else
  out += "MPI: no";
#endif
#ifdef EVOSEARCH_WITH_NCCL
  int version = 0;
  ncclGetVersion(&version);
  out += ", NCCL: " + std::to_string(version / 10000) + "." + std::to_string(version / 100 % 100) + "." +
         std::to_string(version % 100);
#else
  out += ", NCCL: no";
#endif
#ifdef EVOSEARCH_WITH_REDIS
  out += ", Redis: yes";
#else
  out += ", Redis: no";
#endif
#ifdef EVOSEARCH_WITH_CUDA
  out += ", CUDA: yes";
#else
  out += ", CUDA: no";
#endif
  return out;
}

}  // namespace evosearch
