#include "onednn_conv.hpp"

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

/// A convolution's geometry: input [n, h, w, c], filter [kh, kw, c, o], the window and the
/// output's size.
struct Geometry {
  std::array<std::int64_t, 15> v;
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
           w.stride_w, w.dilation_h, w.dilation_w, w.pad_top, w.pad_left, w.out_h, w.out_w}};
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

/// Everything oneDNN needs for one geometry, created on first use of each direction.
struct Plan {
  memory::desc src, hwio, dst, bias;
  memory::dims strides, dilates, pad_l, pad_r;
  std::optional<dnnl::convolution_forward::primitive_desc> hint;  // for the backward passes
  struct Forward {
    dnnl::convolution_forward primitive;
    FilterLayout filter;
  };
  std::array<std::optional<Forward>, 4> forward;  // indexed by has_bias * 2 + relu
  struct BackwardData {
    dnnl::convolution_backward_data primitive;
    FilterLayout filter;
  };
  std::optional<BackwardData> backward_data;
  struct BackwardWeights {
    dnnl::convolution_backward_weights primitive;
    FilterLayout filter;
  };
  std::optional<BackwardWeights> backward_weights;
  bool unsupported = false;

  Plan(const Geometry& g) {
    auto [n, h, w, c, kh, kw, o, sh, sw, dh, dw, pt, pl, oh, ow] = g.v;
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
  }

  memory::desc any_filter() const {
    return memory::desc(hwio.dims(), memory::data_type::f32, Tag::any);
  }

  dnnl::convolution_forward::desc forward_desc(bool with_bias) const {
    if (with_bias)
      return {dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, src,
              any_filter(), bias, dst, strides, dilates, pad_l, pad_r};
    return {dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, src,
            any_filter(), dst, strides, dilates, pad_l, pad_r};
  }

  const dnnl::convolution_forward::primitive_desc& backward_hint() {
    if (!hint) hint.emplace(forward_desc(false), engine());
    return *hint;
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
const PrimitiveDesc& fast(const PrimitiveDesc& pd) {
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
        dnnl::convolution_forward::primitive_desc pd(plan->forward_desc(bias != nullptr), attr,
                                                     engine());
        slot.emplace(Plan::Forward{dnnl::convolution_forward(fast(pd)),
                                   FilterLayout(plan->hwio, pd.weights_desc(), true)});
      },
      [&] {
        memory weights = slot->filter.read_from(wrap(plan->hwio, filter.data()));
        std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(plan->src, x.data())},
                                             {DNNL_ARG_WEIGHTS, weights},
                                             {DNNL_ARG_DST, wrap(plan->dst, out.data())}};
        if (bias) args.emplace(DNNL_ARG_BIAS, wrap(plan->bias, bias->data()));
        slot->primitive.execute(stream(), args);
      });
}

bool conv_backward_input(const RawTensor& dy, const RawTensor& filter, RawTensor& dx,
                         const Window2D& w) {
  Plan* plan = plan_for(dx.shape, filter.shape, w);
  if (!plan) return false;
  auto& slot = plan->backward_data;
  return attempt(
      *plan,
      [&] {
        if (slot) return;
        dnnl::convolution_backward_data::desc desc(dnnl::algorithm::convolution_direct, plan->src,
                                                   plan->any_filter(), plan->dst, plan->strides,
                                                   plan->dilates, plan->pad_l, plan->pad_r);
        dnnl::convolution_backward_data::primitive_desc pd(desc, engine(), plan->backward_hint());
        slot.emplace(Plan::BackwardData{dnnl::convolution_backward_data(fast(pd)),
                                        FilterLayout(plan->hwio, pd.weights_desc(), true)});
      },
      [&] {
        memory weights = slot->filter.read_from(wrap(plan->hwio, filter.data()));
        slot->primitive.execute(stream(), {{DNNL_ARG_DIFF_DST, wrap(plan->dst, dy.data())},
                                           {DNNL_ARG_WEIGHTS, weights},
                                           {DNNL_ARG_DIFF_SRC, wrap(plan->src, dx.data())}});
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
        dnnl::convolution_backward_weights::desc desc(
            dnnl::algorithm::convolution_direct, plan->src, plan->any_filter(), plan->dst,
            plan->strides, plan->dilates, plan->pad_l, plan->pad_r);
        dnnl::convolution_backward_weights::primitive_desc pd(desc, engine(),
                                                              plan->backward_hint());
        slot.emplace(Plan::BackwardWeights{
            dnnl::convolution_backward_weights(fast(pd)),
            FilterLayout(plan->hwio, pd.diff_weights_desc(), false)});
      },
      [&] {
        memory user_filter = wrap(plan->hwio, df.data());
        slot->primitive.execute(stream(), {{DNNL_ARG_SRC, wrap(plan->src, x.data())},
                                           {DNNL_ARG_DIFF_DST, wrap(plan->dst, dy.data())},
                                           {DNNL_ARG_DIFF_WEIGHTS, slot->filter.target(user_filter)}});
        slot->filter.write_back(user_filter);
      });
}

}  // namespace ct::cpu::onednn
