#include "onednn_conv.hpp"

#include "cotangent/backend/cpu.hpp"
#include "cotangent/backend/threads.hpp"
#include "cpu_backend.hpp"

#include <dnnl.hpp>

#include <array>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_map>

namespace ct::cpu::onednn {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;

/// Plans kept per thread; a program that keeps changing shapes starts over past this many.
constexpr std::size_t kMaxPlans = 256;

dnnl::engine& engine() {
  static dnnl::engine cpu(dnnl::engine::kind::cpu, 0);
  return cpu;
}

dnnl::stream& stream() {
  thread_local dnnl::stream s(engine());
  return s;
}

/// A convolution's geometry: input [n, h, w, c], filter [kh, kw, c, o], the window, the
/// output's size, whether Winograd may be used, and the thread count: oneDNN fixes a
/// primitive's split of the work among threads when it creates it.
struct Geometry {
  std::array<std::int64_t, 17> v;
  bool operator==(const Geometry&) const = default;
};

struct GeometryHash {
  std::size_t operator()(const Geometry& g) const {
    std::size_t h = 0;
    for (auto x : g.v) h = h * 1000003u ^ std::hash<std::int64_t>()(x);
    return h;
  }
};

Geometry geometry_of(const Shape& input, const Shape& filter, const Window2D& w) {
  return {{input[0], input[1], input[2], input[3], filter[0], filter[1], filter[3], w.stride_h,
           w.stride_w, w.dilation_h, w.dilation_w, w.pad_top, w.pad_left, w.out_h, w.out_w,
           kernel_options().winograd, ct::thread_count()}};
}

/// A filter-sized buffer in the layout a primitive wants, and the reorder that fills it from
/// (or empties it into) our HWIO filter; no buffer when the layouts already agree.
struct FilterLayout {
  std::optional<memory> buffer;
  std::optional<dnnl::reorder> reorder;

  FilterLayout(const memory::desc& hwio, const memory::desc& wanted, bool to_wanted) {
    if (hwio == wanted) return;
    buffer.emplace(wanted, engine());
    reorder.emplace(to_wanted ? dnnl::reorder::primitive_desc(engine(), hwio, engine(), wanted)
                              : dnnl::reorder::primitive_desc(engine(), wanted, engine(), hwio));
  }

  /// The filter as the primitive reads it (our HWIO memory itself when the layouts agree).
  memory read_from(memory hwio) {
    if (!buffer) return hwio;
    reorder->execute(stream(), hwio, *buffer);
    return *buffer;
  }
  /// Where the primitive writes the filter gradient; write_back then moves it into `hwio`.
  memory target(const memory& hwio) const { return buffer ? *buffer : hwio; }
  void write_back(memory hwio) {
    if (buffer) reorder->execute(stream(), *buffer, hwio);
  }
};

/// The latest blocked copy of an activation. The filter gradient reads the input the forward
/// pass read, and the output gradient the input gradient read: with this, each is reordered
/// once. Holding the source's storage keeps its values fixed (buffers are only ever written in
/// place when nothing else holds them).
struct BlockedCopy {
  std::shared_ptr<Storage> source;
  std::int64_t offset = 0;
  memory::desc layout;
  RawTensor copy;

  bool holds(const RawTensor& t, const memory::desc& wanted) const {
    return source && source == t.storage && offset == t.offset && layout == wanted;
  }
  void clear() { *this = {}; }
};

/// Activations in the layout a primitive wants when it is not our NHWC (Winograd's kernels use
/// blocked nChw16c): the reorder into or out of it, through pooled temporaries.
struct ActivationLayout {
  memory::desc wanted;
  std::optional<dnnl::reorder> reorder;

  ActivationLayout(const memory::desc& nhwc, const memory::desc& wanted_, bool into)
      : wanted(wanted_) {
    if (nhwc == wanted) return;
    reorder.emplace(into ? dnnl::reorder::primitive_desc(engine(), nhwc, engine(), wanted)
                         : dnnl::reorder::primitive_desc(engine(), wanted, engine(), nhwc));
  }

