// Numbering, hashing and describing a barrier's graph; the cache of programs by graph hash.
#include <sstream>

#include "cotangent/core/error.hpp"
#include "program.hpp"

namespace ct::lazy {

namespace {
/// Two 64-bit lanes of a multiply-xorshift mix: 128 bits, so that distinct graphs do not meet.
struct Hasher {
  std::uint64_t a = 0x243f6a8885a308d3ull, b = 0x13198a2e03707344ull;
  static std::uint64_t mix(std::uint64_t x) {
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ull;
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ull;
    return x ^ (x >> 32);
  }
  void add(std::uint64_t v) {
    a = mix(a ^ v) + 0x9e3779b97f4a7c15ull;
    b = mix(b + v * 0xff51afd7ed558ccdull) ^ (a >> 7);
  }
  void add(const Shape& s) {
    add(std::uint64_t(s.rank()));
    for (auto d : s) add(std::uint64_t(d));
  }
};
}  // namespace

Graph build_graph(const std::vector<NodePtr>& outputs) {
  Graph g;
  // Iterative post-order: a deep chain (a long recursion) must not overflow the stack.
  std::vector<std::pair<const Node*, std::size_t>> stack;
  for (const NodePtr& root : outputs) {
    if (g.number.contains(root.get())) continue;
    stack.push_back({root.get(), 0});
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      if (next < node->operands.size()) {
        const Node* operand = node->operands[next++].node.get();
        if (!g.number.contains(operand)) stack.push_back({operand, 0});
        continue;
      }
      if (g.number.emplace(node, int(g.nodes.size())).second) g.nodes.push_back(node);
      stack.pop_back();
    }
  }
  Hasher h;
  g.scalars.assign(g.nodes.size() * kRuntimeValues, 0);
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = *g.nodes[i];
    h.add(n.is_data ? 0xDA7Au : std::uint64_t(n.op) + 1);
    h.add(std::uint64_t(n.dtype));
    h.add(n.shape);
    if (n.is_data) {
      g.parameters.push_back(int(i));
      continue;
    }
    h.add(n.sub);
    h.add(n.ints.size());
    for (auto v : n.ints) h.add(std::uint64_t(v));
    const Window2D& w = n.window;
    for (auto v : {w.kernel_h, w.kernel_w, w.stride_h, w.stride_w, w.dilation_h, w.dilation_w,
                   w.pad_top, w.pad_left, w.out_h, w.out_w})
      h.add(std::uint64_t(v));
    for (int k = 0; k < n.runtime_count; ++k) g.scalars[i * kRuntimeValues + k] = n.runtime[k];
    h.add(n.donor ? std::uint64_t(g.number.at(n.donor)) + 1 : 0);
    for (const View& v : n.operands) {
      h.add(std::uint64_t(g.number.at(v.node.get())));
      h.add(std::uint64_t(v.dtype));
      h.add(v.shape);
      h.add(v.strides);
      h.add(std::uint64_t(v.offset));
    }
  }
  for (const NodePtr& root : outputs) {
    g.outputs.push_back(g.number.at(root.get()));
    h.add(std::uint64_t(g.outputs.back()) | (1ull << 40));
  }
  g.hash = {h.a, h.b};
  return g;
}

std::vector<std::string> describe(const Graph& g) {
  std::vector<std::string> lines;
  int parameter = 0;
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = *g.nodes[i];
    std::ostringstream line;
    if (n.is_data) {
      line << "parameter " << parameter++ << ": " << n.dtype << " " << n.shape;
      lines.push_back(line.str());
      continue;
    }
    line << "node " << i << ": " << op_name(n.op) << ' ' << n.dtype << ' ' << n.shape;
    if (n.sub) line << " sub " << int(n.sub);
    if (!n.ints.empty()) {
      line << " [";
      for (std::size_t k = 0; k < n.ints.size(); ++k) line << (k ? "," : "") << n.ints[k];
      line << ']';
    }
    if (n.op == Op::conv2d || n.op == Op::pool2d || n.window.out_h)
      line << " window " << n.window.kernel_h << 'x' << n.window.kernel_w << " stride "
           << n.window.stride_h << 'x' << n.window.stride_w;
    line << " (";
    for (std::size_t k = 0; k < n.operands.size(); ++k) {
      const View& v = n.operands[k];
      line << (k ? ", " : "") << '%' << g.number.at(v.node.get());
      if (!(v.shape == v.node->shape) || !(v.strides == contiguous_strides(v.shape)) || v.offset)
        line << ' ' << v.shape << " strides " << v.strides << " offset " << v.offset;
    }
    line << ')';
    lines.push_back(line.str());
  }
  std::ostringstream out;
  out << "outputs:";
  for (int o : g.outputs) out << " %" << o;
  lines.push_back(out.str());
  return lines;
}

std::string first_difference(const std::vector<std::string>& before,
                             const std::vector<std::string>& now) {
  if (before.empty()) return "first compile here";
  for (std::size_t i = 0; i < std::min(before.size(), now.size()); ++i) {
    if (before[i] == now[i]) continue;
    // "parameter 0: float32 [64,784]" and "...[32,784]" read as "parameter 0: ... -> ...".
    std::size_t colon = now[i].find(": ");
    std::string head = colon == std::string::npos ? "" : now[i].substr(0, colon + 2);
    if (!head.empty() && before[i].starts_with(head))
      return head + before[i].substr(head.size()) + " -> " + now[i].substr(head.size());
    return before[i] + " -> " + now[i];
  }
  return detail::format("{} lines -> {} lines", before.size(), now.size());
}

std::shared_ptr<const Program> ProgramCache::find(const Hash128& h) {
  auto it = index_.find(h);
  if (it == index_.end()) return nullptr;
  order_.splice(order_.begin(), order_, it->second);
  return it->second->second;
}

void ProgramCache::insert(const Hash128& h, std::shared_ptr<const Program> p) {
  if (auto it = index_.find(h); it != index_.end()) order_.erase(it->second);
  order_.emplace_front(h, std::move(p));
  index_[h] = order_.begin();
  if (order_.size() > kCapacity) {
    index_.erase(order_.back().first);
    order_.pop_back();
  }
}

}  // namespace ct::lazy
