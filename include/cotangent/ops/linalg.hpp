#pragma once
// Matrix products over the last two dimensions, batch dimensions broadcast.
#include "cotangent/ops/reduction.hpp"

namespace ct {

/// a × b (optionally transposing either operand's last two dimensions, without a copy).
/// matmul(Tensor [B, M, K], Tensor [K, N]) -> [B, M, N]
template <Numeric T>
Tensor<T> matmul(const Tensor<T>& a, const Tensor<T>& b, bool transpose_a = false, bool transpose_b = false) {
  auto& backend = detail::backend_of("matmul", a, b);
  CT_CHECK(a.rank() >= 2 && b.rank() >= 2, "matmul: operands must have rank >= 2, got {} and {}", a.shape(), b.shape());
  std::int64_t k_a = a.shape(transpose_a ? -2 : -1), k_b = b.shape(transpose_b ? -1 : -2);
  CT_CHECK(k_a == k_b, "matmul: inner dimensions differ: {}{} vs {}{}", a.shape(), transpose_a ? "ᵀ" : "",
           b.shape(), transpose_b ? "ᵀ" : "");
  Tensor<T> y = detail::wrap<T>(backend.matmul(a.raw(), b.raw(), transpose_a, transpose_b));
  if constexpr (FloatingPoint<T>) {
    if (detail::tracking(a, b))
      detail::record(y, {&a, &b}, [a, b, transpose_a, transpose_b](const AnyTensor& dy_, const AnyTensor&) {
        Tensor<T> dy(dy_), da, db;
        if (!transpose_a && !transpose_b) da = matmul(dy, b, false, true), db = matmul(a, dy, true, false);
        if (transpose_a && !transpose_b) da = matmul(b, dy, false, true), db = matmul(a, dy, false, false);
        if (!transpose_a && transpose_b) da = matmul(dy, b, false, false), db = matmul(dy, a, true, false);
        if (transpose_a && transpose_b) da = matmul(b, dy, true, true), db = matmul(dy, a, true, true);
        return detail::grads(sum_to(da, a.shape()), sum_to(db, b.shape()));
      });
  }
  return y;
}

}  // namespace ct
