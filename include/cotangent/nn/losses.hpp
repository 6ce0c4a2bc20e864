#pragma once
// Losses, as in S4TF, each with a reduction (mean by default) and stable for large logits.
#include "cotangent/autodiff/gradient.hpp"

namespace ct {

/// How a loss reduces its per-sample (or per-element) losses: mean (the default), sum or none.
enum class Reduction { mean, sum, none };

namespace detail {
template <FloatingPoint T>
Tensor<T> reduce_loss(const Tensor<T>& x, Reduction r) {
  switch (r) {
    case Reduction::mean:
      return mean(x);
    case Reduction::sum:
      return sum(x);
    case Reduction::none:
      return x;
  }
  return x;
}
template <class A, class B>
void same_shape(const char* op, const A& a, const B& b) {
  CT_CHECK(a.shape() == b.shape(), "{}: predictions {} and targets {} differ in shape", op,
           a.shape(), b.shape());
}
}  // namespace detail

/// Cross entropy of softmax(logits [N, C]) against class ids [N]. The derivative,
/// (softmax - one_hot) / N, is written by hand: it keeps only the softmax.
template <FloatingPoint T, Index I>
Tensor<T> softmax_cross_entropy(const Tensor<T>& logits, const Tensor<I>& labels,
                                Reduction reduction = Reduction::mean) {
  CT_CHECK(logits.rank() == 2 && labels.rank() == 1 && labels.shape(0) == logits.shape(0),
           "softmax_cross_entropy: logits {} and labels {} must be [N, C] and [N]", logits.shape(),
           labels.shape());
  std::int64_t classes = logits.shape(1);
  detail::check_labels(labels, classes, "softmax_cross_entropy");
  auto per_sample = [&](const Tensor<T>& z) {
    auto log_probs = log_softmax(z);
    auto picked = sum(log_probs * detail::one_hot_checked<T>(labels, classes), {1});
    return std::pair{-picked, log_probs};
  };
  if (reduction != Reduction::mean) return detail::reduce_loss(per_sample(logits).first, reduction);
  return with_derivative(logits, [&](const Tensor<T>& z) {
    auto [losses, log_probs] = per_sample(z);
    T scale = T(1) / T(std::max<std::int64_t>(z.shape(0), 1));
    auto probs = exp(log_probs);
    return std::pair{mean(losses), [probs, labels, classes, scale](const Tensor<T>& dy) {
                       return (probs - detail::one_hot_checked<T>(labels, classes)) * (dy * scale);
                     }};
  });
}

/// Cross entropy of softmax(logits) against probability rows of the same shape.
template <FloatingPoint T>
Tensor<T> softmax_cross_entropy(const Tensor<T>& logits, const Tensor<T>& probabilities,
                                Reduction reduction = Reduction::mean) {
  detail::same_shape("softmax_cross_entropy", logits, probabilities);
  return detail::reduce_loss(-sum(probabilities * log_softmax(logits), {-1}), reduction);
}

/// Binary cross entropy on logits: max(z, 0) - z·y + log(1 + exp(-|z|)), stable for any z. The
/// loss is smooth, so its derivative is written as such, (sigmoid(z) - y) and -z, rather than
/// left to relu and abs, whose slopes at 0 are 0.
template <FloatingPoint T>
Tensor<T> sigmoid_cross_entropy(const Tensor<T>& logits, const Tensor<T>& labels,
                                Reduction reduction = Reduction::mean) {
  detail::same_shape("sigmoid_cross_entropy", logits, labels);
  Tensor<T> z = without_derivative(logits), y = without_derivative(labels);
  Tensor<T> losses = relu(z) - z * y + log1p(exp(-abs(z)));
  if (detail::tracking(logits, labels))
    detail::record(losses, {&logits, &labels},
                   [logits, labels](const AnyTensor& d, const AnyTensor&) {
                     Tensor<T> dy(d);
                     return detail::grads(dy * (sigmoid(logits) - labels), -dy * logits);
                   });
  return detail::reduce_loss(losses, reduction);
}

/// (predicted - expected)², elementwise then reduced; the shapes must be equal.
template <FloatingPoint T>
Tensor<T> mean_squared_error(const Tensor<T>& predicted, const Tensor<T>& expected,
                             Reduction reduction = Reduction::mean) {
  detail::same_shape("mean_squared_error", predicted, expected);
  return detail::reduce_loss(square(predicted - expected), reduction);
}
/// |predicted - expected|, elementwise then reduced; the shapes must be equal.
template <FloatingPoint T>
Tensor<T> mean_absolute_error(const Tensor<T>& predicted, const Tensor<T>& expected,
                              Reduction reduction = Reduction::mean) {
  detail::same_shape("mean_absolute_error", predicted, expected);
  return detail::reduce_loss(abs(predicted - expected), reduction);
}
/// Quadratic within delta of the target, linear beyond.
template <FloatingPoint T>
Tensor<T> huber_loss(const Tensor<T>& predicted, const Tensor<T>& expected,
                     std::type_identity_t<T> delta = T(1), Reduction reduction = Reduction::mean) {
  detail::same_shape("huber_loss", predicted, expected);
  auto error = abs(expected - predicted);
  auto quadratic = minimum(error, delta);
  return detail::reduce_loss(quadratic * quadratic * T(0.5) + (error - quadratic) * delta,
                             reduction);
}
/// Targets in {-1, 1}.
template <FloatingPoint T>
Tensor<T> hinge_loss(const Tensor<T>& predicted, const Tensor<T>& expected,
                     Reduction reduction = Reduction::mean) {
  detail::same_shape("hinge_loss", predicted, expected);
  return detail::reduce_loss(relu(T(1) - expected * predicted), reduction);
}
/// hinge_loss squared: max(0, 1 - expected·predicted)², targets in {-1, 1}.
template <FloatingPoint T>
Tensor<T> squared_hinge_loss(const Tensor<T>& predicted, const Tensor<T>& expected,
                             Reduction reduction = Reduction::mean) {
  detail::same_shape("squared_hinge_loss", predicted, expected);
  return detail::reduce_loss(square(relu(T(1) - expected * predicted)), reduction);
}
/// One-hot targets [N, C].
template <FloatingPoint T>
Tensor<T> categorical_hinge_loss(const Tensor<T>& predicted, const Tensor<T>& expected,
                                 Reduction reduction = Reduction::mean) {
  detail::same_shape("categorical_hinge_loss", predicted, expected);
  auto positive = sum(expected * predicted, {-1});
  auto negative = max((T(1) - expected) * predicted, {-1});
  return detail::reduce_loss(relu(negative - positive + T(1)), reduction);
}
/// log(cosh(error)), computed as e + softplus(-2e) - log 2 so it never overflows.
template <FloatingPoint T>
Tensor<T> log_cosh_loss(const Tensor<T>& predicted, const Tensor<T>& expected,
                        Reduction reduction = Reduction::mean) {
  detail::same_shape("log_cosh_loss", predicted, expected);
  auto e = predicted - expected;
  return detail::reduce_loss(e + softplus(e * T(-2)) - T(0.69314718055994530942), reduction);
}
/// predicted - expected·log(predicted), for predicted rates above zero.
template <FloatingPoint T>
Tensor<T> poisson_loss(const Tensor<T>& predicted, const Tensor<T>& expected,
                       Reduction reduction = Reduction::mean) {
  detail::same_shape("poisson_loss", predicted, expected);
  return detail::reduce_loss(predicted - expected * log(predicted), reduction);
}
/// expected·log(expected / predicted): how far the distribution `predicted` is from `expected`.
template <FloatingPoint T>
Tensor<T> kullback_leibler_divergence(const Tensor<T>& predicted, const Tensor<T>& expected,
                                      Reduction reduction = Reduction::mean) {
  detail::same_shape("kullback_leibler_divergence", predicted, expected);
  return detail::reduce_loss(expected * log(expected / predicted), reduction);
}
/// Squared difference of log(1 + max(·, 0)) of each side (S4TF's meanSquaredLogarithmicError).
template <FloatingPoint T>
Tensor<T> mean_squared_logarithmic_error(const Tensor<T>& predicted, const Tensor<T>& expected,
                                         Reduction reduction = Reduction::mean) {
  detail::same_shape("mean_squared_logarithmic_error", predicted, expected);
  return detail::reduce_loss(square(log1p(relu(predicted)) - log1p(relu(expected))), reduction);
}
/// 100·|expected - predicted| / |expected| (S4TF's meanAbsolutePercentageError).
template <FloatingPoint T>
Tensor<T> mean_absolute_percentage_error(const Tensor<T>& predicted, const Tensor<T>& expected,
                                         Reduction reduction = Reduction::mean) {
  detail::same_shape("mean_absolute_percentage_error", predicted, expected);
  return detail::reduce_loss(abs((expected - predicted) / abs(expected)) * T(100), reduction);
}
/// Sum of absolute differences (S4TF's l1Loss; a sum by definition).
template <FloatingPoint T>
Tensor<T> l1_loss(const Tensor<T>& predicted, const Tensor<T>& expected,
                  Reduction reduction = Reduction::sum) {
  detail::same_shape("l1_loss", predicted, expected);
  return detail::reduce_loss(abs(predicted - expected), reduction);
}
/// Sum of squared differences (S4TF's l2Loss).
template <FloatingPoint T>
Tensor<T> l2_loss(const Tensor<T>& predicted, const Tensor<T>& expected,
                  Reduction reduction = Reduction::sum) {
  detail::same_shape("l2_loss", predicted, expected);
  return detail::reduce_loss(square(predicted - expected), reduction);
}

}  // namespace ct
