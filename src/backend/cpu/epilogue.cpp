// Bias + activation applied to a matmul's or convolution's output, and their backward pass, each
// in one sweep over memory: unfused, the forward pass reads and writes the output twice (bias,
// then activation) and the backward pass three times (mask, then a separate bias reduction).
#include <vector>

#include "cpu_backend.hpp"

namespace ct::cpu {
void check_bias(const char* op, const RawTensor& y, const RawTensor* bias) {
  CT_CHECK(y.rank() >= 1, "{}: needs at least one dimension, got a scalar", op);
  if (!bias) return;
  CT_CHECK(bias->rank() == 1 && bias->shape[0] == y.shape[y.rank() - 1] && bias->dtype == y.dtype,
           "{}: bias {} {} does not match the last dimension of {} {}", op, bias->shape,
           bias->dtype, y.shape, y.dtype);
}

void CpuBackend::apply_epilogue(RawTensor& y, const Epilogue& e) {
  check_bias("apply_epilogue", y, e.bias);
  CT_CHECK(y.is_contiguous(), "apply_epilogue: the output must be contiguous");
  if (e.empty() || y.count() == 0) return;
  RawTensor bias = e.bias ? dense(*e.bias) : RawTensor();
  bool relu = e.activation == FusedActivation::relu;
  visit_floating(y.dtype, "apply_epilogue", [&](auto tag) {
    using T = decltype(tag);
    std::int64_t channels = y.shape[y.rank() - 1], rows = y.count() / channels;
    T* py = y.data_as<T>();
    const T* pb = e.bias ? bias.data_as<T>() : nullptr;
    parallel_for(rows, grain_for(channels), [&](std::int64_t b, std::int64_t end) {
      for (std::int64_t r = b; r < end; ++r) {
        T* row = py + r * channels;
        if (pb && relu) {
#pragma omp simd
          for (std::int64_t c = 0; c < channels; ++c) {
            T v = row[c] + pb[c];
            row[c] = v > T(0) ? v : T(0);
          }
        } else if (pb) {
#pragma omp simd
          for (std::int64_t c = 0; c < channels; ++c) row[c] += pb[c];
        } else {
#pragma omp simd
          for (std::int64_t c = 0; c < channels; ++c) row[c] = row[c] > T(0) ? row[c] : T(0);
        }
      }
    });
  });
}

RawTensor CpuBackend::linear(const RawTensor& x, const RawTensor& w, const RawTensor* bias,
                             FusedActivation activation) {
  RawTensor y = matmul(x, w, false, false);
  apply_epilogue(y, {bias, activation});
  return y;
}

RawTensor CpuBackend::activation_backward(RawTensor dy_in, const RawTensor& y_in,
                                          FusedActivation activation, RawTensor* bias_grad) {
  bool relu = activation == FusedActivation::relu;
  CT_CHECK(!relu || y_in.shape == dy_in.shape,
           "activation_backward: gradient {} and result {} differ in shape", dy_in.shape,
           y_in.shape);
  check_bias("activation_backward", dy_in, nullptr);
  bool reusable = dy_in.owns_whole_storage();
  RawTensor dy = dense(std::move(dy_in));
  if (!relu && !bias_grad) return dy;
  RawTensor y = relu ? dense(y_in) : RawTensor();
  // Masking in place saves a buffer and the memory traffic of filling a fresh one.
  RawTensor g = relu && !reusable ? empty(dy.shape, dy.dtype) : dy;
  std::int64_t channels = dy.shape[dy.rank() - 1];
  if (bias_grad) *bias_grad = empty(Shape{channels}, dy.dtype);
  visit_floating(dy.dtype, "activation_backward", [&](auto tag) {
    using T = decltype(tag);
    std::int64_t rows = channels ? dy.count() / channels : 0;
    const T* pdy = dy.data_as<T>();
    const T* py = relu ? y.data_as<T>() : nullptr;
    T* pg = g.data_as<T>();
    // The bias gradient: rows summed in fixed blocks, then the blocks' sums in order. Fewer
    // rounding errors than one running sum over a batch of images, and the same bits whatever
    // the number of threads.
    constexpr std::int64_t kBlock = 64;
    std::int64_t blocks = (rows + kBlock - 1) / kBlock;
    std::vector<T> sums(std::size_t(bias_grad ? blocks * channels : 0), T(0));
    parallel_for(blocks, grain_for(kBlock * channels), [&](std::int64_t b, std::int64_t end) {
      for (std::int64_t block = b; block < end; ++block) {
        std::int64_t r0 = block * kBlock, r1 = std::min(rows, r0 + kBlock);
        for (std::int64_t r = r0; r < r1; ++r) {
          const T* d = pdy + r * channels;
          T* o = pg + r * channels;
          if (relu) {
            const T* yr = py + r * channels;
#pragma omp simd
            for (std::int64_t c = 0; c < channels; ++c) o[c] = yr[c] > T(0) ? d[c] : T(0);
          }
          if (bias_grad) {
            T* acc = sums.data() + block * channels;
#pragma omp simd
            for (std::int64_t c = 0; c < channels; ++c) acc[c] += o[c];
          }
        }
      }
    });
    std::vector<T> total(std::size_t(bias_grad ? channels : 0), T(0));
    for (std::int64_t block = 0; block < blocks && bias_grad; ++block)
      for (std::int64_t c = 0; c < channels; ++c)
        total[std::size_t(c)] += sums[std::size_t(block * channels + c)];
    if (bias_grad) std::copy(total.begin(), total.end(), bias_grad->data_as<T>());
  });
  return g;
}

}  // namespace ct::cpu
