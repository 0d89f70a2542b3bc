// bench/quality: no search, Best-of-N, particle sampling and EvoSearch at equal NFE, at
// several budgets (multiples of one sample's NFE), on a prompt suite kept apart from any
// tuning (examples/fashion-holdout.txt), for the bundled models. One table: guidance reward,
// every other reward of the bundle (the unseen evaluator first, then e.g. the content metric),
// diversity, NFE and guidance-reward calls per prompt, wall time. Every method runs with seeds 1 and
// 2; diversity is the mean over prompts of the squared distance between the two seeds'
// answers in the evaluator's L2-normalised feature space (as the paper's CLIP diversity). For a
// video bundle the answers' clips are cut back out of their frame strips.
// `particles=calls` is particle sampling with fewer particles, so that its model calls
// (denoiser + decoder + reward) per prompt match EvoSearch's: particles score an x0 prediction
// at every resampling step, calls that NFE does not count.
//
//   build/bench/bench_quality [--bundles fashion-flow,fashion-ddpm] [--budgets 5,20,50]
//                             [--suite FILE] [--device D]
//   build/bench/bench_quality --bundles fashion-video --suite examples/fashion-video-holdout.json
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

// The answer's pixels [1, *pixel_shape] from its PNG: the image, or for a video [C,F,H,W] its
// frames cut out of the frame strip (frames side by side, 1-px gaps and border: frame_strip in
// jobs/sample_files.h).
at::Tensor answer_pixels(const Image& image, const std::vector<int64_t>& pixel_shape) {
  const at::Tensor png = at::from_blob(const_cast<uint8_t*>(image.pixels.data()), {image.height, image.width, image.channels},
                                       at::kByte)
                             .permute({2, 0, 1})
                             .to(at::kFloat)
                             .div(255.0);
  if (pixel_shape.size() != 4) return png.unsqueeze(0);
  const int64_t frames = pixel_shape[1], h = pixel_shape[2], w = pixel_shape[3];
  if (image.width != 1 + frames * (w + 1) || image.height != h + 2) {
    bench::check(InvalidArgument("a frame strip of " + std::to_string(frames) + " frames of " + std::to_string(w) + "x" +
                                 std::to_string(h) + " is " + std::to_string(1 + frames * (w + 1)) + "x" +
                                 std::to_string(h + 2) + ", not " + std::to_string(image.width) + "x" +
                                 std::to_string(image.height)));
  }
  std::vector<at::Tensor> clip;
  for (int64_t f = 0; f < frames; ++f) clip.push_back(png.slice(1, 1, 1 + h).slice(2, 1 + f * (w + 1), 1 + f * (w + 1) + w));
  return at::stack(clip, 1).unsqueeze(0);
}

// L2-normalised features of every answer of a run from reward `evaluator`, by prompt index.
std::map<uint32_t, at::Tensor> answer_features(Bundle& bundle, int evaluator, const proto::JobResults& r,
                                               const std::string& output) {
  std::map<uint32_t, at::Tensor> out;
  c10::InferenceMode guard;
  for (const auto& p : r.prompts()) {
    auto image = read_png((std::filesystem::path(output) / p.image()).string());
    bench::check(image.status());
    const at::Tensor pixels = answer_pixels(*image, bundle.pixel_shape()).to(bundle.device());
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
  for (const std::string& name : split(bundles)) {
    const std::string dir = root + "/models/" + name;
    auto bundle = Bundle::open(dir, *dev);
    bench::check(bundle.status());
    const int steps = (*bundle)->manifest().defaults().steps();
    // Every reward but the guidance one is a column; the first of them is the unseen evaluator,
    // whose features measure diversity.
    std::string guidance_name;
    std::vector<std::string> metric_names;
    int evaluator = -1;
    for (int i = 0; i < (*bundle)->reward_count(); ++i) {
      const proto::RewardSpec& r = (*bundle)->manifest().rewards(i);
      if (r.guidance()) {
        guidance_name = r.name();
        continue;
      }
      if (evaluator < 0) evaluator = i;
      metric_names.push_back(r.name());
    }
    if (evaluator < 0) bench::check(InvalidArgument(name + ": the bundle has no reward besides the guidance one"));
    std::printf("\n%-13s %6s %-15s %9s %9s %9s %13s", "bundle", "budget", "method", "NFE/prm", "rewards", "calls",
                guidance_name.c_str());
    for (const std::string& metric : metric_names) std::printf(" %13s", metric.c_str());
    std::printf(" %10s %8s %8s\n", "diversity", "model s", "wall s");
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
          // --restart refuses an output folder that does not exist yet (job_runner's check_restart_is_safe).
          std::filesystem::create_directories(spec.output());
          auto r = bench::run(spec, **bundle);
          bench::check(r.status());
          features.push_back(answer_features(**bundle, evaluator, *r, spec.output()));
          runs.push_back(std::move(*r));
        }
        double guidance = 0, wall = 0, diversity = 0, model = 0;
        std::vector<double> metrics(metric_names.size(), 0.0);
        for (const auto& r : runs) {
          guidance += r.metrics().at(guidance_name).mean() / runs.size();
          for (size_t m = 0; m < metric_names.size(); ++m) metrics[m] += r.metrics().at(metric_names[m]).mean() / runs.size();
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
        std::printf("%-13s %5dx %-15s %9.0f %9.0f %9.0f %13.4f", name.c_str(), method == "none" ? 1 : budget,
                    method.c_str(), nfe, rewards, calls, guidance);
        for (double m : metrics) std::printf(" %13.4f", m);
        std::printf(" %10.4f %8.1f %8.1f\n", diversity, model, wall);
        std::fflush(stdout);
      }
    }
  }
  return 0;
}
