#pragma once
// A backend that runs another backend's kernels on its own tensors: each operand is handed
// inward (to the inner backend's memory) and each result outward. The CPU fallback (host copies
// in and out) and the test-only reference device (opaque handles over CPU memory) are two.
#include "cotangent/backend/backend.hpp"

namespace ct {

/// A backend for `device` that runs each op on `inner`'s kernels, moving operands in and out.
class ForwardingBackend : public Backend {
 public:
  /// With `forward_fused` false the fused entry points use Backend's defaults instead of the
  /// inner backend's: how tests prove that the defaults compose correctly.
  ForwardingBackend(Device device, Backend& inner, bool forward_fused = true)
      : Backend(device), inner_(inner), forward_fused_(forward_fused) {}

  Backend& inner() const { return inner_; }
  bool fuses(Op op) const override { return forward_fused_ && inner_.fuses(op); }

  RawTensor fill(const Shape& shape, DType dtype, double value) override;
  RawTensor iota(const Shape& shape, int axis, DType dtype) override;
  RawTensor unary(UnaryOp op, const RawTensor& x) override;
  RawTensor binary(BinaryOp op, const RawTensor& a, const RawTensor& b,
                   const Shape& out_shape) override;
  RawTensor compare(CompareOp op, const RawTensor& a, const RawTensor& b,
                    const Shape& out_shape) override;
  RawTensor select(const RawTensor& c, const RawTensor& a, const RawTensor& b,
                   const Shape& out_shape) override;
  RawTensor cast(const RawTensor& x, DType dtype) override;
  RawTensor contiguous(const RawTensor& x) override;
  RawTensor reduce(ReduceOp op, const RawTensor& x, std::span<const int> axes) override;
  RawTensor matmul(const RawTensor& a, const RawTensor& b, bool ta, bool tb) override;
  RawTensor conv2d(const RawTensor& input, const RawTensor& filter, const Window2D& w,
                   bool depthwise) override;
  RawTensor conv2d_backward_input(const RawTensor& dy, const RawTensor& filter,
                                  const Shape& input_shape, const Window2D& w,
                                  bool depthwise) override;
  RawTensor conv2d_backward_filter(const RawTensor& input, const RawTensor& dy,
                                   const Shape& filter_shape, const Window2D& w,
                                   bool depthwise) override;
  RawTensor pool2d(PoolKind kind, const RawTensor& input, const Window2D& w) override;
  RawTensor pool2d_backward(PoolKind kind, const RawTensor& input, const RawTensor& dy,
                            const Window2D& w) override;
  RawTensor max_pool2d_select(const RawTensor& input, const RawTensor& values,
                              const Window2D& w) override;
  RawTensor gather(const RawTensor& x, const RawTensor& indices, int axis) override;
  RawTensor scatter_add(const RawTensor& updates, const RawTensor& indices, int axis,
                        const Shape& shape) override;
  RawTensor concatenate(std::span<const RawTensor> parts, int axis) override;
  RawTensor pad(const RawTensor& x, std::span<const std::int64_t> before,
                std::span<const std::int64_t> after, PadMode mode, double value) override;
  RawTensor pad_backward(const RawTensor& dy, std::span<const std::int64_t> before,
                         std::span<const std::int64_t> after, PadMode mode) override;

  RawTensor random(Distribution distribution, const Shape& shape, DType dtype, Philox at) override;
  RawTensor update(RawTensor&& y, double a, const RawTensor& x, double b) override;
  RawTensor matmul_update(RawTensor&& y, double a, const RawTensor& lhs, const RawTensor& rhs,
                          bool transpose_lhs, bool transpose_rhs, double b) override;
  RawTensor linear(const RawTensor& x, const RawTensor& w, const RawTensor* bias,
                   FusedActivation activation) override;
  RawTensor conv2d_activation(const RawTensor& input, const RawTensor& filter, const Window2D& w,
                              bool depthwise, const RawTensor* bias,
                              FusedActivation activation) override;
  RawTensor activation_backward(RawTensor dy, const RawTensor& y, FusedActivation activation,
                                RawTensor* bias_grad) override;

 protected:
  /// The inner backend's view of one of this backend's tensors (undefined stays undefined).
  virtual RawTensor inward(const RawTensor& x) = 0;
  /// As inward, for an operand the caller hands over: an implementation that can pass the
  /// buffer on without a copy keeps in-place updates in place.
  virtual RawTensor inward_owned(RawTensor x) { return inward(x); }
  /// This backend's tensor for an inner result.
  virtual RawTensor outward(RawTensor inner) = 0;

 private:
  Backend& inner_;
  bool forward_fused_;
};

}  // namespace ct
