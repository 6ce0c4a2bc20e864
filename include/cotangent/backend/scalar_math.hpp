#pragma once
// Scalar helpers the forward column of elementwise.def calls: integer division that cannot
// trap (x86 faults on INT_MIN / -1) and Python-free C semantics for mod (truncating, as fmod).
#include <cmath>
#include <concepts>
#include <type_traits>

namespace ct::detail {

template <class T>
T divide(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return b == T(-1) ? T(U(0) - U(a)) : T(a / b);  // the divisor was checked nonzero
  } else {
    return a / b;
  }
}

template <class T>
T mod(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    return b == T(-1) ? T(0) : T(a % b);
  } else {
    return std::fmod(a, b);
  }
}

template <class T>
T negate(T x) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return T(U(0) - U(x));
  } else {
    return -x;
  }
}

}  // namespace ct::detail
