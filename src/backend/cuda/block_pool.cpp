#include "block_pool.hpp"

namespace ct::cuda {

std::size_t BlockPool::rounded(std::size_t bytes) {
  constexpr std::size_t kSmall = 512, kLarge = std::size_t(1) << 20;
  std::size_t unit = bytes < kLarge ? kSmall : kLarge;
  return (bytes + unit - 1) / unit * unit;
}

void* BlockPool::take(std::size_t bytes) {
  std::size_t size = rounded(bytes);
  {
    std::lock_guard lock(mutex_);
    auto it = free_.find(size);
    if (it != free_.end() && !it->second.empty()) {
      void* address = it->second.back();
      it->second.pop_back();
      cached_ -= size;
      return address;
    }
  }
  void* address = nullptr;
  if (cudaMallocAsync(&address, size, stream_) == cudaSuccess) return address;
  cudaGetLastError();
  release();  // blocks of other sizes may make room
  if (cudaMallocAsync(&address, size, stream_) == cudaSuccess) return address;
  cudaGetLastError();
  return nullptr;
}

void BlockPool::give(void* address, std::size_t bytes) {
  std::size_t size = rounded(bytes);
  std::lock_guard lock(mutex_);
  free_[size].push_back(address);
  cached_ += size;
}

std::size_t BlockPool::cached_bytes() {
  std::lock_guard lock(mutex_);
  return cached_;
}

void BlockPool::release() {
  std::lock_guard lock(mutex_);
  for (auto& [size, blocks] : free_)
    for (void* address : blocks) cudaFreeAsync(address, stream_);
  free_.clear();
  cached_ = 0;
  // CUDA's own pool keeps freed memory too (its release threshold is unbounded): trim it.
  cudaMemPool_t pool;
  int device = 0;
  if (cudaGetDevice(&device) == cudaSuccess &&
      cudaDeviceGetDefaultMemPool(&pool, device) == cudaSuccess) {
    cudaStreamSynchronize(stream_);
    cudaMemPoolTrimTo(pool, 0);
  }
}

}  // namespace ct::cuda
