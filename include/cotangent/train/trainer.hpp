#pragma once
// The training loop of the talk, for any classifier model and optimizer: one minimize step
// (value_with_gradient and optimizer.update) on softmax_cross_entropy per batch, then test loss
// and accuracy per epoch. A non-finite loss stops it (Diverged); so does a stop request, after
// the batch in progress.
#include <cmath>
#include <functional>

#include "cotangent/data/datasets.hpp"
#include "cotangent/distributed/data_parallel.hpp"
#include "cotangent/nn/context.hpp"
#include "cotangent/nn/losses.hpp"
#include "cotangent/nn/move.hpp"
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

/// The events of a run, in the order of S4TF's TrainingLoop: fit_start; per epoch
/// epoch_start, training_start, per batch (batch_start, update_start, update_end, batch_end),
/// training_end, validation_start, validation_end, epoch_end; fit_end last, after a stop too.
enum class Event {
  fit_start,
  epoch_start,
  training_start,
  batch_start,
  update_start,
  update_end,
  batch_end,
  training_end,
  validation_start,
  validation_end,
  epoch_end,
  fit_end
};

/// What a callback sees at each event, and what it may change.
struct LoopState {
  std::int64_t epoch = 0;    // 1-based: the epoch in progress
  std::int64_t epochs = 0;   // planned, counting those already done
  std::int64_t batch = 0;    // batches done in this epoch (at batch_end, counting this one)
  std::int64_t batches = 0;  // batches per epoch on this rank
  /// Steps since the run began (a resumed run counts on): epoch - 1 whole epochs, plus `batch`.
  std::int64_t step() const { return (epoch - 1) * batches + batch; }
  /// The optimizer's learning rate, given to it before each update: a schedule sets it.
  double learning_rate = 0;
  /// The epoch's mean training loss so far, as of the last read of the sums (every log_every
  /// batches: reading at every batch would make the device wait).
  double running_loss = 0;
  /// At validation_end and epoch_end: the epoch's metrics.
  EpochMetrics metrics;
  /// There too, with FitOptions::evaluation_details: the confusion matrix and mistakes.
  const EvaluationDetails* details = nullptr;
  const std::vector<EpochMetrics>* history = nullptr;  // the epochs completed in this fit
  int rank = 0;  // write files on rank 0 only when distributed
  /// Set by a callback: at epoch_end, fit returns after this epoch; elsewhere it stops after
  /// the batch in progress, as a stop request does (on_stop is called).
  bool stop = false;
  std::string stop_reason;
};

/// A callback: any callable taking the event and the loop's state, e.g. a lambda.
using Callback = std::function<void(Event, LoopState&)>;

/// How fit trains: epochs, logging, checkpoints, stopping, ranks and callbacks.
struct FitOptions {
  std::int64_t epochs = 12;  // epochs in total, counting those already done
  EpochProgress start;       // to continue a run where a checkpoint left it
  bool progress = true;
  /// Reads the loss and accuracy sums from the model's device every N batches (and at each
  /// epoch's end, checkpoint and stop): each read waits for the device, so a GPU or the lazy
  /// device runs ahead between them. A non-finite loss is noticed at the next read.
  std::int64_t log_every = 10;
  std::int64_t checkpoint_every = 0;  // call on_checkpoint every N batches (0: never)
  std::function<void(const EpochProgress&)> on_checkpoint;
  std::function<void(const EpochMetrics&)> on_epoch;  // after each epoch
  /// Asked before each batch; when it answers true, fit calls on_stop with the position reached
  /// (the batches done so far) and returns the epochs completed. With a group it is asked at
  /// each read of the sums instead, and all ranks stop together when any asked.
  std::function<bool()> stop_requested;
  std::function<void(const EpochProgress&)> on_stop;
  /// Data-parallel training: each rank of the group trains on its shard of every batch (the
  /// dataset's batch size is the global one, split evenly) and the ranks average gradients;
  /// losses and accuracies are summed over the ranks. Every rank must call fit alike.
  distributed::ProcessGroup* group = nullptr;
  /// Have each epoch's evaluation collect EvaluationDetails (for report.html) for callbacks.
  bool evaluation_details = false;
  /// Called at every event, in order (see Event; schedules, early stopping, logging).
  std::vector<Callback> callbacks;
};

namespace detail {
/// Loss and correct-guess sums kept on the model's device, added to the host's double sums only
/// when read: one wait per read instead of three per step.
class DeviceSums {
 public:
  explicit DeviceSums(Device device) : device_(device) { reset(); }

