// Recurrent cells and the sequence layers over them: the step formulas, float64 gradient checks
// through the cells and through whole sequences, shape errors, and a task that needs memory.
#include <cotangent/cotangent.hpp>

#include "op_check.hpp"

using namespace ct;
using namespace ct::testing;

TEST(Recurrent, LstmStepFollowsTheGateFormulas) {
  Generator gen(2);
  LSTMCell<double> cell(3, 2, gen);
  cell.bias = sample({8}, -1, 1, 9);
  auto x = sample({4, 3}, -1, 1, 1), h = sample({4, 2}, -1, 1, 2), c = sample({4, 2}, -1, 1, 3);
  auto [output, state] = cell(x, {c, h});
  // The same step written out, gate by gate, from the fused weight's column blocks.
  auto z = matmul(concatenate<double>({x, h}, 1), cell.weight) + cell.bias;
  auto block = [&](int k) { return slice(z, {Range{}, Range{2 * k, 2 * k + 2}}); };
  auto expected_cell = sigmoid(block(2)) * c + sigmoid(block(0)) * tanh(block(1));
  auto expected_hidden = sigmoid(block(3)) * tanh(expected_cell);
  EXPECT_LT(max(abs(state.cell - expected_cell)).scalar(), 1e-12);
  EXPECT_LT(max(abs(output - expected_hidden)).scalar(), 1e-12);
  EXPECT_EQ(cell.zero_state(5).hidden.shape(), (Shape{5, 2}));
}

TEST(Recurrent, GruStepInterpolatesBetweenTheStateAndTheCandidate) {
  Generator gen(4);
  GRUCell<double> cell(2, 3, gen);
  cell.update_bias = filled<double>({3}, 50.0);  // z = 1: the candidate alone
  auto x = sample({2, 2}, -1, 1, 1), h = sample({2, 3}, -1, 1, 2);
  auto [out, next] = cell(x, h);
  auto r = sigmoid(matmul(concatenate<double>({x, h}, 1), cell.reset_weight));
  auto candidate = tanh(matmul(concatenate<double>({x, r * h}, 1), cell.output_weight));
  EXPECT_LT(max(abs(out - candidate)).scalar(), 1e-12);
  cell.update_bias = filled<double>({3}, -50.0);  // z = 0: the state carried through
  EXPECT_LT(max(abs(cell(x, h).first - h)).scalar(), 1e-12);
}

TEST(Recurrent, CellGradientsMatchFiniteDifferences) {
  Generator gen(5);
  auto x = sample({2, 3}, -1, 1, 1), h = sample({2, 4}, -1, 1, 2), c = sample({2, 4}, -1, 1, 3);
  auto projection = sample({2, 4}, -1, 1, 4);
  BasicRNNCell<double> rnn(3, 4, gen);
  LSTMCell<double> lstm(3, 4, gen);
  GRUCell<double> gru(3, 4, gen);
  auto checks = {
      check_gradients([&](const Tensor<double>& a,
                          const Tensor<double>& s) { return rnn(a, s).first * projection; },
                      x, h),
      check_gradients(
          [&](const Tensor<double>& a, const Tensor<double>& s, const Tensor<double>& m) {
            auto [out, state] = lstm(a, {m, s});
            return out * projection + state.cell;
          },
          x, h, c),
      check_gradients([&](const Tensor<double>& a,
                          const Tensor<double>& s) { return gru(a, s).first * projection; },
                      x, h),
      check_gradients(
          [&](const Tensor<double>& w) {
            LSTMCell<double> copy = lstm;
            copy.weight = w;
            return copy(x, {c, h}).first * projection;
          },
          lstm.weight),
      check_gradients(
          [&](const Tensor<double>& w) {
            GRUCell<double> copy = gru;
            copy.output_weight = w;
            return copy(x, h).first * projection;
          },
          gru.output_weight)};
  for (auto& check : checks) EXPECT_TRUE(check.ok) << check.message;
}

