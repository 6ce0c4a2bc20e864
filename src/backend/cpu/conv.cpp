// Convolution. float32 goes to oneDNN's convolution primitives (onednn_conv.hpp: 322 GFLOP/s
// forward with bias and relu fused, 346 backward-data, 283 backward-filter on the talk's second
// layer, against 208 for im2col + sgemm); float64, and any geometry oneDNN declines, runs as
// im2col + GEMM (NHWC input and HWIO filter make the GEMM output NHWC directly), in chunks so the
// column buffer stays small. Depthwise convolution and pooling are direct loops over contiguous
// channels.
#include <algorithm>
#include <limits>
#include <memory>
#include <vector>

#include "cpu_backend.hpp"
#include "gemm.hpp"
#include "onednn_conv.hpp"

namespace ct::cpu {
namespace {

constexpr std::int64_t kColumnBudget = 8 << 20;  // elements of im2col buffer per chunk

struct Geometry {
  std::int64_t n, h, w, c;  // input  [n, h, w, c]
  std::int64_t oh, ow;      // output [n, oh, ow, *]
  Window2D win;
  std::int64_t patch() const { return win.kernel_h * win.kernel_w * c; }
  std::int64_t rows_per_image() const { return oh * ow; }
  bool is_pointwise() const {
    return win.kernel_h == 1 && win.kernel_w == 1 && win.stride_h == 1 && win.stride_w == 1 &&
           win.pad_top == 0 && win.pad_left == 0;
  }
};

Geometry geometry(const Shape& input, const Window2D& w) {
  return {input[0], input[1], input[2], input[3], w.out_h, w.out_w, w};
}

/// Images [first, first + count) unrolled into rows of patches: col [count*oh*ow, kh*kw*c].
template <class T>
void im2col(const T* x, T* col, const Geometry& g, std::int64_t first, std::int64_t count) {
  const Window2D& w = g.win;
  std::int64_t rows = count * g.oh * g.ow, patch = g.patch();
  parallel_for(rows, grain_for(patch), [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t r = b; r < e; ++r) {
      std::int64_t img = first + r / (g.oh * g.ow), p = r % (g.oh * g.ow), oy = p / g.ow,
                   ox = p % g.ow;
      T* dst = col + r * patch;
      for (std::int64_t ky = 0; ky < w.kernel_h; ++ky) {
        std::int64_t iy = oy * w.stride_h + ky * w.dilation_h - w.pad_top;
        std::int64_t ix0 = ox * w.stride_w - w.pad_left;
        bool row_inside = iy >= 0 && iy < g.h;
        const T* row = row_inside ? x + ((img * g.h + iy) * g.w) * g.c : nullptr;
        if (row_inside && w.dilation_w == 1 && ix0 >= 0 && ix0 + w.kernel_w <= g.w) {
          // The whole row of taps is contiguous in NHWC: one copy of kernel_w * c values.
          std::copy_n(row + ix0 * g.c, w.kernel_w * g.c, dst);
          dst += w.kernel_w * g.c;
          continue;
        }
        for (std::int64_t kx = 0; kx < w.kernel_w; ++kx, dst += g.c) {
          std::int64_t ix = ix0 + kx * w.dilation_w;
          if (!row_inside || ix < 0 || ix >= g.w)
            std::fill(dst, dst + g.c, T(0));
          else
            std::copy_n(row + ix * g.c, g.c, dst);
        }
      }
    }
  });
}

/// The adjoint of im2col: adds each patch row back into dx (images [first, first + count)).
template <class T>
void col2im(const T* col, T* dx, const Geometry& g, std::int64_t first, std::int64_t count) {
  const Window2D& w = g.win;
  std::int64_t patch = g.patch();
  parallel_for(count, 1, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) {
      std::int64_t img = first + i;
      for (std::int64_t p = 0; p < g.oh * g.ow; ++p) {
        std::int64_t oy = p / g.ow, ox = p % g.ow;
        const T* src = col + (i * g.oh * g.ow + p) * patch;
        for (std::int64_t ky = 0; ky < w.kernel_h; ++ky) {
          std::int64_t iy = oy * w.stride_h + ky * w.dilation_h - w.pad_top;
          for (std::int64_t kx = 0; kx < w.kernel_w; ++kx, src += g.c) {
            std::int64_t ix = ox * w.stride_w + kx * w.dilation_w - w.pad_left;
            if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
            T* d = dx + ((img * g.h + iy) * g.w + ix) * g.c;
#pragma omp simd
            for (std::int64_t ch = 0; ch < g.c; ++ch) d[ch] += src[ch];
          }
        }
      }
    }
  });
}

