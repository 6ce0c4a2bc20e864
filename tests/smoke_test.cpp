#include <gtest/gtest.h>
#include <cotangent/cotangent.hpp>
using namespace ct;
struct Model {
  Tensor<double> w = Tensor<double>({1, 2, 3, 4}, {2, 2});
  Tensor<double> b = Tensor<double>{0.5, -0.5};
  CT_FIELDS(w, b)
};
TEST(Smoke, Add) {
  Tensor<float> a{1, 2, 3};
  auto b = a + a * 2.0f;
  EXPECT_EQ(b.scalars(), (std::vector<float>{3, 6, 9}));
  auto g = gradient(3.0, [](const Tensor<double>& x) { return x * x * x; });
  EXPECT_DOUBLE_EQ(g, 27.0);
  auto g2 = gradient(2.0, [](const Tensor<double>& x) { return Tensor<double>(gradient(x, [](const Tensor<double>& y) { return y * y * y; })); });
  std::cout << g2 << "\n";
  Model m;
  auto [loss, grad] = value_with_gradient(m, [](const Model& m) { return sum(relu(matmul(m.w, m.w) + m.b)); });
  std::cout << loss << grad.w << grad.b << "\n";
}
