#include "cotangent/core/storage.hpp"

#include <atomic>
#include <mutex>
#include <unordered_map>
#include <vector>
#include <cstdlib>
#include <cmath>
#include <new>

#include "cotangent/backend/backend.hpp"

namespace ct {

namespace {
constexpr std::size_t kAlignment = 64;  // a cache line, and the widest vector register
std::atomic<std::int64_t> live_bytes{0}, peak_bytes{0};

void count_allocation(std::int64_t bytes) {
  std::int64_t now = live_bytes.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  std::int64_t peak = peak_bytes.load(std::memory_order_relaxed);
  while (now > peak && !peak_bytes.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}
}  // namespace

namespace {
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

}  // namespace

MemoryStats memory_stats() { return {live_bytes.load(), peak_bytes.load()}; }
void reset_peak_memory() { peak_bytes.store(live_bytes.load()); }

Storage::Storage(std::size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  data_ = pool().take(rounded(nbytes));
  if (!data_) data_ = std::aligned_alloc(kAlignment, rounded(nbytes));
  if (!data_) throw std::bad_alloc();
  count_allocation(std::int64_t(nbytes_));
}

Storage::~Storage() {
  if (!pool().give(data_, rounded(nbytes_))) std::free(data_);
  live_bytes.fetch_sub(std::int64_t(nbytes_), std::memory_order_relaxed);
}

RawTensor RawTensor::empty(const Shape& shape, DType dtype, Device device) {
  std::int64_t count = shape.count();
  std::size_t bytes;
  CT_CHECK_AS(ValueError, !__builtin_mul_overflow(std::size_t(count), dtype_size(dtype), &bytes),
              "tensor of shape {} and dtype {} is too large", shape, dtype);
  CT_CHECK_AS(DeviceError, device.kind == Device::Kind::cpu && device.mode == Device::Mode::eager,
              "no storage allocator for device {}", device);
  RawTensor t;
  try {
    t.storage = std::make_shared<Storage>(bytes, device);
  } catch (const std::bad_alloc&) {
    throw MemoryError(detail::format(
        "out of memory: a tensor of shape {} and dtype {} needs {} bytes ({} GiB)", shape, dtype,
        bytes, std::round(double(bytes) / double(1ull << 30) * 10) / 10));
  }
  t.shape = shape;
  t.strides = contiguous_strides(shape);
  t.dtype = dtype;
  t.device = device;
  return t;
}

}  // namespace ct
