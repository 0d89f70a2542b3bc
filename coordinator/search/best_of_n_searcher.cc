#include "coordinator/search/best_of_n_searcher.h"

namespace evosearch {

BestOfNSearcher::BestOfNSearcher(int n, int steps, std::string method)
    : n_(n), steps_(steps), method_(std::move(method)) {}

proto::MethodDescription BestOfNSearcher::describe() const {
  proto::MethodDescription d;
  d.set_method(method_);
  if (method_ == "none") {
    d.set_title("No search (one sample)");
    return d;
  }
  d.set_title("Best-of-N");
  add_setting(d, "N", std::to_string(n_), "independent samples from noise; the fittest is the answer");
  return d;
}

std::vector<proto::RolloutTask> BestOfNSearcher::next_generation() {
  pending_.clear();
  if (done()) return pending_;
  for (int c = 0; c < n_; ++c) {
    proto::RolloutTask t;
    t.set_generation(0);
    t.set_candidate(c);
    t.set_start_step(0);
    t.set_end_step(steps_);
    t.add_keep_steps(steps_);
    t.set_score(proto::SCORE_FINAL);
    pending_.push_back(std::move(t));
  }
  return pending_;
}

Status BestOfNSearcher::on_results(const std::vector<proto::RolloutResult>& results) {
  ASSIGN_OR_RETURN(const std::vector<proto::RolloutResult> ordered, match_results(pending_, results));
  for (const auto& r : ordered) {
    account(accounting_, r);
    consider_best(best_, r, steps_);
  }
  pending_.clear();
  ++generation_;
  return Status::Ok();
}

std::vector<proto::StateRef> BestOfNSearcher::live_states() const {
  if (!best_.found()) return {};
  return {best_.state()};
}

proto::SearcherSnapshot BestOfNSearcher::snapshot() const {
  proto::SearcherSnapshot s;
  s.set_method(method_);
  s.set_generation(generation_);
  *s.mutable_accounting() = accounting_;
  *s.mutable_best() = best_;
  return s;
}

Status BestOfNSearcher::restore(const proto::SearcherSnapshot& s) {
  if (s.method() != method_) return InvalidArgument("snapshot is for method '" + s.method() + "', not " + method_);
  generation_ = s.generation();
  accounting_ = s.accounting();
  best_ = s.best();
  pending_.clear();
  return Status::Ok();
}

}  // namespace evosearch
