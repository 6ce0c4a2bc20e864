// report.html: one self-contained page per run, drawn as inline SVG and HTML (no scripts, no
// fonts or styles from elsewhere), so it opens from disk anywhere, during the run too.
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <optional>
#include <sstream>

#include "cotangent/core/error.hpp"
#include "cotangent/data/datasets.hpp"
#include "cotangent/data/files.hpp"
#include "cotangent/io/png.hpp"
#include "cotangent/train/report.hpp"

namespace ct::train {

void EvaluationDetails::add(const std::vector<std::int32_t>& labels,
                            const std::vector<std::int64_t>& predicted, std::int64_t n_classes,
                            std::int64_t first) {
  CT_CHECK_AS(ValueError, labels.size() == predicted.size() && n_classes > 0,
              "evaluation details: {} labels and {} predictions over {} classes", labels.size(),
              predicted.size(), n_classes);
  if (classes == 0) {
    classes = n_classes;
    confusion.assign(std::size_t(classes * classes), 0);
  }
  CT_CHECK_AS(ValueError, n_classes == classes,
              "evaluation details: {} classes in one batch and {} in another", n_classes, classes);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    std::int64_t label = labels[i], guess = predicted[i];
    CT_CHECK_AS(ValueError, label >= 0 && label < classes && guess >= 0 && guess < classes,
                "evaluation details: test image {} has label {} and prediction {}, outside the "
                "{} classes",
                first + std::int64_t(i), label, guess, classes);
    ++confusion[std::size_t(label * classes + guess)];
    if (label != guess && mistakes.size() < max_mistakes)
      mistakes.push_back({first + std::int64_t(i), std::int32_t(label), std::int32_t(guess)});
  }
}