std::int64_t images_per_chunk(const Geometry& g) {
  std::int64_t per_image = std::max<std::int64_t>(1, g.rows_per_image() * g.patch());
  return std::clamp<std::int64_t>(kColumnBudget / per_image, 1, std::max<std::int64_t>(g.n, 1));
}

template <class T>
void conv_forward(const RawTensor& x, const RawTensor& f, RawTensor& out, const Geometry& g) {
  std::int64_t o = f.shape[3], patch = g.patch(), rows = g.rows_per_image();
  const T* px = x.data_as<T>();
  const T* pf = f.data_as<T>();
  T* py = out.data_as<T>();
  if (g.is_pointwise())
    return gemm<T>(false, false, g.n * rows, o, patch, T(1), px, patch, pf, o, T(0), py, o);
  std::int64_t chunk = images_per_chunk(g);
  auto col = std::make_unique_for_overwrite<T[]>(std::size_t(chunk * rows * patch));
  for (std::int64_t first = 0; first < g.n; first += chunk) {
    std::int64_t count = std::min(chunk, g.n - first);
    im2col(px, col.get(), g, first, count);
    gemm<T>(false, false, count * rows, o, patch, T(1), col.get(), patch, pf, o, T(0),
            py + first * rows * o, o);
  }
}

template <class T>
void conv_backward_input(const RawTensor& dy, const RawTensor& f, RawTensor& dx,
                         const Geometry& g) {
  std::int64_t o = f.shape[3], patch = g.patch(), rows = g.rows_per_image();
  const T* pdy = dy.data_as<T>();
  const T* pf = f.data_as<T>();
  T* pdx = dx.data_as<T>();
  if (g.is_pointwise())
    return gemm<T>(false, true, g.n * rows, patch, o, T(1), pdy, o, pf, o, T(0), pdx, patch);
  std::fill(pdx, pdx + dx.count(), T(0));
  std::int64_t chunk = images_per_chunk(g);
  auto col = std::make_unique_for_overwrite<T[]>(std::size_t(chunk * rows * patch));
  for (std::int64_t first = 0; first < g.n; first += chunk) {
    std::int64_t count = std::min(chunk, g.n - first);
    gemm<T>(false, true, count * rows, patch, o, T(1), pdy + first * rows * o, o, pf, o, T(0),
            col.get(), patch);
    col2im(col.get(), pdx, g, first, count);
  }
}

template <class T>
void conv_backward_filter(const RawTensor& x, const RawTensor& dy, RawTensor& df,
                          const Geometry& g) {
  std::int64_t o = df.shape[3], patch = g.patch(), rows = g.rows_per_image();
  const T* px = x.data_as<T>();
  const T* pdy = dy.data_as<T>();
  T* pdf = df.data_as<T>();
  std::fill(pdf, pdf + df.count(), T(0));
  if (g.is_pointwise())
    return gemm<T>(true, false, patch, o, g.n * rows, T(1), px, patch, pdy, o, T(0), pdf, o);
  std::int64_t chunk = images_per_chunk(g);
  auto col = std::make_unique_for_overwrite<T[]>(std::size_t(chunk * rows * patch));
  for (std::int64_t first = 0; first < g.n; first += chunk) {
    std::int64_t count = std::min(chunk, g.n - first);
    im2col(px, col.get(), g, first, count);
    gemm<T>(true, false, patch, o, count * rows, T(1), col.get(), patch, pdy + first * rows * o, o,
            T(1), pdf, o);
  }
}

