#pragma once
// The seam every op reaches its kernels through. A backend owns its device's memory (allocate,
// write, read) and implements the required primitives; the fused entry points have defaults
// composed from those, which a backend overrides where it has something faster. ops/ never
// names a backend: CPU, CUDA, lazy and test backends plug in here.
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "cotangent/backend/philox.hpp"
#include "cotangent/core/storage.hpp"

namespace ct {

/// The unary elementwise primitives, one per CT_UNARY row of elementwise.def: negate, exp, ...
enum class UnaryOp : std::uint8_t {
#define CT_UNARY(name, ...) name,
#include "cotangent/backend/elementwise.def"
#undef CT_UNARY
};
/// The binary elementwise primitives, one per CT_BINARY row of elementwise.def: add, pow, ...
enum class BinaryOp : std::uint8_t {
#define CT_BINARY(name, ...) name,
#include "cotangent/backend/elementwise.def"
#undef CT_BINARY
};
/// The comparisons and logical ops (Tensor<bool> results), one per CT_COMPARE row: equal, ...
enum class CompareOp : std::uint8_t {
#define CT_COMPARE(name, ...) name,
#include "cotangent/backend/elementwise.def"
#undef CT_COMPARE
};

/// Every primitive: the rows of elementwise.def, then those of primitives.def.
enum class Op : std::uint8_t {
#define CT_UNARY(name, ...) unary_##name,
#define CT_BINARY(name, ...) binary_##name,
#define CT_COMPARE(name, ...) compare_##name,
#define CT_PRIMITIVE(name, ...) name,
#include "cotangent/backend/elementwise.def"
#include "cotangent/backend/primitives.def"
#undef CT_UNARY
#undef CT_BINARY
#undef CT_COMPARE
#undef CT_PRIMITIVE
};
/// The number of rows of the Op table.
constexpr int kOpCount = 0
#define CT_UNARY(...) +1
#define CT_BINARY(...) +1
#define CT_COMPARE(...) +1
#define CT_PRIMITIVE(...) +1
#include "cotangent/backend/elementwise.def"
#include "cotangent/backend/primitives.def"
#undef CT_UNARY
#undef CT_BINARY
#undef CT_COMPARE
#undef CT_PRIMITIVE
    ;
/// The row's name: "unary_exp", "matmul".
std::string_view op_name(Op op);
/// Whether a backend may leave the op to Backend's default (composed from required primitives).
bool op_is_fused(Op op);

/// The reductions a backend implements over chosen axes (Backend::reduce).
enum class ReduceOp : std::uint8_t { sum, product, max, min, any, all, argmax, argmin };
/// How pad fills the border: a constant, a mirror without the edge, or the edge repeated.
enum class PadMode : std::uint8_t { constant, reflect, edge };
/// Which 2-D pooling a window computes: max_pool2d or avg_pool2d.
enum class PoolKind : std::uint8_t { max, average };

/// The row of the Op table of an elementwise or reduction op: op_of(UnaryOp::exp) is unary_exp.
constexpr Op op_of(UnaryOp op) { return Op(int(Op::unary_negate) + int(op)); }
constexpr Op op_of(BinaryOp op) { return Op(int(Op::binary_add) + int(op)); }
constexpr Op op_of(CompareOp op) { return Op(int(Op::compare_equal) + int(op)); }
constexpr Op op_of(ReduceOp op) { return Op(int(Op::reduce_sum) + int(op)); }

/// Geometry of a 2-D convolution or pooling window over NHWC data.
struct Window2D {
  std::int64_t kernel_h = 1, kernel_w = 1;
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t dilation_h = 1, dilation_w = 1;
  std::int64_t pad_top = 0, pad_left = 0;  // "same" padding puts the extra row/column at the end
  std::int64_t out_h = 0, out_w = 0;
};

/// Activations a backend may apply to a product's output while it is still in cache.
enum class FusedActivation : std::uint8_t { none, relu };

/// Kernels and memory for one device. All tensor operands share that device; outputs are fresh
/// contiguous tensors unless a method says otherwise. Work is queued in order per backend; only
/// `read` and `synchronize` wait for it.
class Backend {
 public:
  explicit Backend(Device device) : device_(device) {}
  virtual ~Backend() = default;
  Device device() const { return device_; }

  // ---- Memory: owned by the backend --------------------------------------------------------
  virtual std::shared_ptr<Storage> allocate(std::size_t nbytes) = 0;
  /// Copies host bytes into a contiguous `dst`.
  virtual void write(const RawTensor& dst, const void* host) = 0;
  /// Copies a contiguous `src` to the host: a sync point (it waits for queued work).
  virtual void read(const RawTensor& src, void* host) = 0;
  virtual void synchronize() = 0;
  /// Whether this backend runs `op` on `dtype` itself; when not, ops run it on the CPU
  /// (counted, or a DeviceError in strict mode: see fallback_counts).
  virtual bool supports(Op op, DType dtype) const = 0;

