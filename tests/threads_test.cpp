// The thread count the CPU kernels use.
#include <cotangent/models/classifiers.hpp>

#include "op_check.hpp"

using namespace ct;
using namespace ct::testing;

TEST(Threads, CountCanBeSetAndZeroIsRefused) {
  int before = thread_count();
  set_thread_count(1);
  EXPECT_EQ(thread_count(), 1);
  Tensor<float> a = ones<float>({64, 64});
  EXPECT_FLOAT_EQ(matmul(a, a).at({3, 5}), 64.0f);  // kernels run on one thread
  set_thread_count(before);
  EXPECT_EQ(thread_count(), before);
  expect_error<ValueError>([] { set_thread_count(0); }, {"set_thread_count", "at least 1"});
}

namespace {
// The parameters after one SGD step on a fixed batch, at `threads` threads.
template <class Model>
std::vector<std::vector<float>> after_one_step(int threads, Shape input) {
  set_thread_count(threads);
  default_generator().reseed(1);
  auto x = random_uniform<float>(input, 0, 1);
  Tensor<std::int32_t> y(std::vector<std::int32_t>(std::size_t(input[0]), 3), {input[0]});
  Model model;
  SGD optimizer(model, {.learning_rate = 0.1});
  auto [loss, gradient] =
      value_with_gradient(model, [&](const Model& m) { return softmax_cross_entropy(m(x), y); });
  optimizer.update(model, gradient);
  std::vector<std::vector<float>> out;
  for_each_parameter([&](const auto& p) { out.push_back(Tensor<float>(p).scalars()); }, model);
  return out;
}

struct RestoreThreads {
  int threads = thread_count();
  ~RestoreThreads() {
    set_thread_count(threads);
    set_deterministic(false);
  }
};
}  // namespace

// Sums are folded in fixed blocks, whatever the thread count (they were split per thread).
TEST(Determinism, ReductionsAndBiasGradientsGiveTheSameBitsForAnyThreadCount) {
  RestoreThreads restore;
  auto x = random_uniform<float>({1 << 20}, -1, 1);
  auto images = random_uniform<float>({64, 12, 12, 32}, -1, 1);
  set_thread_count(1);
  auto sum1 = sum(x).scalar();
  auto cnn1 = after_one_step<models::CNN>(1, {16, 28, 28, 1});
  set_thread_count(2);
  EXPECT_EQ(sum(x).scalar(), sum1);
  EXPECT_EQ(after_one_step<models::CNN>(2, {16, 28, 28, 1}), cnn1);
}

// oneDNN's sgemm splits a narrow product's inner dimension across threads; deterministic mode
// computes products in fixed tiles instead. The MLP's 64x512 by 512x10 output layer differed.
TEST(Determinism, DeterministicModeGivesTheMlpStepTheSameBitsForAnyThreadCount) {
  RestoreThreads restore;
  set_deterministic(true);
  EXPECT_TRUE(deterministic());
  EXPECT_EQ(after_one_step<models::MLP>(1, {64, 784}), after_one_step<models::MLP>(2, {64, 784}));
}

// oneDNN's filter gradient splits its sum over the batch across threads, differently for 3
// threads than for 1 or 2: deterministic mode takes another path for it.
TEST(Determinism, DeterministicModeGivesTheCnnStepTheSameBitsForAnyThreadCount) {
  RestoreThreads restore;
  set_deterministic(true);
  auto one = after_one_step<models::CNN>(1, {128, 28, 28, 1});
  EXPECT_EQ(after_one_step<models::CNN>(3, {128, 28, 28, 1}), one);
  EXPECT_EQ(after_one_step<models::CNN>(16, {128, 28, 28, 1}), one);
}