/// Calls visit(img, oy, ox, ky, kx, iy, ix) for every in-bounds tap of every output position
/// of images [b, e).
template <class Visit>
void for_each_tap(const Geometry& g, std::int64_t b, std::int64_t e, Visit&& visit) {
  const Window2D& w = g.win;
  for (std::int64_t img = b; img < e; ++img)
    for (std::int64_t oy = 0; oy < g.oh; ++oy)
      for (std::int64_t ox = 0; ox < g.ow; ++ox)
        for (std::int64_t ky = 0; ky < w.kernel_h; ++ky) {
          std::int64_t iy = oy * w.stride_h + ky * w.dilation_h - w.pad_top;
          if (iy < 0 || iy >= g.h) continue;
          for (std::int64_t kx = 0; kx < w.kernel_w; ++kx) {
            std::int64_t ix = ox * w.stride_w + kx * w.dilation_w - w.pad_left;
            if (ix < 0 || ix >= g.w) continue;
            visit(img, oy, ox, ky, kx, iy, ix);
          }
        }
}

// Depthwise: out[n, y, x, c*M + m] = sum over taps of in[n, iy, ix, c] * f[ky, kx, c, m].
template <class T>
void depthwise_forward(const RawTensor& x, const RawTensor& f, RawTensor& out, const Geometry& g) {
  std::int64_t m = f.shape[3], cm = g.c * m;
  const T* px = x.data_as<T>();
  const T* pf = f.data_as<T>();
  T* py = out.data_as<T>();
  std::fill(py, py + out.count(), T(0));
  parallel_for(g.n, 1, [&](std::int64_t b, std::int64_t e) {
    for_each_tap(g, b, e, [&](auto img, auto oy, auto ox, auto ky, auto kx, auto iy, auto ix) {
      T* o = py + ((img * g.oh + oy) * g.ow + ox) * cm;
      const T* in = px + ((img * g.h + iy) * g.w + ix) * g.c;
      const T* fw = pf + (ky * g.win.kernel_w + kx) * cm;
      for (std::int64_t c = 0; c < g.c; ++c)
        for (std::int64_t k = 0; k < m; ++k) o[c * m + k] += in[c] * fw[c * m + k];
    });
  });
}

template <class T>
void depthwise_backward_input(const RawTensor& dy, const RawTensor& f, RawTensor& dx,
                              const Geometry& g) {
  std::int64_t m = f.shape[3], cm = g.c * m;
  const T* pdy = dy.data_as<T>();
  const T* pf = f.data_as<T>();
  T* pdx = dx.data_as<T>();
  std::fill(pdx, pdx + dx.count(), T(0));
  parallel_for(g.n, 1, [&](std::int64_t b, std::int64_t e) {
    for_each_tap(g, b, e, [&](auto img, auto oy, auto ox, auto ky, auto kx, auto iy, auto ix) {
      const T* d = pdy + ((img * g.oh + oy) * g.ow + ox) * cm;
      T* in = pdx + ((img * g.h + iy) * g.w + ix) * g.c;
      const T* fw = pf + (ky * g.win.kernel_w + kx) * cm;
      for (std::int64_t c = 0; c < g.c; ++c)
        for (std::int64_t k = 0; k < m; ++k) in[c] += d[c * m + k] * fw[c * m + k];
    });
  });
}

template <class T>
void depthwise_backward_filter(const RawTensor& x, const RawTensor& dy, RawTensor& df,
                               const Geometry& g) {
  std::int64_t m = df.shape[3], cm = g.c * m;
  const T* px = x.data_as<T>();
  const T* pdy = dy.data_as<T>();
  // A partial sum per fixed group of images, added in order: the result does not depend on the
  // thread count.
  constexpr std::int64_t kImages = 4;
  std::int64_t groups = (g.n + kImages - 1) / kImages;
  std::vector<std::vector<T>> partial(std::size_t(groups), std::vector<T>(df.count(), T(0)));
  parallel_for(groups, 1, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t group = b; group < e; ++group) {
      T* acc = partial[std::size_t(group)].data();
      std::int64_t first = group * kImages, last = std::min(g.n, first + kImages);
      for_each_tap(g, first, last,
                   [&](auto img, auto oy, auto ox, auto ky, auto kx, auto iy, auto ix) {
                     const T* d = pdy + ((img * g.oh + oy) * g.ow + ox) * cm;
                     const T* in = px + ((img * g.h + iy) * g.w + ix) * g.c;
                     T* fw = acc + (ky * g.win.kernel_w + kx) * cm;
                     for (std::int64_t c = 0; c < g.c; ++c)
                       for (std::int64_t k = 0; k < m; ++k) fw[c * m + k] += d[c * m + k] * in[c];
                   });
    }
  });
  T* pdf = df.data_as<T>();
  for (std::int64_t i = 0; i < df.count(); ++i) {
    T s = 0;
    for (auto& p : partial) s += p[i];
    pdf[i] = s;
  }
}

