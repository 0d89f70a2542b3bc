// bench/throughput: is the hardware busy with model work during a search? Two measurements side
// by side in one process, on the same device:
//   1. the denoiser alone: sample-steps per second through Bundle::denoise, called as the
//      product calls it (guided_denoiser: one call on [cond; null] per step), over a sweep of
//      batch sizes; the best of them is what the device can do with this model;
//   2. an end-to-end EvoSearch run through run_embedded_job (the product's own code path) with the Wan
//      schedule, S = 5,20,30,45 and K = 10,5,5,5,5 at T = 50 (for a shorter T, S is scaled:
//      T = 10 gives S = 1,4,6,9).
// It prints end-to-end NFE/s divided by the standalone best (how close the search comes to the
// model's own speed; the best batch is timed again after the run and the two averaged) and the
// share of wall time outside model calls (results.json model_seconds / wall_seconds), then where the
// time went by phase (results.json totals.phases: encode, denoise, decode, score; selection,
// checkpoint, output). On the CPU it also compares the two per CPU second of this process (what a
// shared machine distorts least); with CUDA it prints the caching allocator's peak memory.
//
//   build/bench/bench_throughput BUNDLE [--device cpu|cuda] [--prompts N] [--batch B]
//       [--batches 1,2,4,8,16,32] [--steps T] [--in-flight P] [--threads N] [--seconds S]
//       [--suite FILE] [--no-sweep | --sweep-only] [--json FILE]
//
// --batch is the end-to-end batch_size (default: the sweep's best); --no-sweep runs only the
// end-to-end job (bench_memory runs it so, in a child process), --sweep-only only the denoiser
// alone (bench/compare_python_loop.sh's ceiling); --json writes every number.
#include <time.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <ATen/Parallel.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include "bench_common.h"
#include "common/logging.h"
#include "coordinator/cli/number_checks.h"
#include "coordinator/job_spec.h"
#include "jobs/prompt_suite.h"
#include "worker/guidance.h"
#include "worker/keyed_noise.h"
#include "worker/allocator.h"
#include "worker/runtime.h"
#include "worker/schedule.h"

#ifdef EVOSEARCH_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

using namespace evosearch;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string bundle, device = "cpu", suite = bench::source_path("examples/fashion-holdout.txt");
  std::string json;
  std::vector<int> batches{1, 2, 4, 8, 16, 32};
  int prompts = 8, batch = 0, steps = 50, in_flight = 8, threads = 0;
  double seconds = 1.0;  // timed calls per batch size last at least this long
  bool sweep = true;
  bool run = true;  // false: the sweep only (compare_python_loop.sh's ceiling)
};

