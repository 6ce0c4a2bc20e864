#pragma once
// Recurrent layers, after S4TF: cells that take one time step (BasicRNNCell, LSTMCell, GRUCell),
// and RNN / Bidirectional, which run a cell over a sequence [batch, time, features]. Each cell's
// weight acts on the input and the hidden state concatenated ([input + hidden, …]), as S4TF's
// do; their derivatives come from the ops they are made of.
//
//   RNN<LSTMCell<float>> lstm(LSTMCell<float>(/*input_size=*/32, /*hidden_size=*/128));
//   Tensor<float> outputs = lstm(sequence);            // [batch, time, 128]
//   auto [outputs2, last] = lstm.run(sequence, state); // from a given state; the last state
#include <optional>
#include <utility>

#include "cotangent/autodiff/fields.hpp"
#include "cotangent/ops/ops.hpp"

namespace ct {

namespace detail {
/// Columns [first, first + count) of a matrix [rows, columns]: one gate of a fused product.
template <FloatingPoint T>
Tensor<T> columns(const Tensor<T>& x, std::int64_t first, std::int64_t count) {
  return slice(x, {Range{}, Range{first, first + count}});
}
/// Checks one step's input [batch, input_size] and hidden state [batch, hidden_size].
inline void check_step(const char* cell, const Shape& input, const Shape& hidden,
                       std::int64_t input_size, std::int64_t hidden_size) {
  CT_CHECK(input.rank() == 2 && input[1] == input_size, "{}: the input must be [batch, {}], not {}",
           cell, input_size, input);
  CT_CHECK(hidden.rank() == 2 && hidden[0] == input[0] && hidden[1] == hidden_size,
           "{}: the state must be [{}, {}] for input {}, not {}", cell, input[0], hidden_size,
           input, hidden);
}
}  // namespace detail

/// h' = tanh([x, h] · weight + bias): S4TF's BasicRNNCell. The output is the new state.
template <FloatingPoint T>
struct BasicRNNCell {
  /// The state between steps: the hidden values [batch, hidden].
  using State = Tensor<T>;
  Tensor<T> weight, bias;  // [input + hidden, hidden], [hidden]
  CT_FIELDS(weight, bias)

  BasicRNNCell(std::int64_t input_size, std::int64_t hidden_size,
               Generator& gen = default_generator())
      : weight(glorot_uniform<T>({input_size + hidden_size, hidden_size}, gen)),
        bias(zeros<T>({hidden_size})) {}
  std::int64_t hidden_size() const { return weight.shape(1); }
  std::int64_t input_size() const { return weight.shape(0) - hidden_size(); }
  /// Zeros [batch, hidden] on the weight's device.
  State zero_state(std::int64_t batch) const {
    return zeros<T>({batch, hidden_size()}, weight.device());
  }
  /// One step: the output and the new state (the same tensor here).
  std::pair<Tensor<T>, State> operator()(const Tensor<T>& input, const State& state) const {
    detail::check_step("BasicRNNCell", input.shape(), state.shape(), input_size(), hidden_size());
    auto h = tanh(matmul(concatenate<T>({input, state}, 1), weight) + bias);
    return {h, h};
  }
};

/// The state of an LSTM: the cell and the hidden values, each [batch, hidden].
template <FloatingPoint T>
struct LSTMState {
  Tensor<T> cell, hidden;
};

/// S4TF's LSTMCell: one product [x, h] · weight + bias gives, in order, the input gate i, the
/// candidate g, the forget gate f and the output gate o; c' = f·c + i·g, h' = o·tanh(c'). The
/// bias starts at zero, as S4TF's does (Keras starts the forget gate's at one).
template <FloatingPoint T>
struct LSTMCell {
  /// The state between steps: the cell and the hidden values.
  using State = LSTMState<T>;
  Tensor<T> weight, bias;  // [input + hidden, 4·hidden], [4·hidden]
  CT_FIELDS(weight, bias)

  LSTMCell(std::int64_t input_size, std::int64_t hidden_size, Generator& gen = default_generator())
      : weight(glorot_uniform<T>({input_size + hidden_size, 4 * hidden_size}, gen)),
        bias(zeros<T>({4 * hidden_size})) {}
  std::int64_t hidden_size() const { return weight.shape(1) / 4; }
  std::int64_t input_size() const { return weight.shape(0) - hidden_size(); }
  State zero_state(std::int64_t batch) const {
    return {zeros<T>({batch, hidden_size()}, weight.device()),
            zeros<T>({batch, hidden_size()}, weight.device())};
  }
  /// One step: the output (the new hidden values) and the new state.
  std::pair<Tensor<T>, State> operator()(const Tensor<T>& input, const State& state) const {
    detail::check_step("LSTMCell", input.shape(), state.hidden.shape(), input_size(),
                       hidden_size());
    CT_CHECK(state.cell.shape() == state.hidden.shape(),
             "LSTMCell: the cell state {} and the hidden state {} differ in shape",
             state.cell.shape(), state.hidden.shape());
    std::int64_t n = hidden_size();
    auto gates = matmul(concatenate<T>({input, state.hidden}, 1), weight) + bias;
    auto i = sigmoid(detail::columns(gates, 0, n)), g = tanh(detail::columns(gates, n, n));
    auto f = sigmoid(detail::columns(gates, 2 * n, n));
    auto o = sigmoid(detail::columns(gates, 3 * n, n));
    auto cell = f * state.cell + i * g;
    auto hidden = o * tanh(cell);
    return {hidden, State{cell, hidden}};
  }
};

/// A gated recurrent unit: z = σ([x, h]·Wz + bz), r = σ([x, h]·Wr + br),
/// h̃ = tanh([x, r·h]·Wh + bh), h' = (1 - z)·h + z·h̃ (S4TF's GRUCell; Keras swaps z and 1 - z,
/// which only relabels the gate).
template <FloatingPoint T>
struct GRUCell {
  /// The state between steps: the hidden values [batch, hidden].
  using State = Tensor<T>;
  Tensor<T> update_weight, reset_weight, output_weight;  // each [input + hidden, hidden]
  Tensor<T> update_bias, reset_bias, output_bias;        // each [hidden]
  CT_FIELDS(update_weight, reset_weight, output_weight, update_bias, reset_bias, output_bias)

