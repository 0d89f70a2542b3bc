#include "coordinator/answer_writer.h"

#include <algorithm>
#include <filesystem>

#include "common/checksum.h"
#include "common/state_key.h"
#include "common/stopwatch.h"
#include "media/image_io.h"
#include "media/output_names.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;

fs::path pending_folder(const std::string& output_dir, uint64_t token) {
  return fs::path(output_dir) / "state" / "pending" / ("t" + std::to_string(token));
}

// The digest of a pending file just written; empty for a file not written.
StatusOr<std::string> pending_digest(const std::string& output_dir, const std::string& relative, uint64_t token) {
  if (relative.empty()) return std::string();
  return sha256_file_hex(pending_path(output_dir, relative, token));
}

}  // namespace

std::string pending_path(const std::string& output_dir, const std::string& relative, uint64_t token) {
  return (pending_folder(output_dir, token) / relative).string();
}

Status publish_file(const std::string& output_dir, const std::string& relative, const std::string& sha256,
                    uint64_t token) {
  const fs::path published = fs::path(output_dir) / relative;
  auto found = sha256_file_hex(published.string());
  if (found.ok() && *found == sha256) return Status::Ok();
  const std::string pending = pending_path(output_dir, relative, token);
  auto waiting = sha256_file_hex(pending);
  std::error_code ec;
  if (waiting.ok() && *waiting == sha256) {
    fs::create_directories(published.parent_path(), ec);
    fs::rename(pending, published, ec);
    if (!ec) return Status::Ok();
    found = sha256_file_hex(published.string());
    if (found.ok() && *found == sha256) return Status::Ok();  // another coordinator published it meanwhile
  }
  return DataLoss(published.string() + " does not hold the file its record names (sha256 " + sha256 + ", found " +
                  (found.ok() ? *found : std::string("no file")) + ") and its pending copy " + pending + " " +
                  (waiting.ok() ? (*waiting == sha256 ? "cannot be moved there: " + ec.message() : "holds other bytes")
                                : std::string("is gone")) +
                  "; rerun the job with --restart for files that match its results");
}

Status publish_outcome_files(const std::string& output_dir, const proto::PromptOutcome& outcome) {
  Status first;
  const auto publish = [&](const std::string& relative, const std::string& sha256, uint64_t token) {
    if (relative.empty() || sha256.empty()) return;
    const Status s = publish_file(output_dir, relative, sha256, token);
    if (first.ok()) first = s;
  };
  for (const proto::GenerationRecord& g : outcome.generations()) publish(g.grid(), g.grid_sha256(), g.grid_token());
  publish(outcome.image(), outcome.image_sha256(), outcome.token());
  publish(outcome.video(), outcome.video_sha256(), outcome.token());
  publish(outcome.preview(), outcome.preview_sha256(), outcome.token());
  return first;
}

AnswerWriter::AnswerWriter(FrameSource& source, JobStore& store, std::string output_dir, int steps)
    : source_(source), store_(store), output_dir_(std::move(output_dir)), steps_(steps) {}

Status AnswerWriter::write_answer(uint32_t prompt, const std::string& text, const proto::StateRef& ref, uint64_t token,
                                  proto::PromptOutcome& outcome) {
  ASSIGN_OR_RETURN(const std::vector<Image> frames, source_.decode(prompt, ref));
  Stopwatch watch(output_seconds_);
  const std::string stem = safe_file_stem(text, prompt);
  RETURN_IF_ERROR(store_.add_outputs(answer_file_names(stem)));  // before writing: --restart must find them
  ASSIGN_OR_RETURN(const AnswerFiles files, write_answer_files(frames, pending_folder(output_dir_, token).string(), stem));
  outcome.set_image(files.image);
  outcome.set_video(files.video);
  outcome.set_preview(files.preview);
  ASSIGN_OR_RETURN(*outcome.mutable_image_sha256(), pending_digest(output_dir_, files.image, token));
  ASSIGN_OR_RETURN(*outcome.mutable_video_sha256(), pending_digest(output_dir_, files.video, token));
  ASSIGN_OR_RETURN(*outcome.mutable_preview_sha256(), pending_digest(output_dir_, files.preview, token));
  outcome.set_token(token);
  return Status::Ok();
}

Status AnswerWriter::write_grid(uint32_t prompt, const std::string& text, const std::vector<proto::RolloutTask>& tasks,
                                uint64_t token, proto::GenerationRecord& record) {
  std::vector<proto::StateRef> refs;
  for (const proto::RolloutTask& t : tasks) {
    if (t.end_step() != steps_) return Status::Ok();
    refs.push_back(state_ref(t.generation(), t.candidate(), t.end_step()));
  }
  ASSIGN_OR_RETURN(const std::vector<std::vector<Image>> candidates, source_.take_frames(prompt, refs));
  if (candidates.size() != refs.size()) return Internal("the grid's frames came back for the wrong number of candidates");
  Stopwatch watch(output_seconds_);
  std::vector<Image> images;
  bool video = false;
  for (const std::vector<Image>& frames : candidates) {
    video = video || frames.size() > 1;
    images.push_back(frame_strip(frames));
  }
  const int scale = std::max(1, 84 / std::max(1, images.empty() ? 1 : images[0].height));
  const std::string file = "grids/" + safe_file_stem(text, prompt) + "-gen" + std::to_string(record.generation()) + ".png";
  RETURN_IF_ERROR(store_.add_outputs({file}));
  RETURN_IF_ERROR(write_png(pending_path(output_dir_, file, token), make_grid(images, video ? 1 : 8, 2, scale)));
  ASSIGN_OR_RETURN(*record.mutable_grid_sha256(), pending_digest(output_dir_, file, token));
  record.set_grid(file);
  record.set_grid_token(token);
  return Status::Ok();
}

Status AnswerWriter::publish(const proto::PromptOutcome& outcome) {
  Stopwatch watch(output_seconds_);
  return publish_outcome_files(output_dir_, outcome);
}

Status AnswerWriter::publish_grid(const proto::GenerationRecord& record) {
  if (record.grid().empty()) return Status::Ok();
  Stopwatch watch(output_seconds_);
  return publish_file(output_dir_, record.grid(), record.grid_sha256(), record.grid_token());
}

void AnswerWriter::discard(const proto::PromptOutcome& outcome, uint64_t token) const {
  std::error_code ec;  // best effort: what is left waits in state/pending, removed when the job completes
  for (const proto::GenerationRecord& g : outcome.generations()) {
    if (!g.grid().empty() && g.grid_token() == token) fs::remove(pending_path(output_dir_, g.grid(), token), ec);
  }
  if (outcome.token() != token) return;  // not written under this lease
  for (const std::string& f : {outcome.image(), outcome.video(), outcome.preview()}) {
    if (!f.empty()) fs::remove(pending_path(output_dir_, f, token), ec);
  }
}

void AnswerWriter::discard_grid(const proto::GenerationRecord& record) const {
  std::error_code ec;
  if (!record.grid().empty()) fs::remove(pending_path(output_dir_, record.grid(), record.grid_token()), ec);
}

}  // namespace evosearch
