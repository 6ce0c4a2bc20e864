#pragma once
// The eager CPU backend: vectorized loops parallelized with OpenMP, and OpenBLAS (built on the
// same OpenMP runtime, so the library's threads and ours never compete for the cores).
#include <omp.h>

#include <array>
#include <cstring>

#include "cotangent/backend/backend.hpp"
#include "cotangent/backend/cpu.hpp"

namespace ct::cpu {

/// Below this many elements a loop runs on one thread: starting a team costs more.
constexpr std::int64_t kParallelGrain = 1 << 15;

/// What a product adds to its result before writing it: activation(y + bias), the bias
/// (optional) broadcast along the last dimension.
struct Epilogue {
  const RawTensor* bias = nullptr;
  FusedActivation activation = FusedActivation::none;
  bool empty() const { return !bias && activation == FusedActivation::none; }
};

class CpuBackend final : public Backend {
 public:
  CpuBackend() : Backend(Device::cpu()) {}

  std::shared_ptr<Storage> allocate(std::size_t nbytes) override;
  void write(const RawTensor& dst, const void* host) override;
  void read(const RawTensor& src, void* host) override;
  void synchronize() override {}
  bool supports(Op, DType) const override { return true; }
  bool checks_data() const override { return true; }
  bool fuses(Op op) const override { return op_is_fused(op) && op != Op::random; }

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
                   bool depthwise) override {
    return conv2d_activation(input, filter, w, depthwise, nullptr, FusedActivation::none);
  }
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

  // Fused entry points: one sweep over memory where the defaults would make several.
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

 private:
  /// y = activation(y + bias) in place, on a contiguous tensor nothing else refers to.
  void apply_epilogue(RawTensor& y, const Epilogue& epilogue);
  /// c = alpha·op(a)·op(b) + beta·c in c's own buffer, for matrices; c is contiguous.
  void matmul_into(RawTensor& c, const RawTensor& a, const RawTensor& b, bool transpose_a,
                   bool transpose_b, double alpha, double beta);
};

/// Host memory, 64-byte aligned, from the block pool when large; MemoryError when exhausted.
std::shared_ptr<Storage> allocate_host(std::size_t nbytes);
/// A fresh contiguous host tensor with unspecified contents.
RawTensor empty(const Shape& shape, DType dtype);

/// A contiguous tensor with the same values (the tensor itself when already contiguous).
RawTensor dense(const RawTensor& x);

/// Checks that `bias` (when given) is a vector of y's dtype as long as y's last dimension.
void check_bias(const char* op, const RawTensor& y, const RawTensor* bias);

/// Calls body(float{}) or body(double{}) for a floating-point dtype; others are a DTypeError.
template <class Body>
void visit_floating(DType dtype, const char* op, Body&& body) {
  CT_CHECK_AS(DTypeError, is_floating(dtype), "{}: unsupported dtype {}", op, dtype);
  if (dtype == DType::float32)
    body(float{});
  else
    body(double{});
}

/// A grain (in items) that keeps single-threaded any loop under kParallelGrain elements.
inline std::int64_t grain_for(std::int64_t elements_per_item) {
  return std::max<std::int64_t>(1, kParallelGrain / std::max<std::int64_t>(elements_per_item, 1));
}

/// Runs body(begin, end) over [0, n) split across the threads when n is large enough.
template <class Body>
void parallel_for(std::int64_t n, std::int64_t grain, Body&& body) {
  int threads = omp_get_max_threads();
  if (n < grain || threads <= 1 || omp_in_parallel()) {
    if (n > 0) body(std::int64_t(0), n);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    std::int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    std::int64_t begin = n * t / nt, end = n * (t + 1) / nt;
    if (begin < end) body(begin, end);
  }
}

/// Geometry of a strided loop over `shape` for N operands, with dimensions merged where every
/// operand allows it and size-1 dimensions dropped. The innermost dimension is `inner`.
template <int N>
struct StridedLoop {
  int rank = 0;  // outer dimensions only
  std::array<std::int64_t, Shape::kMaxRank> dims{};
  std::array<std::array<std::int64_t, Shape::kMaxRank>, N> strides{};
  std::int64_t inner = 1;
  std::array<std::int64_t, N> inner_stride{};
  std::int64_t rows = 1;

  StridedLoop(const Shape& shape, std::array<const Shape*, N> operand_strides) {
    // Collect non-trivial dims, outermost first.
    std::array<std::int64_t, Shape::kMaxRank> d{};
    std::array<std::array<std::int64_t, Shape::kMaxRank>, N> s{};
    int n = 0;
    for (int i = 0; i < shape.rank(); ++i) {
      if (shape[i] == 1) continue;
      if (n > 0) {
        bool merge = true;
        for (int k = 0; k < N; ++k)
          merge = merge && s[k][n - 1] == (*operand_strides[k])[i] * shape[i];
        if (merge) {
          d[n - 1] *= shape[i];
          for (int k = 0; k < N; ++k) s[k][n - 1] = (*operand_strides[k])[i];
          continue;
        }
      }
      d[n] = shape[i];
      for (int k = 0; k < N; ++k) s[k][n] = (*operand_strides[k])[i];
      ++n;
    }
    if (n == 0) return;
    inner = d[n - 1];
    for (int k = 0; k < N; ++k) inner_stride[k] = s[k][n - 1];
    rank = n - 1;
    for (int i = 0; i < rank; ++i) {
      dims[i] = d[i];
      rows *= d[i];
      for (int k = 0; k < N; ++k) strides[k][i] = s[k][i];
    }
  }

  /// Element offsets of each operand at the start of outer row `row`.
  std::array<std::int64_t, N> row_offsets(std::int64_t row) const {
    std::array<std::int64_t, N> off{};
    for (int i = rank - 1; i >= 0; --i) {
      std::int64_t idx = row % dims[i];
      row /= dims[i];
      for (int k = 0; k < N; ++k) off[k] += idx * strides[k][i];
    }
    return off;
  }

  /// Calls row(offsets, length) for every innermost run, split over threads when large.
  template <class Row>
  void run(Row&& row) const {
    std::int64_t total = rows * inner;
    if (rows == 1) {
      parallel_for(inner, kParallelGrain, [&](std::int64_t b, std::int64_t e) {
        std::array<std::int64_t, N> off{};
        for (int k = 0; k < N; ++k) off[k] = b * inner_stride[k];
        row(off, e - b);
      });
      return;
    }
    std::int64_t grain =
        std::max<std::int64_t>(1, kParallelGrain / std::max<std::int64_t>(inner, 1));
    parallel_for(total >= kParallelGrain ? rows : 0, grain, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t r = b; r < e; ++r) row(row_offsets(r), inner);
    });
    if (total < kParallelGrain)
      for (std::int64_t r = 0; r < rows; ++r) row(row_offsets(r), inner);
  }
};

/// Strides of an operand broadcast to `shape` (0 along broadcast dimensions).
inline Shape broadcast_strides(const RawTensor& x, const Shape& shape) {
  Shape s = Shape::filled(shape.rank(), 0);
  int lead = shape.rank() - x.rank();
  for (int i = 0; i < x.rank(); ++i) s[lead + i] = x.shape[i] == 1 ? 0 : x.strides[i];
  return s;
}

}  // namespace ct::cpu
