#include "report_fixture.h"

#include <google/protobuf/util/json_util.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include "common/atomic_file.h"
#include "coordinator/job_spec.h"
#include "media/image_io.h"

namespace evosearch::testing_support {
namespace {

namespace fs = std::filesystem;

void check(const Status& status) {
  if (!status.ok()) throw std::runtime_error(status.to_string());
}

// A small picture that differs per seed: a colour gradient with a dark diagonal.
Image picture(int width, int height, int seed) {
  Image image(width, height, 3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = image.at(x, y);
      p[0] = static_cast<uint8_t>(40 + (seed * 53 + x * 6) % 200);
      p[1] = static_cast<uint8_t>(60 + (seed * 29 + y * 5) % 180);
      p[2] = static_cast<uint8_t>((x + y) % 9 == 0 ? 20 : 200 - seed * 17 % 120);
    }
  }
  return image;
}

const char kManifest[] = R"({
  "name": "fashion-test", "model_kind": "FLOW",
  "rewards": [
    {"name": "fashion-eval", "file": "rewards/eval.pt", "description": "an unseen evaluator likes it"},
    {"name": "fashion-match", "file": "rewards/match.pt", "guidance": true, "description": "the image matches the prompt"}
  ]
})";

// A 1-second 64x48 test pattern as H.264 MP4 and as animated GIF.
void make_test_video(const std::string& mp4, const std::string& gif) {
  fs::create_directories(fs::path(mp4).parent_path());
  const std::string source = "ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc=size=64x48:rate=8 -t 1 ";
  if (std::system((source + "-pix_fmt yuv420p -c:v libx264 '" + mp4 + "'").c_str()) != 0 ||
      std::system((source + "'" + gif + "'").c_str()) != 0) {
    throw std::runtime_error("ffmpeg could not make the test video");
  }
}

// Files the page writer takes for a 64x48 GIF and an MP4; no browser could play them.
void make_placeholder_video(const std::string& mp4, const std::string& gif) {
  check(write_file_atomic(mp4, std::string("\0\0\0\x14"
                                           "ftypisom\0\0\x02\0isom",
                                           20)));
  check(write_file_atomic(gif, std::string("GIF89a\x40\0\x30\0\0\0\0\x3B", 14)));
}

}  // namespace

bool ffmpeg_available() { return std::system("ffmpeg -hide_banner -version > /dev/null 2>&1") == 0; }