Options parse(int argc, char** argv) {
  Options o;
  CLI::App app{"bench_throughput: the denoiser alone over batch sizes, then EvoSearch end to end (the Wan schedule); "
               "end-to-end NFE/s over the standalone best"};
  bench::flags::bundle(app, o.bundle)->required();
  bench::flags::device(app, o.device);
  bench::flags::positive(app, "--prompts", o.prompts, "prompts of the end-to-end job (the suite's, repeated)")
      ->capture_default_str();
  bench::flags::batch(app, o.batch, "the end-to-end job's batch_size (default: the sweep's best)");
  bench::flags::positive_list(app, "--batches", o.batches, "batch sizes of the sweep");
  bench::flags::steps(app, o.steps);
  bench::flags::in_flight(app, o.in_flight);
  bench::flags::threads(app, o.threads);
  app.add_option("--seconds", o.seconds, "time each batch size of the sweep at least this long")
      ->capture_default_str()
      ->check(finite_positive());
  bench::flags::suite(app, o.suite);
  bool no_sweep = false, sweep_only = false;
  app.add_flag("--no-sweep", no_sweep, "run only the end-to-end job (bench_memory runs it so)");
  app.add_flag("--sweep-only", sweep_only,
               "time the denoiser alone and stop (bench/compare_python_loop.sh takes its best as a ceiling)");
  bench::flags::json(app, o.json);
  bench::flags::parse(app, argc, argv);
  o.sweep = !no_sweep;
  o.run = !sweep_only;
  if (no_sweep && sweep_only) bench::flags::refuse(app, "--sweep-only", "and --no-sweep leave nothing to run");
  if (no_sweep && o.batch == 0) bench::flags::refuse(app, "--no-sweep", "needs --batch (there is no sweep to pick it)");
  return o;
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

// The first `count` prompts of the suite (repeated with a number when it has fewer), as a .txt suite.
std::string write_prompts(const Options& o, const std::string& dir) {
  auto suite = read_prompt_suite(o.suite);
  bench::check(suite.status());
  const std::string path = dir + "/prompts.txt";
  std::ofstream out(path);
  for (int i = 0; i < o.prompts; ++i) {
    const size_t n = suite->size();
    out << (*suite)[i % n].text;
    if (i >= static_cast<int>(n)) out << " (" << i / n + 1 << ")";
    out << "\n";
  }
  return path;
}

// CPU seconds this process has used, all threads. On a CPU shared with other work a rate per CPU
// second moves far less with the load than a rate per wall second.
double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Sample-steps (or NFE) per wall second and per CPU second of this process.
struct Rate {
  double wall = 0, cpu = 0;
};

// The guided denoiser at one batch size, timed, after warm-up calls (the TorchScript executor
// profiles and optimises a graph during its first calls for each shape).
class Standalone {
 public:
  Standalone(Bundle& bundle, const Schedule& schedule, double guidance, double seconds)
      : bundle_(bundle), schedule_(schedule), guidance_(guidance), seconds_(seconds) {
    c10::InferenceMode guard;
    auto null_cond = bundle.encode({bundle.manifest().null_prompt()});
    auto cond = bundle.encode({"a benchmark prompt"});
    bench::check(null_cond.status());
    bench::check(cond.status());
    cond_ = *cond;
    null_cond_ = (*null_cond)[0];
  }

  // Throws (an out-of-memory error, say) when the denoiser fails at this batch size.
  Rate rate(int batch) const {
    c10::InferenceMode guard;
    std::vector<int64_t> shape = bundle_.latent_shape();
    shape.insert(shape.begin(), batch);
    const at::Tensor x = at::randn(shape, at::TensorOptions().device(bundle_.device()));
    const DenoiseFn model = guided_denoiser(bundle_, schedule_, cond_.expand({batch, -1}), null_cond_, guidance_);
    const int64_t step = schedule_.steps() / 2;
    for (int i = 0; i < 3; ++i) model(x, step);
    int calls = 0;
    const auto start = Clock::now();
    const double cpu_start = process_cpu_seconds();
    double elapsed = 0;
    // Each call ends with the bundle's finite-value check, which waits for the device.
    while (calls < 2 || elapsed < seconds_) {
      model(x, step);
      ++calls;
      elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    }
    return {batch * calls / elapsed, batch * calls / (process_cpu_seconds() - cpu_start)};
  }

 private:
  Bundle& bundle_;
  const Schedule& schedule_;
  const double guidance_, seconds_;
  at::Tensor cond_, null_cond_;
};

struct Sweep {
  std::vector<std::pair<int, Rate>> rate;  // batch size, sample-steps per second
  int best_batch = 0;
  Rate best;  // the best by wall time
};

Sweep sweep(const std::vector<int>& batches, const Standalone& standalone) {
  Sweep s;
  std::printf("%-8s %14s %12s %20s\n", "batch", "sample-steps/s", "ms/call", "sample-steps/CPU s");
  for (int b : batches) {
    try {
      const Rate rate = standalone.rate(b);
      s.rate.emplace_back(b, rate);
      std::printf("%-8d %14.2f %12.2f %20.2f\n", b, rate.wall, 1e3 * b / rate.wall, rate.cpu);
      std::fflush(stdout);
      if (rate.wall > s.best.wall) s.best = rate, s.best_batch = b;
    } catch (const std::exception& e) {
      // Out of memory ends the sweep: larger batches would fail too.
      std::printf("%-8d failed: %s\n", b, e.what());
      break;
    }
  }
  if (s.best_batch == 0) bench::check(Internal("the denoiser failed at every batch size"));
  return s;
}

// Milliseconds per draw of one sampler step's noise for `batch` candidates (keyed_normal, what a
// stochastic sampler draws on the host between two model calls), at `threads` compute threads.
double noise_ms(const Bundle& bundle, int batch, int threads) {
  const ScopedComputeThreads scope(threads);
  std::vector<NoiseKey> keys;
  for (int b = 0; b < batch; ++b) keys.push_back(NoiseKey{1, 2, 3, static_cast<uint32_t>(b), 4, kStepNoise});
  for (int i = 0; i < 2; ++i) keyed_normal(keys, bundle.latent_shape(), at::kCPU);
  int draws = 0;
  const auto start = Clock::now();
  double elapsed = 0;
  while (draws < 3 || elapsed < 0.2) {
    keyed_normal(keys, bundle.latent_shape(), at::kCPU);
    ++draws;
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  }
  return 1e3 * elapsed / draws;
}

proto::SearchSpec wan_schedule(int steps) {
  proto::SearchSpec search;
  search.set_method("evosearch");
  for (int s : {5, 20, 30, 45}) search.add_evolution_steps(static_cast<int>(std::lround(s * steps / 50.0)));
  for (int k : {10, 5, 5, 5, 5}) search.add_population(k);
  return search;
}

#ifdef EVOSEARCH_WITH_CUDA
// "cuda" has no index (-1), which the caching allocator refuses ("Invalid device argument"): the
// current device then, where the run's tensors go.
c10::DeviceIndex cuda_index(const at::Device& device) {
  return device.has_index() ? device.index() : c10::cuda::current_device();
}
#endif

// Peak bytes the CUDA caching allocator handed out and reserved since the last reset; zero on CPU.
std::pair<int64_t, int64_t> cuda_peak(const at::Device& device) {
#ifdef EVOSEARCH_WITH_CUDA
  if (device.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(cuda_index(device));
    return {stats.allocated_bytes[0].peak, stats.reserved_bytes[0].peak};  // [0]: StatType::AGGREGATE
  }
#endif
  (void)device;
  return {0, 0};
}

void reset_cuda_peak(const at::Device& device) {
#ifdef EVOSEARCH_WITH_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(cuda_index(device));
#endif
  (void)device;
}

// results.json's totals.phases by name: the model's four phases, then the job loop's three.
std::vector<std::pair<std::string, double>> phase_list(const proto::PhaseSeconds& p) {
  return {{"encode", p.encode()},       {"denoise", p.denoise()},       {"decode", p.decode()}, {"score", p.score()},
          {"selection", p.selection()}, {"checkpoint", p.checkpoint()}, {"output", p.output()}};
}

// Where the end-to-end run's time went, as seconds and shares of wall time.
void print_phases(const proto::Totals& t) {
  const auto phases = phase_list(t.phases());
  std::printf("phases of the end-to-end run (results.json totals.phases; share of wall time):\n");
  for (size_t i = 0; i < phases.size(); ++i) {
    std::printf("  %-12s %-11s %9.4f s %6.1f%%\n", i < 4 ? "model calls" : "job loop", phases[i].first.c_str(),
                phases[i].second, 100 * phases[i].second / t.wall_seconds());
  }
  std::printf("  %-24s %9.4f s %6.1f%%\n", "job loop, all of it", t.coordinator_seconds(),
              100 * t.coordinator_seconds() / t.wall_seconds());
}

void write_json(const std::string& path, const google::protobuf::Struct& out) {
  std::string text;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  if (!google::protobuf::util::MessageToJsonString(out, &text, options).ok()) {
    bench::check(Internal("could not write " + path + " as JSON"));
  }
  std::ofstream(path) << text;
}

}  // namespace

