#pragma once
// float32 convolutions on oneDNN primitives over NHWC data and HWIO filters, created once per
// shape and cached per thread.
#include "cotangent/backend/backend.hpp"

namespace ct::cpu::onednn {

/// Whether oneDNN takes this geometry (it needs the right padding to be non-negative).
bool supports(const Shape& input, const Shape& filter, const Window2D& w);

void conv_forward(const float* x, const float* f, float* y, const Shape& input, const Shape& filter, const Window2D& w);
void conv_backward_input(const float* dy, const float* f, float* dx, const Shape& input, const Shape& filter, const Window2D& w);
void conv_backward_filter(const float* x, const float* dy, float* df, const Shape& input, const Shape& filter, const Window2D& w);

}  // namespace ct::cpu::onednn