  /// A fresh contiguous tensor with unspecified contents.
  RawTensor empty(const Shape& shape, DType dtype);
  /// A fresh contiguous tensor holding `host`'s bytes.
  RawTensor upload(const void* host, const Shape& shape, DType dtype);

  // ---- Required primitives -------------------------------------------------------------------
  virtual RawTensor fill(const Shape& shape, DType dtype, double value) = 0;
  /// Each element's index along `axis`: arange, eye and one_hot are built from it.
  virtual RawTensor iota(const Shape& shape, int axis, DType dtype) = 0;
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
  /// NHWC input, HWIO filter; with `depthwise` the filter is [H, W, C, M] and each input channel
  /// has its own M filters.
  virtual RawTensor conv2d(const RawTensor& input, const RawTensor& filter, const Window2D& w,
                           bool depthwise) = 0;
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
  /// Rows of `x` along `axis` picked by int32/int64 `indices`; out-of-range indices throw
  /// where the backend checks data (see checks_data).
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

  // ---- Fused entry points: defaults composed from the primitives ------------------------------
  /// Uniform [0, 1) or standard normal values of a Philox draw starting at `at` (philox.hpp
  /// defines value i, so every backend draws the same numbers). Default: drawn on the host.
  virtual RawTensor random(Distribution distribution, const Shape& shape, DType dtype, Philox at);
  /// a·y + b·x (same shape and dtype). A backend may write into y's buffer when
  /// y.owns_whole_storage(): how optimizers update in place without breaking value semantics. y is
  /// handed over only when the call returns; after an exception the caller still holds it.
  virtual RawTensor update(RawTensor&& y, double a, const RawTensor& x, double b);
  /// a·y + b·op(lhs)·op(rhs) for matrices, in y's buffer under the same rule as update.
  virtual RawTensor matmul_update(RawTensor&& y, double a, const RawTensor& lhs,
                                  const RawTensor& rhs, bool transpose_lhs, bool transpose_rhs,
                                  double b);
  /// activation(x · w + bias) for x [M, K], w [K, N], bias [N] or null.
  virtual RawTensor linear(const RawTensor& x, const RawTensor& w, const RawTensor* bias,
                           FusedActivation activation);
  /// activation(conv2d(input, filter) + bias), bias [C_out] or null.
  virtual RawTensor conv2d_activation(const RawTensor& input, const RawTensor& filter,
                                      const Window2D& w, bool depthwise, const RawTensor* bias,
                                      FusedActivation activation);
  /// The backward pass of activation(z + bias) read off its result y: returns dy masked by the
  /// activation and, when `bias_grad` is given, sets it to that summed over all but the last
  /// dimension. May write into dy's buffer under update's rule.
  virtual RawTensor activation_backward(RawTensor dy, const RawTensor& y,
                                        FusedActivation activation, RawTensor* bias_grad);

  /// Whether this backend has a kernel of its own for the fused entry point `op` (false: it
  /// uses Backend's default). Callers may then prefer a different plan: minimize keeps weight
  /// gradients as products only where matmul_update is fused.
  virtual bool fuses(Op) const { return false; }

  /// Whether data-dependent errors (an index out of range, a label outside its classes) are
  /// checked: where the data is on the host already (the CPU), or when CT_DEVICE_CHECKS=1.
  /// Elsewhere such results are defined (zeros) and no op reads the device to check.
  virtual bool checks_data() const;

 private:
  Device device_;
};

/// The backend that runs ops for `device`; throws DeviceError if none is registered.
Backend& backend_for(Device device);
/// Installs (or with null removes) the backend of a device: optional and test backends.
void register_backend(Device device, Backend* backend);

/// The backend to run `op` on `dtype` for `device`: the device's own when it supports the op,
/// else an adapter that runs the CPU kernel on host copies (counted per op). With
/// CT_STRICT_DEVICE=1 in the environment a fallback is a DeviceError instead.
Backend& backend_for(Device device, Op op, DType dtype);
/// The counted CPU fallback for one call of `op` on `device`, whatever `supports` says: for a
/// backend that finds at run time that its library cannot run a call (an unusual geometry).
Backend& fallback_for(Device device, Op op);
/// How many times each op fell back to the CPU since the start (or the last reset).
std::vector<std::pair<Op, std::int64_t>> fallback_counts();
/// Sets every fallback count back to zero: fallback_counts() then counts from here.
void reset_fallback_counts();

}  // namespace ct
