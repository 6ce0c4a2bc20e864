#pragma once
// Making tensors: constants, ranges, identity, seeded random values and the standard
// initializers (Glorot, He).
#include <cmath>
#include <cstdint>
#include <vector>

#include "cotangent/ops/shape.hpp"

namespace ct {

/// A seeded random generator (xoshiro256**): the same seed gives the same tensors everywhere.
class Generator {
 public:
  explicit Generator(std::uint64_t seed = 0x5eed) { reseed(seed); }
  void reseed(std::uint64_t seed) {
    for (auto& s : state_) {  // splitmix64 fills the state from one number
      seed += 0x9e3779b97f4a7c15ULL;
      std::uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      s = z ^ (z >> 31);
    }
    spare_ = false;
  }
  std::uint64_t next() {
    auto rotl = [](std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); };
    std::uint64_t result = rotl(state_[1] * 5, 7) * 9, t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }
  /// Uniform in [0, 1).
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }
  /// Standard normal (Box-Muller, one spare kept).
  double normal() {
    if (spare_) {
      spare_ = false;
      return spare_value_;
    }
    double u1 = 1.0 - uniform(), u2 = uniform();
    double r = std::sqrt(-2.0 * std::log(u1));
    spare_value_ = r * std::sin(2 * M_PI * u2);
    spare_ = true;
    return r * std::cos(2 * M_PI * u2);
  }
  /// Uniform integer in [0, n).
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : next() % n; }

  /// The whole state, for checkpoints and exact resumption.
  std::array<std::uint64_t, 4> state() const { return state_; }
  void set_state(const std::array<std::uint64_t, 4>& s) {
    state_ = s;
    spare_ = false;
  }

 private:
  std::array<std::uint64_t, 4> state_{};
  bool spare_ = false;
  double spare_value_ = 0;
};

/// The generator used when none is passed (one per thread; reseed it for reproducible runs).
Generator& default_generator();

template <Scalar T>
Tensor<T> filled(const Shape& shape, std::type_identity_t<T> value, Device device = Device::cpu()) {
  return detail::wrap<T>(backend_for(device).fill(shape, dtype_of<T>, double(value)));
}
template <Scalar T>
Tensor<T> zeros(const Shape& shape, Device device = Device::cpu()) {
  return filled<T>(shape, T(0), device);
}
template <Scalar T>
Tensor<T> ones(const Shape& shape, Device device = Device::cpu()) {
  return filled<T>(shape, T(1), device);
}
template <Scalar T>
Tensor<T> zeros_like(const Tensor<T>& x) {
  return zeros<T>(x.shape(), x.device());
}
template <Scalar T>
Tensor<T> ones_like(const Tensor<T>& x) {
  return ones<T>(x.shape(), x.device());
}

/// start, start + step, … up to but excluding stop: arange<float>(0, 1, 0.25) -> [0, 0.25, 0.5,
/// 0.75].
template <Numeric T>
Tensor<T> arange(T start, T stop, T step = T(1)) {
  CT_CHECK_AS(ValueError, step != T(0), "arange: step is 0");
  double n = std::ceil((double(stop) - double(start)) / double(step));
  std::vector<T> v(n > 0 ? std::size_t(n) : 0);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = T(start + T(i) * step);
  return Tensor<T>(v, {std::int64_t(v.size())});
}

/// `count` evenly spaced values from start to stop inclusive.
template <FloatingPoint T>
Tensor<T> linspace(T start, T stop, std::int64_t count) {
  CT_CHECK_AS(ValueError, count >= 0, "linspace: negative count {}", count);
  std::vector<T> v(count);
  for (std::int64_t i = 0; i < count; ++i)
    v[i] = count == 1 ? start : T(start + (stop - start) * double(i) / double(count - 1));
  return Tensor<T>(v, {count});
}

/// The n×m identity matrix (m = n by default).
template <Scalar T>
Tensor<T> eye(std::int64_t n, std::int64_t m = -1) {
  if (m < 0) m = n;
  CT_CHECK_AS(ValueError, n >= 0, "eye: negative size {}", n);
  std::vector<T> v(Shape{n, m}.count(), T(0));
  for (std::int64_t i = 0; i < std::min(n, m); ++i) v[i * m + i] = T(1);
  return Tensor<T>(v, {n, m});
}

template <FloatingPoint T>
Tensor<T> random_uniform(const Shape& shape, T low = 0, T high = 1,
                         Generator& gen = default_generator()) {
  std::vector<T> v(shape.count());
  for (auto& x : v) x = T(low + (high - low) * gen.uniform());
  return Tensor<T>(v, shape);
}
template <FloatingPoint T>
Tensor<T> random_normal(const Shape& shape, T mean = 0, T stddev = 1,
                        Generator& gen = default_generator()) {
  std::vector<T> v(shape.count());
  for (auto& x : v) x = T(mean + stddev * gen.normal());
  return Tensor<T>(v, shape);
}
/// Normal values redrawn until within two standard deviations of the mean.
template <FloatingPoint T>
Tensor<T> truncated_normal(const Shape& shape, T mean = 0, T stddev = 1,
                           Generator& gen = default_generator()) {
  std::vector<T> v(shape.count());
  for (auto& x : v) {
    double z;
    do z = gen.normal();
    while (std::abs(z) > 2);
    x = T(mean + stddev * z);
  }
  return Tensor<T>(v, shape);
}

