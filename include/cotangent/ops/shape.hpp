#pragma once
// Shape ops. Reshape, transpose, slicing, broadcasting and reversal are views of the same
// storage; the rest copy. Each op's derivative follows its definition.
#include <numeric>
#include <optional>

#include "cotangent/ops/elementwise.hpp"

namespace ct {

template <Scalar T>
Tensor<T> pad(const Tensor<T>& x, std::vector<std::pair<std::int64_t, std::int64_t>> widths,
              PadMode mode = PadMode::constant, std::type_identity_t<T> value = T(0));

namespace detail {
/// Resolves one -1 in a target shape and checks the count matches.
inline Shape resolve_reshape(const Shape& from, Shape to) {
  std::int64_t known = 1;
  int unknown = -1;
  for (int i = 0; i < to.rank(); ++i) {
    if (to[i] == -1) {
      CT_CHECK(unknown < 0, "reshape: more than one -1 in {}", to);
      unknown = i;
    } else {
      CT_CHECK_AS(ValueError, to[i] >= 0, "reshape: negative dimension in {}", to);
      CT_CHECK_AS(ValueError, !__builtin_mul_overflow(known, to[i], &known),
                  "reshape: {} overflows", to);
    }
  }
  std::int64_t count = from.count();
  if (unknown >= 0) {
    CT_CHECK(known != 0 && count % known == 0, "reshape: cannot reshape {} into {}", from, to);
    to[unknown] = count / known;
  }
  CT_CHECK(to.count() == count, "reshape: cannot reshape {} ({} elements) into {}", from, count,
           to);
  return to;
}
}  // namespace detail

/// A contiguous copy (a view stays a view until an op needs it dense).
template <Scalar T>
Tensor<T> contiguous(const Tensor<T>& x) {
  if (x.raw().is_contiguous()) return x;
  Tensor<T> y =
      detail::wrap<T>(detail::backend_of(Op::contiguous, "contiguous", x).contiguous(x.raw()));
  y.set_node(x.node());  // same values, same derivative
  return y;
}

/// Same values in a new shape; one dimension may be -1. reshape(x, {2, -1})
template <Scalar T>
Tensor<T> reshape(const Tensor<T>& x, const Shape& shape) {
  Shape to = detail::resolve_reshape(x.shape(), shape);
  Tensor<T> dense = x.raw().is_contiguous() ? x : contiguous(x);
  Tensor<T> y = detail::view(dense, to, contiguous_strides(to), dense.raw().offset);
  if (detail::tracking(x))
    detail::record(y, {&x}, [from = x.shape()](const AnyTensor& dy, const AnyTensor&) {
      return detail::grads(reshape(Tensor<T>(dy), from));
    });
  return y;
}
template <Scalar T>
Tensor<T> Tensor<T>::reshaped(const Shape& shape) const {
  return reshape(*this, shape);
}

/// Collapses all dimensions after the first: [N, H, W, C] -> [N, H*W*C].
template <Scalar T>
Tensor<T> flatten(const Tensor<T>& x) {
  CT_CHECK(x.rank() >= 1, "flatten: needs rank >= 1, got {}", x.shape());
  return reshape(x, {x.shape(0), -1});
}
template <Scalar T>
Tensor<T> Tensor<T>::flattened() const {
  return reshape(*this, {-1});
}

/// Inserts a size-1 dimension at `axis` (in [-rank-1, rank]).
template <Scalar T>
Tensor<T> expand_dims(const Tensor<T>& x, int axis) {
  axis = normalize_axis(axis, x.rank() + 1, "expand_dims");
  Shape s = x.shape();
  s.insert(axis, 1);
  return reshape(x, s);
}

/// Removes size-1 dimensions: the given axes, or all of them.
template <Scalar T>
Tensor<T> squeeze(const Tensor<T>& x, std::vector<int> axes = {}) {
  Shape s;
  std::vector<bool> drop(x.rank(), axes.empty());
  for (int a : axes) drop[normalize_axis(a, x.rank(), "squeeze")] = true;
  for (int i = 0; i < x.rank(); ++i) {
    if (drop[i] && !axes.empty())
      CT_CHECK(x.shape(i) == 1, "squeeze: axis {} of {} has size {}, not 1", i, x.shape(),
               x.shape(i));
    if (!(drop[i] && x.shape(i) == 1)) s.push_back(x.shape(i));
  }
  return reshape(x, s);
}

/// Reorders dimensions: permute(x, {0, 2, 1}). A view.
template <Scalar T>
Tensor<T> transpose(const Tensor<T>& x, const std::vector<int>& permutation) {
  CT_CHECK(int(permutation.size()) == x.rank(), "transpose: permutation of {} axes for shape {}",
           permutation.size(), x.shape());
  Shape shape = x.shape(), strides = x.raw().strides;
  std::vector<int> inverse(x.rank(), -1);
  for (int i = 0; i < x.rank(); ++i) {
    int p = normalize_axis(permutation[i], x.rank(), "transpose");
    CT_CHECK_AS(IndexError, inverse[p] < 0, "transpose: axis {} repeats in the permutation", p);
    inverse[p] = i;
    shape[i] = x.shape()[p];
    strides[i] = x.raw().strides[p];
  }
  Tensor<T> y = detail::view(x, shape, strides, x.raw().offset);
  if (detail::tracking(x))
    detail::record(y, {&x}, [inverse](const AnyTensor& dy, const AnyTensor&) {
      return detail::grads(transpose(Tensor<T>(dy), inverse));
    });
  return y;
}
/// transpose(x, permutation) under PyTorch's name.
template <Scalar T>
Tensor<T> permute(const Tensor<T>& x, const std::vector<int>& permutation) {
  return transpose(x, permutation);
}
/// Reverses all dimensions (a matrix transpose for rank 2).
template <Scalar T>
Tensor<T> transpose(const Tensor<T>& x) {
  std::vector<int> p(x.rank());
  std::iota(p.rbegin(), p.rend(), 0);
  return transpose(x, p);
}
template <Scalar T>
Tensor<T> Tensor<T>::transposed() const {
  return transpose(*this);
}

/// Repeats size-1 (or missing leading) dimensions to `shape` without copying.
template <Scalar T>
Tensor<T> broadcast_to(const Tensor<T>& x, const Shape& shape) {
  CT_CHECK(shape.rank() >= x.rank(), "broadcast_to: cannot broadcast {} to {}", x.shape(), shape);
  Shape strides = Shape::filled(shape.rank(), 0);
  int lead = shape.rank() - x.rank();
  for (int i = 0; i < x.rank(); ++i) {
    CT_CHECK(x.shape(i) == shape[lead + i] || x.shape(i) == 1,
             "broadcast_to: cannot broadcast {} to {}", x.shape(), shape);
    strides[lead + i] = x.shape(i) == 1 ? 0 : x.raw().strides[i];
  }
  shape.count();
  Tensor<T> y = detail::view(x, shape, strides, x.raw().offset);
  if (detail::tracking(x))
    detail::record(y, {&x}, [from = x.shape()](const AnyTensor& dy, const AnyTensor&) {
      return detail::grads(sum_to(Tensor<T>(dy), from));
    });
  return y;
}

/// Reverses the order of elements along `axes`. A view.
template <Scalar T>
Tensor<T> reversed(const Tensor<T>& x, const std::vector<int>& axes) {
  RawTensor raw = x.raw();
  for (int a : axes) {
    a = normalize_axis(a, x.rank(), "reversed");
    if (raw.shape[a] == 0) continue;
    raw.offset += (raw.shape[a] - 1) * raw.strides[a];
    raw.strides[a] = -raw.strides[a];
  }
  Tensor<T> y = detail::wrap<T>(std::move(raw));
  if (detail::tracking(x))
    detail::record(y, {&x}, [axes](const AnyTensor& dy, const AnyTensor&) {
      return detail::grads(reversed(Tensor<T>(dy), axes));
    });
  return y;
}

/// A range along one axis: start, stop (exclusive), step; negative values count from the end
/// as in Python. Range{} is the whole axis; Range{-1, std::nullopt, -1} is it reversed.
struct Range {
  std::optional<std::int64_t> start, stop;
  std::int64_t step = 1;
};

/// Strided slicing, one Range per leading axis: slice(x, {{1, 3}, {std::nullopt, std::nullopt,
/// 2}}). A view.
template <Scalar T>
Tensor<T> slice(const Tensor<T>& x, const std::vector<Range>& ranges) {
  CT_CHECK_AS(IndexError, int(ranges.size()) <= x.rank(), "slice: {} ranges for shape {}",
              ranges.size(), x.shape());
  RawTensor raw = x.raw();
  std::vector<std::int64_t> starts(ranges.size());
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    const Range& r = ranges[i];
    std::int64_t n = x.shape(int(i)), step = r.step;
    CT_CHECK_AS(ValueError, step != 0, "slice: step of axis {} is 0", i);
    auto clamp = [&](std::optional<std::int64_t> v, std::int64_t fallback) {
      if (!v) return fallback;
      std::int64_t p = *v < 0 ? *v + n : *v;
      return step > 0 ? std::clamp<std::int64_t>(p, 0, n) : std::clamp<std::int64_t>(p, -1, n - 1);
    };
    std::int64_t start = clamp(r.start, step > 0 ? 0 : n - 1),
                 stop = clamp(r.stop, step > 0 ? n : -1);
    std::int64_t len = step > 0 ? std::max<std::int64_t>(0, (stop - start + step - 1) / step)
                                : std::max<std::int64_t>(0, (start - stop - step - 1) / -step);
    starts[i] = start;
    if (len > 0) raw.offset += start * raw.strides[i];
    raw.shape[int(i)] = len;
    raw.strides[int(i)] *= step;
  }
  Tensor<T> y = detail::wrap<T>(std::move(raw));
  if (detail::tracking(x))
    detail::record(y, {&x},
                   [ranges, starts, from = x.shape()](const AnyTensor& dy_, const AnyTensor&) {
                     // The adjoint of a slice: put dy back where it came from, zeros elsewhere.
                     Tensor<T> g(dy_);
                     for (std::size_t i = 0; i < ranges.size(); ++i) {
                       int axis = int(i);
                       std::int64_t len = g.shape(axis), step = ranges[i].step;
                       if (step == 1) {
                         std::vector<std::pair<std::int64_t, std::int64_t>> w(g.rank(), {0, 0});
                         w[i] = {starts[i], from[axis] - starts[i] - len};
                         g = pad(g, w);
                       } else {
                         std::vector<std::int64_t> idx(len);
                         for (std::int64_t k = 0; k < len; ++k) idx[k] = starts[i] + k * step;
                         Shape target = g.shape();
                         target[axis] = from[axis];
                         g = scatter_add(g, Tensor<std::int64_t>(idx, {len}), axis, target);
                       }
                     }
                     return detail::grads(g);
                   });
  return y;
}

