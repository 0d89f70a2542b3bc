// Where this process sits in a launch: rank and world size from mpirun/srun environments,
// and what the build can do. No MPI calls: safe before (or without) MPI_Init.
#pragma once

#include <string>

namespace evosearch {

struct LaunchInfo {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;  // among the ranks on this host
  std::string launcher = "none";  // "mpirun", "srun" or "none"
};

LaunchInfo detect_launch();

// e.g. "MPI: yes, NCCL: 2.28.3, Redis: no, CUDA: yes".
std::string build_features();

}  // namespace evosearch
