// bench/quality: no search, Best-of-N, particle sampling and EvoSearch at equal NFE, at
// several budgets (multiples of one sample's NFE), on a prompt suite kept apart from any
// tuning (examples/fashion-holdout.txt), for the bundled models. One table: guidance reward,
// unseen evaluator, diversity, NFE and guidance-reward calls per prompt, wall time. Every method runs with seeds 1 and
// 2; diversity is the mean over prompts of the squared distance between the two seeds'
// answers in the evaluator's L2-normalised feature space (as the paper's CLIP diversity).
// `particles=calls` is particle sampling with fewer particles, so that its model calls
// (denoiser + decoder + reward) per prompt match EvoSearch's: particles score an x0 prediction
// at every resampling step, calls that NFE does not count.
//
//   build/bench/bench_quality [--bundles fashion-flow,fashion-ddpm] [--budgets 5,20,50]
//                             [--suite FILE] [--device D]
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "bench_common.h"
#include "common/logging.h"
#include "coordinator/search/budget.h"
#include "coordinator/search/evo_searcher.h"
#include "jobs/image_io.h"
#include "worker/runtime.h"

using namespace evosearch;

namespace {

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

// An EvoSearch schedule costing about `budget` samples' worth of NFE at T steps.
void set_schedule(proto::SearchSpec* s, int budget, int steps) {
  s->clear_evolution_steps();
  s->clear_population();
  if (budget < 10) {  // S = [0, T/2], K = [2, 2, 2]: 2T + 2T + T = 5T
    for (int v : {0, steps / 2}) s->add_evolution_steps(v);
    for (int v : {2, 2, 2}) s->add_population(v);
    s->set_elites(1);
    return;
  }
  // S = [0, T/5, 2T/5, 3T/5], K = [a, b, b, b, b]: NFE = aT + 2.8bT.
  const int a = static_cast<int>(std::ceil(0.4 * budget));
  const int b = std::max(2, static_cast<int>(std::lround((budget - a) / 2.8)));
  for (int v : {0, steps / 5, 2 * steps / 5, 3 * steps / 5}) s->add_evolution_steps(v);
  s->add_population(a);
  for (int i = 0; i < 4; ++i) s->add_population(b);
  s->set_elites(b >= 8 ? 2 : 1);
}

// L2-normalised evaluator features of every answer image of a run, by prompt index.
std::map<uint32_t, at::Tensor> answer_features(Bundle& bundle, const proto::JobResults& r, const std::string& output) {
  std::map<uint32_t, at::Tensor> out;
  int evaluator = 0;
  for (int i = 0; i < bundle.reward_count(); ++i) {
    if (!bundle.manifest().rewards(i).guidance()) evaluator = i;
  }
  c10::InferenceMode guard;
  for (const auto& p : r.prompts()) {
    auto image = read_png((std::filesystem::path(output) / p.image()).string());
    bench::check(image.status());
    at::Tensor pixels = at::from_blob(image->pixels.data(), {1, image->height, image->width, image->channels}, at::kByte)
                            .permute({0, 3, 1, 2})
                            .to(at::kFloat)
                            .div(255.0)
                            .to(bundle.device());
    auto f = bundle.features(evaluator, pixels);
    bench::check(f.status());
    const at::Tensor features = f->to(at::kCPU, at::kDouble);
    out[p.index()] = features / features.norm(2, {1}, true).clamp_min(1e-12);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string root = EVOSEARCH_SOURCE_DIR;
  std::string bundles = "fashion-flow,fashion-ddpm", budgets = "5,20,50", suite = root + "/examples/fashion-holdout.txt";
  std::string device = "cpu";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--bundles") bundles = value;
    else if (flag == "--budgets") budgets = value;
    else if (flag == "--suite") suite = value;
    else if (flag == "--device") device = value;
  }
  bench::check(setup_logging("warn", {}));
  set_compute_threads(0);
  auto dev = choose_device(device);
  bench::check(dev.status());
  const std::string scratch = (std::filesystem::temp_directory_path() / "evosearch-bench-quality").string();
  std::printf("bench/quality: suite %s, %s\n", suite.c_str(), runtime_summary(*dev).c_str());
  std::printf("%-13s %6s %-15s %9s %9s %9s %13s %13s %10s %8s %8s\n", "bundle", "budget", "method", "NFE/prm", "rewards",
              "calls", "guidance", "evaluator", "diversity", "model s", "wall s");
  for (const std::string& name : split(bundles)) {
    const std::string dir = root + "/models/" + name;
    auto bundle = Bundle::open(dir, *dev);
    bench::check(bundle.status());
    const int steps = (*bundle)->manifest().defaults().steps();
    std::string guidance_name, evaluator_name;
    for (const auto& r : (*bundle)->manifest().rewards()) (r.guidance() ? guidance_name : evaluator_name) = r.name();
    for (const std::string& budget_text : split(budgets)) {
      const int budget = std::stoi(budget_text);
      double evo_nfe = 0, evo_calls = 0, particle_calls = 0;
      for (const std::string method : {"none", "best-of-n", "evosearch", "particles", "particles=calls"}) {
        if (method == "none" && budget_text != split(budgets)[0]) continue;  // its cost does not depend on the budget
        std::vector<proto::JobResults> runs;
        std::vector<std::map<uint32_t, at::Tensor>> features;
        for (uint64_t seed : {1, 2}) {
          proto::JobSpec spec = bench::job(dir, suite, scratch, name + "-" + method + "-" + budget_text + "-" + std::to_string(seed));
          spec.set_seed(seed);
          spec.mutable_search()->set_method(method == "particles=calls" ? "particles" : method);
          set_schedule(spec.mutable_search(), budget, steps);
          if (method == "particles=calls") {
            const int k = population_for_budget(static_cast<int64_t>(evo_nfe), steps);  // the equal-NFE run's particles
            spec.mutable_search()->set_particles(std::max(1, static_cast<int>(evo_calls / (particle_calls / k))));
          }
          auto r = bench::run(spec, **bundle);
          bench::check(r.status());
          features.push_back(answer_features(**bundle, *r, spec.output()));
          runs.push_back(std::move(*r));
        }
        double guidance = 0, evaluator = 0, wall = 0, diversity = 0, model = 0;
        for (const auto& r : runs) {
          guidance += r.metrics().at(guidance_name).mean() / runs.size();
          evaluator += r.metrics().at(evaluator_name).mean() / runs.size();
          wall += r.totals().wall_seconds();
          model += r.totals().model_seconds();
        }
        for (const auto& [prompt, f] : features[0]) {
          diversity += (f - features[1].at(prompt)).pow(2).sum().item<double>() / features[0].size();
        }
        const double nfe = double(runs[0].totals().nfe()) / runs[0].prompts_size();
        const double rewards = double(runs[0].totals().reward_calls()) / runs[0].prompts_size();
        const double calls = nfe + rewards + double(runs[0].totals().decode_calls()) / runs[0].prompts_size();
        if (method == "evosearch") evo_nfe = nfe, evo_calls = calls;
        if (method == "particles") particle_calls = calls;
        std::printf("%-13s %5dx %-15s %9.0f %9.0f %9.0f %13.4f %13.4f %10.4f %8.1f %8.1f\n", name.c_str(),
                    method == "none" ? 1 : budget, method.c_str(), nfe, rewards, calls, guidance, evaluator, diversity,
                    model, wall);
        std::fflush(stdout);
      }
    }
  }
  return 0;
}
