#pragma once
// The lazy device (S4TF's X10): each backend call records a node instead of running; a barrier
// computes every live tensor of the device in one compiled program, found by the graph's hash
// in a cache, and runs it on the inner eager backend's memory.
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "cotangent/backend/backend.hpp"
#include "ir.hpp"
#include "program.hpp"

namespace ct::lazy {

/// A lazy tensor's bytes: a pending node until a barrier computes it, then a data node over
/// the inner backend's buffer. Its bytes are counted where the inner buffer is, not twice.
class LazyStorage final : public Storage {
 public:
  LazyStorage(Device device, std::size_t nbytes, NodePtr node)
      : Storage(device, nbytes, Storage::Counted::no), node_(std::move(node)) {}
  void* address() const override;
  NodePtr node() const;
  void set_node(NodePtr node);
  /// Why the program computing this tensor failed (empty unless it did).
  std::string failure() const;
  void set_failure(std::string why);

 private:
  mutable std::mutex mutex_;
  NodePtr node_;
  std::string failure_;
};

class LazyBackend final : public Backend {
 public:
  LazyBackend(Device device, Backend& inner);
  Backend& inner() const { return inner_; }

  /// Computes every live pending tensor; `site` says where and why (for the metrics).
  void barrier(bool is_explicit, const std::string& site);
  /// Forgets the compiled programs (the disk cache stays).
  void clear_program_cache();

  std::shared_ptr<Storage> allocate(std::size_t nbytes) override;
  void write(const RawTensor& dst, const void* host) override;
  void read(const RawTensor& src, void* host) override;
  void synchronize() override {}
  bool supports(Op, DType) const override { return true; }

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
  // GEMM and convolution with their bias and activation run as one extern: the inner
  // backend's fused kernels (oneDNN post-ops) beat a separate pass.
  RawTensor linear(const RawTensor& x, const RawTensor& w, const RawTensor* bias,
                   FusedActivation activation) override;
  RawTensor conv2d_activation(const RawTensor& input, const RawTensor& filter, const Window2D& w,
                              bool depthwise, const RawTensor* bias,
                              FusedActivation activation) override;
  // Updates take over the old value's buffer when the caller handed over its only reference:
  // an optimizer step then writes parameters in place, as on the CPU.
  RawTensor update(RawTensor&& y, double a, const RawTensor& x, double b) override;
  RawTensor matmul_update(RawTensor&& y, double a, const RawTensor& lhs, const RawTensor& rhs,
                          bool transpose_lhs, bool transpose_rhs, double b) override;
  bool fuses(Op op) const override {
    return op == Op::linear || op == Op::conv2d_activation || op == Op::matmul_update;
  }

 private:
  /// A new tensor computed by `node` once a barrier runs; registered as live.
  RawTensor record(Node node);
  /// How `x` is read by a node being recorded.
  View view_of(const RawTensor& x) const;
  /// The inner backend's view of a computed tensor of this device.
  RawTensor inner_view(const RawTensor& x) const;
  void barrier_locked(bool is_explicit, const std::string& site);

  Backend& inner_;
  std::mutex mutex_;  // the live list, the counters and the caches
  std::vector<std::weak_ptr<LazyStorage>> live_;
  std::int64_t recorded_since_barrier_ = 0;
  ProgramCache cache_;
};

}  // namespace ct::lazy
