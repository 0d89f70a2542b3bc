#include "coordinator/answer_writer.h"

#include <algorithm>
#include <filesystem>

#include "common/state_key.h"
#include "common/stopwatch.h"
#include "media/image_io.h"
#include "media/output_names.h"

namespace evosearch {

AnswerWriter::AnswerWriter(FrameSource& source, JobStore& store, std::string output_dir, int steps)
    : source_(source), store_(store), output_dir_(std::move(output_dir)), steps_(steps) {}

StatusOr<AnswerFiles> AnswerWriter::write_answer(uint32_t prompt, const std::string& text, const proto::StateRef& ref) {
  ASSIGN_OR_RETURN(const std::vector<Image> frames, source_.decode(prompt, ref));
  Stopwatch watch(output_seconds_);
  const std::string stem = safe_file_stem(text, prompt);
  RETURN_IF_ERROR(store_.add_outputs(answer_file_names(stem)));  // before writing: --restart must find them
  return write_answer_files(frames, output_dir_, stem);
}

StatusOr<std::string> AnswerWriter::write_grid(uint32_t prompt, const std::string& text, uint32_t generation,
                                               const std::vector<proto::RolloutTask>& tasks) {
  std::vector<proto::StateRef> refs;
  for (const proto::RolloutTask& t : tasks) {
    if (t.end_step() != steps_) return std::string();
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
  const std::string file = "grids/" + safe_file_stem(text, prompt) + "-gen" + std::to_string(generation) + ".png";
  RETURN_IF_ERROR(store_.add_outputs({file}));
  RETURN_IF_ERROR(write_png((std::filesystem::path(output_dir_) / file).string(), make_grid(images, video ? 1 : 8, 2, scale)));
  return file;
}

}  // namespace evosearch
