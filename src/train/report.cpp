#include "cotangent/train/report.hpp"

#include <unistd.h>

#include <cstdio>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cotangent/data/files.hpp"

namespace ct::train {

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
  constexpr int kWidth = 30;
  int filled = batches_ ? int(kWidth * done / batches_) : kWidth;
  std::ostringstream line;
  line << "\rEpoch " << epoch_ << "/" << epochs_ << " [" << std::string(filled, '=')
       << (filled < kWidth ? ">" : "") << std::string(std::max(0, kWidth - filled - 1), ' ') << "] "
       << done << "/" << batches_ << "  " << std::fixed << std::setprecision(0) << rate
       << " images/s  loss " << std::setprecision(4) << running_loss << "  " << std::setprecision(0)
       << left << " s left ";
  std::cerr << line.str() << std::flush;
}

void ProgressBar::finish() {
  if (enabled_) std::cerr << "\r" << std::string(100, ' ') << "\r" << std::flush;
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

void write_reports(const std::filesystem::path& directory, const std::vector<EpochMetrics>& metrics,
                   const std::string& model, const std::string& dataset, std::int64_t batch_size,
                   const std::string& optimizer, double learning_rate, std::uint64_t seed) {
  std::ostringstream csv;
  csv << "epoch,training_loss,training_accuracy,test_loss,test_accuracy,seconds,images_per_"
         "second\n";
  csv << std::setprecision(6);
  double seconds = 0, images_per_second = 0;
  for (auto& m : metrics) {
    csv << m.epoch << ',' << m.training_loss << ',' << m.training_accuracy << ',' << m.test_loss
        << ',' << m.test_accuracy << ',' << m.seconds << ',' << m.images_per_second << '\n';
    seconds += m.seconds;
    images_per_second += m.images_per_second;
  }
  std::string text = csv.str();
  data::write_file_atomically(directory / "metrics.csv", text.data(), text.size());

  std::size_t n = std::max<std::size_t>(metrics.size(), 1);
  const EpochMetrics last = metrics.empty() ? EpochMetrics{} : metrics.back();
  std::ostringstream json;
  json << std::setprecision(6) << "{\n"
       << "  \"model\": \"" << model << "\",\n"
       << "  \"dataset\": \"" << dataset << "\",\n"
       << "  \"epochs\": " << metrics.size() << ",\n"
       << "  \"batch_size\": " << batch_size << ",\n"
       << "  \"optimizer\": \"" << optimizer << "\",\n"
       << "  \"learning_rate\": " << learning_rate << ",\n"
       << "  \"seed\": " << seed << ",\n"
       << "  \"final_test_accuracy\": " << last.test_accuracy << ",\n"
       << "  \"final_test_loss\": " << last.test_loss << ",\n"
       << "  \"final_training_loss\": " << last.training_loss << ",\n"
       << "  \"seconds_per_epoch\": " << seconds / double(n) << ",\n"
       << "  \"images_per_second\": " << images_per_second / double(n) << "\n"
       << "}\n";
  text = json.str();
  data::write_file_atomically(directory / "summary.json", text.data(), text.size());
}

}  // namespace ct::train
