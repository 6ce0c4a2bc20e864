// Opening GPUs: how many there are, why there are none, and one backend per ordinal, made on
// first use so that binaries built with CUDA start (and run on the CPU) without a driver.
#include <array>
#include <mutex>

#include "cotangent/backend/cuda.hpp"
#include "cotangent/core/error.hpp"
#include "cuda_backend.hpp"
#include "kernel_source.hpp"
#include "nvrtc_compiler.hpp"

namespace ct::cuda {

namespace {
struct Census {
  int count = 0;
  std::string reason;
};
const Census& census() {
  static const Census c = [] {
    Census out;
    cudaError_t status = cudaGetDeviceCount(&out.count);
    if (status != cudaSuccess) {
      cudaGetLastError();
      out.count = 0;
      out.reason = detail::format("the CUDA runtime finds no GPU: {} ({})",
                                  cudaGetErrorString(status), cudaGetErrorName(status));
    } else if (out.count == 0) {
      out.reason = "the CUDA runtime reports zero GPUs";
    }
    return out;
  }();
  return c;
}
}  // namespace

bool built() { return true; }
int device_count() { return census().count; }
std::string unavailable_reason() { return census().reason; }
std::size_t compile_kernels(const std::string& arch) {
  std::size_t bytes = 0;
  for (const auto& cubin : compile_cubins(kernel_units().sources, arch)) bytes += cubin.size();
  return bytes;
}
std::size_t kernel_count() { return kernel_names().size(); }

namespace detail_open {
Backend& open_backend(int ordinal);
}  // namespace detail_open

std::string profile_report(int ordinal) {
  return static_cast<CudaBackend&>(detail_open::open_backend(ordinal)).profile_report();
}

namespace detail_open {
Backend& open_backend(int ordinal) {
  static std::mutex mutex;
  // Never destroyed: at exit the CUDA runtime may be unloading before static destructors run,
  // and the driver releases a process's GPU resources anyway.
  static std::array<CudaBackend*, Device::kMaxOrdinals> opened{};
  std::lock_guard lock(mutex);
  CT_CHECK_AS(DeviceError, census().count > 0, "cuda:{}: no CUDA device: {}", ordinal,
              census().reason);
  CT_CHECK_AS(DeviceError, ordinal >= 0 && ordinal < census().count,
              "cuda:{}: no such GPU: the CUDA runtime reports {} (cuda:0 to cuda:{})", ordinal,
              census().count, census().count - 1);
  if (!opened[ordinal]) opened[ordinal] = new CudaBackend(ordinal);
  return *opened[ordinal];
}
}  // namespace detail_open

}  // namespace ct::cuda
