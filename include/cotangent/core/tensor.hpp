#pragma once
// Tensor<Scalar>: a value-semantic handle to immutable storage (S4TF's Tensor<Scalar>).
// Copies share storage; every op returns a new tensor, so a change to one never shows in another.
#include <memory>
#include <ostream>
#include <source_location>
#include <vector>

#include "cotangent/core/storage.hpp"

namespace ct {
namespace detail {
struct Node;
}
struct Range;

/// The untyped part of every tensor: a strided view and, while being differentiated, the
/// node of the recording that produced it.
class AnyTensor {
 public:
  AnyTensor() = default;
  explicit AnyTensor(RawTensor raw, std::shared_ptr<detail::Node> node = nullptr)
      : raw_(std::move(raw)), node_(std::move(node)) {}

  bool defined() const { return raw_.defined(); }
  const Shape& shape() const { return raw_.shape; }
  std::int64_t shape(int axis) const { return raw_.shape[normalize_axis(axis, rank(), "shape")]; }
  int rank() const { return raw_.rank(); }
  std::int64_t scalar_count() const { return raw_.count(); }
  DType dtype() const { return raw_.dtype; }
  Device device() const { return raw_.device; }

  const RawTensor& raw() const& { return raw_; }
  RawTensor raw() && { return std::move(raw_); }  // hands the view (and its buffer) over
  const std::shared_ptr<detail::Node>& node() const { return node_; }
  void set_node(std::shared_ptr<detail::Node> node) { node_ = std::move(node); }

 protected:
  RawTensor raw_;
  std::shared_ptr<detail::Node> node_;
};

/// A scalar type other than T (for conversions between tensor types).
template <class U, class T>
concept DifferentScalar = Scalar<U> && !std::same_as<U, T>;

/// A tensor of scalar type T (S4TF's Tensor<Scalar>): Tensor<float> x({1, 2, 3, 4}, {2, 2}).
template <Scalar T>
class Tensor : public AnyTensor {
 public:
  /// The scalar type: typename X::Scalar names T in generic code.
  using Scalar = T;

  /// An undefined tensor (no storage); every op on it throws. Layers use it for absent
  /// parameters, such as a Dense layer without bias.
  Tensor() = default;
  /// A 0-d tensor: Tensor<float>(2.5f).
  Tensor(T scalar);  // NOLINT(google-explicit-constructor): scalars mix with tensors freely
  /// A 1-d tensor: Tensor<float>{1, 2, 3}.
  Tensor(std::initializer_list<T> values);
  /// Values in row-major order: Tensor<float>({1, 2, 3, 4}, {2, 2}), on `device`.
  Tensor(const std::vector<T>& values, const Shape& shape, Device device = Device::cpu());
  /// Reinterprets an untyped tensor; throws DTypeError if its dtype is not T.
  explicit Tensor(AnyTensor any);
  /// Converts the scalar type: Tensor<float>(labels), S4TF's Tensor<Float>(intTensor).
  template <DifferentScalar<T> U>
  explicit Tensor(const Tensor<U>& other);
  /// The same values copied to `device`: S4TF's Tensor(copying:to:).
  Tensor(const Tensor& other, Device device);

  // Host reads wait for the device (an implicit barrier on the lazy device, counted against
  // `site`: the caller's line).
  /// All values in row-major order, copied to the host: S4TF's `scalars`.
  std::vector<T> scalars(std::source_location site = std::source_location::current()) const;
  /// The single value of a one-element tensor: S4TF's `scalarized()`.
  T scalar(std::source_location site = std::source_location::current()) const;
  /// The value at a full index: x.at({1, 2}).
  T at(std::initializer_list<std::int64_t> index,
       std::source_location site = std::source_location::current()) const;

  /// Index `i` along the first axis, which it removes: x[0] is the first row (S4TF's x[0]);
  /// negative counts from the end. IndexError out of range. Differentiable; a view of a
  /// contiguous tensor (of a transposed one, a copy).
  Tensor operator[](std::int64_t i) const;
  /// A range along the first axis, kept: x[{1, 3}] is rows 1 and 2 (S4TF's x[1..<3]); see
  /// slice() for more axes. A view; differentiable.
  Tensor operator[](const Range& range) const;

  // S4TF's method forms; each is the free function of the same meaning.
  Tensor reshaped(const Shape& shape) const;
  Tensor transposed() const;
  Tensor sum() const;
  Tensor mean() const;
  Tensor flattened() const;
  /// Feeds this tensor through `layers` in order: x.sequenced(conv, pool, dense).
  template <class... Layers>
  auto sequenced(const Layers&... layers) const;

  Tensor& operator+=(const Tensor& other);
  Tensor& operator-=(const Tensor& other);
  Tensor& operator*=(const Tensor& other);
  Tensor& operator/=(const Tensor& other);
};

/// Prints like NumPy and S4TF: `[[1.0, 2.0], [3.0, 4.0]]`, with large tensors summarized by `...`.
std::ostream& operator<<(std::ostream& out, const AnyTensor& x);
template <Scalar T>
std::ostream& operator<<(std::ostream& out, const Tensor<T>& x) {
  return out << static_cast<const AnyTensor&>(x);
}
/// The printed form as a string.
std::string to_string(const AnyTensor& x);

}  // namespace ct
