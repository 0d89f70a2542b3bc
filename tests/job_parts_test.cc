// The job loop's pieces that need no model: the answer writer (answer files and generation grids
// from a frame source) and the progress reporter (progress lines, ETA, progress events, totals).
#include <filesystem>

#include <gtest/gtest.h>

#include "common/atomic_file.h"
#include "common/checksum.h"
#include "common/state_key.h"
#include "coordinator/answer_writer.h"
#include "coordinator/progress_reporter.h"
#include "media/image_io.h"
#include "tiny_bundle.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;

// Records outputs and progress events; every output must be registered before its file exists.
class RecordingStore final : public JobStore {
 public:
  explicit RecordingStore(std::string output_dir) : output_dir_(std::move(output_dir)) {}

  std::vector<std::string> outputs_;
  std::vector<proto::ProgressEvent> events_;
  bool registered_before_written_ = true;

  std::string describe() const override { return "recording store"; }
  Status open(const proto::JobRecord&, const std::vector<std::string>&, bool) override { return no(); }
  StatusOr<proto::JobRecord> job() override { return no(); }
  StatusOr<std::vector<proto::PromptRecord>> prompts() override { return no(); }
  StatusOr<std::vector<proto::Lease>> claim(const std::string&, int, double, const RequestId&) override { return no(); }
  Status renew(proto::Lease&, double, const RequestId&) override { return no(); }
  Status release(const proto::Lease&, const RequestId&) override { return no(); }
  Status commit_checkpoint(const proto::Lease&, const proto::CheckpointRecord&, const RequestId&) override { return no(); }
  Status save_outcome(const proto::Lease&, const proto::PromptOutcome&, const RequestId&) override { return no(); }
  Status mark_failed(const proto::Lease&, const std::string&, const RequestId&) override { return no(); }
  StatusOr<std::optional<proto::CheckpointRecord>> load_checkpoint(uint32_t) override { return no(); }
  StatusOr<std::optional<proto::PromptOutcome>> load_outcome(uint32_t) override { return no(); }
  Status append_progress(const proto::ProgressEvent& event, const RequestId&) override {
    events_.push_back(event);
    return Status::Ok();
  }
  StatusOr<std::vector<proto::ProgressEvent>> progress(size_t) override { return events_; }
  Status log_event(const std::string&, const RequestId&) override { return Status::Ok(); }
  Status add_outputs(const std::vector<std::string>& paths, const RequestId&) override {
    for (const std::string& p : paths) {
      registered_before_written_ = registered_before_written_ && !fs::exists(fs::path(output_dir_) / p);
      outputs_.push_back(p);
    }
    return Status::Ok();
  }
  StatusOr<std::vector<std::string>> outputs() override { return outputs_; }

 private:
  static Status no() { return Internal("not in this test"); }
  std::string output_dir_;
};

// Frames made up from the state's name: one 4x3 grey frame per image state, `frames` for video.
class FakeFrames final : public FrameSource {
 public:
  int frames = 1;
  int decodes = 0;
  std::vector<std::vector<proto::StateRef>> rounds;  // every take_frames call

  static std::vector<Image> of(const proto::StateRef& ref, int count) {
    std::vector<Image> out;
    for (int f = 0; f < count; ++f) out.emplace_back(4, 3, 1, static_cast<uint8_t>(10 * ref.candidate() + f));
    return out;
  }
  StatusOr<std::vector<Image>> decode(uint32_t, const proto::StateRef& ref) override {
    ++decodes;
    return of(ref, frames);
  }
  StatusOr<std::vector<std::vector<Image>>> take_frames(uint32_t, const std::vector<proto::StateRef>& refs) override {
    rounds.push_back(refs);
    std::vector<std::vector<Image>> out;
    for (const proto::StateRef& r : refs) out.push_back(of(r, frames));
    return out;
  }
};

std::vector<proto::RolloutTask> tasks(uint32_t generation, std::vector<uint32_t> candidates, int end) {
  std::vector<proto::RolloutTask> out;
  for (uint32_t c : candidates) {
    proto::RolloutTask& t = out.emplace_back();
    t.set_generation(generation);
    t.set_candidate(c);
    t.set_end_step(end);
  }
  return out;
}

