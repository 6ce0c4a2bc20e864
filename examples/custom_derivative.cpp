// The talk's Swish lesson: the same function differentiated automatically and with a
// hand-written derivative. Both give the same gradient; the hand-written one keeps less for the
// backward pass.
#include <cotangent/cotangent.hpp>

#include <iostream>

using namespace ct;

/// Swish with its derivative written by hand: only s · (1 + x · (1 - s)) is kept.
Tensor<float> my_swish(const Tensor<float>& x) {
  return with_derivative(x, [](const Tensor<float>& x) {
    auto s = sigmoid(x);
    auto derivative = s * (x * (1.0f - s) + 1.0f);
    return std::pair{x * s, [derivative](const Tensor<float>& dy) { return dy * derivative; }};
  });
}

/// Swish as written first: x * sigmoid(x), differentiated automatically.
Tensor<float> naive_swish(const Tensor<float>& x) { return x * sigmoid(x); }

int main() {
  auto x = random_normal<float>({1024, 1024});
  // Eight layers of swish(2·x): what each variant keeps between the forward and backward pass.
  auto measure = [&](Tensor<float> (*swish)(const Tensor<float>&)) {
    auto network = [swish](const Tensor<float>& x) {
      Tensor<float> y = x;
      for (int i = 0; i < 8; ++i) y = swish(y * 2.0f);
      return sum(y);
    };
    auto before = memory_stats().live_bytes;
    auto [value, pullback] = value_with_pullback(x, network);
    auto held = memory_stats().live_bytes - before;
    return std::pair{pullback(Tensor<float>(1.0f)), held};
  };
  auto [automatic, automatic_bytes] = measure(naive_swish);
  auto [custom, custom_bytes] = measure(my_swish);
  std::cout << "same gradient: " << (all_close(automatic, custom, 1e-5, 1e-6) ? "yes" : "no")
            << "\n"
            << "bytes kept for the backward pass, automatic derivative:    " << automatic_bytes
            << "\n"
            << "bytes kept for the backward pass, hand-written derivative: " << custom_bytes
            << "\n";
}
