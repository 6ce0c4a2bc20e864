#pragma once
// Where a tensor lives and how its ops run: kind (CPU, CUDA, the test-only reference device),
// ordinal, eager or lazy.
#include <compare>
#include <ostream>

namespace ct {

/// Where tensors live and ops run: Device::cpu(), Device::cuda(1), Device::default_lazy().
struct Device {
  /// The memory and kernels a device has: the CPU's, a CUDA GPU's, or the test-only reference's.
  enum class Kind : unsigned char { cpu, cuda, reference };
  /// Whether ops run when called (eager) or are traced and compiled to run at barriers (lazy).
  enum class Mode : unsigned char { eager, lazy };
  Kind kind = Kind::cpu;
  int ordinal = 0;
  Mode mode = Mode::eager;
  /// Kinds, and ordinals per kind, that registries and memory statistics make room for.
  static constexpr int kKinds = 3, kMaxOrdinals = 16;

  /// The eager CPU device, where tensors live unless told otherwise.
  static constexpr Device cpu() { return {}; }
  static constexpr Device cuda(int ordinal = 0) { return {Kind::cuda, ordinal, Mode::eager}; }
  /// The lazy (trace, fuse, compile) device on the CPU: S4TF's `Device.defaultXLA`.
  static constexpr Device default_lazy() { return {Kind::cpu, 0, Mode::lazy}; }
  /// A device for tests of the seam: the CPU's kernels behind opaque memory handles, with
  /// counted host reads. It exists only where a test registers its backend.
  static constexpr Device reference(int ordinal = 0) {
    return {Kind::reference, ordinal, Mode::eager};
  }

  friend constexpr bool operator==(const Device&, const Device&) = default;
};

inline std::ostream& operator<<(std::ostream& out, const Device& d) {
  constexpr const char* kNames[] = {"cpu", "cuda", "reference"};
  out << kNames[int(d.kind)] << ':' << d.ordinal;
  if (d.mode == Device::Mode::lazy) out << ":lazy";
  return out;
}

}  // namespace ct
