// bench/scaling: the distributed job on 1..16 worker ranks with a SIMULATED denoiser (fixed
// sleep per sample and step, no model), for a 10-prompt suite and for a single prompt, with
// the Wan schedule (T = 50, S = 5,20,30,45, K = 10,5,5,5,5). Prints scaling efficiency against
// ideal (simulated work / workers), the coordinator's time per generation, and the states moved
// per generation against a design that gathers every state at the coordinator.
//
//   build/bench/bench_scaling [--workers 1,2,4,8,16] [--step-ms 2]
//   build/bench/bench_scaling --video [--workers 1,2,4,8,16] [--step-ms 10]
//
// --video sizes the states as Wan2.1 T2V-1.3B's latents and projects the efficiency to its
// published per-step time (video_driver below says where the numbers come from).
//
// It launches itself under mpirun for each point (`--job` mode is that inner run).
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <google/protobuf/util/json_util.h>

#include "cluster/data_plane.h"
#include "bench_common.h"
#include "cluster/mpi_channel.h"
#include "common/logging.h"
#include "coordinator/cli/number_checks.h"
#include "coordinator/distributed_executor.h"
#include "coordinator/job_runner.h"
#include "simulated_backend.h"
#include "worker/worker_loop.h"

namespace evosearch::bench {
namespace {

namespace fs = std::filesystem;

// The command line: the driver's flags, and the inner run's (`--job`, what the driver starts
// under mpirun for each point).
struct Flags {
  bool video = false, job = false;
  std::vector<int> workers;  // empty: the driver's default list
  double step_ms = 0;        // 0: the driver's default
  int batch = 8;
  int prompts = 0;            // --job
  int64_t state_bytes = 784;  // --job
  std::string dir;            // --job
};

Flags parse(int argc, char** argv) {
  Flags f;
  CLI::App app{"bench_scaling: the distributed job on 1..16 worker ranks with a SIMULATED denoiser; launches itself "
               "under mpirun for each point"};
  app.add_flag("--video", f.video, "states the size of Wan2.1 T2V-1.3B's latent, efficiency projected to its step time");
  flags::positive_list(app, "--workers", f.workers, "worker counts (default 1,2,4,8,12,16; 1,2,4,8,16 with --video)");
  app.add_option("--step-ms", f.step_ms, "simulated milliseconds per sample and step (default 2; 10 with --video)")
      ->check(finite_positive());
  flags::batch(app, f.batch, "the job's batch_size")->capture_default_str();
  const std::string inner = "Inner run (started by the driver under mpirun)";
  CLI::Option* job = app.add_flag("--job", f.job, "one distributed run; rank 0 prints a RESULT line")->group(inner);
  job->needs(flags::positive(app, "--prompts", f.prompts, "prompts of the run")->group(inner));
  app.add_option("--state-bytes", f.state_bytes, "bytes of one simulated state")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, std::numeric_limits<int64_t>::max()))
      ->group(inner);
  job->needs(app.add_option("--dir", f.dir, "scratch folder of the run")->group(inner));
  flags::parse(app, argc, argv);
  return f;
}

// A number as the inner run's command line takes it back (every digit a double holds).
std::string text(double value) {
  std::ostringstream out;
  out << std::setprecision(17) << value;
  return out.str();
}

void die(const Status& s) {
  if (s.ok()) return;
  std::fprintf(stderr, "bench_scaling: %s\n", s.to_string().c_str());
  std::exit(1);
}

