#include <cotangent/cotangent.hpp>

#include <iostream>

int main() {
  double g = ct::gradient(2.0, [](const ct::Tensor<double>& x) { return x * x * x; });
  std::cout << "gradient " << g << "\n";
}
