#include <gtest/gtest.h>

#include "devices.hpp"

#include <cotangent/backend/backend.hpp>
#include <cotangent/backend/cuda.hpp>
#include <cotangent/core/error.hpp>

namespace ct::testing {

namespace {
/// Reference memory: CPU memory behind a handle that is not an address.
class ReferenceStorage final : public Storage {
 public:
  ReferenceStorage(Device device, std::shared_ptr<Storage> inner)
      : Storage(device, inner->nbytes()), inner(std::move(inner)) {}
  // A non-canonical address: dereferencing it faults on every x86-64 and AArch64 machine.
  void* address() const override {
    return reinterpret_cast<void*>(std::uintptr_t(0xdead000000000000ull) |
                                   (reinterpret_cast<std::uintptr_t>(this) & 0xffffffffffffull));
  }
  std::shared_ptr<Storage> inner;
};

ReferenceStorage& reference_storage(const RawTensor& x) {
  auto* s = dynamic_cast<ReferenceStorage*>(x.storage.get());
  CT_CHECK_AS(DeviceError, s != nullptr && s->inner != nullptr,
              "reference backend: handed a tensor of {} (a stray tensor of another device)",
              x.storage->device());
  return *s;
}
}  // namespace

ReferenceBackend::ReferenceBackend(int ordinal, bool forward_fused)
    : ForwardingBackend(Device::reference(ordinal), backend_for(Device::cpu()), forward_fused) {
  register_backend(device(), this);
}

std::shared_ptr<Storage> ReferenceBackend::allocate(std::size_t nbytes) {
  return std::make_shared<ReferenceStorage>(device(), inner().allocate(nbytes));
}

void ReferenceBackend::write(const RawTensor& dst, const void* host) {
  inner().write(inward(dst), host);
}

void ReferenceBackend::read(const RawTensor& src, void* host) {
  reads_.fetch_add(1);
  inner().read(inward(src), host);
}

bool ReferenceBackend::supports(Op op, DType) const {
  dispatched_[int(op)].fetch_add(1);
  return !refused.contains(op);
}

void ReferenceBackend::reset_counts() {
  reads_.store(0);
  for (auto& n : dispatched_) n.store(0);
}

RawTensor ReferenceBackend::inward(const RawTensor& x) {
  if (!x.defined()) return x;
  CT_CHECK_AS(DeviceError, x.device == device(), "reference backend: handed a tensor of {}",
              x.device);
  RawTensor r = x;
  r.storage = reference_storage(x).inner;
  r.device = Device::cpu();
  return r;
}

RawTensor ReferenceBackend::inward_owned(RawTensor x) {
  if (!x.defined() || x.storage.use_count() != 1) return inward(x);
  // The only handle: its memory passes on, so the CPU can update it in place.
  RawTensor r = x;
  r.storage = std::move(reference_storage(x).inner);
  r.device = Device::cpu();
  return r;
}

RawTensor ReferenceBackend::outward(RawTensor inner) {
  if (!inner.defined()) return inner;
  inner.storage = std::make_shared<ReferenceStorage>(device(), std::move(inner.storage));
  inner.device = device();
  return inner;
}

ReferenceBackend& reference_backend() {
  static ReferenceBackend* backend = new ReferenceBackend(0, true);
  return *backend;
}
ReferenceBackend& defaults_only_backend() {
  static ReferenceBackend* backend = new ReferenceBackend(1, false);
  return *backend;
}

namespace {
// Registered before any test runs.
[[maybe_unused]] const bool registered = (reference_backend(), defaults_only_backend(), true);
}  // namespace

std::vector<Device> devices() {
  std::vector<Device> out{Device::cpu(), reference_device(), defaults_only_device(),
                          Device::default_lazy()};
  if (cuda::device_count() > 0) out.push_back(Device::cuda());
  return out;
}

std::set<Op> expected_fallbacks(Device device) {
  if (device.kind != Device::Kind::cuda) return {};
  // Indexing by data and reflected padding's adjoint have no GPU kernels yet; cuDNN refuses
  // some geometries (asymmetric padding) and dtypes, which then take the CPU's kernels.
  return {Op::gather,
          Op::scatter_add,
          Op::pad_backward,
          Op::conv2d_activation,
          Op::conv2d_backward_input,
          Op::conv2d_backward_filter};
}

std::string device_name(const ::testing::TestParamInfo<Device>& info) {
  if (info.param == reference_device()) return "reference";
  if (info.param == defaults_only_device()) return "defaults_only";
  if (info.param == Device::default_lazy()) return "lazy";
  if (info.param == Device::cuda()) return "cuda";
  return "cpu";
}

}  // namespace ct::testing
