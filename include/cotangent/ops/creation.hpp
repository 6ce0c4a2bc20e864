#pragma once
// Making tensors: constants, ranges, identity, seeded random values and the standard
// initializers (Glorot, He).
#include <cmath>
#include <cstdint>
#include <vector>

#include "cotangent/backend/lazy.hpp"
#include "cotangent/ops/shape.hpp"

namespace ct {

/// A seeded, counter-based random generator: {seed, counter} on the host. Each draw reserves
/// the counters it uses (philox.hpp), so drawing on any device reads nothing back, and the same
/// seed gives the same values on every device.
class Generator {
 public:
  /// The seed and the next free counter: all a generator is, so equal states draw equal values.
  struct State {
    std::uint64_t seed = 0, counter = 0;
    friend bool operator==(const State&, const State&) = default;
  };

  explicit Generator(std::uint64_t seed = 0x5eed) { reseed(seed); }
  void reseed(std::uint64_t seed) { state_ = {seed, 0}; }

  /// The start of a draw of `counters` counters, which this generator then skips.
  Philox reserve(std::uint64_t counters) {
    Philox at{state_.seed, state_.counter};
    state_.counter += counters;
    return at;
  }
  /// 64 random bits (one counter).
  std::uint64_t next() {
    auto w = philox::block(state_.seed, state_.counter++);
    return (std::uint64_t(w[0]) << 32) | w[1];
  }
  /// Uniform in [0, 1).
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }
  /// Standard normal.
  double normal() { return philox::value<double>(Distribution::normal, reserve(1), 0); }
  /// Uniform integer in [0, n).
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : next() % n; }

  /// The whole state, for checkpoints and exact resumption.
  State state() const { return state_; }
  void set_state(State s) { state_ = s; }

 private:
  State state_;
};

/// The generator used when none is passed (one per thread; reseed it for reproducible runs).
Generator& default_generator();

/// A tensor of `shape` with every element `value`: filled<float>({2, 3}, 0.5f).
template <Scalar T>
Tensor<T> filled(const Shape& shape, std::type_identity_t<T> value, Device device = Device::cpu()) {
  return detail::wrap<T>(
      backend_for(device, Op::fill, dtype_of<T>).fill(shape, dtype_of<T>, double(value)));
}
/// A tensor of zeros: zeros<float>({64, 10}), or on a device, zeros<float>({3}, Device::cuda()).
template <Scalar T>
Tensor<T> zeros(const Shape& shape, Device device = Device::cpu()) {
  return filled<T>(shape, T(0), device);
}
/// A tensor of ones: ones<float>({3, 3}).
template <Scalar T>
Tensor<T> ones(const Shape& shape, Device device = Device::cpu()) {
  return filled<T>(shape, T(1), device);
}
/// Zeros of x's shape on x's device.
template <Scalar T>
Tensor<T> zeros_like(const Tensor<T>& x) {
  return zeros<T>(x.shape(), x.device());
}
/// Ones of x's shape on x's device.
template <Scalar T>
Tensor<T> ones_like(const Tensor<T>& x) {
  return ones<T>(x.shape(), x.device());
}

/// Each element's index along `axis`: iota<float>({2, 3}, 1) -> [[0, 1, 2], [0, 1, 2]].
template <Numeric T>
Tensor<T> iota(const Shape& shape, int axis, Device device = Device::cpu()) {
  axis = normalize_axis(axis, shape.rank(), "iota");
  return detail::wrap<T>(backend_for(device, Op::iota, dtype_of<T>).iota(shape, axis, dtype_of<T>));
}

/// start, start + step, … up to but excluding stop: arange<float>(0, 1, 0.25) -> [0, 0.25, 0.5,
/// 0.75].
template <Numeric T>
Tensor<T> arange(T start, T stop, T step = T(1), Device device = Device::cpu()) {
  CT_CHECK_AS(ValueError, step != T(0), "arange: step is 0");
  double n = std::ceil((double(stop) - double(start)) / double(step));
  CT_CHECK_AS(ValueError, !(n > double(std::int64_t(1) << 40)), "arange: {} values are too many",
              n);
  auto i = iota<T>({n > 0 ? std::int64_t(n) : 0}, 0, device);
  return step == T(1) && start == T(0) ? i : i * step + start;
}

