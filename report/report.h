// The report page of one or more search jobs: one static HTML file (inline CSS, a few lines of
// inline script, no network) that links to the jobs' own images and videos, so a person can
// see what each search found and how it got there, and compare methods on the same suite.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "evosearch/job.pb.h"

namespace evosearch {

struct ReportedJob {
  proto::JobResults results;
  std::string output_dir;  // the job's output folder: the media paths in `results` are relative to it
  std::string label;       // the run's name on the page; default: results.name(), made unique
};

// Reads <output_dir>/results.json (protobuf JSON; fields this build does not know are ignored,
// so a newer job's results still load). NotFound when the job has not written it yet.
StatusOr<ReportedJob> load_reported_job(const std::string& output_dir);

// Writes the page to `html_path` atomically (write_file_atomic; parent folders created).
// Media are linked relative to the page's folder, so moving or zipping the page together with
// the output folders keeps them working. One run: settings, totals, metrics, per-category
// means, and per prompt the answer (image, or MP4 video with its GIF preview and frame strip),
// its scores (the guidance reward marked when the bundle's manifest can be read), a fitness
// plot per generation, and each generation's grid and candidate fitness values. Several runs
// add a method comparison and the prompts' answers side by side; every run's details follow.
// Every string from the results is HTML-escaped. A media path that is absolute or contains
// ".." is not linked, nor is a missing file; the page lists those as warnings instead.
// InvalidArgument when `runs` is empty.
Status write_report(const std::vector<ReportedJob>& runs, const std::string& html_path);

}  // namespace evosearch
