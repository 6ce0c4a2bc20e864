#pragma once
// What every op does first: check its operands and find the backend of their device.
#include "cotangent/autodiff/node.hpp"
#include "cotangent/backend/backend.hpp"
#include "cotangent/core/tensor.hpp"

namespace ct::detail {

inline Backend& backend_of(const char* op, const AnyTensor& a) {
  CT_CHECK_AS(ValueError, a.defined(), "{}: the operand is an undefined tensor", op);
  return backend_for(a.device());
}

inline Backend& backend_of(const char* op, const AnyTensor& a, const AnyTensor& b) {
  CT_CHECK_AS(ValueError, a.defined() && b.defined(), "{}: an operand is an undefined tensor", op);
  CT_CHECK_AS(DeviceError, a.device() == b.device(),
              "{}: operands are on different devices: {} and {} (copy one explicitly)", op,
              a.device(), b.device());
  return backend_for(a.device());
}

template <Scalar T>
Tensor<T> wrap(RawTensor raw) {
  return Tensor<T>(AnyTensor(std::move(raw)));
}

/// A view of `x`'s storage with new geometry; keeps no autodiff node.
template <Scalar T>
Tensor<T> view(const Tensor<T>& x, const Shape& shape, const Shape& strides, std::int64_t offset) {
  RawTensor raw = x.raw();
  raw.shape = shape;
  raw.strides = strides;
  raw.offset = offset;
  return wrap<T>(std::move(raw));
}

// Which scalar types a row of elementwise.def accepts.
template <class T>
concept in_domain_numeric = Numeric<T>;
template <class T>
concept in_domain_floating = FloatingPoint<T>;
template <class T>
concept in_domain_any = Scalar<T>;
template <class T>
concept in_domain_boolean = std::same_as<T, bool>;

/// Whether a derivative expression reads the identifier `name` (so the pullback must keep it).
constexpr bool reads(std::string_view expr, std::string_view name) {
  auto ident = [](char c) {
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  for (std::size_t at = expr.find(name); at != std::string_view::npos;
       at = expr.find(name, at + 1)) {
    bool left = at == 0 || !ident(expr[at - 1]);
    bool right = at + name.size() >= expr.size() || !ident(expr[at + name.size()]);
    if (left && right) return true;
  }
  return false;
}

}  // namespace ct::detail
