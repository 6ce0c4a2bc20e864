#include "cuda_backend.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <cstdlib>
#include <limits>
#include <string_view>

#include "cotangent/backend/cuda.hpp"
#include "cotangent/core/error.hpp"
#include "block_pool.hpp"
#include "kernel_source.hpp"
#include "nvrtc_compiler.hpp"

namespace ct::cuda {

namespace {

constexpr int kThreads = 256;
/// Host writes of at least this many bytes (a batch) go through pinned staging buffers.
constexpr std::size_t kStagedBytes = 64 << 10;

[[noreturn]] void fail(cudaError_t status, std::string_view what) {
  cudaGetLastError();  // clear a sticky launch error so later calls report their own
  if (status == cudaErrorMemoryAllocation)
    throw MemoryError(detail::format("{}: {}", what, cudaGetErrorString(status)));
  throw DeviceError(detail::format("CUDA: {} failed: {}", what, cudaGetErrorString(status)));
}
#define CT_CUDA(call)                                                               \
  do {                                                                              \
    if (cudaError_t status_ = (call); status_ != cudaSuccess) fail(status_, #call); \
  } while (0)

void check_blas(cublasStatus_t status, const char* what) {
  CT_CHECK_AS(DeviceError, status == CUBLAS_STATUS_SUCCESS, "cuBLAS: {} failed: {}", what,
              cublasGetStatusString(status));
}
void check_dnn(cudnnStatus_t status, const char* what) {
  CT_CHECK_AS(DeviceError, status == CUDNN_STATUS_SUCCESS, "cuDNN: {} failed: {}", what,
              cudnnGetErrorString(status));
}

bool environment_flag(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::string_view(v) != "0";
}

/// Device memory from the GPU's block pool, given back to it (for the stream's next use).
class CudaStorage final : public Storage {
 public:
  CudaStorage(Device device, std::size_t nbytes, void* address, BlockPool& pool)
      : Storage(device, nbytes), address_(address), pool_(pool) {}
  ~CudaStorage() override {
    if (address_) pool_.give(address_, nbytes());
  }
  void* address() const override { return address_; }

 private:
  void* address_;
  BlockPool& pool_;
};

/// Strides of x broadcast to `shape` (0 along broadcast dimensions), right-aligned.
void broadcast_into(const RawTensor& x, const Shape& shape, std::int64_t* strides) {
  int lead = shape.rank() - x.rank();
  for (int i = 0; i < shape.rank(); ++i) strides[i] = 0;
  for (int i = 0; i < x.rank(); ++i) strides[lead + i] = x.shape[i] == 1 ? 0 : x.strides[i];
}

Access access_of(const RawTensor& x, const Shape& shape) {
  if (x.shape == shape && x.is_contiguous()) return Access::flat;
  if (x.count() == 1) return Access::scalar;
  return Access::strided;
}

/// x with its dimensions reordered: result dimension i is x's dimension perm[i].
RawTensor permuted(const RawTensor& x, std::initializer_list<int> perm) {
  RawTensor t = x;
  int i = 0;
  for (int p : perm) t.shape[i] = x.shape[p], t.strides[i] = x.strides[p], ++i;
  return t;
}

cudnnDataType_t dnn_type(DType d) {
  return d == DType::float32 ? CUDNN_DATA_FLOAT : CUDNN_DATA_DOUBLE;
}

/// A value of the dtype's C type for a kernel argument.
union ScalarArgument {
  float f32;
  double f64;
  std::int32_t i32;
  std::int64_t i64;
  bool b8;
};
ScalarArgument scalar_argument(DType d, double v) {
  ScalarArgument s{};
  switch (d) {
    case DType::float32:
      s.f32 = float(v);
      break;
    case DType::float64:
      s.f64 = v;
      break;
    case DType::int32:
      s.i32 = std::int32_t(v);
      break;
    case DType::int64:
      s.i64 = std::int64_t(v);
      break;
    case DType::boolean:
      s.b8 = v != 0;
      break;
  }
  return s;
}

std::string architecture(int ordinal) {
  cudaDeviceProp p{};
  CT_CUDA(cudaGetDeviceProperties(&p, ordinal));
  return "sm_" + std::to_string(p.major) + std::to_string(p.minor);
}

}  // namespace

// ---- Opening a GPU ------------------------------------------------------------------------------

CudaBackend::CudaBackend(int ordinal) : Backend(Device::cuda(ordinal)), ordinal_(ordinal) {
  CT_CUDA(cudaSetDevice(ordinal));
  CT_CUDA(cudaDeviceGetAttribute(&multiprocessors_, cudaDevAttrMultiProcessorCount, ordinal));
  CT_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  // Keep freed blocks in the pool: a training step then allocates without the driver.
  cudaMemPool_t pool;
  CT_CUDA(cudaDeviceGetDefaultMemPool(&pool, ordinal));
  std::uint64_t keep = std::numeric_limits<std::uint64_t>::max();
  CT_CUDA(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
  pool_ = std::make_unique<BlockPool>(stream_);
  check_blas(cublasCreate(&blas_), "cublasCreate");
  check_blas(cublasSetStream(blas_, stream_), "cublasSetStream");
  check_dnn(cudnnCreate(&dnn_), "cudnnCreate");
  check_dnn(cudnnSetStream(dnn_, stream_), "cudnnSetStream");
  for (const auto& cubin : compile_cubins(kernel_units().sources, architecture(ordinal))) {
    cudaLibrary_t library;
    CT_CUDA(cudaLibraryLoadData(&library, cubin.data(), nullptr, nullptr, 0, nullptr, nullptr, 0));
    libraries_.push_back(library);
  }
  sync_each_launch_ = environment_flag("CT_CUDA_SYNC");
  profiling_ = environment_flag("CT_CUDA_PROFILE");
  const char* deterministic = std::getenv("CT_CUDA_DETERMINISTIC");
  deterministic_ = !deterministic || std::string_view(deterministic) != "0";
  const char* layout = std::getenv("CT_CUDA_CONV_LAYOUT");
  nchw_convolutions_ = !layout || std::string_view(layout) != "nhwc";
}

CudaBackend::~CudaBackend() {
  for (cudaLibrary_t library : libraries_) cudaLibraryUnload(library);
  if (dnn_) cudnnDestroy(dnn_);
  if (blas_) cublasDestroy(blas_);
  if (stream_) cudaStreamDestroy(stream_);
}

// ---- Memory ---------------------------------------------------------------------------------

std::shared_ptr<Storage> CudaBackend::allocate(std::size_t nbytes) {
  void* address = nullptr;
  if (nbytes > 0) {
    cudaSetDevice(ordinal_);
    address = pool_->take(nbytes);
    CT_CHECK_AS(MemoryError, address != nullptr,
                "{}: out of memory for {} bytes ({} bytes cached and given back first)", device(),
                nbytes, pool_->cached_bytes());
  }
  return std::make_shared<CudaStorage>(device(), nbytes, address, *pool_);
}

void CudaBackend::write(const RawTensor& dst, const void* host) {
  CT_CHECK(dst.is_contiguous(), "write: {} needs a contiguous destination", device());
  std::size_t bytes = std::size_t(dst.count()) * dtype_size(dst.dtype);
  if (bytes == 0) return;
  cudaSetDevice(ordinal_);
  if (bytes < kStagedBytes) {
    // From pageable memory the copy has finished reading `host` when the call returns.
    check_queue(cudaMemcpyAsync(dst.data(), host, bytes, cudaMemcpyHostToDevice, stream_), "write");
    return;
  }
  // Batches go through pinned buffers, two in turn: the copy runs while the host prepares the
  // next batch, and a buffer is refilled only once its last copy has been read.
  std::lock_guard lock(staging_mutex_);
  Staging& stage = staging_[next_staging_];
  next_staging_ = 1 - next_staging_;
  if (stage.done)
    check_queue(cudaEventSynchronize(stage.done), "write");
  else
    CT_CUDA(cudaEventCreateWithFlags(&stage.done, cudaEventDisableTiming));
  if (stage.capacity < bytes) {
    if (stage.buffer) cudaFreeHost(stage.buffer);
    stage.buffer = nullptr, stage.capacity = 0;
    CT_CUDA(cudaHostAlloc(&stage.buffer, bytes, cudaHostAllocDefault));
    stage.capacity = bytes;
  }
  std::memcpy(stage.buffer, host, bytes);
  check_queue(cudaMemcpyAsync(dst.data(), stage.buffer, bytes, cudaMemcpyHostToDevice, stream_),
              "write");
  CT_CUDA(cudaEventRecord(stage.done, stream_));
}

void CudaBackend::read(const RawTensor& src, void* host) {
  RawTensor d = dense(src);
  std::size_t bytes = std::size_t(d.count()) * dtype_size(d.dtype);
  cudaSetDevice(ordinal_);
  if (bytes > 0)
    check_queue(cudaMemcpyAsync(host, d.data(), bytes, cudaMemcpyDeviceToHost, stream_), "read");
  check_queue(cudaStreamSynchronize(stream_), "read");
}

void CudaBackend::synchronize() {
  cudaSetDevice(ordinal_);
  check_queue(cudaStreamSynchronize(stream_), "synchronize");
}

void CudaBackend::check_queue(cudaError_t status, const char* where) {
  if (status == cudaSuccess) return;
  cudaGetLastError();
  throw DeviceError(
      detail::format("{}: {} failed: {} (the last kernel launched was {}; "
                     "CT_CUDA_SYNC=1 checks each launch)",
                     device(), where, cudaGetErrorString(status), last_kernel_));
}

// ---- What runs here ---------------------------------------------------------------------------

bool CudaBackend::supports(Op op, DType d) const {
  int i = int(op);
  if (i < int(Op::binary_add)) return unary_takes(UnaryOp(i), d);
  if (i < int(Op::compare_equal)) return binary_takes(BinaryOp(i - int(Op::binary_add)), d);
  if (i < int(Op::fill)) return compare_takes(CompareOp(i - int(Op::compare_equal)), d);
  switch (op) {
    case Op::fill:
    case Op::iota:
    case Op::select:
    case Op::cast:
    case Op::contiguous:
    case Op::concatenate:
    case Op::pad:
      return true;
    case Op::reduce_any:
    case Op::reduce_all:
      return d == DType::boolean;
    case Op::reduce_sum:
    case Op::reduce_product:
    case Op::reduce_max:
    case Op::reduce_min:
    case Op::reduce_argmax:
    case Op::reduce_argmin:
      return d != DType::boolean;
    case Op::gather:
    case Op::scatter_add:
    case Op::pad_backward:
      return false;  // the CPU runs these (counted)
    default:
      return is_floating(d);  // products, convolutions, pooling, random and the fused updates
  }
}

bool CudaBackend::fuses(Op op) const {
  return op == Op::update || op == Op::matmul_update || op == Op::linear ||
         op == Op::conv2d_activation || op == Op::random;
}

// ---- Launching --------------------------------------------------------------------------------

void CudaBackend::launch(const std::string& name, dim3 grid, dim3 block, void** args) {
  cudaKernel_t kernel;
  {
    std::lock_guard lock(mutex_);
    auto it = kernels_.find(name);
    if (it == kernels_.end()) {
      auto unit = kernel_units().unit_of.find(name);
      CT_CHECK(
          unit != kernel_units().unit_of.end() &&
              cudaLibraryGetKernel(&kernel, libraries_[unit->second], name.c_str()) == cudaSuccess,
          "{}: no kernel {} in the generated source", device(), name);
      it = kernels_.emplace(name, kernel).first;
    }
    kernel = it->second;
    last_kernel_ = name;
  }
  cudaSetDevice(ordinal_);
  cudaEvent_t begin = profile_begin();
  check_queue(
      cudaLaunchKernel(reinterpret_cast<const void*>(kernel), grid, block, args, 0, stream_),
      name.c_str());
  profile_end(begin, name);
  if (sync_each_launch_) check_queue(cudaStreamSynchronize(stream_), name.c_str());
}

cudaEvent_t CudaBackend::profile_begin() {
  if (!profiling_) return nullptr;
  std::lock_guard lock(mutex_);
  cudaEvent_t event;
  if (spare_events_.empty()) {
    CT_CUDA(cudaEventCreate(&event));
  } else {
    event = spare_events_.back();
    spare_events_.pop_back();
  }
  CT_CUDA(cudaEventRecord(event, stream_));
  return event;
}

void CudaBackend::profile_end(cudaEvent_t begin, const std::string& name) {
  if (!begin) return;
  cudaEvent_t end = profile_begin();
  std::lock_guard lock(mutex_);
  spans_.push_back({name, begin, end});
}

std::string CudaBackend::profile_report() {
  synchronize();
  std::lock_guard lock(mutex_);
  struct Total {
    std::int64_t launches = 0;
    double ms = 0;
  };
  std::unordered_map<std::string, Total> totals;
  double all = 0;
  for (Span& span : spans_) {
    float ms = 0;
    cudaEventElapsedTime(&ms, span.begin, span.end);
    totals[span.name].launches++;
    totals[span.name].ms += ms;
    all += ms;
    spare_events_.push_back(span.begin);
    spare_events_.push_back(span.end);
  }
  std::vector<std::pair<std::string, Total>> rows(totals.begin(), totals.end());
  std::sort(rows.begin(), rows.end(),
            [](const auto& a, const auto& b) { return a.second.ms > b.second.ms; });
  std::string out =
      detail::format("{}: {} launches, {} ms of GPU time\n", device(), spans_.size(), all);
  for (auto& [name, total] : rows)
    out += detail::format("  {} ms  {} launches  {}\n", total.ms, total.launches, name);
  spans_.clear();
  return out;
}

void CudaBackend::launch(const std::string& name, std::int64_t n, void** args) {
  if (n <= 0) return;
  std::int64_t blocks =
      std::min<std::int64_t>((n + kThreads - 1) / kThreads, std::int64_t(multiprocessors_) * 16);
  launch(name, dim3(unsigned(blocks)), dim3(kThreads), args);
}

RawTensor CudaBackend::map(const std::string& kernel, const Shape& shape, DType out_dtype,
                           std::initializer_list<const RawTensor*> operands) {
  RawTensor out = empty(shape, out_dtype);
  std::int64_t n = out.count();
  if (n == 0) return out;
  KernelStrides s;
  s.rank = shape.rank();
  for (int i = 0; i < shape.rank(); ++i) s.shape[i] = shape[i];
  int access = 0, k = 0;
  std::array<void*, 3> pointers{};
  for (const RawTensor* x : operands) {
    CT_CHECK_AS(DeviceError, x->device == device(), "{}: operand on {}, expected {}", kernel,
                x->device, device());
    broadcast_into(*x, shape, s.stride[k]);
    access |= int(access_of(*x, shape)) << (2 * k);
    pointers[k] = x->data();
    ++k;
  }
  void* y = out.data();
  std::array<void*, 8> args{&n, &s, &access};
  int a = 3;
  for (int i = 0; i < k; ++i) args[a++] = &pointers[i];
  args[a] = &y;
  launch(kernel, n, args.data());
  return out;
}

void CudaBackend::copy_into(const RawTensor& dst, const RawTensor& src) {
  std::int64_t n = src.count();
  if (n == 0) return;
  KernelStrides s;
  s.rank = src.rank();
  for (int i = 0; i < src.rank(); ++i)
    s.shape[i] = src.shape[i], s.stride[0][i] = src.strides[i], s.stride[1][i] = dst.strides[i];
  int access = access_flags(src.is_contiguous() ? Access::flat : Access::strided,
                            dst.is_contiguous() ? Access::flat : Access::strided);
  void* x = src.data();
  void* y = dst.data();
  void* args[] = {&n, &s, &access, &x, &y};
  launch(copy_kernel(dtype_size(src.dtype)), n, args);
}

RawTensor CudaBackend::dense(const RawTensor& x) { return x.is_contiguous() ? x : contiguous(x); }

// ---- Elementwise --------------------------------------------------------------------------------

RawTensor CudaBackend::fill(const Shape& shape, DType dtype, double value) {
  RawTensor out = empty(shape, dtype);
  std::int64_t n = out.count();
  ScalarArgument v = scalar_argument(dtype, value);
  void* y = out.data();
  void* args[] = {&n, &v, &y};
  launch(typed_kernel("fill", dtype), n, args);
  return out;
}

RawTensor CudaBackend::iota(const Shape& shape, int axis, DType dtype) {
  RawTensor out = empty(shape, dtype);
  std::int64_t n = out.count(), inner = 1, size = shape[axis];
  for (int i = axis + 1; i < shape.rank(); ++i) inner *= shape[i];
  void* y = out.data();
  void* args[] = {&n, &inner, &size, &y};
  launch(typed_kernel("iota", dtype), n, args);
  return out;
}

RawTensor CudaBackend::unary(UnaryOp op, const RawTensor& x) {
  CT_CHECK_AS(DTypeError, unary_takes(op, x.dtype), "{}: unsupported dtype {}", op_name(op_of(op)),
              x.dtype);
  return map(unary_kernel(op, x.dtype), x.shape, x.dtype, {&x});
}

RawTensor CudaBackend::binary(BinaryOp op, const RawTensor& a, const RawTensor& b,
                              const Shape& out_shape) {
  CT_CHECK_AS(DTypeError, a.dtype == b.dtype && binary_takes(op, a.dtype),
              "{}: unsupported dtypes {} and {}", op_name(op_of(op)), a.dtype, b.dtype);
  return map(binary_kernel(op, a.dtype), out_shape, a.dtype, {&a, &b});
}

RawTensor CudaBackend::compare(CompareOp op, const RawTensor& a, const RawTensor& b,
                               const Shape& out_shape) {
  CT_CHECK_AS(DTypeError, a.dtype == b.dtype && compare_takes(op, a.dtype),
              "{}: unsupported dtypes {} and {}", op_name(op_of(op)), a.dtype, b.dtype);
  return map(compare_kernel(op, a.dtype), out_shape, DType::boolean, {&a, &b});
}

RawTensor CudaBackend::select(const RawTensor& c, const RawTensor& a, const RawTensor& b,
                              const Shape& out_shape) {
  CT_CHECK_AS(DTypeError, c.dtype == DType::boolean && a.dtype == b.dtype,
              "select: needs a bool condition and equal dtypes, got {}, {} and {}", c.dtype,
              a.dtype, b.dtype);
  return map(typed_kernel("select", a.dtype), out_shape, a.dtype, {&c, &a, &b});
}

RawTensor CudaBackend::cast(const RawTensor& x, DType dtype) {
  return map(cast_kernel(x.dtype, dtype), x.shape, dtype, {&x});
}

RawTensor CudaBackend::contiguous(const RawTensor& x) {
  RawTensor out = empty(x.shape, x.dtype);
  copy_into(out, x);
  return out;
}

void CudaBackend::bias_activation(RawTensor& y, const RawTensor* bias, FusedActivation activation) {
  if (!bias && activation == FusedActivation::none) return;
  std::int64_t n = y.count(), columns = y.rank() ? y.shape[y.rank() - 1] : 1;
  if (bias)
    CT_CHECK(bias->rank() == 1 && bias->shape[0] == columns && bias->dtype == y.dtype,
             "bias {} {} does not match the last dimension of {} {}", bias->shape, bias->dtype,
             y.shape, y.dtype);
  RawTensor b = bias ? dense(*bias) : RawTensor();
  void* pb = bias ? b.data() : nullptr;
  int relu = activation == FusedActivation::relu;
  void* py = y.data();
  void* args[] = {&n, &columns, &pb, &relu, &py};
  launch(typed_kernel("bias_act", y.dtype), n, args);
}

RawTensor CudaBackend::update(RawTensor&& y, double a, const RawTensor& x, double b) {
  CT_CHECK(y.shape == x.shape && y.dtype == x.dtype, "update: {} {} and {} {} do not match",
           y.shape, y.dtype, x.shape, x.dtype);
  CT_CHECK_AS(DTypeError, is_floating(y.dtype), "update: unsupported dtype {}", y.dtype);
  RawTensor out = y.owns_whole_storage() ? y : empty(y.shape, y.dtype);
  RawTensor yd = dense(y), xd = dense(x);
  std::int64_t n = out.count();
  ScalarArgument sa = scalar_argument(y.dtype, a), sb = scalar_argument(y.dtype, b);
  void *py = yd.data(), *px = xd.data(), *po = out.data();
  void* args[] = {&n, &sa, &py, &sb, &px, &po};
  launch(typed_kernel("axpby", y.dtype), n, args);
  return out;
}

RawTensor CudaBackend::random(Distribution distribution, const Shape& shape, DType dtype,
                              Philox at) {
  CT_CHECK_AS(DTypeError, is_floating(dtype), "random: unsupported dtype {}", dtype);
  RawTensor out = empty(shape, dtype);
  std::int64_t n = out.count();
  std::int64_t counters =
      std::int64_t(philox::counters_for(distribution, std::uint64_t(n), dtype == DType::float64));
  unsigned long long seed = at.seed, counter = at.counter;
  void* y = out.data();
  void* args[] = {&counters, &n, &seed, &counter, &y};
  launch(typed_kernel(distribution == Distribution::uniform ? "random_uniform" : "random_normal",
                      dtype),
         counters, args);
  return out;
}

// ---- Reductions -------------------------------------------------------------------------------

RawTensor CudaBackend::reduce(ReduceOp op, const RawTensor& x, std::span<const int> axes) {
  bool is_arg = op == ReduceOp::argmax || op == ReduceOp::argmin;
  bool is_logic = op == ReduceOp::any || op == ReduceOp::all;
  CT_CHECK_AS(DTypeError, is_logic == (x.dtype == DType::boolean),
              "reduce: {} does not take dtype {}", is_logic ? "any/all" : "this reduction",
              x.dtype);
  Shape kept_shape = x.shape;
  for (int a : axes) kept_shape[a] = 1;
  RawTensor out = empty(kept_shape, is_arg ? DType::int64 : x.dtype);
  std::int64_t outputs = out.count(), length = 1;
  if (outputs == 0) return out;
  KernelStrides kept, reduced;
  for (int i = 0; i < x.rank(); ++i) {
    bool r = std::find(axes.begin(), axes.end(), i) != axes.end();
    KernelStrides& s = r ? reduced : kept;
    s.shape[s.rank] = x.shape[i];
    s.stride[0][s.rank] = x.strides[i];
    ++s.rank;
    if (r) length *= x.shape[i];
  }
  // A sum over leading axes of a dense tensor (bias gradients) is a product with ones: cuBLAS
  // reads the rows coalesced, where a block per output would stride across them.
  bool leading = !axes.empty() && axes.front() == 0 && axes.back() == int(axes.size()) - 1;
  if (op == ReduceOp::sum && is_floating(x.dtype) && leading && x.is_contiguous() &&
      int(axes.size()) < x.rank() && length > 0 && length < (1ll << 31)) {
    RawTensor& ones = ones_[x.dtype == DType::float64];
    if (!ones.defined() || ones.count() < length) ones = fill({length}, x.dtype, 1);
    int rows = int(length), columns = int(outputs);
    cudaSetDevice(ordinal_);
    last_kernel_ = "cuBLAS gemv";
    cudaEvent_t begin = profile_begin();
    // Row-major [rows, columns] is column-major [columns, rows]: y = X·ones.
    if (x.dtype == DType::float32) {
      float one = 1, zero = 0;
      check_blas(cublasSgemv(blas_, CUBLAS_OP_N, columns, rows, &one, x.data_as<float>(), columns,
                             ones.data_as<float>(), 1, &zero, out.data_as<float>(), 1),
                 "cublasSgemv");
    } else {
      double one = 1, zero = 0;
      check_blas(cublasDgemv(blas_, CUBLAS_OP_N, columns, rows, &one, x.data_as<double>(), columns,
                             ones.data_as<double>(), 1, &zero, out.data_as<double>(), 1),
                 "cublasDgemv");
    }
    profile_end(begin, detail::format("cuBLAS column sums {}x{}", rows, columns));
    return out;
  }
  // Long reductions into few outputs get a block each; the rest a warp each.
  bool per_block = length > 1024 && outputs < std::int64_t(multiprocessors_) * 8;
  void* px = x.data();
  void* py = out.data();
  void* args[] = {&outputs, &length, &kept, &reduced, &px, &py};
  std::int64_t blocks = per_block ? outputs : (outputs + 7) / 8;
  blocks = std::min<std::int64_t>(blocks, 65535);
  launch(reduce_kernel(op, x.dtype, per_block), dim3(unsigned(blocks)), dim3(per_block ? 512 : 256),
         args);
  return out;
}

// ---- Products (cuBLAS) --------------------------------------------------------------------------

void CudaBackend::gemm(RawTensor& c, const RawTensor& a_in, const RawTensor& b_in, bool ta, bool tb,
                       double alpha, double beta) {
  int ra = a_in.rank(), rc = c.rank();
  std::int64_t m = c.shape[rc - 2], n = c.shape[rc - 1];
  std::int64_t k = ta ? a_in.shape[ra - 2] : a_in.shape[ra - 1];
  std::int64_t batch = c.count() / std::max<std::int64_t>(m * n, 1);
  if (c.count() == 0) return;
  // Each operand is one matrix shared by every batch (stride 0) or one per batch, contiguous.
  auto operand = [&](const RawTensor& x) {
    std::int64_t matrices =
        x.count() / std::max<std::int64_t>(x.shape[x.rank() - 2] * x.shape[x.rank() - 1], 1);
    if (matrices == 1 || matrices == batch) return dense(x);
    Shape full = c.shape;
    full[rc - 2] = x.shape[x.rank() - 2], full[rc - 1] = x.shape[x.rank() - 1];
    RawTensor view = x;
    view.shape = full;
    view.strides = Shape::filled(rc, 0);
    broadcast_into(x, full, &view.strides[0]);
    return contiguous(view);
  };
  RawTensor a = operand(a_in), b = operand(b_in);
  std::int64_t stride_a = a.count() / std::max<std::int64_t>(m * k, 1) == 1 ? 0 : m * k;
  std::int64_t stride_b = b.count() / std::max<std::int64_t>(k * n, 1) == 1 ? 0 : k * n;
  if (k == 0) {  // an empty sum: beta·c
    RawTensor zeros = fill(c.shape, c.dtype, 0);
    c = update(std::move(c), beta, zeros, 1);
    return;
  }
  // Row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ: swap the operands, keep the flags.
  cublasOperation_t op_b = tb ? CUBLAS_OP_T : CUBLAS_OP_N, op_a = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
  int ldb = int(tb ? k : n), lda = int(ta ? m : k), ldc = int(n);
  cudaSetDevice(ordinal_);
  last_kernel_ = "cuBLAS gemm";
  cudaEvent_t begin = profile_begin();
  if (c.dtype == DType::float32) {
    float al = float(alpha), be = float(beta);
    check_blas(cublasSgemmStridedBatched(blas_, op_b, op_a, int(n), int(m), int(k), &al,
                                         b.data_as<float>(), ldb, stride_b, a.data_as<float>(), lda,
                                         stride_a, &be, c.data_as<float>(), ldc, m * n, int(batch)),
               "cublasSgemmStridedBatched");
  } else {
    check_blas(
        cublasDgemmStridedBatched(blas_, op_b, op_a, int(n), int(m), int(k), &alpha,
                                  b.data_as<double>(), ldb, stride_b, a.data_as<double>(), lda,
                                  stride_a, &beta, c.data_as<double>(), ldc, m * n, int(batch)),
        "cublasDgemmStridedBatched");
  }
  profile_end(
      begin, detail::format("cuBLAS gemm {}x{}x{}{}{}", m, n, k, ta ? " Aᵀ" : "", tb ? " Bᵀ" : ""));
  if (sync_each_launch_) check_queue(cudaStreamSynchronize(stream_), "cuBLAS gemm");
}

RawTensor CudaBackend::matmul(const RawTensor& a, const RawTensor& b, bool ta, bool tb) {
  CT_CHECK_AS(DTypeError, a.dtype == b.dtype && is_floating(a.dtype),
              "matmul: unsupported dtypes {} and {}", a.dtype, b.dtype);
  CT_CHECK(a.rank() >= 2 && b.rank() >= 2, "matmul: needs matrices, got {} and {}", a.shape,
           b.shape);
  int ra = a.rank(), rb = b.rank();
  std::int64_t m = ta ? a.shape[ra - 1] : a.shape[ra - 2];
  std::int64_t k = ta ? a.shape[ra - 2] : a.shape[ra - 1];
  std::int64_t k2 = tb ? b.shape[rb - 1] : b.shape[rb - 2];
  std::int64_t n = tb ? b.shape[rb - 2] : b.shape[rb - 1];
  CT_CHECK_AS(ShapeError, k == k2, "matmul: inner dimensions differ: {} vs {}", a.shape, b.shape);
  int rank = std::max(ra, rb);
  Shape out = Shape::filled(rank, 1);
  for (int i = 0; i < rank - 2; ++i) {
    int ia = i - (rank - ra), ib = i - (rank - rb);
    std::int64_t da = ia >= 0 ? a.shape[ia] : 1, db = ib >= 0 ? b.shape[ib] : 1;
    CT_CHECK_AS(ShapeError, da == db || da == 1 || db == 1,
                "matmul: batch dimensions do not broadcast: {} vs {}", a.shape, b.shape);
    out[i] = std::max(da, db);
  }
  out[rank - 2] = m, out[rank - 1] = n;
  RawTensor c = empty(out, a.dtype);
  gemm(c, a, b, ta, tb, 1, 0);
  return c;
}

RawTensor CudaBackend::matmul_update(RawTensor&& y, double a, const RawTensor& lhs,
                                     const RawTensor& rhs, bool transpose_lhs, bool transpose_rhs,
                                     double b) {
  // cuBLAS's beta is the update's a: c = b·op(lhs)·op(rhs) + a·c in y's own buffer.
  if (!y.owns_whole_storage() || y.rank() != 2 || lhs.rank() != 2 || rhs.rank() != 2 ||
      !is_floating(y.dtype) || lhs.dtype != y.dtype || rhs.dtype != y.dtype)
    return Backend::matmul_update(std::move(y), a, lhs, rhs, transpose_lhs, transpose_rhs, b);
  std::int64_t m = transpose_lhs ? lhs.shape[1] : lhs.shape[0];
  std::int64_t n = transpose_rhs ? rhs.shape[0] : rhs.shape[1];
  std::int64_t k = transpose_lhs ? lhs.shape[0] : lhs.shape[1];
  std::int64_t k2 = transpose_rhs ? rhs.shape[1] : rhs.shape[0];
  CT_CHECK_AS(ShapeError, k == k2 && y.shape[0] == m && y.shape[1] == n,
              "matmul_update: {} += {} · {} do not fit", y.shape, lhs.shape, rhs.shape);
  RawTensor c = y;
  gemm(c, lhs, rhs, transpose_lhs, transpose_rhs, b, a);
  return c;
}

RawTensor CudaBackend::linear(const RawTensor& x, const RawTensor& w, const RawTensor* bias,
                              FusedActivation activation) {
  RawTensor y = matmul(x, w, false, false);
  bias_activation(y, bias, activation);
  return y;
}

// ---- Convolutions (cuDNN) ---------------------------------------------------------------------

namespace {
/// cuDNN descriptors of one convolution: NHWC data, KRSC (NHWC) filters, symmetric padding.
struct ConvDescriptors {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t f = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  ~ConvDescriptors() {
    if (x) cudnnDestroyTensorDescriptor(x);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (f) cudnnDestroyFilterDescriptor(f);
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
  }
};
}  // namespace

void CudaBackend::transpose_into(const RawTensor& dst, const RawTensor& src, std::int64_t batches,
                                 std::int64_t rows, std::int64_t cols) {
  if (src.count() == 0) return;
  void *px = src.data(), *py = dst.data();
  void* args[] = {&batches, &rows, &cols, &px, &py};
  dim3 grid(unsigned((cols + 31) / 32), unsigned((rows + 31) / 32),
            unsigned(std::min<std::int64_t>(batches, 65535)));
  launch(transpose_kernel(dtype_size(src.dtype)), grid, dim3(32, 8), args);
}

bool CudaBackend::convolve(int direction, const RawTensor& x, const RawTensor& f,
                           const RawTensor& y, const Window2D& w, bool depthwise,
                           const RawTensor* bias, FusedActivation activation, bool* fused) {
  if (fused) *fused = false;
  if (!nchw_convolutions_ || depthwise)
    return convolve_as(CUDNN_TENSOR_NHWC, direction, x, y, x.data(), f.data(), y.data(), w,
                       depthwise);
  // cuDNN's FP32 kernels are faster in NCHW (and take more geometries): the operands are
  // transposed [N, H, W, C] → [N, C, H, W] (KRSC → KCRS for the filter) and the result back.
  // Where C or H·W is 1 both layouts are the same bytes, and nothing moves.
  auto same_bytes = [](const RawTensor& t) {
    return t.shape[3] == 1 || t.shape[1] * t.shape[2] == 1;
  };
  auto nchw_shape = [](const RawTensor& t) {
    return Shape{t.shape[0], t.shape[3], t.shape[1], t.shape[2]};
  };
  auto operand = [&](const RawTensor& t) {
    if (same_bytes(t)) return t;
    RawTensor out = empty(nchw_shape(t), t.dtype);
    transpose_into(out, t, t.shape[0], t.shape[1] * t.shape[2], t.shape[3]);
    return out;
  };
  auto result = [&](const RawTensor& t) {
    return same_bytes(t) ? t : empty(nchw_shape(t), t.dtype);
  };
  const RawTensor& out = direction == 0 ? y : direction == 1 ? x : f;
  RawTensor xn = direction == 1 ? result(x) : operand(x);
  RawTensor fn = direction == 2 ? result(f) : operand(f);
  RawTensor yn = direction == 0 ? result(y) : operand(y);
  if (!convolve_as(CUDNN_TENSOR_NCHW, direction, x, y, xn.data(), fn.data(), yn.data(), w,
                   depthwise))
    return false;
  if (same_bytes(out)) return true;
  const RawTensor& result_n = direction == 0 ? yn : direction == 1 ? xn : fn;
  std::int64_t batches = out.shape[0], rows = out.shape[3], cols = out.shape[1] * out.shape[2];
  if (!fused || (!bias && activation == FusedActivation::none)) {
    transpose_into(out, result_n, batches, rows, cols);
    return true;
  }
  // The forward pass's bias and relu ride on the transpose back: one sweep fewer.
  RawTensor b = bias ? dense(*bias) : RawTensor();
  void *px = result_n.data(), *py = out.data(), *pb = bias ? b.data() : nullptr;
  int relu = activation == FusedActivation::relu;
  void* args[] = {&batches, &rows, &cols, &px, &py, &pb, &relu};
  dim3 grid(unsigned((cols + 31) / 32), unsigned((rows + 31) / 32),
            unsigned(std::min<std::int64_t>(batches, 65535)));
  launch(typed_kernel("transpose_bias_act", out.dtype), grid, dim3(32, 8), args);
  *fused = true;
  return true;
}

bool CudaBackend::convolve_as(int format, int direction, const RawTensor& x, const RawTensor& y,
                              void* px, void* pf, void* py, const Window2D& w, bool depthwise) {
  // Shapes from x [N, H, W, C] and y [N, OH, OW, K]; the buffers are in `format` (NHWC with
  // KRSC filters, or NCHW with KCRS filters).
  cudnnTensorFormat_t layout = cudnnTensorFormat_t(format);
  std::int64_t n = x.shape[0], h = x.shape[1], wd = x.shape[2], c = x.shape[3];
  std::int64_t k = y.shape[3];
  int groups = depthwise ? int(c) : 1;
  // cuDNN pads both sides alike: other geometries (the extra row of "same" for even kernels)
  // take the CPU's kernels.
  auto out_size = [](std::int64_t in, std::int64_t kernel, std::int64_t stride,
                     std::int64_t dilation, std::int64_t pad) {
    return (in + 2 * pad - dilation * (kernel - 1) - 1) / stride + 1;
  };
  if (out_size(h, w.kernel_h, w.stride_h, w.dilation_h, w.pad_top) != w.out_h ||
      out_size(wd, w.kernel_w, w.stride_w, w.dilation_w, w.pad_left) != w.out_w)
    return false;
  ConvDescriptors d;
  cudnnDataType_t type = dnn_type(x.dtype);
  auto ok = [](cudnnStatus_t s) { return s == CUDNN_STATUS_SUCCESS; };
  if (!ok(cudnnCreateTensorDescriptor(&d.x)) || !ok(cudnnCreateTensorDescriptor(&d.y)) ||
      !ok(cudnnCreateFilterDescriptor(&d.f)) || !ok(cudnnCreateConvolutionDescriptor(&d.conv)))
    return false;
  if (!ok(cudnnSetTensor4dDescriptor(d.x, layout, type, int(n), int(c), int(h), int(wd))) ||
      !ok(cudnnSetTensor4dDescriptor(d.y, layout, type, int(n), int(k), int(w.out_h),
                                     int(w.out_w))) ||
      !ok(cudnnSetFilter4dDescriptor(d.f, type, layout, int(k), int(c / groups), int(w.kernel_h),
                                     int(w.kernel_w))) ||
      !ok(cudnnSetConvolution2dDescriptor(d.conv, int(w.pad_top), int(w.pad_left), int(w.stride_h),
                                          int(w.stride_w), int(w.dilation_h), int(w.dilation_w),
                                          CUDNN_CROSS_CORRELATION, type)) ||
      !ok(cudnnSetConvolutionGroupCount(d.conv, groups)) ||
      // Plain FMA arithmetic (no TF32), so results agree with the CPU's.
      !ok(cudnnSetConvolutionMathType(d.conv, CUDNN_FMA_MATH)))
    return false;

  // The fastest deterministic algorithm, measured by cuDNN once per geometry (as PyTorch's
  // cudnn.benchmark with cudnn.deterministic): training stays reproducible run to run, unless
  // CT_CUDA_DETERMINISTIC=0 admits algorithms that add with atomics.
  std::string key =
      detail::format("{} {} {} {} {} {} {} {} {} {} {} {} {} {}", direction, format, x.shape,
                     y.shape, w.kernel_h, w.kernel_w, w.stride_h, w.stride_w, w.pad_top, w.pad_left,
                     w.dilation_h, w.dilation_w, groups, int(type));
  int algorithm = -1;
  if (auto it = conv_algorithms_.find(key); it != conv_algorithms_.end()) {
    algorithm = it->second;
  } else {
    constexpr int kMax = 16;
    constexpr std::size_t kMaxWorkspace = std::size_t(1) << 30;
    int found = 0;
    auto pick = [&](const auto* perf) {
      for (int i = 0; i < found && algorithm < 0; ++i)
        if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].determinism == CUDNN_DETERMINISTIC &&
            perf[i].memory <= kMaxWorkspace)
          algorithm = int(perf[i].algo);
    };
    cudaSetDevice(ordinal_);
    if (direction == 0) {
      cudnnConvolutionFwdAlgoPerf_t perf[kMax];
      if (!ok(cudnnFindConvolutionForwardAlgorithm(dnn_, d.x, d.f, d.conv, d.y, kMax, &found,
                                                   perf)))
        return false;
      pick(perf);
    } else if (direction == 1) {
      cudnnConvolutionBwdDataAlgoPerf_t perf[kMax];
      if (!ok(cudnnFindConvolutionBackwardDataAlgorithm(dnn_, d.f, d.y, d.conv, d.x, kMax, &found,
                                                        perf)))
        return false;
      pick(perf);
    } else {
      cudnnConvolutionBwdFilterAlgoPerf_t perf[kMax];
      if (!ok(cudnnFindConvolutionBackwardFilterAlgorithm(dnn_, d.x, d.y, d.conv, d.f, kMax, &found,
                                                          perf)))
        return false;
      pick(perf);
    }
    conv_algorithms_.emplace(key, algorithm);
  }
  if (algorithm < 0) return false;