// One distributed run with the simulated backend; rank 0 prints a RESULT line.
int inner_run(const Flags& flags) {
  const int prompts = flags.prompts;
  const double step_ms = flags.step_ms > 0 ? flags.step_ms : 2;
  const int64_t state_bytes = flags.state_bytes;
  const fs::path dir = flags.dir;
  auto session = MpiSession::start(false);
  die(session.status());
  const int rank = (*session)->rank(), size = (*session)->size();
  die(setup_logging("warn", LogContext{rank, "scaling"}));
  SimulatedBackend backend(step_ms, state_bytes);
  std::string why;
  auto plane = open_data_plane(**session, "mpi", rank == 0 ? "" : "cpu", why);
  die(plane.status());
  if (rank != 0) {
    MpiChannel channel(**session);
    die(serve_worker(channel, **plane, backend, WorkerLoopOptions{}));
    return 0;
  }
  fs::create_directories(dir);
  {
    std::ofstream suite(dir / "suite.txt");
    for (int p = 0; p < prompts; ++p) suite << "simulated prompt " << p << "\n";
  }
  proto::BundleManifest manifest;
  manifest.set_name("simulated");
  auto* reward = manifest.add_rewards();
  reward->set_name("simulated");
  reward->set_guidance(true);
  // The job record digests the bundle's files: the simulated bundle is its manifest alone.
  fs::create_directories(dir / "bundle");
  std::string manifest_json;
  die(google::protobuf::util::MessageToJsonString(manifest, &manifest_json).ok() ? Status::Ok() : Internal("manifest"));
  std::ofstream(dir / "bundle" / "manifest.json") << manifest_json;
  proto::JobSpec spec;
  spec.set_name("scaling");
  spec.set_bundle((dir / "bundle").string());
  spec.set_prompts((dir / "suite.txt").string());
  spec.set_output((dir / "out").string());
  spec.set_seed(1);
  spec.set_batch_size(flags.batch);
  proto::SearchSpec* search = spec.mutable_search();
  search->set_method("evosearch");
  for (int s : {5, 20, 30, 45}) search->add_evolution_steps(s);
  for (int k : {10, 5, 5, 5, 5}) search->add_population(k);
  search->set_elites(1);
  std::vector<int> workers;
  for (int r = 1; r < size; ++r) workers.push_back(r);
  MpiChannel channel(**session);
  DistributedExecutor executor(channel, DistributedOptions{workers, spec.batch_size(), 120});
  die(executor.connect());
  RunOptions options;
  options.restart = true;
  auto results = run_job(spec, manifest, 50, executor, options);
  die(results.status());
  die(executor.shutdown());
  const TrafficStats t = executor.traffic();
  std::printf("RESULT wall=%.4f nfe=%d loop=%.6f moves=%lld kept=%lld children=%lld first_checkpoint_states=%lld "
              "shard_states=%lld rank0_bytes=%lld gap=%.6f gaps=%lld\n",
              results->totals().wall_seconds(), results->totals().nfe(),
              results->totals().coordinator_seconds() / std::max(1, results->totals().generations()),
              static_cast<long long>(t.state_moves),
              static_cast<long long>(t.kept_states), static_cast<long long>(t.started_from_parent),
              static_cast<long long>(t.first_checkpoint_states), static_cast<long long>(t.shard_states),
              static_cast<long long>(t.coordinator_bytes_in),
              t.dispatch_gaps ? t.dispatch_gap_seconds / t.dispatch_gaps : 0.0, static_cast<long long>(t.dispatch_gaps));
  std::fflush(stdout);
  return 0;
}

std::map<std::string, double> run_point(const std::string& self, int workers, int prompts, double step_ms, int batch,
                                        int64_t state_bytes = 784) {
  const fs::path dir = fs::temp_directory_path() / ("evosearch-bench-scaling-" + std::to_string(workers) + "-" +
                                                    std::to_string(prompts));
  const std::string command = "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun -n " +
                              std::to_string(workers + 1) + " --oversubscribe " + self + " --job --prompts " +
                              std::to_string(prompts) + " --step-ms " + text(step_ms) + " --state-bytes " + std::to_string(state_bytes) +
                              " --batch " + std::to_string(batch) +
                              " --dir " + dir.string() + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  std::string output;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  if (pclose(pipe) != 0 || output.find("RESULT ") == std::string::npos) {
    std::fprintf(stderr, "bench_scaling: run with %d workers failed:\n%s\n", workers, output.c_str());
    std::exit(1);
  }
  std::map<std::string, double> r;
  std::istringstream in(output.substr(output.find("RESULT ") + 7));
  std::string field;
  while (in >> field) {
    const size_t eq = field.find('=');
    if (eq != std::string::npos) r[field.substr(0, eq)] = std::stod(field.substr(eq + 1));
  }
  fs::remove_all(dir);
  return r;
}

