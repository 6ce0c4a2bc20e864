#pragma once
// The narrow interface every op reaches its kernels through. A backend is chosen by the
// operands' Device; ops/ never names a backend, so CUDA and lazy backends plug in here.
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "cotangent/core/storage.hpp"

namespace ct {

enum class UnaryOp : std::uint8_t {
#define CT_UNARY(name, ...) name,
#include "cotangent/backend/elementwise.def"
#undef CT_UNARY
};
enum class BinaryOp : std::uint8_t {
#define CT_BINARY(name, ...) name,
#include "cotangent/backend/elementwise.def"
#undef CT_BINARY
};
enum class CompareOp : std::uint8_t {
#define CT_COMPARE(name, ...) name,
#include "cotangent/backend/elementwise.def"
#undef CT_COMPARE
};

enum class ReduceOp : std::uint8_t { sum, product, max, min, any, all, argmax, argmin };
enum class PadMode : std::uint8_t { constant, reflect, edge };
enum class PoolKind : std::uint8_t { max, average };

/// Geometry of a 2-D convolution or pooling window over NHWC data.
struct Window2D {
  std::int64_t kernel_h = 1, kernel_w = 1;
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t dilation_h = 1, dilation_w = 1;
  std::int64_t pad_top = 0, pad_left = 0;  // "same" padding puts the extra row/column at the end
  std::int64_t out_h = 0, out_w = 0;
};

/// Process-wide choices among a backend's kernels. Set them before training; kernels already
/// planned for a shape keep their choice until the option changes.
struct KernelOptions {
  /// Winograd's F(4×4, 3×3) algorithm for float32 3×3 stride-1 convolutions whose channel counts
  /// are multiples of 16, where the CPU has it (oneDNN): the talk's second convolution trains
  /// about 1.5× faster. Its rounding errors are of the direct algorithm's size in our tests
  /// (1e-6 against 8e-7 relative, forward and both gradients). false: direct convolution only.
  bool winograd = true;
};
KernelOptions& kernel_options();

/// Activations a kernel can apply to its own output while it is still in cache.
enum class FusedActivation : std::uint8_t { none, relu };

/// What a matmul or convolution adds to its result before writing it: activation(y + bias),
/// the bias (optional) broadcast along the last dimension.
struct Epilogue {
  const RawTensor* bias = nullptr;
  FusedActivation activation = FusedActivation::none;
  bool empty() const { return !bias && activation == FusedActivation::none; }
};

/// Kernels for one device. All inputs share that device; outputs are fresh contiguous tensors.
class Backend {
 public:
  virtual ~Backend() = default;

  virtual RawTensor unary(UnaryOp op, const RawTensor& x) = 0;
  /// Broadcasting binary op; `out_shape` is the broadcast shape.
  virtual RawTensor binary(BinaryOp op, const RawTensor& a, const RawTensor& b,
                           const Shape& out_shape) = 0;
  virtual RawTensor compare(CompareOp op, const RawTensor& a, const RawTensor& b,
                            const Shape& out_shape) = 0;
  virtual RawTensor select(const RawTensor& condition, const RawTensor& a, const RawTensor& b,
                           const Shape& out_shape) = 0;
  virtual RawTensor cast(const RawTensor& x, DType dtype) = 0;
  /// A contiguous copy of a strided view (transposed, sliced, broadcast, reversed).
  virtual RawTensor contiguous(const RawTensor& x) = 0;
  /// Reduces `axes` (sorted, unique); the result keeps them as size-1 dimensions.
  virtual RawTensor reduce(ReduceOp op, const RawTensor& x, std::span<const int> axes) = 0;

