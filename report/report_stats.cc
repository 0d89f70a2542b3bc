#include "report/report_stats.h"

#include <algorithm>
#include <cctype>

namespace evosearch::report {

std::vector<std::string> split_categories(const std::string& category) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= category.size()) {
    size_t end = category.find(',', start);
    if (end == std::string::npos) end = category.size();
    size_t a = start, b = end;
    while (a < b && std::isspace(static_cast<unsigned char>(category[a]))) ++a;
    while (b > a && std::isspace(static_cast<unsigned char>(category[b - 1]))) --b;
    const std::string part = category.substr(a, b - a);
    // "a, a" counts the prompt once.
    if (!part.empty() && std::find(parts.begin(), parts.end(), part) == parts.end()) parts.push_back(part);
    start = end + 1;
  }
  return parts;
}

std::vector<CategoryMeans> category_means(const proto::JobResults& results) {
  struct Sums {
    int prompts = 0;
    std::map<std::string, std::pair<double, int>> metric;  // sum, count
  };
  std::map<std::string, Sums> by_category;
  for (const proto::PromptOutcome& p : results.prompts()) {
    for (const std::string& category : split_categories(p.category())) {
      Sums& s = by_category[category];
      ++s.prompts;
      for (const auto& [name, value] : p.scores()) {
        s.metric[name].first += value;
        ++s.metric[name].second;
      }
    }
  }
  std::vector<CategoryMeans> out;
  for (const auto& [category, sums] : by_category) {
    CategoryMeans c;
    c.category = category;
    c.prompts = sums.prompts;
    for (const auto& [name, sum_count] : sums.metric) c.mean[name] = sum_count.first / sum_count.second;
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace evosearch::report