template <Scalar T>
Tensor<T> Tensor<T>::operator[](std::int64_t i) const {
  CT_CHECK_AS(IndexError, rank() >= 1, "x[{}]: a scalar has no axis to index", i);
  std::int64_t n = shape(0);
  CT_CHECK_AS(IndexError, i >= -n && i < n, "x[{}]: index out of range for shape {}", i, shape());
  if (i < 0) i += n;
  Shape rest = shape();
  rest.erase(0);
  return reshape(slice(*this, {Range{i, i + 1}}), rest);
}

template <Scalar T>
Tensor<T> Tensor<T>::operator[](const Range& range) const {
  CT_CHECK_AS(IndexError, rank() >= 1, "x[range]: a scalar has no axis to slice");
  return slice(*this, {range});
}

/// Moves blocks of channels into space: [N, H, W, C] -> [N, H·b, W·b, C / b²] (TensorFlow's
/// depth_to_space, DCR order: channel (i·b + j)·C/b² + c lands at row offset i, column offset j).
/// The sub-pixel up-sampling of super-resolution networks.
template <Scalar T>
Tensor<T> depth_to_space(const Tensor<T>& x, std::int64_t block) {
  CT_CHECK(x.rank() == 4, "depth_to_space: the input must be NHWC, not {}", x.shape());
  CT_CHECK_AS(ValueError, block >= 1 && x.shape(3) % (block * block) == 0,
              "depth_to_space: {} channels do not split into blocks of {}x{}", x.shape(3), block,
              block);
  std::int64_t n = x.shape(0), h = x.shape(1), w = x.shape(2), c = x.shape(3) / (block * block);
  auto blocks = transpose(reshape(x, {n, h, w, block, block, c}), {0, 1, 3, 2, 4, 5});
  return reshape(blocks, {n, h * block, w * block, c});
}

