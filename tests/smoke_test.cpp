#include <gtest/gtest.h>
#include <cotangent/cotangent.hpp>
using namespace ct;
TEST(Smoke, Add) {
  Tensor<float> a{1, 2, 3};
  auto b = a + a * 2.0f;
  EXPECT_EQ(b.scalars(), (std::vector<float>{3, 6, 9}));
  std::cout << reshape(arange<float>(0, 6), {2, 3}) << "\n";
}
