#pragma once
// check_gradients: the automatic gradient against float64 central differences, with the
// tolerances of PyTorch's gradcheck. Part of the library so users can check their own
// derivatives (with_derivative) the way the library checks its own.
#include <cmath>
#include <sstream>
#include <string>

#include "cotangent/autodiff/gradient.hpp"

namespace ct {

/// What check_gradients runs with: its central-difference step, gradcheck's tolerances, a seed.
struct GradientCheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  std::uint64_t seed = 7;  // of the random cotangent that projects a non-scalar result
};

/// check_gradients' verdict: `ok` (also its bool value), the largest error, the first mismatch.
struct GradientCheck {
  bool ok = true;
  double max_error = 0;  // largest |automatic - numeric| seen
  std::string message;   // the first mismatch: argument, element, both values
  explicit operator bool() const { return ok; }
};

/// Checks the gradient of f (Tensor<double>... -> Tensor<double>) at xs. A non-scalar result is
/// projected on a fixed random cotangent, so the whole vector-Jacobian product is checked.
template <class F, class... Xs>
GradientCheck check_gradients(F&& f, const Xs&... xs) {
  static_assert((std::is_same_v<Xs, Tensor<double>> && ...),
                "check_gradients takes Tensor<double> arguments");
  GradientCheckOptions options;
  std::vector<Tensor<double>> args{xs...};
  auto call = [&](const std::vector<Tensor<double>>& a) {
    return [&]<std::size_t... I>(std::index_sequence<I...>) { return Tensor<double>(f(a[I]...)); }
    (std::index_sequence_for<Xs...>{});
  };
  Tensor<double> y0 = call(args);
  Generator gen(options.seed);
  Tensor<double> weight = random_normal<double>(y0.shape(), 0, 1, gen, y0.device());
  auto scalar_of = [&](const Tensor<double>& y) { return sum(y * weight); };

  // Automatic: gradient of the projected result with respect to every argument.
  std::vector<Tensor<double>> automatic(args.size());
  for (std::size_t i = 0; i < args.size(); ++i) {
    automatic[i] = gradient(args[i], [&](const Tensor<double>& xi) {
      auto a = args;
      a[i] = xi;
      return scalar_of(call(a));
    });
  }

  GradientCheck result;
  for (std::size_t i = 0; i < args.size(); ++i) {
    auto base = args[i].scalars();
    auto got = automatic[i].scalars();
    for (std::size_t k = 0; k < base.size(); ++k) {
      auto at = [&](double delta) {
        auto v = base;
        v[k] += delta;
        auto a = args;
        a[i] = Tensor<double>(v, args[i].shape(), args[i].device());
        return scalar_of(call(a)).scalar();
      };
      double numeric = (at(options.eps) - at(-options.eps)) / (2 * options.eps);
      double error = std::abs(got[k] - numeric);
      result.max_error = std::max(result.max_error, error);
      if (!(error <= options.atol + options.rtol * std::abs(numeric)) && result.ok) {
        result.ok = false;
        std::ostringstream m;
        m << "argument " << i << " element " << k << ": automatic " << got[k] << " vs numeric "
          << numeric;
        result.message = m.str();
      }
    }
  }
  return result;
}

/// Checks second derivatives: the gradient of <∇f(x), v> (a Hessian-vector product) against
/// finite differences of ∇f, for f of one Tensor<double> argument with a scalar result.
template <class F>
GradientCheck check_second_order(F&& f, const Tensor<double>& x) {
  return check_gradients([&](const Tensor<double>& x) { return gradient(x, f); }, x);
}

}  // namespace ct
