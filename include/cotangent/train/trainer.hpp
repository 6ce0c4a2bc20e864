#pragma once
// The training loop of the talk, for any classifier model and optimizer: one minimize step
// (value_with_gradient and optimizer.update) on softmax_cross_entropy per batch, then test loss
// and accuracy per epoch. A non-finite loss stops it (Diverged); so does a stop request, after
// the batch in progress.
#include <cmath>
#include <functional>

#include "cotangent/data/datasets.hpp"
#include "cotangent/nn/context.hpp"
#include "cotangent/nn/losses.hpp"
#include "cotangent/optim/optimizers.hpp"
#include "cotangent/train/report.hpp"

namespace ct::train {

/// Where an epoch stands: batches done and the running sums its metrics come from.
struct EpochProgress {
  std::int64_t epoch = 0;  // 0-based
  std::int64_t batch = 0;  // batches done in this epoch
  double loss_sum = 0;
  std::int64_t correct = 0, seen = 0;
};

/// Training stopped because the loss is no longer a finite number.
struct Diverged : Error {
  using Error::Error;
};

struct FitOptions {
  std::int64_t epochs = 12;  // epochs in total, counting those already done
  EpochProgress start;       // to continue a run where a checkpoint left it
  bool progress = true;
  std::int64_t checkpoint_every = 0;  // call on_checkpoint every N batches (0: never)
  std::function<void(const EpochProgress&)> on_checkpoint;
  std::function<void(const EpochMetrics&)> on_epoch;  // after each epoch
  /// Asked before each batch; when it answers true, fit calls on_stop with the position reached
  /// (the batches done so far) and returns the epochs completed.
  std::function<bool()> stop_requested;
  std::function<void(const EpochProgress&)> on_stop;
};

/// Test loss and accuracy of `model` over the dataset's validation batches, in inference mode.
template <class Model>
std::pair<double, double> evaluate(const Model& model, const data::ImageDataset& dataset) {
  LearningPhaseScope inference(LearningPhase::inference);
  double loss_sum = 0;
  std::int64_t correct = 0, seen = 0;
  for (auto& [images, labels] : dataset.validation()) {
    auto logits = model(images);
    loss_sum += softmax_cross_entropy(logits, labels, Reduction::sum).scalar();
    auto predicted = argmax(logits, 1).scalars();
    auto truth = labels.scalars();
    for (std::size_t i = 0; i < truth.size(); ++i) correct += predicted[i] == truth[i];
    seen += std::int64_t(truth.size());
  }
  return {seen ? loss_sum / double(seen) : 0, seen ? double(correct) / double(seen) : 0};
}

/// Trains for options.epochs epochs; returns the metrics of each.
template <class Model, class Optimizer>
std::vector<EpochMetrics> fit(Model& model, Optimizer& optimizer, const data::ImageDataset& dataset,
                              const FitOptions& options = {}) {
  std::vector<EpochMetrics> history;
  std::int64_t first = options.start.epoch;
  for (auto& batches :
       dataset.training_epochs(std::max<std::int64_t>(options.epochs - first, 0), first)) {
    EpochMetrics m;
    m.epoch = first + std::int64_t(history.size()) + 1;
    bool resumed = history.empty() && options.start.batch > 0;
    EpochProgress p = resumed ? options.start : EpochProgress{m.epoch - 1};
    ProgressBar bar(m.epoch, options.epochs, batches.batch_count(), options.progress);
    auto start = std::chrono::steady_clock::now();
    double& loss_sum = p.loss_sum;
    std::int64_t &correct = p.correct, &seen = p.seen, &done = p.batch;
    std::int64_t seen_at_start = seen;
    {
      LearningPhaseScope training(LearningPhase::training);
      for (auto it = batches.begin_at(done); it != batches.end(); ++it) {
        if (options.stop_requested && options.stop_requested()) {
          bar.finish();
          if (options.on_stop) options.on_stop(p);
          return history;
        }
        auto& [images, labels] = *it;
        Tensor<float> logits;
        auto loss = minimize(optimizer, model, [&](const Model& m) {
          auto out = m(images);
          logits = without_derivative(out);  // keeps no recording alive past the step
          return softmax_cross_entropy(out, labels);
        });
        std::int64_t n = labels.shape(0);
        double value = double(loss.scalar());
        if (!std::isfinite(value)) {
          bar.finish();
          throw Diverged(detail::format(
              "training diverged: the loss is {} at epoch {}, batch {} of {}; the model is no "
              "longer usable (try a lower learning rate)",
              value, m.epoch, done + 1, batches.batch_count()));
        }
        loss_sum += value * double(n);
        auto predicted = argmax(logits, 1).scalars();
        auto truth = labels.scalars();
        for (std::int64_t i = 0; i < n; ++i) correct += predicted[i] == truth[i];
        seen += n;
        bar.update(++done, seen - seen_at_start, loss_sum / double(seen));
        if (options.checkpoint_every > 0 && options.on_checkpoint &&
            done % options.checkpoint_every == 0 && done < batches.batch_count())
          options.on_checkpoint(p);
      }
    }
    bar.finish();
    m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    m.training_loss = seen ? loss_sum / double(seen) : 0;
    m.training_accuracy = seen ? double(correct) / double(seen) : 0;
    m.images_per_second = m.seconds > 0 ? double(seen - seen_at_start) / m.seconds : 0;
    std::tie(m.test_loss, m.test_accuracy) = evaluate(model, dataset);
    history.push_back(m);
    if (options.on_epoch) options.on_epoch(m);
    if (options.checkpoint_every > 0 && options.on_checkpoint)
      options.on_checkpoint(EpochProgress{m.epoch});
  }
  return history;
}

}  // namespace ct::train
