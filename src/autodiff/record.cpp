#include "cotangent/autodiff/node.hpp"

namespace ct::detail {

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
