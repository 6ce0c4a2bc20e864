#pragma once
// Elementwise ops: the primitives of elementwise.def (forward by the backend, derivative from
// the table), their scalar overloads, comparisons, where, casts, and the composite activations.
#include <cmath>
#include <type_traits>

#include "cotangent/ops/dispatch.hpp"

namespace ct {

template <Scalar T>
Tensor<T> sum_to(const Tensor<T>& x, const Shape& shape);
template <Scalar To, Scalar From>
Tensor<To> cast(const Tensor<From>& x);
template <Scalar T>
Tensor<T> zeros_like(const Tensor<T>& x);
template <Scalar T>
Tensor<T> ones_like(const Tensor<T>& x);

// ---- Unary primitives: one function per row of elementwise.def ----------------------------

#define CT_UNARY(name, domain, forward, derivative)                                        \
  template <detail::in_domain_##domain T>                                                  \
  Tensor<T> name(const Tensor<T>& x) {                                                     \
    auto y = detail::wrap<T>(                                                              \
        detail::backend_of(op_of(UnaryOp::name), #name, x).unary(UnaryOp::name, x.raw())); \
    if constexpr (FloatingPoint<T>) {                                                      \
      if (detail::tracking(x)) {                                                           \
        constexpr bool keep_x = detail::reads(#derivative, "x");                           \
        constexpr bool keep_y = detail::reads(#derivative, "y");                           \
        detail::record(                                                                    \
            y, {&x},                                                                       \
            [x = keep_x ? x : Tensor<T>()](const AnyTensor& dy_, const AnyTensor& y_) {    \
              [[maybe_unused]] Tensor<T> dy(dy_);                                          \
              [[maybe_unused]] Tensor<T> y = keep_y ? Tensor<T>(y_) : Tensor<T>();         \
              return detail::grads(derivative);                                            \
            },                                                                             \
            keep_y);                                                                       \
      }                                                                                    \
    }                                                                                      \
    return y;                                                                              \
  }
#include "cotangent/backend/elementwise.def"
#undef CT_UNARY

// ---- Binary primitives, broadcasting; gradients are summed back to each operand's shape ----

#define CT_BINARY(name, domain, forward, d_a, d_b)                                       \
  template <detail::in_domain_##domain T>                                                \
  Tensor<T> name(const Tensor<T>& a, const Tensor<T>& b) {                               \
    auto& backend = detail::backend_of(op_of(BinaryOp::name), #name, a, b);              \
    Shape shape = broadcast_shapes(a.shape(), b.shape(), #name);                         \
    auto y = detail::wrap<T>(backend.binary(BinaryOp::name, a.raw(), b.raw(), shape));   \
    if constexpr (FloatingPoint<T>) {                                                    \
      if (detail::tracking(a, b)) {                                                      \
        /* Keep an operand only if the derivative of a tracked operand reads it. */      \
        bool ta = detail::tracked(a), tb = detail::tracked(b);                           \
        auto reads = [&](const char* name) {                                             \
          return (ta && detail::reads(#d_a, name)) || (tb && detail::reads(#d_b, name)); \
        };                                                                               \
        bool keep_y = reads("y");                                                        \
        detail::record(                                                                  \
            y, {&a, &b},                                                                 \
            [a = reads("a") ? a : Tensor<T>(), b = reads("b") ? b : Tensor<T>(),         \
             a_shape = a.shape(), b_shape = b.shape(), ta, tb,                           \
             keep_y](const AnyTensor& dy_, const AnyTensor& y_) {                        \
              [[maybe_unused]] Tensor<T> dy(dy_);                                        \
              [[maybe_unused]] Tensor<T> y = keep_y ? Tensor<T>(y_) : Tensor<T>();       \
              Tensor<T> ga, gb;                                                          \
              if (ta) ga = sum_to(Tensor<T>(d_a), a_shape);                              \
              if (tb) gb = sum_to(Tensor<T>(d_b), b_shape);                              \
              return detail::grads(std::move(ga), std::move(gb));                        \
            },                                                                           \
            keep_y);                                                                     \
      }                                                                                  \
    }                                                                                    \
    return y;                                                                            \
  }                                                                                      \
  template <detail::in_domain_##domain T>                                                \
  Tensor<T> name(const Tensor<T>& a, std::type_identity_t<T> b) {                        \
    return name(a, detail::constant<T>(b, a));                                           \
  }                                                                                      \
  template <detail::in_domain_##domain T>                                                \
  Tensor<T> name(std::type_identity_t<T> a, const Tensor<T>& b) {                        \
    return name(detail::constant<T>(a, b), b);                                           \
  }
#include "cotangent/backend/elementwise.def"
#undef CT_BINARY

// ---- Comparisons and logic: Tensor<bool> results, no derivative ---------------------------

#define CT_COMPARE(name, domain, forward)                                                 \
  template <detail::in_domain_##domain T>                                                 \
  Tensor<bool> name(const Tensor<T>& a, const Tensor<T>& b) {                             \
    auto& backend = detail::backend_of(op_of(CompareOp::name), #name, a, b);              \
    Shape shape = broadcast_shapes(a.shape(), b.shape(), #name);                          \
    return detail::wrap<bool>(backend.compare(CompareOp::name, a.raw(), b.raw(), shape)); \
  }                                                                                       \
  template <detail::in_domain_##domain T>                                                 \
  Tensor<bool> name(const Tensor<T>& a, std::type_identity_t<T> b) {                      \
    return name(a, detail::constant<T>(b, a));                                            \
  }                                                                                       \
  template <detail::in_domain_##domain T>                                                 \
  Tensor<bool> name(std::type_identity_t<T> a, const Tensor<T>& b) {                      \
    return name(detail::constant<T>(a, b), b);                                            \
  }
#include "cotangent/backend/elementwise.def"
#undef CT_COMPARE

// ---- Operators -----------------------------------------------------------------------------

#define CT_OPERATOR(op, fn)                                                             \
  template <Scalar T>                                                                   \
  auto operator op(const Tensor<T>& a, const Tensor<T>& b)->decltype(fn(a, b)) {        \
    return fn(a, b);                                                                    \
  }                                                                                     \
  template <Scalar T>                                                                   \
  auto operator op(const Tensor<T>& a, std::type_identity_t<T> b)->decltype(fn(a, b)) { \
    return fn(a, b);                                                                    \
  }                                                                                     \
  template <Scalar T>                                                                   \
  auto operator op(std::type_identity_t<T> a, const Tensor<T>& b)->decltype(fn(a, b)) { \
    return fn(a, b);                                                                    \
  }
CT_OPERATOR(+, add)
CT_OPERATOR(-, subtract)
CT_OPERATOR(*, multiply)
CT_OPERATOR(/, divide)
CT_OPERATOR(%, mod)
CT_OPERATOR(<, less)
CT_OPERATOR(<=, less_equal)
CT_OPERATOR(>, greater)
CT_OPERATOR(>=, greater_equal)
CT_OPERATOR(&&, logical_and)
CT_OPERATOR(||, logical_or)
#undef CT_OPERATOR

/// Elementwise equality as a Tensor<bool> (S4TF's .==); `a == b` compares whole tensors.
template <Scalar T>
Tensor<bool> operator==(const Tensor<T>&, const Tensor<T>&) = delete;

/// -x: negate(x).
template <Numeric T>
Tensor<T> operator-(const Tensor<T>& x) {
  return negate(x);
}
/// !mask: logical_not(mask).
inline Tensor<bool> operator!(const Tensor<bool>& x) { return logical_not(x); }

template <Scalar T>
Tensor<T>& Tensor<T>::operator+=(const Tensor& o) {
  return *this = *this + o;
}
template <Scalar T>
Tensor<T>& Tensor<T>::operator-=(const Tensor& o) {
  return *this = *this - o;
}
template <Scalar T>
Tensor<T>& Tensor<T>::operator*=(const Tensor& o) {
  return *this = *this * o;
}
template <Scalar T>
Tensor<T>& Tensor<T>::operator/=(const Tensor& o) {
  return *this = *this / o;
}

/// y = a·y + b·x, never recorded: the fused update optimizers use. update(p, 1, g, -lr) is
/// p -= lr·g in one sweep, written into p's buffer when no other tensor shares it (the backend
/// decides; value semantics hold either way).
template <FloatingPoint T>
void update(Tensor<T>& y, std::type_identity_t<T> a, const Tensor<T>& x,
            std::type_identity_t<T> b) {
  if (static_cast<const AnyTensor*>(&x) == &y) {
    Tensor<T> same = x;
    return update(y, a, same, b);
  }
  CT_CHECK(y.shape() == x.shape(), "update: shapes {} and {} differ", y.shape(), x.shape());
  auto& backend = detail::backend_of(Op::update, "update", y, x);
  RawTensor held = std::move(y).raw();  // y lets go, so the backend sees who else holds it
  try {
    y = detail::wrap<T>(backend.update(std::move(held), double(a), x.raw(), double(b)));
  } catch (...) {
    y = detail::wrap<T>(std::move(held));  // a failed update leaves y as it was
    throw;
  }
}

/// True when every element of `a` and `b` is within atol + rtol * |b| (same shapes).
template <FloatingPoint T>
bool all_close(const Tensor<T>& a, const Tensor<T>& b, double rtol = 1e-5, double atol = 1e-8);

// ---- where and casts -----------------------------------------------------------------------

/// Picks `a` where `condition` holds, else `b`; all three broadcast.
template <Scalar T>
Tensor<T> where(const Tensor<bool>& condition, const Tensor<T>& a, const Tensor<T>& b) {
  auto& backend = detail::backend_of(Op::select, "where", a, b, condition);
  Shape shape =
      broadcast_shapes(broadcast_shapes(condition.shape(), a.shape(), "where"), b.shape(), "where");
  auto y = detail::wrap<T>(backend.select(condition.raw(), a.raw(), b.raw(), shape));
  if constexpr (FloatingPoint<T>) {
    if (detail::tracking(a, b)) {
      detail::record(
          y, {&a, &b},
          [condition, sa = a.shape(), sb = b.shape()](const AnyTensor& dy_, const AnyTensor&) {
            Tensor<T> dy(dy_), zero = zeros_like(dy);
            return detail::grads(sum_to(where(condition, dy, zero), sa),
                                 sum_to(where(condition, zero, dy), sb));
          });
    }
  }
  return y;
}

/// Converts the scalar type; the gradient flows back between floating types only.
template <Scalar To, Scalar From>
Tensor<To> cast(const Tensor<From>& x) {
  if constexpr (std::same_as<To, From>) {
    return x;
  } else {
    auto y = detail::wrap<To>(detail::backend_of(Op::cast, "cast", x).cast(x.raw(), dtype_of<To>));
    if constexpr (FloatingPoint<To> && FloatingPoint<From>) {
      if (detail::tracking(x)) {
        detail::record(y, {&x}, [](const AnyTensor& dy, const AnyTensor&) {
          return detail::grads(cast<From>(Tensor<To>(dy)));
        });
      }
    }
    return y;
  }
}

template <Scalar T>
template <DifferentScalar<T> U>
Tensor<T>::Tensor(const Tensor<U>& other) : Tensor(cast<T>(other)) {}

// ---- Composite ops: written from primitives, differentiated through them -------------------

/// Clamps into [low, high] (S4TF's clipped(min:max:)).
template <Numeric T>
Tensor<T> clipped(const Tensor<T>& x, std::type_identity_t<T> low, std::type_identity_t<T> high) {
  return minimum(maximum(x, low), high);
}
/// log(sigmoid(x)), as -softplus(-x) so it is finite for large negative x.
template <FloatingPoint T>
Tensor<T> log_sigmoid(const Tensor<T>& x) {
  return -softplus(-x);
}
/// x / (|x| + 1).
template <FloatingPoint T>
Tensor<T> softsign(const Tensor<T>& x) {
  return x / (abs(x) + T(1));
}
/// ReLU capped at 6: min(max(x, 0), 6).
template <FloatingPoint T>
Tensor<T> relu6(const Tensor<T>& x) {
  return clipped(x, T(0), T(6));
}
/// x for x > 0, alpha·x below (alpha 0.2 by default).
template <FloatingPoint T>
Tensor<T> leaky_relu(const Tensor<T>& x, std::type_identity_t<T> alpha = T(0.2)) {
  return maximum(x, x * alpha);
}
/// x for x > 0, exp(x) - 1 below.
template <FloatingPoint T>
Tensor<T> elu(const Tensor<T>& x) {
  return where(x > T(0), x, expm1(minimum(x, T(0))));
}
/// Scaled ELU with the self-normalizing constants: scale·x above 0, scale·alpha·(exp(x) - 1) below.
template <FloatingPoint T>
Tensor<T> selu(const Tensor<T>& x) {
  constexpr T alpha = T(1.6732632423543772848170429916717),
              scale = T(1.0507009873554804934193349852946);
  return where(x > T(0), x * scale, expm1(minimum(x, T(0))) * (scale * alpha));
}
/// GELU, tanh approximation as in S4TF.
template <FloatingPoint T>
Tensor<T> gelu(const Tensor<T>& x) {
  constexpr T c = T(0.7978845608028654);  // sqrt(2 / pi)
  return x * T(0.5) * (tanh((x + x * x * x * T(0.044715)) * c) + T(1));
}
/// GELU with the exact Gaussian CDF, x·Φ(x) = x/2·(1 + erf(x/√2)), beside the tanh form above.
template <FloatingPoint T>
Tensor<T> gelu_exact(const Tensor<T>& x) {
  return x * T(0.5) * (erf(x * T(0.70710678118654752440)) + T(1));
}
/// (a - b)², broadcasting (S4TF's squaredDifference).
template <Numeric T>
Tensor<T> squared_difference(const Tensor<T>& a, const Tensor<T>& b) {
  return square(a - b);
}
/// log(1 - exp(x)) for x < 0 without cancellation (S4TF's log1mexp): log(-expm1(x)) near 0,
/// log1p(-exp(x)) below -log 2. Each branch sees only inputs where it is finite, so both the
/// value and the gradient are.
template <FloatingPoint T>
Tensor<T> log1mexp(const Tensor<T>& x) {
  constexpr T kLog2 = T(0.69314718055994530942);
  auto near_zero = x > -kLog2;
  auto near = log(-expm1(where(near_zero, x, detail::constant<T>(-kLog2, x))));
  auto far = log1p(-exp(where(near_zero, detail::constant<T>(-kLog2, x), x)));
  return where(near_zero, near, far);
}
/// A piecewise-linear sigmoid: relu6(x + 3) / 6.
template <FloatingPoint T>
Tensor<T> hard_sigmoid(const Tensor<T>& x) {
  return relu6(x + T(3)) / T(6);
}
/// x · hard_sigmoid(x).
template <FloatingPoint T>
Tensor<T> hard_swish(const Tensor<T>& x) {
  return x * hard_sigmoid(x);
}
/// x · tanh(softplus(x)).
template <FloatingPoint T>
Tensor<T> mish(const Tensor<T>& x) {
  return x * tanh(softplus(x));
}
/// x itself: the activation that does nothing (a layer's default).
template <Numeric T>
Tensor<T> identity(const Tensor<T>& x) {
  return x;
}

}  // namespace ct
