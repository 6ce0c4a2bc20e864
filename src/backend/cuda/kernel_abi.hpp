#pragma once
// Structures passed by value to the generated kernels: the host's layout must match the one
// generated source declares (sizes checked by static_asserts here and in that source).
#include <cstdint>

#include "cotangent/core/shape.hpp"

namespace ct::cuda {

/// Where up to three operands' elements are for flat index i of an output of `shape`.
struct KernelStrides {
  std::int32_t rank = 0;
  std::int64_t shape[Shape::kMaxRank] = {};
  std::int64_t stride[3][Shape::kMaxRank] = {};
};
static_assert(sizeof(KernelStrides) == 8 + 8 * 8 + 3 * 8 * 8);

/// How each operand is indexed, two bits per operand: by its strides, as the output (flat), or
/// always its first element (a broadcast scalar).
enum class Access : int { strided = 0, flat = 1, scalar = 2 };
constexpr int access_flags(Access a0, Access a1 = Access::flat, Access a2 = Access::flat) {
  return int(a0) | int(a1) << 2 | int(a2) << 4;
}

/// A pooling window over NHWC images.
struct KernelPool {
  std::int64_t n, h, w, c, oh, ow, kh, kw, sh, sw, pt, pl;
};

/// A padding: output and input shapes, the leading pad per dimension, the input's strides.
struct KernelPad {
  std::int32_t rank = 0;
  std::int32_t mode = 0;  // PadMode
  std::int64_t out_shape[Shape::kMaxRank] = {};
  std::int64_t in_shape[Shape::kMaxRank] = {};
  std::int64_t before[Shape::kMaxRank] = {};
  std::int64_t in_stride[Shape::kMaxRank] = {};
};

}  // namespace ct::cuda
