// bench/memory: peak memory of a 20-prompt run against a 2-prompt run with the same
// prompts_in_flight. What a job holds should depend on the prompts in flight, not on the length
// of the suite: a ratio well above 1 means finished prompts are kept somewhere.
//
// Each run is `bench_throughput --no-sweep` (the product's run_embedded_job, Wan schedule) in a child
// process of its own. Its peak RSS is the child's ru_maxrss, taken with wait4 (the child's own
// rusage; getrusage(RUSAGE_CHILDREN) would give the larger of both children for the second run).
// On CUDA the child also reports the caching allocator's peak allocated and reserved bytes.
//
//   build/bench/bench_memory BUNDLE [--device cpu|cuda] [--small 2] [--large 20] [--in-flight 2]
//       [--batch 8] [--steps 10] [--threads N] [--suite FILE] [--json FILE]
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include "bench_common.h"

extern char** environ;

using namespace evosearch;
namespace fs = std::filesystem;

namespace {

struct Run {
  int prompts = 0;
  double peak_rss_mib = 0, cuda_allocated_mib = 0, cuda_reserved_mib = 0, nfe = 0, wall_seconds = 0;
};

// Runs bench_throughput for `prompts` prompts in a child process and reads back its numbers.
Run run_child(const std::vector<std::string>& common, int prompts, const std::string& scratch) {
  const std::string json = scratch + "/memory-" + std::to_string(prompts) + ".json";
  std::vector<std::string> args{BENCH_THROUGHPUT, "--no-sweep", "--prompts", std::to_string(prompts), "--json", json};
  args.insert(args.end(), common.begin(), common.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (const int err = posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ); err != 0) {
    bench::check(Internal(std::string("posix_spawn ") + argv[0] + ": " + std::strerror(err)));
  }
  int status = 0;
  struct rusage usage {};
  if (wait4(pid, &status, 0, &usage) != pid) bench::check(Internal(std::string("wait4: ") + std::strerror(errno)));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    bench::check(Internal("the " + std::to_string(prompts) + "-prompt run failed (status " + std::to_string(status) + ")"));
  }
  std::ifstream in(json);
  std::stringstream text;
  text << in.rdbuf();
  google::protobuf::Struct out;
  if (!google::protobuf::util::JsonStringToMessage(text.str(), &out).ok()) {
    bench::check(DataLoss(json + ": not the JSON bench_throughput writes"));
  }
  const auto& f = out.fields();
  auto number = [&](const char* key) {
    if (!f.count(key)) bench::check(DataLoss(json + ": has no field " + key));
    return f.at(key).number_value();
  };
  Run r;
  r.prompts = prompts;
  r.peak_rss_mib = usage.ru_maxrss / 1024.0;  // ru_maxrss is in KiB on Linux
  r.cuda_allocated_mib = number("cuda_peak_allocated_bytes") / 1048576.0;
  r.cuda_reserved_mib = number("cuda_peak_reserved_bytes") / 1048576.0;
  r.nfe = number("nfe");
  r.wall_seconds = number("wall_seconds");
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::string bundle, device = "cpu", json, suite = bench::source_path("examples/fashion-holdout.txt");
  int small = 2, large = 20, in_flight = 2, batch = 8, steps = 10, threads = 0;
  CLI::App app{"bench_memory: peak memory of a long suite against a short one (bench_throughput --no-sweep in child "
               "processes)"};
  bench::flags::bundle(app, bundle)->required();
  bench::flags::device(app, device);
  bench::flags::positive(app, "--small", small, "prompts of the short run")->capture_default_str();
  bench::flags::positive(app, "--large", large, "prompts of the long run")->capture_default_str();
  bench::flags::in_flight(app, in_flight);
  bench::flags::batch(app, batch, "the job's batch_size")->capture_default_str();
  bench::flags::steps(app, steps);
  bench::flags::threads(app, threads);
  bench::flags::suite(app, suite);
  bench::flags::json(app, json);
  bench::flags::parse(app, argc, argv);
  if (large <= small) bench::flags::refuse(app, "--large", "expected more prompts than --small");
  // The child's flags of the same names (bench_throughput defines them with the same checks).
  const std::vector<std::string> common{bundle,   "--device", device,          "--in-flight", std::to_string(in_flight),
                                        "--batch", std::to_string(batch), "--steps", std::to_string(steps),
                                        "--threads", std::to_string(threads), "--suite", suite};
  // One folder per process: two bench_memory runs at once must not read each other's numbers.
  const std::string scratch = bench::scratch_folder("memory");
  fs::create_directories(scratch);

  std::printf("bench/memory: %s, device %s, %d prompts in flight, batch %d, T %d (Wan-shaped schedule)\n",
              bundle.c_str(), device.c_str(), in_flight, batch, steps);
  std::fflush(stdout);
  const Run a = run_child(common, small, scratch);
  const Run b = run_child(common, large, scratch);
  std::printf("%-8s %8s %8s %14s %18s %18s\n", "prompts", "NFE", "wall s", "peak RSS MiB", "CUDA alloc MiB",
              "CUDA reserved MiB");
  for (const Run* r : {&a, &b}) {
    std::printf("%-8d %8.0f %8.2f %14.1f %18.1f %18.1f\n", r->prompts, r->nfe, r->wall_seconds, r->peak_rss_mib,
                r->cuda_allocated_mib, r->cuda_reserved_mib);
  }
  std::printf("peak RSS, %d prompts / %d prompts: %.3f (target: flat, 1.0)\n", large, small,
              b.peak_rss_mib / a.peak_rss_mib);
  if (a.cuda_allocated_mib > 0) {
    std::printf("peak CUDA allocated, %d prompts / %d prompts: %.3f (target: flat, 1.0)\n", large, small,
                b.cuda_allocated_mib / a.cuda_allocated_mib);
  }
  if (!json.empty()) {
    google::protobuf::Struct out;
    auto& fields = *out.mutable_fields();
    fields["device"].set_string_value(device);
    fields["prompts_in_flight"].set_string_value(std::to_string(in_flight));
    for (const Run* r : {&a, &b}) {
      auto& row = *fields["runs"].mutable_list_value()->add_values()->mutable_struct_value()->mutable_fields();
      row["prompts"].set_number_value(r->prompts);
      row["nfe"].set_number_value(r->nfe);
      row["wall_seconds"].set_number_value(r->wall_seconds);
      row["peak_rss_mib"].set_number_value(r->peak_rss_mib);
      row["cuda_peak_allocated_mib"].set_number_value(r->cuda_allocated_mib);
      row["cuda_peak_reserved_mib"].set_number_value(r->cuda_reserved_mib);
    }
    fields["peak_rss_ratio"].set_number_value(b.peak_rss_mib / a.peak_rss_mib);
    std::string text;
    if (!google::protobuf::util::MessageToJsonString(out, &text).ok()) bench::check(Internal("could not write " + json));
    std::ofstream(json) << text << "\n";
  }
  fs::remove_all(scratch);
  return 0;
}