  void add(const Tensor<float>& logits, const Tensor<std::int32_t>& labels,
           const Tensor<float>& loss_sum) {
    loss_ = loss_ + loss_sum;
    correct_ =
        correct_ + sum(cast<std::int64_t>(equal(argmax(logits, 1), cast<std::int64_t>(labels))));
    pending_ = true;
  }
  /// Adds what the device holds to the host sums (a sync point) and starts again from zero.
  void read_into(double& loss_sum, std::int64_t& correct) {
    if (!pending_) return;
    loss_sum += double(loss_.scalar());  // host edge: once per log interval
    correct += correct_.scalar();        // host edge: once per log interval
    reset();
    pending_ = false;
  }

 private:
  // Zeros uploaded rather than filled: on the lazy device a fill is a node, and a step whose
  // sums start from a node is another graph than one whose sums start from data (one more
  // compile after every read).
  void reset() {
    loss_ = Tensor<float>(std::vector<float>{0}, {}, device_);
    correct_ = Tensor<std::int64_t>(std::vector<std::int64_t>{0}, {}, device_);
  }

  Device device_;
  Tensor<float> loss_;
  Tensor<std::int64_t> correct_;
  bool pending_ = false;
};
}  // namespace detail

/// Test loss and accuracy of `model` over the dataset's validation batches, in inference mode,
/// with one read from the model's device at the end. With `details`, also the confusion matrix
/// and the first misclassified images (the predictions are then read once per batch).
template <class Model>
std::pair<double, double> evaluate(const Model& model, const data::Dataset& dataset,
                                   EvaluationDetails* details = nullptr) {
  LearningPhaseScope inference(LearningPhase::inference);
  Device device = device_of(model);
  detail::DeviceSums sums(device);
  std::int64_t seen = 0;
  if (details) *details = EvaluationDetails{};
  for (auto& [host_images, host_labels] : dataset.validation()) {
    auto images = to(host_images, device);
    auto labels = to(host_labels, device);
    auto logits = model(images);
    sums.add(logits, labels, softmax_cross_entropy(logits, labels, Reduction::sum));
    lazy_tensor_barrier(device);  // one program per batch (a no-op on eager devices)
    if (details) {
      auto predicted = argmax(logits, 1).scalars();  // host edge: the report's predictions
      auto labels_read = host_labels.scalars();      // host edge: already a host tensor
      details->add(labels_read, predicted, logits.shape(1), seen);
    }
    seen += labels.shape(0);
  }
  double loss_sum = 0;
  std::int64_t correct = 0;
  sums.read_into(loss_sum, correct);
  return {seen ? loss_sum / double(seen) : 0, seen ? double(correct) / double(seen) : 0};
}

namespace detail {
template <class O>
concept HasLearningRate = requires(O& o) {
  o.options.learning_rate = 0.1;
};
}  // namespace detail

