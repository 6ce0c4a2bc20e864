#include "cotangent/core/storage.hpp"

#include <array>
#include <atomic>

#include "cotangent/core/error.hpp"

namespace ct {

namespace {
// Per device kind and ordinal (a lazy device's bytes are its eager device's).
constexpr int kOrdinals = Device::kMaxOrdinals;
struct Counters {
  std::atomic<std::int64_t> live{0}, peak{0};
};
std::array<Counters, Device::kKinds * kOrdinals> counters;

Counters& counters_of(Device device) {
  int ordinal = device.ordinal >= 0 && device.ordinal < kOrdinals ? device.ordinal : 0;
  return counters[std::size_t(int(device.kind) * kOrdinals + ordinal)];
}
}  // namespace

Storage::Storage(Device device, std::size_t nbytes, Counted counted)
    : device_(device), nbytes_(nbytes), counted_(counted) {
  if (counted == Counted::no) return;
  Counters& c = counters_of(device);
  auto now =
      c.live.fetch_add(std::int64_t(nbytes), std::memory_order_relaxed) + std::int64_t(nbytes);
  auto peak = c.peak.load(std::memory_order_relaxed);
  while (now > peak && !c.peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}

Storage::~Storage() {
  if (counted_ == Counted::no) return;
  counters_of(device_).live.fetch_sub(std::int64_t(nbytes_), std::memory_order_relaxed);
}

MemoryStats memory_stats(Device device) {
  Counters& c = counters_of(device);
  return {c.live.load(), c.peak.load()};
}

void reset_peak_memory(Device device) {
  Counters& c = counters_of(device);
  c.peak.store(c.live.load());
}

std::size_t storage_bytes(const Shape& shape, DType dtype) {
  std::size_t bytes;
  CT_CHECK_AS(ValueError,
              !__builtin_mul_overflow(std::size_t(shape.count()), dtype_size(dtype), &bytes),
              "tensor of shape {} and dtype {} is too large", shape, dtype);
  return bytes;
}

RawTensor contiguous_view(std::shared_ptr<Storage> storage, const Shape& shape, DType dtype) {
  RawTensor t;
  t.device = storage->device();
  t.storage = std::move(storage);
  t.shape = shape;
  t.strides = contiguous_strides(shape);
  t.dtype = dtype;
  return t;
}

}  // namespace ct
