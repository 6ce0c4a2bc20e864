#pragma once
// More layers over NHWC images, after S4TF: transposed and separable convolution, zero padding,
// up-sampling, and the normalisations over groups of channels. Each is made of the core ops, so
// its derivatives (and every device) come with them.
#include "cotangent/nn/layers.hpp"

namespace ct {

/// The transpose of a strided convolution (a "deconvolution"), for up-sampling decoders:
/// [N, H, W, in] -> [N, H', W', out] with H' = (H - 1)·stride + height (valid) or H·stride
/// (same). The filter is [height, width, out, in], S4TF's layout: the filter of the forward
/// convolution that this layer transposes.
template <FloatingPoint T>
struct TransposedConv2D {
  Tensor<T> filter, bias;  // [height, width, out, in], [out]
  Activation<T> activation;
  std::array<std::int64_t, 2> strides{1, 1};
  Padding padding = Padding::valid;
  CT_FIELDS(filter, bias)

  TransposedConv2D(std::array<std::int64_t, 4> filter_shape, Activation<T> activation = {},
                   std::array<std::int64_t, 2> strides = {1, 1}, Padding padding = Padding::valid,
                   bool use_bias = true, Generator& gen = default_generator())
      : filter(glorot_uniform<T>(Shape(filter_shape), gen)),
        bias(use_bias ? zeros<T>({filter_shape[2]}) : Tensor<T>()),
        activation(std::move(activation)),
        strides(strides),
        padding(padding) {}

  Tensor<T> operator()(const Tensor<T>& input) const {
    CT_CHECK(filter.rank() == 4,
             "TransposedConv2D: the filter must be [height, width, out, in], "
             "not {}",
             filter.shape());
    CT_CHECK(input.rank() == 4 && input.shape(3) == filter.shape(3),
             "TransposedConv2D: the input must be NHWC with {} channels, not {}", filter.shape(3),
             input.shape());
    CT_CHECK_AS(ValueError, strides[0] > 0 && strides[1] > 0,
                "TransposedConv2D: strides must be positive");
    auto grown = [&](std::int64_t in, std::int64_t k, std::int64_t s) {
      return padding == Padding::same ? in * s : (in - 1) * s + k;
    };
    Shape out{input.shape(0), grown(input.shape(1), filter.shape(0), strides[0]),
              grown(input.shape(2), filter.shape(1), strides[1]), filter.shape(2)};
    // The forward convolution from `out` back to the input's size, then its input gradient.
    auto w =
        detail::window("TransposedConv2D", out, filter.shape(0), filter.shape(1), strides, padding);
    auto y = detail::conv2d_backward_input(input, filter, out, w, false);
    return activation(bias.defined() ? y + bias : y);
  }
};

/// A depthwise convolution (each channel its own `multiplier` filters) then a pointwise one
/// (1×1, mixing channels), with fewer weights than one full convolution: S4TF's
/// SeparableConv2D. Filters [h, w, in, multiplier] and [1, 1, in·multiplier, out].
template <FloatingPoint T>
struct SeparableConv2D {
  Tensor<T> depthwise_filter, pointwise_filter, bias;
  Activation<T> activation;
  std::array<std::int64_t, 2> strides{1, 1};
  Padding padding = Padding::valid;
  CT_FIELDS(depthwise_filter, pointwise_filter, bias)

  SeparableConv2D(std::array<std::int64_t, 4> depthwise_shape, std::int64_t output_channels,
                  Activation<T> activation = {}, std::array<std::int64_t, 2> strides = {1, 1},
                  Padding padding = Padding::valid, bool use_bias = true,
                  Generator& gen = default_generator())
      : depthwise_filter(glorot_uniform<T>(Shape(depthwise_shape), gen)),
        pointwise_filter(glorot_uniform<T>(
            {1, 1, depthwise_shape[2] * depthwise_shape[3], output_channels}, gen)),
        bias(use_bias ? zeros<T>({output_channels}) : Tensor<T>()),
        activation(std::move(activation)),
        strides(strides),
        padding(padding) {}

