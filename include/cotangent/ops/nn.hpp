#pragma once
// Neural-network ops on NHWC images: convolution (HWIO filters), pooling, softmax, one_hot.
#include <array>

#include "cotangent/ops/linalg.hpp"

namespace ct {

/// TensorFlow's window padding: valid (windows within the input) or same (⌈input / stride⌉ out).
enum class Padding { valid, same };

namespace detail {
/// Output size and padding of a window sliding over an NHWC input, as TensorFlow defines them.
inline Window2D window(const char* op, const Shape& input, std::int64_t kh, std::int64_t kw,
                       std::array<std::int64_t, 2> strides, Padding padding,
                       std::array<std::int64_t, 2> dilations = {1, 1}) {
  CT_CHECK(input.rank() == 4, "{}: input must be NHWC (rank 4), got {}", op, input);
  CT_CHECK_AS(
      ValueError,
      strides[0] > 0 && strides[1] > 0 && dilations[0] > 0 && dilations[1] > 0 && kh > 0 && kw > 0,
      "{}: strides, dilations and window sizes must be positive", op);
  Window2D w{kh, kw, strides[0], strides[1], dilations[0], dilations[1]};
  auto one = [&](std::int64_t in, std::int64_t k, std::int64_t s, std::int64_t d, std::int64_t& out,
                 std::int64_t& pad) {
    std::int64_t span = d * (k - 1) + 1;
    if (padding == Padding::valid) {
      CT_CHECK(in >= span, "{}: window of extent {} does not fit input {} with valid padding", op,
               span, input);
      out = (in - span) / s + 1;
      pad = 0;
    } else {
      out = (in + s - 1) / s;
      pad = std::max<std::int64_t>((out - 1) * s + span - in, 0) / 2;
    }
  };
  one(input[1], kh, strides[0], dilations[0], w.out_h, w.pad_top);
  one(input[2], kw, strides[1], dilations[1], w.out_w, w.pad_left);
  return w;
}

template <FloatingPoint T>
Tensor<T> conv2d_backward_input(const Tensor<T>& dy, const Tensor<T>& filter,
                                const Shape& input_shape, const Window2D& w, bool depthwise);
template <FloatingPoint T>
Tensor<T> conv2d_backward_filter(const Tensor<T>& input, const Tensor<T>& dy,
                                 const Shape& filter_shape, const Window2D& w, bool depthwise);

/// activation(conv2d(input, filter) + bias), the bias (optional) and activation fused into
/// the convolution's output pass.
template <FloatingPoint T>
Tensor<T> conv2d_window(const Tensor<T>& input, const Tensor<T>& filter, const Window2D& w,
                        bool depthwise, const Tensor<T>& bias = {},
                        FusedActivation activation = FusedActivation::none) {
  bool fused = bias.defined() || activation != FusedActivation::none;
  auto& backend = backend_of(fused ? Op::conv2d_activation : Op::conv2d, "conv2d", input, filter);
  if (bias.defined()) backend_of(Op::conv2d_activation, "conv2d", input, bias);
  Tensor<T> y =
      wrap<T>(fused ? backend.conv2d_activation(input.raw(), filter.raw(), w, depthwise,
                                                bias.defined() ? &bias.raw() : nullptr, activation)
                    : backend.conv2d(input.raw(), filter.raw(), w, depthwise));
  if (tracking(input, filter, bias))
    record(
        y, {&input, &filter, &bias},
        [input, filter, w, depthwise, activation, ti = tracked(input), tf = tracked(filter),
         tb = tracked(bias)](AnyTensor dy_, const AnyTensor& y_) {
          auto [dy, db] = activation_backward<T>(std::move(dy_), y_, activation, tb);
          Tensor<T> dx, df;  // only for tracked operands: the first layer's input needs none
          if (ti) dx = conv2d_backward_input(dy, filter, input.shape(), w, depthwise);
          if (tf) df = conv2d_backward_filter(input, dy, filter.shape(), w, depthwise);
          return grads(std::move(dx), std::move(df), std::move(db));
        },
        /*keep_result=*/activation == FusedActivation::relu);
  return y;
}

// Both backward convolutions are bilinear, so their derivatives are convolutions again: this is
// what makes second derivatives through conv2d work.
template <FloatingPoint T>
Tensor<T> conv2d_backward_input(const Tensor<T>& dy, const Tensor<T>& filter,
                                const Shape& input_shape, const Window2D& w, bool depthwise) {
  Tensor<T> dx =
      wrap<T>(backend_of(Op::conv2d_backward_input, "conv2d", dy, filter)
                  .conv2d_backward_input(dy.raw(), filter.raw(), input_shape, w, depthwise));
  if (tracking(dy, filter))
    record(dx, {&dy, &filter}, [dy, filter, w, depthwise](const AnyTensor& g_, const AnyTensor&) {
      Tensor<T> g(g_);
      return grads(conv2d_window(g, filter, w, depthwise),
                   conv2d_backward_filter(g, dy, filter.shape(), w, depthwise));
    });
  return dx;
}

template <FloatingPoint T>
Tensor<T> conv2d_backward_filter(const Tensor<T>& input, const Tensor<T>& dy,
                                 const Shape& filter_shape, const Window2D& w, bool depthwise) {
  Tensor<T> df =
      wrap<T>(backend_of(Op::conv2d_backward_filter, "conv2d", input, dy)
                  .conv2d_backward_filter(input.raw(), dy.raw(), filter_shape, w, depthwise));
  if (tracking(input, dy))
    record(df, {&input, &dy}, [input, dy, w, depthwise](const AnyTensor& g_, const AnyTensor&) {
      Tensor<T> g(g_);
      return grads(conv2d_backward_input(dy, g, input.shape(), w, depthwise),
                   conv2d_window(input, g, w, depthwise));
    });
  return df;
}
}  // namespace detail

namespace detail {
/// activation(convolution + bias), checked and windowed as conv2d (or depthwise_conv2d) does.
template <FloatingPoint T>
Tensor<T> conv2d_fused(const Tensor<T>& input, const Tensor<T>& filter, const Tensor<T>& bias,
                       FusedActivation activation, std::array<std::int64_t, 2> strides,
                       Padding padding, std::array<std::int64_t, 2> dilations,
                       bool depthwise = false) {
  const char* op = depthwise ? "depthwise_conv2d" : "conv2d";
  CT_CHECK(filter.rank() == 4, "{}: filter must be {}, got {}", op,
           depthwise ? "[KH, KW, C, M]" : "HWIO (rank 4)", filter.shape());
  CT_CHECK(input.rank() == 4,
           "{}: input {} must be a batch of images [N, H, W, C] (rank 4); a single image needs "
           "expand_dims(image, 0)",
           op, input.shape());
  CT_CHECK(input.shape(3) == filter.shape(2),
           "{}: input {} has {} channels but filter {} expects {}", op, input.shape(),
           input.shape(3), filter.shape(), filter.shape(2));
  std::int64_t outputs = depthwise ? filter.shape(2) * filter.shape(3) : filter.shape(3);
  if (bias.defined())
    CT_CHECK(bias.rank() == 1 && bias.shape(0) == outputs, "{}: bias {} does not match filter {}",
             op, bias.shape(), filter.shape());
  auto w = window(op, input.shape(), filter.shape(0), filter.shape(1), strides, padding, dilations);
  return conv2d_window(input, filter, w, depthwise, bias, activation);
}
}  // namespace detail

/// 2-D convolution: input [N, H, W, C], filter [KH, KW, C, O] -> [N, OH, OW, O].
template <FloatingPoint T>
Tensor<T> conv2d(const Tensor<T>& input, const Tensor<T>& filter,
                 std::array<std::int64_t, 2> strides = {1, 1}, Padding padding = Padding::valid,
                 std::array<std::int64_t, 2> dilations = {1, 1}) {
  return detail::conv2d_fused(input, filter, Tensor<T>(), FusedActivation::none, strides, padding,
                              dilations);
}

/// Depthwise convolution: input [N, H, W, C], filter [KH, KW, C, M] -> [N, OH, OW, C*M].
template <FloatingPoint T>
Tensor<T> depthwise_conv2d(const Tensor<T>& input, const Tensor<T>& filter,
                           std::array<std::int64_t, 2> strides = {1, 1},
                           Padding padding = Padding::valid) {
  return detail::conv2d_fused(input, filter, Tensor<T>(), FusedActivation::none, strides, padding,
                              {1, 1}, /*depthwise=*/true);
}

namespace detail {
template <FloatingPoint T>
Tensor<T> pool2d_backward(PoolKind kind, const Tensor<T>& x, const Tensor<T>& dy,
                          const Window2D& w);
template <FloatingPoint T>
Tensor<T> max_pool2d_select(const Tensor<T>& x, const Tensor<T>& values, const Window2D& w);

template <FloatingPoint T>
Tensor<T> pool2d_window(PoolKind kind, const Tensor<T>& x, const Window2D& w) {
  Tensor<T> y = wrap<T>(backend_of(Op::pool2d, "pool2d", x).pool2d(kind, x.raw(), w));
  if (tracking(x))
    record(y, {&x}, [x, w, kind](const AnyTensor& dy, const AnyTensor&) {
      return grads(pool2d_backward(kind, x, Tensor<T>(dy), w));
    });
  return y;
}

// Pooling's backward pass is linear in dy, and constant in x wherever it is differentiable (the
// winners of max pooling change only at ties). Its derivative maps a gradient g back through the
// forward pass's own routing: average pooling of g, or g at max pooling's winners. Those are
// differentiable in turn, so derivatives of any order work.
template <FloatingPoint T>
Tensor<T> pool2d_backward(PoolKind kind, const Tensor<T>& x, const Tensor<T>& dy,
                          const Window2D& w) {
  Tensor<T> dx = wrap<T>(
      backend_of(Op::pool2d_backward, "pool2d", x, dy).pool2d_backward(kind, x.raw(), dy.raw(), w));
  if (tracking(dy))
    record(dx, {&dy}, [x, w, kind](const AnyTensor& g, const AnyTensor&) {
      return grads(kind == PoolKind::max ? max_pool2d_select(x, Tensor<T>(g), w)
                                         : pool2d_window(PoolKind::average, Tensor<T>(g), w));
    });
  return dx;
}

template <FloatingPoint T>
Tensor<T> max_pool2d_select(const Tensor<T>& x, const Tensor<T>& values, const Window2D& w) {
  Tensor<T> y = wrap<T>(backend_of(Op::max_pool2d_select, "max_pool2d", x, values)
                            .max_pool2d_select(x.raw(), values.raw(), w));
  if (tracking(values))
    record(y, {&values}, [x, w](const AnyTensor& g, const AnyTensor&) {
      return grads(pool2d_backward(PoolKind::max, x, Tensor<T>(g), w));
    });
  return y;
}

template <FloatingPoint T>
Tensor<T> pool2d(PoolKind kind, const char* op, const Tensor<T>& x,
                 std::array<std::int64_t, 2> size, std::array<std::int64_t, 2> strides,
                 Padding padding) {
  return pool2d_window(kind, x, window(op, x.shape(), size[0], size[1], strides, padding));
}
}  // namespace detail

/// Max pooling over NHWC windows: max_pool2d(x, {2, 2}, {2, 2}).
template <FloatingPoint T>
Tensor<T> max_pool2d(const Tensor<T>& x, std::array<std::int64_t, 2> size,
                     std::array<std::int64_t, 2> strides, Padding padding = Padding::valid) {
  return detail::pool2d(PoolKind::max, "max_pool2d", x, size, strides, padding);
}
/// Average pooling; with same padding, averages only the elements inside the input.
template <FloatingPoint T>
Tensor<T> avg_pool2d(const Tensor<T>& x, std::array<std::int64_t, 2> size,
                     std::array<std::int64_t, 2> strides, Padding padding = Padding::valid) {
  return detail::pool2d(PoolKind::average, "avg_pool2d", x, size, strides, padding);
}

/// log(softmax(x)) along `axis` (the last by default), as x - log_sum_exp(x): stable for any x.
template <FloatingPoint T>
Tensor<T> log_softmax(const Tensor<T>& x, int axis = -1) {
  return x - log_sum_exp(x, {normalize_axis(axis, x.rank(), "log_softmax")}, true);
}
/// exp(x) normalized to sum to 1 along `axis` (the last by default): softmax(logits).
template <FloatingPoint T>
Tensor<T> softmax(const Tensor<T>& x, int axis = -1) {
  return exp(log_softmax(x, axis));
}

namespace detail {
/// Throws IndexError naming the first label (or other `noun`) outside [0, classes) and where.
template <Index I>
void check_labels(const Tensor<I>& labels, std::int64_t classes, const char* op,
                  const char* noun = "label") {
  // Reading labels back is free on the CPU; elsewhere it would stall every step (see checks_data).
  if (labels.scalar_count() == 0 || !backend_for(labels.device()).checks_data()) return;
  Tensor<bool> outside = logical_or(less(labels, I(0)), greater_equal(labels, I(classes)));
  if (!any(outside).scalar()) return;  // host edge: only where checks_data()
  auto flags = outside.scalars();      // host edge: the error message
  auto values = labels.scalars();      // host edge: the error message
  std::size_t first = std::size_t(std::find(flags.begin(), flags.end(), true) - flags.begin());
  std::vector<std::int64_t> position(labels.rank());
  auto rest = std::int64_t(first);
  for (int axis = labels.rank() - 1; axis >= 0; --axis) {
    position[axis] = rest % labels.shape(axis);
    rest /= labels.shape(axis);
  }
  throw IndexError(format("{}: {} {} at position {} is outside [0, {}) ({} of {} are)", op, noun,
                          std::int64_t(values[first]), Shape(position), classes,
                          std::count(flags.begin(), flags.end(), true), flags.size()));
}

/// one_hot for indices already checked to be in range.
template <Scalar T, Index I>
Tensor<T> one_hot_checked(const Tensor<I>& indices, std::int64_t depth, T on = T(1), T off = T(0)) {
  auto hot = equal(expand_dims(indices, -1), iota<I>({depth}, 0, indices.device()));
  return where(hot, constant<T>(on, indices), constant<T>(off, indices));
}
}  // namespace detail

/// Gathers along axis 1 with each batch row's own indices (S4TF's batchGathering): params
/// [B, N, ...] and indices [B, K] give [B, K, ...], row b taking params[b, indices[b, k]]. An
/// index outside [0, N) is an IndexError where data is checked (see Backend::checks_data).
template <Scalar T, Index I>
Tensor<T> batch_gather(const Tensor<T>& params, const Tensor<I>& indices) {
  CT_CHECK(params.rank() >= 2 && indices.rank() == 2 && indices.shape(0) == params.shape(0),
           "batch_gather: params must be [B, N, ...] and indices [B, K], not {} and {}",
           params.shape(), indices.shape());
  std::int64_t batch = params.shape(0), n = params.shape(1);
  detail::check_labels(indices, n, "batch_gather", "index");
  // Row b's indices offset by b·N pick from the rows of params with its first two axes merged.
  Shape merged = params.shape();
  merged.erase(0);
  merged[0] = batch * n;
  auto offsets = iota<I>(indices.shape(), 0, indices.device()) * I(n) + indices;
  return gather(reshape(params, merged), offsets, 0);
}

/// One-hot rows: one_hot<float>(labels [N], 10) -> [N, 10]. An index outside [0, depth) is an
/// error (TensorFlow gives it a row of `off`, which hides a wrong label count).
template <Scalar T, Index I>
Tensor<T> one_hot(const Tensor<I>& indices, std::int64_t depth, T on = T(1), T off = T(0)) {
  CT_CHECK_AS(ValueError, depth >= 0, "one_hot: negative depth {}", depth);
  detail::check_labels(indices, depth, "one_hot");
  return detail::one_hot_checked(indices, depth, on, off);
}

}  // namespace ct
