// Checkpoint shards: files of resident states, written (atomically, fsynced) by whoever holds
// the states (the coordinator in one process, each worker in a distributed job) into the job's
// output folder, and read back, checksum first, by whichever process needs them. The job store
// keeps only each shard's path and SHA-256 (proto::ShardRef).
//
// Checkpoints are incremental: a shard holds the live states that were new when it was written,
// and a checkpoint record lists every shard that still holds a live state (the new ones and older
// ones, whatever run or generation wrote them). A shard is removed only once a committed record no
// longer lists it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "evosearch/job.pb.h"
#include "evosearch/job_records.pb.h"

namespace evosearch {

// "state/shards/prompt-00003-g002-t7-r1.shard": prompt, generation completed, the lease's fencing
// token (so two coordinators never write the same file) and the writer's rank.
std::string shard_path(uint32_t prompt, uint32_t generation, uint64_t token, int rank);

// How the next checkpoint of a prompt uses the shards of its last committed one.
struct ShardPlan {
  std::vector<proto::ShardRef> kept;     // committed shards holding some live state: listed again
  std::vector<proto::ShardRef> dropped;  // committed shards holding none: removed once the next record commits
  std::vector<proto::StateRef> unwritten;  // live states no committed shard holds, in `live` order: to write
};
ShardPlan plan_shards(const std::vector<proto::ShardRef>& committed, const std::vector<proto::StateRef>& live);

// Writes `states` of `prompt` to <output_dir>/<relative_path> and returns its reference.
StatusOr<proto::ShardRef> write_shard(const std::string& output_dir, const std::string& relative_path, uint32_t prompt,
                                      std::vector<proto::StoredState> states);

// Reads a shard back; DataLoss names the file when its bytes do not match the checksum, it does
// not parse, or it holds another prompt's states.
StatusOr<proto::StateShard> read_shard(const std::string& output_dir, const proto::ShardRef& ref, uint32_t prompt);

// Removes the shard files of `refs` (those of a checkpoint that a newer one replaced).
void remove_shards(const std::string& output_dir, const std::vector<proto::ShardRef>& refs);

}  // namespace evosearch