namespace {

std::string escaped(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string number(double v, int digits = 4) {
  if (!std::isfinite(v)) return "n/a";
  std::ostringstream out;
  out << std::setprecision(digits) << v;
  return out.str();
}

struct Series {
  std::string name, color;
  std::vector<double> values;  // one per epoch
};

// A line chart of per-epoch values: axes, a few labelled ticks, one polyline per series (a dot
// per epoch, so that a one-epoch run shows too) and a legend.
std::string chart(const std::string& title, const std::vector<EpochMetrics>& metrics,
                  const std::vector<Series>& series, bool percent) {
  constexpr double W = 460, H = 250, left = 56, right = 12, top = 30, bottom = 34;
  double lo = INFINITY, hi = -INFINITY;
  for (auto& s : series)
    for (double v : s.values)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  if (hi - lo < 1e-12)
    lo -= std::max(std::abs(lo) * 0.05, 1e-6), hi += std::max(std::abs(hi) * 0.05, 1e-6);
  double first = metrics.empty() ? 1 : double(metrics.front().epoch);
  double last = metrics.empty() ? 1 : double(metrics.back().epoch);
  double span = std::max(last - first, 1.0);
  auto x = [&](double epoch) { return left + (W - left - right) * (epoch - first) / span; };
  auto y = [&](double v) { return top + (H - top - bottom) * (hi - v) / (hi - lo); };
  auto label = [&](double v) { return percent ? number(100 * v, 3) + "%" : number(v, 3); };

  std::ostringstream svg;
  svg << std::setprecision(5);
  svg << "<svg class=\"chart\" viewBox=\"0 0 " << W << ' ' << H << "\" width=\"" << W
      << "\" height=\"" << H << "\" role=\"img\" aria-label=\"" << escaped(title) << "\">\n"
      << "<text x=\"" << left << "\" y=\"18\" class=\"title\">" << escaped(title) << "</text>\n"
      << "<line x1=\"" << left << "\" y1=\"" << H - bottom << "\" x2=\"" << W - right << "\" y2=\""
      << H - bottom << "\" class=\"axis\"/>\n"
      << "<line x1=\"" << left << "\" y1=\"" << top << "\" x2=\"" << left << "\" y2=\""
      << H - bottom << "\" class=\"axis\"/>\n";
  for (int i = 0; i <= 4; ++i) {
    double v = lo + (hi - lo) * i / 4;
    svg << "<line x1=\"" << left << "\" y1=\"" << y(v) << "\" x2=\"" << W - right << "\" y2=\""
        << y(v) << "\" class=\"grid\"/>"
        << "<text x=\"" << left - 4 << "\" y=\"" << y(v) + 4 << "\" class=\"tick\" "
        << "text-anchor=\"end\">" << label(v) << "</text>\n";
  }
  std::int64_t every = std::max<std::int64_t>(1, std::int64_t(std::ceil(span / 8)));
  for (auto& m : metrics)
    if ((m.epoch - std::int64_t(first)) % every == 0 || m.epoch == std::int64_t(last))
      svg << "<text x=\"" << x(double(m.epoch)) << "\" y=\"" << H - bottom + 16
          << "\" class=\"tick\" text-anchor=\"middle\">" << m.epoch << "</text>\n";
  svg << "<text x=\"" << (left + W - right) / 2 << "\" y=\"" << H - 4
      << "\" class=\"tick\" text-anchor=\"middle\">epoch</text>\n";
  double legend_x = W - right;
  for (auto it = series.rbegin(); it != series.rend(); ++it) {
    legend_x -= 8.0 * double(it->name.size()) + 24;
    svg << "<rect x=\"" << legend_x << "\" y=\"10\" width=\"10\" height=\"10\" fill=\"" << it->color
        << "\"/><text x=\"" << legend_x + 14 << "\" y=\"19\" class=\"tick\">" << escaped(it->name)
        << "</text>\n";
  }
  for (auto& s : series) {
    svg << "<polyline class=\"curve\" data-series=\"" << escaped(s.name) << "\" stroke=\""
        << s.color << "\" points=\"";
    for (std::size_t i = 0; i < s.values.size() && i < metrics.size(); ++i)
      if (std::isfinite(s.values[i]))
        svg << x(double(metrics[i].epoch)) << ',' << y(s.values[i]) << ' ';
    svg << "\"/>\n";
    for (std::size_t i = 0; i < s.values.size() && i < metrics.size(); ++i)
      if (std::isfinite(s.values[i]))
        svg << "<circle cx=\"" << x(double(metrics[i].epoch)) << "\" cy=\"" << y(s.values[i])
            << "\" r=\"2.5\" fill=\"" << s.color << "\"><title>epoch " << metrics[i].epoch << ": "
            << label(s.values[i]) << "</title></circle>\n";
  }
  svg << "</svg>\n";
  return svg.str();
}

std::vector<std::string> class_names(const std::string& dataset, std::int64_t classes) {
  static const std::vector<std::string> kFashion = {
      "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
      "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  std::vector<std::string> names;
  for (std::int64_t c = 0; c < classes; ++c)
    names.push_back(dataset == "fashion-mnist" && classes == 10 ? kFashion[std::size_t(c)]
                                                                : std::to_string(c));
  return names;
}

std::string confusion_table(const EvaluationDetails& d, const std::vector<std::string>& names) {
  std::ostringstream html;
  html << "<table class=\"confusion\"><tr><th>label \\ predicted</th>";
  for (auto& n : names) html << "<th>" << escaped(n) << "</th>";
  html << "<th>recall</th></tr>\n";
  for (std::int64_t r = 0; r < d.classes; ++r) {
    std::int64_t total = 0;
    for (std::int64_t c = 0; c < d.classes; ++c)
      total += d.confusion[std::size_t(r * d.classes + c)];
    html << "<tr><th>" << escaped(names[std::size_t(r)]) << "</th>";
    for (std::int64_t c = 0; c < d.classes; ++c) {
      std::int64_t n = d.confusion[std::size_t(r * d.classes + c)];
      double share = total ? double(n) / double(total) : 0;
      // Green along the diagonal, red off it, as strong as the share of the row.
      double alpha = r == c ? share : std::min(1.0, 4 * share);
      html << "<td style=\"background:rgba(" << (r == c ? "46,160,67," : "220,53,69,")
           << number(alpha, 3) << ")\">" << n << "</td>";
    }
    html << "<td>"
         << (total ? number(100.0 * double(d.confusion[std::size_t(r * d.classes + r)]) /
                                double(total),
                            3) +
                         "%"
                   : "n/a")
         << "</td></tr>\n";
  }
  html << "</table>\n";
  return html.str();
}

/// A sample as 8-bit pixels, when it is an image ([H, W] or [H, W, C] with 1 or 3 channels):
/// values in [0, 1] as they are (the built-in sets), anything else (normalised data) stretched
/// from its minimum to its maximum.
std::optional<std::vector<std::uint8_t>> sample_pixels(const data::Samples& samples,
                                                       std::int64_t index) {
  Shape s = samples.sample_shape();
  if (!(s.rank() == 2 || (s.rank() == 3 && (s[2] == 1 || s[2] == 3)))) return std::nullopt;
  auto values = samples[index].first.scalars();  // host edge: a host tensor
  if (values.empty()) return std::nullopt;
  auto [lo, hi] = std::minmax_element(values.begin(), values.end());
  float low = *lo >= 0 && *hi <= 1 ? 0.0f : *lo, high = *lo >= 0 && *hi <= 1 ? 1.0f : *hi;
  float scale = high > low ? 255.0f / (high - low) : 0.0f;
  std::vector<std::uint8_t> pixels(values.size());
  for (std::size_t i = 0; i < values.size(); ++i)
    pixels[i] = std::uint8_t(std::lround(std::clamp((values[i] - low) * scale, 0.0f, 255.0f)));
  return pixels;
}

std::string mistakes_grid(const EvaluationDetails& d, const data::Samples& test,
                          const std::vector<std::string>& names) {
  std::ostringstream html;
  html << "<div class=\"mistakes\">\n";
  Shape s = test.sample_shape();
  for (auto& m : d.mistakes) {
    if (m.index < 0 || m.index >= test.size()) continue;
    auto pixels = sample_pixels(test, m.index);
    if (!pixels) break;  // not images: the confusion matrix says it all
    std::int64_t height = s[0], width = s[1], channels = s.rank() == 3 ? s[2] : 1;
    auto png = io::encode_png(pixels->data(), width, height, int(channels));
    html << "<figure><img class=\"mistake\" alt=\"test image " << m.index
         << "\" src=\"data:image/png;base64," << io::base64(png) << "\" width=\"" << 2 * width
         << "\" height=\"" << 2 * height << "\"><figcaption>#" << m.index << "<br>"
         << escaped(names[std::size_t(m.label)]) << " &rarr; <b>"
         << escaped(names[std::size_t(m.predicted)]) << "</b></figcaption></figure>\n";
  }
  html << "</div>\n";
  return html.str();
}

constexpr const char* kStyle = R"(<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; background: #fff; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 24px 0 8px; }
.facts { color: #555; } .status { font-weight: bold; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
.chart { border: 1px solid #ddd; background: #fcfcfc; }
.chart .title { font-weight: bold; font-size: 13px; } .chart .tick { font-size: 11px; fill: #555; }
.chart .axis { stroke: #888; } .chart .grid { stroke: #eee; }
.chart .curve { fill: none; stroke-width: 2; }
table { border-collapse: collapse; } td, th { border: 1px solid #ddd; padding: 3px 7px; text-align: right; }
.mistakes { display: flex; flex-wrap: wrap; gap: 6px; }
figure { margin: 0; text-align: center; font-size: 11px; width: 76px; }
img.mistake { image-rendering: pixelated; border: 1px solid #ccc; }
</style>
)";

}  // namespace

void write_html_report(const std::filesystem::path& file, const std::vector<EpochMetrics>& metrics,
                       const RunDescription& run, const EvaluationDetails* details,
                       const data::Samples* test) {
  auto values = [&](double EpochMetrics::*field) {
    std::vector<double> out;
    for (auto& m : metrics) out.push_back(m.*field);
    return out;
  };
  std::ostringstream html;
  html << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
       << (run.status == "running" ? "<meta http-equiv=\"refresh\" content=\"10\">\n" : "")
       << "<title>cotangent: " << escaped(run.model) << " on " << escaped(run.dataset)
       << "</title>\n"
       << kStyle << "</head><body>\n"
       << "<h1>" << escaped(run.model) << " on " << escaped(run.dataset) << "</h1>\n"
       << "<p class=\"facts\"><span class=\"status\">" << escaped(run.status) << "</span>"
       << (run.message.empty() ? "" : ": " + escaped(run.message)) << " &middot; " << metrics.size()
       << " of " << run.epochs_planned << " epochs &middot; batch " << run.batch_size
       << " &middot; " << escaped(run.optimizer) << ", learning rate " << number(run.learning_rate)
       << " (" << escaped(run.schedule) << ") &middot; seed " << run.seed << "</p>\n";
  if (!metrics.empty()) {
    const EpochMetrics& last = metrics.back();
    html << "<p>Epoch " << last.epoch << ": test accuracy <b>" << number(100 * last.test_accuracy)
         << "%</b>, test loss " << number(last.test_loss) << ", training loss "
         << number(last.training_loss) << ", " << number(last.images_per_second, 5)
         << " images/s</p>\n";
  }
  html << "<h2>Curves</h2>\n<div class=\"charts\">\n"
       << chart("Loss", metrics,
                {{"training", "#1f77b4", values(&EpochMetrics::training_loss)},
                 {"test", "#ff7f0e", values(&EpochMetrics::test_loss)}},
                false)
       << chart("Accuracy", metrics,
                {{"training", "#1f77b4", values(&EpochMetrics::training_accuracy)},
                 {"test", "#ff7f0e", values(&EpochMetrics::test_accuracy)}},
                true)
       << chart("Learning rate", metrics,
                {{"at the epoch's end", "#2ca02c", values(&EpochMetrics::learning_rate)}}, false)
       << chart("Training speed (images/s)", metrics,
                {{"images/s", "#9467bd", values(&EpochMetrics::images_per_second)}}, false)
       << "</div>\n";
  if (details && details->classes > 0) {
    auto names = class_names(run.dataset, details->classes);
    html << "<h2>Confusion matrix (test set, last epoch)</h2>\n"
         << confusion_table(*details, names);
    if (test && !details->mistakes.empty())
      html << "<h2>Misclassified test images (the first " << details->mistakes.size()
           << "): label &rarr; <b>prediction</b></h2>\n"
           << mistakes_grid(*details, *test, names);
  }
  html << "</body></html>\n";
  std::string text = html.str();
  data::write_file_atomically(file, text.data(), text.size());
}

}  // namespace ct::train
