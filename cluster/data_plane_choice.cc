#include <mpi.h>

#include <unistd.h>

#include <cstring>
#include <set>

#include "cluster/data_plane.h"
#include "cluster/mpi_comms.h"
#include "cluster/mpi_session.h"

namespace evosearch {
namespace {

constexpr int kDescriptor = 256;

std::string host_name() {
  char name[128] = {0};
  gethostname(name, sizeof name - 1);
  return name;
}

}  // namespace

StatusOr<std::unique_ptr<DataPlane>> open_data_plane(const MpiSession& session, const std::string& choice,
                                                     const std::string& device, std::string& why,
                                                     DataPlaneOptions options) {
  if (choice != "auto" && choice != "mpi" && choice != "nccl") {
    return InvalidArgument("--data-plane " + choice + ": expected auto, mpi or nccl");
  }
  const int size = session.size();
  char mine[kDescriptor] = {0};
  if (!device.empty()) std::snprintf(mine, sizeof mine, "%s|%s", host_name().c_str(), device.c_str());
  std::vector<char> all(static_cast<size_t>(size) * kDescriptor);
  RETURN_IF_ERROR(mpi_status(MPI_Allgather(mine, kDescriptor, MPI_CHAR, all.data(), kDescriptor, MPI_CHAR,
                                           session.comms().data),
                             "MPI_Allgather (which device each rank computes on)"));
  std::vector<int> members;
  std::set<std::string> seen;
  bool all_gpu = true, shared = false;
  for (int r = 0; r < size; ++r) {
    const std::string d(&all[static_cast<size_t>(r) * kDescriptor]);
    if (d.empty()) continue;
    members.push_back(r);
    all_gpu = all_gpu && d.find("|cuda") != std::string::npos;
    shared = shared || !seen.insert(d).second;
  }
  bool nccl = false;
  if (choice == "nccl") {
    if (!nccl_available()) return FailedPrecondition("--data-plane nccl: this build has no NCCL");
    if (!all_gpu) return FailedPrecondition("--data-plane nccl: every worker must compute on a CUDA device");
    if (shared) return FailedPrecondition("--data-plane nccl: two workers share a GPU, which NCCL does not allow; use mpi");
    nccl = true;
    why = "nccl (asked for)";
  } else if (choice == "mpi") {
    why = "mpi (asked for)";
  } else if (!nccl_available()) {
    why = "mpi (this build has no NCCL)";
  } else if (!all_gpu) {
    why = "mpi (not every worker computes on a GPU)";
  } else if (shared) {
    why = "mpi (workers share a GPU, which NCCL does not allow)";
  } else {
    nccl = true;
    why = "nccl (every worker has a GPU of its own)";
  }
  if (!nccl) return make_mpi_data_plane(session, options);
  int index = 0;
  const size_t colon = device.find(':');
  if (colon != std::string::npos) index = std::atoi(device.c_str() + colon + 1);
  ASSIGN_OR_RETURN(std::unique_ptr<DataPlane> plane, make_nccl_data_plane(session, members, index, options));
  if (!plane) return make_mpi_data_plane(session, options);  // this rank runs no rollouts and moves no states
  return plane;
}

}  // namespace evosearch
