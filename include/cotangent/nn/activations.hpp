#pragma once
// Activations that carry a hand-written derivative because it saves memory (the talk's Swish).
#include "cotangent/autodiff/gradient.hpp"

namespace ct {

/// x · sigmoid(x). The backward pass keeps only sigmoid(x) and the result, not the chain of
/// intermediates the automatic derivative of x * sigmoid(x) would hold.
template <FloatingPoint T>
Tensor<T> swish(const Tensor<T>& x) {
  return with_derivative(x, [](const Tensor<T>& x) {
    auto s = sigmoid(x);
    auto y = x * s;
    return std::pair{y, [s, y](const Tensor<T>& dy) { return dy * (s + y * (T(1) - s)); }};
  });
}

/// The same function differentiated automatically: the comparison point for swish.
template <FloatingPoint T>
Tensor<T> swish_automatic(const Tensor<T>& x) {
  return x * sigmoid(x);
}

}  // namespace ct
