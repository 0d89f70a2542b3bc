// Shared by the video job tests (process, mpi, slurm): short jobs on the bundled video model
// (models/fashion-video: 8 frames of 32x32), the answer's frames read back from its frame strip,
// and comparing two runs' answers.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "evosearch/job.pb.h"
#include "common/atomic_file.h"
#include "media/image_io.h"
#include "media/video_io.h"
#include "job_results_file.h"
#include "tiny_bundle.h"

namespace evosearch::testing_support {

constexpr int kVideoFrames = 8, kVideoSize = 32;

// A job folder `dir` on the bundled video model with the first `prompts` prompts of the video
// suite and a spec (`search`, then `extra` fields); returns the spec path. Few steps, so it takes
// seconds. The batch size is pinned (batch_size_policy "fixed", the bound given or 32): runs are
// compared across worker counts, which use batch_size as given, and the video model's float
// rounding moves with the batch size, which an MP4's lossy encoding can amplify past the tolerance.
inline std::string make_video_job(const std::string& dir, int prompts, const std::string& search,
                                  const std::string& extra = "") {
  std::filesystem::create_directories(dir);
  const char* suite[] = {"a dark sneaker moving left", "a bag moving up quickly while fading",
                         "a bright dress moving right slowly", "an ankle boot moving down, fading in"};
  {
    std::ofstream out(dir + "/suite.txt");
    for (int i = 0; i < prompts && i < 4; ++i) out << suite[i] << "\n";
  }
  std::ofstream(dir + "/job.json") << R"({"bundle": ")" << EVOSEARCH_SOURCE_DIR << R"(/models/fashion-video",
    "prompts": "suite.txt", "output": "out", "seed": 3, "sampler": {"steps": 8}, "batch_size_policy": "fixed", "search": )"
                                   << search << extra << "}";
  return dir + "/job.json";
}

inline std::filesystem::path video_output(const std::string& spec) {
  return std::filesystem::path(spec).parent_path() / "out";
}

inline proto::JobResults video_results(const std::string& spec) {
  return read_job_results((video_output(spec) / "results.json").string());
}

// The answer's frames, cut out of its frame strip (frames side by side, 1-px gaps and border).
inline std::vector<Image> strip_frames(const Image& strip) {
  std::vector<Image> frames;
  for (int f = 0; f < kVideoFrames; ++f) {
    Image frame(kVideoSize, kVideoSize, strip.channels);
    for (int y = 0; y < kVideoSize; ++y) {
      for (int x = 0; x < kVideoSize; ++x) {
        for (int c = 0; c < strip.channels; ++c) frame.at(x, y)[c] = strip.at(1 + f * (kVideoSize + 1) + x, 1 + y)[c];
      }
    }
    frames.push_back(std::move(frame));
  }
  return frames;
}

// The frames of an answer file: the strip's frames, or an MP4's or GIF's decoded frames.
inline std::vector<Image> answer_frames(const std::string& spec, const std::string& file) {
  const std::string path = (video_output(spec) / file).string();
  if (file.size() > 4 && file.substr(file.size() - 4) == ".png") {
    auto strip = read_png(path);
    EXPECT_TRUE(strip.ok()) << strip.status().to_string();
    return strip.ok() ? strip_frames(*strip) : std::vector<Image>{};
  }
  auto video = read_video(path, 1);
  EXPECT_TRUE(video.ok()) << video.status().to_string();
  return video.ok() ? video->frames : std::vector<Image>{};
}

// Largest and mean absolute difference between two clips' pixels (-1 when their sizes differ).
inline std::pair<int, double> frames_difference(const std::vector<Image>& a, const std::vector<Image>& b) {
  if (a.size() != b.size() || a.empty()) return {-1, 0};
  int largest = 0;
  double sum = 0, count = 0;
  for (size_t f = 0; f < a.size(); ++f) {
    if (a[f].pixels.size() != b[f].pixels.size()) return {-1, 0};
    for (size_t i = 0; i < a[f].pixels.size(); ++i) {
      const int d = std::abs(int(a[f].pixels[i]) - int(b[f].pixels[i]));
      largest = std::max(largest, d);
      sum += d;
      ++count;
    }
  }
  return {largest, sum / count};
}

// The same answers: the rollout each came from, every score within 2e-4, the same NFE and
// accounting, and the same frames in the strip, the MP4 and the GIF. A state computed in another
// batch composition differs in float rounding: measured, video-match moved by up to 4e-5 between
// the embedded run and 2 workers, and one pixel of 9010 in a strip by one level (a value at a
// rounding boundary). The lossless strips and GIFs may differ by one level. The MP4 is H.264 of
// those frames, and a one-level input change can flip one of the encoder's block decisions: that
// block then differs by more (measured 5 and 10 levels across 3 ranks, at mean 0.0003 and 0.018).
// So an MP4 may differ by up to 32 levels in a block, and on average by far less than 0.05.
inline void expect_same_video_answers(const std::string& spec, const std::string& reference, const std::string& what) {
  const proto::JobResults a = video_results(spec), b = video_results(reference);
  ASSERT_EQ(a.prompts_size(), b.prompts_size()) << what;
  ASSERT_GT(a.prompts_size(), 0) << what;
  for (int i = 0; i < a.prompts_size(); ++i) {
    const proto::PromptOutcome &p = a.prompts(i), &q = b.prompts(i);
    EXPECT_EQ(p.generation(), q.generation()) << what << " prompt " << i;
    EXPECT_EQ(p.candidate(), q.candidate()) << what << " prompt " << i;
    EXPECT_EQ(p.nfe(), q.nfe()) << what << " prompt " << i;
    ASSERT_EQ(p.scores_size(), q.scores_size()) << what << " prompt " << i;
    for (const auto& [name, score] : q.scores()) {
      ASSERT_TRUE(p.scores().count(name)) << what << " prompt " << i << " has no " << name;
      EXPECT_NEAR(p.scores().at(name), score, 2e-4) << what << " prompt " << i << " " << name;
    }
    for (const auto& [file, largest] : {std::pair{q.image(), 1}, {q.preview(), 1}, {q.video(), 32}}) {
      ASSERT_FALSE(file.empty()) << what << " prompt " << i;
      const auto [max, mean] = frames_difference(answer_frames(spec, file), answer_frames(reference, file));
      EXPECT_GE(max, 0) << what << ": " << file << " has other frames or sizes";
      EXPECT_LE(max, largest) << what << ": " << file;
      EXPECT_LT(mean, 0.05) << what << ": " << file;
    }
  }
  EXPECT_EQ(a.totals().nfe(), b.totals().nfe()) << what;
  EXPECT_EQ(a.totals().reward_calls(), b.totals().reward_calls()) << what;
  EXPECT_EQ(a.totals().decode_calls(), b.totals().decode_calls()) << what;
}

}  // namespace evosearch::testing_support
