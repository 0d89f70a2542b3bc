#include "report/report_svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "report/report_html.h"

namespace evosearch::report {
namespace {

constexpr double kWidth = 420, kHeight = 220;
constexpr double kLeft = 58, kRight = 14, kTop = 30, kBottom = 40;
constexpr double kInset = 12;  // keeps the first and last generation off the axes

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

// 1, 2, 2.5 or 5 times a power of ten, at least `raw`.
double nice_step(double raw) {
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (const double f : {1.0, 2.0, 2.5, 5.0}) {
    if (raw <= f * power * (1 + 1e-9)) return f * power;
  }
  return 10 * power;
}

struct Axis {
  double lo = 0, hi = 1, step = 1;
  int decimals = 0;
};

Axis value_axis(double lo, double hi) {
  if (hi - lo <= 1e-12 * std::max(1.0, std::fabs(hi))) {
    const double pad = std::max(std::fabs(hi) * 0.05, 1e-3);
    lo -= pad;
    hi += pad;
  }
  Axis a;
  a.step = nice_step((hi - lo) / 4);
  a.lo = std::floor(lo / a.step + 1e-9) * a.step;
  a.hi = std::ceil(hi / a.step - 1e-9) * a.step;
  const double digits = -std::floor(std::log10(a.step) + 1e-9);
  const bool half = std::fabs(a.step / std::pow(10.0, -digits) - 2.5) < 1e-6;  // 2.5 needs one more digit
  a.decimals = std::clamp(static_cast<int>(digits) + (half ? 1 : 0), 0, 8);
  return a;
}

std::string tick_label(double v, int decimals) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, std::fabs(v) < 1e-12 ? 0.0 : v);
  return buf;
}

}  // namespace

FitnessSeries fitness_series(const std::vector<proto::GenerationRecord>& generations) {
  FitnessSeries s;
  int last_step = 0;
  for (const auto& g : generations) last_step = std::max(last_step, g.end_step());
  bool reached_end = false;
  for (const auto& g : generations) {
    double sum = 0;
    int n = 0;
    for (int i = 0; i < g.fitness_size(); ++i) {
      const double f = g.fitness(i);
      if (!std::isfinite(f)) continue;
      s.candidates.push_back({g.generation(), f, static_cast<uint32_t>(i)});
      sum += f;
      ++n;
    }
    if (n > 0) s.mean.push_back({g.generation(), sum / n, 0});
    reached_end = reached_end || g.end_step() == last_step;
    if (reached_end && std::isfinite(g.best_so_far())) s.best.push_back({g.generation(), g.best_so_far(), 0});
  }
  return s;
}

