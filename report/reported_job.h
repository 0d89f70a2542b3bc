// One run's part of the report page (report.cc puts the page together): its settings, totals,
// metrics and categories, and per prompt the answer, scores, fitness plot and generations.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "report/report.h"

namespace evosearch::report {

// The most room an image may take on the page, in CSS pixels.
struct Box {
  int width, height;
};
inline constexpr Box kAnswerBox{288, 288};
inline constexpr Box kThumbBox{176, 176};
inline constexpr Box kGridBox{576, 480};
inline constexpr Box kStripBox{900, 128};

std::string method_of(const proto::JobResults& r);     // as search.method names it: "best-of-n"
std::string method_title(const proto::JobResults& r);  // as the method describes itself: "Best-of-N"
std::string bundle_of(const proto::JobResults& r);
std::string per_prompt(int64_t total, int prompts);  // an average for people: "34", "33.5"

struct RewardInfo {
  std::string guidance;                             // empty when unknown
  std::map<std::string, std::string> descriptions;  // what a higher score means
  std::string note;                                 // why the guidance reward is unknown
};

// A media file as the page links it.
struct Asset {
  std::string href;  // relative to the page, URL-encoded and HTML-escaped
  int width = 0;     // natural size; 0 when the file is not a PNG or GIF
  int height = 0;
};

// One run as the page shows it, and the problems found while writing its part.
class RunView {
 public:
  // `index` makes the run's element ids unique on the page ("r0-p3").
  RunView(const ReportedJob& run, std::string label, const std::filesystem::path& page_dir, int index);

  const proto::JobResults& results() const { return run_.results; }
  const std::string& label() const { return label_; }
  const std::string& id() const { return id_; }
  const RewardInfo& rewards() const { return rewards_; }
  const std::vector<std::string>& warnings() const { return warnings_; }

  // The file at `path` (relative to the output folder) when it is safe to link and exists;
  // otherwise nothing, with a warning naming `what`.
  std::optional<Asset> asset(const std::string& path, const std::string& what);

  // An <img> of the file at `path` fitted into `box`, or a placeholder saying why it is not
  // shown. Empty when there is no path.
  std::string image(const std::string& path, const std::string& what, const std::string& alt, Box box,
                    bool lazy = false);

  // The answer's video (MP4 with the GIF preview as poster and fallback) or its image.
  std::string answer_media(const proto::PromptOutcome& p, Box box);

  // The answer as a picture for tables: a video's animated GIF preview, else the image.
  std::string thumbnail(const proto::PromptOutcome& p, Box box);

 private:
  void warn(const std::string& warning);

  const ReportedJob& run_;
  std::string label_;
  std::filesystem::path dir_;
  std::filesystem::path page_dir_;
  std::string id_;
  RewardInfo rewards_;
  std::vector<std::string> warnings_;
};

struct Row {
  Row(std::string key, std::string value, std::string doc = "")
      : key(std::move(key)), value(std::move(value)), doc(std::move(doc)) {}
  std::string key;
  std::string value;
  std::string doc;  // one line on what the key means, shown on hover; may be empty
};

// The job's settings as rows: method, bundle, prompts, sampler, the method's own settings as it
// describes them (results.method_description; for older results, the spec's search fields as
// set), seed... Nothing here depends on which method ran.
std::vector<Row> settings_rows(const proto::JobResults& r);

// Whether generation `g` of `p` was scored on the x0 prediction (screening), as the method
// describes itself; for older results, whether it ended before the prompt's last step.
bool screening_generation(const proto::JobResults& r, const proto::PromptOutcome& p, const proto::GenerationRecord& g);

// `<th>` or `<dt>` with the row's key, its doc as the title.
std::string key_cell(const std::string& tag, const Row& row);

// A metric's name, with a "guidance" badge when it is the guidance reward.
std::string metric_heading(const std::string& name, const RewardInfo& rewards);

// Every metric any run has, sorted.
std::vector<std::string> metric_names(const std::vector<RunView>& views);

// Per category: prompt count, then each metric's mean in every run; empty when no prompt has a
// category. `id` is the section's element id.
std::string category_section(const std::vector<RunView>& views, const std::vector<std::string>& metrics,
                             const std::string& id);

// Settings, totals, metrics, categories and every prompt of one run.
std::string run_body(RunView& v);

}  // namespace evosearch::report
