#include "onednn_conv.hpp"

#include <dnnl.hpp>

#include <map>
#include <tuple>

namespace ct::cpu::onednn {
namespace {

using dnnl::memory;
using tag = memory::format_tag;

struct Geometry {
  memory::dims src, weights, dst, strides, dilates, pad_l, pad_r;
};

Geometry geometry(const Shape& in, const Shape& f, const Window2D& w) {
  auto pad_r = [](std::int64_t size, std::int64_t out, std::int64_t k, std::int64_t s, std::int64_t d, std::int64_t pl) {
    return (out - 1) * s + d * (k - 1) + 1 - size - pl;
  };
  return {{in[0], in[3], in[1], in[2]},  // oneDNN orders dims NCHW and OIHW whatever the layout
          {f[3], f[2], f[0], f[1]},
          {in[0], f[3], w.out_h, w.out_w},
          {w.stride_h, w.stride_w},
          {w.dilation_h - 1, w.dilation_w - 1},
          {w.pad_top, w.pad_left},
          {pad_r(in[1], w.out_h, w.kernel_h, w.stride_h, w.dilation_h, w.pad_top),
           pad_r(in[2], w.out_w, w.kernel_w, w.stride_w, w.dilation_w, w.pad_left)}};
}

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

/// The three primitives of one convolution geometry.
struct Primitives {
  dnnl::convolution_forward forward;
  dnnl::convolution_backward_data backward_data;
  dnnl::convolution_backward_weights backward_weights;
};

Primitives& primitives(const Shape& in, const Shape& f, const Window2D& w) {
  using Key = std::tuple<std::vector<std::int64_t>, std::vector<std::int64_t>, std::int64_t, std::int64_t, std::int64_t,
                         std::int64_t, std::int64_t, std::int64_t>;
  thread_local std::map<Key, Primitives> cache;
  Key key{in.vector(), f.vector(), w.stride_h, w.stride_w, w.dilation_h, w.dilation_w, w.pad_top, w.pad_left};
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  Geometry g = geometry(in, f, w);
  memory::desc src(g.src, memory::data_type::f32, tag::nhwc), weights(g.weights, memory::data_type::f32, tag::hwio),
      dst(g.dst, memory::data_type::f32, tag::nhwc);
  auto algo = dnnl::algorithm::convolution_direct;
  dnnl::convolution_forward::primitive_desc fwd(
      {dnnl::prop_kind::forward_training, algo, src, weights, dst, g.strides, g.dilates, g.pad_l, g.pad_r}, engine());
  dnnl::convolution_backward_data::primitive_desc bwd_data({algo, src, weights, dst, g.strides, g.dilates, g.pad_l, g.pad_r},
                                                           engine(), fwd);
  dnnl::convolution_backward_weights::primitive_desc bwd_weights(
      {algo, src, weights, dst, g.strides, g.dilates, g.pad_l, g.pad_r}, engine(), fwd);
  return cache.emplace(key, Primitives{dnnl::convolution_forward(fwd), dnnl::convolution_backward_data(bwd_data),
                                       dnnl::convolution_backward_weights(bwd_weights)})
      .first->second;
}

memory wrap(const memory::dims& dims, tag t, const float* p) {
  return memory({dims, memory::data_type::f32, t}, engine(), const_cast<float*>(p));
}

}  // namespace

bool supports(const Shape& in, const Shape& f, const Window2D& w) {
  Geometry g = geometry(in, f, w);
  return g.pad_r[0] >= 0 && g.pad_r[1] >= 0;
}

void conv_forward(const float* x, const float* f, float* y, const Shape& in, const Shape& fs, const Window2D& w) {
  Geometry g = geometry(in, fs, w);
  dnnl::stream stream(engine());
  primitives(in, fs, w).forward.execute(stream, {{DNNL_ARG_SRC, wrap(g.src, tag::nhwc, x)},
                                                 {DNNL_ARG_WEIGHTS, wrap(g.weights, tag::hwio, f)},
                                                 {DNNL_ARG_DST, wrap(g.dst, tag::nhwc, y)}});
  stream.wait();
}

void conv_backward_input(const float* dy, const float* f, float* dx, const Shape& in, const Shape& fs, const Window2D& w) {
  Geometry g = geometry(in, fs, w);
  dnnl::stream stream(engine());
  primitives(in, fs, w).backward_data.execute(stream, {{DNNL_ARG_DIFF_DST, wrap(g.dst, tag::nhwc, dy)},
                                                       {DNNL_ARG_WEIGHTS, wrap(g.weights, tag::hwio, f)},
                                                       {DNNL_ARG_DIFF_SRC, wrap(g.src, tag::nhwc, dx)}});
  stream.wait();
}

void conv_backward_filter(const float* x, const float* dy, float* df, const Shape& in, const Shape& fs, const Window2D& w) {
  Geometry g = geometry(in, fs, w);
  dnnl::stream stream(engine());
  primitives(in, fs, w).backward_weights.execute(stream, {{DNNL_ARG_SRC, wrap(g.src, tag::nhwc, x)},
                                                          {DNNL_ARG_DIFF_DST, wrap(g.dst, tag::nhwc, dy)},
                                                          {DNNL_ARG_DIFF_WEIGHTS, wrap(g.weights, tag::hwio, df)}});
  stream.wait();
}

}  // namespace ct::cpu::onednn