ReportedJob write_report_job(const std::string& output_dir, const ReportJob& job) {
  proto::JobResults r;
  r.set_name(job.name);
  r.set_method(job.method);
  const std::string bundle = (fs::path(output_dir) / "bundle").string();
  check(write_file_atomic(bundle + "/manifest.json", kManifest));
  r.set_bundle(bundle);
  proto::JobSpec& spec = *r.mutable_spec();
  spec.set_name(job.name);
  spec.set_bundle(bundle);
  spec.set_prompts("/suites/drawbench-mini.csv");
  spec.set_output(output_dir);
  spec.set_seed(7);
  spec.mutable_sampler()->set_sampler("dpmpp-sde");
  spec.mutable_sampler()->set_steps(4);
  spec.mutable_sampler()->set_guidance_scale(3);
  spec.mutable_search()->set_method(job.method);
  if (job.method == "evosearch") {
    for (int s : {0, 2}) spec.mutable_search()->add_evolution_steps(s);
    for (int k : {4, 3, 3}) spec.mutable_search()->add_population(k);
    spec.mutable_search()->set_elites(1);
  } else if (job.method == "best-of-n") {
    spec.mutable_search()->set_n(8);
  }
  spec.set_batch_size(32);
  spec.set_generation_grids(true);
  if (job.described) {
    StatusOr<std::unique_ptr<Searcher>> searcher = make_searcher(spec.search(), 4, SearchKey{spec.seed(), 0});
    check(searcher.status());
    *r.mutable_method_description() = (*searcher)->describe();
  }

  const std::vector<std::pair<std::string, std::string>> prompts = {
      {"a dark sneaker", "shoes"}, {kHostilePrompt, "bags, accessories"}, {"a bright shirt", "shirts,accessories"}};
  const double match[] = {0.62, 0.71, 0.55}, eval[] = {0.40, 0.35, 0.50};
  for (uint32_t i = 0; i < prompts.size(); ++i) {
    proto::PromptOutcome& p = *r.add_prompts();
    const std::string stem = "000" + std::to_string(i) + "-prompt";
    p.set_index(i);
    p.set_prompt(prompts[i].first);
    p.set_category(prompts[i].second);
    p.set_nfe(34);
    p.set_reward_calls(10);
    p.set_decode_calls(10);
    (*p.mutable_scores())["fashion-match"] = match[i] + job.score_offset;
    (*p.mutable_scores())["fashion-eval"] = eval[i] + job.score_offset / 2;
    p.set_generation(2);
    p.set_candidate(1);
    // Three generations whose last best is the answer's guidance score.
    const double base = match[i] + job.score_offset;
    const std::vector<std::vector<double>> fitness = {{base - 0.30, base - 0.12, base - 0.40, base - 0.20},
                                                      {base - 0.12, base - 0.05, base - 0.25},
                                                      {base - 0.05, base, base - 0.09}};
    const int start[] = {0, 0, 2};
    double best = -1e9;
    for (uint32_t g = 0; g < fitness.size(); ++g) {
      proto::GenerationRecord& record = *p.add_generations();
      record.set_generation(g);
      record.set_start_step(start[g]);
      record.set_end_step(4);
      std::vector<Image> candidates;
      for (size_t c = 0; c < fitness[g].size(); ++c) {
        record.add_fitness(fitness[g][c]);
        best = std::max(best, fitness[g][c]);
        candidates.push_back(picture(28, 28, static_cast<int>(i * 10 + g * 4 + c)));
      }
      record.set_best_so_far(best);
      record.set_grid("grids/" + stem + "-g" + std::to_string(g) + ".png");
      check(write_png((fs::path(output_dir) / record.grid()).string(), make_grid(candidates, 4)));
    }
    if (job.video != ReportJob::Video::kNone && i == 2) {
      std::vector<Image> frames;
      for (int f = 0; f < 4; ++f) frames.push_back(picture(28, 28, 40 + f));
      p.set_image("images/" + stem + ".png");
      check(write_png((fs::path(output_dir) / p.image()).string(), make_grid(frames, 4, 0)));
      p.set_video("videos/" + stem + ".mp4");
      p.set_preview("videos/" + stem + ".gif");
      const std::string mp4 = (fs::path(output_dir) / p.video()).string();
      const std::string gif = (fs::path(output_dir) / p.preview()).string();
      if (job.video == ReportJob::Video::kFfmpeg) {
        make_test_video(mp4, gif);
      } else {
        make_placeholder_video(mp4, gif);
      }
    } else {
      p.set_image("images/" + stem + ".png");
      check(write_png((fs::path(output_dir) / p.image()).string(), picture(28, 28, static_cast<int>(i * 10 + 9))));
    }
  }
  for (const std::string metric : {"fashion-match", "fashion-eval"}) {
    double sum = 0, sq = 0, lo = 1e9, hi = -1e9;
    for (const auto& p : r.prompts()) {
      const double v = p.scores().at(metric);
      sum += v, sq += v * v, lo = std::min(lo, v), hi = std::max(hi, v);
    }
    const double n = r.prompts_size(), mean = sum / n;
    proto::MetricStats& s = (*r.mutable_metrics())[metric];
    s.set_mean(mean);
    s.set_std(std::sqrt(std::max(0.0, sq / n - mean * mean)));
    s.set_min(lo);
    s.set_max(hi);
  }
  proto::Totals& t = *r.mutable_totals();
  t.set_nfe(102);
  t.set_reward_calls(30);
  t.set_decode_calls(30);
  t.set_wall_seconds(12.5);
  t.set_model_seconds(9.75);
  t.set_coordinator_seconds(0.4);
  t.set_workers(1);
  t.set_generations(9);

  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.add_whitespace = true;
  if (!google::protobuf::util::MessageToJsonString(r, &json, options).ok()) throw std::runtime_error("results to JSON");
  check(write_file_atomic((fs::path(output_dir) / "results.json").string(), json));
  StatusOr<ReportedJob> run = load_reported_job(output_dir);
  check(run.status());
  return std::move(run).value();
}

}  // namespace evosearch::testing_support
