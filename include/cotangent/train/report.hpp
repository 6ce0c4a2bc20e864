#pragma once
// What a training run shows and leaves behind: a progress bar per epoch, one line per epoch,
// DIR/metrics.csv and DIR/summary.json (written atomically).
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace ct::data {
class Samples;
}

namespace ct::train {

/// One epoch's losses, accuracies, time and learning rate: a row of metrics.csv.
struct EpochMetrics {
  std::int64_t epoch = 0;  // 1-based
  double training_loss = 0, training_accuracy = 0;
  double test_loss = 0, test_accuracy = 0;
  double seconds = 0;            // training time of the epoch
  double images_per_second = 0;  // training throughput
  double learning_rate = 0;      // at the epoch's last step
};

/// What an evaluation got wrong: the confusion matrix and the first misclassified images.
struct EvaluationDetails {
  /// A misclassified test image: its index, its label and the class predicted.
  struct Mistake {
    std::int64_t index = 0;  // in the test set
    std::int32_t label = 0, predicted = 0;
  };
  std::int64_t classes = 0;
  std::vector<std::int64_t> confusion;  // classes x classes: row the label, column the guess
  std::vector<Mistake> mistakes;        // in test-set order, at most max_mistakes
  std::size_t max_mistakes = 36;
  /// Counts a batch whose first image is test image `first`.
  void add(const std::vector<std::int32_t>& labels, const std::vector<std::int64_t>& predicted,
           std::int64_t classes, std::int64_t first);
};

/// A one-line progress bar on a terminal: batches done, images/s, running loss, time left.
class ProgressBar {
 public:
  ProgressBar(std::int64_t epoch, std::int64_t epochs, std::int64_t batches, bool enabled);
  void update(std::int64_t done, std::int64_t images, double running_loss);
  void finish();

 private:
  std::int64_t epoch_, epochs_, batches_;
  bool enabled_;
  std::chrono::steady_clock::time_point start_, last_;
};

/// "Epoch 3/12  training loss 0.1234 accuracy 96.10%  test loss … accuracy …  12.3 s, 4870
/// images/s"
std::string describe(const EpochMetrics& m, std::int64_t epochs);

/// What a run was asked to do, and how it ended, for its summary.
struct RunDescription {
  std::string model, dataset, optimizer, schedule = "constant";
  std::int64_t batch_size = 0;
  double learning_rate = 0;
  std::uint64_t seed = 0;
  std::int64_t epochs_planned = 0;
  // "running", "completed", "stopped early", "interrupted" or "diverged"
  std::string status = "completed";
  std::string message;  // why it stopped, when it did not complete
};

/// report.html: a self-contained page (no scripts, no network) with SVG curves of the losses,
/// accuracies, learning rate and images/s per epoch, the confusion matrix and a grid of
/// misclassified test images (when `details` and `test` are given). It reloads itself every 10 s
/// while the run's status is "running". Written atomically.
void write_html_report(const std::filesystem::path& file, const std::vector<EpochMetrics>& metrics,
                       const RunDescription& run, const EvaluationDetails* details = nullptr,
                       const data::Samples* test = nullptr);

/// The text of metrics.csv: a header, then one row per epoch.
std::string metrics_csv(const std::vector<EpochMetrics>& metrics);

/// Writes metrics.csv (one row per epoch), summary.json and report.html (write_html_report)
/// into `directory`, each atomically.
/// A number that is not finite is written as null: the JSON stays valid.
void write_reports(const std::filesystem::path& directory, const std::vector<EpochMetrics>& metrics,
                   const RunDescription& run, const EvaluationDetails* details = nullptr,
                   const data::Samples* test = nullptr);

/// The metrics of each epoch as one line of exact (hexadecimal) numbers, and back: a checkpoint
/// carries its run's history this way, so a resumed run reports every epoch.
std::string encode_history(const std::vector<EpochMetrics>& metrics);
/// The metrics encode_history wrote; ValueError naming the first malformed row.
std::vector<EpochMetrics> decode_history(const std::string& text);

}  // namespace ct::train
