#include "quality_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "paired_stats.h"

namespace evosearch::bench {
namespace {

double correlation(const std::vector<double>& x, const std::vector<double>& y) {
  double mx = 0, my = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    mx += x[i] / x.size();
    my += y[i] / y.size();
  }
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  return sxx > 0 && syy > 0 ? sxy / std::sqrt(sxx * syy) : 0;
}

std::string p_text(double p) {
  char text[32];
  std::snprintf(text, sizeof text, p < 0.001 ? "p=%.1e" : "p=%.3f", p);
  return text;
}

}  // namespace

bool ends_with(const std::string& text, const std::string& end) {
  return text.size() > end.size() && text.compare(text.size() - end.size(), end.size(), end) == 0;
}

const Row* same_kind(const std::vector<Row>& rows, const std::string& method, const std::string& row) {
  const size_t at = row.find('@');
  const std::string name = method + (at == std::string::npos ? "" : row.substr(at));
  for (const Row& r : rows) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

void print_climb_signal(const std::string& row, const std::vector<proto::JobResults>& runs) {
  const bool lookahead = runs[0].spec().search().method() == "evosearch-lookahead";
  const size_t per = lookahead ? 2 : 1;  // searcher generations per evolution generation
  const size_t kept = 2 * per;
  std::vector<double> climb, spread, level, later;
  for (const proto::JobResults& r : runs) {
    for (const proto::PromptOutcome& p : r.prompts()) {
      const auto& h = p.generations();
      if (static_cast<size_t>(h.size()) <= kept) return;
      climb.push_back(h[kept - 1].best_so_far() - h[kept - per - 1].best_so_far());
      std::vector<double> first(h[per - 1].fitness().begin(), h[per - 1].fitness().end());
      double mean = 0, var = 0;
      for (double f : first) mean += f / first.size();
      for (double f : first) var += (f - mean) * (f - mean) / first.size();
      spread.push_back(std::sqrt(var));
      level.push_back(h[kept - 1].best_so_far());
      later.push_back(h[h.size() - 1].best_so_far() - h[kept - 1].best_so_far());
    }
  }
  std::printf("    climb signal, %s: over %zu prompt-seeds, the rise after the second evolution generation goes with "
              "the rise in it at r = %.2f, with the spread of the first generation's rewards at r = %.2f, with the "
              "best reward reached by then at r = %.2f\n",
              row.c_str(), climb.size(), correlation(climb, later), correlation(spread, later), correlation(level, later));
}

void print_paired(const std::vector<Row>& rows, const std::vector<std::string>& references,
                  const std::vector<std::string>& metrics, int budget) {
  const auto compare = [](const Row& a, const Row& b, const std::string& m) {
    return compare_paired(a.per_prompt.at(m), b.per_prompt.at(m));
  };
  for (const std::string& reference : references) {
    const auto ref = std::find_if(rows.begin(), rows.end(), [&](const Row& r) { return r.name == reference; });
    if (ref == rows.end()) continue;
    for (const Row& other : rows) {
      if (&other == &*ref) continue;
      std::printf("    paired, %s vs %-18s", reference.c_str(), other.name.c_str());
      for (const auto& m : metrics) {
        const PairedComparison c = compare(*ref, other, m);
        std::printf("  %s %d/%d %+.4f %s %s", m.c_str(), c.wins, c.n, c.mean_difference, p_text(c.p_value).c_str(),
                    verdict(c).c_str());
      }
      std::printf("\n");
    }
    // The goal: above every other search method of its budget kind on the guidance reward and the
    // evaluator, and no worse than Best-of-N on the other metrics (from 20x); no worse than
    // Best-of-N on any metric (below 20x).
    std::vector<std::string> missed;
    const Row* best_of_n = same_kind(rows, "best-of-n", reference);
    for (const char* method : {"best-of-n", "evosearch", "particles", "lookahead"}) {
      const Row* other = same_kind(rows, method, reference);
      if (other == &*ref) continue;
      if (other == nullptr) {
        missed.push_back(std::string("no ") + method + " row");
        continue;
      }
      for (size_t i = 0; i < metrics.size(); ++i) {
        const std::string v = verdict(compare(*ref, *other, metrics[i]));
        const bool above_needed = budget >= 20 && i < 2;
        const bool not_worse_needed = other == best_of_n && (budget < 20 || i >= 2);
        if ((above_needed && v != "better") || (not_worse_needed && v == "worse")) {
          missed.push_back(other->name + " " + metrics[i] + " " + v);
        }
      }
    }
    std::string why;
    for (const auto& m : missed) why += (why.empty() ? " (" : "; ") + m;
    std::printf("    goal at %dx: %s %s%s\n", budget, reference.c_str(), missed.empty() ? "met" : "not met",
                missed.empty() ? "" : (why + ")").c_str());
  }
  int hacking = 0;
  for (const Row& r : rows) {
    const Row* best_of_n = same_kind(rows, "best-of-n", r.name);
    if (best_of_n == nullptr || best_of_n == &r || r.name == "none") continue;
    const PairedComparison guidance = compare(r, *best_of_n, metrics[0]);
    if (verdict(guidance) != "better") continue;
    for (size_t i = 1; i < metrics.size(); ++i) {
      const PairedComparison c = compare(r, *best_of_n, metrics[i]);
      if (verdict(c) != "worse") continue;
      ++hacking;
      std::printf("    reward hacking at %dx: %s raises %s over %s (%s) and lowers %s (%+.4f, %s)\n", budget,
                  r.name.c_str(), metrics[0].c_str(), best_of_n->name.c_str(), p_text(guidance.p_value).c_str(),
                  metrics[i].c_str(), c.mean_difference, p_text(c.p_value).c_str());
    }
  }
  if (hacking == 0) {
    std::printf("    reward hacking at %dx: none (no row above Best-of-N of its kind on %s and below it on another "
                "metric, p < 0.05)\n",
                budget, metrics[0].c_str());
  }
  // A suite budget against the same calls split evenly: the method's "@calls" row.
  for (const Row& r : rows) {
    if (!ends_with(r.name, "@suite")) continue;
    const Row* even = same_kind(rows, r.name.substr(0, r.name.find('@')), "@calls");
    if (even == nullptr) continue;
    std::printf("    suite budget at %dx: %s vs %s, model calls per prompt %.0f vs %.0f;", budget, r.name.c_str(),
                even->name.c_str(), r.calls, even->calls);
    for (const auto& m : metrics) {
      const PairedComparison c = compare(r, *even, m);
      double mean = 0, even_mean = 0;
      for (size_t p = 0; p < r.per_prompt.at(m).size(); ++p) {
        mean += r.per_prompt.at(m)[p] / r.per_prompt.at(m).size();
        even_mean += even->per_prompt.at(m)[p] / even->per_prompt.at(m).size();
      }
      std::printf("  %s %.4f vs %.4f %d/%d %s %s", m.c_str(), mean, even_mean, c.wins, c.n, p_text(c.p_value).c_str(),
                  verdict(c).c_str());
    }
    std::printf("\n");
  }
}

}  // namespace evosearch::bench
