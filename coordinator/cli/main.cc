// evosearch: test-time evolutionary search over diffusion and flow models.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <functional>
#include <limits>
#include <string>

#include "coordinator/cli/command_setup.h"
#include "coordinator/cli/commands.h"
#include "coordinator/cli/job_store_choice.h"
#include "coordinator/cli/number_checks.h"
#include "worker/allocator.h"
#include "worker/runtime.h"

int main(int argc, char** argv) {
  using namespace evosearch;
  configure_allocator();  // before the first tensor: every later free is kept for reuse
  CLI::App app{"evosearch: test-time evolutionary search (EvoSearch) over image and video diffusion/flow models.\n"
               "Model bundles are folders with a manifest.json and TorchScript modules (models/BUNDLE.md)."};
  app.require_subcommand(1);
  app.set_version_flag("--version", version_text());

  CommonOptions common;
  auto add_common = [&](CLI::App* cmd) {
    cmd->add_option("--log-level", common.log_level, "trace, debug, info, warn, error or off")->capture_default_str();
    cmd->add_option("--device", common.device, "auto (CUDA when available), cpu, cuda or cuda:N (default: auto, or the job spec's)");
    cmd->add_option("--threads", common.threads, "CPU compute threads; 0 = one per core")->capture_default_str()->check(CLI::Range(0, 4096));
    cmd->add_option("--dtype", common.dtype, "precision the modules run in: fp32, bf16 or fp16 (CUDA only) (default: the "
                                             "job spec's model_dtype, else the bundle's dtype)")
        ->check(CLI::IsMember({"fp32", "bf16", "fp16"}));
  };

  SampleOptions sample;
  CLI::App* sample_cmd = app.add_subcommand("sample", "Draw samples for one prompt (no search) and write a grid PNG");
  sample_cmd->add_option("--bundle", sample.bundle, "model bundle folder, e.g. models/fashion-ddpm")->required();
  sample_cmd->add_option("--prompt", sample.prompt, "the prompt, e.g. \"a dark sneaker\"")->required();
  sample_cmd->add_option("-n,--count", sample.count, "number of samples")->capture_default_str()->check(CLI::Range(1, 100000));
  sample_cmd->add_option("-o,--out", sample.out, "grid PNG to write")->capture_default_str();
  sample_cmd->add_option("--sampler", sample.sampler, "ddim, euler or dpmpp-sde (default: the bundle's)");
  sample_cmd->add_option("--steps", sample.steps, "sampler steps (default: the bundle's)");
  sample_cmd->add_option("--eta", sample.eta, "DDIM eta in [0,1]; 1 is stochastic (default: the bundle's)")->check(finite_range(0, 1));
  sample_cmd->add_option("--order", sample.order, "dpmpp-sde order, 1 or 2 (default: the bundle's)")->check(CLI::Range(1, 2));
  sample_cmd->add_option("--shift", sample.shift, "flow time shift (default: the bundle's)")->check(finite_positive());
  sample_cmd->add_option("--guidance", sample.guidance, "classifier-free guidance scale; 1 = off (default: the bundle's)")
      ->check(finite_range(0, 1000));
  sample_cmd->add_option("--seed", sample.seed, "job seed; the same seed gives the same images")->capture_default_str();
  sample_cmd->add_option("--batch", sample.batch, "samples per model call")->capture_default_str()->check(CLI::PositiveNumber);
  sample_cmd->add_option("--columns", sample.columns, "grid columns (default: about square)")->check(CLI::Range(1, 100000));
  sample_cmd->add_option("--scale", sample.scale, "enlarge each image by this factor (default: to about 112 px)")->check(CLI::Range(1, 256));
  add_common(sample_cmd);

  RunCommandOptions run;
  CLI::App* run_cmd = app.add_subcommand(
      "run", "Search every prompt of a suite (EvoSearch, best-of-n, particles or none) and write images + results.json.\n"
             "Job spec fields: proto/job.proto; examples: examples/*.json.\n"
             "On a cluster: mpirun -n N evosearch run SPEC (or srun --mpi=pmix): rank 0 coordinates, the others run rollouts.\n"
             "The batch size measured at a job's start (batch_size_policy auto) is kept for later jobs on this device with\n"
             "this bundle in $EVOSEARCH_CACHE_DIR (default $XDG_CACHE_HOME/evosearch or ~/.cache/evosearch; off: none).");
  run_cmd->add_option("spec", run.spec, "job spec (.json)")->required();
  run_cmd->add_flag("--restart", run.restart, "start over: discard the progress and outputs already in the output folder (needed when they came from another spec)");
  run_cmd->add_flag("--coordinator-computes", run.coordinator_computes,
                    "under mpirun/srun: rank 0 runs rollouts too, besides coordinating (default: it only coordinates)");
  run_cmd->add_option("--worker-timeout", run.worker_timeout,
                      "under mpirun/srun: seconds a rank may stay silent or make no progress before the job stops "
                      "with its name")->capture_default_str()->check(finite_positive());
  CLI::Option* job_store = run_cmd->add_option(
      "--job-store", run.job_store,
      "where the job's state lives (overrides EVOSEARCH_JOB_STORE and the spec's job_store): file (the output "
      "folder; one run at a time) or redis://[:password@]host[:port][/db] (several coordinators share the job; "
      "rediss://...?ca=PATH&cert=PATH&key=PATH: TLS). "
      "Keep a password off the command line: give it in REDISCLI_AUTH, or the URL in EVOSEARCH_JOB_STORE or "
      "--job-store-file");
  run_cmd->add_option("--job-store-file", run.job_store_file,
                      "a file (mode 0600: no access for group or others) whose first line is the job store's URL")
      ->excludes(job_store);
  run_cmd->add_option("--lease-seconds", run.lease_seconds,
                      "how long a prompt this run claimed stays its own without renewal (renewed every third of it); "
                      "a dead run's prompts go to other coordinators after this")->capture_default_str()->check(finite_range(0.5, 86400));
  run_cmd->add_option("--store-timeout", run.store_timeout,
                      "seconds the job store may be out of reach (retried with backoff) before the run stops with "
                      "exit 75, everything checkpointed; at most 3000, so a retried call is still remembered by the "
                      "store (an hour) and runs once")
      ->capture_default_str()
      ->check(finite_number(std::numeric_limits<double>::denorm_min(), 3000, "in (0, 3000]"));
  run_cmd->add_option("--data-plane", run.data_plane,
                      "under mpirun/srun: how states move between workers: auto (NCCL when every worker has a GPU of "
                      "its own, else MPI), mpi or nccl")->capture_default_str()->check(CLI::IsMember({"auto", "mpi", "nccl"}));
  add_common(run_cmd);

  CheckOptions check;
  CLI::App* check_cmd = app.add_subcommand("check", "Load a bundle, dry-run every module and describe it");
  check_cmd->add_option("--bundle", check.bundle, "model bundle folder")->required();
  add_common(check_cmd);

  StatusOptions status;
  CLI::App* status_cmd = app.add_subcommand(
      "status", "Show a job's progress from its store (running or stopped): prompts queued, running (by whom, which "
                "generation), done and failed, best reward so far, throughput and ETA");
  status_cmd->add_option("where", status.where,
                         "the job's output folder, or redis://[:password@]host[:port][/db] (default: "
                         "--job-store-file, else EVOSEARCH_JOB_STORE)");
  status_cmd->add_option("--job-store-file", status.job_store_file,
                         "a file (mode 0600) whose first line is the job store's URL, instead of `where`");
  status_cmd->add_option("--job", status.job, "the job's name (its spec's name), for a Redis store");
  status_cmd->add_flag("--json", status.json, "one JSON object instead of a table");
  status_cmd->add_flag("--watch", status.watch, "refresh until the job has nothing queued or running (Ctrl-C stops)");
  status_cmd->add_option("--interval", status.interval, "seconds between refreshes with --watch")
      ->capture_default_str()->check(finite_range(0.1, 3600));

  ReportOptions report;
  CLI::App* report_cmd = app.add_subcommand(
      "report", "Write the report page (HTML, no server needed) of a job, or compare several jobs on one page.\n"
                "Every run writes OUTPUT/report.html itself; this rewrites it or compares runs.");
  report_cmd->add_option("outputs", report.outputs, "output folders of finished jobs (with results.json)")->required();
  report_cmd->add_option("--out", report.out, "the page to write (default: OUTPUT/report.html; required for several jobs)");

  // CLI11 answers a mistyped command with "A subcommand is required"; name the word instead.
  if (argc > 1 && argv[1][0] != '-') {
    std::string known;
    bool found = false;
    for (const CLI::App* cmd : app.get_subcommands(std::function<bool(CLI::App*)>())) {
      found = found || cmd->check_name(argv[1]);
      known += (known.empty() ? "" : ", ") + cmd->get_name();
    }
    if (!found) {
      std::fprintf(stderr, "unknown command '%s'; expected one of %s (see --help)\n", argv[1], known.c_str());
      return static_cast<int>(CLI::ExitCodes::ExtrasError);
    }
  }
  CLI11_PARSE(app, argc, argv);
  hide_passwords_in_arguments(argc, argv);  // parsed: the copies in the options structs are all that is needed
  // The last edge: whatever a library throws past its own checks ends the command with a message,
  // never with a stack trace or a signal.
  try {
    if (sample_cmd->parsed()) return run_sample(common, sample);
    if (run_cmd->parsed()) return run_job_command(common, run);
    if (status_cmd->parsed()) return run_status(status);
    if (report_cmd->parsed()) return run_report(report);
    return run_check(common, check);
  } catch (const std::exception& e) {
    return fail(Internal(std::string("unexpected error (please report it): ") + e.what()));
  }
}
