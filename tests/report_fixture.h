// A small search job's results with real files behind them, for the report tests: an output
// folder with answer PNGs, generation grids, results.json, a bundle manifest that marks the
// guidance reward, and for the video prompt an MP4 and a GIF.
#pragma once

#include <string>

#include "report/report.h"

namespace evosearch::testing_support {

// The prompt whose text tries to break out of the page.
inline const char kHostilePrompt[] = "a \"quoted\" <script>alert('x')</script> & <b>bag</b>";

struct ReportJob {
  enum class Video {
    kNone,
    kPlaceholder,  // files with a valid GIF header (64x48) and MP4 "ftyp" box, nothing to play
    kFfmpeg,       // a real H.264 MP4 and animated GIF made by ffmpeg (needs ffmpeg_available())
  };
  std::string name = "fashion-evosearch";
  std::string method = "evosearch";
  double score_offset = 0;     // added to every score, so two jobs differ
  Video video = Video::kNone;  // prompt 2 becomes a video answer
  // The method's description (method_description) from the searcher the spec makes, as a job
  // writes it; false: results.json as written before methods described themselves.
  bool described = true;
};

// Three prompts: 0 "a dark sneaker" (category "shoes"), 1 kHostilePrompt ("bags, accessories"),
// 2 "a bright shirt" ("shirts,accessories"); two metrics, fashion-match (guidance) and
// fashion-eval; three generations per prompt with grids. Writes everything under `output_dir`
// (the bundle manifest in <output_dir>/bundle) and returns the run as load_reported_job reads it.
ReportedJob write_report_job(const std::string& output_dir, const ReportJob& job);

// Whether the ffmpeg command runs (it is only needed to make real test videos).
bool ffmpeg_available();

}  // namespace evosearch::testing_support