/// The inverse of depth_to_space: [N, H, W, C] -> [N, H / b, W / b, C·b²].
template <Scalar T>
Tensor<T> space_to_depth(const Tensor<T>& x, std::int64_t block) {
  CT_CHECK(x.rank() == 4, "space_to_depth: the input must be NHWC, not {}", x.shape());
  CT_CHECK_AS(ValueError, block >= 1 && x.shape(1) % block == 0 && x.shape(2) % block == 0,
              "space_to_depth: {}x{} images do not split into blocks of {}x{}", x.shape(1),
              x.shape(2), block, block);
  std::int64_t n = x.shape(0), h = x.shape(1) / block, w = x.shape(2) / block, c = x.shape(3);
  auto blocks = transpose(reshape(x, {n, h, block, w, block, c}), {0, 1, 3, 2, 4, 5});
  return reshape(blocks, {n, h, w, block * block * c});
}

/// Takes the entries of `indices` along `axis`: gather(table, ids, 0) looks up rows.
/// The result's shape is x's with `axis` replaced by indices' shape.
template <Scalar T, Index I>
Tensor<T> gather(const Tensor<T>& x, const Tensor<I>& indices, int axis = 0) {
  axis = normalize_axis(axis, x.rank(), "gather");
  Tensor<T> y = detail::wrap<T>(
      detail::backend_of(Op::gather, "gather", x, indices).gather(x.raw(), indices.raw(), axis));
  if (detail::tracking(x))
    detail::record(y, {&x},
                   [indices, axis, from = x.shape()](const AnyTensor& dy, const AnyTensor&) {
                     return detail::grads(scatter_add(Tensor<T>(dy), indices, axis, from));
                   });
  return y;
}