TEST(AnswerWriter, AGridTakesEveryCandidatesFramesInOneRoundInTaskOrder) {
  const std::string out = testing_support::fresh_dir("answer-writer-grid");
  RecordingStore store(out);
  FakeFrames source;
  AnswerWriter writer(source, store, out, 12);
  proto::GenerationRecord record;
  record.set_generation(2);
  const Status made = writer.write_grid(3, "a bag", tasks(2, {1, 0, 2}, 12), 5, record);
  ASSERT_TRUE(made.ok()) << made.to_string();
  EXPECT_EQ(record.grid(), "grids/0003-a-bag-gen2.png");
  const std::string* file = &record.grid();
  ASSERT_EQ(source.rounds.size(), 1u);
  EXPECT_EQ(source.decodes, 0);
  ASSERT_EQ(source.rounds[0].size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(state_key(3, source.rounds[0][i]), state_key(3, state_ref(2, std::vector<uint32_t>{1, 0, 2}[i], 12)));
  EXPECT_EQ(store.outputs_, std::vector<std::string>{*file});
  EXPECT_TRUE(store.registered_before_written_);
  // Written under lease 5's pending name; its name is taken only once the record naming it commits.
  EXPECT_FALSE(fs::exists(fs::path(out) / *file));
  EXPECT_EQ(record.grid_token(), 5u);
  EXPECT_EQ(record.grid_sha256(), *sha256_file_hex(pending_path(out, *file, 5)));
  ASSERT_TRUE(writer.publish_grid(record).ok());
  EXPECT_FALSE(fs::exists(pending_path(out, *file, 5)));
  // Images 8 to a row, scaled up to about 84 px (3 px tall: 28x).
  const Image expected = make_grid({FakeFrames::of(state_ref(2, 1, 12), 1)[0], FakeFrames::of(state_ref(2, 0, 12), 1)[0],
                                    FakeFrames::of(state_ref(2, 2, 12), 1)[0]},
                                   8, 2, 28);
  auto written = read_png((fs::path(out) / *file).string());
  ASSERT_TRUE(written.ok()) << written.status().to_string();
  EXPECT_EQ(written->width, expected.width);
  EXPECT_EQ(written->height, expected.height);
  EXPECT_EQ(written->pixels, expected.pixels);
  EXPECT_GT(writer.output_seconds(), 0);
}

TEST(AnswerWriter, AVideoGridHasOneFrameStripPerRow) {
  const std::string out = testing_support::fresh_dir("answer-writer-video-grid");
  RecordingStore store(out);
  FakeFrames source;
  source.frames = 3;
  AnswerWriter writer(source, store, out, 8);
  proto::GenerationRecord record;
  const Status made = writer.write_grid(0, "moving", tasks(0, {0, 1}, 8), 1, record);
  ASSERT_TRUE(made.ok()) << made.to_string();
  auto written = read_png(pending_path(out, record.grid(), 1));
  ASSERT_TRUE(written.ok());
  const std::vector<Image> strips = {frame_strip(FakeFrames::of(state_ref(0, 0, 8), 3)),
                                     frame_strip(FakeFrames::of(state_ref(0, 1, 8), 3))};
  const Image expected = make_grid(strips, 1, 2, 84 / strips[0].height);  // scaled up to about 84 px tall
  EXPECT_EQ(written->width, expected.width);
  EXPECT_EQ(written->height, expected.height);
  EXPECT_EQ(written->pixels, expected.pixels);
}

TEST(AnswerWriter, SegmentsThatEndBeforeTMakeNoGrid) {
  const std::string out = testing_support::fresh_dir("answer-writer-segments");
  RecordingStore store(out);
  FakeFrames source;
  AnswerWriter writer(source, store, out, 12);
  proto::GenerationRecord record;
  record.set_generation(1);
  ASSERT_TRUE(writer.write_grid(0, "a bag", tasks(1, {0, 1}, 6), 1, record).ok());
  EXPECT_EQ(record.grid(), "");
  EXPECT_TRUE(writer.publish_grid(record).ok());
  EXPECT_TRUE(source.rounds.empty());
  EXPECT_TRUE(store.outputs_.empty());
  EXPECT_FALSE(fs::exists(fs::path(out) / "grids"));
}

TEST(AnswerWriter, TheAnswerIsDecodedOnceAndRegisteredBeforeItIsWritten) {
  const std::string out = testing_support::fresh_dir("answer-writer-answer");
  RecordingStore store(out);
  FakeFrames source;
  AnswerWriter writer(source, store, out, 12);
  proto::PromptOutcome files;
  const Status made = writer.write_answer(1, "a dark coat", state_ref(4, 2, 12), 3, files);
  ASSERT_TRUE(made.ok()) << made.to_string();
  EXPECT_EQ(source.decodes, 1);
  EXPECT_EQ(files.image(), "images/0001-a-dark-coat.png");
  EXPECT_TRUE(files.video().empty());
  EXPECT_TRUE(store.registered_before_written_);
  EXPECT_EQ(store.outputs_, answer_file_names("0001-a-dark-coat"));
  // Pending under lease 3 until the outcome is saved; then published.
  EXPECT_EQ(files.token(), 3u);
  EXPECT_FALSE(fs::exists(fs::path(out) / files.image()));
  EXPECT_EQ(files.image_sha256(), *sha256_file_hex(pending_path(out, files.image(), 3)));
  ASSERT_TRUE(writer.publish(files).ok());
  auto written = read_png((fs::path(out) / files.image()).string());
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(written->pixels, FakeFrames::of(state_ref(4, 2, 12), 1)[0].pixels);
}

// An outcome's files (answer and grids) against the SHA-256 it records: a published file with
// other bytes (a stale coordinator's, rounded differently) is detected, and replaced by the
// recorded one while its pending copy is there.
TEST(FencedAnswerFiles, AFileThatDoesNotMatchItsOutcomeIsDetectedAndRepublishedFromItsPendingCopy) {
  const std::string out = testing_support::fresh_dir("fenced-answer-files");
  const auto put = [&](const std::string& path, const std::string& bytes) { ASSERT_TRUE(write_file_atomic(path, bytes).ok()); };
  const std::string image = (fs::path(out) / "images/0000-a-bag.png").string();
  const std::string grid = (fs::path(out) / "grids/0000-a-bag-gen0.png").string();
  proto::PromptOutcome o;
  o.set_image("images/0000-a-bag.png");
  o.set_image_sha256(sha256_hex("winner's image"));
  o.set_token(2);
  proto::GenerationRecord& g = *o.add_generations();
  g.set_grid("grids/0000-a-bag-gen0.png");
  g.set_grid_sha256(sha256_hex("winner's grid"));
  g.set_grid_token(1);  // an earlier lease's checkpoint recorded the grid
  put(image, "winner's image");
  put(grid, "winner's grid");
  EXPECT_TRUE(publish_outcome_files(out, o).ok());

  put(image, "stale image");  // written by a coordinator that lost its lease
  Status found = publish_outcome_files(out, o);
  EXPECT_EQ(found.code(), StatusCode::kDataLoss);
  EXPECT_NE(found.message().find(image), std::string::npos) << found.message();
  EXPECT_NE(found.message().find(sha256_hex("stale image")), std::string::npos) << found.message();
  EXPECT_NE(found.message().find("is gone"), std::string::npos) << found.message();
  EXPECT_EQ(*read_file(image), "stale image");

  put(pending_path(out, o.image(), 2), "other bytes");  // a pending copy that is not the recorded one is not published
  found = publish_outcome_files(out, o);
  EXPECT_NE(found.message().find("holds other bytes"), std::string::npos) << found.message();
  EXPECT_EQ(*read_file(image), "stale image");

  put(pending_path(out, o.image(), 2), "winner's image");
  EXPECT_TRUE(publish_outcome_files(out, o).ok());
  EXPECT_EQ(*read_file(image), "winner's image");
  EXPECT_FALSE(fs::exists(pending_path(out, o.image(), 2)));

  fs::remove(grid);  // a grid missing, its pending copy under the lease that recorded it
  put(pending_path(out, g.grid(), 1), "winner's grid");
  EXPECT_TRUE(publish_outcome_files(out, o).ok());
  EXPECT_EQ(*read_file(grid), "winner's grid");
  fs::remove(grid);
  EXPECT_EQ(publish_outcome_files(out, o).code(), StatusCode::kDataLoss);

  // Outcomes saved before digests were recorded are left as they are.
  proto::PromptOutcome old;
  old.set_image("images/0000-a-bag.png");
  EXPECT_TRUE(publish_outcome_files(out, old).ok());
}

TEST(FencedAnswerFiles, ARefusedOutcomeDiscardsOnlyItsOwnLeasesPendingFiles) {
  const std::string out = testing_support::fresh_dir("fenced-answer-discard");
  RecordingStore store(out);
  FakeFrames source;
  AnswerWriter writer(source, store, out, 12);
  proto::PromptOutcome o;
  ASSERT_TRUE(writer.write_answer(0, "a bag", state_ref(1, 0, 12), 4, o).ok());
  proto::GenerationRecord& mine = *o.add_generations();
  mine.set_generation(1);
  ASSERT_TRUE(writer.write_grid(0, "a bag", tasks(1, {0, 1}, 12), 4, mine).ok());
  proto::GenerationRecord& earlier = *o.add_generations();  // recorded by lease 3's checkpoint, not yet published
  earlier.set_generation(0);
  ASSERT_TRUE(writer.write_grid(0, "a bag", tasks(0, {0, 1}, 12), 3, earlier).ok());
  writer.discard(o, 4);
  EXPECT_FALSE(fs::exists(pending_path(out, o.image(), 4)));
  EXPECT_FALSE(fs::exists(pending_path(out, mine.grid(), 4)));
  EXPECT_TRUE(fs::exists(pending_path(out, earlier.grid(), 3)));
  EXPECT_FALSE(fs::exists(fs::path(out) / o.image()));
}

TEST(ProgressReporter, FormatsSecondsMinutesAndHours) {
  EXPECT_EQ(format_seconds(0), "0.0s");
  EXPECT_EQ(format_seconds(12.34), "12.3s");
  EXPECT_EQ(format_seconds(245), "4m05s");
  EXPECT_EQ(format_seconds(2 * 3600 + 7 * 60 + 30), "2h07m");
}

TEST(ProgressReporter, TheLineShowsItsPaceAndEveryPromptItSearches) {
  const std::vector<PromptProgress> active = {
      {"a bag", 1, 4, 0.5, true, false},
      {"a coat", 3, 4, 1.25, true, false},
      {"lost", 2, 4, 9.0, false, true},  // draining: not listed, not this run's pace
  };
  // Done: 1 finished + 1/4 + 3/4 = 2 prompts in 60 s. Left: 3/4 + 1/4 + 2/4 = 1.5 -> 45 s.
  EXPECT_EQ(ProgressReporter::line(1, active, 60),
            "[this run: 1 prompts done, 1m00s elapsed, ETA 45.0s] 'a bag' gen 1/4 best 0.500; 'a coat' gen 3/4 best 1.250;");
  // Nothing done yet: no ETA.
  EXPECT_EQ(ProgressReporter::line(0, {{"a bag", 0, 4, 0, true, false}}, 2),
            "[this run: 0 prompts done, 2.0s elapsed] 'a bag' gen 0/4 best 0.000;");
}

TEST(ProgressReporter, EveryFinishedGenerationIsAnEventInTheStore) {
  RecordingStore store(testing_support::fresh_dir("progress-events"));
  ProgressReporter progress(store, "host:1:abc");
  ASSERT_TRUE(progress.generation_finished(2, 3, 0.75, 48, 1.5).ok());
  ASSERT_TRUE(progress.generation_finished(0, 1, 0.25, 60, 2.5).ok());
  EXPECT_EQ(progress.generations(), 2);
  ASSERT_EQ(store.events_.size(), 2u);
  const proto::ProgressEvent& e = store.events_[0];
  EXPECT_EQ(e.owner(), "host:1:abc");
  EXPECT_EQ(e.prompt(), 2u);
  EXPECT_EQ(e.generation(), 3u);
  EXPECT_EQ(e.best_fitness(), 0.75);
  EXPECT_EQ(e.nfe(), 48);
  EXPECT_EQ(e.seconds(), 1.5);
  EXPECT_GT(e.unix_ms(), 0);
}

}  // namespace
}  // namespace evosearch
