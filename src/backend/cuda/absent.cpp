// A build without the CUDA backend: no GPUs, and Device::cuda() says how to get one.
#include "cotangent/backend/backend.hpp"
#include "cotangent/backend/cuda.hpp"
#include "cotangent/core/error.hpp"

namespace ct::cuda {

bool built() { return false; }
int device_count() { return 0; }
std::string unavailable_reason() {
  return "this build has no CUDA backend (configure with -DCOTANGENT_CUDA=ON where the CUDA "
         "toolkit 12 or later, cuDNN 9 and NVRTC are installed)";
}
std::size_t compile_kernels(const std::string&) {
  throw DeviceError("compile_kernels: " + unavailable_reason());
}
std::size_t kernel_count() { return 0; }
std::vector<std::string> missing_kernels() { return {}; }
std::string profile_report(int) { return ""; }

namespace detail_open {
Backend& open_backend(int ordinal) {
  throw DeviceError(detail::format("cuda:{}: {}", ordinal, unavailable_reason()));
}
}  // namespace detail_open

}  // namespace ct::cuda
