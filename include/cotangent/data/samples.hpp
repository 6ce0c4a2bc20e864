#pragma once
// Where a dataset's samples come from: bytes of images (MNIST, CIFAR), tensors in memory (a
// user's own data, or a .npy file), a part of another set, or another set transformed. Every
// source fills batches on the host; fit moves each batch to the model's device.
//
//   auto x = io::read_npy("features.npy"), y = io::read_npy("labels.npy");
//   auto [training, test] = data::split(data::TensorSamples(x, y), 0.9);
//   data::Dataset dataset(training, test, /*batch_size=*/64);
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "cotangent/ops/ops.hpp"

namespace ct::detail {
/// splitmix64: x plus the golden-ratio increment, finalised so that every bit of x reaches
/// every bit of the result. Seeds the shuffles and keys the transforms' draws.
constexpr std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
}  // namespace ct::detail

namespace ct::data {

/// S4TF's LabeledData: a batch of samples [N, ...] and labels [N].
struct LabeledBatch {
  Tensor<float> data;
  Tensor<std::int32_t> label;
};

/// A batch while it is built on the host: the samples at `indices`, row-major in `values`
/// ([indices.size(), sample_shape...]), and their labels. `pass` keys random transforms: the same
/// pass and index always give the same sample, whatever batch or rank it lands in.
struct HostBatch {
  std::span<const std::int64_t> indices;
  std::uint64_t pass = 0;
  /// Set by Transformed for each transform in turn: random ones draw from their own streams
  /// above it, so two flips in one pipeline flip independently.
  std::uint64_t stream = 0;
  Shape sample_shape;
  std::vector<float> values;
  std::vector<std::int32_t> labels;
  std::int64_t size() const { return std::int64_t(indices.size()); }
};

/// A source of labeled samples, all of one shape.
class Samples {
 public:
  virtual ~Samples() = default;
  /// How many samples there are.
  virtual std::int64_t size() const = 0;
  /// The shape of one sample, e.g. [28, 28, 1].
  virtual Shape sample_shape() const = 0;
  /// Fills batch.values, batch.sample_shape and batch.labels for batch.indices (each in
  /// [0, size()), checked by the caller).
  virtual void read(HostBatch& batch) const = 0;

  /// The samples at `indices` as tensors on the CPU: IndexError for an index out of range.
  LabeledBatch batch(std::span<const std::int64_t> indices, std::uint64_t pass = 0) const;
  /// One sample [sample_shape...] and its label, for looking at.
  std::pair<Tensor<float>, std::int32_t> operator[](std::int64_t index) const;
};

/// Images kept as bytes [count, height, width, channels], converted per batch to floats in
/// [0, 1]; one int32 label each. What the built-in datasets hold.
struct ByteSamples : Samples {
  std::int64_t count = 0, height = 0, width = 0, channels = 0;
  std::vector<std::uint8_t> images;
  std::vector<std::int32_t> labels;

  ByteSamples() = default;
  ByteSamples(std::int64_t count, std::int64_t height, std::int64_t width, std::int64_t channels);
  std::int64_t size() const override { return count; }
  Shape sample_shape() const override { return {height, width, channels}; }
  void read(HostBatch& batch) const override;
  /// Keeps the first `n` samples (for quick runs).
  void truncate(std::int64_t n);
};

/// Samples held in memory as tensors: features [N, ...] of any real dtype (kept as float32) and
/// labels [N] of an integer dtype, each in [0, 2^31). A wrong rank, dtype or count, or a
/// negative or too large label, is refused here with its index, not halfway through a run.
class TensorSamples : public Samples {
 public:
  TensorSamples(const AnyTensor& features, const AnyTensor& labels);
  std::int64_t size() const override { return count_; }
  Shape sample_shape() const override { return sample_shape_; }
  void read(HostBatch& batch) const override;
  /// The largest label plus one: the classes a classifier of these samples needs at least.
  std::int64_t class_count() const;

 private:
  std::int64_t count_ = 0, sample_size_ = 0;
  Shape sample_shape_;
  std::vector<float> features_;
  std::vector<std::int32_t> labels_;
};

/// Some samples of another source, in a given order (the samples are not copied).
class Subset : public Samples {
 public:
  /// Samples `begin` to `begin + count - 1`.
  Subset(std::shared_ptr<const Samples> source, std::int64_t begin, std::int64_t count);
  /// The samples at `indices`, in that order; IndexError for one out of range.
  Subset(std::shared_ptr<const Samples> source, std::vector<std::int64_t> indices);
  std::int64_t size() const override { return std::int64_t(indices_.size()); }
  Shape sample_shape() const override { return source_->sample_shape(); }
  void read(HostBatch& batch) const override;

 private:
  std::shared_ptr<const Samples> source_;
  std::vector<std::int64_t> indices_;
};

/// The first `fraction` of the samples and the rest, e.g. a training and a held-out set; with a
/// `shuffle_seed`, of the samples in an order shuffled from it (for a source whose order means
/// something, such as a file sorted by class). ValueError unless 0 < fraction < 1 and both parts
/// have samples.
std::pair<std::shared_ptr<const Samples>, std::shared_ptr<const Samples>> split(
    std::shared_ptr<const Samples> source, double fraction,
    std::optional<std::uint64_t> shuffle_seed = std::nullopt);
template <std::derived_from<Samples> S>
auto split(S source, double fraction, std::optional<std::uint64_t> shuffle_seed = std::nullopt) {
  return split(std::make_shared<const S>(std::move(source)), fraction, shuffle_seed);
}

}  // namespace ct::data
