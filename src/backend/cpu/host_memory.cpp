// The CPU backend's memory: 64-byte aligned blocks, the large ones kept for reuse by size.
#include <cmath>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "cpu_backend.hpp"

namespace ct::cpu {

namespace {
constexpr std::size_t kAlignment = 64;  // a cache line, and the widest vector register

/// Freed blocks of 64 KiB and more are kept for reuse, by size: training allocates the same
/// shapes every step, and returning them to the system makes each step fault the pages in again
/// (what slows LibTorch's out-of-the-box runs). The pool is bounded; beyond it blocks are freed.
class BlockPool {
 public:
  static constexpr std::size_t kMinBlock = 64 << 10;
  static constexpr std::size_t kMaxCached = std::size_t(1) << 30;

  void* take(std::size_t bytes) {
    if (bytes < kMinBlock) return nullptr;
    std::lock_guard lock(mutex_);
    auto it = free_.find(bytes);
    if (it == free_.end() || it->second.empty()) return nullptr;
    void* p = it->second.back();
    it->second.pop_back();
    cached_ -= bytes;
    return p;
  }
  bool give(void* p, std::size_t bytes) {
    if (bytes < kMinBlock) return false;
    std::lock_guard lock(mutex_);
    if (cached_ + bytes > kMaxCached) return false;
    free_[bytes].push_back(p);
    cached_ += bytes;
    return true;
  }
  ~BlockPool() {
    for (auto& [bytes, blocks] : free_)
      for (void* p : blocks) std::free(p);
  }

 private:
  std::mutex mutex_;
  std::unordered_map<std::size_t, std::vector<void*>> free_;
  std::size_t cached_ = 0;
};

BlockPool& pool() {
  static BlockPool* instance = new BlockPool;  // never destroyed: storages may outlive statics
  return *instance;
}

std::size_t rounded(std::size_t nbytes) {
  return (std::max<std::size_t>(nbytes, 1) + kAlignment - 1) / kAlignment * kAlignment;
}

class HostStorage final : public Storage {
 public:
  HostStorage(std::size_t nbytes, void* data) : Storage(Device::cpu(), nbytes), data_(data) {}
  ~HostStorage() override {
    if (!pool().give(data_, rounded(nbytes()))) std::free(data_);
  }
  void* address() const override { return data_; }

 private:
  void* data_;
};
}  // namespace

std::shared_ptr<Storage> allocate_host(std::size_t nbytes) {
  void* data = pool().take(rounded(nbytes));
  if (!data) data = std::aligned_alloc(kAlignment, rounded(nbytes));
  try {
    if (!data) throw std::bad_alloc();
    return std::make_shared<HostStorage>(nbytes, data);
  } catch (const std::bad_alloc&) {
    std::free(data);
    throw MemoryError(detail::format("out of memory: a tensor needs {} bytes ({} GiB)", nbytes,
                                     std::round(double(nbytes) / double(1ull << 30) * 10) / 10));
  }
}

RawTensor empty(const Shape& shape, DType dtype) {
  return backend_for(Device::cpu()).empty(shape, dtype);
}

}  // namespace ct::cpu
