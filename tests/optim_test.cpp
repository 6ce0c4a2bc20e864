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
double minimize(Optimizer optimizer, int steps) {
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
  EXPECT_LT(minimize(SGD(q, {.learning_rate = 0.1f}), 100), 1e-6);
  EXPECT_LT(minimize(SGD(q, {.learning_rate = 0.05f, .momentum = 0.9f}), 300), 1e-4);
  EXPECT_LT(minimize(SGD(q, {.learning_rate = 0.05f, .momentum = 0.9f, .nesterov = true}), 300),
            1e-4);
  EXPECT_LT(minimize(Adam(q, {.learning_rate = 0.1f}), 500), 1e-3);
  EXPECT_LT(minimize(AdamW(q, {.learning_rate = 0.1f, .weight_decay = 0}), 500), 1e-3);
  EXPECT_LT(minimize(AMSGrad(q, {.learning_rate = 0.1f}), 500), 1e-3);
  EXPECT_LT(minimize(AdaMax(q, {.learning_rate = 0.1f}), 500), 1e-3);
  EXPECT_LT(minimize(RAdam(q, {.learning_rate = 0.1f}), 500), 1e-3);
  EXPECT_LT(minimize(RMSProp(q, {.learning_rate = 0.01f}), 1000), 1e-2);
  EXPECT_LT(minimize(AdaGrad(q, {.learning_rate = 1.0f}), 1000), 1e-3);
  EXPECT_LT(minimize(AdaDelta(q, {.learning_rate = 50.0f}), 2000), 1e-2);
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
