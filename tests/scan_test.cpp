// Cumulative sums and products: against sequential loops on every axis and variant, their
// gradients (first and second order, at zeros too), and integer scans.
#include "op_check.hpp"

using namespace ct;
using namespace ct::testing;

namespace {
/// The scan done one element at a time along `axis` of a [2, 5, 3] tensor.
std::vector<double> sequential(const std::vector<double>& x, int axis, bool exclusive, bool reverse,
                               bool product) {
  const std::int64_t dims[3] = {2, 5, 3};
  std::vector<double> out(x.size());
  auto at = [&](std::int64_t i, std::int64_t j, std::int64_t k) {
    return std::size_t((i * dims[1] + j) * dims[2] + k);
  };
  std::int64_t n = dims[axis];
  for (std::int64_t i = 0; i < (axis == 0 ? 1 : dims[0]); ++i)
    for (std::int64_t j = 0; j < (axis == 1 ? 1 : dims[1]); ++j)
      for (std::int64_t k = 0; k < (axis == 2 ? 1 : dims[2]); ++k) {
        double acc = product ? 1 : 0;
        for (std::int64_t s = 0; s < n; ++s) {
          std::int64_t t = reverse ? n - 1 - s : s;
          std::int64_t idx[3] = {i, j, k};
          idx[axis] = t;
          std::size_t p = at(idx[0], idx[1], idx[2]);
          if (!exclusive) acc = product ? acc * x[p] : acc + x[p];
          out[p] = acc;
          if (exclusive) acc = product ? acc * x[p] : acc + x[p];
        }
      }
  return out;
}
}  // namespace

TEST(Scan, CumulativeSumsAndProductsMatchSequentialLoops) {
  auto x = sample({2, 5, 3}, -1.5, 1.5);
  auto values = x.scalars();
  for (int axis = 0; axis < 3; ++axis)
    for (bool exclusive : {false, true})
      for (bool reverse : {false, true}) {
        SCOPED_TRACE(::testing::Message()
                     << "axis " << axis << " exclusive " << exclusive << " reverse " << reverse);
        auto sums = cumulative_sum(x, axis, exclusive, reverse).scalars();
        auto products = cumulative_product(x, axis, exclusive, reverse).scalars();
        auto want_sums = sequential(values, axis, exclusive, reverse, false);
        auto want_products = sequential(values, axis, exclusive, reverse, true);
        for (std::size_t i = 0; i < values.size(); ++i) {
          EXPECT_NEAR(sums[i], want_sums[i], 1e-12);
          EXPECT_NEAR(products[i], want_products[i], 1e-12);
        }
      }
  EXPECT_EQ(cumulative_sum(Tensor<std::int64_t>({1, 2, 3, 4}), -1).scalars(),
            (std::vector<std::int64_t>{1, 3, 6, 10}));
  EXPECT_EQ(cumulative_product(Tensor<std::int32_t>({1, 2, 3, 4}), 0, true).scalars(),
            (std::vector<std::int32_t>{1, 1, 2, 6}));
  expect_error<Error>([] { cumulative_sum(Tensor<double>(1.0)); }, {"scalar"});
  expect_error<Error>([&] { cumulative_sum(x, 3); }, {"cumulative_sum"});
}

TEST(Scan, GradientsAreFiniteAndRightEvenAtZeros) {
  auto x = sample({3, 7}, -1, 1);
  for (bool exclusive : {false, true})
    for (bool reverse : {false, true}) {
      auto f = [&](const Tensor<double>& v) {
        return cumulative_sum(v, 1, exclusive, reverse) * 2.0 +
               cumulative_product(v, 1, exclusive, reverse);
      };
      auto first = check_gradients(f, x);
      EXPECT_TRUE(first.ok) << first.message;
      auto second =
          check_second_order([&](const Tensor<double>& v) { return sum(f(v) * f(v)); }, x);
      EXPECT_TRUE(second.ok) << second.message;
    }
  // Zeros in the input: the product's gradient is still the product of the others.
  Tensor<double> z({2, 0, 3, 0, 5}, {5});
  auto g = gradient(z, [](const Tensor<double>& v) { return sum(cumulative_product(v)); });
  for (double d : g.scalars()) EXPECT_TRUE(std::isfinite(d));
  // d/dz1 of [2, 2z1, 6z1, 6z1z3, 30z1z3] at z1 = z3 = 0: 2 + 6 = 8.
  EXPECT_DOUBLE_EQ(g.scalars()[1], 8);
  auto at_zeros = check_gradients(
      [](const Tensor<double>& v) { return cumulative_product(v, 0, false, true); }, z);
  EXPECT_TRUE(at_zeros.ok) << at_zeros.message;
}
