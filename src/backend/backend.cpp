// The parts of the seam every backend shares: the Op table's names, the defaults of the fused
// entry points (composed from required primitives), the registry and the counted CPU fallback.
#include "cotangent/backend/backend.hpp"

#include <array>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

#include "cotangent/backend/forwarding.hpp"
#include "cpu/cpu_backend.hpp"
#include "lazy/lazy_backend.hpp"

namespace ct {

namespace cuda::detail_open {
/// The backend of GPU `ordinal`, opened on first use; DeviceError when there is none.
Backend& open_backend(int ordinal);
}  // namespace cuda::detail_open

namespace {
struct OpRow {
  std::string_view name;
  bool fused;
};
constexpr OpRow kOps[] = {
#define CT_UNARY(name, ...) {"unary_" #name, false},
#define CT_BINARY(name, ...) {"binary_" #name, false},
#define CT_COMPARE(name, ...) {"compare_" #name, false},
#define CT_PRIMITIVE(name, kind) {#name, std::string_view(#kind) == "fused"},
#include "cotangent/backend/elementwise.def"
#include "cotangent/backend/primitives.def"
#undef CT_UNARY
#undef CT_BINARY
#undef CT_COMPARE
#undef CT_PRIMITIVE
};
static_assert(std::size(kOps) == std::size_t(kOpCount));

bool environment_flag(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::string_view(v) != "0";
}
}  // namespace

std::string_view op_name(Op op) { return kOps[int(op)].name; }
bool op_is_fused(Op op) { return kOps[int(op)].fused; }

RawTensor Backend::empty(const Shape& shape, DType dtype) {
  std::size_t bytes = storage_bytes(shape, dtype);
  try {
    return contiguous_view(allocate(bytes), shape, dtype);
  } catch (const MemoryError&) {
    throw MemoryError(detail::format(
        "out of memory on {}: a tensor of shape {} and dtype {} needs {} bytes ({} GiB)", device_,
        shape, dtype, bytes, std::round(double(bytes) / double(1ull << 30) * 10) / 10));
  }
}

RawTensor Backend::upload(const void* host, const Shape& shape, DType dtype) {
  RawTensor t = empty(shape, dtype);
  if (t.count() > 0) write(t, host);
  return t;
}

bool Backend::checks_data() const { return environment_flag("CT_DEVICE_CHECKS"); }

// ---- Defaults of the fused entry points -------------------------------------------------------

namespace {
/// Where a default runs one of its primitives: on this backend where it supports the op, else
/// through the counted CPU fallback (or a DeviceError in strict mode), as any op would.
Backend& primitive(Backend& self, Op op, DType dtype) {
  if (self.supports(op, dtype)) return self;
  return backend_for(self.device(), op, dtype);
}
}  // namespace

RawTensor Backend::random(Distribution distribution, const Shape& shape, DType dtype, Philox at) {
  CT_CHECK_AS(DTypeError, is_floating(dtype), "random: unsupported dtype {}", dtype);
  auto draw = [&](auto tag) {
    using T = decltype(tag);
    std::vector<T> values(std::size_t(shape.count()));
    philox::fill<T>(distribution, at, values.data(), values.size());
    return upload(values.data(), shape, dtype);
  };
  return dtype == DType::float32 ? draw(float{}) : draw(double{});
}

RawTensor Backend::update(RawTensor&& y, double a, const RawTensor& x, double b) {
  CT_CHECK(y.shape == x.shape && y.dtype == x.dtype, "update: {} {} and {} {} do not match",
           y.shape, y.dtype, x.shape, x.dtype);
  auto scaled = [&](const RawTensor& t, double s) {
    if (s == 1) return t;
    RawTensor factor = primitive(*this, Op::fill, t.dtype).fill({}, t.dtype, s);
    return primitive(*this, Op::binary_multiply, t.dtype)
        .binary(BinaryOp::multiply, t, factor, t.shape);
  };
  if (a == 0) return scaled(x, b);
  return primitive(*this, Op::binary_add, y.dtype)
      .binary(BinaryOp::add, scaled(y, a), scaled(x, b), y.shape);
}

RawTensor Backend::matmul_update(RawTensor&& y, double a, const RawTensor& lhs,
                                 const RawTensor& rhs, bool transpose_lhs, bool transpose_rhs,
                                 double b) {
  RawTensor product =
      primitive(*this, Op::matmul, lhs.dtype).matmul(lhs, rhs, transpose_lhs, transpose_rhs);
  return update(std::move(y), a, product, b);
}

namespace {
RawTensor with_bias_and_activation(Backend& backend, RawTensor z, const RawTensor* bias,
                                   FusedActivation activation) {
  if (bias) {
    CT_CHECK(z.rank() >= 1 && bias->rank() == 1 && bias->shape[0] == z.shape[z.rank() - 1],
             "bias {} does not match the last dimension of {}", bias->shape, z.shape);
    z = primitive(backend, Op::binary_add, z.dtype).binary(BinaryOp::add, z, *bias, z.shape);
  }
  if (activation == FusedActivation::relu)
    z = primitive(backend, Op::unary_relu, z.dtype).unary(UnaryOp::relu, z);
  return z;
}
}  // namespace

RawTensor Backend::linear(const RawTensor& x, const RawTensor& w, const RawTensor* bias,
                          FusedActivation activation) {
  RawTensor z = primitive(*this, Op::matmul, x.dtype).matmul(x, w, false, false);
  return with_bias_and_activation(*this, std::move(z), bias, activation);
}

RawTensor Backend::conv2d_activation(const RawTensor& input, const RawTensor& filter,
                                     const Window2D& w, bool depthwise, const RawTensor* bias,
                                     FusedActivation activation) {
  RawTensor z = primitive(*this, Op::conv2d, input.dtype).conv2d(input, filter, w, depthwise);
  return with_bias_and_activation(*this, std::move(z), bias, activation);
}

RawTensor Backend::activation_backward(RawTensor dy, const RawTensor& y, FusedActivation activation,
                                       RawTensor* bias_grad) {
  CT_CHECK(dy.rank() >= 1, "activation_backward: needs at least one dimension, got a scalar");
  RawTensor g = activation == FusedActivation::relu
                    ? primitive(*this, Op::binary_relu_backward, dy.dtype)
                          .binary(BinaryOp::relu_backward, dy, y, dy.shape)
                    : std::move(dy);
  if (bias_grad) {
    std::vector<int> axes;
    for (int i = 0; i + 1 < g.rank(); ++i) axes.push_back(i);
    RawTensor sums = primitive(*this, Op::reduce_sum, g.dtype).reduce(ReduceOp::sum, g, axes);
    sums.shape = Shape{g.shape[g.rank() - 1]};
    sums.strides = contiguous_strides(sums.shape);
    *bias_grad = std::move(sums);
  }
  return g;
}

// ---- Registry ---------------------------------------------------------------------------------

namespace {
constexpr int kOrdinals = Device::kMaxOrdinals;
cpu::CpuBackend cpu_backend;
// The lazy device records on the CPU and runs its compiled programs on the CPU's memory.
lazy::LazyBackend lazy_cpu_backend(Device::default_lazy(), cpu_backend);
// Indexed by kind, mode and ordinal; the CPU is built in, the others register at startup.
// Constant-initialized, so that backends registering during static initialization find it ready.
constinit std::array<std::array<std::array<Backend*, kOrdinals>, 2>, Device::kKinds> backends = [] {
  std::array<std::array<std::array<Backend*, kOrdinals>, 2>, Device::kKinds> table{};
  table[0][0][0] = &cpu_backend;
  table[0][1][0] = &lazy_cpu_backend;
  return table;
}();

Backend*& slot(Device device) {
  CT_CHECK_AS(DeviceError, device.ordinal >= 0 && device.ordinal < kOrdinals,
              "device {}: ordinal out of range [0, {})", device, kOrdinals);
  return backends[int(device.kind)][int(device.mode)][device.ordinal];
}

/// Runs one op of another device on the CPU: operands are read to the host, the result is
/// written back. Memory requests go to the device's own backend.
class CpuFallback final : public ForwardingBackend {
 public:
  explicit CpuFallback(Backend& own) : ForwardingBackend(own.device(), cpu_backend), own_(own) {}
  std::shared_ptr<Storage> allocate(std::size_t nbytes) override { return own_.allocate(nbytes); }
  void write(const RawTensor& dst, const void* host) override { own_.write(dst, host); }
  void read(const RawTensor& src, void* host) override { own_.read(src, host); }
  void synchronize() override { own_.synchronize(); }
  bool supports(Op, DType) const override { return true; }

