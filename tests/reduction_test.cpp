#include "op_check.hpp"

using namespace ct;
using namespace ct::testing;

TEST(Reduction, Values) {
  Tensor<double> x({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(sum(x).scalar(), 21);
  EXPECT_EQ(sum(x, {0}).scalars(), (std::vector<double>{5, 7, 9}));
  EXPECT_EQ(sum(x, {1}, true).shape(), (Shape{2, 1}));
  EXPECT_EQ(mean(x, {1}).scalars(), (std::vector<double>{2, 5}));
  EXPECT_EQ(product(x, {1}).scalars(), (std::vector<double>{6, 120}));
  EXPECT_EQ(max(x, {0}).scalars(), (std::vector<double>{4, 5, 6}));
  EXPECT_EQ(min(x).scalar(), 1);
  EXPECT_EQ(argmax(x, 1).scalars(), (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(argmin(x, 0).scalars(), (std::vector<std::int64_t>{0, 0, 0}));
  EXPECT_NEAR(variance(x).scalar(), 35.0 / 12, 1e-12);
  EXPECT_NEAR(standard_deviation(x, {1}).scalars()[0], std::sqrt(2.0 / 3), 1e-12);
  EXPECT_NEAR(log_sum_exp(x, {1}).scalars()[1], std::log(std::exp(4) + std::exp(5) + std::exp(6)),
              1e-12);
  Tensor<bool> b({true, false, true, true}, {2, 2});
  EXPECT_EQ(any(b, {1}).scalars(), (std::vector<bool>{true, true}));
  EXPECT_EQ(all(b, {1}).scalars(), (std::vector<bool>{false, true}));
  EXPECT_EQ(sum(Tensor<std::int32_t>({1, 2, 3, 4}, {2, 2}), {0}).scalars(),
            (std::vector<std::int32_t>{4, 6}));
}

TEST(Reduction, NonAdjacentAxesEmptyAndLarge) {
  auto x = sample({2, 3, 4}, -1, 1);
  auto v = x.scalars();
  auto s = sum(x, {0, 2}).scalars();
  for (int j = 0; j < 3; ++j) {
    double ref = 0;
    for (int i = 0; i < 2; ++i)
      for (int k = 0; k < 4; ++k) ref += v[(i * 3 + j) * 4 + k];
    EXPECT_NEAR(s[j], ref, 1e-12);
  }
  EXPECT_EQ(sum(zeros<double>({0, 3}), {0}).scalars(), (std::vector<double>{0, 0, 0}));
  EXPECT_EQ(sum(zeros<double>({0, 3})).scalar(), 0);
  auto big = ones<float>({1 << 20});
  EXPECT_EQ(sum(big).scalar(), float(1 << 20));
  EXPECT_EQ(max(transpose(sample({200, 300}, 0, 1)), {0}).shape(), (Shape{200}));
  EXPECT_NEAR(log_sum_exp(Tensor<double>{1000, 1000}).scalar(), 1000 + std::log(2),
              1e-9);  // no overflow
}

TEST(Reduction, Gradients) {
  std::vector<std::pair<std::string, std::function<Tensor<double>(const Tensor<double>&)>>> cases =
      {
          {"sum all", [](auto& x) { return sum(x); }},
          {"sum axis", [](auto& x) { return sum(x, {1}); }},
          {"sum axes keep",
           [](auto& x) {
             return sum(x, {0, 2}, true);
           }},
          {"mean", [](auto& x) { return mean(x, {0}); }},
          {"product", [](auto& x) { return product(x, {2}); }},
          {"max", [](auto& x) { return max(x, {1}); }},
          {"min", [](auto& x) { return min(x); }},
          {"variance", [](auto& x) { return variance(x, {2}); }},
          {"standard_deviation",
           [](auto& x) {
             return standard_deviation(x, {1, 2});
           }},
          {"log_sum_exp", [](auto& x) { return log_sum_exp(x, {2}); }},
      };
  for (auto& [name, f] : cases) {
    SCOPED_TRACE(name);
    auto x = sample({2, 3, 4}, 0.5, 2);
    auto first = check_gradients(f, x);
    EXPECT_TRUE(first.ok) << first.message;
    auto second = check_second_order([&](const Tensor<double>& x) { return sum(f(x)); }, x);
    EXPECT_TRUE(second.ok) << second.message;
  }
}

TEST(Reduction, MaxTiesShareGradient) {
  auto g = gradient(Tensor<double>{1, 3, 3}, [](const Tensor<double>& x) { return max(x); });
  EXPECT_EQ(g.scalars(), (std::vector<double>{0, 0.5, 0.5}));
}

TEST(Reduction, Errors) {
  auto x = zeros<float>({2, 3});
  expect_error<IndexError>([&] { (void)sum(x, {2}); }, {"sum", "axis 2", "rank 2"});
  expect_error<IndexError>([&] { (void)sum(x, {1, -1}); }, {"sum", "repeats"});
  expect_error<ShapeError>([&] { (void)max(zeros<float>({0, 3}), {0}); }, {"max", "empty"});
  expect_error<IndexError>([&] { (void)argmax(x, -3); }, {"argmax", "axis -3"});
}