  /// Tensor `t` (NHWC, described by `nhwc`) as the primitive reads it, reordered into `cache`
  /// unless the cache already holds it.
  memory read(const RawTensor& t, const memory::desc& nhwc, BlockedCopy& cache) const {
    memory user(nhwc, engine(), const_cast<void*>(t.data()));
    if (!reorder) return user;
    if (!cache.holds(t, wanted)) {
      cache = {t.storage, t.offset, wanted, temporary()};
      memory blocked(wanted, engine(), cache.copy.data());
      reorder->execute(stream(), user, blocked);
    }
    return memory(wanted, engine(), cache.copy.data());
  }
  /// Where the primitive writes (`scratch` holds it when blocked); write_back then moves it
  /// into `nhwc`.
  memory target(const memory& nhwc, RawTensor& scratch) const {
    if (!reorder) return nhwc;
    scratch = temporary();
    return memory(wanted, engine(), scratch.data());
  }
  void write_back(memory produced, memory nhwc) const {
    if (reorder) reorder->execute(stream(), produced, nhwc);
  }

 private:
  RawTensor temporary() const {
    auto floats = std::int64_t((wanted.get_size() + sizeof(float) - 1) / sizeof(float));
    return empty(Shape{floats}, DType::float32);
  }
};

/// Everything oneDNN needs for one geometry, created on first use of each direction.
struct Plan {
  memory::desc src, hwio, dst, bias;
  memory::dims strides, dilates, pad_l, pad_r;
  bool try_winograd = false;
  // Forward descriptions the backward passes are created against, one per algorithm.
  std::optional<dnnl::convolution_forward::primitive_desc> hint[2];
  struct Forward {
    dnnl::convolution_forward primitive;
    FilterLayout filter;
    ActivationLayout input, output;
  };
  std::array<std::optional<Forward>, 4> forward;  // indexed by has_bias * 2 + relu
  struct BackwardData {
    dnnl::convolution_backward_data primitive;
    FilterLayout filter;
    ActivationLayout output_grad, input_grad;
  };
  std::optional<BackwardData> backward_data;
  struct BackwardWeights {
    dnnl::convolution_backward_weights primitive;
    FilterLayout filter;
    ActivationLayout input, output_grad;
  };
  std::optional<BackwardWeights> backward_weights;
  // Blocked copies shared by the directions (the backward passes are created against the
  // forward pass, so they want the same layouts).
  BlockedCopy input_copy, output_grad_copy;
  bool unsupported = false;

  Plan(const Geometry& g) {
    auto [n, h, w, c, kh, kw, o, sh, sw, dh, dw, pt, pl, oh, ow, winograd, threads] = g.v;
    src = memory::desc({n, c, h, w}, memory::data_type::f32, Tag::nhwc);
    hwio = memory::desc({o, c, kh, kw}, memory::data_type::f32, Tag::hwio);
    dst = memory::desc({n, o, oh, ow}, memory::data_type::f32, Tag::nhwc);
    bias = memory::desc({o}, memory::data_type::f32, Tag::a);
    strides = {sh, sw};
    dilates = {dh - 1, dw - 1};  // oneDNN counts the gaps between taps
    pad_l = {pt, pl};
    // The far padding that makes oneDNN's output-size formula give our size (never negative:
    // with valid padding, rows the stride skips at the end are simply not read).
    pad_r = {std::max<std::int64_t>(0, (oh - 1) * sh + (kh - 1) * dh + 1 - h - pt),
             std::max<std::int64_t>(0, (ow - 1) * sw + (kw - 1) * dw + 1 - w - pl)};
    // Winograd F(4×4, 3×3) exists for 3×3, stride 1, undilated, 16k channels in and out.
    try_winograd = winograd && kh == 3 && kw == 3 && sh == 1 && sw == 1 && dh == 1 && dw == 1 &&
                   c % 16 == 0 && o % 16 == 0;
  }

  memory::desc any(const memory::desc& md) const {
    return memory::desc(md.dims(), memory::data_type::f32, Tag::any);
  }