TEST(Recurrent, SequenceLayersRunEveryStepAndDifferentiateThroughTime) {
  Generator gen(6);
  RNN<LSTMCell<double>> lstm(LSTMCell<double>(3, 2, gen));
  auto inputs = sample({2, 4, 3}, -1, 1, 1);
  auto [outputs, last] = lstm.run(inputs);
  EXPECT_EQ(outputs.shape(), (Shape{2, 4, 2}));
  // Step by step by hand: the same outputs and the same last state.
  auto state = lstm.cell.zero_state(2);
  for (std::int64_t t = 0; t < 4; ++t) {
    auto x = reshape(slice(inputs, {Range{}, Range{t, t + 1}}), {2, 3});
    auto [out, next] = lstm.cell(x, state);
    state = next;
    EXPECT_LT(max(abs(out - reshape(slice(outputs, {Range{}, Range{t, t + 1}}), {2, 2}))).scalar(),
              1e-12);
  }
  EXPECT_LT(max(abs(last.hidden - state.hidden)).scalar(), 1e-12);
  // From a given state, and backwards in time.
  auto [from_state, unused] = lstm.run(inputs, LSTMState<double>{state.cell, state.hidden});
  EXPECT_GT(max(abs(from_state - outputs)).scalar(), 1e-6);
  Bidirectional<GRUCell<double>> both(GRUCell<double>(3, 2, gen), GRUCell<double>(3, 2, gen));
  EXPECT_EQ(both(inputs).shape(), (Shape{2, 4, 4}));

  auto projection = sample({2, 4, 4}, -1, 1, 7);
  auto through_time =
      check_gradients([&](const Tensor<double>& x) { return both(x) * projection; }, inputs);
  EXPECT_TRUE(through_time.ok) << through_time.message;
  auto weights = check_gradients(
      [&](const Tensor<double>& w) {
        auto copy = lstm;
        copy.cell.weight = w;
        return sum(copy(inputs));
      },
      lstm.cell.weight);
  EXPECT_TRUE(weights.ok) << weights.message;
  auto grad =
      gradient(both, [&](const Bidirectional<GRUCell<double>>& m) { return sum(m(inputs)); });
  EXPECT_EQ(grad.backward.cell.reset_weight.shape(), (Shape{5, 2}));
}

TEST(Recurrent, WrongShapesAreErrorsNamingTheCell) {
  LSTMCell<float> lstm(3, 2);
  expect_error<Error>(
      [&] {
        lstm(zeros<float>({4, 5}), lstm.zero_state(4));
      },
      {"LSTMCell", "[batch, 3]", "[4, 5]"});
  expect_error<Error>(
      [&] {
        lstm(zeros<float>({4, 3}), lstm.zero_state(3));
      },
      {"LSTMCell", "state must be [4, 2]"});
  GRUCell<float> gru(3, 2);
  expect_error<Error>([&] { gru(zeros<float>({4, 3}), zeros<float>({4, 3})); }, {"GRUCell"});
  RNN<BasicRNNCell<float>> rnn(BasicRNNCell<float>(3, 2));
  expect_error<Error>([&] { rnn(zeros<float>({4, 3})); }, {"[batch, time, features]"});
  expect_error<ValueError>([&] { rnn(zeros<float>({4, 0, 3})); }, {"no time steps"});
}

namespace {
/// Reads a sequence and says whether its first value was positive: only a state that keeps it
/// through the later, noisy steps can answer.
struct Recall {
  RNN<LSTMCell<float>> lstm{LSTMCell<float>(1, 8)};
  Dense<float> head{8, 2};
  CT_FIELDS(lstm, head)
  Tensor<float> operator()(const Tensor<float>& x) const {
    auto [outputs, last] = lstm.run(x);
    return head(last.hidden);
  }
};
}  // namespace

TEST(Recurrent, AnLstmLearnsToRememberTheFirstStep) {
  default_generator().reseed(3);
  Generator data(8);
  Recall model;
  Adam<Recall> optimizer(model, {.learning_rate = 0.02});
  auto batch = [&](std::int64_t n) {
    auto x = random_uniform<float>({n, 6, 1}, -1, 1, data);
    auto first = reshape(slice(x, {Range{}, Range{0, 1}}), {n});
    return std::pair{x, cast<std::int32_t>(first > 0.0f)};
  };
  for (int step = 0; step < 150; ++step) {
    auto [x, y] = batch(32);
    minimize(optimizer, model, [&](const Recall& m) { return softmax_cross_entropy(m(x), y); });
  }
  auto [x, y] = batch(500);
  auto accuracy = mean(cast<float>(equal(argmax(model(x), 1), cast<std::int64_t>(y)))).scalar();
  EXPECT_GT(accuracy, 0.9);
}
