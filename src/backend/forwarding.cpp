#include "cotangent/backend/forwarding.hpp"

namespace ct {

namespace {
std::vector<RawTensor> inward_all(std::span<const RawTensor> parts, auto&& in) {
  std::vector<RawTensor> out;
  out.reserve(parts.size());
  for (const RawTensor& p : parts) out.push_back(in(p));
  return out;
}
}  // namespace

RawTensor ForwardingBackend::fill(const Shape& shape, DType dtype, double value) {
  return outward(inner_.fill(shape, dtype, value));
}
RawTensor ForwardingBackend::iota(const Shape& shape, int axis, DType dtype) {
  return outward(inner_.iota(shape, axis, dtype));
}
RawTensor ForwardingBackend::unary(UnaryOp op, const RawTensor& x) {
  return outward(inner_.unary(op, inward(x)));
}
RawTensor ForwardingBackend::binary(BinaryOp op, const RawTensor& a, const RawTensor& b,
                                    const Shape& out_shape) {
  return outward(inner_.binary(op, inward(a), inward(b), out_shape));
}
RawTensor ForwardingBackend::compare(CompareOp op, const RawTensor& a, const RawTensor& b,
                                     const Shape& out_shape) {
  return outward(inner_.compare(op, inward(a), inward(b), out_shape));
}
RawTensor ForwardingBackend::select(const RawTensor& c, const RawTensor& a, const RawTensor& b,
                                    const Shape& out_shape) {
  return outward(inner_.select(inward(c), inward(a), inward(b), out_shape));
}
RawTensor ForwardingBackend::cast(const RawTensor& x, DType dtype) {
  return outward(inner_.cast(inward(x), dtype));
}
RawTensor ForwardingBackend::contiguous(const RawTensor& x) {
  return outward(inner_.contiguous(inward(x)));
}
RawTensor ForwardingBackend::reduce(ReduceOp op, const RawTensor& x, std::span<const int> axes) {
  return outward(inner_.reduce(op, inward(x), axes));
}
RawTensor ForwardingBackend::matmul(const RawTensor& a, const RawTensor& b, bool ta, bool tb) {
  return outward(inner_.matmul(inward(a), inward(b), ta, tb));
}
RawTensor ForwardingBackend::conv2d(const RawTensor& input, const RawTensor& filter,
                                    const Window2D& w, bool depthwise) {
  return outward(inner_.conv2d(inward(input), inward(filter), w, depthwise));
}
RawTensor ForwardingBackend::conv2d_backward_input(const RawTensor& dy, const RawTensor& filter,
                                                   const Shape& input_shape, const Window2D& w,
                                                   bool depthwise) {
  return outward(
      inner_.conv2d_backward_input(inward(dy), inward(filter), input_shape, w, depthwise));
}
RawTensor ForwardingBackend::conv2d_backward_filter(const RawTensor& input, const RawTensor& dy,
                                                    const Shape& filter_shape, const Window2D& w,
                                                    bool depthwise) {
  return outward(
      inner_.conv2d_backward_filter(inward(input), inward(dy), filter_shape, w, depthwise));
}
RawTensor ForwardingBackend::pool2d(PoolKind kind, const RawTensor& input, const Window2D& w) {
  return outward(inner_.pool2d(kind, inward(input), w));
}
RawTensor ForwardingBackend::pool2d_backward(PoolKind kind, const RawTensor& input,
                                             const RawTensor& dy, const Window2D& w) {
  return outward(inner_.pool2d_backward(kind, inward(input), inward(dy), w));
}
RawTensor ForwardingBackend::max_pool2d_select(const RawTensor& input, const RawTensor& values,
                                               const Window2D& w) {
  return outward(inner_.max_pool2d_select(inward(input), inward(values), w));
}
RawTensor ForwardingBackend::gather(const RawTensor& x, const RawTensor& indices, int axis) {
  return outward(inner_.gather(inward(x), inward(indices), axis));
}
RawTensor ForwardingBackend::scatter_add(const RawTensor& updates, const RawTensor& indices,
                                         int axis, const Shape& shape) {
  return outward(inner_.scatter_add(inward(updates), inward(indices), axis, shape));
}
RawTensor ForwardingBackend::concatenate(std::span<const RawTensor> parts, int axis) {
  auto inner_parts = inward_all(parts, [&](const RawTensor& p) { return inward(p); });
  return outward(inner_.concatenate(inner_parts, axis));
}
RawTensor ForwardingBackend::pad(const RawTensor& x, std::span<const std::int64_t> before,
                                 std::span<const std::int64_t> after, PadMode mode, double value) {
  return outward(inner_.pad(inward(x), before, after, mode, value));
}
RawTensor ForwardingBackend::pad_backward(const RawTensor& dy, std::span<const std::int64_t> before,
                                          std::span<const std::int64_t> after, PadMode mode) {
  return outward(inner_.pad_backward(inward(dy), before, after, mode));
}

RawTensor ForwardingBackend::random(Distribution distribution, const Shape& shape, DType dtype,
                                    Philox at) {
  if (!forward_fused_) return Backend::random(distribution, shape, dtype, at);
  return outward(inner_.random(distribution, shape, dtype, at));
}
RawTensor ForwardingBackend::update(RawTensor&& y, double a, const RawTensor& x, double b) {
  if (!forward_fused_) return Backend::update(std::move(y), a, x, b);
  return outward(inner_.update(inward_owned(std::move(y)), a, inward(x), b));
}
RawTensor ForwardingBackend::matmul_update(RawTensor&& y, double a, const RawTensor& lhs,
                                           const RawTensor& rhs, bool transpose_lhs,
                                           bool transpose_rhs, double b) {
  if (!forward_fused_)
    return Backend::matmul_update(std::move(y), a, lhs, rhs, transpose_lhs, transpose_rhs, b);
  return outward(inner_.matmul_update(inward_owned(std::move(y)), a, inward(lhs), inward(rhs),
                                      transpose_lhs, transpose_rhs, b));
}
RawTensor ForwardingBackend::linear(const RawTensor& x, const RawTensor& w, const RawTensor* bias,
                                    FusedActivation activation) {
  if (!forward_fused_) return Backend::linear(x, w, bias, activation);
  RawTensor b = bias ? inward(*bias) : RawTensor();
  return outward(inner_.linear(inward(x), inward(w), bias ? &b : nullptr, activation));
}
RawTensor ForwardingBackend::conv2d_activation(const RawTensor& input, const RawTensor& filter,
                                               const Window2D& w, bool depthwise,
                                               const RawTensor* bias, FusedActivation activation) {
  if (!forward_fused_)
    return Backend::conv2d_activation(input, filter, w, depthwise, bias, activation);
  RawTensor b = bias ? inward(*bias) : RawTensor();
  return outward(inner_.conv2d_activation(inward(input), inward(filter), w, depthwise,
                                          bias ? &b : nullptr, activation));
}
RawTensor ForwardingBackend::activation_backward(RawTensor dy, const RawTensor& y,
                                                 FusedActivation activation, RawTensor* bias_grad) {
  if (!forward_fused_) return Backend::activation_backward(std::move(dy), y, activation, bias_grad);
  RawTensor inner_bias_grad;
  RawTensor g = inner_.activation_backward(inward_owned(std::move(dy)), inward(y), activation,
                                           bias_grad ? &inner_bias_grad : nullptr);
  if (bias_grad) *bias_grad = outward(std::move(inner_bias_grad));
  return outward(std::move(g));
}

}  // namespace ct
