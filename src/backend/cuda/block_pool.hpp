#pragma once
// Device memory kept for reuse, by size class. All of a GPU's work runs in order on one stream,
// so a block freed when a kernel's inputs die can go to the next allocation at once (PyTorch's
// caching allocator does the same per stream): a training step then allocates without asking
// CUDA. Sizes round up to 512 bytes below 1 MiB and to whole MiB above, bounding the slack.
#include <cuda_runtime.h>

#include <cstddef>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace ct::cuda {

class BlockPool {
 public:
  explicit BlockPool(cudaStream_t stream) : stream_(stream) {}

  /// The size class `bytes` is served from.
  static std::size_t rounded(std::size_t bytes);
  /// A block of rounded(bytes): a cached one, else from CUDA's stream-ordered allocator (after
  /// giving the cache back to CUDA and trying again, when that fails). Null when even that fails.
  void* take(std::size_t bytes);
  /// Keeps a block of `bytes` (as taken) for the next take of its size class.
  void give(void* address, std::size_t bytes);
  /// Bytes held in the cache, not in use.
  std::size_t cached_bytes();
  /// Returns every cached block to CUDA.
  void release();

 private:
  cudaStream_t stream_;
  std::mutex mutex_;
  std::unordered_map<std::size_t, std::vector<void*>> free_;
  std::size_t cached_ = 0;
};

}  // namespace ct::cuda
