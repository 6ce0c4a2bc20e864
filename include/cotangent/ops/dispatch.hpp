#pragma once
// What every op does first: check its operands and find the backend of their device.
#include "cotangent/autodiff/node.hpp"
#include "cotangent/backend/backend.hpp"
#include "cotangent/core/tensor.hpp"

namespace ct::detail {

/// Checks that the operands are defined and share a device, and finds the backend that runs
/// `op` there on the first operand's dtype (the device's own, or the counted CPU fallback).
template <class... Rest>
Backend& backend_of(Op op, const char* name, const AnyTensor& a, const Rest&... rest) {
  CT_CHECK_AS(ValueError, a.defined() && (rest.defined() && ...),
              "{}: an operand is an undefined tensor", name);
  if constexpr (sizeof...(Rest) > 0) {
    for (const AnyTensor* other : {static_cast<const AnyTensor*>(&rest)...})
      CT_CHECK_AS(DeviceError, other->device() == a.device(),
                  "{}: operands are on different devices: {} and {} (move one with to())", name,
                  a.device(), other->device());
  }
  return backend_for(a.device(), op, a.dtype());
}

template <Scalar T>
Tensor<T> wrap(RawTensor raw) {
  return Tensor<T>(AnyTensor(std::move(raw)));
}

/// A 0-d constant on `like`'s device (S4TF's Tensor(v, deviceAndPrecisionLike: like)): how
/// scalar operands such as the 2 in x * 2 reach any device without a host copy.
template <Scalar T>
Tensor<T> constant(T value, const AnyTensor& like) {
  CT_CHECK_AS(ValueError, like.defined(), "an operand is an undefined tensor");
  return wrap<T>(
      backend_for(like.device(), Op::fill, dtype_of<T>).fill({}, dtype_of<T>, double(value)));
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
