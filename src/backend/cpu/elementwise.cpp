// Elementwise kernels: every row of elementwise.def becomes a functor, run by one strided loop
// with contiguous fast paths the compiler vectorizes.
#include <cmath>
#include <cstdlib>

#include "cotangent/backend/scalar_math.hpp"
#include "cpu_backend.hpp"

namespace ct::cpu {
namespace {

template <class T>
constexpr bool in_numeric = !std::is_same_v<T, bool>;
template <class T>
constexpr bool in_floating = std::is_floating_point_v<T>;
template <class T>
constexpr bool in_any = true;
template <class T>
constexpr bool in_boolean = std::is_same_v<T, bool>;

#define CT_UNARY(name, domain, forward, derivative) \
  struct unary_##name {                             \
    static constexpr const char* label = #name;     \
    template <class T>                              \
    static constexpr bool accepts = in_##domain<T>; \
    template <class T>                              \
    static T apply(T x) {                           \
      return forward;                               \
    }                                               \
  };
#define CT_BINARY(name, domain, forward, d_a, d_b)  \
  struct binary_##name {                            \
    static constexpr const char* label = #name;     \
    template <class T>                              \
    static constexpr bool accepts = in_##domain<T>; \
    template <class T>                              \
    static T apply(T a, T b) {                      \
      return forward;                               \
    }                                               \
  };
#define CT_COMPARE(name, domain, forward)           \
  struct compare_##name {                           \
    static constexpr const char* label = #name;     \
    template <class T>                              \
    static constexpr bool accepts = in_##domain<T>; \
    template <class T>                              \
    static bool apply(T a, T b) {                   \
      return forward;                               \
    }                                               \
  };
#include "cotangent/backend/elementwise.def"
#undef CT_UNARY
#undef CT_BINARY
#undef CT_COMPARE

template <class F, class T>
void unary_kernel(const RawTensor& x, RawTensor& out) {
  const T* in = x.data_as<T>();
  T* o = out.data_as<T>();
  if (x.is_contiguous()) {  // the common case, without the strided loop's setup
    parallel_for(x.count(), kParallelGrain, [&](std::int64_t b, std::int64_t e) {
#pragma omp simd
      for (std::int64_t i = b; i < e; ++i) o[i] = F::apply(in[i]);
    });
    return;
  }
  StridedLoop<2> loop(x.shape, {&out.strides, &x.strides});
  loop.run([&](std::array<std::int64_t, 2> off, std::int64_t n) {
    T* __restrict po = o + off[0];
    const T* __restrict pi = in + off[1];
    std::int64_t s = loop.inner_stride[1];
    if (s == 1) {
#pragma omp simd
      for (std::int64_t i = 0; i < n; ++i) po[i] = F::apply(pi[i]);
    } else {
      for (std::int64_t i = 0; i < n; ++i) po[i] = F::apply(pi[i * s]);
    }
  });
}

template <class Out, class In, class F>
void binary_loop(const RawTensor& a, const RawTensor& b, RawTensor& out, F f) {
  const In* pa0 = a.data_as<In>();
  const In* pb0 = b.data_as<In>();
  Out* po0 = out.data_as<Out>();
  if (a.shape == out.shape && b.shape == out.shape && a.is_contiguous() && b.is_contiguous()) {
    // No broadcasting, no strides: the common case, without the strided loop's setup.
    parallel_for(out.count(), kParallelGrain, [&](std::int64_t begin, std::int64_t end) {
#pragma omp simd
      for (std::int64_t i = begin; i < end; ++i) po0[i] = f(pa0[i], pb0[i]);
    });
    return;
  }
  Shape sa = broadcast_strides(a, out.shape), sb = broadcast_strides(b, out.shape);
  StridedLoop<3> loop(out.shape, {&out.strides, &sa, &sb});
  loop.run([&](std::array<std::int64_t, 3> off, std::int64_t n) {
    Out* __restrict po = po0 + off[0];
    const In* __restrict pa = pa0 + off[1];
    const In* __restrict pb = pb0 + off[2];
    std::int64_t s1 = loop.inner_stride[1], s2 = loop.inner_stride[2];
    if (s1 == 1 && s2 == 1) {
#pragma omp simd
      for (std::int64_t i = 0; i < n; ++i) po[i] = f(pa[i], pb[i]);
    } else if (s1 == 1 && s2 == 0) {
      In vb = *pb;
#pragma omp simd
      for (std::int64_t i = 0; i < n; ++i) po[i] = f(pa[i], vb);
    } else if (s1 == 0 && s2 == 1) {
      In va = *pa;
#pragma omp simd
      for (std::int64_t i = 0; i < n; ++i) po[i] = f(va, pb[i]);
    } else {
      for (std::int64_t i = 0; i < n; ++i) po[i] = f(pa[i * s1], pb[i * s2]);
    }
  });
}

