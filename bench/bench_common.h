// Shared by the benchmarks: their command lines (CLI11, as the product's), and running a job spec
// in this process and reading back its results.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "evosearch/job.pb.h"
#include "worker/bundle.h"

namespace evosearch::bench {

// A file or folder of the source tree, e.g. source_path("models/fashion-flow").
std::string source_path(const std::string& relative);

// The flags several benchmarks take, each defined here once with its help and its check; a
// benchmark adds the ones it takes and then its own. Defaults are the variables' values.
namespace flags {

CLI::Option* bundle(CLI::App& app, std::string& dir);              // BUNDLE: a bundle folder (positional)
CLI::Option* device(CLI::App& app, std::string& device);           // --device: auto, cpu, cuda, cuda:N
CLI::Option* threads(CLI::App& app, int& threads);                 // --threads: CPU compute threads, 0 = one per core
CLI::Option* suite(CLI::App& app, std::string& file);              // --suite: an existing prompt suite
CLI::Option* json(CLI::App& app, std::string& file);               // --json: where to write every number
CLI::Option* steps(CLI::App& app, int& steps);                     // --steps T: sampler steps
CLI::Option* batch(CLI::App& app, int& batch, const std::string& help);  // --batch: the job's batch_size
CLI::Option* in_flight(CLI::App& app, int& prompts);               // --in-flight P: prompts_in_flight

// --NAME, a positive integer.
CLI::Option* positive(CLI::App& app, const std::string& name, int& value, const std::string& help);
// --NAME 1,2,4: positive integers separated by commas.
CLI::Option* positive_list(CLI::App& app, const std::string& name, std::vector<int>& values, const std::string& help);
// --NAME a,b,c: words separated by commas.
CLI::Option* word_list(CLI::App& app, const std::string& name, std::vector<std::string>& values,
                       const std::string& help);

// Parses the command line: prints --help and exits 0, or prints what is wrong (naming the flag)
// and exits with CLI11's code.
void parse(CLI::App& app, int argc, char** argv);

// Refuses a combination of flags that parsed one by one: prints the message as CLI11 prints its
// own (naming `flag`) and exits.
[[noreturn]] void refuse(const CLI::App& app, const std::string& flag, const std::string& why);

}  // namespace flags

// This process's own scratch folder for a benchmark's job outputs: evosearch-bench-NAME-PID in the
// temporary folder, so that two benchmarks running at once never restart each other's jobs.
std::string scratch_folder(const std::string& name);

// A job spec for `bundle` over `prompts`, writing to a fresh folder under `scratch`.
proto::JobSpec job(const std::string& bundle, const std::string& prompts, const std::string& scratch,
                   const std::string& name);

// Runs `spec` on `bundle` from scratch (no resume) and returns its results.
StatusOr<proto::JobResults> run(const proto::JobSpec& spec, Bundle& bundle);

// Dies with a message when `status` is an error.
void check(const Status& status);

}  // namespace evosearch::bench
