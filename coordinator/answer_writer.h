// The pictures a person looks at: each prompt's answer files (media/answer_files.h: a PNG, and
// for a video an MP4 and a GIF preview) and, with generation_grids, one grid per generation of
// its final candidates. Every file is registered with the job store before it is written, so
// --restart finds it. The pixels come from a FrameSource (the job's executor): the answer's
// frames decoded once per prompt; a grid's frames taken in one round from what scoring decoded.
// Called by the job loop's thread only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "coordinator/executor.h"
#include "evosearch/search.pb.h"
#include "jobs/job_store.h"
#include "media/answer_files.h"

namespace evosearch {

class AnswerWriter {
 public:
  // `steps`: the sampler's T (grids show final samples only).
  AnswerWriter(FrameSource& source, JobStore& store, std::string output_dir, int steps);

  // The answer of prompt `prompt` (suite text `text`): the frames of `ref`, written as
  // images/<stem>.png (and for a video videos/<stem>.mp4 and previews/<stem>.gif).
  StatusOr<AnswerFiles> write_answer(uint32_t prompt, const std::string& text, const proto::StateRef& ref);

  // grids/<stem>-gen<generation>.png: every candidate of a finished generation in task order,
  // images 8 to a row, a video's candidates one frame strip per row. Returns its name, or empty
  // (nothing written) when the generation's rollouts end before T (particle segments).
  StatusOr<std::string> write_grid(uint32_t prompt, const std::string& text, uint32_t generation,
                                   const std::vector<proto::RolloutTask>& tasks);

  // Seconds spent registering and writing files (not getting pixels): PhaseSeconds.output.
  double output_seconds() const { return output_seconds_; }

 private:
  FrameSource& source_;
  JobStore& store_;
  const std::string output_dir_;
  const int steps_;
  double output_seconds_ = 0;
};

}  // namespace evosearch