  std::size_t workspace_bytes = 0;
  cudnnStatus_t s =
      direction == 0
          ? cudnnGetConvolutionForwardWorkspaceSize(
                dnn_, d.x, d.f, d.conv, d.y, cudnnConvolutionFwdAlgo_t(algorithm), &workspace_bytes)
      : direction == 1 ? cudnnGetConvolutionBackwardDataWorkspaceSize(
                             dnn_, d.f, d.y, d.conv, d.x, cudnnConvolutionBwdDataAlgo_t(algorithm),
                             &workspace_bytes)
                       : cudnnGetConvolutionBackwardFilterWorkspaceSize(
                             dnn_, d.x, d.y, d.conv, d.f,
                             cudnnConvolutionBwdFilterAlgo_t(algorithm), &workspace_bytes);
  if (!ok(s)) return false;
  std::shared_ptr<Storage> workspace = allocate(workspace_bytes);
  double one = 1, zero = 0;
  float onef = 1, zerof = 0;
  const void* alpha = x.dtype == DType::float32 ? static_cast<const void*>(&onef) : &one;
  const void* beta = x.dtype == DType::float32 ? static_cast<const void*>(&zerof) : &zero;
  cudaSetDevice(ordinal_);
  last_kernel_ = "cuDNN convolution";
  cudaEvent_t begin = profile_begin();
  if (direction == 0)
    s = cudnnConvolutionForward(dnn_, alpha, d.x, px, d.f, pf, d.conv,
                                cudnnConvolutionFwdAlgo_t(algorithm), workspace->address(),
                                workspace_bytes, beta, d.y, py);
  else if (direction == 1)
    s = cudnnConvolutionBackwardData(dnn_, alpha, d.f, pf, d.y, py, d.conv,
                                     cudnnConvolutionBwdDataAlgo_t(algorithm), workspace->address(),
                                     workspace_bytes, beta, d.x, px);
  else
    s = cudnnConvolutionBackwardFilter(dnn_, alpha, d.x, px, d.y, py, d.conv,
                                       cudnnConvolutionBwdFilterAlgo_t(algorithm),
                                       workspace->address(), workspace_bytes, beta, d.f, pf);
  check_dnn(s, "convolution");
  profile_end(begin, detail::format("cuDNN {} {} algorithm {}",
                                    direction == 0   ? "forward"
                                    : direction == 1 ? "backward data"
                                                     : "backward filter",
                                    x.shape, algorithm));
  if (sync_each_launch_) check_queue(cudaStreamSynchronize(stream_), "cuDNN convolution");
  return true;
}

namespace {
/// The filter in cuDNN's KRSC order: HWIO → [O, H, W, I]; depthwise HWCM → [C·M, H, W, 1].
RawTensor krsc_view(const RawTensor& f, bool depthwise) {
  return depthwise ? permuted(f, {2, 3, 0, 1}) : permuted(f, {3, 0, 1, 2});
}
Shape krsc_shape(const Shape& filter, bool depthwise) {
  return depthwise ? Shape{filter[2] * filter[3], filter[0], filter[1], 1}
                   : Shape{filter[3], filter[0], filter[1], filter[2]};
}
}  // namespace

RawTensor CudaBackend::conv2d(const RawTensor& input, const RawTensor& filter, const Window2D& w,
                              bool depthwise) {
  return conv2d_activation(input, filter, w, depthwise, nullptr, FusedActivation::none);
}

RawTensor CudaBackend::conv2d_activation(const RawTensor& input, const RawTensor& filter,
                                         const Window2D& w, bool depthwise, const RawTensor* bias,
                                         FusedActivation activation) {
  CT_CHECK_AS(DTypeError, is_floating(input.dtype) && filter.dtype == input.dtype,
              "conv2d: unsupported dtypes {} and {}", input.dtype, filter.dtype);
  CT_CHECK_AS(ShapeError, input.rank() == 4 && filter.rank() == 4,
              "conv2d: needs NHWC input and a 4-d filter, got {} and {}", input.shape,
              filter.shape);
  std::int64_t channels = depthwise ? input.shape[3] * filter.shape[3] : filter.shape[3];
  RawTensor x = dense(input);
  RawTensor f = contiguous(krsc_view(filter, depthwise));
  RawTensor y = empty({input.shape[0], w.out_h, w.out_w, channels}, input.dtype);
  if (bias)  // checked before any kernel reads it
    CT_CHECK(bias->rank() == 1 && bias->shape[0] == channels && bias->dtype == y.dtype,
             "bias {} {} does not match the last dimension of {} {}", bias->shape, bias->dtype,
             y.shape, y.dtype);
  bool fused = false;
  if (x.count() == 0) {
    y = fill(y.shape, y.dtype, 0);  // an empty sum (no input channels)
  } else if (y.count() > 0 && !convolve(0, x, f, y, w, depthwise, bias, activation, &fused)) {
    return fallback_for(device(), Op::conv2d_activation)
        .conv2d_activation(input, filter, w, depthwise, bias, activation);
  }
  if (!fused) bias_activation(y, bias, activation);
  return y;
}

RawTensor CudaBackend::conv2d_backward_input(const RawTensor& dy_in, const RawTensor& filter,
                                             const Shape& input_shape, const Window2D& w,
                                             bool depthwise) {
  CT_CHECK_AS(DTypeError, is_floating(dy_in.dtype), "conv2d: unsupported dtype {}", dy_in.dtype);
  RawTensor dx = empty(input_shape, dy_in.dtype);
  if (dx.count() == 0) return dx;
  if (dy_in.count() == 0) return fill(input_shape, dy_in.dtype, 0);
  RawTensor dy = dense(dy_in), f = contiguous(krsc_view(filter, depthwise));
  if (!convolve(1, dx, f, dy, w, depthwise))
    return fallback_for(device(), Op::conv2d_backward_input)
        .conv2d_backward_input(dy_in, filter, input_shape, w, depthwise);
  return dx;
}

RawTensor CudaBackend::conv2d_backward_filter(const RawTensor& input, const RawTensor& dy_in,
                                              const Shape& filter_shape, const Window2D& w,
                                              bool depthwise) {
  CT_CHECK_AS(DTypeError, is_floating(input.dtype), "conv2d: unsupported dtype {}", input.dtype);
  RawTensor df = empty(krsc_shape(filter_shape, depthwise), input.dtype);
  if (df.count() == 0) return empty(filter_shape, input.dtype);
  if (dy_in.count() == 0 || input.count() == 0) return fill(filter_shape, input.dtype, 0);
  RawTensor x = dense(input), dy = dense(dy_in);
  if (!convolve(2, x, df, dy, w, depthwise))
    return fallback_for(device(), Op::conv2d_backward_filter)
        .conv2d_backward_filter(input, dy_in, filter_shape, w, depthwise);
  // KRSC back to HWIO ([O, H, W, I] → [H, W, I, O]) or HWCM ([C, M, H, W] → [H, W, C, M]).
  if (depthwise) {
    RawTensor cmhw = df;
    cmhw.shape = {filter_shape[2], filter_shape[3], filter_shape[0], filter_shape[1]};
    cmhw.strides = contiguous_strides(cmhw.shape);
    return contiguous(permuted(cmhw, {2, 3, 0, 1}));
  }
  return contiguous(permuted(df, {1, 2, 3, 0}));
}

// ---- Pooling ----------------------------------------------------------------------------------

namespace {
KernelPool pool_geometry(const Shape& x, const Window2D& w) {
  return {x[0],       x[1],       x[2],       x[3],       w.out_h,   w.out_w,
          w.kernel_h, w.kernel_w, w.stride_h, w.stride_w, w.pad_top, w.pad_left};
}
}  // namespace

RawTensor CudaBackend::pool2d(PoolKind kind, const RawTensor& input, const Window2D& w) {
  CT_CHECK_AS(DTypeError, is_floating(input.dtype), "pool2d: unsupported dtype {}", input.dtype);
  RawTensor x = dense(input);
  KernelPool p = pool_geometry(x.shape, w);
  RawTensor y = empty({p.n, p.oh, p.ow, p.c}, x.dtype);
  void *px = x.data(), *py = y.data();
  void* args[] = {&p, &px, &py};
  launch(typed_kernel(kind == PoolKind::max ? "pool_max" : "pool_average", x.dtype), y.count(),
         args);
  return y;
}

RawTensor CudaBackend::pool2d_backward(PoolKind kind, const RawTensor& input,
                                       const RawTensor& dy_in, const Window2D& w) {
  CT_CHECK_AS(DTypeError, is_floating(input.dtype), "pool2d: unsupported dtype {}", input.dtype);
  RawTensor x = dense(input), dy = dense(dy_in);
  KernelPool p = pool_geometry(x.shape, w);
  RawTensor dx = empty(x.shape, x.dtype);
  void *px = x.data(), *pdy = dy.data(), *pdx = dx.data();
  void* args[] = {&p, &px, &pdy, &pdx};
  // Windows that tile the image (the usual 2×2, stride 2): one thread per window writes its
  // taps, the winner's gradient or 0, instead of each input looking for its window's winner.
  bool tiles = p.sh == p.kh && p.sw == p.kw && p.pt == 0 && p.pl == 0 && p.oh * p.kh == p.h &&
               p.ow * p.kw == p.w;
  if (kind == PoolKind::max && tiles)
    launch(typed_kernel("pool_max_backward_tiled", x.dtype), dy.count(), args);
  else
    launch(typed_kernel(kind == PoolKind::max ? "pool_max_backward" : "pool_average_backward",
                        x.dtype),
           dx.count(), args);
  return dx;
}

RawTensor CudaBackend::max_pool2d_select(const RawTensor& input, const RawTensor& values,
                                         const Window2D& w) {
  CT_CHECK(values.shape == input.shape && values.dtype == input.dtype,
           "max_pool2d_select: values {} {} for an input {} {}", values.shape, values.dtype,
           input.shape, input.dtype);
  CT_CHECK_AS(DTypeError, is_floating(input.dtype), "pool2d: unsupported dtype {}", input.dtype);
  RawTensor x = dense(input), v = dense(values);
  KernelPool p = pool_geometry(x.shape, w);
  RawTensor y = empty({p.n, p.oh, p.ow, p.c}, x.dtype);
  void *px = x.data(), *pv = v.data(), *py = y.data();
  void* args[] = {&p, &px, &pv, &py};
  launch(typed_kernel("pool_max_select", x.dtype), y.count(), args);
  return y;
}

// ---- Indexing and shape -------------------------------------------------------------------------

RawTensor CudaBackend::gather(const RawTensor& x, const RawTensor& indices, int axis) {
  return fallback_for(device(), Op::gather).gather(x, indices, axis);
}

RawTensor CudaBackend::scatter_add(const RawTensor& updates, const RawTensor& indices, int axis,
                                   const Shape& shape) {
  return fallback_for(device(), Op::scatter_add).scatter_add(updates, indices, axis, shape);
}

RawTensor CudaBackend::concatenate(std::span<const RawTensor> parts, int axis) {
  CT_CHECK(!parts.empty(), "concatenate: needs at least one tensor");
  Shape shape = parts[0].shape;
  shape[axis] = 0;
  for (const RawTensor& p : parts) {
    CT_CHECK_AS(DTypeError, p.dtype == parts[0].dtype, "concatenate: dtypes {} and {} differ",
                parts[0].dtype, p.dtype);
    shape[axis] += p.shape[axis];
  }
  RawTensor out = empty(shape, parts[0].dtype);
  std::int64_t at = 0;
  for (const RawTensor& p : parts) {
    RawTensor slot = out;
    slot.shape = p.shape;
    slot.offset = at * out.strides[axis];
    copy_into(slot, p);
    at += p.shape[axis];
  }
  return out;
}

RawTensor CudaBackend::pad(const RawTensor& x, std::span<const std::int64_t> before,
                           std::span<const std::int64_t> after, PadMode mode, double value) {
  KernelPad p;
  p.rank = x.rank();
  p.mode = int(mode);
  Shape shape = x.shape;
  for (int i = 0; i < x.rank(); ++i) {
    shape[i] += before[i] + after[i];
    p.out_shape[i] = shape[i], p.in_shape[i] = x.shape[i], p.before[i] = before[i];
    p.in_stride[i] = x.strides[i];
    CT_CHECK(mode == PadMode::constant || x.shape[i] > 0 || shape[i] == 0,
             "pad: cannot pad an empty dimension by reflection or edge");
  }
  RawTensor out = empty(shape, x.dtype);
  std::int64_t n = out.count();
  ScalarArgument v = scalar_argument(x.dtype, value);
  void *px = x.data(), *py = out.data();
  void* args[] = {&n, &p, &px, &py, &v};
  launch(typed_kernel("pad", x.dtype), n, args);
  return out;
}

RawTensor CudaBackend::pad_backward(const RawTensor& dy, std::span<const std::int64_t> before,
                                    std::span<const std::int64_t> after, PadMode mode) {
  if (mode == PadMode::constant) {  // the interior of dy
    RawTensor view = dy;
    for (int i = 0; i < dy.rank(); ++i) {
      view.shape[i] = dy.shape[i] - before[i] - after[i];
      view.offset += before[i] * dy.strides[i];
    }
    return contiguous(view);
  }
  return fallback_for(device(), Op::pad_backward).pad_backward(dy, before, after, mode);
}

}  // namespace ct::cuda
