#include "common/shard_files.h"

#include <cstdio>
#include <filesystem>
#include <set>

#include "common/atomic_file.h"
#include "common/checksum.h"
#include "common/state_key.h"

namespace evosearch {

namespace fs = std::filesystem;

std::string shard_path(uint32_t prompt, uint32_t generation, uint64_t token, int rank) {
  char name[96];
  std::snprintf(name, sizeof name, "state/shards/prompt-%05u-g%03u-t%llu-r%d.shard", prompt, generation,
                static_cast<unsigned long long>(token), rank);
  return name;
}

ShardPlan plan_shards(const std::vector<proto::ShardRef>& committed, const std::vector<proto::StateRef>& live) {
  std::set<StateKey> wanted, held;
  for (const proto::StateRef& r : live) wanted.insert(state_key(0, r));
  ShardPlan plan;
  for (const proto::ShardRef& shard : committed) {
    bool holds_live = false;
    for (const proto::StateRef& r : shard.states()) {
      if (!wanted.count(state_key(0, r))) continue;
      holds_live = true;
      held.insert(state_key(0, r));
    }
    (holds_live ? plan.kept : plan.dropped).push_back(shard);
  }
  for (const proto::StateRef& r : live) {
    if (held.insert(state_key(0, r)).second) plan.unwritten.push_back(r);  // a state listed twice is written once
  }
  return plan;
}

StatusOr<proto::ShardRef> write_shard(const std::string& output_dir, const std::string& relative_path, uint32_t prompt,
                                      std::vector<proto::StoredState> states) {
  proto::StateShard shard;
  shard.set_prompt(prompt);
  proto::ShardRef ref;
  ref.set_path(relative_path);
  for (proto::StoredState& state : states) {
    *ref.add_states() = state.ref();
    ref.add_has_x0(!state.x0().empty());
    *shard.add_states() = std::move(state);
  }
  const std::string bytes = shard.SerializeAsString();
  RETURN_IF_ERROR(write_file_atomic((fs::path(output_dir) / relative_path).string(), bytes));
  ref.set_sha256(sha256_hex(bytes));
  ref.set_bytes(static_cast<int64_t>(bytes.size()));
  return ref;
}

StatusOr<proto::StateShard> read_shard(const std::string& output_dir, const proto::ShardRef& ref, uint32_t prompt) {
  const std::string file = (fs::path(output_dir) / ref.path()).string();
  ASSIGN_OR_RETURN(const std::string bytes, read_file(file));
  const std::string redo = "; run with --restart to redo the job, or delete this prompt's checkpoint";
  if (sha256_hex(bytes) != ref.sha256()) return DataLoss(file + ": checkpoint shard does not match its checksum" + redo);
  proto::StateShard shard;
  if (!shard.ParseFromString(bytes)) return DataLoss(file + ": checkpoint shard does not parse" + redo);
  if (shard.prompt() != prompt || shard.states_size() != ref.states_size()) {
    return DataLoss(file + ": checkpoint shard holds other states than its record says" + redo);
  }
  return shard;
}

void remove_shards(const std::string& output_dir, const std::vector<proto::ShardRef>& refs) {
  for (const proto::ShardRef& ref : refs) {
    std::error_code ec;
    fs::remove(fs::path(output_dir) / ref.path(), ec);  // a leftover costs disk space only
  }
}

}  // namespace evosearch
