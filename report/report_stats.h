// Summaries the report page shows: per-category means of every metric.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "evosearch/job.pb.h"

namespace evosearch::report {

// A prompt's categories: its category string split at ',', each part trimmed, empty parts
// dropped, repeats dropped, in order (a VBench prompt may list several dimensions).
std::vector<std::string> split_categories(const std::string& category);

struct CategoryMeans {
  std::string category;
  int prompts = 0;                     // prompts listing this category
  std::map<std::string, double> mean;  // per metric, over those of its prompts that have a score
};

// Mean of every metric per category, sorted by category. A prompt counts in each category it
// lists; prompts with none are left out, so the list is empty for a suite without categories.
std::vector<CategoryMeans> category_means(const proto::JobResults& results);

}  // namespace evosearch::report
