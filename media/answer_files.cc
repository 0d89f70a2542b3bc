#include "media/answer_files.h"

#include <filesystem>

#include "media/image_io.h"
#include "media/video_io.h"

namespace evosearch {

std::vector<std::string> answer_file_names(const std::string& stem) {
  return {"images/" + stem + ".png", "videos/" + stem + ".mp4", "previews/" + stem + ".gif"};
}

Image frame_strip(const std::vector<Image>& frames) {
  if (frames.size() == 1) return frames.front();
  return make_grid(frames, static_cast<int>(frames.size()), 1);
}

StatusOr<AnswerFiles> write_answer_files(const std::vector<Image>& frames, const std::string& output_dir,
                                         const std::string& stem) {
  if (frames.empty()) return InvalidArgument("sample " + stem + ": no frames to write");
  const std::filesystem::path out(output_dir);
  AnswerFiles files;
  files.image = "images/" + stem + ".png";
  RETURN_IF_ERROR(write_png((out / files.image).string(), frame_strip(frames)));
  if (frames.size() > 1 && video_files_supported()) {
    files.video = "videos/" + stem + ".mp4";
    files.preview = "previews/" + stem + ".gif";
    RETURN_IF_ERROR(write_mp4((out / files.video).string(), frames));
    RETURN_IF_ERROR(write_gif((out / files.preview).string(), frames));
  }
  return files;
}

}  // namespace evosearch