/// Sums the slices of `updates` into zeros of `shape` at `indices` along `axis` (gather's adjoint).
template <Scalar T, Index I>
Tensor<T> scatter_add(const Tensor<T>& updates, const Tensor<I>& indices, int axis,
                      const Shape& shape) {
  axis = normalize_axis(axis, shape.rank(), "scatter_add");
  Tensor<T> y = detail::wrap<T>(detail::backend_of(Op::scatter_add, "scatter_add", updates, indices)
                                    .scatter_add(updates.raw(), indices.raw(), axis, shape));
  if (detail::tracking(updates))
    detail::record(y, {&updates}, [indices, axis](const AnyTensor& dy, const AnyTensor&) {
      return detail::grads(gather(Tensor<T>(dy), indices, axis));
    });
  return y;
}

/// Joins tensors along an existing axis; all other dimensions must agree.
template <Scalar T>
Tensor<T> concatenate(const std::vector<Tensor<T>>& parts, int axis = 0) {
  CT_CHECK_AS(ValueError, !parts.empty(), "concatenate: no tensors given");
  axis = normalize_axis(axis, parts[0].rank(), "concatenate");
  std::vector<RawTensor> raws;
  bool track = false;
  for (auto& p : parts) {
    detail::backend_of(Op::concatenate, "concatenate", parts[0], p);
    CT_CHECK(p.rank() == parts[0].rank(), "concatenate: ranks differ: {} and {}", parts[0].shape(),
             p.shape());
    for (int i = 0; i < p.rank(); ++i)
      CT_CHECK(i == axis || p.shape(i) == parts[0].shape(i),
               "concatenate: shapes {} and {} differ off axis {}", parts[0].shape(), p.shape(),
               axis);
    raws.push_back(p.raw());
    track = track || detail::tracked(p);
  }
  Tensor<T> y = detail::wrap<T>(
      backend_for(parts[0].device(), Op::concatenate, parts[0].dtype()).concatenate(raws, axis));
  if (track) {
    std::vector<std::int64_t> sizes;
    for (auto& p : parts) sizes.push_back(p.shape(axis));
    std::vector<const AnyTensor*> ins;
    for (auto& p : parts) ins.push_back(&p);
    detail::record_many(y, ins, [sizes, axis](const AnyTensor& dy_, const AnyTensor&) {
      Tensor<T> dy(dy_);
      std::vector<AnyTensor> out;
      std::int64_t at = 0;
      for (auto n : sizes) {
        std::vector<Range> r(axis + 1);
        r[axis] = {at, at + n};
        out.push_back(slice(dy, r));
        at += n;
      }
      return out;
    });
  }
  return y;
}

