#include "coordinator/search/searcher.h"

#include <algorithm>
#include <cstdio>
#include <set>
#include <utility>

namespace evosearch {

void add_setting(proto::MethodDescription& d, const std::string& label, const std::string& value,
                 const std::string& doc) {
  proto::MethodSetting* s = d.add_settings();
  s->set_label(label);
  s->set_value(value);
  s->set_doc(doc);
}

std::string list_text(const std::vector<int>& values) {
  std::string out;
  for (const int v : values) out += (out.empty() ? "" : ", ") + std::to_string(v);
  return out;
}

std::string number_text(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", value);
  return buf;
}

void account(proto::Accounting& a, const proto::RolloutResult& r) {
  a.set_nfe(a.nfe() + r.nfe());
  a.set_decode_calls(a.decode_calls() + r.decode_calls());
  a.set_reward_calls(a.reward_calls() + r.reward_calls());
  a.set_rollouts(a.rollouts() + 1);
}

void consider_best(proto::BestSample& best, const proto::RolloutResult& r, int final_step) {
  if (best.found() && r.fitness() <= best.fitness()) return;
  best.set_found(true);
  *best.mutable_state() = state_ref(r.generation(), r.candidate(), final_step);
  best.set_fitness(r.fitness());
  *best.mutable_scores() = r.scores();
}

StatusOr<std::vector<proto::RolloutResult>> match_results(const std::vector<proto::RolloutTask>& tasks,
                                                          const std::vector<proto::RolloutResult>& results) {
  std::set<std::pair<uint32_t, uint32_t>> expected, seen;
  for (const auto& t : tasks) expected.emplace(t.generation(), t.candidate());
  for (const auto& r : results) {
    const auto id = std::make_pair(r.generation(), r.candidate());
    if (!expected.count(id) || !seen.insert(id).second) {
      return FailedPrecondition("result for rollout (generation " + std::to_string(r.generation()) + ", candidate " +
                                std::to_string(r.candidate()) + ") was not asked for or came twice");
    }
  }
  if (seen.size() != expected.size()) {
    return FailedPrecondition("expected " + std::to_string(expected.size()) + " results, got " +
                              std::to_string(seen.size()));
  }
  std::vector<proto::RolloutResult> ordered = results;
  std::sort(ordered.begin(), ordered.end(), [](const proto::RolloutResult& a, const proto::RolloutResult& b) {
    return std::make_pair(a.generation(), a.candidate()) < std::make_pair(b.generation(), b.candidate());
  });
  return ordered;
}

}  // namespace evosearch
