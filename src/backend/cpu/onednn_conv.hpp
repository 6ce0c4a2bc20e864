#pragma once
// float32 convolution through oneDNN's primitives (JIT kernels for the CPU's widest vector ISA).
// Direct convolution runs on our NHWC activations, with only the small filter reordered into the
// layout the primitive prefers; Winograd (kernel_options().winograd) runs in oneDNN's blocked
// layout, each activation reordered once per pass. Primitives are created once per geometry and
// thread, then reused.
#include "cotangent/backend/backend.hpp"

namespace ct::cpu::onednn {

/// Each returns false, leaving its output untouched, when oneDNN has no implementation for the
/// geometry; the caller then uses its own kernels. Tensors are dense float32: x and out NHWC,
/// filters HWIO, `bias` (optional) [O].
bool conv_forward(const RawTensor& x, const RawTensor& filter, RawTensor& out, const Window2D& w,
                  const RawTensor* bias, bool relu);
bool conv_backward_input(const RawTensor& dy, const RawTensor& filter, RawTensor& dx,
                         const Window2D& w);
bool conv_backward_filter(const RawTensor& x, const RawTensor& dy, RawTensor& df,
                          const Window2D& w);

}  // namespace ct::cpu::onednn
