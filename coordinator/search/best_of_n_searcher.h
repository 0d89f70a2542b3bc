// Best-of-N: N independent rollouts from noise, keep the best. N = 1 is "no search".
#pragma once

#include "coordinator/search/searcher.h"

namespace evosearch {

class BestOfNSearcher final : public Searcher {
 public:
  // `method` is "best-of-n" or "none" (N = 1).
  BestOfNSearcher(int n, int steps, std::string method = "best-of-n");

  std::string method() const override { return method_; }
  proto::MethodDescription describe() const override;
  std::vector<proto::RolloutTask> next_generation() override;
  Status on_results(const std::vector<proto::RolloutResult>& results) override;
  bool done() const override { return generation_ > 0; }
  uint32_t generation() const override { return generation_; }
  uint32_t generation_count() const override { return 1; }
  std::vector<proto::StateRef> live_states() const override;
  const proto::BestSample& best() const override { return best_; }
  const proto::Accounting& accounting() const override { return accounting_; }
  proto::SearcherSnapshot snapshot() const override;
  Status restore(const proto::SearcherSnapshot& snapshot) override;

 private:
  int n_, steps_;
  std::string method_;
  uint32_t generation_ = 0;
  std::vector<proto::RolloutTask> pending_;
  proto::BestSample best_;
  proto::Accounting accounting_;
};

}  // namespace evosearch
