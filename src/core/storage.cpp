#include "cotangent/core/storage.hpp"

#include <atomic>
#include <cstdlib>
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

MemoryStats memory_stats() { return {live_bytes.load(), peak_bytes.load()}; }
void reset_peak_memory() { peak_bytes.store(live_bytes.load()); }

Storage::Storage(std::size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  std::size_t rounded = (std::max<std::size_t>(nbytes, 1) + kAlignment - 1) / kAlignment * kAlignment;
  data_ = std::aligned_alloc(kAlignment, rounded);
  if (!data_) throw std::bad_alloc();
  count_allocation(std::int64_t(nbytes_));
}

Storage::~Storage() {
  std::free(data_);
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
  t.storage = std::make_shared<Storage>(bytes, device);
  t.shape = shape;
  t.strides = contiguous_strides(shape);
  t.dtype = dtype;
  t.device = device;
  return t;
}

}  // namespace ct
