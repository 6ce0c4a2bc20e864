#pragma once
// Regularising noise, active only in the training phase (the identity in inference), drawn from
// the context's random generator as Dropout is: GaussianNoise, GaussianDropout, AlphaDropout.
#include <cmath>

#include "cotangent/nn/layers.hpp"

namespace ct {

/// Adds N(0, stddev²) noise to every value while training.
template <FloatingPoint T>
struct GaussianNoise {
  double stddev = 0.1;
  CT_FIELDS()
  explicit GaussianNoise(double stddev = 0.1) : stddev(stddev) {
    CT_CHECK_AS(ValueError, std::isfinite(stddev) && stddev >= 0,
                "GaussianNoise: the standard deviation {} must be finite and not negative", stddev);
  }
  Tensor<T> operator()(const Tensor<T>& x) const {
    if (!detail::noisy(stddev)) return x;
    return x + random_normal<T>(x.shape(), T(0), T(stddev), Context::local().random, x.device());
  }
};

/// Multiplies every value by N(1, p / (1 - p)) noise while training: dropout's mean and
/// variance without its zeros (Srivastava et al.).
template <FloatingPoint T>
struct GaussianDropout {
  double probability = 0.5;
  CT_FIELDS()
  explicit GaussianDropout(double probability = 0.5)
      : probability(detail::drop_probability("GaussianDropout", probability)) {}
  Tensor<T> operator()(const Tensor<T>& x) const {
    if (!detail::noisy(probability)) return x;
    T stddev = T(std::sqrt(probability / (1 - probability)));
    return x * random_normal<T>(x.shape(), T(1), stddev, Context::local().random, x.device());
  }
};

/// Dropout for self-normalising (SELU) networks (Klambauer et al.): dropped values are set to
/// SELU's negative saturation value, then an affine map restores the mean 0 and variance 1 that
/// SELU keeps.
template <FloatingPoint T>
struct AlphaDropout {
  double probability = 0.5;
  CT_FIELDS()
  explicit AlphaDropout(double probability = 0.5)
      : probability(detail::drop_probability("AlphaDropout", probability)) {}
  Tensor<T> operator()(const Tensor<T>& x) const {
    if (!detail::noisy(probability)) return x;
    // -scale·alpha of SELU: where a dropped unit sits.
    constexpr double saturation = -1.0507009873554805 * 1.6732632423543772;
    double p = probability;
    double a = 1 / std::sqrt((1 - p) * (1 + p * saturation * saturation)), b = -a * saturation * p;
    auto keep =
        cast<T>(random_uniform<T>(x.shape(), 0, 1, Context::local().random, x.device()) >= T(p));
    return (x * keep + (T(1) - keep) * T(saturation)) * T(a) + T(b);
  }
};

}  // namespace ct
