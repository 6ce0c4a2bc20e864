#pragma once
// Storage (bytes owned by the backend that allocated them) and RawTensor (an untyped strided
// view of one): the single representation that backends see, whatever the scalar type.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "cotangent/core/device.hpp"
#include "cotangent/core/dtype.hpp"
#include "cotangent/core/shape.hpp"

namespace ct {

/// Bytes on one device. Each backend subclasses it; the destructor gives the memory back to the
/// allocator that made it (a pool, a stream-ordered allocator, or nothing yet for a lazy value).
class Storage {
 public:
  /// Whether the bytes count in memory_stats: not for a lazy tensor, whose bytes are counted
  /// where its computed buffer lives.
  enum class Counted : bool { no, yes };
  Storage(Device device, std::size_t nbytes, Counted counted = Counted::yes);
  virtual ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  Device device() const { return device_; }
  std::size_t nbytes() const { return nbytes_; }
  /// Where the bytes are, for the owning backend's kernels only: a device address that host code
  /// must not dereference, or null while the value is not computed yet.
  virtual void* address() const = 0;

 private:
  Device device_;
  std::size_t nbytes_;
  Counted counted_;
};

/// Bytes of tensor storage on a device alive now and at most since the last reset (all threads).
struct MemoryStats {
  std::int64_t live_bytes = 0;
  std::int64_t peak_bytes = 0;
};
/// The live and peak tensor bytes of `device` now: memory_stats(Device::cuda()).peak_bytes.
MemoryStats memory_stats(Device device = Device::cpu());
/// Starts a new peak measurement from the current live bytes of `device`.
void reset_peak_memory(Device device = Device::cpu());

/// An untyped strided view: shape, strides and offset in elements over a Storage.
struct RawTensor {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;
  std::int64_t offset = 0;
  DType dtype = DType::float32;
  Device device;

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
  /// Whether this view is the whole of a storage nothing else refers to: a backend may then
  /// write its result into it (in-place updates keep value semantics).
  bool owns_whole_storage() const {
    return storage.use_count() == 1 && is_contiguous() && offset == 0 &&
           count() * std::int64_t(dtype_size(dtype)) == std::int64_t(storage->nbytes());
  }
  // Kernels only (the owning backend's): the first element's address.
  void* data() const {
    return static_cast<char*>(storage->address()) + offset * std::int64_t(dtype_size(dtype));
  }
  template <class T>
  T* data_as() const {
    return static_cast<T*>(data());
  }
};

/// A contiguous view over `storage` (the geometry of a freshly allocated tensor).
RawTensor contiguous_view(std::shared_ptr<Storage> storage, const Shape& shape, DType dtype);
/// The bytes a contiguous tensor of `shape` and `dtype` takes; ValueError when that overflows.
std::size_t storage_bytes(const Shape& shape, DType dtype);

}  // namespace ct
