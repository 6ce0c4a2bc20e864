#pragma once
// The CUDA C of every kernel the CUDA backend launches, generated from the same rows as the CPU's
// (elementwise.def's forward column, scalar_math.hpp, philox.hpp) and compiled by NVRTC. It is
// plain text, so it is built and checked on machines without a GPU.
#include <string>
#include <unordered_map>
#include <vector>

#include "cotangent/backend/backend.hpp"

namespace ct::cuda {

/// The element type's name in the generated source: f32, f64, i32, i64, b8.
const char* type_suffix(DType dtype);
/// The names of every generated kernel, in the order they are printed.
const std::vector<std::string>& kernel_names();

/// The kernels split into translation units of about equal size, each with the shared prelude,
/// so that NVRTC compiles them in parallel: the sources and which unit holds each kernel.
constexpr int kKernelUnits = 8;
struct KernelUnits {
  std::vector<std::string> sources;
  std::unordered_map<std::string, int> unit_of;
};
const KernelUnits& kernel_units();

/// Names of the kernels the backend looks up (all generated).
std::string unary_kernel(UnaryOp op, DType dtype);
std::string binary_kernel(BinaryOp op, DType dtype);
std::string compare_kernel(CompareOp op, DType dtype);
std::string reduce_kernel(ReduceOp op, DType dtype, bool per_block);
std::string cast_kernel(DType from, DType to);
/// Kernels named by family and element type: "fill", "iota", "select", "axpby", "bias_act",
/// "random_uniform", "random_normal", "pool_max", "pool_average", "pool_max_backward",
/// "pool_average_backward", "pool_max_select", "pad".
std::string typed_kernel(const char* family, DType dtype);
/// The strided copy of elements of `bytes` bytes (1, 4 or 8).
std::string copy_kernel(std::size_t bytes);
/// The batched matrix transpose of elements of `bytes` bytes.
std::string transpose_kernel(std::size_t bytes);

/// Whether an elementwise.def row of this domain takes `dtype`.
bool unary_takes(UnaryOp op, DType dtype);
bool binary_takes(BinaryOp op, DType dtype);
bool compare_takes(CompareOp op, DType dtype);

}  // namespace ct::cuda