/// Offsets, within one image, of the in-bounds taps of the pooling window at output (oy, ox);
/// returns how many there are.
inline std::size_t window_taps(const Geometry& g, std::int64_t oy, std::int64_t ox,
                               std::int64_t* taps) {
  const Window2D& w = g.win;
  std::size_t count = 0;
  for (std::int64_t ky = 0; ky < w.kernel_h; ++ky) {
    std::int64_t iy = oy * w.stride_h + ky - w.pad_top;
    if (iy < 0 || iy >= g.h) continue;
    for (std::int64_t kx = 0; kx < w.kernel_w; ++kx) {
      std::int64_t ix = ox * w.stride_w + kx - w.pad_left;
      if (ix >= 0 && ix < g.w) taps[count++] = (iy * g.w + ix) * g.c;
    }
  }
  return count;
}

/// For each channel, which of the `count` taps holds the window's first maximum (`best` is
/// scratch for the running maxima), by vector compares.
template <class T>
void find_winners(const T* in, const std::int64_t* taps, std::size_t count, std::int64_t channels,
                  T* best, std::int32_t* winner) {
  std::copy_n(in + taps[0], channels, best);
  std::fill(winner, winner + channels, 0);
  for (std::size_t t = 1; t < count; ++t) {
    const T* v = in + taps[t];
#pragma omp simd
    for (std::int64_t c = 0; c < channels; ++c) {
      bool greater = v[c] > best[c];
      best[c] = greater ? v[c] : best[c];
      winner[c] = greater ? std::int32_t(t) : winner[c];
    }
  }
}

/// Pools x into out. With `select_from` (max pooling only), each window's output is instead the
/// element of select_from at x's winning tap, 0 for a window outside the input: max pooling's
/// derivative applied to select_from.
template <class T>
void pool_forward(PoolKind kind, const RawTensor& x, RawTensor& out, const Geometry& g,
                  const RawTensor* select_from = nullptr) {
  const T* px = x.data_as<T>();
  const T* ps = select_from ? select_from->data_as<T>() : nullptr;
  T* py = out.data_as<T>();
  std::int64_t image = g.h * g.w * g.c;
  T empty = kind == PoolKind::max && !ps ? -std::numeric_limits<T>::infinity() : T(0);
  auto rows = [&](std::int64_t first, std::int64_t last) {  // rows of the output: (image, oy)
    std::vector<std::int64_t> taps(g.win.kernel_h * g.win.kernel_w);
    std::vector<T> best(ps ? g.c : 0);
    std::vector<std::int32_t> winner(ps ? g.c : 0);
    for (std::int64_t row = first; row < last; ++row) {
      const T* in = px + (row / g.oh) * image;
      for (std::int64_t ox = 0; ox < g.ow; ++ox) {
        T* o = py + (row * g.ow + ox) * g.c;
        std::size_t count = window_taps(g, row % g.oh, ox, taps.data());
        if (count == 0) {
          std::fill(o, o + g.c, empty);
          continue;
        }
        if (ps) {
          find_winners(in, taps.data(), count, g.c, best.data(), winner.data());
          const T* v = ps + (row / g.oh) * image;
          for (std::int64_t c = 0; c < g.c; ++c) o[c] = v[taps[winner[c]] + c];
          continue;
        }
        std::copy_n(in + taps[0], g.c, o);
        for (std::size_t t = 1; t < count; ++t) {
          const T* v = in + taps[t];
          if (kind == PoolKind::max) {
#pragma omp simd
            for (std::int64_t c = 0; c < g.c; ++c) o[c] = v[c] > o[c] ? v[c] : o[c];
          } else {
#pragma omp simd
            for (std::int64_t c = 0; c < g.c; ++c) o[c] += v[c];
          }
        }
        if (kind == PoolKind::average) {
          T scale = T(1) / T(count);
#pragma omp simd
          for (std::int64_t c = 0; c < g.c; ++c) o[c] *= scale;
        }
      }
    }
  };
  parallel_for(g.n * g.oh, grain_for(g.ow * g.c * g.win.kernel_h * g.win.kernel_w), rows);
}

