#pragma once
// Cumulative sums and products along an axis (S4TF's cumulativeSum and cumulativeProduct), with
// exclusive and reverse variants. Each is a Hillis-Steele scan: ⌈log₂ n⌉ rounds of "combine with
// the values shifted by 1, 2, 4, … steps", so it runs as a few padded adds or multiplies on any
// device, and its derivatives are those of the adds and multiplies: the product's gradient
// stays finite where the input has zeros (no division by the input, unlike exp(Σ log x)).
#include "cotangent/ops/shape.hpp"

namespace ct {

namespace detail {
/// x moved `steps` places along `axis`, the first `steps` filled with `fill`.
template <Numeric T>
Tensor<T> shifted(const Tensor<T>& x, std::int64_t steps, int axis, T fill) {
  std::vector<std::pair<std::int64_t, std::int64_t>> widths(std::size_t(x.rank()), {0, 0});
  widths[std::size_t(axis)] = {steps, 0};
  std::vector<Range> ranges(std::size_t(axis + 1));
  ranges[std::size_t(axis)] = Range{0, x.shape(axis)};
  return slice(pad(x, widths, PadMode::constant, fill), ranges);
}

/// The inclusive scan of `combine` (with identity `fill`), then the exclusive and reverse
/// variants from it.
template <Numeric T, class Combine>
Tensor<T> scan(const char* op, const Tensor<T>& x, int axis, bool exclusive, bool reverse, T fill,
               Combine combine) {
  CT_CHECK(x.rank() >= 1, "{}: a scalar has no axis to scan", op);
  axis = normalize_axis(axis, x.rank(), op);
  Tensor<T> y = reverse ? reversed(x, {axis}) : x;
  if (exclusive) y = shifted(y, 1, axis, fill);
  for (std::int64_t step = 1; step < y.shape(axis); step *= 2)
    y = combine(y, shifted(y, step, axis, fill));
  return reverse ? reversed(y, {axis}) : y;
}
}  // namespace detail

/// Running sums along `axis`: [a, b, c] -> [a, a + b, a + b + c]; exclusive: [0, a, a + b];
/// reverse: [a + b + c, b + c, c].
template <Numeric T>
Tensor<T> cumulative_sum(const Tensor<T>& x, int axis = 0, bool exclusive = false,
                         bool reverse = false) {
  return detail::scan("cumulative_sum", x, axis, exclusive, reverse, T(0),
                      [](const Tensor<T>& a, const Tensor<T>& b) { return a + b; });
}

/// Running products along `axis`: [a, b, c] -> [a, ab, abc]; exclusive: [1, a, ab]; reverse:
/// [abc, bc, c]. The gradient is finite at zeros.
template <Numeric T>
Tensor<T> cumulative_product(const Tensor<T>& x, int axis = 0, bool exclusive = false,
                             bool reverse = false) {
  return detail::scan("cumulative_product", x, axis, exclusive, reverse, T(1),
                      [](const Tensor<T>& a, const Tensor<T>& b) { return a * b; });
}

}  // namespace ct
