#pragma once
// The CUDA device: whether this build has it, how many GPUs the runtime reports, and the
// NVRTC compile of its kernels (which needs no GPU, so CI checks it on every machine).
#include <cstddef>
#include <string>
#include <vector>

namespace ct::cuda {

/// Whether this build includes the CUDA backend (CMake option COTANGENT_CUDA).
bool built();
/// The GPUs the CUDA runtime reports; 0 without a CUDA build, a driver or a device.
int device_count();
/// Why Device::cuda() cannot be used, or "" when a GPU is there.
std::string unavailable_reason();
/// Compiles every kernel the backend can emit with NVRTC for `arch` ("sm_90"), through the disk
/// cache (CT_CACHE_DIR, else the user's cache dir + "cuda"); returns the cubin's size in bytes.
/// Throws an Error quoting NVRTC's log when a kernel does not compile.
std::size_t compile_kernels(const std::string& arch);
/// With CT_CUDA_PROFILE=1 in the environment: the GPU time of each kernel (and cuBLAS or cuDNN
/// call) on GPU `ordinal` since the last report, most expensive first; then starts over.
std::string profile_report(int ordinal = 0);
/// The kernels the backend may launch that the generated source lacks (none, unless a family
/// was added to the backend and not to the printer).
std::vector<std::string> missing_kernels();
/// How many kernels that source defines.
std::size_t kernel_count();

}  // namespace ct::cuda
