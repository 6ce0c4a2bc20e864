#include "op_check.hpp"

using namespace ct;
using namespace ct::testing;

namespace {
struct Quadratic {
  Tensor<double> x = Tensor<double>{1, -2};
  CT_FIELDS(x)
};
Tensor<double> loss(const Quadratic& q) { return sum(square(q.x - 3.0)); }  // minimum at x = 3

template <class Optimizer>
std::vector<double> one_step(Optimizer optimizer, Quadratic q = {}) {
  optimizer.update(q, gradient(q, loss));
  return q.x.scalars();
}
template <class Optimizer>
double distance_after(Optimizer optimizer, int steps) {
  Quadratic q;
  for (int i = 0; i < steps; ++i) optimizer.update(q, gradient(q, loss));
  return max(abs(q.x - 3.0)).scalar();
}
void expect_values(const std::vector<double>& got, const std::vector<double>& want,
                   double tol = 1e-6) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}
}  // namespace

// One step from x = [1, -2], gradient [-4, -10], against values computed by hand.
TEST(Optimizers, OneStepByHand) {
  Quadratic q;
  expect_values(one_step(SGD(q, {.learning_rate = 0.1f})), {1.4, -1.0});
  expect_values(one_step(SGD(q, {.learning_rate = 0.1f, .momentum = 0.9f, .nesterov = true})),
                {1.76, -0.1});
  expect_values(one_step(Adam(q, {.learning_rate = 0.1f})), {1.1, -1.9});
  expect_values(one_step(AdamW(q, {.learning_rate = 0.1f})), {1.099, -1.898});
  expect_values(one_step(AMSGrad(q, {.learning_rate = 0.1f})), {1.1, -1.9});
  expect_values(one_step(AdaMax(q, {.learning_rate = 0.1f})), {1.1, -1.9});
  expect_values(one_step(RAdam(q, {.learning_rate = 0.1f})), {1.4, -1.0});
  expect_values(one_step(RMSProp(q, {.learning_rate = 0.1f})), {1.316228, -1.683772});
  expect_values(one_step(AdaGrad(q, {.learning_rate = 0.1f})), {1.099689, -1.900050});
  expect_values(one_step(AdaDelta(q)), {1.004472, -1.995528});
}

TEST(Optimizers, FindTheMinimum) {
  Quadratic q;
  EXPECT_LT(distance_after(SGD(q, {.learning_rate = 0.1f}), 100), 1e-6);
  EXPECT_LT(distance_after(SGD(q, {.learning_rate = 0.05f, .momentum = 0.9f}), 300), 1e-4);
  EXPECT_LT(
      distance_after(SGD(q, {.learning_rate = 0.05f, .momentum = 0.9f, .nesterov = true}), 300),
      1e-4);
  EXPECT_LT(distance_after(Adam(q, {.learning_rate = 0.1f}), 500), 1e-3);
  EXPECT_LT(distance_after(AdamW(q, {.learning_rate = 0.1f, .weight_decay = 0}), 500), 1e-3);
  EXPECT_LT(distance_after(AMSGrad(q, {.learning_rate = 0.1f}), 500), 1e-3);
  EXPECT_LT(distance_after(AdaMax(q, {.learning_rate = 0.1f}), 500), 1e-3);
  EXPECT_LT(distance_after(RAdam(q, {.learning_rate = 0.1f}), 500), 1e-3);
  EXPECT_LT(distance_after(RMSProp(q, {.learning_rate = 0.01f}), 1000), 1e-2);
  EXPECT_LT(distance_after(AdaGrad(q, {.learning_rate = 1.0f}), 1000), 1e-3);
  EXPECT_LT(distance_after(AdaDelta(q, {.learning_rate = 50.0f}), 2000), 1e-2);
}

TEST(Optimizers, StateIsShapedLikeTheModel) {
  Quadratic q;
  Adam adam(q);
  EXPECT_EQ(adam.moments.states[0].x.shape(), q.x.shape());
  adam.update(q, gradient(q, loss));
  EXPECT_EQ(adam.step(), 1);
  EXPECT_NE(adam.moments.states[1].x.scalars(), (std::vector<double>{0, 0}));
}

TEST(Optimizers, Schedules) {
  StepSchedule step{1.0f, 0.5f, 10};
  EXPECT_FLOAT_EQ(step(1), 1.0f);
  EXPECT_FLOAT_EQ(step(11), 0.5f);
  CosineSchedule cosine{1.0f, 101};
  EXPECT_FLOAT_EQ(cosine(1), 1.0f);
  EXPECT_NEAR(cosine(51), 0.5f, 1e-6);
  EXPECT_NEAR(cosine(101), 0.0f, 1e-6);
  LinearWarmup<CosineSchedule> warm{cosine, 10};
  EXPECT_NEAR(warm(5), 0.5f * cosine(5), 1e-6);
  EXPECT_FLOAT_EQ(warm(20), cosine(20));
}