int driver(const std::string& self, const Flags& flags) {
  const double step_ms = flags.step_ms > 0 ? flags.step_ms : 2;
  const int batch = flags.batch;
  const std::vector<int> counts = flags.workers.empty() ? std::vector<int>{1, 2, 4, 8, 12, 16} : flags.workers;
  std::printf("bench/scaling: SIMULATED denoiser (%g ms sleep per sample and step, no model), EvoSearch with the Wan\n"
              "schedule T=50 S=5,20,30,45 K=10,5,5,5,5 (1000 sample-steps per prompt), batch %d, MPI data plane,\n"
              "all ranks on this machine. Efficiency = (simulated work / workers) / wall time. Coordinator time per\n"
              "generation: loop = the job loop's own work (selection, checkpoint with fsync, next tasks); gap = last\n"
              "result of a prompt's generation to its next generation's tasks being ready (includes waiting behind\n"
              "other prompts' checkpoints).\n\n",
              step_ms, batch);
  std::printf("%7s | %-54s | %-26s\n", "", "10-prompt suite", "1 prompt");
  std::printf("%7s | %8s %8s %10s %12s %12s | %8s %8s %8s\n", "workers", "wall s", "ideal s", "efficiency", "loop ms/gen",
              "gap ms/gen", "wall s", "ideal s", "effic.");
  std::vector<std::map<std::string, double>> suite_runs;
  for (int w : counts) {
    const auto ten = run_point(self, w, 10, step_ms, batch);
    const auto one = run_point(self, w, 1, step_ms, batch);
    const double ideal10 = ten.at("nfe") * step_ms / 1000.0 / w;
    const double ideal1 = one.at("nfe") * step_ms / 1000.0 / w;
    std::printf("%7d | %8.2f %8.2f %9.1f%% %12.2f %12.2f | %8.2f %8.2f %7.1f%%\n", w, ten.at("wall"), ideal10,
                100.0 * ideal10 / ten.at("wall"), 1000.0 * ten.at("loop"), 1000.0 * ten.at("gap"), one.at("wall"), ideal1,
                100.0 * ideal1 / one.at("wall"));
    std::fflush(stdout);
    suite_runs.push_back(ten);
  }
  // States crossing the network per prompt-generation (counts do not depend on the state's size).
  std::printf("\nStates moved per prompt-generation (10-prompt suite), this design against gathering every kept\n"
              "state at the coordinator and scattering every child's start state. Bytes = states x state size:\n"
              "fashion-flow 4x7x7 floats = 784 B, fashion-ddpm 1x28x28 = 3136 B, Wan-1.3B 16x9x104x60 = 3.59 MB.\n\n");
  std::printf("%7s %12s %12s %10s %16s %16s\n", "workers", "moved/gen", "gather/gen", "ratio", "Wan moved MB/gen",
              "Wan gather MB/gen");
  const double wan = 16.0 * 9 * 104 * 60 * 4;
  const double gens = 50;  // 10 prompts x 5 generations
  for (size_t i = 0; i < counts.size(); ++i) {
    const auto& r = suite_runs[i];
    const double moved = r.at("moves") / gens, gather = (r.at("kept") + r.at("children")) / gens;
    std::printf("%7d %12.2f %12.2f %9.3f %16.2f %16.2f\n", counts[i], moved, gather, moved / gather, moved * wan / 1e6,
                gather * wan / 1e6);
  }
  // Checkpoints: workers write their own shards, so no state reaches rank 0; before, each live
  // state went to rank 0 once (first_checkpoint_states counts exactly those states).
  std::printf("\nBytes into rank 0 per prompt-generation for checkpoints, before (each live state sent to rank 0\n"
              "once, as this project did before workers wrote their own shards) and now (states written by the\n"
              "workers; rank 0 receives only control messages, measured: all of them, results and heartbeats\n"
              "included). Shard states/gen: what the workers write per generation (the live states no earlier shard holds).\n\n");
  std::printf("%7s %14s %14s %14s %14s %16s %14s\n", "workers", "ckpt states/gen", "before flow KB", "before ddpm KB",
              "before Wan MB", "now: ctrl KB/gen", "shard st./gen");
  for (size_t i = 0; i < counts.size(); ++i) {
    const auto& r = suite_runs[i];
    const double first = r.at("first_checkpoint_states") / gens;
    std::printf("%7d %14.2f %14.2f %14.2f %14.2f %16.2f %14.2f\n", counts[i], first, first * 784 / 1e3, first * 3136 / 1e3,
                first * wan / 1e6, r.at("rank0_bytes") / gens / 1e3, r.at("shard_states") / gens);
  }
  return 0;
}

