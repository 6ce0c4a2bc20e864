#pragma once
// Callbacks for fit (S4TF's TrainingLoop callbacks): learning-rate schedules, early stopping on
// a monitored metric, a CSV log. Each is a Callback; a user's own is any lambda
// `[](train::Event event, train::LoopState& state) { ... }`.
//
//   train::EarlyStopping early({.monitor = train::Metric::test_loss, .patience = 3});
//   auto history = train::fit(model, optimizer, dataset,
//                             {.epochs = 30,
//                              .callbacks = {train::cosine_decay(0.1, 100), early,
//                                            train::csv_logger("run/log.csv")}});
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <string>

#include "cotangent/train/trainer.hpp"

namespace ct::train {

/// Sets the learning rate before every step to `rate(state)` (state.step() counts the steps).
Callback learning_rate_schedule(std::function<double(const LoopState&)> rate);

/// `base` reached by a linear warm-up over `warmup_steps`, then a cosine down to `floor` at the
/// last step of the planned epochs (Loshchilov and Hutter's SGDR without restarts).
Callback cosine_decay(double base, std::int64_t warmup_steps = 0, double floor = 0);

/// `base` times `factor` after every `every_epochs` epochs (Keras' step decay).
Callback step_decay(double base, double factor, std::int64_t every_epochs);

/// The metrics an epoch ends with, to monitor.
enum class Metric { training_loss, training_accuracy, test_loss, test_accuracy };

/// "test_loss" and the like; a ValueError naming the choices for anything else.
Metric metric_named(const std::string& name);
/// The name metric_named takes for `metric`: metric_name(Metric::test_loss) is "test_loss".
std::string metric_name(Metric metric);

/// What EarlyStopping watches and how long it waits for an improvement.
struct EarlyStoppingOptions {
  Metric monitor = Metric::test_loss;  // losses are minimised, accuracies maximised
  std::int64_t patience = 3;           // epochs without an improvement before stopping
  double min_delta = 0;                // the least change that counts as an improvement
};

/// Stops fit at the end of the epoch that makes `patience` epochs in a row without an
/// improvement of the monitored metric by more than min_delta. Copies share one state, so
/// the one passed to fit can be asked afterwards.
class EarlyStopping {
 public:
  explicit EarlyStopping(EarlyStoppingOptions options = {});
  void operator()(Event event, LoopState& state);
  /// Counts epochs trained before this fit (a resumed run's history) as if it had seen them,
  /// so that patience runs on from where the run stopped rather than from zero.
  void replay(const std::vector<EpochMetrics>& earlier);
  bool stopped() const { return state_->stopped; }
  double best() const { return state_->best; }
  std::int64_t best_epoch() const { return state_->best_epoch; }

 private:
  bool observe(const EpochMetrics& m, std::int64_t epoch);  // true when patience ran out
  struct State {
    EarlyStoppingOptions options;
    double best = std::numeric_limits<double>::quiet_NaN();
    std::int64_t best_epoch = 0, waited = 0;
    bool stopped = false;
  };
  std::shared_ptr<State> state_;
};

/// Rewrites `path` (atomically) at each epoch's end with a row per epoch: the epoch's metrics
/// and learning rate. Rank 0 writes when distributed.
Callback csv_logger(std::filesystem::path path);

/// Writes each epoch's metrics, learning rate and images/s as TensorBoard scalars (step: the
/// epoch) to an event file in `directory`, flushed at each epoch's end. Rank 0 writes.
Callback tensorboard_logger(std::filesystem::path directory);

}  // namespace ct::train