  Tensor<T> operator()(const Tensor<T>& input) const {
    auto spread = depthwise_conv2d(input, depthwise_filter, strides, padding);
    return activation.apply([&](FusedActivation fused) {
      return detail::conv2d_fused(spread, pointwise_filter, bias, fused, {1, 1}, Padding::valid,
                                  {1, 1});
    });
  }
};

/// Zeros around each image: [N, H, W, C] -> [N, top + H + bottom, left + W + right, C].
template <FloatingPoint T>
struct ZeroPadding2D {
  std::array<std::int64_t, 2> rows{1, 1}, columns{1, 1};  // (top, bottom), (left, right)
  CT_FIELDS()
  Tensor<T> operator()(const Tensor<T>& x) const {
    CT_CHECK(x.rank() == 4, "ZeroPadding2D: the input must be NHWC, not {}", x.shape());
    CT_CHECK_AS(ValueError, rows[0] >= 0 && rows[1] >= 0 && columns[0] >= 0 && columns[1] >= 0,
                "ZeroPadding2D: paddings must not be negative");
    return pad(x, {{0, 0}, {rows[0], rows[1]}, {columns[0], columns[1]}, {0, 0}});
  }
};

/// Each pixel repeated size×size times (nearest neighbour): [N, H, W, C] -> [N, sH, sW, C].
template <FloatingPoint T>
struct UpSampling2D {
  std::int64_t size = 2;
  CT_FIELDS()
  Tensor<T> operator()(const Tensor<T>& x) const {
    CT_CHECK(x.rank() == 4, "UpSampling2D: the input must be NHWC, not {}", x.shape());
    CT_CHECK_AS(ValueError, size >= 1, "UpSampling2D: size {} must be at least 1", size);
    std::int64_t n = x.shape(0), h = x.shape(1), w = x.shape(2), c = x.shape(3);
    auto spread = broadcast_to(reshape(x, {n, h, 1, w, 1, c}), {n, h, size, w, size, c});
    return reshape(spread, {n, h * size, w * size, c});
  }
};

/// Normalisation over groups of channels (Wu and He): the channels (the last axis) are split
/// into `groups`, each normalised over all its values in a sample (population variance), then
/// scaled and offset per channel. Independent of the batch size, unlike BatchNorm.
template <FloatingPoint T>
struct GroupNorm {
  Tensor<T> offset, scale;  // [channels]
  std::int64_t groups = 1;
  T epsilon = T(0.001);
  CT_FIELDS(offset, scale)

  GroupNorm(std::int64_t groups, std::int64_t channels, T epsilon = T(0.001))
      : offset(zeros<T>({channels})), scale(ones<T>({channels})), groups(groups), epsilon(epsilon) {
    CT_CHECK_AS(ValueError, groups >= 1 && channels % groups == 0,
                "GroupNorm: {} channels do not split into {} groups", channels, groups);
  }

  Tensor<T> operator()(const Tensor<T>& x) const {
    std::int64_t channels = offset.shape(0);
    CT_CHECK(x.rank() >= 2 && x.shape(-1) == channels,
             "GroupNorm: the input must end in {} channels, not {}", channels, x.shape());
    // [N, ..., C] as [N, ..., G, C/G]: statistics over every axis but the batch and the group.
    Shape grouped = x.shape();
    grouped[grouped.rank() - 1] = groups;
    grouped.push_back(channels / groups);
    auto g = reshape(x, grouped);
    std::vector<int> axes;
    for (int i = 1; i < grouped.rank(); ++i)
      if (i != grouped.rank() - 2) axes.push_back(i);
    auto normalized = (g - mean(g, axes, true)) * rsqrt(variance(g, axes, true) + epsilon);
    return reshape(normalized, x.shape()) * scale + offset;
  }
};

/// GroupNorm with one group per channel: each channel of each sample normalised on its own
/// (Ulyanov et al.; style transfer).
template <FloatingPoint T>
struct InstanceNorm : GroupNorm<T> {
  explicit InstanceNorm(std::int64_t channels, T epsilon = T(0.001))
      : GroupNorm<T>(channels, channels, epsilon) {}
};

}  // namespace ct
