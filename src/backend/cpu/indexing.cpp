// Gather / scatter-add, concatenation and padding: data movement on contiguous blocks.
#include <cstring>

#include "cpu_backend.hpp"

namespace ct::cpu {
namespace {

/// [outer, axis, inner] sizes of `shape` around `axis`.
struct Split3 {
  std::int64_t outer = 1, axis = 1, inner = 1;
  Split3(const Shape& s, int a) {
    for (int i = 0; i < s.rank(); ++i) (i < a ? outer : i == a ? axis : inner) *= s[i];
  }
};

std::vector<std::int64_t> read_indices(const RawTensor& indices, std::int64_t bound,
                                       const char* op) {
  CT_CHECK_AS(DTypeError, indices.dtype == DType::int32 || indices.dtype == DType::int64,
              "{}: indices must be int32 or int64, got {}", op, indices.dtype);
  RawTensor d = dense(indices);
  std::vector<std::int64_t> out(d.count());
  for (std::size_t i = 0; i < out.size(); ++i) {
    std::int64_t v =
        d.dtype == DType::int32 ? d.data_as<std::int32_t>()[i] : d.data_as<std::int64_t>()[i];
    CT_CHECK_AS(IndexError, v >= 0 && v < bound, "{}: index {} is out of range [0, {})", op, v,
                bound);
    out[i] = v;
  }
  return out;
}

Shape gathered_shape(const Shape& x, const Shape& indices, int axis) {
  Shape out;
  for (int i = 0; i < axis; ++i) out.push_back(x[i]);
  for (auto d : indices) out.push_back(d);
  for (int i = axis + 1; i < x.rank(); ++i) out.push_back(x[i]);
  return out;
}

}  // namespace

RawTensor CpuBackend::gather(const RawTensor& x_in, const RawTensor& indices, int axis) {
  RawTensor x = dense(x_in);
  Split3 s(x.shape, axis);
  auto idx = read_indices(indices, s.axis, "gather");
  RawTensor out = empty(gathered_shape(x.shape, indices.shape, axis), x.dtype);
  std::size_t size = dtype_size(x.dtype), row = std::size_t(s.inner) * size;
  const char* px = static_cast<const char*>(x.data());
  char* po = static_cast<char*>(out.data());
  std::int64_t n = std::int64_t(idx.size());
  parallel_for(s.outer * n, grain_for(s.inner), [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t k = b; k < e; ++k) {
      std::int64_t o = k / n, i = k % n;
      std::memcpy(po + k * row, px + (o * s.axis + idx[i]) * row, row);
    }
  });
  return out;
}

RawTensor CpuBackend::scatter_add(const RawTensor& updates_in, const RawTensor& indices, int axis,
                                  const Shape& shape) {
  Split3 s(shape, axis);
  auto idx = read_indices(indices, s.axis, "scatter_add");
  Shape expected = gathered_shape(shape, indices.shape, axis);
  CT_CHECK(updates_in.shape == expected,
           "scatter_add: updates of shape {} do not match {} for indices {}", updates_in.shape,
           expected, indices.shape);
  RawTensor u = dense(updates_in);
  RawTensor out = fill(shape, u.dtype, 0);
  std::int64_t n = std::int64_t(idx.size());
  visit_dtype(u.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      throw DTypeError("scatter_add: unsupported dtype bool");
    } else {
      const T* pu = u.data_as<T>();
      T* po = out.data_as<T>();
      // Each outer block is written by one thread, so repeated indices add without races.
      parallel_for(s.outer, grain_for(n * s.inner), [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t o = b; o < e; ++o)
          for (std::int64_t i = 0; i < n; ++i) {
            const T* src = pu + (o * n + i) * s.inner;
            T* dst = po + (o * s.axis + idx[i]) * s.inner;
            for (std::int64_t c = 0; c < s.inner; ++c) dst[c] += src[c];
          }
      });
    }
  });
  return out;
}