namespace detail {
/// Fan-in and fan-out of a weight shape: [in, out] or a filter [h, w, in, out].
inline std::pair<double, double> fans(const Shape& s) {
  CT_CHECK(s.rank() >= 2, "initializer: weight shape {} needs rank >= 2", s);
  double receptive = 1;
  for (int i = 0; i + 2 < s.rank(); ++i) receptive *= double(s[i]);
  return {double(s[s.rank() - 2]) * receptive, double(s[s.rank() - 1]) * receptive};
}
/// The standard deviation of a unit normal truncated at ±2: a truncated normal drawn with
/// stddev / this has the variance asked for (as TensorFlow's and S4TF's variance scaling).
inline constexpr double kTruncatedNormalStddev = 0.87962566103423978;
}  // namespace detail

template <FloatingPoint T>
Tensor<T> glorot_uniform(const Shape& shape, Generator& gen = default_generator()) {
  auto [in, out] = detail::fans(shape);
  T limit = T(std::sqrt(6.0 / (in + out)));
  return random_uniform<T>(shape, -limit, limit, gen);
}
template <FloatingPoint T>
Tensor<T> glorot_normal(const Shape& shape, Generator& gen = default_generator()) {
  auto [in, out] = detail::fans(shape);
  return truncated_normal<T>(shape, 0,
                             T(std::sqrt(2.0 / (in + out)) / detail::kTruncatedNormalStddev), gen);
}
template <FloatingPoint T>
Tensor<T> he_uniform(const Shape& shape, Generator& gen = default_generator()) {
  auto [in, out] = detail::fans(shape);
  T limit = T(std::sqrt(6.0 / in));
  return random_uniform<T>(shape, -limit, limit, gen);
}
template <FloatingPoint T>
Tensor<T> he_normal(const Shape& shape, Generator& gen = default_generator()) {
  auto [in, out] = detail::fans(shape);
  return truncated_normal<T>(shape, 0, T(std::sqrt(2.0 / in) / detail::kTruncatedNormalStddev),
                             gen);
}

// ---- Tensor members that read or make values --------------------------------------------

template <Scalar T>
Tensor<T>::Tensor(T scalar)
    : AnyTensor(backend_for(Device::cpu()).from_host(&scalar, {}, dtype_of<T>)) {}

template <Scalar T>
Tensor<T>::Tensor(std::initializer_list<T> values)
    : Tensor(std::vector<T>(values), Shape{std::int64_t(values.size())}) {}

template <Scalar T>
Tensor<T>::Tensor(const std::vector<T>& values, const Shape& shape) {
  CT_CHECK(std::int64_t(values.size()) == shape.count(),
           "Tensor: {} values for shape {} ({} elements)", values.size(), shape, shape.count());
  if constexpr (std::same_as<T, bool>) {
    std::vector<std::uint8_t> bytes(values.begin(), values.end());
    raw_ = backend_for(Device::cpu()).from_host(bytes.data(), shape, DType::boolean);
  } else {
    raw_ = backend_for(Device::cpu()).from_host(values.data(), shape, dtype_of<T>);
  }
}

template <Scalar T>
Tensor<T>::Tensor(AnyTensor any) : AnyTensor(std::move(any)) {
  CT_CHECK_AS(DTypeError, !defined() || dtype() == dtype_of<T>, "Tensor<{}>: the tensor holds {}",
              dtype_name(dtype_of<T>), dtype_name(dtype()));
}

template <Scalar T>
Tensor<T>::Tensor(const Tensor& other, Device device) : AnyTensor(other) {
  if (!other.defined() || other.device() == device) return;
  Tensor dense = contiguous(other);
  std::vector<T> host(dense.scalar_count());
  backend_for(other.device()).to_host(dense.raw(), host.data());
  raw_ = backend_for(device).from_host(host.data(), other.shape(), dtype_of<T>);
  node_ = nullptr;
}

template <Scalar T>
std::vector<T> Tensor<T>::scalars() const {
  CT_CHECK_AS(ValueError, defined(), "scalars: the tensor is undefined");
  Tensor dense = contiguous(*this);
  if constexpr (std::same_as<T, bool>) {
    std::vector<std::uint8_t> bytes(scalar_count());
    backend_for(device()).to_host(dense.raw(), bytes.data());
    return {bytes.begin(), bytes.end()};
  } else {
    std::vector<T> out(scalar_count());
    backend_for(device()).to_host(dense.raw(), out.data());
    return out;
  }
}

template <Scalar T>
T Tensor<T>::scalar() const {
  CT_CHECK_AS(ValueError, defined(),
              "scalar: the tensor is undefined (default-constructed or moved from): it holds no "
              "value");
  CT_CHECK(scalar_count() == 1, "scalar: tensor of shape {} holds {} values, not exactly one",
           shape(), scalar_count());
  return scalars()[0];
}

template <Scalar T>
T Tensor<T>::at(std::initializer_list<std::int64_t> index) const {
  CT_CHECK_AS(IndexError, int(index.size()) == rank(), "at: {} indices for shape {}", index.size(),
              shape());
  std::vector<Range> r;
  int axis = 0;
  for (auto i : index) {
    std::int64_t n = shape(axis++);
    CT_CHECK_AS(IndexError, i >= -n && i < n, "at: index {} out of range for axis of size {} in {}",
                i, n, shape());
    std::int64_t p = i < 0 ? i + n : i;
    r.push_back({p, p + 1});
  }
  return slice(*this, r).scalar();
}

template <FloatingPoint T>
bool all_close(const Tensor<T>& a, const Tensor<T>& b, double rtol, double atol) {
  if (!(a.shape() == b.shape())) return false;
  auto x = a.scalars(), y = b.scalars();
  for (std::size_t i = 0; i < x.size(); ++i)
    if (!(std::abs(double(x[i]) - double(y[i])) <= atol + rtol * std::abs(double(y[i]))))
      return false;
  return true;
}

}  // namespace ct
