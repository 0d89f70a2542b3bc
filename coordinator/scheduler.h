// Places rollout tasks on workers (pure logic, no MPI): where every kept state lives, which
// ready tasks go to which idle worker, and which states must move for that. A task runs where
// its parent state is when that worker is free and not more loaded than the others; otherwise
// it runs on the least-loaded free worker and its parent moves there (one state, once).
// Longer rollouts go first, so the short ones of later generations fill the gaps at the end.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <tuple>
#include <vector>

#include "common/state_key.h"
#include "evosearch/search.pb.h"

namespace evosearch {

class StatePlacement {
 public:
  void add(uint32_t prompt, const proto::StateRef& ref, int rank, bool has_x0);
  // Ranks holding the state (empty when none does).
  std::vector<int> holders(uint32_t prompt, const proto::StateRef& ref) const;
  bool has_x0(uint32_t prompt, const proto::StateRef& ref) const;
  bool held_by(uint32_t prompt, const proto::StateRef& ref, int rank) const;
  void release_all_but(uint32_t prompt, const std::vector<proto::StateRef>& live);
  void release_prompt(uint32_t prompt);
  size_t size() const { return states_.size(); }

 private:
  struct Where {
    std::set<int> ranks;
    bool has_x0 = false;
  };
  std::map<StateKey, Where> states_;
};

struct StateMoveOrder {
  uint32_t prompt = 0;
  proto::StateRef ref;
  bool with_x0 = false;
  int from = -1;
  int to = -1;
};

struct WorkerBatch {
  int worker = -1;
  std::vector<proto::PromptRolloutTask> tasks;
};

struct SchedulePlan {
  std::vector<WorkerBatch> batches;  // one per worker that got work
  std::vector<StateMoveOrder> moves;  // to run before those batches
};

class Scheduler {
 public:
  // `workers`: how many there are in all; `batch_size`: most tasks in one worker batch.
  Scheduler(int workers, int batch_size) : workers_(workers), batch_size_(batch_size) {}

  void add(const std::vector<proto::PromptRolloutTask>& tasks);
  // Forgets the ready tasks of `prompt` (it failed, or was given up); how many there were.
  size_t drop(uint32_t prompt);
  size_t ready() const { return ready_.size(); }

  // Hands ready tasks to the free workers `idle` (ranks) and plans the moves their parents need;
  // records the moved states in `placement`.
  SchedulePlan plan(const std::vector<int>& idle, StatePlacement& placement);

 private:
  struct Ready {
    uint64_t order = 0;
    proto::PromptRolloutTask task;
  };
  int workers_;
  int batch_size_;
  uint64_t next_order_ = 0;
  std::vector<Ready> ready_;
};

}  // namespace evosearch
