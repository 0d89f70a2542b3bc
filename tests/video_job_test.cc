// `evosearch run` on the bundled video model (models/fashion-video), end to end: a short job
// writes per prompt an H.264 MP4, a GIF preview and a frame strip that hold the answer's frames,
// with results.json accounting for them; and a memory limit too tight for a whole batch's decoded
// clips makes the worker decode in sub-batches with the same answers.
#include <cmath>
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "media/video_io.h"
#include "run_evosearch.h"
#include "video_jobs.h"

namespace evosearch {
namespace {

using testing_support::CommandResult;
using testing_support::kVideoFrames;
using testing_support::kVideoSize;
using testing_support::make_video_job;
using testing_support::video_output;
using testing_support::video_results;

// S = 0,4 and K = 4,2,2 over 8 steps: 4*8 + 2*8 + 2*4 = 56 NFE per prompt.
const char* kSearch = R"({"method": "evosearch", "evolution_steps": [0, 4], "population": [4, 2, 2], "elites": 1})";

CommandResult run_embedded_job(const std::string& spec) { return testing_support::run_evosearch("run " + spec + " --threads 1"); }

// Mean and largest absolute difference between `frame` and `video` sampled at the centre of each
// `scale` x `scale` block (the writer upscales by nearest neighbour).
struct Difference {
  double mean = 0;
  int max = 0;
};
Difference difference(const Image& frame, const Image& video, int scale) {
  Difference d;
  for (int y = 0; y < frame.height; ++y) {
    for (int x = 0; x < frame.width; ++x) {
      const int e = std::abs(int(frame.at(x, y)[0]) - int(video.at(x * scale + scale / 2, y * scale + scale / 2)[0]));
      d.mean += e / double(frame.width * frame.height);
      d.max = std::max(d.max, e);
    }
  }
  return d;
}

TEST(VideoJob, WritesMp4GifAndStripsThatHoldTheAnswersFrames) {
  const std::string spec = make_video_job(testing_support::fresh_dir("video-job"), 2, kSearch);
  const CommandResult r = run_embedded_job(spec);
  ASSERT_EQ(r.code, 0) << r.output;
  const proto::JobResults results = video_results(spec);
  EXPECT_EQ(results.method(), "evosearch");
  ASSERT_EQ(results.prompts_size(), 2);
  for (const char* metric : {"video-match", "video-eval", "video-content"}) {
    EXPECT_TRUE(results.metrics().count(metric)) << metric;
  }
  EXPECT_EQ(results.totals().nfe(), 2 * 56);
  EXPECT_EQ(results.totals().reward_calls(), 2 * 8);  // one per rollout: 4 + 2 + 2 per prompt
  EXPECT_EQ(results.totals().decode_calls(), 2 * 8);
  for (const proto::PromptOutcome& p : results.prompts()) {
    SCOPED_TRACE(p.prompt());
    EXPECT_EQ(p.nfe(), 56);
    EXPECT_EQ(p.scores_size(), 3);
    EXPECT_EQ(p.generations_size(), 3);
    EXPECT_EQ(p.video().substr(0, 7), "videos/");
    EXPECT_EQ(p.preview().substr(0, 9), "previews/");
    auto strip = read_png((video_output(spec) / p.image()).string());
    ASSERT_TRUE(strip.ok()) << strip.status().to_string();
    EXPECT_EQ(strip->width, 1 + kVideoFrames * (kVideoSize + 1));
    EXPECT_EQ(strip->height, 1 + kVideoSize + 1);
    EXPECT_EQ(strip->channels, 1);
    const std::vector<Image> frames = testing_support::strip_frames(*strip);
    const int scale = video_scale(kVideoSize, VideoOptions{});
    EXPECT_EQ(scale, 4);  // 32 px clips are written at 128 px

    auto mp4 = read_video((video_output(spec) / p.video()).string(), 1);
    ASSERT_TRUE(mp4.ok()) << mp4.status().to_string();
    EXPECT_EQ(mp4->codec, "h264");
    EXPECT_DOUBLE_EQ(mp4->fps, 8);
    ASSERT_EQ(mp4->frames.size(), size_t(kVideoFrames));
    double brightness = 0;
    for (int f = 0; f < kVideoFrames; ++f) {
      ASSERT_EQ(mp4->frames[f].width, kVideoSize * scale);
      ASSERT_EQ(mp4->frames[f].height, kVideoSize * scale);
      // H.264 at crf 18 in limited-range YUV (measured on the demo clips: under 0.4 levels on
      // average, at most 4).
      const Difference d = difference(frames[f], mp4->frames[f], scale);
      EXPECT_LT(d.mean, 1.0) << "frame " << f;
      EXPECT_LE(d.max, 16) << "frame " << f;
      for (uint8_t v : frames[f].pixels) brightness += v;
    }
    EXPECT_GT(brightness, 0) << "the answer is black: nothing to compare";

    auto gif = read_video((video_output(spec) / p.preview()).string(), 1);
    ASSERT_TRUE(gif.ok()) << gif.status().to_string();
    EXPECT_EQ(gif->codec, "gif");
    ASSERT_EQ(gif->frames.size(), size_t(kVideoFrames));
    for (int f = 0; f < kVideoFrames; ++f) {  // grey GIFs are exact
      const Difference d = difference(frames[f], gif->frames[f], scale);
      EXPECT_EQ(d.max, 0) << "frame " << f;
    }
  }
}

// memory_limit_mb 1 holds the states and the batch's latents of this job but not 8 decoded clips
// beside them (coordinator/memory_estimate.h): the worker decodes and scores 2 at a time.
TEST(VideoJob, ATightMemoryLimitDecodesInSubBatchesWithTheSameAnswers) {
  const std::string base = testing_support::fresh_dir("video-memory");
  // make_video_job pins the batch size: the sub-batches are of a batch of 8.
  const std::string sizes = R"(, "batch_size": 8, "prompts_in_flight": 2)";
  const std::string reference = make_video_job(base + "/roomy", 2, kSearch, sizes);
  const CommandResult roomy = run_embedded_job(reference);
  ASSERT_EQ(roomy.code, 0) << roomy.output;
  EXPECT_EQ(roomy.output.find("at a time"), std::string::npos) << roomy.output;
  const std::string spec = make_video_job(base + "/tight", 2, kSearch, sizes + R"(, "memory_limit_mb": 1)");
  const CommandResult tight = run_embedded_job(spec);
  ASSERT_EQ(tight.code, 0) << tight.output;
  EXPECT_NE(tight.output.find("decoding and scoring 2 of a batch's 8 samples at a time"), std::string::npos)
      << tight.output;
  testing_support::expect_same_video_answers(spec, reference, "memory_limit_mb 1");
}

}  // namespace
}  // namespace evosearch
