#include <algorithm>
#include <atomic>
#include <unordered_set>

#include "cotangent/autodiff/node.hpp"

namespace ct::detail {

namespace {
std::atomic<std::uint64_t> node_count{0};
}  // namespace

std::uint64_t next_sequence() { return node_count.fetch_add(1, std::memory_order_relaxed) + 1; }

std::vector<std::shared_ptr<Node>> inputs_recorded_before(const std::shared_ptr<Node>& root,
                                                          std::uint64_t start) {
  std::vector<std::shared_ptr<Node>> inputs;
  std::unordered_set<const Node*> seen{root.get()};
  std::vector<Node*> stack{root.get()};
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    for (const auto& in : node->inputs) {
      if (!in || !seen.insert(in.get()).second) continue;
      if (in->sequence < start)
        inputs.push_back(in);
      else
        stack.push_back(in.get());
    }
  }
  return inputs;
}

ReopenTapes::ReopenTapes(const std::vector<std::shared_ptr<Node>>& nodes) {
  for (const auto& node : nodes) {
    Tape* tape = node->tape.get();
    if (std::none_of(was_open_.begin(), was_open_.end(),
                     [&](const auto& entry) { return entry.first == tape; }))
      was_open_.emplace_back(tape, tape->open);
    tape->open = true;
  }
}

ReopenTapes::~ReopenTapes() {
  for (auto [tape, open] : was_open_) tape->open = open;
}

void record(AnyTensor& out, std::initializer_list<const AnyTensor*> inputs, Pullback pullback,
            bool keep_result) {
  record_many(out, std::span<const AnyTensor* const>(inputs.begin(), inputs.size()),
              std::move(pullback), keep_result);
}

void record_many(AnyTensor& out, std::span<const AnyTensor* const> inputs, Pullback pullback,
                 bool keep_result) {
  auto node = std::make_shared<Node>();
  node->inputs.reserve(inputs.size());
  for (const AnyTensor* in : inputs) {
    if (tracked(*in)) {
      // The result belongs to the innermost open call among its operands.
      const auto& tape = in->node()->tape;
      if (!node->tape || tape->depth > node->tape->depth) node->tape = tape;
      node->inputs.push_back(in->node());
    } else {
      node->inputs.push_back(nullptr);
    }
  }
  node->pullback = std::move(pullback);
  if (keep_result) node->result = out.raw();
  out.set_node(std::move(node));
}

}  // namespace ct::detail
