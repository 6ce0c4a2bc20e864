#pragma once
// From a barrier's live tensors to a run: the graph (numbered, hashed), the program compiled
// for it (kernels generated from the Op table's rows, externs into the inner backend), and the
// cache of programs by graph hash.
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir.hpp"

namespace ct::lazy {

struct Hash128 {
  std::uint64_t lo = 0, hi = 0;
  friend bool operator==(const Hash128&, const Hash128&) = default;
};
struct Hash128Of {
  std::size_t operator()(const Hash128& h) const { return std::size_t(h.lo ^ (h.hi * 31)); }
};

/// A barrier's graph: every node reachable from the live pending tensors, numbered in
/// post-order (operands first). Its hash covers ops, dtypes, shapes, attributes, views and
/// operand numbers (so f(a, a) and f(a, b) differ), never data, addresses or runtime scalars.
struct Graph {
  std::vector<const Node*> nodes;
  std::unordered_map<const Node*, int> number;
  std::vector<int> outputs;     // the live tensors' nodes, in the order they were made
  std::vector<int> parameters;  // the data nodes
  std::vector<double> scalars;  // kRuntimeValues per node: its runtime values
  Hash128 hash;
};
Graph build_graph(const std::vector<NodePtr>& outputs);
/// One line per node and one for the outputs, as in the dumps: `%4 = binary_add float32 [64,10]
/// (%2, %3 [10] strides [0,1])`.
std::vector<std::string> describe(const Graph& g);
/// What changed between two descriptions: the first differing parameter or node, in words.
std::string first_difference(const std::vector<std::string>& before,
                             const std::vector<std::string>& now);

using KernelFn = void (*)(void* const* buffers, const double* scalars);
class Library;

/// Steps over buffer slots (one per graph node: data nodes bound, the rest filled as it runs).
class Program {
 public:
  struct Step {
    int node = 0;                    // whose buffer the step fills
    KernelFn kernel = nullptr;       // a generated kernel, or else
    Node call;                       // an extern: the node's op and attributes (operand views
    std::vector<int> operand_slots;  // keep their geometry; their nodes are not kept)
    std::vector<int> release;        // slots no later step reads
    /// The slot whose buffer this step may write its result into (-1: none): its node's
    /// donor, when this step is its last reader and nothing else holds the buffer.
    int donated = -1;
  };
  std::vector<Step> steps;
  std::vector<int> parameters, outputs;
  std::vector<DType> dtypes;
  std::vector<Shape> shapes;
  std::shared_ptr<Library> library;  // keeps the kernels loaded
  std::string source_path;           // of the generated C++ (empty without codegen)
  std::int64_t kernels = 0, externs = 0;

  /// Runs on `inner` with the graph's parameters and scalars; returns each output's buffer and
  /// adds to `donations` the results written into a donor's buffer.
  std::vector<std::shared_ptr<Storage>> run(Backend& inner, const Graph& g,
                                            std::int64_t& donations) const;
};

/// How a program was made, for the metrics.
struct BuildReport {
  bool from_disk = false;
  bool compiled = false;  // the system compiler ran
  double seconds = 0;
};
/// Plans fusion, renders and compiles (or loads from the disk cache) the program of `g`; with
/// `codegen` false every node is an extern (no compiler needed).
std::shared_ptr<const Program> build_program(const Graph& g, bool codegen, BuildReport& report);

/// Programs by graph hash, least recently used dropped past 1024 (X10's cache size).
class ProgramCache {
 public:
  std::shared_ptr<const Program> find(const Hash128& h);
  void insert(const Hash128& h, std::shared_ptr<const Program> p);
  /// The description of the last graph compiled at `site` (empty if none).
  std::vector<std::string>& last_graph(const std::string& site) { return last_[site]; }

 private:
  static constexpr std::size_t kCapacity = 1024;
  std::list<std::pair<Hash128, std::shared_ptr<const Program>>> order_;
  std::unordered_map<Hash128, decltype(order_)::iterator, Hash128Of> index_;
  std::unordered_map<std::string, std::vector<std::string>> last_;
};

/// Runs one node on the inner backend: an extern step, or every step without codegen.
RawTensor run_node(Backend& inner, const Node& node, std::span<RawTensor> operands,
                   const double* runtime_values);

// ---- Op families of the Op table ---------------------------------------------------------------
constexpr bool is_unary(Op op) { return op < Op::binary_add; }
constexpr bool is_binary(Op op) { return op >= Op::binary_add && op < Op::compare_equal; }
constexpr bool is_compare(Op op) { return op >= Op::compare_equal && op < Op::fill; }
constexpr bool is_reduce(Op op) { return op >= Op::reduce_sum && op <= Op::reduce_argmin; }
/// Ops the C++ printer renders as loops; every other op is an extern.
constexpr bool is_generated(Op op) {
  return op < Op::fill || op == Op::fill || op == Op::iota || op == Op::select || op == Op::cast ||
         op == Op::contiguous || is_reduce(op);
}

}  // namespace ct::lazy
