// The CPU backend's memory: 64-byte aligned blocks, the large ones kept for reuse by size.
#include <array>
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

/// Freed blocks of at most 4 KiB are kept per thread, by size, for the next tensor of that
/// size: scalars and small tensors come and go with every op, and the allocator's aligned path
/// costs more than the op itself. Bounded (64 blocks per size); off under AddressSanitizer,
/// which must see every free.
class SmallBlockCache {
 public:
  static constexpr std::size_t kMaxBlock = 4096, kPerSize = 64;

  void* take(std::size_t bytes) {
    if (bytes > kMaxBlock) return nullptr;
    Blocks& list = lists_[bytes / kAlignment - 1];
    return list.count ? list.blocks[--list.count] : nullptr;
  }
  bool give(void* p, std::size_t bytes) {
    if (bytes > kMaxBlock) return false;
    Blocks& list = lists_[bytes / kAlignment - 1];
    if (list.count == kPerSize) return false;
    list.blocks[list.count++] = p;
    return true;
  }
  ~SmallBlockCache() {
    for (Blocks& list : lists_)
      for (std::size_t i = 0; i < list.count; ++i) std::free(list.blocks[i]);
  }

 private:
  struct Blocks {
    std::array<void*, kPerSize> blocks;
    std::size_t count = 0;
  };
  std::array<Blocks, kMaxBlock / kAlignment> lists_{};
};

#if defined(__SANITIZE_ADDRESS__)
SmallBlockCache* small_blocks() { return nullptr; }
#else
// A plain pointer (cheap to reach) owned by a thread-exit guard; after the guard has run, blocks
// go back to the system.
thread_local SmallBlockCache* small_cache = nullptr;
thread_local bool small_cache_gone = false;
struct SmallCacheGuard {
  ~SmallCacheGuard() {
    delete small_cache;
    small_cache = nullptr;
    small_cache_gone = true;
  }
};
thread_local SmallCacheGuard small_cache_guard;

SmallBlockCache* small_blocks() {
  if (!small_cache && !small_cache_gone) {
    (void)&small_cache_guard;  // registers the guard's destructor for this thread
    small_cache = new SmallBlockCache;
  }
  return small_cache;
}
#endif

class HostStorage final : public Storage {
 public:
  HostStorage(std::size_t nbytes, void* data) : Storage(Device::cpu(), nbytes), data_(data) {}
  ~HostStorage() override {
    std::size_t bytes = rounded(nbytes());
    if (SmallBlockCache* cache = small_blocks(); cache && cache->give(data_, bytes)) return;
    if (!pool().give(data_, bytes)) std::free(data_);
  }
  void* address() const override { return data_; }

 private:
  void* data_;
};
}  // namespace

std::shared_ptr<Storage> allocate_host(std::size_t nbytes) {
  std::size_t bytes = rounded(nbytes);
  SmallBlockCache* cache = small_blocks();
  void* data = cache ? cache->take(bytes) : nullptr;
  if (!data) data = pool().take(bytes);
  if (!data) data = std::aligned_alloc(kAlignment, bytes);
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
