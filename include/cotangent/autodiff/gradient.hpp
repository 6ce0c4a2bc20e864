#pragma once
// The S4TF entry points: value_with_gradient, gradient, pullback, value_with_pullback,
// value_with_differential, without_derivative, with_derivative (custom derivatives) and
// recompute. Any C++ code between them is differentiated: loops, branches, recursion.
#include <tuple>
#include <utility>

#include "cotangent/autodiff/fields.hpp"
#include "cotangent/ops/ops.hpp"

namespace ct {

namespace detail {

/// Opens a tape for one differentiation call, nested in the thread's current one, and closes
/// it when the guard goes (also when the function throws).
class TapeScope {
 public:
  TapeScope();
  ~TapeScope();
  TapeScope(const TapeScope&) = delete;
  TapeScope& operator=(const TapeScope&) = delete;
  const std::shared_ptr<Tape>& tape() const { return tape_; }
  /// Ends recording: the backward pass then records only for enclosing calls.
  void close();

 private:
  std::shared_ptr<Tape> tape_;
  std::shared_ptr<Tape> previous_;
};

/// A copy of `x` that is a variable of `tape` (linked to x's own recording, if any, so an
/// enclosing call still sees through it).
AnyTensor make_variable(const AnyTensor& x, const std::shared_ptr<Tape>& tape);

/// Gradients of `root` seeded with `seed` for each variable node in `targets` (undefined where
/// a target does not influence the root). `release` frees each pullback once run.
std::vector<AnyTensor> backpropagate(const AnyTensor& root, const AnyTensor& seed,
                                     const std::vector<std::shared_ptr<Node>>& targets,
                                     bool release);

/// How a differentiable argument is presented to the function and rebuilt as a gradient:
/// float/double become 0-d tensors; tensors and CT_FIELDS structs pass as themselves.
template <class X>
struct Argument {
  static_assert(FloatTensor<X> || Reflectable<X>,
                "cannot differentiate with respect to this type: a model struct needs "
                "CT_FIELDS(field, ...) naming its parameters and layers (without it nothing "
                "would be differentiated); otherwise pass a Tensor<float>, Tensor<double>, "
                "float or double");
  using Passed = X;
  static Passed lift(const X& x, const std::shared_ptr<Tape>& tape,
                     std::vector<std::shared_ptr<Node>>& vars) {
    Passed copy = x;
    for_each_parameter(
        [&](auto& p) {
          using P = std::remove_cvref_t<decltype(p)>;
          p = P(make_variable(p, tape));
          vars.push_back(p.node());
        },
        copy);
    return copy;
  }
  /// The gradient, shaped like x; parameters that got none are zeros.
  static X gradient(const X& x, const std::vector<AnyTensor>& grads, std::size_t& next) {
    X g = x;
    for_each_parameter(
        [&](auto& p) {
          using P = std::remove_cvref_t<decltype(p)>;
          const AnyTensor& d = grads[next++];
          p = d.defined() ? P(d) : zeros_like(p);
        },
        g);
    return g;
  }
};

template <FloatingPoint S>
struct Argument<S> {
  using Passed = Tensor<S>;
  static Passed lift(const S& x, const std::shared_ptr<Tape>& tape,
                     std::vector<std::shared_ptr<Node>>& vars) {
    Passed v(make_variable(Tensor<S>(x), tape));
    vars.push_back(v.node());
    return v;
  }
  static S gradient(const S&, const std::vector<AnyTensor>& grads, std::size_t& next) {
    const AnyTensor& d = grads[next++];
    return d.defined() ? Tensor<S>(d).scalar() : S(0);  // host edge: a host number's gradient
  }
};

/// True when f can be called with the arguments as presented and returns a float tensor: the
/// differentiation entry points check this first, so that a mistake is one readable error.
template <class F, class... Xs>
constexpr bool differentiable_call() {
  static_assert(std::is_invocable_v<F&, const typename Argument<Xs>::Passed&...>,
                "the differentiated function cannot be called with the argument(s) given: it "
                "should take them as `const Model&` (a float or double argument arrives as a "
                "Tensor of that type)");
  if constexpr (std::is_invocable_v<F&, const typename Argument<Xs>::Passed&...>) {
    using R =
        std::remove_cvref_t<std::invoke_result_t<F&, const typename Argument<Xs>::Passed&...>>;
    static_assert(FloatTensor<R>,
                  "the differentiated function must return Tensor<float> or Tensor<double> "
                  "(a loss: one value for value_with_gradient, gradient and minimize)");
    return FloatTensor<R>;
  }
  return false;
}

template <class R>
AnyTensor as_result(const R& y) {
  static_assert(FloatTensor<R>,
                "the differentiated function must return Tensor<float> or Tensor<double>");
  return y;
}

template <class R>
void check_scalar(const R& y, const char* api) {
  CT_CHECK(y.scalar_count() == 1,
           "{}: the function's result has shape {}, not a single value; "
           "use pullback or value_with_pullback for a non-scalar result",
           api, y.shape());
}

template <class R>
auto unlift_value(const R& y) {
  Tensor<typename R::Scalar> value = y;
  value.set_node(nullptr);
  // Keep the recording only if an enclosing differentiation call still needs it.
  if (tracked(y)) value.set_node(y.node());
  return value;
}

/// The one reverse-mode driver: the value of f at xs and the gradient of each variable
/// (undefined where none reached it), in lifting order. With `products`, a matmul whose operand
/// is a variable may leave that operand's gradient as factors there instead (see
/// defer_product): minimize's path for backends that add a product straight into a weight.
template <class F, class... Xs>
auto value_and_gradients(const char* api, ProductTerms* products, F& f, const Xs&... xs) {
  TapeScope scope;
  std::vector<std::shared_ptr<Node>> vars;
  auto lifted = std::tuple{Argument<Xs>::lift(xs, scope.tape(), vars)...};
  auto y = std::apply(f, lifted);
  scope.close();
  check_scalar(y, api);
  std::vector<AnyTensor> grads;
  if (products) {
    ProductCollector collector(vars);
    grads = backpropagate(y, ones_like(without_node(y)), vars, /*release=*/true);
    *products = collector.take();
  } else {
    grads = backpropagate(y, ones_like(without_node(y)), vars, /*release=*/true);
  }
  return std::pair{unlift_value(y), std::move(grads)};
}

}  // namespace detail

/// The value of f at xs and the gradient of f with respect to each x (S4TF's
/// valueWithGradient(at:in:)). f must return a single value. For one argument the gradient is
/// shaped like it: `auto [loss, grad] = value_with_gradient(model, [&](const Model& m) {...});`
/// For several, the gradients come as a tuple.
template <class... Xs, class F>
auto value_with_gradient_at(F&& f, const Xs&... xs) {
  if constexpr (!detail::differentiable_call<F, Xs...>()) {
    return;  // the static_asserts above said why
  } else {
    auto [value, grads] = detail::value_and_gradients("value_with_gradient", nullptr, f, xs...);
    std::size_t next = 0;
    auto gradients = std::tuple{detail::Argument<Xs>::gradient(xs, grads, next)...};
    if constexpr (sizeof...(Xs) == 1)
      return std::pair{value, std::get<0>(std::move(gradients))};
    else
      return std::pair{value, std::move(gradients)};
  }
}

/// value_with_gradient_at with the arguments first: auto [loss, g] = value_with_gradient(x, f).
template <class X, class F>
auto value_with_gradient(const X& x, F&& f) {
  return value_with_gradient_at(std::forward<F>(f), x);
}
template <class X, class Y, class F>
auto value_with_gradient(const X& x, const Y& y, F&& f) {
  return value_with_gradient_at(std::forward<F>(f), x, y);
}
template <class X, class Y, class Z, class F>
auto value_with_gradient(const X& x, const Y& y, const Z& z, F&& f) {
  return value_with_gradient_at(std::forward<F>(f), x, y, z);
}

/// The gradient of f at x (S4TF's gradient(at:in:)).
template <class X, class F>
auto gradient(const X& x, F&& f) {
  return value_with_gradient(x, std::forward<F>(f)).second;
}
template <class X, class Y, class F>
auto gradient(const X& x, const Y& y, F&& f) {
  return value_with_gradient(x, y, std::forward<F>(f)).second;
}
template <class X, class Y, class Z, class F>
auto gradient(const X& x, const Y& y, const Z& z, F&& f) {
  return value_with_gradient(x, y, z, std::forward<F>(f)).second;
}

/// The value of f at x and its pullback: a callable mapping a cotangent of the value (same
/// shape) to the gradient with respect to x. It may be called many times.
template <class X, class F>
auto value_with_pullback(const X& x, F&& f) {
  static_assert(std::is_invocable_v<F&, const typename detail::Argument<X>::Passed&>,
                "value_with_pullback: the function cannot be called with the argument given");
  detail::TapeScope scope;
  std::vector<std::shared_ptr<detail::Node>> vars;
  auto lifted = detail::Argument<X>::lift(x, scope.tape(), vars);
  auto y = f(lifted);
  detail::as_result(y);
  scope.close();
  auto pullback = [y, vars = std::move(vars), x](const decltype(y)& dy) {
    CT_CHECK(dy.shape() == y.shape(), "pullback: cotangent of shape {} for a value of shape {}",
             dy.shape(), y.shape());
    auto grads = detail::backpropagate(y, dy, vars, /*release=*/false);
    std::size_t next = 0;
    return detail::Argument<X>::gradient(x, grads, next);
  };
  return std::pair{detail::unlift_value(y), std::move(pullback)};
}

/// The pullback of f at x alone, without the value (see value_with_pullback).
template <class X, class F>
auto pullback(const X& x, F&& f) {
  return value_with_pullback(x, std::forward<F>(f)).second;
}

/// The value of f at x and its differential: a callable mapping a tangent of x (same shape) to
/// the directional derivative of f, J·dx (forward mode, computed as forward-over-reverse).
template <FloatingPoint T, class F>
auto value_with_differential(const Tensor<T>& x, F&& f) {
  auto [y, pb] = value_with_pullback(x, f);
  auto differential = [pb = std::move(pb), shape = y.shape(),
                       device = y.device()](const Tensor<T>& dx) {
    // pullback is linear in its cotangent u, and <pullback(u), dx> = <u, J dx>; so J dx is the
    // gradient of that product with respect to u.
    return gradient(zeros<T>(shape, device), [&](const Tensor<T>& u) { return sum(pb(u) * dx); });
  };
  return std::pair{y, std::move(differential)};
}

/// The same value, treated as a constant by every differentiation call.
template <class X>
X without_derivative(X x) {
  if constexpr (is_tensor<X>::value) {
    x.set_node(nullptr);
  } else {
    for_each_parameter([](auto& p) { p.set_node(nullptr); }, x);
  }
  return x;
}

namespace detail {
/// How many differentiation calls that still record `x` belongs to.
inline int open_calls(const AnyTensor& x) {
  int open = 0;
  if (x.node())
    for (const Tape* t = x.node()->tape.get(); t; t = t->parent.get()) open += t->open;
  return open;
}

template <class Body, FloatingPoint T, class... Rest>
Tensor<T> with_derivative(Body& body, const Tensor<T>& x, const Rest&... rest) {
  std::array<const AnyTensor*, 1 + sizeof...(Rest)> operands{&x, &rest...};
  int open = 0;
  for (const AnyTensor* a : operands) open = std::max(open, open_calls(*a));
  // With one open call the forward pass need not be recorded. Under an enclosing call (higher
  // order) it is, so that what the pullback captures carries its own derivative.
  std::uint64_t start = next_sequence();
  auto [y, pb] =
      open > 1 ? body(x, rest...) : body(without_derivative(x), without_derivative(rest)...);
  Tensor<T> value(y);
  // Anything else the body differentiably reads would get no gradient: refuse it.
  bool foreign = open <= 1 ? tracked(value) : false;
  if (open > 1 && value.node())
    for (const auto& node : inputs_recorded_before(value.node(), start))
      if (node->tape->recording() &&
          std::none_of(operands.begin(), operands.end(),
                       [&](const AnyTensor* a) { return a->node() == node; }))
        foreign = true;
  CT_CHECK_AS(ValueError, !foreign,
              "with_derivative: the function reads a differentiable value that is not one of its "
              "arguments (a captured parameter?), whose gradient would be lost; pass it as an "
              "argument, with_derivative(x, w, body), and return its gradient from the pullback");
  Tensor<T> out = without_derivative(value);
  if (open > 0)
    record_many(out, operands, [pb = std::move(pb)](const AnyTensor& dy, const AnyTensor&) {
      auto d = pb(Tensor<T>(dy));
      if constexpr (sizeof...(Rest) == 0)
        return grads(Tensor<T>(d));
      else
        return std::apply([](auto&&... g) { return grads(AnyTensor(g)...); }, d);
    });
  return out;
}
}  // namespace detail

/// Gives `f` a hand-written derivative (S4TF's @derivative(of:)). `body(x)` returns the value
/// and a pullback dy -> dx; only what the pullback captures is kept for the backward pass.
///   with_derivative(x, [](const Tensor<float>& x) {
///     auto s = sigmoid(x); auto y = x * s;
///     return std::pair{y, [s, y](const Tensor<float>& dy) { return dy * (s + y * (1 - s)); }};
///   });
/// With several differentiable arguments, body(x, w) returns the value and a pullback
/// dy -> std::tuple{dx, dw}. The body may read nothing differentiable besides its arguments
/// (a captured parameter would silently get no gradient, so it is an error).
template <FloatingPoint T, class Body>
Tensor<T> with_derivative(const Tensor<T>& x, Body&& body) {
  return detail::with_derivative(body, x);
}
template <FloatingPoint T, class Body>
Tensor<T> with_derivative(const Tensor<T>& x, const Tensor<T>& w, Body&& body) {
  return detail::with_derivative(body, x, w);
}
template <FloatingPoint T, class Body>
Tensor<T> with_derivative(const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& b, Body&& body) {
  return detail::with_derivative(body, x, w, b);
}

/// Wraps `f` so that its forward pass keeps nothing for the backward pass and is recomputed
/// there instead (S4TF's withRecomputationInPullbacks): less memory, more compute. Everything
/// f reads is differentiated as usual, its argument and the parameters it captures alike. The
/// backward pass calls f again, so what f captures by reference must outlive the gradient call
/// (capture a layer by value: its tensors share their buffers).
template <class F>
auto recompute(F f) {
  return [f = std::move(f)]<FloatingPoint T>(const Tensor<T>& x) -> Tensor<T> {
    std::uint64_t start = detail::next_sequence();
    Tensor<T> y = f(x);
    if (!y.node() || y.node()->sequence < start) return y;  // f recorded nothing of its own
    // What f read from the enclosing recording (x, captured parameters); then f's own
    // recording goes, and with it what its pullbacks kept.
    std::vector<std::shared_ptr<detail::Node>> inputs;
    for (auto& node : detail::inputs_recorded_before(y.node(), start))
      if (node->tape->recording()) inputs.push_back(std::move(node));
    if (inputs.empty()) return y;
    y.set_node(nullptr);
    std::vector<AnyTensor> operands;
    for (const auto& node : inputs) operands.emplace_back(RawTensor{}, node);
    std::vector<const AnyTensor*> pointers;
    for (const auto& operand : operands) pointers.push_back(&operand);
    detail::record_many(y, pointers, [f, x, inputs](const AnyTensor& dy, const AnyTensor&) {
      Tensor<T> replayed;
      {
        detail::ReopenTapes reopen(inputs);  // the replay links to the same inputs
        replayed = f(x);
      }
      return detail::backpropagate(replayed, dy, inputs, /*release=*/true);
    });
    return y;
  };
}

// ---- Tangent arithmetic for CT_FIELDS structs (gradients have the model's own type) --------

/// A gradient of zeros shaped like x.
template <class M>
M zero_tangent(M x) {
  for_each_parameter([](auto& p) { p = zeros_like(p); }, x);
  return x;
}
/// Field-by-field sum of two gradients.
template <Reflectable M>
M operator+(M a, const M& b) {
  for_each_parameter([](auto& p, const auto& q) { p = p + q; }, a, b);
  return a;
}
/// Every parameter scaled by s.
template <Reflectable M>
M operator*(M a, double s) {
  for_each_parameter([s](auto& p) { p = p * typename std::remove_cvref_t<decltype(p)>::Scalar(s); },
                     a);
  return a;
}
/// S4TF's move(along:): x becomes x + direction, field by field.
template <class M>
void move_along(M& x, const M& direction) {
  for_each_parameter([](auto& p, const auto& d) { p = p + d; }, x, direction);
}

}  // namespace ct
