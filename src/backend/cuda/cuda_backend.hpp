#pragma once
// The eager CUDA backend: one stream per GPU, memory from CUDA's stream-ordered pool, products
// from cuBLAS, convolutions from cuDNN, and every other kernel generated from the Op table's
// rows (kernel_source.hpp) and compiled by NVRTC.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "cotangent/backend/backend.hpp"
#include "block_pool.hpp"
#include "kernel_abi.hpp"

namespace ct::cuda {

class CudaBackend final : public Backend {
 public:
  /// Opens GPU `ordinal`: its stream, pool, library handles and kernels (compiled or cached).
  explicit CudaBackend(int ordinal);
  ~CudaBackend() override;

  std::shared_ptr<Storage> allocate(std::size_t nbytes) override;
  void write(const RawTensor& dst, const void* host) override;
  void read(const RawTensor& src, void* host) override;
  void synchronize() override;
  bool supports(Op op, DType dtype) const override;
  bool fuses(Op op) const override;

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

 public:
  /// GPU time per kernel since the last report (CT_CUDA_PROFILE=1), as a table; then resets.
  std::string profile_report();

 private:
  /// Launches kernel `name` over n elements (grid-stride) with `args` (pointers to values).
  void launch(const std::string& name, std::int64_t n, void** args);
  /// Launches with an explicit grid and block.
  void launch(const std::string& name, dim3 grid, dim3 block, void** args);
  /// The output of an elementwise kernel over up to three operands broadcast to `shape`.
  RawTensor map(const std::string& kernel, const Shape& shape, DType out_dtype,
                std::initializer_list<const RawTensor*> operands);
  /// dst[b, c, r] = src[b, r, c] for contiguous [batches, rows, cols] src.
  void transpose_into(const RawTensor& dst, const RawTensor& src, std::int64_t batches,
                      std::int64_t rows, std::int64_t cols);
  /// Copies `src` (any strides) into the view `dst` (any strides), same shape and dtype.
  void copy_into(const RawTensor& dst, const RawTensor& src);
  /// A contiguous tensor with x's values (x itself when already contiguous).
  RawTensor dense(const RawTensor& x);
  /// y = activation(y + bias) in place.
  void bias_activation(RawTensor& y, const RawTensor* bias, FusedActivation activation);
  /// c = alpha·op(a)·op(b) + beta·c for batched matrices; c contiguous.
  void gemm(RawTensor& c, const RawTensor& a, const RawTensor& b, bool ta, bool tb, double alpha,
            double beta);
  /// Runs a convolution direction through cuDNN; false when cuDNN cannot (then the caller uses
  /// the CPU fallback).
  /// For the forward pass (direction 0), `fused` (when given) says whether the bias and
  /// activation were applied on the way too.
  bool convolve(int direction, const RawTensor& x, const RawTensor& f, const RawTensor& y,
                const Window2D& w, bool depthwise, const RawTensor* bias = nullptr,
                FusedActivation activation = FusedActivation::none, bool* fused = nullptr);
  /// convolve on buffers in cuDNN tensor `format`, with shapes read off NHWC x and y.
  bool convolve_as(int format, int direction, const RawTensor& x, const RawTensor& y, void* px,
                   void* pf, void* py, const Window2D& w, bool depthwise);
  /// With CT_CUDA_PROFILE=1: an event recorded on the stream before a launch (else null), and
  /// the span from it to now, added to the profile under `name`.
  cudaEvent_t profile_begin();
  void profile_end(cudaEvent_t begin, const std::string& name);
  /// Surfaces an error of the queue (an earlier launch) naming the last op launched.
  void check_queue(cudaError_t status, const char* where);

  int ordinal_;
  int multiprocessors_ = 1;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  cudnnHandle_t dnn_ = nullptr;
  std::vector<cudaLibrary_t> libraries_;  // the compiled kernel units, in kernel_units() order
  bool sync_each_launch_ = false;
  bool deterministic_ = true;
  bool nchw_convolutions_ = true;  // CT_CUDA_CONV_LAYOUT=nhwc runs cuDNN on NHWC directly
  std::unique_ptr<BlockPool> pool_;
  std::string last_kernel_ = "none";
  std::mutex mutex_;
  std::unordered_map<std::string, cudaKernel_t> kernels_;
  std::unordered_map<std::string, int> conv_algorithms_;
  /// Column sums by cuBLAS take a vector of ones, grown as needed (float32 and float64).
  RawTensor ones_[2];
  struct Staging {
    void* buffer = nullptr;  // pinned host memory
    std::size_t capacity = 0;
    cudaEvent_t done = nullptr;  // recorded after the buffer's last copy
  };
  std::mutex staging_mutex_;
  Staging staging_[2];
  int next_staging_ = 0;
  bool profiling_ = false;
  struct Span {
    std::string name;
    cudaEvent_t begin, end;
  };
  std::vector<Span> spans_;
  std::vector<cudaEvent_t> spare_events_;
};

}  // namespace ct::cuda
