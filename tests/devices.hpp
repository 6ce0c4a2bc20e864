#pragma once
// The devices every op table runs on, and the test-only reference device that proves the seam:
// it runs the CPU's kernels, but its memory handles are opaque (host code that touches device
// memory crashes), its host reads are counted, it can refuse chosen ops, and as a device of its
// own it makes any stray CPU tensor a DeviceError.
#include <array>
#include <atomic>
#include <set>
#include <string>
#include <vector>

#include <cotangent/backend/forwarding.hpp>
#include <cotangent/core/device.hpp>

namespace ct::testing {

class ReferenceBackend final : public ForwardingBackend {
 public:
  /// With `forward_fused` false, the fused entry points are Backend's defaults (DefaultsOnly).
  ReferenceBackend(int ordinal, bool forward_fused);

  std::shared_ptr<Storage> allocate(std::size_t nbytes) override;
  void write(const RawTensor& dst, const void* host) override;
  void read(const RawTensor& src, void* host) override;
  void synchronize() override {}
  bool supports(Op op, DType dtype) const override;
  bool checks_data() const override { return false; }  // as a GPU: no reads to check data

  /// Host reads since the last reset.
  std::int64_t reads() const { return reads_.load(); }
  /// How often each op was dispatched here since the last reset.
  std::int64_t dispatched(Op op) const { return dispatched_[int(op)].load(); }
  void reset_counts();
  /// Ops this device claims not to run, so that they take the CPU fallback.
  std::set<Op> refused;

 protected:
  RawTensor inward(const RawTensor& x) override;
  RawTensor inward_owned(RawTensor x) override;
  RawTensor outward(RawTensor inner) override;

 private:
  std::atomic<std::int64_t> reads_{0};
  mutable std::array<std::atomic<std::int64_t>, kOpCount> dispatched_{};
};

/// The reference device with the CPU's fused kernels, and the one with only the defaults.
ReferenceBackend& reference_backend();
ReferenceBackend& defaults_only_backend();
inline Device reference_device() { return Device::reference(0); }
inline Device defaults_only_device() { return Device::reference(1); }

/// The devices the op tables run on: the CPU, the reference device, DefaultsOnly and the lazy
/// device (compiled programs).
std::vector<Device> devices();
/// The ops a device runs on the CPU for some calls (counted fallbacks); none for the others.
std::set<Op> expected_fallbacks(Device device);
/// A test-name suffix for a device parameter: cpu, reference, defaults_only, lazy.
std::string device_name(const ::testing::TestParamInfo<Device>& info);

}  // namespace ct::testing