/// Each thread owns whole images: it clears an image's gradient (small enough to stay in cache)
/// and then adds every window's share into it; when the windows tile the image exactly (the
/// usual 2×2, stride 2) each element is written once instead. Max pooling finds each channel's
/// winning tap with vector compares (the first maximum wins, as in the forward pass).
template <class T>
void pool_backward(PoolKind kind, const RawTensor& x, const RawTensor& dy, RawTensor& dx,
                   const Geometry& g) {
  const T* px = x.data_as<T>();
  const T* pdy = dy.data_as<T>();
  T* pdx = dx.data_as<T>();
  const Window2D& w = g.win;
  std::int64_t image = g.h * g.w * g.c;
  bool tiles = w.stride_h == w.kernel_h && w.stride_w == w.kernel_w && w.pad_top == 0 &&
               w.pad_left == 0 && g.oh * w.kernel_h == g.h && g.ow * w.kernel_w == g.w;
  parallel_for(g.n, 1, [&](std::int64_t b, std::int64_t e) {
    std::vector<T> best(g.c);
    std::vector<std::int32_t> winner(g.c);
    std::vector<std::int64_t> taps(w.kernel_h * w.kernel_w);  // offsets of in-bounds taps
    for (std::int64_t img = b; img < e; ++img) {
      const T* in = px + img * image;
      T* out = pdx + img * image;
      if (!tiles) std::fill(out, out + image, T(0));
      for (std::int64_t oy = 0; oy < g.oh; ++oy)
        for (std::int64_t ox = 0; ox < g.ow; ++ox) {
          const T* d = pdy + ((img * g.oh + oy) * g.ow + ox) * g.c;
          std::size_t count = window_taps(g, oy, ox, taps.data());
          if (count == 0) continue;
          if (kind == PoolKind::average) {
            T scale = T(1) / T(count);
            for (std::size_t t = 0; t < count; ++t) {
              T* o = out + taps[t];
              if (tiles) {
#pragma omp simd
                for (std::int64_t c = 0; c < g.c; ++c) o[c] = d[c] * scale;
              } else {
#pragma omp simd
                for (std::int64_t c = 0; c < g.c; ++c) o[c] += d[c] * scale;
              }
            }
            continue;
          }
          find_winners(in, taps.data(), count, g.c, best.data(), winner.data());
          if (tiles) {
            for (std::size_t t = 0; t < count; ++t) {
              T* o = out + taps[t];
              const std::int32_t* wp = winner.data();
#pragma omp simd
              for (std::int64_t c = 0; c < g.c; ++c) o[c] = wp[c] == std::int32_t(t) ? d[c] : T(0);
            }
          } else {
            for (std::int64_t c = 0; c < g.c; ++c) out[taps[winner[c]] + c] += d[c];
          }
        }
    }
  });
}

/// Pooling of a dense x (see pool_forward for `select_from`).
RawTensor pooled(PoolKind kind, const RawTensor& x, const Window2D& w,
                 const RawTensor* select_from) {
  Geometry g = geometry(x.shape, w);
  RawTensor out = empty({g.n, g.oh, g.ow, g.c}, x.dtype);
  if (out.count() == 0) return out;
  visit_floating(x.dtype, "pool2d",
                 [&](auto tag) { pool_forward<decltype(tag)>(kind, x, out, g, select_from); });
  return out;
}

}  // namespace

