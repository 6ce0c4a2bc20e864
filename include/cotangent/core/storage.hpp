#pragma once
// Storage (a device buffer) and RawTensor (an untyped strided view of one): the single
// representation that backends see, whatever the scalar type.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "cotangent/core/device.hpp"
#include "cotangent/core/dtype.hpp"
#include "cotangent/core/shape.hpp"

namespace ct {

/// A block of device memory. Freed (or returned to the buffer pool) when the last view goes.
class Storage {
 public:
  Storage(std::size_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  std::size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  std::size_t nbytes_ = 0;
  Device device_;
};

/// Bytes of tensor storage alive now and at most since the last reset (all devices, all threads).
struct MemoryStats {
  std::int64_t live_bytes = 0;
  std::int64_t peak_bytes = 0;
};
MemoryStats memory_stats();
/// Starts a new peak measurement from the current live bytes.
void reset_peak_memory();

/// An untyped strided view: shape, strides and offset in elements over a Storage.
struct RawTensor {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;
  std::int64_t offset = 0;
  DType dtype = DType::float32;
  Device device;

  /// A fresh contiguous tensor with uninitialized contents.
  static RawTensor empty(const Shape& shape, DType dtype, Device device = Device::cpu());

  bool defined() const { return storage != nullptr; }
  int rank() const { return shape.rank(); }
  std::int64_t count() const { return shape.count(); }
  bool is_contiguous() const {
    std::int64_t expected = 1;
    for (int i = shape.rank() - 1; i >= 0; --i) {
      if (shape[i] != 1 && strides[i] != expected) return false;
      expected *= shape[i];
    }
    return true;
  }
  void* data() const {
    return static_cast<char*>(storage->data()) + offset * std::int64_t(dtype_size(dtype));
  }
  template <class T>
  T* data_as() const {
    return static_cast<T*>(data());
  }
};

}  // namespace ct