int main(int argc, char** argv) {
  configure_allocator();  // as evosearch run does: freed memory kept for reuse
  const Options o = parse(argc, argv);
  bench::check(setup_logging("warn", {}));
  set_compute_threads(o.threads);
  auto device = choose_device(o.device);
  bench::check(device.status());
  auto bundle = Bundle::open(o.bundle, *device);
  bench::check(bundle.status());
  // One folder per process: bench_memory's runs, or a user's, may overlap.
  const std::string scratch = bench::scratch_folder("throughput");
  fs::create_directories(scratch);

  proto::JobSpec spec = bench::job(o.bundle, write_prompts(o, scratch), scratch, "end-to-end");
  spec.set_device(o.device);
  spec.mutable_sampler()->set_steps(o.steps);
  *spec.mutable_search() = wan_schedule(o.steps);
  spec.set_prompts_in_flight(o.in_flight);
  auto sampler = sampler_config(spec, (*bundle)->manifest());
  bench::check(sampler.status());
  auto schedule = make_schedule((*bundle)->manifest(), *sampler);
  bench::check(schedule.status());
  const double guidance = (*bundle)->manifest().defaults().guidance_scale();

  std::printf("bench/throughput: %s, %s, load average %s\n", o.bundle.c_str(), runtime_summary(*device).c_str(),
              load_average().c_str());
  google::protobuf::Struct out;
  auto& fields = *out.mutable_fields();
  fields["bundle"].set_string_value(o.bundle);
  fields["runtime"].set_string_value(runtime_summary(*device));
  fields["load_average_start"].set_string_value(load_average());

  const Standalone standalone(**bundle, *schedule, guidance, o.seconds);
  Sweep s;
  if (o.sweep) {
    std::printf("-- the denoiser alone (guidance %g: one call on [cond; null] per sample-step)\n", guidance);
    s = sweep(o.batches, standalone);
    std::printf("best: %.2f sample-steps/s at batch %d\n", s.best.wall, s.best_batch);
    auto* sweep_list = fields["sweep"].mutable_list_value();
    for (const auto& [b, rate] : s.rate) {
      auto& row = *sweep_list->add_values()->mutable_struct_value()->mutable_fields();
      row["batch"].set_number_value(b);
      row["sample_steps_per_second"].set_number_value(rate.wall);
      row["sample_steps_per_cpu_second"].set_number_value(rate.cpu);
    }
    fields["best_batch"].set_number_value(s.best_batch);
    fields["best_sample_steps_per_second"].set_number_value(s.best.wall);
    fields["best_sample_steps_per_cpu_second"].set_number_value(s.best.cpu);
    if (device->is_cpu()) {
      const double one = noise_ms(**bundle, s.best_batch, 1), all = noise_ms(**bundle, s.best_batch, at::get_num_threads());
      const double call = 1e3 * s.best_batch / s.best.wall;
      std::printf("keyed noise for one sampler step at batch %d: %.3f ms on 1 thread, %.3f ms on %d (%.2fx; %.1f%% of a "
                  "model call), drawn by stochastic samplers only\n",
                  s.best_batch, one, all, at::get_num_threads(), one / all, 100 * all / call);
      fields["noise_ms_one_thread"].set_number_value(one);
      fields["noise_ms"].set_number_value(all);
    }
  }
  if (!o.run) {
    fields["load_average_end"].set_string_value(load_average());
    if (!o.json.empty()) write_json(o.json, out);
    fs::remove_all(scratch);
    return 0;
  }

  spec.set_batch_size(o.batch > 0 ? o.batch : s.best_batch);
  std::string evolution_steps;
  for (int x : spec.search().evolution_steps()) evolution_steps += (evolution_steps.empty() ? "" : ",") + std::to_string(x);
  std::printf("-- end to end: EvoSearch, %d prompts, T %d, S %s, K 10,5,5,5,5, batch %d, %d prompts in flight\n",
              o.prompts, o.steps, evolution_steps.c_str(), spec.batch_size(), spec.prompts_in_flight());
  std::fflush(stdout);
  reset_cuda_peak(*device);
  const double cpu_start = process_cpu_seconds();
  auto r = bench::run(spec, **bundle);
  bench::check(r.status());
  const double run_cpu = process_cpu_seconds() - cpu_start;
  const auto& t = r->totals();
  const double nfe_rate = t.nfe() / t.wall_seconds();
  const double outside = 1 - t.model_seconds() / t.wall_seconds();
  const auto [peak_allocated, peak_reserved] = cuda_peak(*device);
  std::printf("NFE %d, wall %.2f s, model %.2f s: %.2f NFE/s end to end\n", t.nfe(), t.wall_seconds(),
              t.model_seconds(), nfe_rate);
  if (o.sweep) {
    // Measured again after the run: on a shared machine the load moves, and the two bracket it.
    const Rate after = standalone.rate(s.best_batch);
    const double reference = (s.best.wall + after.wall) / 2;
    std::printf("standalone at batch %d again after the run: %.2f sample-steps/s (before: %.2f)\n", s.best_batch,
                after.wall, s.best.wall);
    std::printf("end-to-end NFE/s / standalone best sample-steps/s (mean of before and after): %.3f\n",
                nfe_rate / reference);
    fields["best_sample_steps_per_second_after"].set_number_value(after.wall);
    fields["end_to_end_over_standalone"].set_number_value(nfe_rate / reference);
    if (!device->is_cuda()) {  // on CUDA the host's CPU time says nothing about the device's work
      const double cpu_reference = (s.best.cpu + after.cpu) / 2;
      std::printf("the same per CPU second of this process: %.2f NFE end to end, %.2f sample-steps standalone "
                  "at batch %d (mean of before and after): %.3f\n",
                  t.nfe() / run_cpu, cpu_reference, s.best_batch, t.nfe() / run_cpu / cpu_reference);
      fields["end_to_end_over_standalone_cpu"].set_number_value(t.nfe() / run_cpu / cpu_reference);
    }
  }
  std::printf("share of wall time outside model calls: %.1f%%\n", 100 * outside);
  print_phases(t);
  if (device->is_cuda()) {
    std::printf("peak CUDA memory of the end-to-end run: %.1f MiB allocated, %.1f MiB reserved\n",
                peak_allocated / 1048576.0, peak_reserved / 1048576.0);
  }
  std::printf("load average at the end: %s\n", load_average().c_str());

  fields["prompts"].set_number_value(o.prompts);
  fields["steps"].set_number_value(o.steps);
  fields["batch_size"].set_number_value(spec.batch_size());
  fields["prompts_in_flight"].set_number_value(spec.prompts_in_flight());
  fields["nfe"].set_number_value(t.nfe());
  fields["wall_seconds"].set_number_value(t.wall_seconds());
  fields["model_seconds"].set_number_value(t.model_seconds());
  fields["nfe_per_second"].set_number_value(nfe_rate);
  fields["nfe_per_cpu_second"].set_number_value(t.nfe() / run_cpu);
  fields["outside_model_share"].set_number_value(outside);
  fields["coordinator_seconds"].set_number_value(t.coordinator_seconds());
  auto& phases = *fields["phase_seconds"].mutable_struct_value()->mutable_fields();
  for (const auto& [name, seconds] : phase_list(t.phases())) phases[name].set_number_value(seconds);
  fields["cuda_peak_allocated_bytes"].set_number_value(static_cast<double>(peak_allocated));
  fields["cuda_peak_reserved_bytes"].set_number_value(static_cast<double>(peak_reserved));
  fields["load_average_end"].set_string_value(load_average());
  if (!o.json.empty()) write_json(o.json, out);
  fs::remove_all(scratch);
  return 0;
}