  /// Batched matrix product over the last two dimensions; batch dimensions broadcast.
  virtual RawTensor matmul(const RawTensor& a, const RawTensor& b, bool transpose_a,
                           bool transpose_b) = 0;
  /// c = alpha·op(a)·op(b) + beta·c in c's own buffer, for matrices; c is contiguous.
  virtual void matmul_into(RawTensor& c, const RawTensor& a, const RawTensor& b, bool transpose_a,
                           bool transpose_b, double alpha, double beta) = 0;
  /// NHWC input, HWIO filter; with `depthwise` the filter is [H, W, C, M] and each input channel
  /// has its own M filters.
  virtual RawTensor conv2d(const RawTensor& input, const RawTensor& filter, const Window2D& w,
                           bool depthwise, const Epilogue& epilogue) = 0;
  virtual RawTensor conv2d_backward_input(const RawTensor& dy, const RawTensor& filter,
                                          const Shape& input_shape, const Window2D& w,
                                          bool depthwise) = 0;
  virtual RawTensor conv2d_backward_filter(const RawTensor& input, const RawTensor& dy,
                                           const Shape& filter_shape, const Window2D& w,
                                           bool depthwise) = 0;
  virtual RawTensor pool2d(PoolKind kind, const RawTensor& input, const Window2D& w) = 0;
  virtual RawTensor pool2d_backward(PoolKind kind, const RawTensor& input, const RawTensor& dy,
                                    const Window2D& w) = 0;
  /// For each max-pooling window of `input`, the element of `values` (shaped like input) where
  /// the window's first maximum is: max pooling's derivative applied to `values`.
  virtual RawTensor max_pool2d_select(const RawTensor& input, const RawTensor& values,
                                      const Window2D& w) = 0;

  /// Rows of `x` along `axis` picked by int32/int64 `indices`; out-of-range indices throw.
  virtual RawTensor gather(const RawTensor& x, const RawTensor& indices, int axis) = 0;
  /// Adds the rows of `updates` into a zero tensor of `shape` at `indices` along `axis`.
  virtual RawTensor scatter_add(const RawTensor& updates, const RawTensor& indices, int axis,
                                const Shape& shape) = 0;
  virtual RawTensor concatenate(std::span<const RawTensor> parts, int axis) = 0;
  /// Pads each dimension by (before, after); `value` (as double) for PadMode::constant.
  virtual RawTensor pad(const RawTensor& x, std::span<const std::int64_t> before,
                        std::span<const std::int64_t> after, PadMode mode, double value) = 0;
  /// The adjoint of pad: folds the padded gradient back onto the input's shape.
  virtual RawTensor pad_backward(const RawTensor& dy, std::span<const std::int64_t> before,
                                 std::span<const std::int64_t> after, PadMode mode) = 0;

  /// y = activation(y + bias) in place, on a contiguous tensor nothing else refers to.
  virtual void apply_epilogue(RawTensor& y, const Epilogue& epilogue) = 0;
  /// The epilogue's backward pass in one sweep: returns dy masked by the activation (read off
  /// its result y) and, when `bias_grad` is given, sets it to that gradient summed over all but
  /// the last dimension. Writes into dy's buffer when nothing else refers to it.
  virtual RawTensor epilogue_backward(RawTensor dy, const RawTensor& y, FusedActivation activation,
                                      RawTensor* bias_grad) = 0;

  /// y = a·y + b·x in place (same shape and dtype, y contiguous): fused optimizer updates.
  virtual void axpby(RawTensor& y, double a, const RawTensor& x, double b) = 0;

  /// Host <-> device copies of a contiguous tensor's bytes.
  virtual RawTensor from_host(const void* data, const Shape& shape, DType dtype) = 0;
  virtual void to_host(const RawTensor& x, void* out) = 0;
  virtual RawTensor fill(const Shape& shape, DType dtype, double value) = 0;
};

/// The backend that runs ops for `device`; throws DeviceError if none is built in.
Backend& backend_for(Device device);
/// Installs the backend for a device kind and mode (used by optional backends at startup).
void register_backend(Device::Kind kind, Device::Mode mode, Backend* backend);

}  // namespace ct
