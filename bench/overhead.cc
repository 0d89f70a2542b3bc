// bench/overhead: how much of `evosearch run` wall time is spent outside model calls, and what
// batching candidates (and prompts) buys over running one candidate at a time, as the
// official EvoSearch code does. Both runs are measured side by side in one process, at
// equal NFE, on the embedded default (CPU unless --device says otherwise).
//
//   build/bench/bench_overhead [BUNDLE] [SUITE] [--device D]   (--help lists the flags)
#include <cstdio>
#include <filesystem>
#include <string>

#include "bench_common.h"
#include "common/logging.h"
#include "worker/allocator.h"
#include "worker/runtime.h"

using namespace evosearch;

int main(int argc, char** argv) {
  configure_allocator();  // as evosearch run does: freed memory kept for reuse
  std::string bundle_dir = bench::source_path("models/fashion-flow"), suite = bench::source_path("examples/fashion-holdout.txt");
  std::string device = "cpu";
  CLI::App app{"bench_overhead: share of evosearch run's wall time outside model calls, and batched execution against "
               "one candidate at a time at equal NFE"};
  bench::flags::bundle(app, bundle_dir)->capture_default_str();
  app.add_option("suite", suite, "prompt suite")->capture_default_str()->check(CLI::ExistingFile);
  bench::flags::device(app, device);
  bench::flags::parse(app, argc, argv);
  bench::check(setup_logging("warn", {}));
  set_compute_threads(0);
  auto dev = choose_device(device);
  bench::check(dev.status());
  auto bundle = Bundle::open(bundle_dir, *dev);
  bench::check(bundle.status());
  const std::string scratch = bench::scratch_folder("overhead");

  proto::JobSpec batched = bench::job(bundle_dir, suite, scratch, "batched");
  proto::JobSpec single = bench::job(bundle_dir, suite, scratch, "one-at-a-time");
  single.set_batch_size(1);
  single.set_prompts_in_flight(1);
  std::printf("bench/overhead: %s, suite %s, device %s, %s\n", bundle_dir.c_str(), suite.c_str(), device.c_str(),
              runtime_summary(*dev).c_str());
  auto a = bench::run(batched, **bundle);
  bench::check(a.status());
  auto b = bench::run(single, **bundle);
  bench::check(b.status());
  if (a->totals().nfe() != b->totals().nfe()) {
    std::fprintf(stderr, "NFE differ (%d vs %d): not a fair comparison\n", a->totals().nfe(), b->totals().nfe());
    return 1;
  }
  std::printf("%-16s %8s %10s %10s %10s\n", "run", "NFE", "wall s", "model s", "outside");
  for (const auto* r : {&*a, &*b}) {
    const auto& t = r->totals();
    std::printf("%-16s %8d %10.2f %10.2f %9.1f%%\n", r->name().c_str(), t.nfe(), t.wall_seconds(), t.model_seconds(),
                100.0 * (1 - t.model_seconds() / t.wall_seconds()));
  }
  std::printf("share of wall time outside model calls (batched): %.1f%% (target <= 5%%)\n",
              100.0 * (1 - a->totals().model_seconds() / a->totals().wall_seconds()));
  std::printf("speed-up of batched execution over one candidate at a time, equal NFE: %.2fx\n",
              b->totals().wall_seconds() / a->totals().wall_seconds());
  std::error_code ec;
  std::filesystem::remove_all(scratch, ec);
  return 0;
}
