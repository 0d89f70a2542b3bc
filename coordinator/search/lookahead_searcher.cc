#include "coordinator/search/lookahead_searcher.h"

#include <algorithm>
#include <string>

#include "coordinator/search/selection.h"

namespace evosearch {

Status validate(const LookaheadConfig& c) {
  RETURN_IF_ERROR(validate(c.evo));
  const size_t n = c.evo.population.size();
  if (c.screened.size() != n) {
    return InvalidArgument("screened: expected " + std::to_string(n) + " numbers (one per population entry), got " +
                           std::to_string(c.screened.size()));
  }
  if (c.lookahead_steps.size() != n) {
    return InvalidArgument("lookahead_steps: expected " + std::to_string(n) + " numbers (one per population entry), got " +
                           std::to_string(c.lookahead_steps.size()));
  }
  for (size_t g = 0; g < n; ++g) {
    const std::string at = "[" + std::to_string(g) + "]";
    if (c.screened[g] < c.evo.population[g]) {
      return InvalidArgument("screened" + at + ": " + std::to_string(c.screened[g]) +
                             " is fewer than the children rolled out (population" + at + " = " +
                             std::to_string(c.evo.population[g]) + ")");
    }
    const int start = g == 0 ? 0 : c.evo.evolution_steps[g - 1];
    const int end = start + c.lookahead_steps[g];
    if (c.lookahead_steps[g] < 0 || end >= c.evo.steps) {
      return InvalidArgument("lookahead_steps" + at + ": " + std::to_string(c.lookahead_steps[g]) +
                             " is out of range; the generation starts at step " + std::to_string(start) +
                             " and must be scored before step " + std::to_string(c.evo.steps));
    }
    if (g < c.evo.evolution_steps.size() && end > c.evo.evolution_steps[g]) {
      return InvalidArgument("lookahead_steps" + at + ": " + std::to_string(c.lookahead_steps[g]) +
                             " passes the next evolution step (" + std::to_string(start) + " + " +
                             std::to_string(c.lookahead_steps[g]) + " > " + std::to_string(c.evo.evolution_steps[g]) +
                             "), whose states the continuations must keep");
    }
  }
  return Status::Ok();
}

std::vector<int> default_lookahead_steps(const EvoSearchConfig& evo) {
  std::vector<int> out;
  for (size_t g = 0; g < evo.population.size(); ++g) {
    const int start = g == 0 ? 0 : evo.evolution_steps[g - 1];
    const int next = g < evo.evolution_steps.size() ? evo.evolution_steps[g] : evo.steps - 1;
    out.push_back(start == 0 ? std::max(0, std::min(std::max(1, evo.steps / 5), next)) : 0);
  }
  return out;
}

LookaheadSearcher::LookaheadSearcher(LookaheadConfig config, SearchKey key) : config_(std::move(config)), key_(key) {}

proto::MethodDescription LookaheadSearcher::describe() const {
  proto::MethodDescription d;
  d.set_method(method());
  d.set_title("EvoSearch with look-ahead");
  describe_evolution(config_.evo, "K: children per generation that continue to the last step, the best screened ones",
                     d);
  add_setting(d, "Screened", list_text(config_.screened),
              "children per generation scored on their x0 prediction before the best of them continue");
  add_setting(d, "Look-ahead steps", list_text(config_.lookahead_steps),
              "steps a screened child takes from its generation's start before it is scored");
  for (uint32_t phase = 0; phase < generation_count(); phase += 2) d.add_screening_generations(phase);
  return d;
}

std::vector<proto::RolloutTask> LookaheadSearcher::screen_tasks(size_t g) const {
  const uint32_t phase = static_cast<uint32_t>(2 * g);
  const int start = start_step(g), end = screen_end(g);
  std::vector<proto::RolloutTask> tasks;
  for (int c = 0; c < config_.screened[g]; ++c) {
    proto::RolloutTask t;
    t.set_generation(phase);
    t.set_candidate(c);
    t.set_start_step(start);
    t.set_end_step(end);
    t.add_keep_steps(end);
    t.set_score(proto::SCORE_X0_PREDICTION);
    tasks.push_back(std::move(t));
  }
  if (g == 0) return tasks;
  std::vector<double> fitness;
  for (const auto& e : archive_) fitness.push_back(e.fitness());
  const size_t elites = static_cast<size_t>(config_.evo.elites);
  std::vector<size_t> parents = top_indices(fitness, elites);
  for (uint32_t c = static_cast<uint32_t>(parents.size()); c < tasks.size(); ++c) {
    parents.push_back(tournament(fitness, config_.evo.tournament_fraction,
                                 NoiseKey{key_.seed, key_.prompt, phase, c, 0, kSelectionDraw}));
  }
  for (size_t c = 0; c < tasks.size(); ++c) {
    const proto::ArchiveEntry& parent = archive_[parents[c]];
    *tasks[c].mutable_parent() = state_ref(parent.generation(), parent.candidate(), start);
    if (c >= elites) {
      tasks[c].set_mutation(start == 0 ? proto::MUTATION_INTERPOLATE : proto::MUTATION_ADD_NOISE);
      tasks[c].set_beta(config_.evo.beta);
    }
  }
  return tasks;
}

std::vector<proto::RolloutTask> LookaheadSearcher::rollout_tasks(size_t g) const {
  const uint32_t phase = static_cast<uint32_t>(2 * g + 1);
  const int start = screen_end(g);
  std::vector<double> fitness;
  for (const auto& e : screened_) fitness.push_back(e.fitness());
  std::vector<proto::RolloutTask> tasks;
  for (size_t chosen : top_indices(fitness, static_cast<size_t>(config_.evo.population[g]))) {
    proto::RolloutTask t;
    t.set_generation(phase);
    t.set_candidate(static_cast<uint32_t>(tasks.size()));
    t.set_start_step(start);
    t.set_end_step(config_.evo.steps);
    *t.mutable_parent() = state_ref(screened_[chosen].generation(), screened_[chosen].candidate(), start);
    // States at the later evolution steps (later generations' pools), and the final sample.
    for (size_t j = g; j < config_.evo.evolution_steps.size(); ++j) t.add_keep_steps(config_.evo.evolution_steps[j]);
    t.add_keep_steps(config_.evo.steps);
    t.set_score(proto::SCORE_FINAL);
    tasks.push_back(std::move(t));
  }
  return tasks;
}

std::vector<proto::RolloutTask> LookaheadSearcher::next_generation() {
  pending_.clear();
  if (done()) return pending_;
  pending_ = phase_ % 2 == 0 ? screen_tasks(phase_ / 2) : rollout_tasks(phase_ / 2);
  return pending_;
}

Status LookaheadSearcher::on_results(const std::vector<proto::RolloutResult>& results) {
  ASSIGN_OR_RETURN(const std::vector<proto::RolloutResult> ordered, match_results(pending_, results));
  const size_t g = phase_ / 2;
  const bool screening = phase_ % 2 == 0;
  if (screening) screened_.clear();
  for (const proto::RolloutResult& r : ordered) {
    proto::ArchiveEntry e;
    e.set_generation(r.generation());
    e.set_candidate(r.candidate());
    e.set_fitness(r.fitness());
    e.set_start_step(screening ? start_step(g) : screen_end(g));
    (screening ? screened_ : archive_).push_back(e);
    account(accounting_, r);
    if (!screening) consider_best(best_, r, config_.evo.steps);
  }
  if (!screening) screened_.clear();
  pending_.clear();
  ++phase_;
  return Status::Ok();
}

std::vector<proto::StateRef> LookaheadSearcher::live_states() const {
  std::vector<proto::StateRef> live;
  if (!done() && phase_ % 2 == 1) {  // only the screened children that will continue
    const size_t g = phase_ / 2;
    std::vector<double> fitness;
    for (const auto& e : screened_) fitness.push_back(e.fitness());
    for (size_t i : top_indices(fitness, static_cast<size_t>(config_.evo.population[g]))) {
      live.push_back(state_ref(screened_[i].generation(), screened_[i].candidate(), screen_end(g)));
    }
  }
  // Pools of the generations not screened yet: every rolled-out child at their start steps.
  for (size_t g = std::max<size_t>(1, (phase_ + 1) / 2); g < config_.evo.population.size(); ++g) {
    for (const proto::ArchiveEntry& e : archive_) live.push_back(state_ref(e.generation(), e.candidate(), start_step(g)));
  }
  if (best_.found()) live.push_back(best_.state());
  return live;
}

proto::SearcherSnapshot LookaheadSearcher::snapshot() const {
  proto::SearcherSnapshot s;
  s.set_method(method());
  s.set_generation(phase_);
  *s.mutable_accounting() = accounting_;
  *s.mutable_best() = best_;
  for (const auto& e : archive_) *s.add_archive() = e;
  for (const auto& e : screened_) *s.add_screened() = e;
  return s;
}

Status LookaheadSearcher::restore(const proto::SearcherSnapshot& s) {
  if (s.method() != method()) return InvalidArgument("snapshot is for method '" + s.method() + "', not " + method());
  if (s.generation() > generation_count()) return DataLoss("snapshot generation is out of range");
  if (s.generation() % 2 == 1 && s.screened_size() != config_.screened[s.generation() / 2]) {
    return DataLoss("snapshot holds " + std::to_string(s.screened_size()) + " screened children; expected " +
                    std::to_string(config_.screened[s.generation() / 2]));
  }
  phase_ = s.generation();
  accounting_ = s.accounting();
  best_ = s.best();
  archive_.assign(s.archive().begin(), s.archive().end());
  screened_.assign(s.screened().begin(), s.screened().end());
  pending_.clear();
  return Status::Ok();
}

}  // namespace evosearch
