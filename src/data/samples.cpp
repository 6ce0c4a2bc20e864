#include "cotangent/data/samples.hpp"

#include "cotangent/data/transforms.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

namespace ct::data {

namespace {
constexpr std::uint64_t kSplitStream = 0x5b1d;  // split's draws, apart from the transforms'
}  // namespace

LabeledBatch Samples::batch(std::span<const std::int64_t> indices, std::uint64_t pass) const {
  std::int64_t n = size();
  for (std::size_t i = 0; i < indices.size(); ++i)
    CT_CHECK_AS(IndexError, indices[i] >= 0 && indices[i] < n,
                "samples: index {} (at {} of the batch) is out of range for {} samples", indices[i],
                i, n);
  HostBatch b;
  b.indices = indices, b.pass = pass;
  read(b);
  std::int64_t rows = b.size(), sample = b.sample_shape.count();
  CT_CHECK(std::int64_t(b.values.size()) == rows * sample && std::int64_t(b.labels.size()) == rows,
           "samples: a source filled {} values and {} labels for {} samples of shape {}",
           b.values.size(), b.labels.size(), rows, b.sample_shape);
  // Built on the host, handed to the CPU backend in one copy; fit moves it to the model's device.
  Shape shape = b.sample_shape;
  shape.insert(0, rows);
  Backend& host = backend_for(Device::cpu());
  return {detail::wrap<float>(host.upload(b.values.data(), shape, DType::float32)),
          detail::wrap<std::int32_t>(host.upload(b.labels.data(), {rows}, DType::int32))};
}

std::pair<Tensor<float>, std::int32_t> Samples::operator[](std::int64_t index) const {
  LabeledBatch b = batch(std::span<const std::int64_t>(&index, 1));
  return {reshape(b.data, sample_shape()), b.label.scalars()[0]};  // host edge: host tensors
}

ByteSamples::ByteSamples(std::int64_t count, std::int64_t height, std::int64_t width,
                         std::int64_t channels)
    : count(count), height(height), width(width), channels(channels) {
  CT_CHECK_AS(ValueError, count >= 0 && height > 0 && width > 0 && channels > 0,
              "ByteSamples: {} images of {}x{}x{} is not a valid size", count, height, width,
              channels);
  images.resize(std::size_t(count * height * width * channels));
  labels.resize(std::size_t(count));
}

void ByteSamples::read(HostBatch& batch) const {
  CT_CHECK(std::int64_t(images.size()) == count * height * width * channels &&
               std::int64_t(labels.size()) == count,
           "ByteSamples: {} bytes and {} labels do not hold {} images of {}x{}x{}", images.size(),
           labels.size(), count, height, width, channels);
  std::int64_t pixels = height * width * channels, n = batch.size();
  batch.sample_shape = sample_shape();
  batch.values.resize(std::size_t(n * pixels));
  batch.labels.resize(std::size_t(n));
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t index = batch.indices[std::size_t(i)];
    batch.labels[std::size_t(i)] = labels[std::size_t(index)];
    const std::uint8_t* src = images.data() + index * pixels;
    float* dst = batch.values.data() + i * pixels;
    for (std::int64_t k = 0; k < pixels; ++k) dst[k] = float(src[k]) * (1.0f / 255.0f);
  }
}

void ByteSamples::truncate(std::int64_t n) {
  if (n < 0 || n >= count) return;
  count = n;
  images.resize(std::size_t(n * height * width * channels));
  labels.resize(std::size_t(n));
}

TensorSamples::TensorSamples(const AnyTensor& features, const AnyTensor& labels) {
  CT_CHECK_AS(ValueError, features.defined() && labels.defined(),
              "TensorSamples: the features and the labels must be defined tensors");
  CT_CHECK_AS(ShapeError, features.rank() >= 1,
              "TensorSamples: the features must be [N, ...] with one row per sample, not a scalar");
  CT_CHECK_AS(ShapeError, labels.rank() == 1,
              "TensorSamples: the labels must be [N], one per sample, not {}", labels.shape());
  CT_CHECK_AS(ShapeError, features.shape(0) == labels.shape(0),
              "TensorSamples: {} samples of features but {} labels", features.shape(0),
              labels.shape(0));
  CT_CHECK_AS(DTypeError, features.dtype() != DType::boolean,
              "TensorSamples: features of dtype bool; convert them to a number type first");
  CT_CHECK_AS(DTypeError, labels.dtype() == DType::int32 || labels.dtype() == DType::int64,
              "TensorSamples: labels must be class indices of dtype int32 or int64, not {}",
              labels.dtype());
  count_ = features.shape(0);
  sample_shape_ = features.shape();
  sample_shape_.erase(0);
  sample_size_ = sample_shape_.count();
  // Copied to the host once, as float32: batches are cut from here on every epoch.
  features_ = visit_dtype(features.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>)
      return std::vector<float>();  // refused above
    else
      return Tensor<float>(Tensor<T>(features)).scalars();  // host edge: kept on the host
  });
  for (std::size_t i = 0; i < features_.size(); ++i)
    CT_CHECK_AS(ValueError, std::isfinite(features_[i]),
                "TensorSamples: feature {} of sample {} is {} as float32; the data must be finite "
                "numbers within float32's range (about ±3.4e38)",
                std::int64_t(i) % std::max<std::int64_t>(sample_size_, 1),
                std::int64_t(i) / std::max<std::int64_t>(sample_size_, 1), features_[i]);
  auto check_labels = [&](const auto& values) {
    labels_.resize(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
      auto v = values[i];
      CT_CHECK_AS(ValueError, v >= 0,
                  "TensorSamples: label {} of sample {} is not a class index (0 or more)",
                  std::int64_t(v), i);
      CT_CHECK_AS(ValueError, std::int64_t(v) <= std::numeric_limits<std::int32_t>::max(),
                  "TensorSamples: label {} of sample {} is past the largest class index "
                  "(2^31 - 1)",
                  std::int64_t(v), i);
      labels_[i] = std::int32_t(v);
    }
  };
  if (labels.dtype() == DType::int32)
    check_labels(Tensor<std::int32_t>(labels).scalars());  // host edge: copied once
  else
    check_labels(Tensor<std::int64_t>(labels).scalars());  // host edge: copied once
}

