// Reductions: the reduced axes are brought together (a copy only when they are not already
// adjacent), then each [outer, reduced, inner] block is folded with vectorized loops.
#include <limits>
#include <numeric>

#include "cpu_backend.hpp"

namespace ct::cpu {
namespace {

template <class T>
struct Fold {
  ReduceOp op;
  T init() const {
    switch (op) {
      case ReduceOp::product:
      case ReduceOp::all:
        return T(1);
      case ReduceOp::max:
        return std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity()
                                                    : std::numeric_limits<T>::lowest();
      case ReduceOp::min:
        return std::numeric_limits<T>::has_infinity ? std::numeric_limits<T>::infinity()
                                                    : std::numeric_limits<T>::max();
      default:
        return T(0);
    }
  }
};

template <class T, class Combine>
void fold_rows(const T* x, T* out, std::int64_t outer, std::int64_t r, std::int64_t inner, T init,
               Combine combine) {
  std::int64_t work = outer * r * inner;
  if (inner == 1) {
    // Sixteen independent lanes, so any fold (not just +) vectorizes.
    auto fold_row = [&](const T* row, std::int64_t n) {
      constexpr int kLanes = 16;
      T lanes[kLanes];
      for (auto& l : lanes) l = init;
      std::int64_t i = 0;
      for (; i + kLanes <= n; i += kLanes)
        for (int k = 0; k < kLanes; ++k) lanes[k] = combine(lanes[k], row[i + k]);
      T acc = init;
      for (int k = 0; k < kLanes; ++k) acc = combine(acc, lanes[k]);
      for (; i < n; ++i) acc = combine(acc, row[i]);
      return acc;
    };
    if (outer == 1 && work >= kParallelGrain) {
      // One long row: fold chunks of a fixed length, then the chunks' results in order. The
      // chunks do not depend on the thread count, so neither does the sum (bit for bit).
      std::int64_t chunks = (r + kParallelGrain - 1) / kParallelGrain;
      std::vector<T> partial(static_cast<std::size_t>(chunks), init);
      parallel_for(chunks, 1, [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t c = b; c < e; ++c) {
          std::int64_t begin = c * kParallelGrain, end = std::min(r, begin + kParallelGrain);
          partial[std::size_t(c)] = fold_row(x + begin, end - begin);
        }
      });
      T acc = init;
      for (T p : partial) acc = combine(acc, p);
      out[0] = acc;
      return;
    }
    parallel_for(outer, grain_for(r), [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t o = b; o < e; ++o) out[o] = fold_row(x + o * r, r);
    });
    return;
  }
  // inner > 1: accumulate whole rows of `inner` values, split across threads by column blocks.
  auto block = [&](std::int64_t o, std::int64_t c0, std::int64_t c1) {
    T* acc = out + o * inner;
    for (std::int64_t c = c0; c < c1; ++c) acc[c] = init;
    for (std::int64_t i = 0; i < r; ++i) {
      const T* row = x + (o * r + i) * inner;
#pragma omp simd
      for (std::int64_t c = c0; c < c1; ++c) acc[c] = combine(acc[c], row[c]);
    }
  };
  if (outer >= 2 || work < kParallelGrain) {
    parallel_for(outer, grain_for(r * inner), [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t o = b; o < e; ++o) block(o, 0, inner);
    });
  } else {
    parallel_for(inner, grain_for(r), [&](std::int64_t b, std::int64_t e) { block(0, b, e); });
  }
}

template <class T>
void arg_rows(const T* x, std::int64_t* out, std::int64_t outer, std::int64_t r, std::int64_t inner,
              bool is_max) {
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t c = 0; c < inner; ++c) {
      std::int64_t best = 0;
      T v = x[o * r * inner + c];
      for (std::int64_t i = 1; i < r; ++i) {
        T u = x[(o * r + i) * inner + c];
        if (is_max ? (u > v || (u != u && v == v)) : (u < v || (u != u && v == v))) v = u, best = i;
      }
      out[o * inner + c] = best;
    }
}

}  // namespace

RawTensor CpuBackend::reduce(ReduceOp op, const RawTensor& x_in, std::span<const int> axes) {
  Shape kept = x_in.shape;
  for (int a : axes) kept[a] = 1;
  bool is_arg = op == ReduceOp::argmax || op == ReduceOp::argmin;
  bool is_logic = op == ReduceOp::any || op == ReduceOp::all;
  CT_CHECK_AS(DTypeError, is_logic == (x_in.dtype == DType::boolean),
              "reduce: {} does not take dtype {}", is_logic ? "any/all" : "this reduction",
              x_in.dtype);
  RawTensor out = empty(kept, is_arg ? DType::int64 : x_in.dtype);
  if (out.count() == 0) return out;

  // Bring the reduced axes together: adjacent axes need no copy.
  RawTensor x = dense(x_in);
  bool adjacent = axes.empty() || axes.back() - axes.front() + 1 == int(axes.size());
  std::int64_t outer = 1, r = 1, inner = 1;
  if (adjacent && !axes.empty()) {
    for (int i = 0; i < x.rank(); ++i)
      (i < axes.front() ? outer : i <= axes.back() ? r : inner) *= x.shape[i];
  } else if (!axes.empty()) {
    std::vector<int> perm;
    for (int i = 0; i < x.rank(); ++i)
      if (std::find(axes.begin(), axes.end(), i) == axes.end())
        perm.push_back(i), outer *= x.shape[i];
    for (int a : axes) perm.push_back(a), r *= x.shape[a];
    RawTensor t = x;
    for (int i = 0; i < x.rank(); ++i)
      t.shape[i] = x.shape[perm[i]], t.strides[i] = x.strides[perm[i]];
    x = contiguous(t);
  } else {
    outer = x.count();
  }

  visit_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data_as<T>();
    if (is_arg) {
      if constexpr (!std::is_same_v<T, bool>)
        arg_rows(px, out.data_as<std::int64_t>(), outer, r, inner, op == ReduceOp::argmax);
      return;
    }
    T* po = out.data_as<T>();
    T init = Fold<T>{op}.init();
    switch (op) {
      case ReduceOp::sum:
        if constexpr (!std::is_same_v<T, bool>)
          fold_rows(px, po, outer, r, inner, init, [](T a, T b) { return T(a + b); });
        break;
      case ReduceOp::product:
        if constexpr (!std::is_same_v<T, bool>)
          fold_rows(px, po, outer, r, inner, init, [](T a, T b) { return T(a * b); });
        break;
      case ReduceOp::max:
        fold_rows(px, po, outer, r, inner, init,
                  [](T a, T b) { return (b > a || b != b) ? b : a; });
        break;
      case ReduceOp::min:
        fold_rows(px, po, outer, r, inner, init,
                  [](T a, T b) { return (b < a || b != b) ? b : a; });
        break;
      case ReduceOp::any:
        fold_rows(px, po, outer, r, inner, init, [](T a, T b) { return T(a || b); });
        break;
      case ReduceOp::all:
        fold_rows(px, po, outer, r, inner, init, [](T a, T b) { return T(a && b); });
        break;
      default:
        break;
    }
  });
  return out;
}

}  // namespace ct::cpu