/// Integer division by zero is an error, not a trap.
template <class T>
void check_divisor(const char* op, const RawTensor& b) {
  if constexpr (std::is_integral_v<T>) {
    RawTensor d = dense(b);
    const T* p = d.data_as<T>();
    for (std::int64_t i = 0, n = d.count(); i < n; ++i)
      CT_CHECK_AS(ValueError, p[i] != 0, "{}: integer division by zero", op);
  }
}

}  // namespace

RawTensor dense(const RawTensor& x) {
  if (x.is_contiguous()) return x;
  return backend_for(Device::cpu()).contiguous(x);
}

RawTensor CpuBackend::unary(UnaryOp op, const RawTensor& x) {
  RawTensor out = empty(x.shape, x.dtype);
  visit_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    switch (op) {
#define CT_UNARY(name, ...)                                                               \
  case UnaryOp::name:                                                                     \
    if constexpr (unary_##name::accepts<T>) return unary_kernel<unary_##name, T>(x, out); \
    throw DTypeError(detail::format("{}: unsupported dtype {}", #name, dtype_name(x.dtype)));
#include "cotangent/backend/elementwise.def"
#undef CT_UNARY
    }
  });
  return out;
}

RawTensor CpuBackend::binary(BinaryOp op, const RawTensor& a, const RawTensor& b,
                             const Shape& shape) {
  CT_CHECK_AS(DTypeError, a.dtype == b.dtype, "binary op: dtypes differ: {} and {}", a.dtype,
              b.dtype);
  RawTensor out = empty(shape, a.dtype);
  visit_dtype(a.dtype, [&](auto tag) {
    using T = decltype(tag);
    switch (op) {
#define CT_BINARY(name, ...)                                                                    \
  case BinaryOp::name:                                                                          \
    if constexpr (binary_##name::accepts<T>) {                                                  \
      if (op == BinaryOp::divide || op == BinaryOp::mod) check_divisor<T>(#name, b);            \
      return binary_loop<T, T>(a, b, out, [](T x, T y) { return binary_##name::apply(x, y); }); \
    }                                                                                           \
    throw DTypeError(detail::format("{}: unsupported dtype {}", #name, dtype_name(a.dtype)));
#include "cotangent/backend/elementwise.def"
#undef CT_BINARY
    }
  });
  return out;
}

RawTensor CpuBackend::compare(CompareOp op, const RawTensor& a, const RawTensor& b,
                              const Shape& shape) {
  CT_CHECK_AS(DTypeError, a.dtype == b.dtype, "comparison: dtypes differ: {} and {}", a.dtype,
              b.dtype);
  RawTensor out = empty(shape, DType::boolean);
  visit_dtype(a.dtype, [&](auto tag) {
    using T = decltype(tag);
    switch (op) {
#define CT_COMPARE(name, ...)                                                            \
  case CompareOp::name:                                                                  \
    if constexpr (compare_##name::accepts<T>)                                            \
      return binary_loop<bool, T>(a, b, out,                                             \
                                  [](T x, T y) { return compare_##name::apply(x, y); }); \
    throw DTypeError(detail::format("{}: unsupported dtype {}", #name, dtype_name(a.dtype)));
#include "cotangent/backend/elementwise.def"
#undef CT_COMPARE
    }
  });
  return out;
}

RawTensor CpuBackend::select(const RawTensor& c, const RawTensor& a, const RawTensor& b,
                             const Shape& shape) {
  CT_CHECK_AS(DTypeError, c.dtype == DType::boolean, "where: condition must be bool, got {}",
              c.dtype);
  CT_CHECK_AS(DTypeError, a.dtype == b.dtype, "where: dtypes differ: {} and {}", a.dtype, b.dtype);
  RawTensor out = empty(shape, a.dtype);
  Shape sc = broadcast_strides(c, shape), sa = broadcast_strides(a, shape),
        sb = broadcast_strides(b, shape);
  visit_dtype(a.dtype, [&](auto tag) {
    using T = decltype(tag);
    const bool* pc = c.data_as<bool>();
    const T* pa = a.data_as<T>();
    const T* pb = b.data_as<T>();
    T* po = out.data_as<T>();
    StridedLoop<4> loop(shape, {&out.strides, &sc, &sa, &sb});
    loop.run([&](std::array<std::int64_t, 4> off, std::int64_t n) {
      auto [s0, s1, s2, s3] = loop.inner_stride;
      for (std::int64_t i = 0; i < n; ++i)
        po[off[0] + i * s0] = pc[off[1] + i * s1] ? pa[off[2] + i * s2] : pb[off[3] + i * s3];
    });
  });
  return out;
}

RawTensor CpuBackend::cast(const RawTensor& x, DType dtype) {
  RawTensor out = empty(x.shape, dtype);
  visit_dtype(x.dtype, [&](auto from) {
    visit_dtype(dtype, [&](auto to) {
      using F = decltype(from);
      using T = decltype(to);
      const F* in = x.data_as<F>();
      T* o = out.data_as<T>();
      StridedLoop<2> loop(x.shape, {&out.strides, &x.strides});
      loop.run([&](std::array<std::int64_t, 2> off, std::int64_t n) {
        std::int64_t s = loop.inner_stride[1];
        for (std::int64_t i = 0; i < n; ++i) {
          F v = in[off[1] + i * s];
          if constexpr (std::is_same_v<T, bool>)
            o[off[0] + i] = v != F(0);
          else
            o[off[0] + i] = static_cast<T>(v);
        }
      });
    });
  });
  return out;
}

RawTensor CpuBackend::contiguous(const RawTensor& x) {
  RawTensor out = empty(x.shape, x.dtype);
  std::size_t size = dtype_size(x.dtype);
  const char* in = static_cast<const char*>(x.data());
  char* o = static_cast<char*>(out.data());
  StridedLoop<2> loop(x.shape, {&out.strides, &x.strides});
  loop.run([&](std::array<std::int64_t, 2> off, std::int64_t n) {
    std::int64_t s = loop.inner_stride[1];
    if (s == 1) {
      std::memcpy(o + off[0] * size, in + off[1] * std::int64_t(size), n * size);
      return;
    }
    visit_dtype(x.dtype, [&](auto tag) {
      using T = decltype(tag);
      const T* pi = reinterpret_cast<const T*>(in) + off[1];
      T* po = reinterpret_cast<T*>(o) + off[0];
      for (std::int64_t i = 0; i < n; ++i) po[i] = pi[i * s];
    });
  });
  return out;
}

RawTensor CpuBackend::update(RawTensor&& y, double a, const RawTensor& x_in, double b) {
  CT_CHECK(y.shape == x_in.shape && y.dtype == x_in.dtype, "update: {} {} and {} {} do not match",
           y.shape, y.dtype, x_in.shape, x_in.dtype);
  // In place when nothing else sees y's buffer (value semantics), else into a fresh one.
  RawTensor out = y.owns_whole_storage() ? y : empty(y.shape, y.dtype);
  RawTensor x = dense(x_in), from = dense(y);
  visit_dtype(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T>) {
      T* po = out.data_as<T>();
      const T* py = from.data_as<T>();
      const T* px = x.data_as<T>();
      T ta = T(a), tb = T(b);
      parallel_for(y.count(), kParallelGrain, [&](std::int64_t begin, std::int64_t end) {
#pragma omp simd
        for (std::int64_t i = begin; i < end; ++i) po[i] = ta * py[i] + tb * px[i];
      });
    } else {
      throw DTypeError(detail::format("update: unsupported dtype {}", y.dtype));
    }
  });
  return out;
}

std::shared_ptr<Storage> CpuBackend::allocate(std::size_t nbytes) { return allocate_host(nbytes); }

void CpuBackend::write(const RawTensor& dst, const void* host) {
  CT_CHECK(dst.is_contiguous(), "write: the destination must be contiguous");
  std::size_t bytes = std::size_t(dst.count()) * dtype_size(dst.dtype);
  if (bytes) std::memcpy(dst.data(), host, bytes);
}

void CpuBackend::read(const RawTensor& src, void* host) {
  RawTensor d = dense(src);
  std::size_t bytes = std::size_t(d.count()) * dtype_size(d.dtype);
  if (bytes) std::memcpy(host, d.data(), bytes);
}

RawTensor CpuBackend::iota(const Shape& shape, int axis, DType dtype) {
  CT_CHECK_AS(DTypeError, dtype != DType::boolean, "iota: unsupported dtype {}", dtype);
  CT_CHECK_AS(IndexError, axis >= 0 && axis < shape.rank(), "iota: axis {} out of range for {}",
              axis, shape);
  RawTensor out = empty(shape, dtype);
  std::int64_t size = shape[axis], inner = 1;
  for (int i = axis + 1; i < shape.rank(); ++i) inner *= shape[i];
  visit_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = out.data_as<T>();
    parallel_for(out.count(), kParallelGrain, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t i = b; i < e; ++i) p[i] = T((i / inner) % size);
    });
  });
  return out;
}

RawTensor CpuBackend::fill(const Shape& shape, DType dtype, double value) {
  RawTensor out = empty(shape, dtype);
  visit_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    T v = std::is_same_v<T, bool> ? T(value != 0) : static_cast<T>(value);
    T* p = out.data_as<T>();
    parallel_for(out.count(), kParallelGrain,
                 [&](std::int64_t b, std::int64_t e) { std::fill(p + b, p + e, v); });
  });
  return out;
}

}  // namespace ct::cpu