/// `count` evenly spaced values from start to stop inclusive.
template <FloatingPoint T>
Tensor<T> linspace(T start, T stop, std::int64_t count, Device device = Device::cpu()) {
  CT_CHECK_AS(ValueError, count >= 0, "linspace: negative count {}", count);
  auto i = iota<T>({count}, 0, device);
  if (count <= 1) return i + start;
  // start + i·step, with the last value exactly stop.
  auto values = i * T((double(stop) - double(start)) / double(count - 1)) + start;
  return where(equal(i, T(count - 1)), filled<T>({count}, stop, device), values);
}

/// The n×m identity matrix (m = n by default).
template <Scalar T>
Tensor<T> eye(std::int64_t n, std::int64_t m = -1, Device device = Device::cpu()) {
  if (m < 0) m = n;
  CT_CHECK_AS(ValueError, n >= 0, "eye: negative size {}", n);
  auto diagonal =
      equal(iota<std::int64_t>({n, m}, 0, device), iota<std::int64_t>({n, m}, 1, device));
  if constexpr (std::same_as<T, bool>)
    return diagonal;
  else
    return cast<T>(diagonal);
}

namespace detail {
template <FloatingPoint T>
Tensor<T> draw(Distribution distribution, const Shape& shape, Generator& gen, Device device) {
  auto at = gen.reserve(philox::counters_for(distribution, std::uint64_t(shape.count()),
                                             dtype_of<T> == DType::float64));
  return wrap<T>(
      backend_for(device, Op::random, dtype_of<T>).random(distribution, shape, dtype_of<T>, at));
}
}  // namespace detail