  GRUCell(std::int64_t input_size, std::int64_t hidden_size, Generator& gen = default_generator())
      : update_weight(glorot_uniform<T>({input_size + hidden_size, hidden_size}, gen)),
        reset_weight(glorot_uniform<T>({input_size + hidden_size, hidden_size}, gen)),
        output_weight(glorot_uniform<T>({input_size + hidden_size, hidden_size}, gen)),
        update_bias(zeros<T>({hidden_size})),
        reset_bias(zeros<T>({hidden_size})),
        output_bias(zeros<T>({hidden_size})) {}
  std::int64_t hidden_size() const { return update_weight.shape(1); }
  std::int64_t input_size() const { return update_weight.shape(0) - hidden_size(); }
  State zero_state(std::int64_t batch) const {
    return zeros<T>({batch, hidden_size()}, update_weight.device());
  }
  std::pair<Tensor<T>, State> operator()(const Tensor<T>& input, const State& state) const {
    detail::check_step("GRUCell", input.shape(), state.shape(), input_size(), hidden_size());
    auto both = concatenate<T>({input, state}, 1);
    auto z = sigmoid(matmul(both, update_weight) + update_bias);
    auto r = sigmoid(matmul(both, reset_weight) + reset_bias);
    auto candidate =
        tanh(matmul(concatenate<T>({input, r * state}, 1), output_weight) + output_bias);
    auto h = (T(1) - z) * state + z * candidate;
    return {h, h};
  }
};

/// Runs a cell over a sequence [batch, time, features], one step per time index (S4TF's RNN):
/// the outputs [batch, time, hidden] and the last state. Starts from the cell's zero state
/// unless given one; `reverse` runs from the last time step to the first (outputs stay in time
/// order).
template <class Cell>
struct RNN {
  /// The cell's state: what run starts from (if given) and returns after the last step.
  using State = typename Cell::State;
  Cell cell;
  CT_FIELDS(cell)
  explicit RNN(Cell cell) : cell(std::move(cell)) {}

  template <FloatingPoint T>
  std::pair<Tensor<T>, State> run(const Tensor<T>& inputs,
                                  std::optional<State> initial = std::nullopt,
                                  bool reverse = false) const {
    CT_CHECK(inputs.rank() == 3, "RNN: the inputs must be [batch, time, features], not {}",
             inputs.shape());
    std::int64_t batch = inputs.shape(0), steps = inputs.shape(1), features = inputs.shape(2);
    CT_CHECK_AS(ValueError, steps > 0, "RNN: a sequence of no time steps ({})", inputs.shape());
    State state = initial ? *initial : cell.zero_state(batch);
    std::vector<Tensor<T>> outputs(static_cast<std::size_t>(steps));
    for (std::int64_t k = 0; k < steps; ++k) {
      std::int64_t t = reverse ? steps - 1 - k : k;
      auto x = reshape(slice(inputs, {Range{}, Range{t, t + 1}}), {batch, features});
      auto [output, next] = cell(x, state);
      outputs[std::size_t(t)] = output;
      state = next;
    }
    return {stack(outputs, 1), state};
  }
  /// The outputs [batch, time, hidden], from the zero state.
  template <FloatingPoint T>
  Tensor<T> operator()(const Tensor<T>& inputs) const {
    return run(inputs).first;
  }
};

/// Two cells over a sequence, one forward in time and one backward, their outputs concatenated
/// on the last axis: [batch, time, 2·hidden] (S4TF's BidirectionalRecurrentLayer, merged by
/// concatenation).
template <class Cell>
struct Bidirectional {
  RNN<Cell> forward, backward;
  CT_FIELDS(forward, backward)
  Bidirectional(Cell forward_cell, Cell backward_cell)
      : forward(std::move(forward_cell)), backward(std::move(backward_cell)) {}

  template <FloatingPoint T>
  Tensor<T> operator()(const Tensor<T>& inputs) const {
    return concatenate<T>(
        {forward.run(inputs).first, backward.run(inputs, std::nullopt, true).first}, 2);
  }
};

}  // namespace ct