/// Stacks same-shape tensors along a new axis.
template <Scalar T>
Tensor<T> stack(const std::vector<Tensor<T>>& parts, int axis = 0) {
  CT_CHECK_AS(ValueError, !parts.empty(), "stack: no tensors given");
  std::vector<Tensor<T>> expanded;
  for (auto& p : parts) {
    CT_CHECK(p.shape() == parts[0].shape(), "stack: shapes {} and {} differ", parts[0].shape(),
             p.shape());
    expanded.push_back(expand_dims(p, axis));
  }
  return concatenate(expanded, normalize_axis(axis, parts[0].rank() + 1, "stack"));
}

/// Splits along `axis` into pieces of the given sizes (which must add up to the axis).
template <Scalar T>
std::vector<Tensor<T>> split(const Tensor<T>& x, const std::vector<std::int64_t>& sizes,
                             int axis = 0) {
  axis = normalize_axis(axis, x.rank(), "split");
  std::int64_t total = 0;
  for (auto n : sizes) {
    CT_CHECK_AS(ValueError, n >= 0, "split: negative size {}", n);
    total += n;
  }
  CT_CHECK(total == x.shape(axis), "split: sizes add up to {}, but axis {} of {} has {}", total,
           axis, x.shape(), x.shape(axis));
  std::vector<Tensor<T>> out;
  std::int64_t at = 0;
  for (auto n : sizes) {
    std::vector<Range> r(axis + 1);
    r[axis] = {at, at + n};
    out.push_back(slice(x, r));
    at += n;
  }
  return out;
}
/// Splits into `count` equal pieces.
template <Scalar T>
std::vector<Tensor<T>> split(const Tensor<T>& x, int count, int axis = 0) {
  int a = normalize_axis(axis, x.rank(), "split");
  CT_CHECK_AS(ValueError, count > 0 && x.shape(a) % count == 0,
              "split: axis {} of {} does not split into {} equal pieces", a, x.shape(), count);
  return split(x, std::vector<std::int64_t>(count, x.shape(a) / count), a);
}

