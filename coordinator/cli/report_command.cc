// `evosearch report OUTPUT [OUTPUT...]`: the report page of one job, or of several compared.
#include <filesystem>
#include <iostream>

#include "coordinator/cli/command_setup.h"
#include "report/report.h"

namespace evosearch {

int run_report(const ReportOptions& options) {
  std::vector<ReportedJob> runs;
  for (const std::string& dir : options.outputs) {
    auto run = load_reported_job(dir);
    if (!run.ok()) return fail(run.status().with_context(dir));
    runs.push_back(std::move(*run));
  }
  const std::string html = !options.out.empty() ? options.out
                                                : (std::filesystem::path(options.outputs.front()) / "report.html").string();
  if (options.outputs.size() > 1 && options.out.empty()) {
    return fail(InvalidArgument("--out: several jobs are compared on one page; say where it goes (e.g. --out compare.html)"));
  }
  const Status written = write_report(runs, html);
  if (!written.ok()) return fail(written);
  std::cout << "wrote " << html << "\n";
  return 0;
}

}  // namespace evosearch
