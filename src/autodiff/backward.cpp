// The reverse pass: visit the recorded nodes from the result back to the variables, feeding
// each pullback the sum of the gradients that reached it.
#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "cotangent/autodiff/gradient.hpp"

namespace ct::detail {
namespace {

thread_local std::shared_ptr<Tape> current_tape;
thread_local ProductCollector* current_collector = nullptr;

AnyTensor add_gradients(const AnyTensor& a, const AnyTensor& b) {
  if (!a.defined()) return b;
  if (!b.defined()) return a;
  if (a.dtype() == DType::float64) return Tensor<double>(a) + Tensor<double>(b);
  return Tensor<float>(a) + Tensor<float>(b);
}

}  // namespace

TapeScope::TapeScope() : previous_(current_tape) {
  tape_ = std::make_shared<Tape>();
  tape_->parent = previous_;
  tape_->depth = previous_ ? previous_->depth + 1 : 0;
  current_tape = tape_;
}

TapeScope::~TapeScope() {
  tape_->open = false;
  current_tape = previous_;
}

void TapeScope::close() { tape_->open = false; }

ProductCollector::ProductCollector(const std::vector<std::shared_ptr<Node>>& targets)
    : terms_(targets.size()), previous_(current_collector) {
  targets_.reserve(targets.size());
  for (auto& t : targets) targets_.push_back(t.get());
  current_collector = this;
}

ProductCollector::~ProductCollector() { current_collector = previous_; }

bool ProductCollector::offer(const Node* target, ProductTerm term) {
  auto at = std::find(targets_.begin(), targets_.end(), target);
  if (at == targets_.end()) return false;
  terms_[std::size_t(at - targets_.begin())].push_back(std::move(term));
  return true;
}

bool defer_product(const AnyTensor& target, const AnyTensor& lhs, const AnyTensor& rhs,
                   bool transpose_lhs, bool transpose_rhs) {
  ProductCollector* collector = current_collector;
  return collector && target.node() && !tracked(lhs) && !tracked(rhs) &&
         collector->offer(target.node().get(), {AnyTensor(lhs.raw()), AnyTensor(rhs.raw()),
                                                transpose_lhs, transpose_rhs});
}

AnyTensor make_variable(const AnyTensor& x, const std::shared_ptr<Tape>& tape) {
  CT_CHECK_AS(ValueError, x.defined(), "differentiation: a parameter is an undefined tensor");
  auto node = std::make_shared<Node>();
  node->tape = tape;
  node->inputs.push_back(tracked(x) ? x.node() : nullptr);
  node->pullback = [](const AnyTensor& dy, const AnyTensor&) { return std::vector<AnyTensor>{dy}; };
  node->is_variable = true;
  return AnyTensor(x.raw(), std::move(node));
}

std::vector<AnyTensor> backpropagate(const AnyTensor& root, const AnyTensor& seed,
                                     const std::vector<std::shared_ptr<Node>>& targets,
                                     bool release) {
  std::vector<AnyTensor> result(targets.size());
  if (!root.node()) return result;
  std::unordered_map<const Node*, std::size_t> target_index;
  for (std::size_t i = 0; i < targets.size(); ++i) target_index.emplace(targets[i].get(), i);

  // Post-order (operands before results) by an explicit stack: graphs of long loops are deep.
  std::vector<Node*> order;
  std::unordered_map<const Node*, bool> needed;  // does a path lead from this node to a target?
  {
    std::vector<std::pair<Node*, std::size_t>> stack{{root.node().get(), 0}};
    std::unordered_set<const Node*> seen{root.node().get()};
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      bool is_target = target_index.count(node) > 0;
      if (!is_target && next < node->inputs.size()) {
        Node* in = node->inputs[next++].get();
        if (in && seen.insert(in).second) stack.push_back({in, 0});
        continue;
      }
      bool need = is_target;
      if (!is_target)
        for (auto& in : node->inputs) need = need || (in && needed[in.get()]);
      needed[node] = need;
      order.push_back(node);
      stack.pop_back();
    }
  }

  std::unordered_map<const Node*, AnyTensor> grads;
  grads[root.node().get()] = seed;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* node = *it;
    auto found = grads.find(node);
    if (found == grads.end() || !needed[node]) continue;
    AnyTensor dy = std::move(found->second);
    grads.erase(found);
    if (auto t = target_index.find(node); t != target_index.end()) {
      result[t->second] = add_gradients(result[t->second], dy);
      continue;
    }
    CT_CHECK_AS(ValueError, static_cast<bool>(node->pullback),
                "pullback: this recording was already used by a gradient call and released");
    AnyTensor y;  // the node's own result, for pullbacks that read it (and differentiate it again)
    if (node->result.defined()) y = AnyTensor(node->result, node->shared_from_this());
    std::vector<AnyTensor> input_grads = node->pullback(std::move(dy), y);
    for (std::size_t i = 0; i < node->inputs.size() && i < input_grads.size(); ++i) {
      Node* in = node->inputs[i].get();
      if (!in || !needed[in] || !input_grads[i].defined()) continue;
      AnyTensor& slot = grads[in];
      slot = add_gradients(slot, input_grads[i]);
    }
    // Free what this pullback kept, unless an enclosing call may still walk through it.
    if (release && !node->tape->recording()) {
      node->pullback = nullptr;
      node->result = RawTensor{};
    }
  }
  return result;
}

}  // namespace ct::detail
