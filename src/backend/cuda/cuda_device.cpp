// Opening GPUs: how many there are, why there are none, and one backend per ordinal, made on
// first use so that binaries built with CUDA start (and run on the CPU) without a driver.
#include <array>
#include <mutex>
#include <vector>

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

std::vector<std::string> missing_kernels() {
  // Every name the backend builds to launch, by the same functions it calls.
  constexpr DType kAll[] = {DType::float32, DType::float64, DType::int32, DType::int64,
                            DType::boolean};
  std::vector<std::string> wanted;
  for (DType d : kAll) {
    for (int i = 0; i < int(Op::binary_add); ++i)
      if (unary_takes(UnaryOp(i), d)) wanted.push_back(unary_kernel(UnaryOp(i), d));
    for (int i = 0; i < int(Op::compare_equal) - int(Op::binary_add); ++i)
      if (binary_takes(BinaryOp(i), d)) wanted.push_back(binary_kernel(BinaryOp(i), d));
    for (int i = 0; i < int(Op::fill) - int(Op::compare_equal); ++i)
      if (compare_takes(CompareOp(i), d)) wanted.push_back(compare_kernel(CompareOp(i), d));
    for (DType to : kAll) wanted.push_back(cast_kernel(d, to));
    for (const char* family : {"fill", "iota", "select", "pad"})
      wanted.push_back(typed_kernel(family, d));
    for (int r = 0; r <= int(ReduceOp::argmin); ++r) {
      bool logic = ReduceOp(r) == ReduceOp::any || ReduceOp(r) == ReduceOp::all;
      if (logic != (d == DType::boolean)) continue;
      for (bool per_block : {false, true})
        wanted.push_back(reduce_kernel(ReduceOp(r), d, per_block));
    }
    if (!is_floating(d)) continue;
    for (const char* family :
         {"axpby", "bias_act", "random_uniform", "random_normal", "pool_max", "pool_average",
          "pool_max_select", "pool_max_backward", "pool_max_backward_tiled", "transpose_bias_act",
          "pool_average_backward"})
      wanted.push_back(typed_kernel(family, d));
  }
  for (std::size_t bytes : {1, 4, 8}) {
    wanted.push_back(copy_kernel(bytes));
    wanted.push_back(transpose_kernel(bytes));
  }
  std::vector<std::string> missing;
  for (const std::string& name : wanted)
    if (!kernel_units().unit_of.contains(name)) missing.push_back(name);
  return missing;
}

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
