#pragma once
// Row-major GEMM. float goes to oneDNN (its JIT picks the widest vector ISA the CPU has, where
// OpenBLAS 0.3.21 falls back to SSE3 kernels on CPUs newer than it knows: 60 vs 300 GFLOP/s at
// 128×784×512 here): sgemm, or the matmul primitive for A·Bᵀ, where it is faster. double goes
// to OpenBLAS; integers and tiny inner dimensions to direct loops. Both libraries run on the
// same OpenMP runtime as the library's own loops.
#include <cblas.h>
#include <dnnl.h>

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "cotangent/backend/threads.hpp"

#include "cpu_backend.hpp"
#include "onednn_matmul.hpp"

namespace ct::cpu {

/// Inner dimensions up to this size go to small_k_gemm.
constexpr std::int64_t kSmallInner = 4;

/// C = alpha·op(A)·B + beta·C for an inner dimension of at most kSmallInner (a weight gradient
/// at batch 1 is an outer product). Such a product is a pass of writes over C; the libraries
/// pack their operands first, and the direct loop measured 19 µs against oneDNN's 65 µs for
/// 784×1×512.
template <class T>
void small_k_gemm(bool ta, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
                  std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  auto rows = [&](std::int64_t first, std::int64_t last) {
    for (std::int64_t i = first; i < last; ++i) {
      T* row = c + i * ldc;
      if (k == 0) {
        for (std::int64_t j = 0; j < n; ++j) row[j] = beta == T(0) ? T(0) : beta * row[j];
        continue;
      }
      for (std::int64_t p = 0; p < k; ++p) {
        T coefficient = alpha * (ta ? a[p * lda + i] : a[i * lda + p]);
        const T* bp = b + p * ldb;
        if (p > 0 || beta == T(1)) {
#pragma omp simd
          for (std::int64_t j = 0; j < n; ++j) row[j] += coefficient * bp[j];
        } else if (beta == T(0)) {  // C may hold garbage: never read it
#pragma omp simd
          for (std::int64_t j = 0; j < n; ++j) row[j] = coefficient * bp[j];
        } else {
#pragma omp simd
          for (std::int64_t j = 0; j < n; ++j) row[j] = beta * row[j] + coefficient * bp[j];
        }
      }
    }
  };
  parallel_for(m, grain_for(n * std::max<std::int64_t>(k, 1)), rows);
}

/// C[m, n] = alpha * op(A)[m, k] · op(B)[k, n] + beta * C, all row-major with leading dimensions.
template <class T>
void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
          std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  if (m == 0 || n == 0) return;
  if constexpr (std::is_floating_point_v<T>) {
    if (k <= kSmallInner && !tb)
      return small_k_gemm(ta, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
  if constexpr (std::is_same_v<T, float>) {
    if (deterministic() && !omp_in_parallel()) {
      // Fixed tiles of rows, each a single-threaded sgemm (oneDNN runs so inside a parallel
      // region): the same arithmetic for any thread count.
      constexpr std::int64_t kRows = 32;
      std::int64_t tiles = (m + kRows - 1) / kRows;
      parallel_for(tiles, 1, [&](std::int64_t first, std::int64_t last) {
        for (std::int64_t t = first; t < last; ++t) {
          std::int64_t r0 = t * kRows, rows = std::min(kRows, m - r0);
          dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', rows, n, k, alpha, ta ? a + r0 : a + r0 * lda,
                     lda, b, ldb, beta, c + r0 * ldc, ldc);
        }
      });
      return;
    }
    if (tb && !ta && alpha == 1 && beta == 0 && onednn::prefers_matmul_transposed_b(m, k))
      return onednn::matmul_transposed_b(m, n, k, a, lda, b, ldb, c, ldc);
    dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  } else if constexpr (std::is_same_v<T, double>) {
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
                k, alpha, a, lda, b, ldb, beta, c, ldc);
  } else {
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        T acc = 0;
        for (std::int64_t p = 0; p < k; ++p)
          acc += (ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j]);
        c[i * ldc + j] = T(alpha * acc + (beta == T(0) ? T(0) : beta * c[i * ldc + j]));
      }
  }
}

}  // namespace ct::cpu
