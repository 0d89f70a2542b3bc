#include "bench_common.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>

#include <unistd.h>

#include "coordinator/job_setup.h"
#include "worker/runtime.h"

namespace evosearch::bench {

std::string source_path(const std::string& relative) { return std::string(EVOSEARCH_SOURCE_DIR) + "/" + relative; }

namespace flags {

CLI::Option* bundle(CLI::App& app, std::string& dir) {
  return app.add_option("bundle", dir, "model bundle folder, e.g. models/fashion-flow")->check(CLI::ExistingDirectory);
}

CLI::Option* device(CLI::App& app, std::string& device) {
  // choose_device's own check, so a mistyped device is refused before any work; its message
  // starts with "--device NAME: ", which CLI11 puts in front by itself.
  const CLI::Validator known(
      [](std::string& name) -> std::string {
        const Status s = choose_device(name).status();
        if (s.ok()) return {};
        const size_t colon = s.message().find(": ");
        return colon == std::string::npos ? s.message() : s.message().substr(colon + 2);
      },
      "auto|cpu|cuda|cuda:N");
  return app.add_option("--device", device, "auto (CUDA when available), cpu, cuda or cuda:N")
      ->capture_default_str()
      ->check(known);
}

CLI::Option* threads(CLI::App& app, int& threads) {
  return app.add_option("--threads", threads, "CPU compute threads; 0 = one per core")
      ->capture_default_str()
      ->check(CLI::Range(0, 4096));
}

CLI::Option* suite(CLI::App& app, std::string& file) {
  return app.add_option("--suite", file, "prompt suite (.txt, .csv or .json)")->capture_default_str()->check(CLI::ExistingFile);
}

CLI::Option* json(CLI::App& app, std::string& file) {
  return app.add_option("--json", file, "write every number to this JSON file");
}

CLI::Option* steps(CLI::App& app, int& steps) { return positive(app, "--steps", steps, "sampler steps T")->capture_default_str(); }

CLI::Option* batch(CLI::App& app, int& batch, const std::string& help) { return positive(app, "--batch", batch, help); }

CLI::Option* in_flight(CLI::App& app, int& prompts) {
  return positive(app, "--in-flight", prompts, "prompts in flight (the job's prompts_in_flight)")->capture_default_str();
}

// CLI::PositiveNumber's message for 0 spells out DBL_MAX; this one says what is expected.
const CLI::Validator& positive_integer() {
  static const CLI::Validator check(
      [](std::string& text) -> std::string {
        char* end = nullptr;
        errno = 0;
        const long long v = std::strtoll(text.c_str(), &end, 10);
        const bool whole = !text.empty() && end == text.c_str() + text.size() && errno == 0;
        return whole && v > 0 && v <= std::numeric_limits<int>::max() ? "" : "Value " + text + " is not a positive integer";
      },
      "POSITIVE");
  return check;
}

CLI::Option* positive(CLI::App& app, const std::string& name, int& value, const std::string& help) {
  return app.add_option(name, value, help)->check(positive_integer());
}

CLI::Option* positive_list(CLI::App& app, const std::string& name, std::vector<int>& values, const std::string& help) {
  // One value per flag, split at commas: a positional argument after the list is not taken in.
  return app.add_option(name, values, help)
      ->delimiter(',')
      ->allow_extra_args(false)
      ->capture_default_str()
      ->check(positive_integer());
}

CLI::Option* word_list(CLI::App& app, const std::string& name, std::vector<std::string>& values,
                       const std::string& help) {
  return app.add_option(name, values, help)->delimiter(',')->allow_extra_args(false)->capture_default_str();
}

void parse(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::exit(app.exit(e));
  }
}

void refuse(const CLI::App& app, const std::string& flag, const std::string& why) {
  std::exit(app.exit(CLI::ValidationError(flag, why)));
}

}  // namespace flags

std::string scratch_folder(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("evosearch-bench-" + name + "-" + std::to_string(::getpid()))).string();
}

proto::JobSpec job(const std::string& bundle, const std::string& prompts, const std::string& scratch,
                   const std::string& name) {
  proto::JobSpec spec;
  spec.set_name(name);
  spec.set_bundle(bundle);
  spec.set_prompts(prompts);
  spec.set_output((std::filesystem::path(scratch) / name).string());
  spec.set_batch_size(32);
  spec.set_prompts_in_flight(8);
  spec.set_device("auto");
  spec.mutable_search()->set_method("evosearch");
  return spec;
}

StatusOr<proto::JobResults> run(const proto::JobSpec& spec, Bundle& bundle) {
  RunOptions options;
  options.restart = true;
  // --restart lists the output folder first; a fresh benchmark folder must exist for that.
  std::error_code ec;
  std::filesystem::create_directories(spec.output(), ec);
  return run_embedded_job(spec, bundle, options);
}

void check(const Status& status) {
  if (status.ok()) return;
  std::fprintf(stderr, "benchmark failed: %s\n", status.to_string().c_str());
  std::exit(1);
}

}  // namespace evosearch::bench
