#include <cotangent/models/classifiers.hpp>

#include "op_check.hpp"

using namespace ct;
using namespace ct::testing;

TEST(Layers, DenseAndConvShapesAndDefaults) {
  Generator gen(3);
  Dense<float> dense(4, 3, relu, true, gen);
  EXPECT_EQ(dense.weight.shape(), (Shape{4, 3}));
  EXPECT_EQ(dense.bias.scalars(), (std::vector<float>{0, 0, 0}));   // zero biases by default
  EXPECT_LE(max(abs(dense.weight)).scalar(), std::sqrt(6.0f / 7));  // Glorot uniform
  auto y = dense(ones<float>({2, 4}));
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_GE(min(y).scalar(), 0);
  Dense<float> no_bias(4, 3, identity<float>, false);
  EXPECT_FALSE(no_bias.bias.defined());
  Dense<float> custom(4, 3, [](const Tensor<float>& x) { return x * 2.0f; });
  EXPECT_EQ(custom(zeros<float>({1, 4})).shape(), (Shape{1, 3}));
  Conv2D<float> conv({3, 3, 2, 5}, relu, {2, 2}, Padding::same);
  EXPECT_EQ(conv(zeros<float>({1, 8, 8, 2})).shape(), (Shape{1, 4, 4, 5}));
  DepthwiseConv2D<float> depthwise({3, 3, 4, 2});
  EXPECT_EQ(depthwise(zeros<float>({1, 6, 6, 4})).shape(), (Shape{1, 4, 4, 8}));
  EXPECT_EQ(MaxPool2D<float>{}(zeros<float>({1, 4, 4, 3})).shape(), (Shape{1, 2, 2, 3}));
  AvgPool2D<float> pool{{3, 3}, {1, 1}};
  EXPECT_EQ(pool(zeros<float>({1, 4, 4, 3})).shape(), (Shape{1, 2, 2, 3}));
  EXPECT_EQ(GlobalAvgPool2D<float>{}(ones<float>({2, 4, 4, 3})).scalars(),
            std::vector<float>(6, 1));
  EXPECT_EQ(GlobalMaxPool2D<float>{}(ones<float>({2, 4, 4, 3})).shape(), (Shape{2, 3}));
  EXPECT_EQ(Flatten<float>{}(zeros<float>({2, 3, 4})).shape(), (Shape{2, 12}));
  Reshape<float> reshaper{{-1, 2}};
  EXPECT_EQ(reshaper(zeros<float>({2, 3, 4})).shape(), (Shape{12, 2}));
  Embedding<float> embedding(10, 4);
  EXPECT_EQ(embedding(Tensor<std::int32_t>({1, 2, 3, 4, 5, 6}, {2, 3})).shape(), (Shape{2, 3, 4}));
  Function<float> twice{[](const Tensor<float>& x) { return x * 2.0f; }};
  EXPECT_EQ(twice(Tensor<float>{1}).scalar(), 2);
  expect_error<ShapeError>(
      [&] {
        (void)dense(ones<float>({2, 5}));
      },
      {"Dense", "[2, 5]", "4 features"});
}

