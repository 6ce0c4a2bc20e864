#pragma once
// Matrix products over the last two dimensions, batch dimensions broadcast.
#include "cotangent/ops/reduction.hpp"

namespace ct {

/// a × b (optionally transposing either operand's last two dimensions, without a copy).
/// matmul(Tensor [B, M, K], Tensor [K, N]) -> [B, M, N]
template <Numeric T>
Tensor<T> matmul(const Tensor<T>& a, const Tensor<T>& b, bool transpose_a = false,
                 bool transpose_b = false) {
  auto& backend = detail::backend_of("matmul", a, b);
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
          [a, b, transpose_a, transpose_b, ta = detail::tracked(a), tb = detail::tracked(b)](
              const AnyTensor& dy_, const AnyTensor&) {
            Tensor<T> dy(dy_), da, db;
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

}  // namespace ct
