#pragma once
// Choices specific to the eager CPU backend.

namespace ct::cpu {

/// Process-wide choices among the CPU's kernels. Set them before training; kernels already
/// planned for a shape keep their choice until the option changes.
struct KernelOptions {
  /// Winograd's F(4×4, 3×3) algorithm for float32 3×3 stride-1 convolutions whose channel counts
  /// are multiples of 16, where the CPU has it (oneDNN): the talk's second convolution trains
  /// about 1.5× faster. Its rounding errors are of the direct algorithm's size in our tests
  /// (1e-6 against 8e-7 relative, forward and both gradients). false: direct convolution only.
  bool winograd = true;
};
/// The process's KernelOptions, to change in place: cpu::kernel_options().winograd = false.
KernelOptions& kernel_options();

}  // namespace ct::cpu