 protected:
  RawTensor inward(const RawTensor& x) override {
    if (!x.defined()) return x;
    RawTensor dense = x.is_contiguous() ? x : own_.contiguous(x);
    RawTensor host = cpu_backend.empty(dense.shape, dense.dtype);
    if (host.count() > 0) own_.read(dense, host.data());
    return host;
  }
  RawTensor outward(RawTensor inner) override {
    if (!inner.defined()) return inner;
    RawTensor dense = inner.is_contiguous() ? inner : cpu_backend.contiguous(inner);
    return own_.upload(dense.data(), dense.shape, dense.dtype);
  }

 private:
  Backend& own_;
};

std::array<std::atomic<std::int64_t>, kOpCount> fallbacks{};
}  // namespace

Backend& backend_for(Device device) {
  Backend*& entry = slot(device);
  Backend* b = std::atomic_ref<Backend*>(entry).load(std::memory_order_acquire);
  if (!b && device.kind == Device::Kind::cuda && device.mode == Device::Mode::eager) {
    // GPUs open on first use (throwing DeviceError when there is none), so that a CUDA build
    // starts without a driver.
    b = &cuda::detail_open::open_backend(device.ordinal);
    std::atomic_ref<Backend*>(entry).store(b, std::memory_order_release);
  }
  CT_CHECK_AS(DeviceError, b != nullptr, "no backend for device {} in this build", device);
  return *b;
}

void register_backend(Device device, Backend* backend) { slot(device) = backend; }

Backend& backend_for(Device device, Op op, DType dtype) {
  Backend& own = backend_for(device);
  if (own.supports(op, dtype)) return own;
  CT_CHECK_AS(DeviceError, !environment_flag("CT_STRICT_DEVICE"),
              "{} on {}: device {} does not run this op, and CT_STRICT_DEVICE=1 forbids running it "
              "on the CPU instead",
              op_name(op), dtype, device);
  return fallback_for(device, op);
}

Backend& fallback_for(Device device, Op op) {
  Backend& own = backend_for(device);
  CT_CHECK_AS(DeviceError, !environment_flag("CT_STRICT_DEVICE"),
              "{} on {}: this call cannot run on the device, and CT_STRICT_DEVICE=1 forbids "
              "running it on the CPU instead",
              op_name(op), device);
  fallbacks[int(op)].fetch_add(1, std::memory_order_relaxed);
  static std::mutex mutex;
  static std::map<Backend*, std::unique_ptr<CpuFallback>> adapters;
  std::lock_guard lock(mutex);
  auto& adapter = adapters[&own];
  if (!adapter) adapter = std::make_unique<CpuFallback>(own);
  return *adapter;
}

std::vector<std::pair<Op, std::int64_t>> fallback_counts() {
  std::vector<std::pair<Op, std::int64_t>> out;
  for (int i = 0; i < kOpCount; ++i)
    if (auto n = fallbacks[i].load()) out.emplace_back(Op(i), n);
  return out;
}

void reset_fallback_counts() {
  for (auto& n : fallbacks) n.store(0);
}

}  // namespace ct
