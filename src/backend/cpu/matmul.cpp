// Batched matmul on BLAS. Transposed views are passed to BLAS as transposes, not copied.
#include "cpu_backend.hpp"
#include "gemm.hpp"

namespace ct::cpu {
namespace {

/// How BLAS can read the last two dimensions of `x` in place: as stored (row-major, leading
/// dimension `ld`) or as the transpose of a row-major matrix. False when neither works.
bool blas_layout(const RawTensor& x, bool& transposed, std::int64_t& ld) {
  int n = x.rank();
  std::int64_t r = x.shape[n - 2], c = x.shape[n - 1], sr = x.strides[n - 2], sc = x.strides[n - 1];
  if (r == 0 || c == 0) {  // no elements: any layout will do
    transposed = false;
    ld = std::max<std::int64_t>(c, 1);
    return true;
  }
  if ((sc == 1 || c == 1) && (r == 1 || sr >= std::max<std::int64_t>(c, 1))) {
    transposed = false;
    ld = r == 1 ? std::max<std::int64_t>(c, 1) : sr;
    return true;
  }
  if ((sr == 1 || r == 1) && (c == 1 || sc >= std::max<std::int64_t>(r, 1))) {
    transposed = true;
    ld = c == 1 ? std::max<std::int64_t>(r, 1) : sc;
    return true;
  }
  return false;
}

/// `x` as BLAS will read it (a copy when no layout of the original works), and how.
RawTensor blas_operand(CpuBackend& backend, const RawTensor& x, bool& transposed,
                       std::int64_t& ld) {
  if (blas_layout(x, transposed, ld)) return x;
  RawTensor copy = backend.contiguous(x);
  blas_layout(copy, transposed, ld);
  return copy;
}

}  // namespace

RawTensor CpuBackend::matmul(const RawTensor& a_in, const RawTensor& b_in, bool ta, bool tb) {
  CT_CHECK_AS(DTypeError, a_in.dtype == b_in.dtype && a_in.dtype != DType::boolean,
              "matmul: unsupported dtypes {} and {}", a_in.dtype, b_in.dtype);
  bool a_t = false, b_t = false;
  std::int64_t lda = 1, ldb = 1;
  RawTensor a = blas_operand(*this, a_in, a_t, lda), b = blas_operand(*this, b_in, b_t, ldb);

  int ra = a.rank(), rb = b.rank();
  std::int64_t m = a.shape[ta ? ra - 1 : ra - 2], k = a.shape[ta ? ra - 2 : ra - 1];
  std::int64_t n = b.shape[tb ? rb - 2 : rb - 1];
  Shape batch_a, batch_b;
  for (int i = 0; i < ra - 2; ++i) batch_a.push_back(a.shape[i]);
  for (int i = 0; i < rb - 2; ++i) batch_b.push_back(b.shape[i]);
  Shape batch = broadcast_shapes(batch_a, batch_b, "matmul");
  Shape out_shape = batch;
  out_shape.push_back(m);
  out_shape.push_back(n);
  RawTensor out = empty(out_shape, a.dtype);
  std::int64_t batches = batch.count();
  if (out.count() == 0) return out;

  // Per-batch element offsets of each operand (broadcast batch dimensions repeat).
  RawTensor a_batch = a, b_batch = b;
  a_batch.shape = batch_a, b_batch.shape = batch_b;
  a_batch.strides.resize(ra - 2), b_batch.strides.resize(rb - 2);
  Shape sa = broadcast_strides(a_batch, batch), sb = broadcast_strides(b_batch, batch);
  auto offset = [&](const Shape& strides, std::int64_t index) {
    std::int64_t off = 0;
    for (int i = batch.rank() - 1; i >= 0; --i)
      off += (index % batch[i]) * strides[i], index /= batch[i];
    return off;
  };

  visit_dtype(a.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, bool>) {
      const T* pa = a.data_as<T>();
      const T* pb = b.data_as<T>();
      T* po = out.data_as<T>();
      bool op_a = ta != a_t, op_b = tb != b_t;
      // [B, M, K] · [K, N] with A's batches stacked row-major: one GEMM of B·M rows.
      bool fold = batches > 1 && !op_a && !a_t &&
                  std::all_of(sb.begin(), sb.end(), [](auto s) { return s == 0; }) &&
                  a.is_contiguous() && a.rank() == out.rank();
      if (fold || batches == 1) {
        std::int64_t rows = fold ? batches * m : m;
        if (k == 0)
          std::fill(po, po + rows * n, T(0));
        else
          gemm<T>(op_a, op_b, rows, n, k, T(1), pa, lda, pb, ldb, T(0), po, n);
        return;
      }
      for (std::int64_t i = 0; i < batches; ++i) {
        T* c = po + i * m * n;
        if (k == 0)
          std::fill(c, c + m * n, T(0));
        else
          gemm<T>(op_a, op_b, m, n, k, T(1), pa + offset(sa, i), lda, pb + offset(sb, i), ldb, T(0),
                  c, n);
      }
    }
  });
  return out;
}

RawTensor CpuBackend::matmul_update(RawTensor&& y, double a, const RawTensor& lhs,
                                    const RawTensor& rhs, bool transpose_lhs, bool transpose_rhs,
                                    double b) {
  CT_CHECK(y.rank() == 2, "matmul_update: {} += {} · {} needs matrices", y.shape, lhs.shape,
           rhs.shape);
  // In place when nothing else sees y's buffer (value semantics), else into a copy.
  RawTensor out = y.owns_whole_storage() ? y : contiguous(y);
  matmul_into(out, lhs, rhs, transpose_lhs, transpose_rhs, b, a);
  return out;
}

void CpuBackend::matmul_into(RawTensor& c, const RawTensor& a_in, const RawTensor& b_in, bool ta,
                             bool tb, double alpha, double beta) {
  CT_CHECK_AS(DTypeError, a_in.dtype == c.dtype && b_in.dtype == c.dtype && is_floating(c.dtype),
              "matmul_into: dtypes {}, {} into {}", a_in.dtype, b_in.dtype, c.dtype);
  CT_CHECK(a_in.rank() == 2 && b_in.rank() == 2 && c.rank() == 2 && c.is_contiguous(),
           "matmul_into: operands {} and {} into {} are not all matrices (the result contiguous)",
           a_in.shape, b_in.shape, c.shape);
  std::int64_t m = a_in.shape[ta ? 1 : 0], k = a_in.shape[ta ? 0 : 1];
  std::int64_t n = b_in.shape[tb ? 0 : 1];
  CT_CHECK(b_in.shape[tb ? 1 : 0] == k && c.shape[0] == m && c.shape[1] == n,
           "matmul_into: {}{} · {}{} does not make {}", a_in.shape, ta ? "ᵀ" : "", b_in.shape,
           tb ? "ᵀ" : "", c.shape);
  bool a_t = false, b_t = false;
  std::int64_t lda = 1, ldb = 1;
  RawTensor a = blas_operand(*this, a_in, a_t, lda), b = blas_operand(*this, b_in, b_t, ldb);
  visit_floating(c.dtype, "matmul_into", [&](auto tag) {
    using T = decltype(tag);
    T* pc = c.data_as<T>();
    if (m == 0 || n == 0) return;
    if (k == 0) {
      for (std::int64_t i = 0; i < m * n; ++i) pc[i] = beta == 0 ? T(0) : T(beta) * pc[i];
      return;
    }
    gemm<T>(ta != a_t, tb != b_t, m, n, k, T(alpha), a.data_as<T>(), lda, b.data_as<T>(), ldb,
            T(beta), pc, n);
  });
}

}  // namespace ct::cpu