std::string fitness_plot_svg(const FitnessSeries& series, const std::string& y_label) {
  std::vector<const FitnessPoint*> all;
  for (const auto* list : {&series.best, &series.mean, &series.candidates}) {
    for (const FitnessPoint& p : *list) all.push_back(&p);
  }
  if (all.empty()) return "";
  double lo = all[0]->value, hi = lo;
  uint32_t g_lo = all[0]->generation, g_hi = g_lo;
  for (const FitnessPoint* p : all) {
    lo = std::min(lo, p->value);
    hi = std::max(hi, p->value);
    g_lo = std::min(g_lo, p->generation);
    g_hi = std::max(g_hi, p->generation);
  }
  const Axis y = value_axis(lo, hi);
  const double plot_w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom;
  const double bottom = kTop + plot_h, right = kLeft + plot_w;
  const auto px = [&](uint32_t g) {
    if (g_hi == g_lo) return kLeft + plot_w / 2;
    return kLeft + kInset + (plot_w - 2 * kInset) * (g - g_lo) / static_cast<double>(g_hi - g_lo);
  };
  const auto py = [&](double v) { return bottom - plot_h * (v - y.lo) / (y.hi - y.lo); };

  const std::string label = escape_html(y_label);
  std::string svg = "<svg class=\"plot\" viewBox=\"0 0 " + num(kWidth) + " " + num(kHeight) +
                    "\" role=\"img\" aria-label=\"" + label + " per generation\">";
  // Horizontal grid lines with value ticks, then generation ticks.
  const int y_ticks = static_cast<int>(std::lround((y.hi - y.lo) / y.step));
  for (int i = 0; i <= y_ticks; ++i) {
    const double v = y.lo + i * y.step;
    svg += "<line class=\"grid\" x1=\"" + num(kLeft) + "\" x2=\"" + num(right) + "\" y1=\"" + num(py(v)) + "\" y2=\"" +
           num(py(v)) + "\"/><text class=\"tick\" x=\"" + num(kLeft - 6) + "\" y=\"" + num(py(v) + 4) +
           "\" text-anchor=\"end\">" + tick_label(v, y.decimals) + "</text>";
  }
  const uint32_t g_step = std::max<uint32_t>(1, (g_hi - g_lo + 10) / 10);
  for (uint32_t g = g_lo; g <= g_hi; g += g_step) {
    svg += "<line class=\"axis\" x1=\"" + num(px(g)) + "\" x2=\"" + num(px(g)) + "\" y1=\"" + num(bottom) + "\" y2=\"" +
           num(bottom + 4) + "\"/><text class=\"tick\" x=\"" + num(px(g)) + "\" y=\"" + num(bottom + 16) +
           "\" text-anchor=\"middle\">" + std::to_string(g) + "</text>";
  }
  svg += "<polyline class=\"axis\" points=\"" + num(kLeft) + "," + num(kTop) + " " + num(kLeft) + "," + num(bottom) +
         " " + num(right) + "," + num(bottom) + "\"/>";
  svg += "<text class=\"label\" x=\"" + num(kLeft + plot_w / 2) + "\" y=\"" + num(kHeight - 4) +
         "\" text-anchor=\"middle\">generation</text>";
  svg += "<text class=\"label\" transform=\"translate(14 " + num(kTop + plot_h / 2) +
         ") rotate(-90)\" text-anchor=\"middle\">" + label + "</text>";

  for (const FitnessPoint& p : series.candidates) {
    svg += "<circle class=\"cand\" cx=\"" + num(px(p.generation)) + "\" cy=\"" + num(py(p.value)) +
           "\" r=\"2.2\"><title>generation " + std::to_string(p.generation) + ", candidate " +
           std::to_string(p.candidate) + ": " + format_value(p.value) + "</title></circle>";
  }
  const auto line = [&](const std::vector<FitnessPoint>& points, const char* cls, const char* what) {
    if (points.empty()) return;
    svg += std::string("<polyline class=\"") + cls + "\" points=\"";
    for (size_t i = 0; i < points.size(); ++i) {
      svg += (i ? " " : "") + num(px(points[i].generation)) + "," + num(py(points[i].value));
    }
    svg += "\"/>";
    for (const FitnessPoint& p : points) {
      char value[32];
      std::snprintf(value, sizeof value, "%.17g", p.value);
      svg += std::string("<circle class=\"pt ") + cls + "\" data-g=\"" + std::to_string(p.generation) + "\" data-v=\"" +
             value + "\" cx=\"" + num(px(p.generation)) + "\" cy=\"" + num(py(p.value)) +
             "\" r=\"3.2\"><title>generation " + std::to_string(p.generation) + ": " + what + " " +
             format_value(p.value) + "</title></circle>";
    }
  };
  line(series.mean, "mean", "mean");
  line(series.best, "best", "best so far");

  // Legend along the top.
  const double ly = 14;
  svg += "<g class=\"legend\"><line class=\"best\" x1=\"" + num(kLeft) + "\" x2=\"" + num(kLeft + 18) + "\" y1=\"" +
         num(ly) + "\" y2=\"" + num(ly) + "\"/><text x=\"" + num(kLeft + 23) + "\" y=\"" + num(ly + 4) +
         "\">best so far</text><line class=\"mean\" x1=\"" + num(kLeft + 112) + "\" x2=\"" + num(kLeft + 130) +
         "\" y1=\"" + num(ly) + "\" y2=\"" + num(ly) + "\"/><text x=\"" + num(kLeft + 135) + "\" y=\"" + num(ly + 4) +
         "\">mean</text><circle class=\"cand\" cx=\"" + num(kLeft + 190) + "\" cy=\"" + num(ly) +
         "\" r=\"2.6\"/><text x=\"" + num(kLeft + 197) + "\" y=\"" + num(ly + 4) + "\">candidates</text></g>";
  svg += "</svg>";
  return svg;
}

}  // namespace evosearch::report