RawTensor CpuBackend::conv2d_activation(const RawTensor& input, const RawTensor& filter,
                                        const Window2D& w, bool depthwise, const RawTensor* bias,
                                        FusedActivation activation) {
  Epilogue epilogue{bias, activation};
  RawTensor x = dense(input), f = dense(filter);
  Geometry g = geometry(x.shape, w);
  std::int64_t channels = depthwise ? g.c * f.shape[3] : f.shape[3];
  RawTensor out = empty({g.n, g.oh, g.ow, channels}, x.dtype);
  check_bias("conv2d", out, epilogue.bias);  // before any kernel reads it
  if (out.count() == 0) return out;
  if (x.dtype == DType::float32 && !depthwise && x.count() > 0) {
    RawTensor bias = epilogue.bias ? dense(*epilogue.bias) : RawTensor();
    if (onednn::conv_forward(x, f, out, w, epilogue.bias ? &bias : nullptr,
                             epilogue.activation == FusedActivation::relu))
      return out;
  }
  visit_floating(x.dtype, "conv2d", [&](auto tag) {
    using T = decltype(tag);
    if (depthwise)
      depthwise_forward<T>(x, f, out, g);
    else
      conv_forward<T>(x, f, out, g);
  });
  apply_epilogue(out, epilogue);
  return out;
}

RawTensor CpuBackend::conv2d_backward_input(const RawTensor& dy_in, const RawTensor& filter,
                                            const Shape& input_shape, const Window2D& w,
                                            bool depthwise) {
  RawTensor dy = dense(dy_in), f = dense(filter);
  Geometry g = geometry(input_shape, w);
  RawTensor dx = empty(input_shape, dy.dtype);
  if (dx.count() == 0) return dx;
  visit_floating(dy.dtype, "conv2d", [&](auto tag) {
    using T = decltype(tag);
    if (dy.count() == 0)
      std::fill(dx.data_as<T>(), dx.data_as<T>() + dx.count(), T(0));
    else if (std::is_same_v<T, float> && !depthwise && onednn::conv_backward_input(dy, f, dx, w))
      return;
    else if (depthwise)
      depthwise_backward_input<T>(dy, f, dx, g);
    else
      conv_backward_input<T>(dy, f, dx, g);
  });
  return dx;
}

RawTensor CpuBackend::conv2d_backward_filter(const RawTensor& input, const RawTensor& dy_in,
                                             const Shape& filter_shape, const Window2D& w,
                                             bool depthwise) {
  RawTensor x = dense(input), dy = dense(dy_in);
  Geometry g = geometry(x.shape, w);
  RawTensor df = empty(filter_shape, x.dtype);
  if (df.count() == 0) return df;
  visit_floating(x.dtype, "conv2d", [&](auto tag) {
    using T = decltype(tag);
    if (dy.count() == 0) std::fill(df.data_as<T>(), df.data_as<T>() + df.count(), T(0));
    // oneDNN splits the sum over the batch across threads, so its filter gradient changes with
    // the thread count; deterministic mode takes im2col + fixed-tile GEMM instead.
    else if (std::is_same_v<T, float> && !depthwise && !deterministic() &&
             onednn::conv_backward_filter(x, dy, df, w))
      return;
    else if (depthwise)
      depthwise_backward_filter<T>(x, dy, df, g);
    else
      conv_backward_filter<T>(x, dy, df, g);
  });
  return df;
}

RawTensor CpuBackend::pool2d(PoolKind kind, const RawTensor& input, const Window2D& w) {
  return pooled(kind, dense(input), w, nullptr);
}

RawTensor CpuBackend::pool2d_backward(PoolKind kind, const RawTensor& input, const RawTensor& dy_in,
                                      const Window2D& w) {
  RawTensor x = dense(input), dy = dense(dy_in);
  Geometry g = geometry(x.shape, w);
  RawTensor dx = empty(x.shape, x.dtype);
  if (dx.count() == 0) return dx;
  visit_floating(x.dtype, "pool2d",
                 [&](auto tag) { pool_backward<decltype(tag)>(kind, x, dy, dx, g); });
  return dx;
}

RawTensor CpuBackend::max_pool2d_select(const RawTensor& input, const RawTensor& values,
                                        const Window2D& w) {
  CT_CHECK(values.shape == input.shape && values.dtype == input.dtype,
           "max_pool2d_select: values {} {} for an input {} {}", values.shape, values.dtype,
           input.shape, input.dtype);
  RawTensor from = dense(values);
  return pooled(PoolKind::max, dense(input), w, &from);
}

}  // namespace ct::cpu