TEST(Layers, LearningPhaseControlsDropoutAndBatchNorm) {
  Dropout<float> dropout(0.5);
  auto x = ones<float>({1000});
  EXPECT_EQ(dropout(x).scalars(), x.scalars());  // inference by default
  {
    LearningPhaseScope training(LearningPhase::training);
    auto y = dropout(x).scalars();
    auto kept = std::count(y.begin(), y.end(), 2.0f);
    EXPECT_EQ(kept + std::count(y.begin(), y.end(), 0.0f), 1000);
    EXPECT_NEAR(double(kept), 500, 60);
  }
  EXPECT_EQ(Context::local().learning_phase, LearningPhase::inference);

  BatchNorm<double> bn(3);
  auto batch = sample({64, 3}, 2, 4);
  Tensor<double> normalized;
  {
    LearningPhaseScope training(LearningPhase::training);
    normalized = bn(batch);
  }
  EXPECT_NEAR(max(abs(mean(normalized, {0}))).scalar(), 0, 1e-9);
  EXPECT_NEAR(mean(variance(normalized, {0})).scalar(), 1, 0.01);
  auto running = bn.running_mean.get().scalars();
  EXPECT_NEAR(running[0], 0.01 * mean(batch, {0}).scalars()[0], 1e-9);  // momentum 0.99 from zero
  auto inference = bn(batch);  // running statistics: not normalized yet
  EXPECT_GT(mean(inference).scalar(), 1);
  auto check = check_gradients(
      [&](const Tensor<double>& x) {
        LearningPhaseScope training(LearningPhase::training);
        return bn(x) * sample({6, 3}, -1, 1, 5);
      },
      sample({6, 3}, -1, 1));
  EXPECT_TRUE(check.ok) << check.message;
  LayerNorm<double> ln(4);
  auto out = ln(sample({3, 4}, -2, 5));
  EXPECT_NEAR(max(abs(mean(out, {1}))).scalar(), 0, 1e-9);
  auto ln_check = check_gradients(
      [&](const Tensor<double>& x) {
        return ln(x) * sample({3, 4}, -1, 1, 6);
      },
      sample({3, 4}, -1, 1));
  EXPECT_TRUE(ln_check.ok) << ln_check.message;
}

namespace {
struct Tiny {
  Dense<double> a{3, 4, tanh}, b{4, 2};
  CT_FIELDS(a, b)
  Tensor<double> operator()(const Tensor<double>& x) const { return x.sequenced(a, b); }
};
}  // namespace

TEST(Layers, SequencedAndNamedFields) {
  auto seq = sequenced(Dense<double>(3, 4, relu), Dense<double>(4, 2));
  EXPECT_EQ(seq(ones<double>({5, 3})).shape(), (Shape{5, 2}));
  std::vector<std::string> names;
  for_each_named_parameter([&](const std::string& name, auto&) { names.push_back(name); }, "", seq);
  EXPECT_EQ(names, (std::vector<std::string>{"0/weight", "0/bias", "1/weight", "1/bias"}));
  Tiny tiny;
  auto grad = gradient(tiny, [&](const Tiny& m) { return sum(m(ones<double>({2, 3}))); });
  EXPECT_EQ(grad.a.weight.shape(), (Shape{3, 4}));
  auto check = check_gradients(
      [&](const Tensor<double>& w) {
        Tiny t = tiny;
        t.a.weight = w;
        return t(sample({2, 3}, -1, 1));
      },
      tiny.a.weight);
  EXPECT_TRUE(check.ok) << check.message;
}

