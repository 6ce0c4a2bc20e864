// A differentiated function that returns no float tensor: one clear error.
// expect: must return Tensor<float> or Tensor<double>
#include <cotangent/cotangent.hpp>

int main() {
  auto x = ct::zeros<float>({3});
  auto [value, grad] = ct::value_with_gradient(x, [](const ct::Tensor<float>& v) { return 1.0; });
}
