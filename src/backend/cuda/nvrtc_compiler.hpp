#pragma once
// NVRTC: CUDA C to cubin for one GPU architecture, cached on disk by a SHA-256 of the source,
// NVRTC's version, the options and the architecture. Entries are written atomically with a
// checksum beside them; a corrupt or truncated entry is compiled again and replaced.
#include <cstdint>
#include <string>
#include <vector>

namespace ct::cuda {

/// The cubin of `source` for `arch` ("sm_90"): from the disk cache or compiled. A compile
/// error is an Error quoting NVRTC's log and naming the saved source.
std::vector<std::uint8_t> compile_cubin(const std::string& source, const std::string& arch);
/// compile_cubin of each source, on as many threads as there are cores (NVRTC compiles
/// separate programs concurrently); the first error is rethrown after all have finished.
std::vector<std::vector<std::uint8_t>> compile_cubins(const std::vector<std::string>& sources,
                                                      const std::string& arch);

}  // namespace ct::cuda
