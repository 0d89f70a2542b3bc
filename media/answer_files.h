// The files a person looks at for one sample: a PNG (a video's frames side by side), and for a
// video an H.264 MP4 and a looping GIF preview (not in a build without video files, see
// video_files_supported() in media/video_io.h). Names come from the caller's stem.
#pragma once

#include <string>
#include <vector>

#include "common/image.h"
#include "common/status.h"

namespace evosearch {

struct AnswerFiles {
  std::string image;    // images/<stem>.png, relative to the output folder
  std::string video;    // videos/<stem>.mp4, for more than one frame; empty when not written
  std::string preview;  // previews/<stem>.gif, for more than one frame; empty when not written
};

// Every file write_answer_files may write for `stem` (whether image or video).
std::vector<std::string> answer_file_names(const std::string& stem);

// One image for a sample's frames: the frame itself, or the frames side by side with a gap.
Image frame_strip(const std::vector<Image>& frames);

// Writes the sample's files under `output_dir` (each atomically) and returns their names.
StatusOr<AnswerFiles> write_answer_files(const std::vector<Image>& frames, const std::string& output_dir,
                                         const std::string& stem);

}  // namespace evosearch
