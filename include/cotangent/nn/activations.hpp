#pragma once
// Activations that carry a hand-written derivative because it saves memory (the talk's Swish).
#include "cotangent/autodiff/gradient.hpp"

namespace ct {

/// x · sigmoid(x). The derivative s · (1 + x · (1 - s)) is computed in the forward pass, so the
/// backward pass keeps that one tensor, where the automatic derivative keeps both x and
/// sigmoid(x) (S4TF's swish does the same).
template <FloatingPoint T>
Tensor<T> swish(const Tensor<T>& x) {
  return with_derivative(x, [](const Tensor<T>& x) {
    auto s = sigmoid(x);
    auto derivative = s * (x * (T(1) - s) + T(1));
    return std::pair{x * s, [derivative](const Tensor<T>& dy) { return dy * derivative; }};
  });
}

/// The same function differentiated automatically: the comparison point for swish.
template <FloatingPoint T>
Tensor<T> swish_automatic(const Tensor<T>& x) {
  return x * sigmoid(x);
}

}  // namespace ct
