// Results checked against the definitions (S4TF's and TensorFlow's), where an independent
// conformance check found the library wrong: each test here failed before its fix.
#include <cmath>

#include "op_check.hpp"

using namespace ct;
using namespace ct::testing;

TEST(Conformance, ProductGradientIsTheProductOfTheOthersEvenWithZeros) {
  auto grad_of = [](std::vector<double> values) {
    return gradient(Tensor<double>(values, {std::int64_t(values.size())}),
                    [](const Tensor<double>& x) { return product(x); })
        .scalars();
  };
  EXPECT_EQ(grad_of({2, 3, 4}), (std::vector<double>{12, 8, 6}));
  EXPECT_EQ(grad_of({2, 0, 4}), (std::vector<double>{0, 8, 0}));  // one zero
  EXPECT_EQ(grad_of({0, 3, 0}), (std::vector<double>{0, 0, 0}));  // several zeros
  EXPECT_EQ(grad_of({0}), (std::vector<double>{1}));

  // Along an axis, each row on its own: [[0, 2], [3, 4], [0, 0]] reduced over axis 1.
  Tensor<double> x({0, 2, 3, 4, 0, 0}, {3, 2});
  auto g = gradient(x, [](const Tensor<double>& x) {
    return sum(product(x, {1}) * Tensor<double>{1, 10, 100});
  });
  EXPECT_EQ(g.scalars(), (std::vector<double>{2, 0, 40, 30, 0, 0}));

  // Second order at zeros too: one zero, two zeros, three (finite differences are exact enough
  // here, the product being linear in each element).
  for (auto values : {std::vector<double>{0, 2, 3, 0.5}, std::vector<double>{0, 2, 0, 0.5},
                      std::vector<double>{0, 0, 0, 1.5}}) {
    auto at_zeros = check_second_order([](const Tensor<double>& x) { return product(x); },
                                       Tensor<double>(values, {4}));
    EXPECT_TRUE(at_zeros.ok) << at_zeros.message;
  }
  auto rows = check_second_order(
      [](const Tensor<double>& x) {
        return sum(product(x, {1}) * Tensor<double>{1, 10});
      },
      Tensor<double>({0, 2, 3, 0, 0, 5}, {2, 3}));
  EXPECT_TRUE(rows.ok) << rows.message;

  // Away from zeros, first and second order against finite differences.
  auto check = check_gradients([](const Tensor<double>& x) { return product(x, {0}); },
                               sample({4, 3}, 0.5, 2, 3));
  EXPECT_TRUE(check.ok) << check.message;
  auto second = check_second_order([](const Tensor<double>& x) { return product(x); },
                                   sample({4}, 0.5, 2, 4));
  EXPECT_TRUE(second.ok) << second.message;
}

TEST(Conformance, SigmoidCrossEntropyGradientIsSigmoidMinusLabelEverywhere) {
  Tensor<double> logits{0.0, 0.0, 3.0, -2.0}, labels{0.0, 1.0, 0.25, 1.0};
  auto g =
      gradient(logits, [&](const Tensor<double>& z) { return sigmoid_cross_entropy(z, labels); });
  auto z = logits.scalars(), y = labels.scalars(), got = g.scalars();
  for (std::size_t i = 0; i < z.size(); ++i)
    EXPECT_NEAR(got[i], (1 / (1 + std::exp(-z[i])) - y[i]) / 4, 1e-15) << "at logit " << z[i];
  // The value is unchanged: max(z, 0) - z·y + log(1 + exp(-|z|)).
  EXPECT_NEAR(sigmoid_cross_entropy(Tensor<double>{0.0}, Tensor<double>{1.0}).scalar(),
              std::log(2.0), 1e-15);
  // Labels are differentiable too (d/dy = -z), and the second order holds.
  auto gl = gradient(labels, [&](const Tensor<double>& y) {
    return sigmoid_cross_entropy(logits, y, Reduction::sum);
  });
  EXPECT_EQ(gl.scalars(), (std::vector<double>{-0.0, -0.0, -3.0, 2.0}));
  auto second = check_second_order(
      [&](const Tensor<double>& z) { return sigmoid_cross_entropy(z, labels); }, logits + 0.3);
  EXPECT_TRUE(second.ok) << second.message;
}

