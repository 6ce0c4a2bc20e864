#include "cotangent/core/storage.hpp"

#include <cstdlib>
#include <new>

#include "cotangent/backend/backend.hpp"

namespace ct {

namespace {
constexpr std::size_t kAlignment = 64;  // a cache line, and the widest vector register
}

Storage::Storage(std::size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  std::size_t rounded = (std::max<std::size_t>(nbytes, 1) + kAlignment - 1) / kAlignment * kAlignment;
  data_ = std::aligned_alloc(kAlignment, rounded);
  if (!data_) throw std::bad_alloc();
}

Storage::~Storage() { std::free(data_); }

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
