#pragma once
// Transforms applied to each batch as it is built, on the host: normalisation and the usual
// augmentations. Random ones draw from the sample's index and the pass (fit's epoch), so an
// epoch sees the same augmented samples on a resumed run, at any batch size or number of ranks.
//
//   auto training = data::transformed(cifar.training_samples(),
//                                     {data::random_crop(32, 32, /*padding=*/4),
//                                      data::random_flip(), data::normalize(mean, stddev)});
#include <functional>
#include <string>

#include "cotangent/data/samples.hpp"

namespace ct::data {

/// One step of a pipeline: what it does to the shape of a sample, and what it does to a batch.
struct Transform {
  std::string name;                          // for error messages: "random_crop(24, 24)"
  std::function<Shape(const Shape&)> shape;  // a sample's shape after it; throws if unfit
  std::function<void(HostBatch&)> apply;
};

/// (x - mean[c]) / stddev[c] over the last axis (the channels of NHWC images); one value each
/// applies to every channel. ValueError for a non-positive or non-finite stddev, ShapeError when
/// the counts do not match the channels.
Transform normalize(std::vector<float> mean, std::vector<float> stddev);
/// A random `height`×`width` window of each [H, W, C] sample after zero-padding it by `padding`
/// on every side (the CIFAR augmentation: 32×32 padded by 4, cropped back to 32×32).
Transform random_crop(std::int64_t height, std::int64_t width, std::int64_t padding = 0);
/// Mirrors each [H, W, C] sample left to right with probability 1/2.
Transform random_flip();

/// `source` with `transforms` applied in order to each batch.
class Transformed : public Samples {
 public:
  Transformed(std::shared_ptr<const Samples> source, std::vector<Transform> transforms);
  std::int64_t size() const override { return source_->size(); }
  Shape sample_shape() const override { return shape_; }
  void read(HostBatch& batch) const override;

 private:
  std::shared_ptr<const Samples> source_;
  std::vector<Transform> transforms_;
  Shape shape_;
};

/// `source` with `transforms` applied, shared as Dataset and split take it (a Transformed).
inline std::shared_ptr<const Samples> transformed(std::shared_ptr<const Samples> source,
                                                  std::vector<Transform> transforms) {
  return std::make_shared<const Transformed>(std::move(source), std::move(transforms));
}

/// A uniform draw in [0, 1) that depends only on (pass, index, stream): the randomness of the
/// transforms above, for a user's own.
double sample_uniform(std::uint64_t pass, std::int64_t index, std::uint64_t stream);

}  // namespace ct::data
