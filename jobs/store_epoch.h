// A job store that goes back in time. Redis keeps less than a job store promises: with its
// append-only file synced every second a crash loses up to a second of acknowledged writes, with
// persistence off a restart loses everything, and a server restored from an older snapshot
// forgets whatever came after it. A job run on such a store would silently start again (a job
// created anew: every prompt recomputed) or hand out a prompt's fencing token a second time
// (shard and pending answer files carry the token in their names).
//
// So the output folder remembers what the store acknowledged, and every run compares:
//   - state/store-epoch: the job's epoch (the store's creation time of the job record, which a
//     job created anew never shares), written when the job is created or first seen;
//   - state/store-marks/<epoch>/: one empty-ish file per claim, p<prompt>.t<token>, created with
//     O_EXCL before the token is used, and p<prompt>.done once the prompt's outcome is saved.
// A run stops (DataLoss: exit 1, not 75, since requeueing cannot help) with a message naming
// what was lost and how to continue (--restart) when
//   - the store holds no job while the folder has an epoch: the store lost the job;
//   - the store's job has another epoch: another job record replaced it;
//   - a prompt the folder marked done is not done in the store, or a prompt's token in the store
//     is below one the folder marked used (checked when a run opens the job), or a claim hands
//     out a token the folder marked used or a prompt it marked done: the store went back in time.
// Nothing is recomputed and no token is used twice before the run stops. The file store keeps
// its records in the same folder, so it passes these checks unless both are edited apart.
#pragma once

#include <memory>
#include <string>

#include "jobs/job_store.h"

namespace evosearch {

// `store` with the checks above against the output folder `output_dir`. Checks run in open()
// (skipped with restart: then the marks of every epoch are removed) and claim(); saving
// an outcome marks it done; NotFound from any call but outputs() becomes the lost-job message
// once the folder has an epoch. One thread uses it, as any store.
std::unique_ptr<JobStore> with_epoch_checks(std::unique_ptr<JobStore> store, std::string output_dir);

}  // namespace evosearch