void TensorSamples::read(HostBatch& batch) const {
  std::int64_t n = batch.size();
  batch.sample_shape = sample_shape_;
  batch.values.resize(std::size_t(n * sample_size_));
  batch.labels.resize(std::size_t(n));
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t index = batch.indices[std::size_t(i)];
    batch.labels[std::size_t(i)] = labels_[std::size_t(index)];
    std::memcpy(batch.values.data() + i * sample_size_, features_.data() + index * sample_size_,
                std::size_t(sample_size_) * sizeof(float));
  }
}

std::int64_t TensorSamples::class_count() const {
  return labels_.empty() ? 0 : std::int64_t(*std::max_element(labels_.begin(), labels_.end())) + 1;
}

Subset::Subset(std::shared_ptr<const Samples> source, std::int64_t begin, std::int64_t count)
    : source_(std::move(source)) {
  CT_CHECK_AS(ValueError, source_ != nullptr, "Subset: no source samples");
  CT_CHECK_AS(IndexError, begin >= 0 && count >= 0 && count <= source_->size() - begin,
              "Subset: samples {} to {} are out of range for {} samples", begin, begin + count - 1,
              source_->size());
  indices_.resize(std::size_t(count));
  std::iota(indices_.begin(), indices_.end(), begin);
}

Subset::Subset(std::shared_ptr<const Samples> source, std::vector<std::int64_t> indices)
    : source_(std::move(source)), indices_(std::move(indices)) {
  CT_CHECK_AS(ValueError, source_ != nullptr, "Subset: no source samples");
  for (std::size_t i = 0; i < indices_.size(); ++i)
    CT_CHECK_AS(IndexError, indices_[i] >= 0 && indices_[i] < source_->size(),
                "Subset: index {} (at {}) is out of range for {} samples", indices_[i], i,
                source_->size());
}

void Subset::read(HostBatch& batch) const {
  std::vector<std::int64_t> mapped(batch.indices.size());
  for (std::size_t i = 0; i < mapped.size(); ++i)
    mapped[i] = indices_[std::size_t(batch.indices[i])];
  // The source sees its own indices (so its random transforms key on them), then the batch
  // gets back the indices it asked with.
  std::span<const std::int64_t> mine = batch.indices;
  batch.indices = mapped;
  source_->read(batch);
  batch.indices = mine;
}

std::pair<std::shared_ptr<const Samples>, std::shared_ptr<const Samples>> split(
    std::shared_ptr<const Samples> source, double fraction,
    std::optional<std::uint64_t> shuffle_seed) {
  CT_CHECK_AS(ValueError, source != nullptr, "split: no source samples");
  CT_CHECK_AS(ValueError, fraction > 0 && fraction < 1,
              "split: the fraction must be between 0 and 1 (exclusive), not {}", fraction);
  std::int64_t n = source->size(), first = std::int64_t(std::llround(double(n) * fraction));
  CT_CHECK_AS(ValueError, first > 0 && first < n, "split: {} of {} samples leaves one part empty",
              fraction, n);
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  // Fisher-Yates over draws that depend only on the seed (std::shuffle's order differs between
  // standard libraries): one split for a seed, wherever the program was built.
  if (shuffle_seed)
    for (std::int64_t k = n - 1; k > 0; --k) {
      auto j = std::int64_t(sample_uniform(*shuffle_seed, k, kSplitStream) * double(k + 1));
      std::swap(order[std::size_t(k)], order[std::size_t(std::min(j, k))]);
    }
  return {std::make_shared<const Subset>(
              source, std::vector<std::int64_t>(order.begin(), order.begin() + first)),
          std::make_shared<const Subset>(
              source, std::vector<std::int64_t>(order.begin() + first, order.end()))};
}

}  // namespace ct::data