RawTensor CpuBackend::concatenate(std::span<const RawTensor> parts, int axis) {
  Shape shape = parts[0].shape;
  shape[axis] = 0;
  for (auto& p : parts) {
    CT_CHECK_AS(DTypeError, p.dtype == parts[0].dtype, "concatenate: dtypes differ: {} and {}",
                parts[0].dtype, p.dtype);
    shape[axis] += p.shape[axis];
  }
  RawTensor out = empty(shape, parts[0].dtype);
  Split3 s(shape, axis);
  std::size_t size = dtype_size(out.dtype);
  char* po = static_cast<char*>(out.data());
  std::int64_t at = 0;
  for (auto& p_in : parts) {
    RawTensor p = dense(p_in);
    std::size_t block = std::size_t(p.shape[axis] * s.inner) * size;
    const char* src = static_cast<const char*>(p.data());
    for (std::int64_t o = 0; o < s.outer; ++o)
      if (block)
        std::memcpy(po + (o * s.axis * s.inner + at * s.inner) * size, src + o * block, block);
    at += p.shape[axis];
  }
  return out;
}

namespace {
/// Source coordinate of padded coordinate `i` on an axis of size n; -1 for a constant cell.
inline std::int64_t pad_source(std::int64_t i, std::int64_t before, std::int64_t n, PadMode mode) {
  std::int64_t j = i - before;
  if (j >= 0 && j < n) return j;
  switch (mode) {
    case PadMode::constant:
      return -1;
    case PadMode::reflect:
      return j < 0 ? -j : 2 * (n - 1) - j;
    case PadMode::edge:
      return j < 0 ? 0 : n - 1;
  }
  return -1;
}

/// Calls visit(out_index, source_index or -1) over every element of the padded shape.
template <class Visit>
void for_each_padded(const Shape& in, const Shape& out, std::span<const std::int64_t> before,
                     PadMode mode, Visit&& visit) {
  std::int64_t total = out.count();
  Shape in_strides = contiguous_strides(in);
  std::vector<std::int64_t> index(out.rank(), 0);
  for (std::int64_t k = 0; k < total; ++k) {
    std::int64_t src = 0;
    for (int d = 0; d < out.rank() && src >= 0; ++d) {
      std::int64_t j = pad_source(index[d], before[d], in[d], mode);
      src = j < 0 ? -1 : src + j * in_strides[d];
    }
    visit(k, src);
    for (int d = out.rank() - 1; d >= 0; --d) {
      if (++index[d] < out[d]) break;
      index[d] = 0;
    }
  }
}
}  // namespace

RawTensor CpuBackend::pad(const RawTensor& x_in, std::span<const std::int64_t> before,
                          std::span<const std::int64_t> after, PadMode mode, double value) {
  RawTensor x = dense(x_in);
  Shape shape = x.shape;
  for (int i = 0; i < shape.rank(); ++i) shape[i] += before[i] + after[i];
  RawTensor out = empty(shape, x.dtype);
  visit_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data_as<T>();
    T* po = out.data_as<T>();
    T fill_value = std::is_same_v<T, bool> ? T(value != 0) : static_cast<T>(value);
    for_each_padded(x.shape, shape, before, mode, [&](std::int64_t k, std::int64_t src) {
      po[k] = src < 0 ? fill_value : px[src];
    });
  });
  return out;
}

RawTensor CpuBackend::pad_backward(const RawTensor& dy_in, std::span<const std::int64_t> before,
                                   std::span<const std::int64_t> after, PadMode mode) {
  RawTensor dy = dense(dy_in);
  Shape shape = dy.shape;
  for (int i = 0; i < shape.rank(); ++i) shape[i] -= before[i] + after[i];
  RawTensor out = fill(shape, dy.dtype, 0);
  CT_CHECK_AS(DTypeError, is_floating(dy.dtype), "padded: gradient of dtype {}", dy.dtype);
  visit_dtype(dy.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T>) {
      const T* pdy = dy.data_as<T>();
      T* po = out.data_as<T>();
      for_each_padded(shape, dy.shape, before, mode, [&](std::int64_t k, std::int64_t src) {
        if (src >= 0) po[src] += pdy[k];
      });
    }
  });
  return out;
}

}  // namespace ct::cpu