TEST(Optimizers, UpdatesInPlaceOnlyWhenNotShared) {
  Quadratic q;
  Tensor<double> copy = q.x;  // shared: the update must copy, leaving `copy` as it was
  SGD sgd(q, {.learning_rate = 0.1f});
  sgd.update(q, gradient(q, loss));
  EXPECT_EQ(copy.scalars(), (std::vector<double>{1, -2}));
  expect_values(q.x.scalars(), {1.4, -1.0});
  auto* storage = q.x.raw().storage.get();
  sgd.update(q, gradient(q, loss));  // not shared now: same buffer
  EXPECT_EQ(q.x.raw().storage.get(), storage);
}

namespace {
// Matrix parameters in every position a product gradient can take: a fused Dense (linear), a
// composed Dense (matmul), a weight used twice, transposed operands on either side, and a
// parameter the loss never reads.
struct Mixed {
  Dense<double> fused{4, 5, relu};
  Dense<double> composed{5, 5, tanh};
  Tensor<double> w = sample({5, 3}, -1, 1, 11);
  Tensor<double> wt = sample({3, 5}, -1, 1, 12);
  Tensor<double> v = sample({3, 2}, -1, 1, 13);
  Tensor<double> q = sample({2, 3}, -1, 1, 14);
  Tensor<double> unused = sample({2, 2}, -1, 1, 15);
  CT_FIELDS(fused, composed, w, wt, v, q, unused)
};

Tensor<double> mixed_loss(const Mixed& m, const Tensor<double>& x) {
  auto h = m.composed(m.fused(x));
  auto a = matmul(h, m.w) + matmul(h * h, m.w);
  auto y = tanh(a + matmul(h, m.wt, false, true));  // [B, 3]
  auto e = matmul(m.v, y, true, true);              // [2, B]
  auto f = matmul(m.q, y, false, true);             // [2, B]
  return sum(e * f) + sum(square(e)) * 0.1;
}

std::vector<std::vector<double>> parameters_of(const Mixed& m) {
  std::vector<std::vector<double>> out;
  for_each_parameter([&](const auto& p) { out.push_back(p.scalars()); }, m);
  return out;
}

template <class Optimizer>
void expect_minimize_matches_two_calls(Optimizer make(const Mixed&), std::int64_t batch) {
  SCOPED_TRACE("batch " + std::to_string(batch));
  default_generator().reseed(3);
  Mixed fused_model;
  Mixed two_calls = fused_model;
  Optimizer fused_optimizer = make(fused_model), plain_optimizer = make(two_calls);
  for (int step = 0; step < 3; ++step) {
    auto x = sample({batch, 4}, -1, 1, 20 + step);
    auto loss = [&](const Mixed& m) { return mixed_loss(m, x); };
    auto fused_value = minimize(fused_optimizer, fused_model, loss);
    auto [value, grad] = value_with_gradient(two_calls, loss);
    plain_optimizer.update(two_calls, grad);
    EXPECT_NEAR(fused_value.scalar(), value.scalar(), 1e-12);
  }
  auto got = parameters_of(fused_model), want = parameters_of(two_calls);
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE("parameter " + std::to_string(i));
    expect_values(got[i], want[i], 1e-12);
  }
}
}  // namespace

// minimize must be value_with_gradient + update, whether the optimizer takes product terms
// (SGD, all three variants) or not (Adam), at batch sizes on both sides of the small-inner
// GEMM route.
TEST(Minimize, MatchesGradientThenUpdate) {
  for (std::int64_t batch : {1, 3, 7}) {
    expect_minimize_matches_two_calls<SGD<Mixed>>(
        [](const Mixed& m) { return SGD(m, {.learning_rate = 0.1f}); }, batch);
    expect_minimize_matches_two_calls<SGD<Mixed>>(
        [](const Mixed& m) { return SGD(m, {.learning_rate = 0.1f, .momentum = 0.9f}); }, batch);
    expect_minimize_matches_two_calls<SGD<Mixed>>(
        [](const Mixed& m) {
          return SGD(m, {.learning_rate = 0.1f, .momentum = 0.9f, .nesterov = true});
        },
        batch);
    expect_minimize_matches_two_calls<Adam<Mixed>>(
        [](const Mixed& m) { return Adam(m, {.learning_rate = 0.01f}); }, batch);
  }
}

// The matrix gradients do come as products (the point of minimize), and each product is the
// gradient value_with_gradient computes.
TEST(Minimize, MatrixGradientsComeAsProducts) {
  default_generator().reseed(4);
  Mixed model;
  auto x = sample({2, 4}, -1, 1, 30);
  auto dense = gradient(model, [&](const Mixed& m) { return mixed_loss(m, x); });

  detail::TapeScope scope;
  std::vector<std::shared_ptr<detail::Node>> vars;
  auto lifted = detail::Argument<Mixed>::lift(model, scope.tape(), vars);
  auto y = mixed_loss(lifted, x);
  scope.close();
  detail::ProductCollector collector(vars);
  auto grads = detail::backpropagate(y, ones_like(detail::without_node(y)), vars, true);
  auto terms = collector.take();

  std::vector<Tensor<double>> want;
  for_each_parameter([&](const auto& p) { want.push_back(p); }, dense);
  ASSERT_EQ(terms.size(), want.size());
  // fused.weight, fused.bias, composed.weight, composed.bias, w (twice), wt, v, q, unused
  std::vector<std::size_t> expected_terms{1, 0, 1, 0, 2, 1, 1, 1, 0};
  for (std::size_t i = 0; i < terms.size(); ++i) {
    SCOPED_TRACE("parameter " + std::to_string(i));
    EXPECT_EQ(terms[i].size(), expected_terms[i]);
    EXPECT_EQ(grads[i].defined(), expected_terms[i] == 0 && i != 8);
    Tensor<double> total = grads[i].defined() ? Tensor<double>(grads[i]) : zeros_like(want[i]);
    for (auto& t : terms[i])
      total = total + matmul(Tensor<double>(t.lhs), Tensor<double>(t.rhs), t.transpose_lhs,
                             t.transpose_rhs);
    expect_values(total.scalars(), want[i].scalars(), 1e-12);
  }
}

