#pragma once
// Reductions over axes (all axes when none are given), with or without keeping the reduced
// axes as size-1 dimensions.
#include <algorithm>
#include <vector>

#include "cotangent/ops/shape.hpp"

namespace ct {

namespace detail {
/// The same values with no recording attached (a constant for every enclosing call).
template <Scalar T>
Tensor<T> without_node(Tensor<T> x) {
  x.set_node(nullptr);
  return x;
}

/// Sorted unique axes in [0, rank); all axes when `axes` is empty.
inline std::vector<int> reduction_axes(std::vector<int> axes, int rank, const char* op) {
  if (axes.empty()) {
    for (int i = 0; i < rank; ++i) axes.push_back(i);
    return axes;
  }
  for (int& a : axes) a = normalize_axis(a, rank, op);
  std::sort(axes.begin(), axes.end());
  CT_CHECK_AS(IndexError, std::adjacent_find(axes.begin(), axes.end()) == axes.end(),
              "{}: an axis repeats", op);
  return axes;
}
inline Shape kept_shape(const Shape& s, const std::vector<int>& axes) {
  Shape k = s;
  for (int a : axes) k[a] = 1;
  return k;
}
inline Shape squeezed_shape(const Shape& s, const std::vector<int>& axes) {
  Shape out;
  for (int i = 0; i < s.rank(); ++i)
    if (!std::binary_search(axes.begin(), axes.end(), i)) out.push_back(s[i]);
  return out;
}
template <Scalar Out, Scalar T>
Tensor<Out> reduce_raw(ReduceOp op, const Tensor<T>& x, const std::vector<int>& axes,
                       bool keep_dims, const char* name) {
  RawTensor r = backend_of(op_of(op), name, x).reduce(op, x.raw(), axes);
  if (!keep_dims) {
    Shape s = squeezed_shape(x.shape(), axes);
    r.shape = s;
    r.strides = contiguous_strides(s);
  }
  return wrap<Out>(std::move(r));
}
}  // namespace detail

/// Sum over `axes` (all when empty): sum(x, {0}), sum(x, {1}, /*keep_dims=*/true).
template <Numeric T>
Tensor<T> sum(const Tensor<T>& x, std::vector<int> axes = {}, bool keep_dims = false) {
  axes = detail::reduction_axes(std::move(axes), x.rank(), "sum");
  Tensor<T> y = detail::reduce_raw<T>(ReduceOp::sum, x, axes, keep_dims, "sum");
  if (detail::tracking(x))
    detail::record(y, {&x},
                   [from = x.shape(), kept = detail::kept_shape(x.shape(), axes)](
                       const AnyTensor& dy, const AnyTensor&) {
                     return detail::grads(broadcast_to(reshape(Tensor<T>(dy), kept), from));
                   });
  return y;
}
template <Scalar T>
Tensor<T> Tensor<T>::sum() const {
  return ct::sum(*this);
}

/// Sums a broadcast result back to `shape` (the adjoint of broadcasting).
template <Scalar T>
Tensor<T> sum_to(const Tensor<T>& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  int lead = x.rank() - shape.rank();
  CT_CHECK(lead >= 0, "sum_to: cannot reduce {} to {}", x.shape(), shape);
  std::vector<int> axes;
  for (int i = 0; i < x.rank(); ++i)
    if (i < lead || (shape[i - lead] == 1 && x.shape(i) != 1)) axes.push_back(i);
  Tensor<T> s = axes.empty() ? x : sum(x, axes, true);
  return reshape(s, shape);
}

/// Mean over `axes` (all when empty): mean(x, {1, 2}) of NHWC images is [N, C].
template <FloatingPoint T>
Tensor<T> mean(const Tensor<T>& x, std::vector<int> axes = {}, bool keep_dims = false) {
  axes = detail::reduction_axes(std::move(axes), x.rank(), "mean");
  std::int64_t n = 1;
  for (int a : axes) n *= x.shape(a);
  return sum(x, axes, keep_dims) / T(n);
}
template <Scalar T>
Tensor<T> Tensor<T>::mean() const {
  return ct::mean(*this);
}

namespace detail {
template <Numeric T>
Tensor<T> product_of_others(const Tensor<T>& x, const std::vector<int>& axes);
}

/// Product. Its derivative is the product of the other elements of the slice, computed without
/// dividing by x, so that it is exact with zeros (and so is its own derivative).
template <Numeric T>
Tensor<T> product(const Tensor<T>& x, std::vector<int> axes = {}, bool keep_dims = false) {
  axes = detail::reduction_axes(std::move(axes), x.rank(), "product");
  Tensor<T> y = detail::reduce_raw<T>(ReduceOp::product, x, axes, true, "product");
  if (detail::tracking(x))
    detail::record(y, {&x}, [x, axes](const AnyTensor& dy, const AnyTensor&) {
      return detail::grads(Tensor<T>(dy) * detail::product_of_others(x, axes));
    });
  return keep_dims ? y : reshape(y, detail::squeezed_shape(x.shape(), axes));
}

namespace detail {
/// For each element, the product of the other elements of its slice along `axes`. With z zeros
/// in a slice and P the product of its nonzero elements: z = 0 gives P / x; z = 1 gives P at
/// the zero and 0 elsewhere; z >= 2 gives 0. Its derivative, g_k = sum over i != k of
/// c_i * (product of the elements other than i and k), is written case by case the same way.
template <Numeric T>
Tensor<T> product_of_others(const Tensor<T>& x, const std::vector<int>& axes) {
  Tensor<bool> zero = equal(x, T(0));
  Tensor<T> nonzero = where(zero, ones_like(x), x);  // no zero: its own derivative divides
  Tensor<T> zeros_in_slice = without_node(sum(cast<T>(zero), axes, true));
  auto exactly = [&](T n) { return cast<T>(equal(zeros_in_slice, n)); };
  Tensor<T> p = product(nonzero, axes, true);
  Tensor<T> y = p * where(zero, exactly(1), exactly(0) / nonzero);
  if (tracking(x))
    record(
        y, {&x}, [axes, zero, nonzero, zeros_in_slice, p](const AnyTensor& dy, const AnyTensor&) {
          Tensor<T> c(dy), is_zero = cast<T>(zero), inverse = T(1) / nonzero;
          auto exactly = [&](T n) { return cast<T>(equal(zeros_in_slice, n)); };
          Tensor<T> over_nonzero = sum((T(1) - is_zero) * c * inverse, axes, true);  // Σ c_i / x_i
          Tensor<T> at_zeros = sum(is_zero * c, axes, true);  // Σ c_i, x_i = 0
          Tensor<T> g =
              where(zero, exactly(1) * over_nonzero + exactly(2) * (at_zeros - c),
                    inverse * (exactly(0) * (over_nonzero - c * inverse) + exactly(1) * at_zeros));
          return grads(p * g);
        });
  return y;
}
}  // namespace detail

namespace detail {
template <Numeric T>
Tensor<T> extremum(ReduceOp op, const char* name, const Tensor<T>& x, std::vector<int> axes,
                   bool keep_dims) {
  axes = reduction_axes(std::move(axes), x.rank(), name);
  for (int a : axes)
    CT_CHECK(x.shape(a) > 0, "{}: cannot reduce the empty axis {} of {}", name, a, x.shape());
  Tensor<T> y = reduce_raw<T>(op, x, axes, true, name);
  if (tracking(x))
    // Ties share the gradient equally, as in TensorFlow.
    record(
        y, {&x},
        [x, axes](const AnyTensor& dy, const AnyTensor& y) {
          Tensor<T> mask = cast<T>(equal(x, without_node(Tensor<T>(y))));
          return grads(Tensor<T>(dy) * mask / sum(mask, axes, true));
        },
        true);
  return keep_dims ? y : reshape(y, squeezed_shape(x.shape(), axes));
}
}  // namespace detail

/// Largest element over `axes` (all when empty); ties share the gradient equally.
template <Numeric T>
Tensor<T> max(const Tensor<T>& x, std::vector<int> axes = {}, bool keep_dims = false) {
  return detail::extremum(ReduceOp::max, "max", x, std::move(axes), keep_dims);
}
/// Smallest element over `axes` (all when empty); ties share the gradient equally.
template <Numeric T>
Tensor<T> min(const Tensor<T>& x, std::vector<int> axes = {}, bool keep_dims = false) {
  return detail::extremum(ReduceOp::min, "min", x, std::move(axes), keep_dims);
}

/// Index of the largest element along `axis` (first on ties), as int64.
template <Numeric T>
Tensor<std::int64_t> argmax(const Tensor<T>& x, int axis = -1, bool keep_dims = false) {
  std::vector<int> axes{normalize_axis(axis, x.rank(), "argmax")};
  CT_CHECK(x.shape(axes[0]) > 0, "argmax: axis {} of {} is empty", axes[0], x.shape());
  return detail::reduce_raw<std::int64_t>(ReduceOp::argmax, x, axes, keep_dims, "argmax");
}
/// Index of the smallest element along `axis` (first on ties), as int64.
template <Numeric T>
Tensor<std::int64_t> argmin(const Tensor<T>& x, int axis = -1, bool keep_dims = false) {
  std::vector<int> axes{normalize_axis(axis, x.rank(), "argmin")};
  CT_CHECK(x.shape(axes[0]) > 0, "argmin: axis {} of {} is empty", axes[0], x.shape());
  return detail::reduce_raw<std::int64_t>(ReduceOp::argmin, x, axes, keep_dims, "argmin");
}

/// Whether any element over `axes` (all when empty) is true.
inline Tensor<bool> any(const Tensor<bool>& x, std::vector<int> axes = {}, bool keep_dims = false) {
  return detail::reduce_raw<bool>(
      ReduceOp::any, x, detail::reduction_axes(std::move(axes), x.rank(), "any"), keep_dims, "any");
}
/// Whether every element over `axes` (all when empty) is true.
inline Tensor<bool> all(const Tensor<bool>& x, std::vector<int> axes = {}, bool keep_dims = false) {
  return detail::reduce_raw<bool>(
      ReduceOp::all, x, detail::reduction_axes(std::move(axes), x.rank(), "all"), keep_dims, "all");
}

/// The mean and the population variance over `axes` in one call (S4TF's moments).
template <FloatingPoint T>
std::pair<Tensor<T>, Tensor<T>> moments(const Tensor<T>& x, std::vector<int> axes = {},
                                        bool keep_dims = false) {
  auto m = mean(x, axes, true);
  auto v = mean(square(x - m), axes, keep_dims);
  return {keep_dims ? m : mean(x, axes, false), v};
}

/// Σxy / (‖x‖·‖y‖) over all elements (S4TF's cosineSimilarity); cosine_distance is 1 minus it.
template <FloatingPoint T>
Tensor<T> cosine_similarity(const Tensor<T>& x, const Tensor<T>& y) {
  CT_CHECK(x.shape() == y.shape(), "cosine_similarity: shapes {} and {} differ", x.shape(),
           y.shape());
  return sum(x * y) / (sqrt(sum(square(x))) * sqrt(sum(square(y))));
}
/// 1 - cosine_similarity(x, y): 0 for tensors pointing the same way, 2 for opposite ones.
template <FloatingPoint T>
Tensor<T> cosine_distance(const Tensor<T>& x, const Tensor<T>& y) {
  return T(1) - cosine_similarity(x, y);
}

/// Population variance (divides by N, as S4TF's variance).
template <FloatingPoint T>
Tensor<T> variance(const Tensor<T>& x, std::vector<int> axes = {}, bool keep_dims = false) {
  auto centered = x - mean(x, axes, true);
  return mean(centered * centered, axes, keep_dims);
}
/// Population standard deviation over `axes` (all when empty): sqrt(variance(x, axes)).
template <FloatingPoint T>
Tensor<T> standard_deviation(const Tensor<T>& x, std::vector<int> axes = {},
                             bool keep_dims = false) {
  return sqrt(variance(x, std::move(axes), keep_dims));
}

/// log(sum(exp(x))) without overflow: the maximum is taken out first.
template <FloatingPoint T>
Tensor<T> log_sum_exp(const Tensor<T>& x, std::vector<int> axes = {}, bool keep_dims = false) {
  axes = detail::reduction_axes(std::move(axes), x.rank(), "log_sum_exp");
  auto m = detail::without_node(max(x, axes, true));
  m = where(less(abs(m), T(INFINITY)), m, zeros_like(m));  // no inf - inf when x is all -inf
  auto y = log(sum(exp(x - m), axes, true)) + m;
  return keep_dims ? y : reshape(y, detail::squeezed_shape(x.shape(), axes));
}

}  // namespace ct
