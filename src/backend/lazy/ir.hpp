#pragma once
// The lazy device's trace: one immutable node per backend call, its op from the shared Op table
// and its shape computed when it is made (so a shape error surfaces at the user's line). A node
// reads its operands through strided views, exactly as the eager kernels would have.
#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "cotangent/backend/backend.hpp"

namespace ct::lazy {

struct Node;
using NodePtr = std::shared_ptr<const Node>;

/// An operand: a strided view (in elements, of `dtype`) of another node's contiguous result.
struct View {
  NodePtr node;
  DType dtype = DType::float32;
  Shape shape, strides;
  std::int64_t offset = 0;
};

/// A node is data (a computed buffer: a parameter of the graph) or an op on its operands.
struct Node {
  bool is_data = false;
  Op op = Op::fill;
  DType dtype = DType::float32;
  Shape shape;  // of the contiguous result
  std::vector<View> operands;
  /// The op's attributes, hashed with the graph: the sub-op (UnaryOp, ReduceOp, PoolKind…),
  /// axes, flags, pads and shapes as integers, and for convolution and pooling the window.
  std::uint8_t sub = 0;
  std::vector<std::int64_t> ints;
  Window2D window;
  /// Values the program reads at run time, never hashed: a learning rate change must not
  /// recompile. A value is two ints, {1, v} when baked in (only 0 and ±1 are, as in X10, so
  /// they can fold away) or {0, k} for runtime[k].
  std::array<double, 2> runtime{};
  int runtime_count = 0;
  /// For update and matmul_update: the operand whose buffer the result may take over (X10's
  /// input/output aliasing), because the caller handed over the only reference to it.
  const Node* donor = nullptr;
  /// For data: the computed buffer, in the inner (eager) backend's memory. A barrier may take
  /// it over (see donor) once no tensor refers to the node any more.
  mutable std::shared_ptr<Storage> data;

  std::int64_t count() const { return shape.count(); }
};

/// The value encoded at n.ints[at], n.ints[at + 1] (see Node::runtime); `s` holds the node's
/// runtime values.
inline double value_at(const Node& n, std::size_t at, const double* s) {
  return n.ints[at] ? double(n.ints[at + 1]) : s[n.ints[at + 1]];
}
/// Runtime values per node in a program's scalar array.
constexpr int kRuntimeValues = 2;

/// The view through which `x` (a contiguous tensor of `node`) is read.
inline View whole(NodePtr node) {
  View v{node, node->dtype, node->shape, contiguous_strides(node->shape), 0};
  return v;
}

}  // namespace ct::lazy
