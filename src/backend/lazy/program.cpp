// Building and running a program: which nodes get buffers, the generated kernels and the
// externs (the inner backend's own kernels, for GEMM, convolution and what the printer does
// not cover), and the order in which buffers can be let go.
#include <algorithm>
#include <chrono>

#include "codegen.hpp"
#include "compiler.hpp"
#include "cotangent/core/error.hpp"
#include "program.hpp"

namespace ct::lazy {

RawTensor run_node(Backend& inner, const Node& n, std::span<RawTensor> in, const double* s) {
  auto ints = [&](std::size_t from, std::size_t count) {
    return std::span<const std::int64_t>(n.ints).subspan(from, count);
  };
  auto shape_from = [&](std::size_t from) {
    return Shape(std::vector<std::int64_t>(n.ints.begin() + std::ptrdiff_t(from), n.ints.end()));
  };
  if (is_unary(n.op)) return inner.unary(UnaryOp(n.sub), in[0]);
  if (is_binary(n.op)) return inner.binary(BinaryOp(n.sub), in[0], in[1], n.shape);
  if (is_compare(n.op)) return inner.compare(CompareOp(n.sub), in[0], in[1], n.shape);
  if (is_reduce(n.op)) {
    std::vector<int> axes(n.ints.begin(), n.ints.end());
    return inner.reduce(ReduceOp(n.sub), in[0], axes);
  }
  switch (n.op) {
    case Op::fill:
      return inner.fill(n.shape, n.dtype, value_at(n, 0, s));
    case Op::iota:
      return inner.iota(n.shape, int(n.ints[0]), n.dtype);
    case Op::select:
      return inner.select(in[0], in[1], in[2], n.shape);
    case Op::cast:
      return inner.cast(in[0], n.dtype);
    case Op::contiguous:
      return inner.contiguous(in[0]);
    case Op::matmul:
      return inner.matmul(in[0], in[1], n.ints[0], n.ints[1]);
    case Op::conv2d:
      return inner.conv2d(in[0], in[1], n.window, n.ints[0]);
    case Op::conv2d_backward_input:
      return inner.conv2d_backward_input(in[0], in[1], shape_from(1), n.window, n.ints[0]);
    case Op::conv2d_backward_filter:
      return inner.conv2d_backward_filter(in[0], in[1], shape_from(1), n.window, n.ints[0]);
    case Op::pool2d:
      return inner.pool2d(PoolKind(n.sub), in[0], n.window);
    case Op::pool2d_backward:
      return inner.pool2d_backward(PoolKind(n.sub), in[0], in[1], n.window);
    case Op::max_pool2d_select:
      return inner.max_pool2d_select(in[0], in[1], n.window);
    case Op::linear:
      return inner.linear(in[0], in[1], in.size() > 2 ? &in[2] : nullptr, FusedActivation(n.sub));
    case Op::conv2d_activation:
      return inner.conv2d_activation(in[0], in[1], n.window, n.ints[0],
                                     in.size() > 2 ? &in[2] : nullptr, FusedActivation(n.sub));
    case Op::matmul_update:
      return inner.matmul_update(std::move(in[0]), value_at(n, 2, s), in[1], in[2], n.ints[0],
                                 n.ints[1], value_at(n, 4, s));
    case Op::gather:
      return inner.gather(in[0], in[1], int(n.ints[0]));
    case Op::scatter_add:
      return inner.scatter_add(in[0], in[1], int(n.ints[0]), shape_from(1));
    case Op::concatenate:
      return inner.concatenate(in, int(n.ints[0]));
    case Op::pad: {
      std::size_t rank = (n.ints.size() - 2) / 2;
      double value = value_at(n, 2 * rank, s);
      return inner.pad(in[0], ints(0, rank), ints(rank, rank), PadMode(n.sub), value);
    }
    case Op::pad_backward: {
      std::size_t rank = n.ints.size() / 2;
      return inner.pad_backward(in[0], ints(0, rank), ints(rank, rank), PadMode(n.sub));
    }
    default:
      throw Error(
          detail::format("lazy device: no way to run {} (an internal error)", op_name(n.op)));
  }
}

namespace {
/// A node's copy for an extern step: its op and attributes, and its operands' geometry only.
Node call_of(const Node& n) {
  Node call = n;
  for (View& v : call.operands) v.node.reset();
  call.data.reset();
  return call;
}
}  // namespace

std::shared_ptr<const Program> build_program(const Graph& g, bool codegen, BuildReport& report) {
  auto start = std::chrono::steady_clock::now();
  auto program = std::make_shared<Program>();
  Program& p = *program;
  std::size_t n = g.nodes.size();
  for (const Node* node : g.nodes) p.dtypes.push_back(node->dtype), p.shapes.push_back(node->shape);
  p.parameters = g.parameters;
  p.outputs = g.outputs;

  FusionPlan plan = codegen ? plan_fusion(g) : FusionPlan::unfused(g);
  if (codegen && plan.kernel_count > 0) {
    std::string source = render_cpp(g, plan);
    Compiled compiled = compile_cached(source);
    p.library = compiled.library;
    p.source_path = compiled.source_path;
    report.from_disk = !compiled.ran_compiler;
    report.compiled = compiled.ran_compiler;
  }

  std::vector<int> last_read(n, -1);
  for (std::size_t i = 0; i < n; ++i) {
    const Node& node = *g.nodes[i];
    if (node.is_data || !plan.realized[i]) continue;
    Program::Step step;
    step.node = int(i);
    std::vector<int> reads;
    if (plan.generated[i]) {
      step.kernel = reinterpret_cast<KernelFn>(p.library->symbol(kernel_name(int(i))));
      reads = plan.reads[i];
      ++p.kernels;
    } else {
      step.call = call_of(node);
      for (const View& v : node.operands) step.operand_slots.push_back(g.number.at(v.node.get()));
      reads = step.operand_slots;
      ++p.externs;
    }
    for (int r : reads) last_read[r] = int(p.steps.size());
    p.steps.push_back(std::move(step));
  }
  std::vector<bool> kept(n, false);
  for (int o : g.outputs) kept[o] = true;
  for (std::size_t s = 0; s < n; ++s)
    if (last_read[s] >= 0 && !kept[s]) p.steps[last_read[s]].release.push_back(int(s));
  // Donations: a step may take its donor's buffer when it is the donor's last reader, reads it
  // only at the element it writes, and the donor is not a result the caller keeps.
  auto identity = [&](const View& v, const Shape& shape) {
    const Node& d = *v.node;
    return v.offset == 0 && v.dtype == d.dtype && v.shape == shape && v.shape == d.shape &&
           v.strides == contiguous_strides(v.shape);
  };
  for (std::size_t k = 0; k < p.steps.size(); ++k) {
    Program::Step& step = p.steps[k];
    const Node& node = *g.nodes[step.node];
    if (!node.donor) continue;
    int d = g.number.at(node.donor);
    if (!plan.realized[d] || kept[d] || last_read[d] != int(k)) continue;
    bool in_place = false;
    if (step.kernel) {
      // The donor is operand 0, directly or scaled by an inlined multiply (update's a·y).
      const View& v = node.operands[0];
      int j = g.number.at(v.node.get());
      const View& inner_v = j == d ? v : v.node->operands.empty() ? v : v.node->operands[0];
      bool through_scale = j != d && !plan.realized[j] && v.node->op == Op::binary_multiply &&
                           inner_v.node.get() == node.donor && identity(v, node.shape);
      in_place =
          (j == d && identity(v, node.shape)) || (through_scale && identity(inner_v, node.shape));
      in_place = in_place &&
                 std::count(plan.reads[step.node].begin(), plan.reads[step.node].end(), d) == 1;
    } else {
      in_place = node.op == Op::matmul_update && identity(node.operands[0], node.shape);
    }
    if (in_place) step.donated = d;
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return program;
}

std::vector<std::shared_ptr<Storage>> Program::run(Backend& inner, const Graph& g,
                                                   std::int64_t& donations) const {
  std::size_t n = g.nodes.size();
  CT_CHECK(n == dtypes.size(), "lazy device: a program of {} nodes run on a graph of {}",
           dtypes.size(), n);
  // Each slot holds a contiguous buffer (possibly at an offset into its storage).
  std::vector<RawTensor> slots(n);
  std::vector<void*> address(n, nullptr);
  for (int i : parameters) {
    const Node& data = *g.nodes[i];
    CT_CHECK(data.data != nullptr,
             "lazy device: a value this program needs was handed to an earlier program that "
             "failed (see the error it raised)");
    slots[i] = contiguous_view(data.data, {std::int64_t(data.data->nbytes())}, DType::boolean);
    address[i] = data.data->address();
  }
  for (const Step& step : steps) {
    int i = step.node;
    // Whether the donor's buffer is free to take: held by its slot alone (and by its data
    // node, whose tensor is gone: the caller handed over the only reference).
    auto free_to_take = [&](int d) {
      const RawTensor& slot = slots[d];
      const Node& donor = *g.nodes[d];
      if (!slot.storage || slot.offset != 0) return false;
      if (slot.storage.use_count() != (donor.is_data ? 2 : 1)) return false;
      if (donor.is_data) donor.data.reset();
      return true;
    };
    bool take = step.donated >= 0 && free_to_take(step.donated);
    if (step.kernel) {
      if (take) {
        slots[i] = contiguous_view(slots[step.donated].storage, shapes[i], dtypes[i]);
        ++donations;
      } else {
        slots[i] = inner.empty(shapes[i], dtypes[i]);
      }
      address[i] = slots[i].storage->address();
      step.kernel(address.data(), g.scalars.data());
    } else {
      std::vector<RawTensor> operands;
      operands.reserve(step.operand_slots.size());
      for (std::size_t k = 0; k < step.operand_slots.size(); ++k) {
        const RawTensor& slot = slots[step.operand_slots[k]];
        const View& v = step.call.operands[k];
        RawTensor t;
        t.storage = slot.storage;
        t.device = inner.device();
        t.dtype = v.dtype;
        t.shape = v.shape;
        t.strides = v.strides;
        t.offset =
            slot.offset * std::int64_t(dtype_size(slot.dtype)) / std::int64_t(dtype_size(v.dtype)) +
            v.offset;
        if (k == 0 && take) {
          t.storage = nullptr;
          slots[step.operand_slots[0]].storage.swap(t.storage);  // the only reference now
          ++donations;
        }
        operands.push_back(std::move(t));
      }
      RawTensor r = run_node(inner, step.call, operands, &g.scalars[i * kRuntimeValues]);
      CT_CHECK(r.shape == shapes[i] && r.dtype == dtypes[i],
               "lazy device: {} gave {} {} where the trace expected {} {} (an internal error)",
               op_name(step.call.op), r.dtype, r.shape, dtypes[i], shapes[i]);
      if (!r.is_contiguous()) r = inner.contiguous(r);
      address[i] = r.count() ? r.data() : r.storage->address();
      slots[i] = std::move(r);
    }
    for (int s : step.release) slots[s] = {}, address[s] = nullptr;
  }
  std::vector<std::shared_ptr<Storage>> results;
  for (int o : outputs) {
    RawTensor& r = slots[o];
    bool whole = r.offset == 0 && r.storage->nbytes() == storage_bytes(r.shape, r.dtype);
    results.push_back(whole ? r.storage : inner.contiguous(r).storage);
  }
  return results;
}

}  // namespace ct::lazy
