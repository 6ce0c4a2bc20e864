#pragma once
// Matrix products over the last two dimensions, batch dimensions broadcast.
#include "cotangent/ops/reduction.hpp"

namespace ct {

/// a × b (optionally transposing either operand's last two dimensions, without a copy).
/// matmul(Tensor [B, M, K], Tensor [K, N]) -> [B, M, N]
template <Numeric T>
Tensor<T> matmul(const Tensor<T>& a, const Tensor<T>& b, bool transpose_a = false,
                 bool transpose_b = false) {
  auto& backend = detail::backend_of(Op::matmul, "matmul", a, b);
  CT_CHECK(a.rank() >= 2 && b.rank() >= 2, "matmul: operands must have rank >= 2, got {} and {}",
           a.shape(), b.shape());
  std::int64_t k_a = a.shape(transpose_a ? -2 : -1), k_b = b.shape(transpose_b ? -1 : -2);
  CT_CHECK(k_a == k_b, "matmul: inner dimensions differ: {}{} vs {}{}", a.shape(),
           transpose_a ? "ᵀ" : "", b.shape(), transpose_b ? "ᵀ" : "");
  Tensor<T> y = detail::wrap<T>(backend.matmul(a.raw(), b.raw(), transpose_a, transpose_b));
  if constexpr (FloatingPoint<T>) {
    if (detail::tracking(a, b))
      // Only the gradients of tracked operands are computed (an input batch needs none).
      detail::record(
          y, {&a, &b},
          [a, b, transpose_a, transpose_b, track_a = detail::tracked(a),
           track_b = detail::tracked(b)](const AnyTensor& dy_, const AnyTensor&) {
            Tensor<T> dy(dy_), da, db;
            bool ta = track_a, tb = track_b;
            // A matrix parameter's gradient may stay a product (see ProductCollector).
            if (a.rank() == 2 && b.rank() == 2) {
              if (ta && (transpose_a ? detail::defer_product(a, b, dy, transpose_b, true)
                                     : detail::defer_product(a, dy, b, false, !transpose_b)))
                ta = false;
              if (tb && (transpose_b ? detail::defer_product(b, dy, a, true, transpose_a)
                                     : detail::defer_product(b, a, dy, !transpose_a, false)))
                tb = false;
            }
            if (ta) {
              if (!transpose_a)
                da = matmul(dy, b, false, !transpose_b);
              else
                da = transpose_b ? matmul(b, dy, true, true) : matmul(b, dy, false, true);
              da = sum_to(da, a.shape());
            }
            if (tb) {
              if (!transpose_b)
                db = matmul(a, dy, !transpose_a, false);
              else
                db = transpose_a ? matmul(dy, a, true, true) : matmul(dy, a, true, false);
              db = sum_to(db, b.shape());
            }
            return detail::grads(std::move(da), std::move(db));
          });
  }
  return y;
}

/// y = a·y + b·op(lhs)·op(rhs) for matrices, in place when y's storage is not shared
/// (copy-on-write otherwise), never recorded: how an optimizer applies a gradient kept as a
/// product (ProductTerm) without writing the gradient out.
template <FloatingPoint T>
void update_with_product(Tensor<T>& y, std::type_identity_t<T> a, const Tensor<T>& lhs,
                         const Tensor<T>& rhs, bool transpose_lhs, bool transpose_rhs,
                         std::type_identity_t<T> b) {
  if (static_cast<const AnyTensor*>(&lhs) == &y || static_cast<const AnyTensor*>(&rhs) == &y) {
    Tensor<T> same = y;  // a factor that is y itself must not go when y lets go of its buffer
    return update_with_product(y, a, &lhs == &y ? same : lhs, &rhs == &y ? same : rhs,
                               transpose_lhs, transpose_rhs, b);
  }
  auto& backend = detail::backend_of(Op::matmul_update, "update_with_product", y, lhs, rhs);
  CT_CHECK(y.rank() == 2 && lhs.rank() == 2 && rhs.rank() == 2,
           "update_with_product: {} += {} · {} needs matrices", y.shape(), lhs.shape(),
           rhs.shape());
  std::int64_t k = lhs.shape(transpose_lhs ? 0 : 1);
  CT_CHECK(rhs.shape(transpose_rhs ? 1 : 0) == k &&
               y.shape(0) == lhs.shape(transpose_lhs ? 1 : 0) &&
               y.shape(1) == rhs.shape(transpose_rhs ? 0 : 1),
           "update_with_product: {}{} · {}{} does not make {}", lhs.shape(),
           transpose_lhs ? "ᵀ" : "", rhs.shape(), transpose_rhs ? "ᵀ" : "", y.shape());
  RawTensor held = std::move(y).raw();  // y lets go, so the backend sees who else holds it
  try {
    y = detail::wrap<T>(backend.matmul_update(std::move(held), double(a), lhs.raw(), rhs.raw(),
                                              transpose_lhs, transpose_rhs, double(b)));
  } catch (...) {
    y = detail::wrap<T>(std::move(held));  // a failed update leaves y as it was
    throw;
  }
}

namespace detail {

/// The backward pass of a fused epilogue activation(y + bias): the gradient that reaches the
/// matmul or convolution, and the bias's gradient when `bias_grad` is set. One sweep through the
/// backend; composed of differentiable ops instead when the gradient is itself being recorded
/// (higher order).
template <FloatingPoint T>
std::pair<Tensor<T>, Tensor<T>> activation_backward(AnyTensor dy, const AnyTensor& y,
                                                    FusedActivation activation, bool bias_grad) {
  bool relu = activation == FusedActivation::relu;
  if (tracked(dy)) {
    Tensor<T> g = relu ? relu_backward(Tensor<T>(dy), Tensor<T>(y)) : Tensor<T>(dy);
    Tensor<T> db = bias_grad ? sum_to(g, Shape{g.shape(-1)}) : Tensor<T>();
    return {g, db};
  }
  auto& backend = backend_of(Op::activation_backward, "activation_backward", dy);
  RawTensor raw = std::move(dy).raw(), db;
  RawTensor g = backend.activation_backward(std::move(raw), relu ? y.raw() : RawTensor(),
                                            activation, bias_grad ? &db : nullptr);
  return {wrap<T>(std::move(g)), bias_grad ? wrap<T>(std::move(db)) : Tensor<T>()};
}

/// activation(x · weight + bias) for x [M, K], weight [K, N], bias [N] (or undefined), with the
/// bias and activation applied while the product is still in cache, and one backward sweep.
template <FloatingPoint T>
Tensor<T> linear(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias,
                 FusedActivation activation) {
  auto& backend = backend_of(Op::linear, "linear", x, weight);
  CT_CHECK(x.rank() == 2 && weight.rank() == 2 && x.shape(1) == weight.shape(0),
           "linear: input {} and weight {} do not multiply", x.shape(), weight.shape());
  if (bias.defined()) {
    CT_CHECK(bias.rank() == 1 && bias.shape(0) == weight.shape(1),
             "linear: bias {} does not match weight {}", bias.shape(), weight.shape());
    backend_of(Op::linear, "linear", x, bias);  // same device
  }
  Tensor<T> out = wrap<T>(
      backend.linear(x.raw(), weight.raw(), bias.defined() ? &bias.raw() : nullptr, activation));
  if (tracking(x, weight, bias))
    record(
        out, {&x, &weight, &bias},
        [x, weight, activation, tx = tracked(x), tw = tracked(weight), tb = tracked(bias)](
            AnyTensor dy, const AnyTensor& y) {
          auto [g, db] = activation_backward<T>(std::move(dy), y, activation, tb);
          Tensor<T> dx = tx ? matmul(g, weight, false, true) : Tensor<T>();
          Tensor<T> dw = tw && !defer_product(weight, x, g, true, false) ? matmul(x, g, true, false)
                                                                         : Tensor<T>();
          return grads(std::move(dx), std::move(dw), std::move(db));
        },
        /*keep_result=*/activation == FusedActivation::relu);
  return out;
}

}  // namespace detail

}  // namespace ct