TEST(Losses, ValuesGradientsAndStability) {
  Tensor<double> logits({2, 1, 0, 0, 0, 5}, {2, 3});
  Tensor<std::int32_t> labels{0, 2};
  double l0 = -std::log(std::exp(2) / (std::exp(2) + std::exp(1) + 1)),
         l1 = -std::log(std::exp(5) / (2 + std::exp(5)));
  EXPECT_NEAR(softmax_cross_entropy(logits, labels).scalar(), (l0 + l1) / 2, 1e-12);
  EXPECT_NEAR(softmax_cross_entropy(logits, labels, Reduction::sum).scalar(), l0 + l1, 1e-12);
  EXPECT_NEAR(softmax_cross_entropy(logits, one_hot<double>(labels, 3)).scalar(), (l0 + l1) / 2,
              1e-12);
  auto huge = Tensor<float>({1000, -1000, 0, 0}, {2, 2});
  auto stable = softmax_cross_entropy(huge, Tensor<std::int32_t>{1, 0}).scalar();
  EXPECT_TRUE(std::isfinite(stable));
  EXPECT_NEAR(stable, (2000 + std::log(2.0)) / 2, 1e-2);
  EXPECT_TRUE(std::isfinite(
      sigmoid_cross_entropy(Tensor<float>{1000, -1000}, Tensor<float>{0, 1}).scalar()));

  auto p = sample({4, 3}, 0.2, 2, 1), t = sample({4, 3}, 0.2, 2, 2);
  auto signs = where(sample({4, 3}, -1, 1, 3) > 0.0, ones<double>({4, 3}), -ones<double>({4, 3}));
  auto probs = softmax(sample({4, 3}, -1, 1, 4));
  std::vector<std::tuple<std::string, std::function<Tensor<double>(const Tensor<double>&)>, double>>
      cases = {
          {"softmax_cross_entropy",
           [&](auto& x) {
             return softmax_cross_entropy(x, Tensor<std::int32_t>{0, 2, 1, 1});
           },
           -1},
          {"softmax_cross_entropy_probs", [&](auto& x) { return softmax_cross_entropy(x, probs); },
           -1},
          {"sigmoid_cross_entropy", [&](auto& x) { return sigmoid_cross_entropy(x, probs); }, -1},
          {"mean_squared_error", [&](auto& x) { return mean_squared_error(x, t); }, -1},
          {"mean_absolute_error", [&](auto& x) { return mean_absolute_error(x, t); }, -1},
          {"huber_loss", [&](auto& x) { return huber_loss(x, t, 0.5); }, -1},
          {"hinge_loss", [&](auto& x) { return hinge_loss(x, signs); }, -1},
          {"squared_hinge_loss", [&](auto& x) { return squared_hinge_loss(x, signs); }, -1},
          {"categorical_hinge_loss",
           [&](auto& x) {
             return categorical_hinge_loss(x, one_hot<double>(Tensor<std::int32_t>{0, 1, 2, 0}, 3));
           },
           -1},
          {"log_cosh_loss", [&](auto& x) { return log_cosh_loss(x, t); }, -1},
          {"poisson_loss", [&](auto& x) { return poisson_loss(x, t); }, -1},
          {"kullback_leibler_divergence",
           [&](auto& x) { return kullback_leibler_divergence(x, t); }, -1},
          {"l1_loss", [&](auto& x) { return l1_loss(x, t); }, -1},
          {"l2_loss", [&](auto& x) { return l2_loss(x, t); }, -1},
      };
  for (auto& [name, loss, unused] : cases) {
    SCOPED_TRACE(name);
    auto check = check_gradients(loss, p + 0.01);
    EXPECT_TRUE(check.ok) << check.message;
  }
  // Reference values for the elementwise losses at one point.
  Tensor<double> a{0.5, 2.0}, b{1.0, 0.0};
  EXPECT_NEAR(mean_squared_error(a, b).scalar(), (0.25 + 4) / 2, 1e-12);
  EXPECT_NEAR(mean_absolute_error(a, b).scalar(), 1.25, 1e-12);
  EXPECT_NEAR(huber_loss(a, b).scalar(), (0.125 + 1.5) / 2, 1e-12);
  EXPECT_NEAR(log_cosh_loss(a, b).scalar(),
              (std::log(std::cosh(0.5)) + std::log(std::cosh(2.0))) / 2, 1e-12);
  EXPECT_NEAR(l2_loss(a, b).scalar(), 4.25, 1e-12);
  EXPECT_NEAR(hinge_loss(a, Tensor<double>{1, -1}).scalar(), (0.5 + 3) / 2, 1e-12);
  EXPECT_NEAR(poisson_loss(a, b).scalar(), (0.5 - std::log(0.5) + 2) / 2, 1e-12);
  expect_error<ShapeError>([&] { (void)mean_squared_error(a, Tensor<double>{1}); },
                           {"mean_squared_error", "[2]", "[1]"});
  expect_error<ShapeError>([&] { (void)softmax_cross_entropy(logits, Tensor<std::int32_t>{1}); },
                           {"softmax_cross_entropy", "[2, 3]", "[1]"});
}

TEST(ModelSummary, CountsEveryParameterAndListsThemByPath) {
  models::MLP mlp;
  EXPECT_EQ(parameter_count(mlp), 784 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10);
  models::CNN cnn;
  EXPECT_EQ(parameter_count(cnn),
            3 * 3 * 32 + 32 + 3 * 3 * 32 * 64 + 64 + 9216 * 512 + 512 + 512 * 512 + 512 + 5130);
  std::string table = summary(mlp);
  EXPECT_NE(table.find("inputLayer/weight"), std::string::npos) << table;
  EXPECT_NE(table.find("[784, 512]"), std::string::npos) << table;
  EXPECT_NE(table.find("float32"), std::string::npos) << table;
  EXPECT_NE(table.find("669706"), std::string::npos) << table;
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 8);  // header, 6 parameters, total
}
