#include "coordinator/scheduler.h"

#include <algorithm>

namespace evosearch {

void StatePlacement::add(uint32_t prompt, const proto::StateRef& ref, int rank, bool has_x0) {
  Where& w = states_[state_key(prompt, ref)];
  w.ranks.insert(rank);
  w.has_x0 = w.has_x0 || has_x0;
}

std::vector<int> StatePlacement::holders(uint32_t prompt, const proto::StateRef& ref) const {
  const auto it = states_.find(state_key(prompt, ref));
  if (it == states_.end()) return {};
  return {it->second.ranks.begin(), it->second.ranks.end()};
}

bool StatePlacement::has_x0(uint32_t prompt, const proto::StateRef& ref) const {
  const auto it = states_.find(state_key(prompt, ref));
  return it != states_.end() && it->second.has_x0;
}

bool StatePlacement::held_by(uint32_t prompt, const proto::StateRef& ref, int rank) const {
  const auto it = states_.find(state_key(prompt, ref));
  return it != states_.end() && it->second.ranks.count(rank) > 0;
}

void StatePlacement::release_all_but(uint32_t prompt, const std::vector<proto::StateRef>& live) {
  erase_all_but(states_, prompt, live);
}

void StatePlacement::release_prompt(uint32_t prompt) { release_all_but(prompt, {}); }

void Scheduler::add(const std::vector<proto::PromptRolloutTask>& tasks) {
  for (const proto::PromptRolloutTask& t : tasks) ready_.push_back(Ready{next_order_++, t});
}

size_t Scheduler::drop(uint32_t prompt) {
  const size_t before = ready_.size();
  ready_.erase(std::remove_if(ready_.begin(), ready_.end(), [&](const Ready& r) { return r.task.prompt() == prompt; }),
               ready_.end());
  return before - ready_.size();
}

SchedulePlan Scheduler::plan(const std::vector<int>& idle, StatePlacement& placement) {
  SchedulePlan plan;
  if (idle.empty() || ready_.empty()) return plan;
  // Longest rollouts first; then the order they became ready (a prompt's tasks stay together).
  std::stable_sort(ready_.begin(), ready_.end(), [](const Ready& a, const Ready& b) {
    const int la = a.task.task().end_step() - a.task.task().start_step(), lb = b.task.task().end_step() - b.task.task().start_step();
    if (la != lb) return la > lb;
    return a.order < b.order;
  });
  // Spread the ready work over all workers (busy ones will free up), at most a batch each.
  const size_t share = (ready_.size() + workers_ - 1) / workers_;
  const size_t per_worker = std::clamp<size_t>(share, 1, static_cast<size_t>(batch_size_));
  std::map<int, size_t> slot;  // idle rank -> index in plan.batches
  for (int rank : idle) {
    slot[rank] = plan.batches.size();
    plan.batches.push_back(WorkerBatch{rank, {}});
  }
  std::set<std::pair<StateKey, int>> moved;  // (state, to)
  std::vector<Ready> left;
  for (Ready& r : ready_) {
    // The least-loaded free worker with room, preferring one that holds the parent.
    WorkerBatch* least = nullptr;
    for (WorkerBatch& b : plan.batches) {
      if (b.tasks.size() < per_worker && (!least || b.tasks.size() < least->tasks.size())) least = &b;
    }
    if (!least) {
      left.push_back(std::move(r));
      continue;
    }
    WorkerBatch* target = least;
    const proto::RolloutTask& t = r.task.task();
    const uint32_t prompt = r.task.prompt();
    if (t.has_parent()) {
      for (int holder : placement.holders(prompt, t.parent())) {
        const auto it = slot.find(holder);
        if (it != slot.end() && plan.batches[it->second].tasks.size() <= least->tasks.size()) {
          target = &plan.batches[it->second];
          break;
        }
      }
      if (!placement.held_by(prompt, t.parent(), target->worker)) {
        const std::vector<int> holders = placement.holders(prompt, t.parent());
        if (!holders.empty() && moved.insert({state_key(prompt, t.parent()), target->worker}).second) {
          const bool x0 = placement.has_x0(prompt, t.parent());
          plan.moves.push_back(StateMoveOrder{prompt, t.parent(), x0, holders.front(), target->worker});
        }
      }
    }
    target->tasks.push_back(std::move(r.task));
  }
  // Only now: a state arriving in this round cannot be sent on in the same round.
  for (const StateMoveOrder& m : plan.moves) placement.add(m.prompt, m.ref, m.to, m.with_x0);
  ready_ = std::move(left);
  plan.batches.erase(std::remove_if(plan.batches.begin(), plan.batches.end(), [](const WorkerBatch& b) { return b.tasks.empty(); }),
                     plan.batches.end());
  return plan;
}

}  // namespace evosearch
