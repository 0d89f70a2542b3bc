// The report's fitness plot, drawn as plain SVG by the program: one prompt's search,
// generation by generation.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "evosearch/job.pb.h"

namespace evosearch::report {

struct FitnessPoint {
  uint32_t generation = 0;
  double value = 0;
  uint32_t candidate = 0;  // for candidate points: the index in the generation
};

struct FitnessSeries {
  std::vector<FitnessPoint> best;        // best-so-far, from the first generation that ended at the last step
  std::vector<FitnessPoint> mean;        // mean candidate fitness of every generation with candidates
  std::vector<FitnessPoint> candidates;  // every candidate
};

// The plotted series. Non-finite fitness values are left out. A generation that ended before
// the last step (a particle segment) has no final sample, so best-so-far starts at the first
// generation that reached the largest end_step of the history.
FitnessSeries fitness_series(const std::vector<proto::GenerationRecord>& generations);

// An SVG element (viewBox 420x220) with axes, ticks, labels and a legend: best-so-far as a
// solid line, the mean as a dashed line, candidates as dots. Every marker of the two lines
// carries data-g (generation) and data-v (value) and a tooltip. `y_label` names the reward.
// Empty when the series has no point.
std::string fitness_plot_svg(const FitnessSeries& series, const std::string& y_label);

}  // namespace evosearch::report
