// What `evosearch status` shows of a job, from its store alone (running or stopped, file or
// Redis): prompts queued, running (by whom, which generation), done and failed (why), the best
// reward so far of each, throughput over the recent progress events, and an ETA.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "evosearch/job_records.pb.h"
#include "jobs/job_store.h"

namespace evosearch {

struct JobStatusView {
  proto::JobRecord job;
  std::vector<proto::PromptRecord> prompts;
  int queued = 0, running = 0, done = 0, failed = 0;
  // Over the progress events of the last `window_seconds` (or all, when fewer): denoiser calls per
  // second and generations per second, all coordinators together; 0 when there are none.
  double nfe_per_second = 0;
  double generations_per_second = 0;
  double eta_seconds = -1;  // the generations left at that pace; -1 when unknown
  int64_t as_of_unix_ms = 0;
};

// Reads the store. `now_unix_ms` dates the view (leases that expired show as "expired").
StatusOr<JobStatusView> read_job_status(JobStore& store, int64_t now_unix_ms, double window_seconds = 120);

// A table a person reads / one JSON object (protobuf field names) for tools.
std::string format_job_status(const JobStatusView& view, const std::string& where);
std::string job_status_json(const JobStatusView& view);

}  // namespace evosearch
