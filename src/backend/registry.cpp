#include <array>

#include "cpu/cpu_backend.hpp"

namespace ct {

namespace {
cpu::CpuBackend cpu_backend;
// Indexed by [kind][mode]; optional backends install themselves at startup.
std::array<std::array<Backend*, 2>, 2> backends{{{&cpu_backend, nullptr}, {nullptr, nullptr}}};
}  // namespace

Backend& backend_for(Device device) {
  Backend* b = backends[int(device.kind)][int(device.mode)];
  CT_CHECK_AS(DeviceError, b != nullptr, "no backend for device {} in this build", device);
  return *b;
}

KernelOptions& kernel_options() {
  static KernelOptions options;
  return options;
}

void register_backend(Device::Kind kind, Device::Mode mode, Backend* backend) {
  backends[int(kind)][int(mode)] = backend;
}

}  // namespace ct
