#pragma once
// CT_FIELDS: the one line of reflection that gives a struct what S4TF's compiler synthesized —
// visiting its fields by name, so gradients, optimizers, checkpoints and device moves can walk
// any model.
#include <string>
#include <type_traits>

#include "cotangent/core/tensor.hpp"

#define CT_PARENS ()
#define CT_EXPAND(...) CT_EXPAND3(CT_EXPAND3(CT_EXPAND3(CT_EXPAND3(__VA_ARGS__))))
#define CT_EXPAND3(...) CT_EXPAND2(CT_EXPAND2(CT_EXPAND2(CT_EXPAND2(__VA_ARGS__))))
#define CT_EXPAND2(...) CT_EXPAND1(CT_EXPAND1(CT_EXPAND1(CT_EXPAND1(__VA_ARGS__))))
#define CT_EXPAND1(...) __VA_ARGS__
#define CT_FOR_EACH(macro, ...) __VA_OPT__(CT_EXPAND(CT_FOR_EACH_STEP(macro, __VA_ARGS__)))
#define CT_FOR_EACH_STEP(macro, first, ...) \
  macro(first) __VA_OPT__(CT_FOR_EACH_AGAIN CT_PARENS(macro, __VA_ARGS__))
#define CT_FOR_EACH_AGAIN() CT_FOR_EACH_STEP
#define CT_VISIT_FIELD(name) visit(#name, selves.name...);

/// Declares the fields of a model or layer, in order: CT_FIELDS(conv1, pool, dense).
/// Tensor fields of float or double are its parameters; struct fields are visited in turn.
#define CT_FIELDS(...)                                                                        \
  template <class Visit, class... Selves>                                                     \
  static void ct_fields([[maybe_unused]] Visit&& visit, [[maybe_unused]] Selves&... selves) { \
    CT_FOR_EACH(CT_VISIT_FIELD, __VA_ARGS__)                                                  \
  }

namespace ct {

/// is_tensor<X>::value: whether X is a Tensor of some scalar type.
template <class T>
struct is_tensor : std::false_type {};
template <Scalar T>
struct is_tensor<Tensor<T>> : std::true_type {};

/// A type that declared its fields with CT_FIELDS.
template <class M>
concept Reflectable = requires(M& m) {
  M::ct_fields([](const char*, auto&) {}, m);
};

/// A tensor of float or double: what gradients are taken with respect to.
template <class X>
concept FloatTensor = is_tensor<std::remove_cvref_t<X>>::value &&
    FloatingPoint<typename std::remove_cvref_t<X>::Scalar>;

/// Calls visit(a_i, b_i, …) for each float tensor leaf, walking the same fields of every
/// argument in step (they must share one type): the model, its gradient, an optimizer state.
/// A leaf undefined in `first` is an absent parameter (a Dense layer without bias) and skipped.
template <class Visit, class First, class... Rest>
void for_each_parameter(Visit&& visit, First& first, Rest&... rest) {
  using X = std::remove_const_t<First>;
  if constexpr (FloatTensor<X>) {
    if (first.defined()) visit(first, rest...);
  } else if constexpr (Reflectable<X>) {
    X::ct_fields([&](const char*, auto&... fields) { for_each_parameter(visit, fields...); }, first,
                 rest...);
  }
}

/// As for_each_parameter, with the path of each leaf: "conv1a/filter".
template <class Visit, class First, class... Rest>
void for_each_named_parameter(Visit&& visit, const std::string& prefix, First& first,
                              Rest&... rest) {
  using X = std::remove_const_t<First>;
  if constexpr (FloatTensor<X>) {
    if (first.defined()) visit(prefix, first, rest...);
  } else if constexpr (Reflectable<X>) {
    X::ct_fields(
        [&](const char* name, auto&... fields) {
          for_each_named_parameter(visit, prefix.empty() ? std::string(name) : prefix + "/" + name,
                                   fields...);
        },
        first, rest...);
  }
}

/// Visits every tensor leaf of any scalar type, with names, including non-trainable state
/// (running statistics): what a checkpoint or a device move must carry. Undefined (absent)
/// tensors are skipped.
template <class Visit, class First>
void for_each_tensor(Visit&& visit, const std::string& prefix, First& first) {
  using X = std::remove_const_t<First>;
  if constexpr (is_tensor<X>::value) {
    if (first.defined()) visit(prefix, first);
  } else if constexpr (Reflectable<X>) {
    X::ct_fields(
        [&](const char* name, auto& field) {
          for_each_tensor(visit, prefix.empty() ? std::string(name) : prefix + "/" + name, field);
        },
        first);
  } else if constexpr (requires { first.ct_state(visit, prefix); }) {
    first.ct_state(visit, prefix);
  }
}

}  // namespace ct
