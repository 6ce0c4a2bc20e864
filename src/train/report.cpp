#include "cotangent/train/report.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cotangent/core/error.hpp"
#include "cotangent/data/files.hpp"

namespace ct::train {

namespace {
/// The width of the terminal on stderr (else $COLUMNS, else 80), at least 20.
int terminal_columns() {
  winsize size{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0)
    return std::max<int>(size.ws_col, 20);
  const char* columns = std::getenv("COLUMNS");
  int n = columns ? std::atoi(columns) : 0;
  return n > 0 ? std::max(n, 20) : 80;
}
}  // namespace

ProgressBar::ProgressBar(std::int64_t epoch, std::int64_t epochs, std::int64_t batches,
                         bool enabled)
    : epoch_(epoch),
      epochs_(epochs),
      batches_(batches),
      enabled_(enabled && isatty(STDERR_FILENO)),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

void ProgressBar::update(std::int64_t done, std::int64_t images, double running_loss) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (done < batches_ && now - last_ < std::chrono::milliseconds(200)) return;
  last_ = now;
  double elapsed = std::chrono::duration<double>(now - start_).count();
  double rate = elapsed > 0 ? double(images) / elapsed : 0;
  double left = done > 0 ? elapsed * double(batches_ - done) / double(done) : 0;
  // The bar takes what the numbers leave of the terminal's width, 10 to 30 columns; the line is
  // cut to the width, so that it never wraps (a wrapped line is not redrawn by \r).
  int columns = terminal_columns();
  int width = std::clamp(columns - 72, 10, 30);
  int filled = batches_ ? int(width * done / batches_) : width;
  std::ostringstream line;
  line << "Epoch " << epoch_ << "/" << epochs_ << " [" << std::string(filled, '=')
       << (filled < width ? ">" : "") << std::string(std::max(0, width - filled - 1), ' ') << "] "
       << done << "/" << batches_ << "  " << std::fixed << std::setprecision(0) << rate
       << " images/s  loss " << std::setprecision(4) << running_loss << "  " << std::setprecision(0)
       << left << " s left";
  std::string text = line.str().substr(0, std::size_t(columns - 1));
  std::cerr << '\r' << text << std::string(std::size_t(columns - 1) - text.size(), ' ')
            << std::flush;
}

void ProgressBar::finish() {
  if (enabled_)
    std::cerr << '\r' << std::string(std::size_t(terminal_columns() - 1), ' ') << '\r'
              << std::flush;
}

std::string describe(const EpochMetrics& m, std::int64_t epochs) {
  std::ostringstream s;
  s << std::fixed << "Epoch " << m.epoch << "/" << epochs << "  training loss "
    << std::setprecision(4) << m.training_loss << " accuracy " << std::setprecision(2)
    << 100 * m.training_accuracy << "%  test loss " << std::setprecision(4) << m.test_loss
    << " accuracy " << std::setprecision(2) << 100 * m.test_accuracy << "%  "
    << std::setprecision(1) << m.seconds << " s, " << std::setprecision(0) << m.images_per_second
    << " images/s";
  return s.str();
}

namespace {
/// A JSON number, or null where JSON has none (nan, inf).
std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  std::ostringstream out;
  out << std::setprecision(6) << v;
  return out.str();
}
/// A JSON string literal.
std::string json_string(const std::string& text) {
  std::ostringstream out;
  out << '"';
  for (unsigned char c : text) {
    if (c == '"' || c == '\\')
      out << '\\' << c;
    else if (c == '\n')
      out << "\\n";
    else if (c < 0x20)
      out << "\\u" << std::hex << std::setw(4) << std::setfill('0') << int(c) << std::dec;
    else
      out << c;
  }
  out << '"';
  return out.str();
}
}  // namespace

std::string metrics_csv(const std::vector<EpochMetrics>& metrics) {
  std::ostringstream csv;
  csv << "epoch,training_loss,training_accuracy,test_loss,test_accuracy,seconds,images_per_"
         "second,learning_rate\n";
  csv << std::setprecision(6);
  for (auto& m : metrics)
    csv << m.epoch << ',' << m.training_loss << ',' << m.training_accuracy << ',' << m.test_loss
        << ',' << m.test_accuracy << ',' << m.seconds << ',' << m.images_per_second << ','
        << m.learning_rate << '\n';
  return csv.str();
}

