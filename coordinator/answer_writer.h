// The pictures a person looks at: each prompt's answer files (media/answer_files.h: a PNG, and
// for a video an MP4 and a GIF preview) and, with generation_grids, one grid per generation of
// its final candidates. Every file is registered with the job store before it is written, so
// --restart finds it. The pixels come from a FrameSource (the job's executor): the answer's
// frames decoded once per prompt; a grid's frames taken in one round from what scoring decoded.
//
// Fenced answer files. A coordinator can be stopped past its lease while it writes, another one
// finishing the prompt meanwhile, and its bytes may differ from the winner's (float rounding
// differs by device and batch size); fencing refuses its record, so it must not replace the
// winner's files either. So a file is first written under a name unique to the lease,
// state/pending/t<token>/<name>, its SHA-256 goes into the record that names it (the checkpoint
// for a grid, the outcome for the answer), and only once that fenced write passed is the file
// renamed onto its name (publish). A coordinator whose write is refused removes its pending
// files (discard). One that dies between its record and the rename leaves its pending files for
// whoever finishes the job: the job loop publishes every outcome's files again at the end, which
// also checks that the published files match the recorded digests.
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

  // The answer of prompt `prompt` (suite text `text`): the frames of `ref`, written under lease
  // `token`'s pending names for images/<stem>.png (and for a video videos/<stem>.mp4 and
  // previews/<stem>.gif). Sets the outcome's image, video, preview, their digests and token.
  Status write_answer(uint32_t prompt, const std::string& text, const proto::StateRef& ref, uint64_t token,
                      proto::PromptOutcome& outcome);

  // grids/<stem>-gen<generation>.png (the record's generation), under lease `token`'s pending
  // name: every candidate of a finished generation in task order, images 8 to a row, a video's
  // candidates one frame strip per row. Sets the record's grid, grid_sha256 and grid_token; the
  // grid stays empty (nothing written) when the generation's rollouts end before T (particle
  // segments).
  Status write_grid(uint32_t prompt, const std::string& text, const std::vector<proto::RolloutTask>& tasks,
                    uint64_t token, proto::GenerationRecord& record);

  // After the record naming them committed: the files onto their names (publish_outcome_files).
  Status publish(const proto::PromptOutcome& outcome);
  Status publish_grid(const proto::GenerationRecord& record);
  // After the record naming them was refused (best effort): the pending files lease `token`
  // wrote for an outcome, or the grid of a checkpoint's last generation.
  void discard(const proto::PromptOutcome& outcome, uint64_t token) const;
  void discard_grid(const proto::GenerationRecord& record) const;

  // Seconds spent registering and writing files (not getting pixels): PhaseSeconds.output.
  double output_seconds() const { return output_seconds_; }

 private:
  FrameSource& source_;
  JobStore& store_;
  const std::string output_dir_;
  const int steps_;
  double output_seconds_ = 0;
};

// <output_dir>/state/pending/t<token>/<relative>: where a file lease `token` wrote waits until
// the record naming it commits.
std::string pending_path(const std::string& output_dir, const std::string& relative, uint64_t token);

// Makes <output_dir>/<relative> hold the bytes whose SHA-256 is `sha256`: they are there already
// (published by whoever got there first), or its pending file under `token` is renamed onto it.
// DataLoss naming the file, both digests and what to do when neither holds them.
Status publish_file(const std::string& output_dir, const std::string& relative, const std::string& sha256,
                    uint64_t token);

// publish_file for every file `outcome` names with a digest (answer files, generation grids);
// outcomes saved before digests were recorded have none, and their files are left as they are.
// Tries every file; the first error.
Status publish_outcome_files(const std::string& output_dir, const proto::PromptOutcome& outcome);

}  // namespace evosearch
