#pragma once
// Layers over sequences in NWC layout ([batch, width, channels]), as S4TF's 1-D layers: each is
// its 2-D counterpart on a [batch, 1, width, channels] view, so every device that runs the 2-D
// kernels runs these too, with the same derivatives.
#include "cotangent/nn/layers.hpp"

namespace ct {

namespace detail {
/// [N, W, C] viewed as the images [N, 1, W, C]; a ShapeError naming `layer` otherwise.
template <FloatingPoint T>
Tensor<T> as_image_row(const Tensor<T>& x, const char* layer) {
  CT_CHECK(x.rank() == 3, "{}: the input must be [batch, width, channels] (NWC), not {}", layer,
           x.shape());
  return reshape(x, {x.shape(0), 1, x.shape(1), x.shape(2)});
}
/// The images [N, 1, W, C] back as [N, W, C].
template <FloatingPoint T>
Tensor<T> from_image_row(const Tensor<T>& y) {
  return reshape(y, {y.shape(0), y.shape(2), y.shape(3)});
}
}  // namespace detail

/// 1-D convolution over NWC input with a WIO filter [width, in, out]: S4TF's Conv1D.
template <FloatingPoint T>
struct Conv1D {
  Tensor<T> filter, bias;  // [width, in, out], [out]
  Activation<T> activation;
  std::int64_t stride = 1;
  Padding padding = Padding::valid;
  std::int64_t dilation = 1;
  CT_FIELDS(filter, bias)

  Conv1D(std::array<std::int64_t, 3> filter_shape, Activation<T> activation = {},
         std::int64_t stride = 1, Padding padding = Padding::valid, std::int64_t dilation = 1,
         bool use_bias = true, Generator& gen = default_generator())
      : filter(glorot_uniform<T>(Shape{filter_shape[0], filter_shape[1], filter_shape[2]}, gen)),
        bias(use_bias ? zeros<T>({filter_shape[2]}) : Tensor<T>()),
        activation(std::move(activation)),
        stride(stride),
        padding(padding),
        dilation(dilation) {}

  Tensor<T> operator()(const Tensor<T>& input) const {
    CT_CHECK(filter.rank() == 3, "Conv1D: the filter must be [width, in, out], not {}",
             filter.shape());
    auto image = detail::as_image_row(input, "Conv1D");
    auto row_filter = reshape(filter, {1, filter.shape(0), filter.shape(1), filter.shape(2)});
    return detail::from_image_row(activation.apply([&](FusedActivation fused) {
      return detail::conv2d_fused(image, row_filter, bias, fused, {1, stride}, padding,
                                  {1, dilation});
    }));
  }
};

/// The maximum over windows of `pool_size` steps, `stride` apart: [N, W, C] -> [N, W', C].
template <FloatingPoint T>
struct MaxPool1D {
  std::int64_t pool_size = 2, stride = 2;
  Padding padding = Padding::valid;
  CT_FIELDS()
  Tensor<T> operator()(const Tensor<T>& x) const {
    return detail::from_image_row(
        max_pool2d(detail::as_image_row(x, "MaxPool1D"), {1, pool_size}, {1, stride}, padding));
  }
};

/// The mean over windows of `pool_size` steps, `stride` apart: [N, W, C] -> [N, W', C].
template <FloatingPoint T>
struct AvgPool1D {
  std::int64_t pool_size = 2, stride = 2;
  Padding padding = Padding::valid;
  CT_FIELDS()
  Tensor<T> operator()(const Tensor<T>& x) const {
    return detail::from_image_row(
        avg_pool2d(detail::as_image_row(x, "AvgPool1D"), {1, pool_size}, {1, stride}, padding));
  }
};

/// [N, W, C] -> [N, C], the mean over the steps.
template <FloatingPoint T>
struct GlobalAvgPool1D {
  CT_FIELDS()
  Tensor<T> operator()(const Tensor<T>& x) const {
    CT_CHECK(x.rank() == 3, "GlobalAvgPool1D: the input must be NWC, not {}", x.shape());
    return mean(x, {1});
  }
};

/// [N, W, C] -> [N, C], the maximum over the steps.
template <FloatingPoint T>
struct GlobalMaxPool1D {
  CT_FIELDS()
  Tensor<T> operator()(const Tensor<T>& x) const {
    CT_CHECK(x.rank() == 3, "GlobalMaxPool1D: the input must be NWC, not {}", x.shape());
    return max(x, {1});
  }
};

/// Zeros added before and after the steps: [N, W, C] -> [N, before + W + after, C].
template <FloatingPoint T>
struct ZeroPadding1D {
  std::int64_t before = 1, after = 1;
  CT_FIELDS()
  Tensor<T> operator()(const Tensor<T>& x) const {
    CT_CHECK(x.rank() == 3, "ZeroPadding1D: the input must be NWC, not {}", x.shape());
    CT_CHECK_AS(ValueError, before >= 0 && after >= 0,
                "ZeroPadding1D: paddings {} and {} must not be negative", before, after);
    return pad(x, {{0, 0}, {before, after}, {0, 0}});
  }
};

/// Each step repeated `size` times: [N, W, C] -> [N, size·W, C].
template <FloatingPoint T>
struct UpSampling1D {
  std::int64_t size = 2;
  CT_FIELDS()
  Tensor<T> operator()(const Tensor<T>& x) const {
    CT_CHECK(x.rank() == 3, "UpSampling1D: the input must be NWC, not {}", x.shape());
    CT_CHECK_AS(ValueError, size >= 1, "UpSampling1D: size {} must be at least 1", size);
    std::int64_t n = x.shape(0), w = x.shape(1), c = x.shape(2);
    return reshape(broadcast_to(reshape(x, {n, w, 1, c}), {n, w, size, c}), {n, w * size, c});
  }
};

}  // namespace ct