// The Wan-1.3B case: states are Wan2.1 T2V-1.3B's latent of a 5-s 480P clip (81 frames at
// 832x480 -> 16 channels x 21 latent frames x 60 x 104, float32: 8.4 MB), so the data plane moves
// and the workers' checkpoint shards write real blocks of that size. The per-step time is taken
// from Wan2.1's README (github.com/Wan-Video/Wan2.1, "Supports Consumer-grade GPUs"): T2V-1.3B
// "can generate a 5-second 480P video on an RTX 4090 in about 4 minutes", and its generate.py
// samples text-to-video with 50 steps by default: 240 s / 50 = 4.8 s per sample and step (an
// upper bound for the denoiser alone: it includes classifier-free guidance's second pass, which
// is one NFE here too, the text encoder and the VAE decode). Sleeping 4.8 s per sample-step
// would take 10 prompts x 1000 x 4.8 s = 13 hours on one worker, so the run is time-compressed
// (--step-ms) and the efficiency at 4.8 s is projected: the overhead measured at the compressed
// step (wall - ideal: coordinator, 8.4 MB state moves, checkpoint shards with fsync) is added to
// the ideal time at 4.8 s. That assumes the overhead does not grow with the step time; with
// longer steps more of it overlaps with other workers' compute, so the projection is pessimistic.
int video_driver(const std::string& self, const Flags& flags) {
  const int64_t wan_latent = int64_t{16} * 21 * 60 * 104 * 4;
  const double published_ms = 4800;
  const double step_ms = flags.step_ms > 0 ? flags.step_ms : 10;
  const int batch = flags.batch;
  const std::vector<int> counts = flags.workers.empty() ? std::vector<int>{1, 2, 4, 8, 16} : flags.workers;
  std::printf("bench/scaling --video: SIMULATED Wan2.1 T2V-1.3B denoiser, 10 prompts, EvoSearch with the Wan schedule\n"
              "T=50 S=5,20,30,45 K=10,5,5,5,5 (1000 sample-steps per prompt), batch %d, MPI data plane, states of\n"
              "16x21x60x104 float32 = %.2f MB. Time-compressed: %g ms sleep per sample and step instead of the published\n"
              "%.0f ms (Wan2.1 README: 5-s 480P video in about 4 min on an RTX 4090, 50 steps). Projected efficiency =\n"
              "ideal at %.0f ms / (ideal at %.0f ms + measured overhead).\n\n",
              batch, wan_latent / 1e6, step_ms, published_ms, published_ms, published_ms);
  std::printf("%7s %9s %9s %10s %11s %12s %11s %10s %13s %14s\n", "workers", "wall s", "ideal s", "efficiency",
              "overhead s", "Wan ideal h", "projected", "moved/gen", "moved MB/gen", "shards MB/gen");
  for (int w : counts) {
    const auto r = run_point(self, w, 10, step_ms, batch, wan_latent);
    const double ideal = r.at("nfe") * step_ms / 1000.0 / w;
    const double overhead = std::max(0.0, r.at("wall") - ideal);
    const double wan_ideal = r.at("nfe") * published_ms / 1000.0 / w;
    const double gens = 50;  // 10 prompts x 5 generations
    std::printf("%7d %9.2f %9.2f %9.1f%% %11.2f %12.2f %10.2f%% %10.2f %13.1f %14.1f\n", w, r.at("wall"), ideal,
                100.0 * ideal / r.at("wall"), overhead, wan_ideal / 3600, 100.0 * wan_ideal / (wan_ideal + overhead),
                r.at("moves") / gens, r.at("moves") / gens * wan_latent / 1e6,
                r.at("shard_states") / gens * wan_latent / 1e6);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace
}  // namespace evosearch::bench

int main(int argc, char** argv) {
  const auto flags = evosearch::bench::parse(argc, argv);
  if (flags.job) return evosearch::bench::inner_run(flags);
  const std::string self = std::filesystem::canonical("/proc/self/exe").string();
  return flags.video ? evosearch::bench::video_driver(self, flags) : evosearch::bench::driver(self, flags);
}