// Value semantics: a copy of the model taken before the step keeps its values; the model's own
// buffers are updated in place once nothing else shares them.
TEST(Minimize, LeavesCopiesAloneAndUpdatesInPlace) {
  default_generator().reseed(5);
  Mixed model;
  SGD sgd(model, {.learning_rate = 0.1f});
  auto x = sample({1, 4}, -1, 1, 40);
  auto loss = [&](const Mixed& m) { return mixed_loss(m, x); };
  Mixed before = model;
  auto before_values = parameters_of(model);
  minimize(sgd, model, loss);
  EXPECT_EQ(parameters_of(before), before_values);
  EXPECT_NE(parameters_of(model)[0], before_values[0]);
  before = Mixed{};  // drop the copy: the next step writes in place
  auto* weight_buffer = model.fused.weight.raw().storage.get();
  auto* w_buffer = model.w.raw().storage.get();
  minimize(sgd, model, loss);
  EXPECT_EQ(model.fused.weight.raw().storage.get(), weight_buffer);
  EXPECT_EQ(model.w.raw().storage.get(), w_buffer);
}

TEST(Minimize, RejectsNonScalarLoss) {
  Quadratic q;
  SGD sgd(q);
  try {
    minimize(sgd, q, [](const Quadratic& m) { return m.x * 2.0; });
    FAIL() << "a loss of shape [2] was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("minimize"), std::string::npos) << e.what();
  }
  EXPECT_EQ(q.x.scalars(), (std::vector<double>{1, -2}));  // not stepped
}

TEST(Minimize, UpdateWithProductChecksShapes) {
  auto y = zeros<double>({2, 3});
  EXPECT_THROW(update_with_product(y, 1.0, zeros<double>({2, 4}), zeros<double>({5, 3}), false,
                                   false, 1.0),
               Error);
  EXPECT_THROW(update_with_product(y, 1.0, zeros<double>({2, 4}), zeros<double>({4, 4}), false,
                                   false, 1.0),
               Error);
  EXPECT_THROW(update_with_product(y, 1.0, zeros<double>({8}),
                                   zeros<double>({4, 3}), false, false, 1.0),
               Error);
  update_with_product(y, 1.0, ones<double>({4, 2}), ones<double>({4, 3}), true, false, 0.5);
  expect_values(y.scalars(), std::vector<double>(6, 2.0));
}

namespace {
struct WithoutBias {
  Conv2D<float> conv{{3, 3, 1, 2}, relu, {1, 1}, Padding::valid, {1, 1}, /*use_bias=*/false};
  Flatten<float> flatten;
  Dense<float> dense{2 * 4 * 4, 3, relu, /*use_bias=*/false};
  Dense<float> output{3, 2};
  CT_FIELDS(conv, flatten, dense, output)
  Tensor<float> operator()(const Tensor<float>& x) const {
    return x.sequenced(conv, flatten, dense, output);
  }
};
}  // namespace

// Layers built without a bias leave it undefined: an absent parameter that differentiation,
// every optimizer and checkpoints skip, rather than an error.
TEST(Minimize, LayersWithoutBias) {
  default_generator().reseed(6);
  WithoutBias model;
  auto x = random_uniform<float>({2, 6, 6, 1});
  auto loss = [&](const WithoutBias& m) { return sum(square(m(x))); };
  auto grad = gradient(model, loss);
  EXPECT_FALSE(grad.dense.bias.defined());
  EXPECT_FALSE(grad.conv.bias.defined());
  EXPECT_EQ(grad.dense.weight.shape(), model.dense.weight.shape());
  EXPECT_TRUE(grad.output.bias.defined());

  auto before = model.dense.weight.scalars();
  SGD sgd(model, {.learning_rate = 0.01f, .momentum = 0.9f});
  float first = minimize(sgd, model, loss).scalar();
  Adam adam(model);
  minimize(adam, model, loss);
  EXPECT_NE(model.dense.weight.scalars(), before);
  EXPECT_LT(loss(model).scalar(), first);

  std::vector<std::string> names;
  for (auto& t : io::named_tensors(model, &sgd)) names.push_back(t.name);
  EXPECT_EQ(std::count(names.begin(), names.end(), "dense/bias"), 0);
  EXPECT_EQ(std::count(names.begin(), names.end(), "output/bias"), 1);
}
