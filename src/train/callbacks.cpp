#include "cotangent/train/callbacks.hpp"

#include <cmath>
#include <numbers>

#include "cotangent/core/error.hpp"
#include "cotangent/data/files.hpp"
#include "cotangent/train/tensorboard.hpp"

namespace ct::train {

Callback learning_rate_schedule(std::function<double(const LoopState&)> rate) {
  CT_CHECK_AS(ValueError, bool(rate), "learning_rate_schedule: no function given");
  return [rate = std::move(rate)](Event event, LoopState& state) {
    if (event != Event::batch_start) return;
    double r = rate(state);
    CT_CHECK_AS(ValueError, std::isfinite(r) && r >= 0,
                "learning-rate schedule: a rate of {} at step {} (epoch {}); rates are finite and "
                "not negative",
                r, state.step(), state.epoch);
    state.learning_rate = r;
  };
}

Callback cosine_decay(double base, std::int64_t warmup_steps, double floor) {
  CT_CHECK_AS(ValueError,
              std::isfinite(base) && base > 0 && std::isfinite(floor) && floor >= 0 &&
                  floor <= base && warmup_steps >= 0,
              "cosine_decay: base {}, floor {} and warm-up {} steps: need 0 <= floor <= base, "
              "base > 0 and warm-up >= 0",
              base, floor, warmup_steps);
  return learning_rate_schedule([=](const LoopState& s) {
    double step = double(s.step()), total = double(s.epochs * s.batches);
    if (step < double(warmup_steps)) return base * (step + 1) / double(warmup_steps);
    double span = std::max(total - double(warmup_steps), 1.0);
    double done = std::min((step - double(warmup_steps)) / span, 1.0);
    return floor + (base - floor) * 0.5 * (1 + std::cos(std::numbers::pi * done));
  });
}

Callback step_decay(double base, double factor, std::int64_t every_epochs) {
  CT_CHECK_AS(
      ValueError,
      std::isfinite(base) && base > 0 && std::isfinite(factor) && factor > 0 && every_epochs >= 1,
      "step_decay: base {}, factor {}, every {} epochs: need positive numbers", base, factor,
      every_epochs);
  return learning_rate_schedule([=](const LoopState& s) {
    return base * std::pow(factor, double((s.epoch - 1) / every_epochs));
  });
}

namespace {
constexpr std::pair<Metric, const char*> kMetricNames[] = {
    {Metric::training_loss, "training_loss"},
    {Metric::training_accuracy, "training_accuracy"},
    {Metric::test_loss, "test_loss"},
    {Metric::test_accuracy, "test_accuracy"}};

double value_of(Metric metric, const EpochMetrics& m) {
  switch (metric) {
    case Metric::training_loss:
      return m.training_loss;
    case Metric::training_accuracy:
      return m.training_accuracy;
    case Metric::test_loss:
      return m.test_loss;
    case Metric::test_accuracy:
      return m.test_accuracy;
  }
  return m.test_loss;
}

bool minimised(Metric metric) {
  return metric == Metric::training_loss || metric == Metric::test_loss;
}
}  // namespace

Metric metric_named(const std::string& name) {
  for (auto& [metric, text] : kMetricNames)
    if (name == text) return metric;
  throw ValueError(ct::detail::format(
      "unknown metric '{}' (the metrics are training_loss, training_accuracy, test_loss and "
      "test_accuracy)",
      name));
}

std::string metric_name(Metric metric) {
  for (auto& [m, text] : kMetricNames)
    if (m == metric) return text;
  return "test_loss";
}

EarlyStopping::EarlyStopping(EarlyStoppingOptions options)
    : state_(std::make_shared<State>(State{options})) {
  CT_CHECK_AS(ValueError, options.patience >= 1,
              "early stopping: a patience of {} epochs; it is "
              "at least 1",
              options.patience);
  CT_CHECK_AS(ValueError, std::isfinite(options.min_delta) && options.min_delta >= 0,
              "early stopping: min_delta {} must be a number >= 0", options.min_delta);
}

bool EarlyStopping::observe(const EpochMetrics& m, std::int64_t epoch) {
  State& s = *state_;
  double value = value_of(s.options.monitor, m);
  bool lower = minimised(s.options.monitor);
  // A value that is not a number never improves (and never becomes the best).
  bool better =
      !std::isnan(value) && (std::isnan(s.best) || (lower ? value < s.best - s.options.min_delta
                                                          : value > s.best + s.options.min_delta));
  if (better) {
    s.best = value, s.best_epoch = epoch, s.waited = 0;
    return false;
  }
  return ++s.waited >= s.options.patience;
}

void EarlyStopping::operator()(Event event, LoopState& loop) {
  if (event != Event::epoch_end || !observe(loop.metrics, loop.epoch)) return;
  State& s = *state_;
  s.stopped = true;
  loop.stop = true;
  loop.stop_reason =
      ct::detail::format("early stopping: {} has not improved for {} epochs (best {} at epoch {})",
                         metric_name(s.options.monitor), s.waited, s.best, s.best_epoch);
}

void EarlyStopping::replay(const std::vector<EpochMetrics>& earlier) {
  for (const EpochMetrics& m : earlier) observe(m, m.epoch);
}

Callback csv_logger(std::filesystem::path path) {
  return [path = std::move(path)](Event event, LoopState& state) {
    if (event != Event::epoch_end || state.rank != 0 || !state.history) return;
    std::string text = metrics_csv(*state.history);
    data::write_file_atomically(path, text.data(), text.size());
  };
}

Callback tensorboard_logger(std::filesystem::path directory) {
  auto writer = std::make_shared<std::unique_ptr<TensorBoardWriter>>();
  return [directory = std::move(directory), writer](Event event, LoopState& state) {
    if (state.rank != 0) return;
    if (event == Event::fit_start && !*writer)
      *writer = std::make_unique<TensorBoardWriter>(directory);
    if (event != Event::epoch_end || !*writer) return;
    const EpochMetrics& m = state.metrics;
    TensorBoardWriter& w = **writer;
    w.scalar("loss/training", m.training_loss, m.epoch);
    w.scalar("loss/test", m.test_loss, m.epoch);
    w.scalar("accuracy/training", m.training_accuracy, m.epoch);
    w.scalar("accuracy/test", m.test_accuracy, m.epoch);
    w.scalar("learning_rate", m.learning_rate, m.epoch);
    w.scalar("images_per_second", m.images_per_second, m.epoch);
    w.flush();  // so that a TensorBoard watching the run sees each epoch as it ends
  };
}

}  // namespace ct::train