  /// Activation descriptions for an algorithm: any layout for Winograd, NHWC for direct.
  memory::desc source(bool winograd) const { return winograd ? any(src) : src; }
  memory::desc destination(bool winograd) const { return winograd ? any(dst) : dst; }
  static dnnl::algorithm algorithm(bool winograd) {
    return winograd ? dnnl::algorithm::convolution_winograd : dnnl::algorithm::convolution_direct;
  }

  dnnl::convolution_forward::desc forward_desc(bool winograd, bool with_bias) const {
    using Desc = dnnl::convolution_forward::desc;
    auto kind = dnnl::prop_kind::forward_training;
    if (with_bias)
      return Desc(kind, algorithm(winograd), source(winograd), any(hwio), bias,
                  destination(winograd), strides, dilates, pad_l, pad_r);
    return Desc(kind, algorithm(winograd), source(winograd), any(hwio), destination(winograd),
                strides, dilates, pad_l, pad_r);
  }

  const dnnl::convolution_forward::primitive_desc& backward_hint(bool winograd) {
    if (!hint[winograd]) hint[winograd].emplace(forward_desc(winograd, false), engine());
    return *hint[winograd];
  }

  /// make(winograd) for Winograd where it may apply and oneDNN has it, else for direct.
  template <class Make>
  auto first_available(Make&& make) {
    if (try_winograd) {
      try {
        return make(true);
      } catch (const dnnl::error&) {  // not for this shape or CPU: direct convolution
      }
    }
    return make(false);
  }
};

/// This thread's plan for a geometry, or null when oneDNN cannot run it. Thread-local, so
/// concurrent training loops never share a primitive's scratch state.
Plan* plan_for(const Shape& input, const Shape& filter, const Window2D& w) {
  thread_local std::unordered_map<Geometry, std::unique_ptr<Plan>, GeometryHash> plans;
  auto key = geometry_of(input, filter, w);
  if (plans.size() >= kMaxPlans && !plans.count(key)) plans.clear();  // shapes that keep changing
  auto& plan = plans[key];
  if (!plan) plan = std::make_unique<Plan>(key);
  return plan->unsupported ? nullptr : plan.get();
}

/// oneDNN's reference kernels (plain loops, for layouts its JIT kernels do not cover) run 10-1000×
/// slower than im2col + GEMM: those count as no implementation.
template <class PrimitiveDesc>
PrimitiveDesc fast(PrimitiveDesc pd) {
  if (std::string_view(pd.impl_info_str()).starts_with("ref"))
    throw dnnl::error(dnnl_unimplemented, "only a reference implementation");
  return pd;
}

memory wrap(const memory::desc& md, const void* data) {
  return memory(md, engine(), const_cast<void*>(data));
}

/// Runs `build` and `run`; an implementation oneDNN lacks marks the plan unsupported.
template <class Build, class Run>
bool attempt(Plan& plan, Build&& build, Run&& run) {
  try {
    build();
  } catch (const dnnl::error&) {
    plan.unsupported = true;
    return false;
  }
  run();
  stream().wait();
  return true;
}

}  // namespace

bool conv_forward(const RawTensor& x, const RawTensor& filter, RawTensor& out, const Window2D& w,
                  const RawTensor* bias, bool relu) {
  Plan* plan = plan_for(x.shape, filter.shape, w);
  if (!plan) return false;
  auto& slot = plan->forward[(bias ? 2 : 0) + (relu ? 1 : 0)];
  RawTensor output_scratch;  // the blocked result, held until the stream is done
  return attempt(
      *plan,
      [&] {
        if (slot) return;
        dnnl::primitive_attr attr;
        if (relu) {
          dnnl::post_ops ops;
          ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
          attr.set_post_ops(ops);
        }
        auto pd = plan->first_available([&](bool winograd) {
          return fast(dnnl::convolution_forward::primitive_desc(
              plan->forward_desc(winograd, bias != nullptr), attr, engine()));
        });
        slot.emplace(Plan::Forward{dnnl::convolution_forward(pd),
                                   FilterLayout(plan->hwio, pd.weights_desc(), true),
                                   ActivationLayout(plan->src, pd.src_desc(), true),
                                   ActivationLayout(plan->dst, pd.dst_desc(), false)});
      },
      [&] {
        memory weights = slot->filter.read_from(wrap(plan->hwio, filter.data()));
        memory user_out = wrap(plan->dst, out.data());
        memory produced = slot->output.target(user_out, output_scratch);
        std::unordered_map<int, memory> args{
            {DNNL_ARG_SRC, slot->input.read(x, plan->src, plan->input_copy)},
            {DNNL_ARG_WEIGHTS, weights},
            {DNNL_ARG_DST, produced}};
        if (bias) args.emplace(DNNL_ARG_BIAS, wrap(plan->bias, bias->data()));
        slot->primitive.execute(stream(), args);
        slot->output.write_back(produced, user_out);
      });
}

