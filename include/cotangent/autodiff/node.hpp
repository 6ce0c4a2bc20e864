#pragma once
// The recording behind automatic differentiation. Each value_with_gradient call opens a Tape;
// an op whose operand belongs to an open tape records a Node holding its pullback. There is no
// global switch: a tensor is tracked exactly when it came from a variable of an open call.
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "cotangent/core/tensor.hpp"

namespace ct::detail {

/// One differentiation call. Closed once its function returns, so the backward pass records
/// nothing for it (only for enclosing calls that are still open: higher order).
struct Tape {
  std::shared_ptr<Tape> parent;  // the call this one is nested in, if any
  int depth = 0;
  bool open = true;

  bool recording() const {
    for (const Tape* t = this; t; t = t->parent.get())
      if (t->open) return true;
    return false;
  }
};

/// Maps the gradient of an op's result to the gradients of its operands (an undefined
/// AnyTensor where an operand gets none). `y` is the op's result when the op asked to keep it
/// (record's `keep_result`), and undefined otherwise. `dy` is handed over by value: a pullback
/// that owns the only reference to its buffer may write its result there.
using Pullback = std::function<std::vector<AnyTensor>(AnyTensor dy, const AnyTensor& y)>;

/// A number larger than that of every node created so far (nodes are numbered as created).
std::uint64_t next_sequence();

struct Node : std::enable_shared_from_this<Node> {
  std::shared_ptr<Tape> tape;
  std::vector<std::shared_ptr<Node>> inputs;  // one per operand; null for constants
  Pullback pullback;                          // for a variable: the identity
  RawTensor result;                           // kept only when the pullback reads it
  bool is_variable = false;
  std::uint64_t sequence = next_sequence();  // creation order, for recompute
};

inline bool tracked(const AnyTensor& x) { return x.node() && x.node()->tape->recording(); }

template <class... Ts>
bool tracking(const Ts&... xs) {
  return (tracked(xs) || ...);
}

/// Attaches a node to `out` whose pullback is `pullback` and whose operands are `inputs`.
/// Call only when tracking(inputs...) holds, so untracked code pays for no closure.
/// The result is kept without the node referring to itself through a tensor.
void record(AnyTensor& out, std::initializer_list<const AnyTensor*> inputs, Pullback pullback,
            bool keep_result = false);
void record_many(AnyTensor& out, std::span<const AnyTensor* const> inputs, Pullback pullback,
                 bool keep_result = false);

/// What a computation recorded since node number `start` reads from before it: the recorded
/// nodes older than `start` that `root` reaches through newer ones (recompute's operands).
std::vector<std::shared_ptr<Node>> inputs_recorded_before(const std::shared_ptr<Node>& root,
                                                          std::uint64_t start);

/// While alive, the tapes of `nodes` record again, so that replaying a forward pass links its
/// new recording to these same nodes (recompute's pullback).
class ReopenTapes {
 public:
  explicit ReopenTapes(const std::vector<std::shared_ptr<Node>>& nodes);
  ~ReopenTapes();
  ReopenTapes(const ReopenTapes&) = delete;
  ReopenTapes& operator=(const ReopenTapes&) = delete;

 private:
  std::vector<std::pair<Tape*, bool>> was_open_;
};

/// A gradient contribution op(lhs)·op(rhs) to a matrix parameter (a Dense or matmul weight),
/// kept as its two factors instead of being multiplied out.
struct ProductTerm {
  AnyTensor lhs, rhs;
  bool transpose_lhs = false, transpose_rhs = false;
};

/// Per variable (in the order they were lifted), the gradient terms kept as products.
using ProductTerms = std::vector<std::vector<ProductTerm>>;

/// While alive, takes the product terms that pullbacks offer for the gradients of `targets`
/// on this thread (see defer_product), one list per target. minimize installs one so that an
/// optimizer adds each product straight into its parameter: at batch 1 a weight gradient is an
/// outer product, and writing it out and reading it back costs more than the rest of the step.
class ProductCollector {
 public:
  explicit ProductCollector(const std::vector<std::shared_ptr<Node>>& targets);
  ~ProductCollector();
  ProductCollector(const ProductCollector&) = delete;
  ProductCollector& operator=(const ProductCollector&) = delete;

  /// Keeps `term` if `target` is one of this collector's targets; false otherwise.
  bool offer(const Node* target, ProductTerm term);
  std::vector<std::vector<ProductTerm>> take() { return std::move(terms_); }

 private:
  std::vector<const Node*> targets_;
  std::vector<std::vector<ProductTerm>> terms_;
  ProductCollector* previous_;
};

/// Offers op(lhs)·op(rhs) as the gradient contribution of `target`. True when this thread's
/// collector took it: `target` is one of its variables and nothing records the backward pass
/// (a product kept as factors could not be differentiated again). The caller then computes
/// nothing for that operand.
bool defer_product(const AnyTensor& target, const AnyTensor& lhs, const AnyTensor& rhs,
                   bool transpose_lhs, bool transpose_rhs);

/// Collects pullback results: grads(dy * b, dy * a).
template <class... Ts>
std::vector<AnyTensor> grads(Ts&&... gs) {
  std::vector<AnyTensor> out;
  out.reserve(sizeof...(Ts));
  (out.emplace_back(std::forward<Ts>(gs)), ...);
  return out;
}

}  // namespace ct::detail
