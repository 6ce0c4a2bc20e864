// Recording ops as nodes, and the barrier that turns the live ones into one program run.
#include "lazy_backend.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "codegen.hpp"
#include "compiler.hpp"
#include "cotangent/backend/lazy.hpp"
#include "cotangent/core/error.hpp"
#include "cotangent/core/files.hpp"

namespace ct {
namespace lazy {

namespace {
/// Past this many nodes recorded without a barrier, one runs by itself (LTC's graph size
/// guard): a loop that never calls a barrier must not grow a graph without bound.
std::atomic<std::int64_t> max_pending_nodes{100'000};

bool flag(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::string_view(v) != "0";
}

struct MetricsState {
  std::mutex mutex;
  Metrics m;
  std::map<std::string, std::int64_t> sites;
  std::map<Op, std::int64_t> externs;
};
MetricsState& state() {
  static MetricsState s;
  return s;
}

thread_local std::string host_read_site;
// Counted apart from the other metrics: every recorded op adds one, without a lock.
std::atomic<std::int64_t> traced_op_count{0};

NodePtr data_node(std::shared_ptr<Storage> data, DType dtype, const Shape& shape) {
  auto n = std::make_shared<Node>();
  n->is_data = true;
  n->dtype = dtype;
  n->shape = shape;
  n->data = std::move(data);
  return n;
}

// The domain column of elementwise.def, checked when an op is recorded rather than when the
// program would fail to compile.
bool in_domain(std::string_view domain, DType d) {
  if (domain == "numeric") return d != DType::boolean;
  if (domain == "floating") return is_floating(d);
  if (domain == "boolean") return d == DType::boolean;
  return true;
}
constexpr std::string_view kUnaryDomains[] = {
#define CT_UNARY(name, domain, ...) #domain,
#include "cotangent/backend/elementwise.def"
#undef CT_UNARY
};
constexpr std::string_view kBinaryDomains[] = {
#define CT_BINARY(name, domain, ...) #domain,
#include "cotangent/backend/elementwise.def"
#undef CT_BINARY
};
constexpr std::string_view kCompareDomains[] = {
#define CT_COMPARE(name, domain, ...) #domain,
#include "cotangent/backend/elementwise.def"
#undef CT_COMPARE
};

/// Seconds with millisecond digits: "0.042".
std::string seconds(double s) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", s);
  return text;
}

std::string site_name(const std::source_location& site) {
  std::string_view file = site.file_name();
  if (auto slash = file.rfind('/'); slash != std::string_view::npos) file.remove_prefix(slash + 1);
  return detail::format("{}:{}", file, site.line());
}
}  // namespace

void* LazyStorage::address() const {
  std::lock_guard lock(mutex_);
  return node_->is_data && node_->data ? node_->data->address() : nullptr;
}
NodePtr LazyStorage::node() const {
  std::lock_guard lock(mutex_);
  return node_;
}
void LazyStorage::set_node(NodePtr node) {
  std::lock_guard lock(mutex_);
  node_ = std::move(node);
}
std::string LazyStorage::failure() const {
  std::lock_guard lock(mutex_);
  return failure_;
}
void LazyStorage::set_failure(std::string why) {
  std::lock_guard lock(mutex_);
  failure_ = std::move(why);
}

LazyBackend::LazyBackend(Device device, Backend& inner) : Backend(device), inner_(inner) {}

// ---- Memory ------------------------------------------------------------------------------------

std::shared_ptr<Storage> LazyBackend::allocate(std::size_t nbytes) {
  std::shared_ptr<Storage> data = inner_.allocate(nbytes);
  return std::make_shared<LazyStorage>(
      device(), nbytes, data_node(std::move(data), DType::boolean, Shape{std::int64_t(nbytes)}));
}

void LazyBackend::write(const RawTensor& dst, const void* host) {
  auto& storage = static_cast<LazyStorage&>(*dst.storage);
  NodePtr node = storage.node();
  CT_CHECK(node->is_data, "lazy device: write into a tensor that is not computed yet");
  inner_.write(inner_view(dst), host);
  // An upload of the whole buffer names its dtype and shape: graphs and their dumps say
  // "parameter 0: float32 [64,784]" rather than a byte count.
  if (dst.owns_whole_storage() || dst.storage->nbytes() == storage_bytes(dst.shape, dst.dtype))
    storage.set_node(data_node(node->data, dst.dtype, dst.shape));
}

void LazyBackend::read(const RawTensor& src, void* host) {
  std::string site = std::exchange(host_read_site, std::string());
  auto& storage = static_cast<LazyStorage&>(*src.storage);
  if (!storage.node()->is_data && storage.failure().empty())
    barrier(false, site.empty() ? "host read" : site);
  CT_CHECK(storage.failure().empty(), "lazy device: this tensor was not computed: {}",
           storage.failure());
  inner_.read(inner_view(src), host);
}

RawTensor LazyBackend::inner_view(const RawTensor& x) const {
  NodePtr node = static_cast<LazyStorage&>(*x.storage).node();
  RawTensor t = x;
  t.storage = node->data;
  t.device = inner_.device();
  return t;
}

// ---- Recording ---------------------------------------------------------------------------------

View LazyBackend::view_of(const RawTensor& x) const {
  CT_CHECK_AS(DeviceError, x.device == device(), "lazy device {}: operand on {}", device(),
              x.device);
  return {static_cast<LazyStorage&>(*x.storage).node(), x.dtype, x.shape, x.strides, x.offset};
}

RawTensor LazyBackend::record(Node node) {
  Shape shape = node.shape;
  DType dtype = node.dtype;
  std::size_t nbytes = storage_bytes(shape, dtype);
  auto storage = std::make_shared<LazyStorage>(device(), nbytes,
                                               std::make_shared<const Node>(std::move(node)));
  {
    std::lock_guard lock(mutex_);
    live_.push_back(storage);
    if (++recorded_since_barrier_ >= max_pending_nodes.load(std::memory_order_relaxed))
      barrier_locked(false, "graph size guard");
  }
  traced_op_count.fetch_add(1, std::memory_order_relaxed);
  return contiguous_view(std::move(storage), shape, dtype);
}

namespace {
Node op_node(Op op, DType dtype, const Shape& shape, std::initializer_list<View> operands = {}) {
  Node n;
  n.op = op;
  n.dtype = dtype;
  n.shape = shape;
  n.operands = operands;
  return n;
}
/// Appends a value to n.ints: baked in when it is 0 or ±1 (so it can fold), else read at run
/// time (see Node::runtime).
void add_value(Node& n, double value) {
  if (value == 0 || value == 1 || value == -1) {
    n.ints.push_back(1);
    n.ints.push_back(std::int64_t(value));
  } else {
    n.ints.push_back(0);
    n.ints.push_back(n.runtime_count);
    n.runtime[std::size_t(n.runtime_count++)] = value;
  }
}
}  // namespace

RawTensor LazyBackend::fill(const Shape& shape, DType dtype, double value) {
  Node n = op_node(Op::fill, dtype, shape);
  add_value(n, value);
  return record(std::move(n));
}

RawTensor LazyBackend::iota(const Shape& shape, int axis, DType dtype) {
  CT_CHECK_AS(DTypeError, dtype != DType::boolean, "iota: unsupported dtype {}", dtype);
  CT_CHECK(axis >= 0 && axis < shape.rank(), "iota: axis {} out of range for {}", axis, shape);
  Node n = op_node(Op::iota, dtype, shape);
  n.ints = {axis};
  return record(std::move(n));
}

RawTensor LazyBackend::unary(UnaryOp op, const RawTensor& x) {
  CT_CHECK_AS(DTypeError, in_domain(kUnaryDomains[int(op)], x.dtype), "{}: unsupported dtype {}",
              op_name(op_of(op)).substr(6), x.dtype);
  Node n = op_node(op_of(op), x.dtype, x.shape, {view_of(x)});
  n.sub = std::uint8_t(op);
  return record(std::move(n));
}

RawTensor LazyBackend::binary(BinaryOp op, const RawTensor& a, const RawTensor& b,
                              const Shape& out_shape) {
  CT_CHECK_AS(DTypeError, a.dtype == b.dtype, "binary op: dtypes differ: {} and {}", a.dtype,
              b.dtype);
  CT_CHECK_AS(DTypeError, in_domain(kBinaryDomains[int(op)], a.dtype), "{}: unsupported dtype {}",
              op_name(op_of(op)).substr(7), a.dtype);
  Node n = op_node(op_of(op), a.dtype, out_shape, {view_of(a), view_of(b)});
  n.sub = std::uint8_t(op);
  return record(std::move(n));
}

RawTensor LazyBackend::compare(CompareOp op, const RawTensor& a, const RawTensor& b,
                               const Shape& out_shape) {
  CT_CHECK_AS(DTypeError, a.dtype == b.dtype, "comparison: dtypes differ: {} and {}", a.dtype,
              b.dtype);
  CT_CHECK_AS(DTypeError, in_domain(kCompareDomains[int(op)], a.dtype), "{}: unsupported dtype {}",
              op_name(op_of(op)).substr(8), a.dtype);
  Node n = op_node(op_of(op), DType::boolean, out_shape, {view_of(a), view_of(b)});
  n.sub = std::uint8_t(op);
  return record(std::move(n));
}

RawTensor LazyBackend::select(const RawTensor& c, const RawTensor& a, const RawTensor& b,
                              const Shape& out_shape) {
  CT_CHECK_AS(DTypeError, c.dtype == DType::boolean, "where: condition must be bool, got {}",
              c.dtype);
  CT_CHECK_AS(DTypeError, a.dtype == b.dtype, "where: dtypes differ: {} and {}", a.dtype, b.dtype);
  return record(op_node(Op::select, a.dtype, out_shape, {view_of(c), view_of(a), view_of(b)}));
}

RawTensor LazyBackend::cast(const RawTensor& x, DType dtype) {
  return record(op_node(Op::cast, dtype, x.shape, {view_of(x)}));
}

RawTensor LazyBackend::contiguous(const RawTensor& x) {
  return record(op_node(Op::contiguous, x.dtype, x.shape, {view_of(x)}));
}

RawTensor LazyBackend::reduce(ReduceOp op, const RawTensor& x, std::span<const int> axes) {
  bool is_arg = op == ReduceOp::argmax || op == ReduceOp::argmin;
  bool is_logic = op == ReduceOp::any || op == ReduceOp::all;
  CT_CHECK_AS(DTypeError,
              is_logic == (x.dtype == DType::boolean) || op == ReduceOp::max || op == ReduceOp::min,
              "reduce: {} does not take dtype {}", is_logic ? "any/all" : "this reduction",
              x.dtype);
  Shape kept = x.shape;
  for (int a : axes) {
    CT_CHECK(a >= 0 && a < x.rank(), "reduce: axis {} out of range for {}", a, x.shape);
    kept[a] = 1;
  }
  Node n = op_node(op_of(op), is_arg ? DType::int64 : x.dtype, kept, {view_of(x)});
  n.sub = std::uint8_t(op);
  n.ints.assign(axes.begin(), axes.end());
  return record(std::move(n));
}

RawTensor LazyBackend::matmul(const RawTensor& a, const RawTensor& b, bool ta, bool tb) {
  CT_CHECK_AS(DTypeError, a.dtype == b.dtype && a.dtype != DType::boolean,
              "matmul: unsupported dtypes {} and {}", a.dtype, b.dtype);
  CT_CHECK(a.rank() >= 2 && b.rank() >= 2, "matmul: needs matrices, got {} and {}", a.shape,
           b.shape);
  int ra = a.rank(), rb = b.rank();
  std::int64_t m = a.shape[ta ? ra - 1 : ra - 2], k = a.shape[ta ? ra - 2 : ra - 1];
  std::int64_t kb = b.shape[tb ? rb - 1 : rb - 2], nn = b.shape[tb ? rb - 2 : rb - 1];
  CT_CHECK(k == kb, "matmul: inner dimensions differ: {} and {}", a.shape, b.shape);
  Shape batch_a, batch_b;
  for (int i = 0; i < ra - 2; ++i) batch_a.push_back(a.shape[i]);
  for (int i = 0; i < rb - 2; ++i) batch_b.push_back(b.shape[i]);
  Shape shape = broadcast_shapes(batch_a, batch_b, "matmul");
  shape.push_back(m);
  shape.push_back(nn);
  Node n = op_node(Op::matmul, a.dtype, shape, {view_of(a), view_of(b)});
  n.ints = {ta, tb};
  return record(std::move(n));
}

RawTensor LazyBackend::conv2d(const RawTensor& input, const RawTensor& filter, const Window2D& w,
                              bool depthwise) {
  CT_CHECK(input.rank() == 4 && filter.rank() == 4, "conv2d: input {} and filter {}", input.shape,
           filter.shape);
  std::int64_t channels = depthwise ? filter.shape[2] * filter.shape[3] : filter.shape[3];
  Node n = op_node(Op::conv2d, input.dtype, {input.shape[0], w.out_h, w.out_w, channels},
                   {view_of(input), view_of(filter)});
  n.window = w;
  n.ints = {depthwise};
  return record(std::move(n));
}

RawTensor LazyBackend::conv2d_backward_input(const RawTensor& dy, const RawTensor& filter,
                                             const Shape& input_shape, const Window2D& w,
                                             bool depthwise) {
  Node n =
      op_node(Op::conv2d_backward_input, dy.dtype, input_shape, {view_of(dy), view_of(filter)});
  n.window = w;
  n.ints = {depthwise};
  n.ints.insert(n.ints.end(), input_shape.begin(), input_shape.end());
  return record(std::move(n));
}

RawTensor LazyBackend::conv2d_backward_filter(const RawTensor& input, const RawTensor& dy,
                                              const Shape& filter_shape, const Window2D& w,
                                              bool depthwise) {
  Node n =
      op_node(Op::conv2d_backward_filter, dy.dtype, filter_shape, {view_of(input), view_of(dy)});
  n.window = w;
  n.ints = {depthwise};
  n.ints.insert(n.ints.end(), filter_shape.begin(), filter_shape.end());
  return record(std::move(n));
}

RawTensor LazyBackend::pool2d(PoolKind kind, const RawTensor& input, const Window2D& w) {
  CT_CHECK(input.rank() == 4, "pool2d: input {} is not [N, H, W, C]", input.shape);
  Node n = op_node(Op::pool2d, input.dtype, {input.shape[0], w.out_h, w.out_w, input.shape[3]},
                   {view_of(input)});
  n.sub = std::uint8_t(kind);
  n.window = w;
  return record(std::move(n));
}

RawTensor LazyBackend::pool2d_backward(PoolKind kind, const RawTensor& input, const RawTensor& dy,
                                       const Window2D& w) {
  Node n = op_node(Op::pool2d_backward, dy.dtype, input.shape, {view_of(input), view_of(dy)});
  n.sub = std::uint8_t(kind);
  n.window = w;
  return record(std::move(n));
}

RawTensor LazyBackend::max_pool2d_select(const RawTensor& input, const RawTensor& values,
                                         const Window2D& w) {
  CT_CHECK(input.rank() == 4, "max_pool2d_select: input {} is not [N, H, W, C]", input.shape);
  Node n = op_node(Op::max_pool2d_select, values.dtype,
                   {input.shape[0], w.out_h, w.out_w, input.shape[3]},
                   {view_of(input), view_of(values)});
  n.window = w;
  return record(std::move(n));
}

RawTensor LazyBackend::gather(const RawTensor& x, const RawTensor& indices, int axis) {
  CT_CHECK_AS(DTypeError, indices.dtype == DType::int32 || indices.dtype == DType::int64,
              "gather: indices must be int32 or int64, got {}", indices.dtype);
  Shape shape;
  for (int i = 0; i < axis; ++i) shape.push_back(x.shape[i]);
  for (auto d : indices.shape) shape.push_back(d);
  for (int i = axis + 1; i < x.rank(); ++i) shape.push_back(x.shape[i]);
  Node n = op_node(Op::gather, x.dtype, shape, {view_of(x), view_of(indices)});
  n.ints = {axis};
  return record(std::move(n));
}

RawTensor LazyBackend::scatter_add(const RawTensor& updates, const RawTensor& indices, int axis,
                                   const Shape& shape) {
  CT_CHECK_AS(DTypeError, updates.dtype != DType::boolean, "scatter_add: unsupported dtype bool");
  Node n = op_node(Op::scatter_add, updates.dtype, shape, {view_of(updates), view_of(indices)});
  n.ints = {axis};
  n.ints.insert(n.ints.end(), shape.begin(), shape.end());
  return record(std::move(n));
}

RawTensor LazyBackend::concatenate(std::span<const RawTensor> parts, int axis) {
  CT_CHECK(!parts.empty(), "concatenate: no tensors");
  Shape shape = parts[0].shape;
  shape[axis] = 0;
  Node n = op_node(Op::concatenate, parts[0].dtype, {});
  for (const RawTensor& p : parts) {
    CT_CHECK_AS(DTypeError, p.dtype == parts[0].dtype, "concatenate: dtypes differ: {} and {}",
                p.dtype, parts[0].dtype);
    shape[axis] += p.shape[axis];
    n.operands.push_back(view_of(p));
  }
  n.shape = shape;
  n.ints = {axis};
  return record(std::move(n));
}

RawTensor LazyBackend::pad(const RawTensor& x, std::span<const std::int64_t> before,
                           std::span<const std::int64_t> after, PadMode mode, double value) {
  Shape shape = x.shape;
  for (int i = 0; i < x.rank(); ++i) shape[i] += before[i] + after[i];
  Node n = op_node(Op::pad, x.dtype, shape, {view_of(x)});
  n.sub = std::uint8_t(mode);
  n.ints.assign(before.begin(), before.end());
  n.ints.insert(n.ints.end(), after.begin(), after.end());
  add_value(n, value);  // last, after the pads
  return record(std::move(n));
}

RawTensor LazyBackend::pad_backward(const RawTensor& dy, std::span<const std::int64_t> before,
                                    std::span<const std::int64_t> after, PadMode mode) {
  CT_CHECK_AS(DTypeError, is_floating(dy.dtype), "padded: gradient of dtype {}", dy.dtype);
  Shape shape = dy.shape;
  for (int i = 0; i < dy.rank(); ++i) shape[i] -= before[i] + after[i];
  Node n = op_node(Op::pad_backward, dy.dtype, shape, {view_of(dy)});
  n.sub = std::uint8_t(mode);
  n.ints.assign(before.begin(), before.end());
  n.ints.insert(n.ints.end(), after.begin(), after.end());
  return record(std::move(n));
}

RawTensor LazyBackend::linear(const RawTensor& x, const RawTensor& w, const RawTensor* bias,
                              FusedActivation activation) {
  CT_CHECK(x.rank() == 2 && w.rank() == 2 && x.shape[1] == w.shape[0],
           "linear: {} · {} needs [M, K] · [K, N]", x.shape, w.shape);
  Node n = op_node(Op::linear, x.dtype, {x.shape[0], w.shape[1]}, {view_of(x), view_of(w)});
  if (bias) n.operands.push_back(view_of(*bias));
  n.sub = std::uint8_t(activation);
  return record(std::move(n));
}

RawTensor LazyBackend::conv2d_activation(const RawTensor& input, const RawTensor& filter,
                                         const Window2D& w, bool depthwise, const RawTensor* bias,
                                         FusedActivation activation) {
  CT_CHECK(input.rank() == 4 && filter.rank() == 4, "conv2d: input {} and filter {}", input.shape,
           filter.shape);
  std::int64_t channels = depthwise ? filter.shape[2] * filter.shape[3] : filter.shape[3];
  Node n = op_node(Op::conv2d_activation, input.dtype, {input.shape[0], w.out_h, w.out_w, channels},
                   {view_of(input), view_of(filter)});
  if (bias) n.operands.push_back(view_of(*bias));
  n.sub = std::uint8_t(activation);
  n.window = w;
  n.ints = {depthwise};
  return record(std::move(n));
}

RawTensor LazyBackend::update(RawTensor&& y, double a, const RawTensor& x, double b) {
  CT_CHECK(y.shape == x.shape && y.dtype == x.dtype, "update: {} {} and {} {} do not match",
           y.shape, y.dtype, x.shape, x.dtype);
  CT_CHECK_AS(DTypeError, y.dtype != DType::boolean, "update: unsupported dtype {}", y.dtype);
  bool donates = y.owns_whole_storage();
  // a·y + b·x as nodes that only the result refers to: they inline into one kernel.
  auto scaled = [&](View v, double factor) {
    if (factor == 1) return v;
    Node f = op_node(Op::fill, v.dtype, {});
    add_value(f, factor);
    View constant{std::make_shared<const Node>(std::move(f)), v.dtype, {}, {}, 0};
    Node m = op_node(Op::binary_multiply, v.dtype, v.shape, {v, constant});
    m.sub = std::uint8_t(BinaryOp::multiply);
    return whole(std::make_shared<const Node>(std::move(m)));
  };
  View vy = view_of(y), vx = view_of(x);
  if (a == 0) {
    View only = scaled(vx, b);
    return record(op_node(Op::contiguous, x.dtype, x.shape, {only}));
  }
  Node n = op_node(Op::binary_add, y.dtype, y.shape, {scaled(vy, a), scaled(vx, b)});
  n.sub = std::uint8_t(BinaryOp::add);
  if (donates) n.donor = vy.node.get();
  return record(std::move(n));
}

RawTensor LazyBackend::matmul_update(RawTensor&& y, double a, const RawTensor& lhs,
                                     const RawTensor& rhs, bool transpose_lhs, bool transpose_rhs,
                                     double b) {
  CT_CHECK(y.rank() == 2 && lhs.rank() == 2 && rhs.rank() == 2,
           "matmul_update: {} += {} · {} needs matrices", y.shape, lhs.shape, rhs.shape);
  bool donates = y.owns_whole_storage();
  Node n = op_node(Op::matmul_update, y.dtype, y.shape, {view_of(y), view_of(lhs), view_of(rhs)});
  n.ints = {transpose_lhs, transpose_rhs};
  add_value(n, a);
  add_value(n, b);
  if (donates) n.donor = n.operands[0].node.get();
  return record(std::move(n));
}

// ---- The barrier -------------------------------------------------------------------------------

void LazyBackend::barrier(bool is_explicit, const std::string& site) {
  std::lock_guard lock(mutex_);
  barrier_locked(is_explicit, site);
}

void LazyBackend::clear_program_cache() {
  std::lock_guard lock(mutex_);
  cache_ = {};
}

void LazyBackend::barrier_locked(bool is_explicit, const std::string& site) {
  std::vector<std::shared_ptr<LazyStorage>> pending;
  std::vector<NodePtr> roots;
  for (const auto& weak : live_)
    if (auto s = weak.lock())
      if (NodePtr node = s->node(); !node->is_data) {
        pending.push_back(std::move(s));
        roots.push_back(std::move(node));
      }
  live_.clear();
  recorded_since_barrier_ = 0;
  {
    std::lock_guard lock(state().mutex);
    if (is_explicit) {
      ++state().m.explicit_barriers;
    } else if (!pending.empty()) {
      ++state().m.implicit_barriers;
      ++state().sites[site];
    }
  }
  if (pending.empty()) return;
  // On failure the tensors stay pending, so that what needs them fails the same way.
  // Before the program runs (a compile error, CT_ASSERT_NO_COMPILE) nothing has happened: the
  // tensors stay pending, for the next barrier to try again. A program that fails while it runs
  // leaves its tensors uncomputed, remembering why: reading one raises that error again, and
  // later barriers go on without them.
  bool running = false;
  std::int64_t donations = 0;
  auto fail = [&](const std::string& why) {
    for (const auto& s : pending) {
      if (running)
        s->set_failure(why);
      else
        live_.push_back(s);
    }
  };
  try {
    Graph g = build_graph(roots);
    std::shared_ptr<const Program> program = cache_.find(g.hash);
    if (program) {
      std::lock_guard lock(state().mutex);
      ++state().m.memory_cache_hits;
    } else {
      std::vector<std::string> lines = describe(g);
      std::vector<std::string>& last = cache_.last_graph(site);
      std::string reason = first_difference(last, lines);
      if (flag("CT_ASSERT_NO_COMPILE"))
        throw Error(detail::format(
            "lazy device: a compile at {} while CT_ASSERT_NO_COMPILE=1 forbids one ({})", site,
            reason));
      bool codegen = std::getenv("CT_LAZY_CODEGEN") == nullptr ||
                     std::string_view(std::getenv("CT_LAZY_CODEGEN")) != "0";
      if (codegen && !compiler_available()) {
        static bool warned = false;
        if (!std::exchange(warned, true))
          std::cerr << "cotangent: the lazy device found no C++ compiler (set CT_LAZY_CXX); it "
                       "runs each graph node by node on the eager kernels instead\n";
        codegen = false;
      }
      BuildReport report;
      program = build_program(g, codegen, report);
      last = std::move(lines);
      cache_.insert(g.hash, program);
      CompileRecord record{site,
                           reason,
                           report.seconds,
                           report.from_disk,
                           std::int64_t(g.nodes.size()),
                           program->kernels,
                           program->externs};
      if (flag("CT_LAZY_LOG"))
        std::cerr << detail::format(
            "cotangent lazy: compiled {} nodes into {} kernels and {} externs in {} s{} at {} "
            "({})\n",
            record.nodes, record.kernels, record.externs, seconds(record.seconds),
            record.from_disk ? " (disk cache)" : "", site, reason);
      if (const char* dump = std::getenv("CT_LAZY_DUMP"); dump && *dump) {
        std::string text;
        for (const std::string& line : last) text += line + "\n";
        char name[48];
        std::snprintf(name, sizeof name, "graph-%016llx%016llx", (unsigned long long)g.hash.hi,
                      (unsigned long long)g.hash.lo);
        write_file_atomically(std::filesystem::path(dump) / (std::string(name) + ".txt"),
                              text.data(), text.size());
        if (!program->source_path.empty()) {
          auto source = read_bytes(program->source_path);
          write_file_atomically(std::filesystem::path(dump) / (std::string(name) + ".cpp"),
                                source.data(), source.size());
        }
      }
      std::lock_guard lock(state().mutex);
      ++state().m.memory_cache_misses;
      if (report.compiled) ++state().m.disk_cache_misses;
      if (report.from_disk && program->kernels) ++state().m.disk_cache_hits;
      state().m.compile_seconds += report.seconds;
      state().m.compiles.push_back(std::move(record));
    }
    auto start = std::chrono::steady_clock::now();
    running = true;
    std::vector<std::shared_ptr<Storage>> results = program->run(inner_, g, donations);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (std::size_t k = 0; k < pending.size(); ++k)
      pending[k]->set_node(data_node(std::move(results[k]), roots[k]->dtype, roots[k]->shape));
    std::lock_guard lock(state().mutex);
    state().m.execute_seconds += seconds;
    state().m.kernels_run += program->kernels;
    state().m.in_place_results += donations;
    for (const Program::Step& step : program->steps)
      if (!step.kernel) ++state().externs[step.call.op];
  } catch (const std::exception& e) {
    fail(e.what());
    throw;
  } catch (...) {
    fail("an unknown error");
    throw;
  }
}

// ---- Metrics
// -------------------------------------------------------------------------------------

void set_max_pending_nodes(std::int64_t nodes) {
  CT_CHECK_AS(ValueError, nodes >= 1, "set_max_pending_nodes: {} nodes; at least 1 is needed",
              nodes);
  max_pending_nodes.store(nodes);
}

void clear_program_cache() {
  auto* lazy = dynamic_cast<LazyBackend*>(&backend_for(Device::default_lazy()));
  if (lazy) lazy->clear_program_cache();
}

Metrics metrics() {
  std::lock_guard lock(state().mutex);
  Metrics m = state().m;
  m.traced_ops = traced_op_count.load(std::memory_order_relaxed);
  m.implicit_barrier_sites.assign(state().sites.begin(), state().sites.end());
  m.externs.assign(state().externs.begin(), state().externs.end());
  m.fallbacks = fallback_counts();
  return m;
}

void reset_metrics() {
  std::lock_guard lock(state().mutex);
  traced_op_count.store(0);
  state().m = {};
  state().sites.clear();
  state().externs.clear();
}

std::string metrics_summary() {
  Metrics m = metrics();
  return detail::format(
      "lazy device: {} traced ops, {} compiles ({} from the disk cache, {} compiled), {} cache "
      "hits, {} explicit and {} implicit barriers, compile {} s, execute {} s",
      m.traced_ops, m.memory_cache_misses, m.disk_cache_hits, m.disk_cache_misses,
      m.memory_cache_hits, m.explicit_barriers, m.implicit_barriers, seconds(m.compile_seconds),
      seconds(m.execute_seconds));
}

std::string metrics_report() {
  Metrics m = metrics();
  std::ostringstream out;
  out << "TracedOps: " << m.traced_ops << "\nExplicitBarriers: " << m.explicit_barriers
      << "\nImplicitBarriers: " << m.implicit_barriers << "\n";
  for (const auto& [site, n] : m.implicit_barrier_sites) out << "  " << site << ": " << n << "\n";
  out << "MemoryCacheHits: " << m.memory_cache_hits
      << "\nMemoryCacheMisses: " << m.memory_cache_misses
      << "\nDiskCacheHits: " << m.disk_cache_hits << "\nDiskCacheMisses: " << m.disk_cache_misses
      << detail::format("\nCompileSeconds: {}\nExecuteSeconds: {}\n", seconds(m.compile_seconds),
                        seconds(m.execute_seconds))
      << "KernelsRun: " << m.kernels_run << "\nInPlaceResults: " << m.in_place_results
      << "\nExterns:";
  for (const auto& [op, n] : m.externs) out << ' ' << op_name(op) << '=' << n;
  out << "\nFallbacks:";
  for (const auto& [op, n] : m.fallbacks) out << ' ' << op_name(op) << '=' << n;
  if (m.fallbacks.empty()) out << " none";
  out << "\nCompiles:\n";
  for (const CompileRecord& c : m.compiles)
    out << detail::format("  {} ({} s{}, {} nodes, {} kernels, {} externs): {}\n", c.site,
                          seconds(c.seconds), c.from_disk ? ", disk cache" : "", c.nodes, c.kernels,
                          c.externs, c.reason);
  return out.str();
}

}  // namespace lazy

void lazy_tensor_barrier(Device device, bool, std::source_location site) {
  if (device.mode != Device::Mode::lazy) return;
  auto* lazy = dynamic_cast<lazy::LazyBackend*>(&backend_for(device));
  CT_CHECK_AS(DeviceError, lazy != nullptr, "lazy_tensor_barrier: {} has no lazy backend", device);
  lazy->barrier(true, lazy::site_name(site));
}

namespace detail {
void note_host_read_site(std::source_location site) {
  lazy::host_read_site = lazy::site_name(site);
}
void note_host_read_site(const char* what) { lazy::host_read_site = what; }
}  // namespace detail

}  // namespace ct