bool conv_backward_input(const RawTensor& dy, const RawTensor& filter, RawTensor& dx,
                         const Window2D& w) {
  Plan* plan = plan_for(dx.shape, filter.shape, w);
  if (!plan) return false;
  auto& slot = plan->backward_data;
  RawTensor dx_scratch;
  return attempt(
      *plan,
      [&] {
        if (slot) return;
        auto pd = plan->first_available([&](bool winograd) {
          dnnl::convolution_backward_data::desc desc(
              Plan::algorithm(winograd), plan->source(winograd), plan->any(plan->hwio),
              plan->destination(winograd), plan->strides, plan->dilates, plan->pad_l, plan->pad_r);
          return fast(dnnl::convolution_backward_data::primitive_desc(
              desc, engine(), plan->backward_hint(winograd)));
        });
        slot.emplace(Plan::BackwardData{dnnl::convolution_backward_data(pd),
                                        FilterLayout(plan->hwio, pd.weights_desc(), true),
                                        ActivationLayout(plan->dst, pd.diff_dst_desc(), true),
                                        ActivationLayout(plan->src, pd.diff_src_desc(), false)});
      },
      [&] {
        memory weights = slot->filter.read_from(wrap(plan->hwio, filter.data()));
        memory user_dx = wrap(plan->src, dx.data());
        memory produced = slot->input_grad.target(user_dx, dx_scratch);
        slot->primitive.execute(
            stream(),
            {{DNNL_ARG_DIFF_DST, slot->output_grad.read(dy, plan->dst, plan->output_grad_copy)},
             {DNNL_ARG_WEIGHTS, weights},
             {DNNL_ARG_DIFF_SRC, produced}});
        slot->input_grad.write_back(produced, user_dx);
      });
}

bool conv_backward_filter(const RawTensor& x, const RawTensor& dy, RawTensor& df,
                          const Window2D& w) {
  Plan* plan = plan_for(x.shape, df.shape, w);
  if (!plan) return false;
  auto& slot = plan->backward_weights;
  return attempt(
      *plan,
      [&] {
        if (slot) return;
        auto pd = plan->first_available([&](bool winograd) {
          dnnl::convolution_backward_weights::desc desc(
              Plan::algorithm(winograd), plan->source(winograd), plan->any(plan->hwio),
              plan->destination(winograd), plan->strides, plan->dilates, plan->pad_l, plan->pad_r);
          return fast(dnnl::convolution_backward_weights::primitive_desc(
              desc, engine(), plan->backward_hint(winograd)));
        });
        slot.emplace(Plan::BackwardWeights{dnnl::convolution_backward_weights(pd),
                                           FilterLayout(plan->hwio, pd.diff_weights_desc(), false),
                                           ActivationLayout(plan->src, pd.src_desc(), true),
                                           ActivationLayout(plan->dst, pd.diff_dst_desc(), true)});
      },
      [&] {
        memory user_filter = wrap(plan->hwio, df.data());
        slot->primitive.execute(
            stream(),
            {{DNNL_ARG_SRC, slot->input.read(x, plan->src, plan->input_copy)},
             {DNNL_ARG_DIFF_DST, slot->output_grad.read(dy, plan->dst, plan->output_grad_copy)},
             {DNNL_ARG_DIFF_WEIGHTS, slot->filter.target(user_filter)}});
        slot->filter.write_back(user_filter);
        // The filter gradient is a layer's last use of both: let go of the copies.
        stream().wait();
        plan->input_copy.clear();
        plan->output_grad_copy.clear();
      });
}

}  // namespace ct::cpu::onednn