/// Trains for options.epochs epochs on the model's device; returns the metrics of each.
template <class Model, class Optimizer>
std::vector<EpochMetrics> fit(Model& model, Optimizer& optimizer, const data::Dataset& dataset,
                              const FitOptions& options = {}) {
  CT_CHECK_AS(ValueError, options.log_every >= 1, "fit: log_every must be at least 1, not {}",
              options.log_every);
  std::vector<EpochMetrics> history;
  Device device = device_of(model);
  std::int64_t first = options.start.epoch;
  LoopState state;
  state.epochs = options.epochs;
  state.history = &history;
  state.rank = options.group ? options.group->rank() : 0;
  if constexpr (detail::HasLearningRate<Optimizer>)
    state.learning_rate = optimizer.options.learning_rate;
  auto emit = [&](Event event) {
    for (const Callback& callback : options.callbacks) callback(event, state);
  };
  emit(Event::fit_start);
  // Distributed, a stop is agreed at the reads (any rank asked), so that every rank stops after
  // the same batch and their collectives stay paired.
  bool group_stop = false;
  auto asked_to_stop = [&] {
    return state.stop || (options.stop_requested && options.stop_requested());
  };
  for (auto& batches :
       dataset.training_epochs(std::max<std::int64_t>(options.epochs - first, 0), first)) {
    EpochMetrics m;
    m.epoch = first + std::int64_t(history.size()) + 1;
    bool resumed = history.empty() && options.start.batch > 0;
    EpochProgress p = resumed ? options.start : EpochProgress{m.epoch - 1};
    data::Epoch shard =
        options.group ? batches.shard(options.group->rank(), options.group->size()) : batches;
    ProgressBar bar(m.epoch, options.epochs, shard.batch_count(), options.progress);
    auto start = std::chrono::steady_clock::now();
    std::int64_t &seen = p.seen, &done = p.batch;
    std::int64_t seen_at_start = seen;
    detail::DeviceSums sums(device);
    state.epoch = m.epoch, state.batch = done, state.batches = shard.batch_count();
    state.running_loss = 0, state.metrics = EpochMetrics{};
    emit(Event::epoch_start);
    // Reads the device's sums; a non-finite loss means the run diverged.
    // Over all ranks when distributed: what this rank adds to the group's sums.
    double group_loss = 0, group_correct = 0, group_seen = 0;
    auto settle = [&] {
      sums.read_into(p.loss_sum, p.correct);
      group_loss = p.loss_sum, group_correct = double(p.correct), group_seen = double(seen);
      if (options.group) {
        // The host sums of all ranks, summed on the host: already read, so no device wait.
        double asked = asked_to_stop() ? 1 : 0;
        Tensor<double> mine({p.loss_sum, double(p.correct), double(seen), asked});
        auto all = options.group->allreduce(mine).scalars();  // host edge: a host tensor
        group_loss = all[0], group_correct = all[1], group_seen = all[2];
        group_stop = all[3] > 0;
      }
      if (!std::isfinite(group_loss)) {
        bar.finish();
        throw Diverged(ct::detail::format(
            "training diverged: the loss is {} by epoch {}, batch {} of {}; the model is no "
            "longer usable (try a lower learning rate)",
            group_loss, m.epoch, done, shard.batch_count()));
      }
      if (group_seen > 0) state.running_loss = group_loss / group_seen;
    };
    {
      LearningPhaseScope training(LearningPhase::training);
      emit(Event::training_start);
      for (auto it = shard.begin_at(done); it != shard.end(); ++it) {
        if (options.group ? group_stop : asked_to_stop()) {
          settle();
          bar.finish();
          if (options.on_stop) options.on_stop(p);
          emit(Event::fit_end);
          return history;
        }
        emit(Event::batch_start);
        auto& batch = *it;
        auto images = to(batch.data, device);
        auto labels = to(batch.label, device);
        Tensor<float> logits;
        auto loss_of = [&](const Model& m) {
          auto out = m(images);
          logits = without_derivative(out);  // keeps no recording alive past the step
          return softmax_cross_entropy(out, labels);
        };
        emit(Event::update_start);
        if constexpr (detail::HasLearningRate<Optimizer>)
          optimizer.options.learning_rate = state.learning_rate;
        Tensor<float> loss;
        if (options.group) {
          auto [value, gradient] = value_with_gradient(model, loss_of);
          optimizer.update(model, distributed::average_gradients(*options.group, gradient));
          loss = value;
        } else {
          loss = minimize(optimizer, model, loss_of);
        }
        // An optimizer with its own schedule (Scheduled) has just set the rate it used.
        if constexpr (detail::HasLearningRate<Optimizer>)
          state.learning_rate = optimizer.options.learning_rate;
        std::int64_t n = labels.shape(0);
        sums.add(logits, labels, loss * float(n));
        // The step (forward, backward, update, sums) as one program on the lazy device.
        lazy_tensor_barrier(device);
        seen += n;
        ++done;
        state.batch = done;
        emit(Event::update_end);
        bool checkpoint = options.checkpoint_every > 0 && options.on_checkpoint &&
                          done % options.checkpoint_every == 0 && done < shard.batch_count();
        if (done % options.log_every == 0 || checkpoint || done == shard.batch_count()) {
          settle();
          bar.update(done, seen - seen_at_start, group_loss / group_seen);
        }
        emit(Event::batch_end);
        if (checkpoint) options.on_checkpoint(p);
      }
    }
    settle();
    bar.finish();
    emit(Event::training_end);
    m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    m.training_loss = group_seen > 0 ? group_loss / group_seen : 0;
    m.training_accuracy = group_seen > 0 ? group_correct / group_seen : 0;
    m.learning_rate = state.learning_rate;
    double ranks = options.group ? double(options.group->size()) : 1;
    m.images_per_second = m.seconds > 0 ? ranks * double(seen - seen_at_start) / m.seconds : 0;
    emit(Event::validation_start);
    EvaluationDetails details;
    std::tie(m.test_loss, m.test_accuracy) =
        evaluate(model, dataset, options.evaluation_details ? &details : nullptr);
    state.metrics = m;
    state.details = options.evaluation_details ? &details : nullptr;
    emit(Event::validation_end);
    history.push_back(m);
    if (options.on_epoch) options.on_epoch(m);
    if (options.checkpoint_every > 0 && options.on_checkpoint)
      options.on_checkpoint(EpochProgress{m.epoch});
    emit(Event::epoch_end);
    state.details = nullptr;
    // A stop asked now (early stopping) ends the run after this epoch: on every rank if any
    // asked, so that a callback that runs on rank 0 alone cannot leave the others waiting.
    bool stop_now = state.stop;
    if (options.group) {
      Tensor<double> mine({stop_now ? 1.0 : 0.0});
      stop_now = options.group->allreduce(mine).scalars()[0] > 0;  // host edge: a host tensor
    }
    if (stop_now) break;
  }
  emit(Event::fit_end);
  return history;
}

}  // namespace ct::train
