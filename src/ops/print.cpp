// Printing like NumPy and S4TF, summarizing large tensors with `...`.
#include <cmath>
#include <iomanip>
#include <sstream>

#include "cotangent/ops/creation.hpp"

namespace ct {
namespace {

constexpr std::int64_t kSummarizeAbove = 1000;  // elements; NumPy's threshold
constexpr std::int64_t kEdgeItems = 3;

template <class T>
void print_scalar(std::ostream& out, T v) {
  if constexpr (std::is_same_v<T, bool>) {
    out << (v ? "true" : "false");
  } else if constexpr (std::is_floating_point_v<T>) {
    if (std::isfinite(v) && v == std::floor(v) && std::abs(v) < 1e16)
      out << std::fixed << std::setprecision(1) << v;
    else
      out << std::defaultfloat << std::setprecision(std::is_same_v<T, float> ? 7 : 15) << v;
    out << std::defaultfloat;
  } else {
    out << v;
  }
}

template <class T>
void print_level(std::ostream& out, const std::vector<T>& values, const Shape& shape,
                 const Shape& strides, int dim, std::int64_t offset, bool summarize) {
  if (dim == shape.rank()) return print_scalar(out, values[offset]);
  out << '[';
  std::int64_t n = shape[dim];
  for (std::int64_t i = 0; i < n; ++i) {
    if (summarize && n > 2 * kEdgeItems && i == kEdgeItems) {
      out << "..., ";
      i = n - kEdgeItems;
    }
    print_level(out, values, shape, strides, dim + 1, offset + i * strides[dim], summarize);
    if (i + 1 < n) {
      out << ',';
      if (dim + 1 < shape.rank())
        out << '\n' << std::string(dim + 1, ' ');
      else
        out << ' ';
    }
  }
  out << ']';
}

}  // namespace

std::ostream& operator<<(std::ostream& out, const AnyTensor& x) {
  if (!x.defined()) return out << "Tensor(undefined)";
  // The caller's formatting (precision, fixed, width…) is left as it was found.
  std::ios_base::fmtflags flags = out.flags();
  std::streamsize precision = out.precision();
  out.width(0);  // a width applies to one output, as for a number: consumed, not spread
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto values = Tensor<T>(x).scalars();
    print_level(out, values, x.shape(), contiguous_strides(x.shape()), 0, 0,
                x.scalar_count() > kSummarizeAbove);
  });
  out.flags(flags);
  out.precision(precision);
  return out;
}

std::string to_string(const AnyTensor& x) {
  std::ostringstream s;
  s << x;
  return s.str();
}

Generator& default_generator() {
  thread_local Generator generator;
  return generator;
}

}  // namespace ct