/// Uniform values in [low, high) drawn from `gen`: random_uniform<float>({3, 3}, -1, 1).
template <FloatingPoint T>
Tensor<T> random_uniform(const Shape& shape, T low = 0, T high = 1,
                         Generator& gen = default_generator(), Device device = Device::cpu()) {
  auto u = detail::draw<T>(Distribution::uniform, shape, gen, device);
  return low == T(0) && high == T(1) ? u : u * (high - low) + low;
}
/// Normal values of the given mean and standard deviation, drawn from `gen`.
template <FloatingPoint T>
Tensor<T> random_normal(const Shape& shape, T mean = 0, T stddev = 1,
                        Generator& gen = default_generator(), Device device = Device::cpu()) {
  auto z = detail::draw<T>(Distribution::normal, shape, gen, device);
  return mean == T(0) && stddev == T(1) ? z : z * stddev + mean;
}
/// Normal values redrawn until within two standard deviations of the mean. Drawn on the host
/// (initializers run where the model is built) and then moved to `device`.
template <FloatingPoint T>
Tensor<T> truncated_normal(const Shape& shape, T mean = 0, T stddev = 1,
                           Generator& gen = default_generator(), Device device = Device::cpu()) {
  std::vector<T> v(shape.count());
  for (auto& x : v) {
    double z;
    do z = gen.normal();
    while (std::abs(z) > 2);
    x = T(mean + stddev * z);
  }
  return Tensor<T>(v, shape, device);
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

/// Glorot (Xavier) uniform initialization of a weight: U(±sqrt(6 / (fan_in + fan_out))).
template <FloatingPoint T>
Tensor<T> glorot_uniform(const Shape& shape, Generator& gen = default_generator()) {
  auto [in, out] = detail::fans(shape);
  T limit = T(std::sqrt(6.0 / (in + out)));
  return random_uniform<T>(shape, -limit, limit, gen);
}
/// Glorot normal initialization: truncated normal of variance 2 / (fan_in + fan_out).
template <FloatingPoint T>
Tensor<T> glorot_normal(const Shape& shape, Generator& gen = default_generator()) {
  auto [in, out] = detail::fans(shape);
  return truncated_normal<T>(shape, 0,
                             T(std::sqrt(2.0 / (in + out)) / detail::kTruncatedNormalStddev), gen);
}
/// He (Kaiming) uniform initialization, for ReLU layers: U(±sqrt(6 / fan_in)).
template <FloatingPoint T>
Tensor<T> he_uniform(const Shape& shape, Generator& gen = default_generator()) {
  auto [in, out] = detail::fans(shape);
  T limit = T(std::sqrt(6.0 / in));
  return random_uniform<T>(shape, -limit, limit, gen);
}
/// He normal initialization: truncated normal of variance 2 / fan_in.
template <FloatingPoint T>
Tensor<T> he_normal(const Shape& shape, Generator& gen = default_generator()) {
  auto [in, out] = detail::fans(shape);
  return truncated_normal<T>(shape, 0, T(std::sqrt(2.0 / in) / detail::kTruncatedNormalStddev),
                             gen);
}

/// LeCun uniform initialization, for SELU networks: U(±sqrt(3 / fan_in)), variance 1 / fan_in.
template <FloatingPoint T>
Tensor<T> lecun_uniform(const Shape& shape, Generator& gen = default_generator()) {
  auto [in, out] = detail::fans(shape);
  T limit = T(std::sqrt(3.0 / in));
  return random_uniform<T>(shape, -limit, limit, gen);
}
/// LeCun normal initialization: truncated normal of variance 1 / fan_in.
template <FloatingPoint T>
Tensor<T> lecun_normal(const Shape& shape, Generator& gen = default_generator()) {
  auto [in, out] = detail::fans(shape);
  return truncated_normal<T>(shape, 0, T(std::sqrt(1.0 / in) / detail::kTruncatedNormalStddev),
                             gen);
}

// ---- Tensor members that read or make values --------------------------------------------

template <Scalar T>
Tensor<T>::Tensor(T scalar) : Tensor(std::vector<T>{scalar}, Shape{}) {}

template <Scalar T>
Tensor<T>::Tensor(std::initializer_list<T> values)
    : Tensor(std::vector<T>(values), Shape{std::int64_t(values.size())}) {}

template <Scalar T>
Tensor<T>::Tensor(const std::vector<T>& values, const Shape& shape, Device device) {
  CT_CHECK(std::int64_t(values.size()) == shape.count(),
           "Tensor: {} values for shape {} ({} elements)", values.size(), shape, shape.count());
  Backend& backend = backend_for(device);
  if constexpr (std::same_as<T, bool>) {
    std::vector<std::uint8_t> bytes(values.begin(), values.end());
    raw_ = backend.upload(bytes.data(), shape, DType::boolean);
  } else {
    raw_ = backend.upload(values.data(), shape, dtype_of<T>);
  }
}

template <Scalar T>
Tensor<T>::Tensor(AnyTensor any) : AnyTensor(std::move(any)) {
  CT_CHECK_AS(DTypeError, !defined() || dtype() == dtype_of<T>, "Tensor<{}>: the tensor holds {}",
              dtype_name(dtype_of<T>), dtype_name(dtype()));
}

/// The same values on `device` (S4TF's Tensor(copying:to:)); the tensor itself when already
/// there. Not recorded: a copy between devices starts a new computation.
template <Scalar T>
Tensor<T> to(const Tensor<T>& x, Device device,
             std::source_location site = std::source_location::current()) {
  if (!x.defined() || x.device() == device) return x;
  return Tensor<T>(x.scalars(site), x.shape(), device);
}

template <Scalar T>
Tensor<T>::Tensor(const Tensor& other, Device device) : Tensor(to(other, device)) {}

/// Host reads happen here and nowhere else in ops/: each is a sync point of the device.
template <Scalar T>
std::vector<T> Tensor<T>::scalars(std::source_location site) const {
  CT_CHECK_AS(ValueError, defined(), "scalars: the tensor is undefined");
  Tensor dense = raw().is_contiguous() ? *this : contiguous(*this);
  Backend& backend = backend_for(device());
  detail::note_host_read_site(site);
  if constexpr (std::same_as<T, bool>) {
    std::vector<std::uint8_t> bytes(scalar_count());
    if (!bytes.empty()) backend.read(dense.raw(), bytes.data());
    return {bytes.begin(), bytes.end()};
  } else {
    std::vector<T> out(scalar_count());
    if (!out.empty()) backend.read(dense.raw(), out.data());
    return out;
  }
}

template <Scalar T>
T Tensor<T>::scalar(std::source_location site) const {
  CT_CHECK_AS(ValueError, defined(),
              "scalar: the tensor is undefined (default-constructed or moved from): it holds no "
              "value");
  CT_CHECK(scalar_count() == 1, "scalar: tensor of shape {} holds {} values, not exactly one",
           shape(), scalar_count());
  return scalars(site)[0];
}

template <Scalar T>
T Tensor<T>::at(std::initializer_list<std::int64_t> index, std::source_location site) const {
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
  return slice(*this, r).scalar(site);
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