/// Pads each dimension by (before, after): constant `value`, reflect (mirror without the edge)
/// or edge (repeat the edge).
template <Scalar T>
Tensor<T> pad(const Tensor<T>& x, std::vector<std::pair<std::int64_t, std::int64_t>> widths,
              PadMode mode, std::type_identity_t<T> value) {
  CT_CHECK(int(widths.size()) <= x.rank(), "padded: {} widths for shape {}", widths.size(),
           x.shape());
  widths.resize(x.rank(), {0, 0});
  std::vector<std::int64_t> before, after;
  for (int i = 0; i < x.rank(); ++i) {
    auto [b, a] = widths[i];
    CT_CHECK_AS(ValueError, b >= 0 && a >= 0, "padded: negative width on axis {}", i);
    if (mode == PadMode::reflect)
      CT_CHECK(b < x.shape(i) && a < x.shape(i),
               "padded: reflect widths ({}, {}) need axis {} of {} to be longer", b, a, i,
               x.shape());
    if (mode == PadMode::edge)
      CT_CHECK(x.shape(i) > 0 || (a == 0 && b == 0), "padded: edge padding of an empty axis {}", i);
    before.push_back(b);
    after.push_back(a);
  }
  Tensor<T> y = detail::wrap<T>(
      detail::backend_of(Op::pad, "padded", x).pad(x.raw(), before, after, mode, double(value)));
  if (detail::tracking(x))
    detail::record(y, {&x},
                   [before, after, mode, from = x.shape()](const AnyTensor& dy, const AnyTensor&) {
                     return detail::grads(pad_adjoint(Tensor<T>(dy), before, after, mode, from));
                   });
  return y;
}
/// pad, with zeros unless a mode or value is given: padded(x, {{0, 0}, {2, 2}, {2, 2}}).
template <Scalar T>
Tensor<T> padded(const Tensor<T>& x, std::vector<std::pair<std::int64_t, std::int64_t>> widths,
                 PadMode mode = PadMode::constant, std::type_identity_t<T> value = T(0)) {
  return pad(x, std::move(widths), mode, value);
}

/// The adjoint of pad: sums the padded gradient back onto the unpadded shape.
template <Scalar T>
Tensor<T> pad_adjoint(const Tensor<T>& dy, const std::vector<std::int64_t>& before,
                      const std::vector<std::int64_t>& after, PadMode mode, const Shape& from) {
  if (mode == PadMode::constant) {
    std::vector<Range> r(dy.rank());
    for (int i = 0; i < dy.rank(); ++i) r[i] = {before[i], before[i] + from[i]};
    return slice(dy, r);
  }
  Tensor<T> y = detail::wrap<T>(detail::backend_of(Op::pad_backward, "padded", dy)
                                    .pad_backward(dy.raw(), before, after, mode));
  if (detail::tracking(dy))
    detail::record(y, {&dy}, [before, after, mode](const AnyTensor& g, const AnyTensor&) {
      std::vector<std::pair<std::int64_t, std::int64_t>> w;
      for (std::size_t i = 0; i < before.size(); ++i) w.emplace_back(before[i], after[i]);
      return detail::grads(pad(Tensor<T>(g), w, mode));
    });
  return y;
}

/// Repeats the tensor `multiples[i]` times along each axis.
template <Scalar T>
Tensor<T> tiled(const Tensor<T>& x, const std::vector<std::int64_t>& multiples) {
  CT_CHECK(int(multiples.size()) == x.rank(), "tiled: {} multiples for shape {}", multiples.size(),
           x.shape());
  Shape expanded, target, result;
  for (int i = 0; i < x.rank(); ++i) {
    CT_CHECK_AS(ValueError, multiples[i] >= 0, "tiled: negative multiple on axis {}", i);
    expanded.push_back(1);
    expanded.push_back(x.shape(i));
    target.push_back(multiples[i]);
    target.push_back(x.shape(i));
    result.push_back(multiples[i] * x.shape(i));
  }
  return reshape(contiguous(broadcast_to(reshape(x, expanded), target)), result);
}

}  // namespace ct
