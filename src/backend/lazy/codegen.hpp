#pragma once
// Fusion and the C++ printer. Elementwise chains inline into their consumer; a node gets a
// buffer (is realized) when it is a graph output or parameter, an extern or an extern's operand,
// a reduction (at most one per kernel), read by several consumers or expanded to more elements
// than it has, or deep enough that inlining more would only bloat the kernel. Each realized
// generated node becomes one kernel `ct_k<N>` of a translation unit that includes no header:
// the scalar expressions come from the forward column of elementwise.def, as the CPU's do. A
// CUDA C printer for NVRTC would walk the same plan and the same rows.
#include <string>
#include <vector>

#include "program.hpp"

namespace ct::lazy {

struct FusionPlan {
  std::vector<bool> realized;           // per node: has a buffer
  std::vector<bool> generated;          // per node: its buffer is filled by a generated kernel
  std::vector<std::vector<int>> reads;  // per kernel root: the buffers its kernel reads
  std::int64_t kernel_count = 0;
  /// Every op node realized and run by the inner backend: the plan without a compiler.
  static FusionPlan unfused(const Graph& g);
};
FusionPlan plan_fusion(const Graph& g);

std::string kernel_name(int node);
/// The translation unit of every kernel of `plan`.
std::string render_cpp(const Graph& g, const FusionPlan& plan);

}  // namespace ct::lazy
