#pragma once
// Scalar types a tensor can hold; the dtype is in Tensor<Scalar>'s type, and below it in DType.
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string_view>
#include <type_traits>

namespace ct {

/// The scalar type of a tensor, known at run time: AnyTensor::dtype() == DType::float32.
enum class DType : std::uint8_t { float32, float64, int32, int64, boolean };

/// The five scalar types a tensor can hold: float, double, int32_t, int64_t and bool.
template <class T>
concept Scalar = std::same_as<T, float> || std::same_as<T, double> ||
    std::same_as<T, std::int32_t> || std::same_as<T, std::int64_t> || std::same_as<T, bool>;
/// float or double: the scalar types that can be differentiated.
template <class T>
concept FloatingPoint = std::same_as<T, float> || std::same_as<T, double>;
/// The scalar types with arithmetic: all but bool.
template <class T>
concept Numeric = Scalar<T> && !std::same_as<T, bool>;
/// The scalar types of indices and class labels.
template <class T>
concept Index = std::same_as<T, std::int32_t> || std::same_as<T, std::int64_t>;

/// The DType of a scalar type: dtype_of<float> is DType::float32.
template <Scalar T>
constexpr DType dtype_of = std::same_as<T, float>          ? DType::float32
                           : std::same_as<T, double>       ? DType::float64
                           : std::same_as<T, std::int32_t> ? DType::int32
                           : std::same_as<T, std::int64_t> ? DType::int64
                                                           : DType::boolean;

/// Bytes per element: 4 for float32, 1 for bool.
constexpr std::size_t dtype_size(DType d) {
  switch (d) {
    case DType::float32:
      return 4;
    case DType::float64:
      return 8;
    case DType::int32:
      return 4;
    case DType::int64:
      return 8;
    case DType::boolean:
      return 1;
  }
  return 0;
}

/// The dtype's name as printed: "float32", "int64", "bool".
constexpr std::string_view dtype_name(DType d) {
  switch (d) {
    case DType::float32:
      return "float32";
    case DType::float64:
      return "float64";
    case DType::int32:
      return "int32";
    case DType::int64:
      return "int64";
    case DType::boolean:
      return "bool";
  }
  return "?";
}

/// Whether the dtype is float32 or float64.
constexpr bool is_floating(DType d) { return d == DType::float32 || d == DType::float64; }

inline std::ostream& operator<<(std::ostream& out, DType d) { return out << dtype_name(d); }

/// Calls f(T{}) with the C++ type of `d`: visit_dtype(d, [](auto tag) { using T = decltype(tag);
/// });
template <class F>
decltype(auto) visit_dtype(DType d, F&& f) {
  switch (d) {
    case DType::float32:
      return f(float{});
    case DType::float64:
      return f(double{});
    case DType::int32:
      return f(std::int32_t{});
    case DType::int64:
      return f(std::int64_t{});
    case DType::boolean:
      break;
  }
  return f(bool{});
}

}  // namespace ct
