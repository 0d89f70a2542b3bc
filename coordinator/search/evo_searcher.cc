#include "coordinator/search/evo_searcher.h"

#include <string>

#include "coordinator/search/selection.h"

namespace evosearch {

Status validate(const EvoSearchConfig& c) {
  const size_t n = c.evolution_steps.size();
  if (c.steps < 1) return InvalidArgument("steps: expected at least 1, got " + std::to_string(c.steps));
  if (c.population.size() != n + 1) {
    return InvalidArgument("population: expected " + std::to_string(n + 1) +
                           " numbers (k_init, then one per evolution step), got " + std::to_string(c.population.size()));
  }
  for (size_t i = 0; i < n; ++i) {
    const int s = c.evolution_steps[i];
    if (s < 0 || s >= c.steps) {
      return InvalidArgument("evolution_steps[" + std::to_string(i) + "]: " + std::to_string(s) +
                             " is out of range; expected 0.." + std::to_string(c.steps - 1));
    }
    if (i > 0 && s <= c.evolution_steps[i - 1]) {
      return InvalidArgument("evolution_steps: must be strictly increasing (" + std::to_string(c.evolution_steps[i - 1]) +
                             " then " + std::to_string(s) + ")");
    }
  }
  for (size_t i = 0; i < c.population.size(); ++i) {
    if (c.population[i] < 1) return InvalidArgument("population[" + std::to_string(i) + "]: expected at least 1");
  }
  if (c.elites < 0) return InvalidArgument("elites: expected 0 or more");
  for (size_t g = 1; g < c.population.size(); ++g) {
    if (c.elites >= c.population[g]) {
      return InvalidArgument("elites: " + std::to_string(c.elites) + " must be smaller than every generation's population (population[" +
                             std::to_string(g) + "] = " + std::to_string(c.population[g]) + ")");
    }
  }
  if (n > 0 && c.elites > c.population[0]) {
    return InvalidArgument("elites: more elites than the initial population (" + std::to_string(c.population[0]) + ")");
  }
  if (!(c.tournament_fraction > 0 && c.tournament_fraction <= 1)) {
    return InvalidArgument("tournament_fraction: expected a value in (0, 1]");
  }
  if (!(c.beta > 0 && c.beta < 1)) return InvalidArgument("beta: expected a value in (0, 1)");
  return Status::Ok();
}

int64_t evosearch_nfe(const EvoSearchConfig& c) {
  int64_t nfe = int64_t{c.population[0]} * c.steps;
  for (size_t g = 0; g < c.evolution_steps.size(); ++g) {
    nfe += int64_t{c.population[g + 1]} * (c.steps - c.evolution_steps[g]);
  }
  return nfe;
}

EvoSearcher::EvoSearcher(EvoSearchConfig config, SearchKey key) : config_(std::move(config)), key_(key) {}

std::vector<int> EvoSearcher::keep_steps(uint32_t g) const {
  // States at the schedule steps of later generations (g+1..n), and the final sample.
  std::vector<int> keep(config_.evolution_steps.begin() + g, config_.evolution_steps.end());
  keep.push_back(config_.steps);
  return keep;
}

std::vector<proto::ArchiveEntry> EvoSearcher::pool(uint32_t g) const {
  const int s = config_.evolution_steps[g - 1];
  std::vector<proto::ArchiveEntry> out;
  for (const proto::ArchiveEntry& e : archive_) {
    if (e.generation() < g && (e.start_step() < s || e.generation() == 0)) out.push_back(e);
  }
  return out;
}

std::vector<proto::RolloutTask> EvoSearcher::next_generation() {
  pending_.clear();
  if (done()) return pending_;
  const uint32_t g = generation_;
  const std::vector<int> keep = keep_steps(g);
  auto task = [&](uint32_t candidate, int start) {
    proto::RolloutTask t;
    t.set_generation(g);
    t.set_candidate(candidate);
    t.set_start_step(start);
    t.set_end_step(config_.steps);
    for (int k : keep) t.add_keep_steps(k);
    t.set_score(proto::SCORE_FINAL);
    return t;
  };
  if (g == 0) {
    for (int c = 0; c < config_.population[0]; ++c) pending_.push_back(task(c, 0));
    return pending_;
  }
  const int s = config_.evolution_steps[g - 1];
  const std::vector<proto::ArchiveEntry> members = pool(g);
  std::vector<double> fitness;
  for (const auto& e : members) fitness.push_back(e.fitness());
  const size_t elites = static_cast<size_t>(config_.elites);
  std::vector<size_t> parents = top_indices(fitness, elites);
  for (uint32_t c = static_cast<uint32_t>(parents.size()); c < static_cast<uint32_t>(config_.population[g]); ++c) {
    parents.push_back(tournament(fitness, config_.tournament_fraction,
                                 NoiseKey{key_.seed, key_.prompt, g, c, 0, kSelectionDraw}));
  }
  for (uint32_t c = 0; c < parents.size(); ++c) {
    proto::RolloutTask t = task(c, s);
    const proto::ArchiveEntry& parent = members[parents[c]];
    *t.mutable_parent() = state_ref(parent.generation(), parent.candidate(), s);
    if (c >= elites) {
      t.set_mutation(s == 0 ? proto::MUTATION_INTERPOLATE : proto::MUTATION_ADD_NOISE);
      t.set_beta(config_.beta);
    }
    pending_.push_back(std::move(t));
  }
  return pending_;
}

Status EvoSearcher::on_results(const std::vector<proto::RolloutResult>& results) {
  ASSIGN_OR_RETURN(const std::vector<proto::RolloutResult> ordered, match_results(pending_, results));
  for (const proto::RolloutResult& r : ordered) {
    proto::ArchiveEntry e;
    e.set_generation(r.generation());
    e.set_candidate(r.candidate());
    e.set_fitness(r.fitness());
    e.set_start_step(generation_ == 0 ? 0 : config_.evolution_steps[generation_ - 1]);
    archive_.push_back(e);
    account(accounting_, r);
    consider_best(best_, r, config_.steps);
  }
  // Entries whose states no later generation can select are only history: drop them.
  const int last = config_.evolution_steps.empty() ? -1 : config_.evolution_steps.back();
  std::vector<proto::ArchiveEntry> kept;
  for (const proto::ArchiveEntry& e : archive_) {
    if (e.start_step() < last || (e.generation() == 0 && last >= 0)) kept.push_back(e);
  }
  archive_.swap(kept);
  pending_.clear();
  ++generation_;
  return Status::Ok();
}

std::vector<proto::StateRef> EvoSearcher::live_states() const {
  std::vector<proto::StateRef> live;
  for (uint32_t g = std::max<uint32_t>(generation_, 1); g <= config_.evolution_steps.size(); ++g) {
    for (const proto::ArchiveEntry& e : pool(g)) {
      live.push_back(state_ref(e.generation(), e.candidate(), config_.evolution_steps[g - 1]));
    }
  }
  if (best_.found()) live.push_back(best_.state());
  return live;
}

void describe_evolution(const EvoSearchConfig& c, const std::string& population_doc, proto::MethodDescription& d) {
  add_setting(d, "Evolution steps", c.evolution_steps.empty() ? "none" : list_text(c.evolution_steps),
              "S: the sampler steps where a generation selects parents from the pool and mutates them");
  add_setting(d, "Population", list_text(c.population), population_doc);
  add_setting(d, "Elites", std::to_string(c.elites),
              "the fittest of the pool, copied unmutated into every later generation");
  add_setting(d, "Tournament fraction", number_text(c.tournament_fraction),
              "share of the pool each tournament draws; its fittest becomes a parent");
  add_setting(d, "Beta", number_text(c.beta),
              "mutation strength at step 0 (Eq. 7); later steps add the sampler's noise (Eq. 8)");
}

proto::MethodDescription EvoSearcher::describe() const {
  proto::MethodDescription d;
  d.set_method(method());
  d.set_title("EvoSearch");
  describe_evolution(config_,
                     "K = [k_init, k_1, ...]: children per generation, each rolled out to the last step", d);
  return d;
}

proto::SearcherSnapshot EvoSearcher::snapshot() const {
  proto::SearcherSnapshot s;
  s.set_method(method());
  s.set_generation(generation_);
  *s.mutable_accounting() = accounting_;
  *s.mutable_best() = best_;
  for (const auto& e : archive_) *s.add_archive() = e;
  return s;
}

Status EvoSearcher::restore(const proto::SearcherSnapshot& s) {
  if (s.method() != method()) return InvalidArgument("snapshot is for method '" + s.method() + "', not evosearch");
  if (s.generation() > config_.evolution_steps.size() + 1) return DataLoss("snapshot generation is out of range");
  generation_ = s.generation();
  accounting_ = s.accounting();
  best_ = s.best();
  archive_.assign(s.archive().begin(), s.archive().end());
  pending_.clear();
  return Status::Ok();
}

}  // namespace evosearch
