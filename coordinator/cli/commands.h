// The `evosearch` subcommands. Each parses nothing itself: main() fills an options struct
// from the command line and calls one of these, which returns the process exit code.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "coordinator/job_runner.h"

namespace evosearch {

struct CommonOptions {
  std::string log_level = "info";
  std::string device;  // empty: "auto", or the job spec's device
  int threads = 0;  // 0 = one per core
  std::string dtype;  // the modules' precision; empty: the job spec's model_dtype, else the bundle's
  std::string dtype_field = "--dtype";  // where `dtype` came from, for messages
};

struct SampleOptions {
  std::string bundle;
  std::string prompt;
  int count = 16;
  std::string out = "samples.png";
  std::string sampler;  // empty = the bundle's default
  int steps = 0;        // 0 = the bundle's default
  double eta = -1;      // < 0 = the bundle's default
  int order = 0;
  double shift = 0;
  double guidance = -1;
  uint64_t seed = 0;
  int batch = 16;
  int columns = 0;  // 0 = about square
  int scale = 0;    // 0 = enlarge small images to about 112 px
};

struct RunCommandOptions {
  std::string spec;
  bool restart = false;
  // Under mpirun/srun with more than one rank:
  bool coordinator_computes = false;  // rank 0 runs rollouts too
  double worker_timeout = 300;        // seconds before a silent or stuck rank ends the job
  std::string data_plane = "auto";    // auto, mpi or nccl
  // The job store (overrides the spec's job_store) and how this run keeps its leases in it.
  std::string job_store;
  std::string job_store_file;  // the URL's file (mode 0600), instead of job_store
  double lease_seconds = 60;
  double store_timeout = 300;
};

struct CheckOptions {
  std::string bundle;
};

struct StatusOptions {
  std::string where;     // an output folder, or redis://...; empty: job_store_file or EVOSEARCH_JOB_STORE
  std::string job_store_file;
  std::string job;       // the job's name (Redis)
  bool json = false;
  bool watch = false;
  double interval = 2;   // seconds between refreshes with watch
};

struct ReportOptions {
  std::vector<std::string> outputs;  // output folders holding results.json
  std::string out;                   // the page; default <first output>/report.html
};

int run_sample(const CommonOptions& common, const SampleOptions& options);
int run_check(const CommonOptions& common, const CheckOptions& options);
int run_status(const StatusOptions& options);
int run_report(const ReportOptions& options);
int run_job_command(const CommonOptions& common, const RunCommandOptions& options);
// The job loop's options from the command line's.
RunOptions run_options(const RunCommandOptions& options);
// The same job over MPI ranks (rank 0 coordinates); run_job_command calls it under a launcher.
int run_distributed_job(const CommonOptions& common, const RunCommandOptions& options);
std::string version_text();

}  // namespace evosearch