void write_reports(const std::filesystem::path& directory, const std::vector<EpochMetrics>& metrics,
                   const RunDescription& run, const EvaluationDetails* details,
                   const data::Samples* test) {
  std::string text = metrics_csv(metrics);
  data::write_file_atomically(directory / "metrics.csv", text.data(), text.size());
  double seconds = 0, images_per_second = 0;
  for (auto& m : metrics) seconds += m.seconds, images_per_second += m.images_per_second;

  std::size_t n = std::max<std::size_t>(metrics.size(), 1);
  bool any = !metrics.empty();
  const EpochMetrics last = any ? metrics.back() : EpochMetrics{};
  auto final_value = [&](double v) { return any ? json_number(v) : std::string("null"); };
  std::ostringstream json;
  json << "{\n"
       << "  \"status\": " << json_string(run.status) << ",\n";
  if (!run.message.empty()) json << "  \"message\": " << json_string(run.message) << ",\n";
  json << "  \"model\": " << json_string(run.model) << ",\n"
       << "  \"dataset\": " << json_string(run.dataset) << ",\n"
       << "  \"epochs\": " << metrics.size() << ",\n"
       << "  \"epochs_planned\": " << run.epochs_planned << ",\n"
       << "  \"batch_size\": " << run.batch_size << ",\n"
       << "  \"optimizer\": " << json_string(run.optimizer) << ",\n"
       << "  \"learning_rate\": " << json_number(run.learning_rate) << ",\n"
       << "  \"schedule\": " << json_string(run.schedule) << ",\n"
       << "  \"seed\": " << run.seed << ",\n"
       << "  \"final_test_accuracy\": " << final_value(last.test_accuracy) << ",\n"
       << "  \"final_test_loss\": " << final_value(last.test_loss) << ",\n"
       << "  \"final_training_loss\": " << final_value(last.training_loss) << ",\n"
       << "  \"seconds_per_epoch\": " << final_value(seconds / double(n)) << ",\n"
       << "  \"images_per_second\": " << final_value(images_per_second / double(n)) << "\n"
       << "}\n";
  text = json.str();
  data::write_file_atomically(directory / "summary.json", text.data(), text.size());
  write_html_report(directory / "report.html", metrics, run, details, test);
}

std::string encode_history(const std::vector<EpochMetrics>& metrics) {
  std::ostringstream out;
  out << std::hexfloat;
  for (auto& m : metrics)
    out << (&m == metrics.data() ? "" : ";") << m.epoch << ' ' << m.training_loss << ' '
        << m.training_accuracy << ' ' << m.test_loss << ' ' << m.test_accuracy << ' ' << m.seconds
        << ' ' << m.images_per_second << ' ' << m.learning_rate;
  return out.str();
}

std::vector<EpochMetrics> decode_history(const std::string& text) {
  std::vector<EpochMetrics> metrics;
  std::istringstream rows(text);
  std::string row;
  while (std::getline(rows, row, ';')) {
    std::istringstream in(row);
    EpochMetrics m;
    // The learning rate, last, came later: a history without it reads as 0.
    std::string fields[7];
    in >> m.epoch;
    for (int i = 0; i < 6; ++i) in >> fields[i];
    if (!(in >> fields[6])) in.clear();
    double* targets[7] = {&m.training_loss, &m.training_accuracy, &m.test_loss,    &m.test_accuracy,
                          &m.seconds,       &m.images_per_second, &m.learning_rate};
    for (int i = 0; i < 7; ++i) {
      if (i == 6 && fields[i].empty()) break;
      char* end = nullptr;
      *targets[i] = std::strtod(fields[i].c_str(), &end);  // reads hexadecimal floats exactly
      CT_CHECK_AS(ValueError, !fields[i].empty() && end && *end == 0,
                  "the run's history is malformed at '{}'", row);
    }
    CT_CHECK_AS(ValueError, !in.fail() && m.epoch > 0, "the run's history is malformed at '{}'",
                row);
    metrics.push_back(m);
  }
  return metrics;
}

}  // namespace ct::train