TEST(Conformance, TruncatedNormalInitializersHaveTheIntendedVariance) {
  Generator gen(7);
  auto variance_of = [](const Tensor<float>& w) { return double(variance(w).scalar()); };
  // glorot_normal: 2 / (fan_in + fan_out); he_normal: 2 / fan_in.
  auto g = glorot_normal<float>({300, 500}, gen);
  EXPECT_NEAR(variance_of(g), 2.0 / 800, 0.02 * 2.0 / 800);
  auto h = he_normal<float>({3, 3, 16, 64}, gen);  // fan_in 144
  EXPECT_NEAR(variance_of(h), 2.0 / 144, 0.03 * 2.0 / 144);
  auto l = lecun_normal<float>({3, 3, 16, 64}, gen);  // variance 1 / fan_in
  EXPECT_NEAR(variance_of(l), 1.0 / 144, 0.03 * 1.0 / 144);
  auto u = lecun_uniform<float>({400, 300}, gen);  // U(±sqrt(3 / 400)): variance 1 / 400
  EXPECT_NEAR(variance_of(u), 1.0 / 400, 0.02 * 1.0 / 400);
  EXPECT_LE(double(max(abs(u)).scalar()), std::sqrt(3.0 / 400) * (1 + 1e-6));
  // Still truncated at two of the drawn standard deviations.
  double limit = 2 * std::sqrt(2.0 / 800) / 0.87962566103423978;
  EXPECT_LE(double(max(abs(g)).scalar()), limit * (1 + 1e-6));
}

TEST(Conformance, OptimizerHyperparametersKeepFloat64Precision) {
  Tensor<double> w{1.0, 2.0}, g{0.3, 0.7};
  SGD<Tensor<double>> sgd(w, {.learning_rate = 0.1});
  sgd.update(w, g);
  EXPECT_EQ(w.scalars(), (std::vector<double>{1.0 - 0.1 * 0.3, 2.0 - 0.1 * 0.7}));

  Tensor<double> v{1.0};
  Adam<Tensor<double>> adam(v,
                            {.learning_rate = 0.1, .beta1 = 0.9, .beta2 = 0.999, .epsilon = 1e-8});
  adam.update(v, Tensor<double>{0.5});
  // First step: m = 0.05, v = 0.00025, step size 0.1·sqrt(0.001)/0.1.
  double step = 0.1 * std::sqrt(1 - 0.999) / (1 - 0.9);
  EXPECT_NEAR(v.scalar(), 1.0 - step * 0.05 / (std::sqrt(0.5 * 0.5 * (1 - 0.999)) + 1e-8), 1e-15);
}

TEST(Conformance, DenseRefusesAWeightOfTheWrongRank) {
  expect_error<ShapeError>(
      [] {
        Dense<float>(zeros<float>({2, 3, 4}), zeros<float>({4}));
      },
      {"Dense", "[input, output]", "[2, 3, 4]"});
  expect_error<ShapeError>(
      [] {
        Dense<float>(zeros<float>({3, 4}), zeros<float>({3}));
      },
      {"Dense", "bias"});
  Dense<float> layer(3, 4);
  layer.weight = zeros<float>({1, 3, 4});
  expect_error<ShapeError>([&] { layer(zeros<float>({2, 3})); }, {"[input, output]"});
}

TEST(Conformance, LabelsOutsideTheClassesAreErrors) {
  Tensor<float> logits = zeros<float>({4, 10});
  expect_error<IndexError>(
      [&] {
        softmax_cross_entropy(logits, Tensor<std::int64_t>{1, 2, 10, 3});
      },
      {"softmax_cross_entropy", "label 10", "position [2]", "[0, 10)"});
  expect_error<IndexError>(
      [&] {
        softmax_cross_entropy(logits, Tensor<std::int32_t>{-1, 2, 3, 3});
      },
      {"label -1", "position [0]"});
  expect_error<IndexError>(
      [] {
        one_hot<float>(Tensor<std::int64_t>({0, 1, 2, 7}, {2, 2}), 5);
      },
      {"one_hot", "label 7", "position [1, 1]"});
  // In range: fine, and the gradient is unchanged.
  EXPECT_NEAR(softmax_cross_entropy(logits, Tensor<std::int64_t>{0, 9, 5, 5}).scalar(),
              std::log(10.0f), 1e-6);
}

TEST(Conformance, CustomDerivativesTakeSeveralArgumentsAndRefuseCapturedParameters) {
  // f(x, w) = x·w with a hand-written pullback for both.
  auto f = [](const Tensor<double>& x, const Tensor<double>& w) {
    return with_derivative(x, w, [](const Tensor<double>& x, const Tensor<double>& w) {
      return std::pair{x * w, [x, w](const Tensor<double>& dy) {
                         return std::tuple{dy * w, dy * x};
                       }};
    });
  };
  auto [gx, gw] =
      gradient(Tensor<double>{2.0, 3.0}, Tensor<double>{5.0, 7.0},
               [&](const Tensor<double>& x, const Tensor<double>& w) { return sum(f(x, w)); });
  EXPECT_EQ(gx.scalars(), (std::vector<double>{5, 7}));
  EXPECT_EQ(gw.scalars(), (std::vector<double>{2, 3}));

  // A parameter read from the enclosing scope would get no gradient: an error, not zeros.
  expect_error<ValueError>(
      [] {
        gradient(Tensor<double>{2.0}, [](const Tensor<double>& w) {
          Tensor<double> input{1.0};
          return sum(with_derivative(input, [&](const Tensor<double>& x) {
            return std::pair{x * w, [w](const Tensor<double>& dy) { return dy * w; }};
          }));
        });
      },
      {"with_derivative", "not one of its arguments"});
}
