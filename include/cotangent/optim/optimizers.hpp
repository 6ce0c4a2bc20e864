#pragma once
// Optimizers over any CT_FIELDS model, with S4TF's update rules and defaults. Their state is
// shaped like the model (one zero-initialized copy per moment); update(model, grad) steps once.
#include <cmath>
#include <span>

#include "cotangent/autodiff/gradient.hpp"
#include "cotangent/nn/move.hpp"

namespace ct {

namespace detail {
/// `count` model-shaped states of zeros, plus the step counter every optimizer keeps.
template <class Model, int count>
struct Moments {
  std::array<Model, count> states;
  std::int64_t step = 0;
  explicit Moments(const Model& model) : states(make(model, std::make_index_sequence<count>{})) {}

 private:
  template <std::size_t... I>
  static std::array<Model, count> make(const Model& m, std::index_sequence<I...>) {
    return {(void(I), zero_tangent(without_derivative(m)))...};
  }
};
template <class Visit, class Model, std::size_t N>
void for_each_state(Visit&& visit, Model& model, const Model& grad, std::array<Model, N>& s) {
  if constexpr (N == 0) for_each_parameter(visit, model, grad);
  if constexpr (N == 1) for_each_parameter(visit, model, grad, s[0]);
  if constexpr (N == 2) for_each_parameter(visit, model, grad, s[0], s[1]);
  if constexpr (N == 3) for_each_parameter(visit, model, grad, s[0], s[1], s[2]);
}
/// avg = keep·avg + (1 - keep)·x, in place (the moment update every adaptive optimizer does).
template <FloatingPoint T>
void moving_average(Tensor<T>& avg, const Tensor<T>& x, double keep) {
  update(avg, T(keep), x, T(1 - keep));
}
template <class P>
using ScalarOf = typename std::remove_cvref_t<P>::Scalar;

/// y = keep·y + scale·(g + Σ terms), in place: g may be undefined (no dense part), and each
/// product goes straight into y.
template <FloatingPoint T>
void add_gradient(Tensor<T>& y, T keep, const Tensor<T>& g, std::span<const ProductTerm> terms,
                  T scale) {
  if (g.defined()) update(y, keep, g, scale), keep = 1;
  for (const ProductTerm& t : terms) {
    update_with_product(y, keep, Tensor<T>(t.lhs), Tensor<T>(t.rhs), t.transpose_lhs,
                        t.transpose_rhs, scale);
    keep = 1;
  }
  if (keep != 1) y = y * keep;  // no gradient reached this parameter
}

/// The product terms of parameter `index`, if any.
inline std::span<const ProductTerm> terms_of(const ProductTerms& terms, std::size_t index) {
  return index < terms.size() ? std::span<const ProductTerm>(terms[index])
                              : std::span<const ProductTerm>();
}
}  // namespace detail

/// SGD's settings, S4TF's defaults: SGD<Model>(model, {.learning_rate = 0.1, .momentum = 0.9}).
struct SGDOptions {
  double learning_rate = 0.01;
  double momentum = 0;
  double decay = 0;  // learning rate / (1 + decay · step)
  bool nesterov = false;
};

/// Stochastic gradient descent with optional momentum (S4TF's SGD).
template <class Model>
class SGD {
 public:
  SGDOptions options;
  detail::Moments<Model, 1> moments;  // velocity

  explicit SGD(const Model& model, SGDOptions options = {}) : options(options), moments(model) {}

  void update(Model& model, const Model& grad) { update(model, grad, {}); }

  /// The update along grad + `terms` (see minimize): SGD is linear in the gradient, so a
  /// gradient kept as a product is added straight into the parameter or the velocity.
  void update(Model& model, const Model& grad, const detail::ProductTerms& terms) {
    ++moments.step;
    double lr = options.learning_rate / (1 + options.decay * double(moments.step));
    double mu = options.momentum;
    bool nesterov = options.nesterov;
    std::size_t index = 0;
    // Fused, in-place updates: one sweep per tensor, no temporaries.
    detail::for_each_state(
        [&](auto& p, const auto& g, auto& v) {
          using T = detail::ScalarOf<decltype(p)>;
          auto products = detail::terms_of(terms, index++);
          if (mu == 0) return detail::add_gradient(p, T(1), g, products, T(-lr));
          detail::add_gradient(v, T(mu), g, products, T(-lr));
          if (nesterov) {
            ct::update(p, T(1), v, T(mu));
            detail::add_gradient(p, T(1), g, products, T(-lr));
          } else {
            ct::update(p, T(1), v, T(1));
          }
        },
        model, grad, moments.states);
  }
  std::int64_t step() const { return moments.step; }
};

/// The settings of Adam, AdamW, AMSGrad and RAdam (S4TF's defaults); only AdamW reads weight_decay.
struct AdamOptions {
  double learning_rate = 1e-3;
  double beta1 = 0.9, beta2 = 0.999;
  double epsilon = 1e-8;
  double decay = 0;
  double weight_decay = 0.01;  // AdamW only
};

/// Adam (S4TF's update: the step size carries both bias corrections).
template <class Model>
class Adam {
 public:
  AdamOptions options;
  detail::Moments<Model, 2> moments;  // first and second moments

  explicit Adam(const Model& model, AdamOptions options = {}) : options(options), moments(model) {}

  void update(Model& model, const Model& grad) { step_adam(model, grad, 0); }
  std::int64_t step() const { return moments.step; }

 protected:
  void step_adam(Model& model, const Model& grad, double weight_decay) {
    double t = double(++moments.step);
    double lr = options.learning_rate / (1 + options.decay * t);
    double b1 = options.beta1, b2 = options.beta2, eps = options.epsilon;
    double step_size = lr * std::sqrt(1 - std::pow(b2, t)) / (1 - std::pow(b1, t));
    detail::for_each_state(
        [&](auto& p, const auto& g, auto& m, auto& v) {
          using T = detail::ScalarOf<decltype(p)>;
          detail::moving_average(m, g, b1);
          detail::moving_average(v, square(g), b2);
          if (weight_decay != 0) p = p - p * T(lr * weight_decay);
          p = p - m * T(step_size) / (sqrt(v) + T(eps));
        },
        model, grad, moments.states);
  }
};

/// Adam with decoupled weight decay (Loshchilov and Hutter).
template <class Model>
class AdamW : public Adam<Model> {
 public:
  explicit AdamW(const Model& model, AdamOptions options = {}) : Adam<Model>(model, options) {}
  void update(Model& model, const Model& grad) {
    this->step_adam(model, grad, this->options.weight_decay);
  }
};

/// AMSGrad: Adam with the running maximum of the second moment.
template <class Model>
class AMSGrad {
 public:
  AdamOptions options;
  detail::Moments<Model, 3> moments;  // first, second, max second

  explicit AMSGrad(const Model& model, AdamOptions options = {})
      : options(options), moments(model) {}
  void update(Model& model, const Model& grad) {
    double t = double(++moments.step);
    double lr = options.learning_rate / (1 + options.decay * t);
    double b1 = options.beta1, b2 = options.beta2, eps = options.epsilon;
    double step_size = lr * std::sqrt(1 - std::pow(b2, t)) / (1 - std::pow(b1, t));
    detail::for_each_state(
        [&](auto& p, const auto& g, auto& m, auto& v, auto& vmax) {
          using T = detail::ScalarOf<decltype(p)>;
          detail::moving_average(m, g, b1);
          detail::moving_average(v, square(g), b2);
          vmax = maximum(vmax, v);
          p = p - m * T(step_size) / (sqrt(vmax) + T(eps));
        },
        model, grad, moments.states);
  }
};

/// AdaMax's settings (S4TF's defaults).
struct AdaMaxOptions {
  double learning_rate = 0.002;
  double beta1 = 0.9, beta2 = 0.999;
  double epsilon = 1e-8;
  double decay = 0;
};

/// AdaMax: Adam with the infinity norm.
template <class Model>
class AdaMax {
 public:
  AdaMaxOptions options;
  detail::Moments<Model, 2> moments;  // first moment, infinity norm

  explicit AdaMax(const Model& model, AdaMaxOptions options = {})
      : options(options), moments(model) {}
  void update(Model& model, const Model& grad) {
    double t = double(++moments.step);
    double lr = options.learning_rate / (1 + options.decay * t);
    double b1 = options.beta1, b2 = options.beta2, eps = options.epsilon;
    double step_size = lr / (1 - std::pow(b1, t));
    detail::for_each_state(
        [&](auto& p, const auto& g, auto& m, auto& u) {
          using T = detail::ScalarOf<decltype(p)>;
          detail::moving_average(m, g, b1);
          u = maximum(u * T(b2), abs(g));
          p = p - m * T(step_size) / (u + T(eps));
        },
        model, grad, moments.states);
  }
};

/// RAdam: Adam whose adaptive step is switched on once its variance is tractable.
template <class Model>
class RAdam {
 public:
  AdamOptions options;
  detail::Moments<Model, 2> moments;

  explicit RAdam(const Model& model, AdamOptions options = {}) : options(options), moments(model) {}
  void update(Model& model, const Model& grad) {
    double t = double(++moments.step);
    double lr = options.learning_rate / (1 + options.decay * t);
    double b1 = options.beta1, b2 = options.beta2, eps = options.epsilon;
    double rho_inf = 2 / (1 - b2) - 1;
    double b2t = std::pow(b2, t);
    double rho = rho_inf - 2 * t * b2t / (1 - b2t);
    detail::for_each_state(
        [&](auto& p, const auto& g, auto& m, auto& v) {
          using T = detail::ScalarOf<decltype(p)>;
          detail::moving_average(m, g, b1);
          detail::moving_average(v, square(g), b2);
          auto m_hat = m / T(1 - std::pow(b1, t));
          if (rho > 5) {
            double r =
                std::sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho));
            p = p - m_hat * T(lr * r) / (sqrt(v / T(1 - b2t)) + T(eps));
          } else {
            p = p - m_hat * T(lr);
          }
        },
        model, grad, moments.states);
  }
};

/// RMSProp's settings (S4TF's defaults).
struct RMSPropOptions {
  double learning_rate = 1e-3;
  double rho = 0.9;
  double epsilon = 1e-8;
  double decay = 0;
};

/// RMSProp: each step divided by the root of a running mean of squared gradients (S4TF's).
template <class Model>
class RMSProp {
 public:
  RMSPropOptions options;
  detail::Moments<Model, 1> moments;  // running mean of squared gradients

  explicit RMSProp(const Model& model, RMSPropOptions options = {})
      : options(options), moments(model) {}
  void update(Model& model, const Model& grad) {
    double t = double(++moments.step);
    double lr = options.learning_rate / (1 + options.decay * t), rho = options.rho,
           eps = options.epsilon;
    detail::for_each_state(
        [&](auto& p, const auto& g, auto& a) {
          using T = detail::ScalarOf<decltype(p)>;
          detail::moving_average(a, square(g), rho);
          p = p - g * T(lr) / (sqrt(a) + T(eps));
        },
        model, grad, moments.states);
  }
};

/// AdaGrad's settings (S4TF's defaults); the accumulator starts at initial_accumulator_value.
struct AdaGradOptions {
  double learning_rate = 1e-3;
  double initial_accumulator_value = 0.1;
  double epsilon = 1e-8;
};

/// AdaGrad: each step divided by the root of the sum of all squared gradients so far.
template <class Model>
class AdaGrad {
 public:
  AdaGradOptions options;
  detail::Moments<Model, 1> moments;  // sum of squared gradients

  explicit AdaGrad(const Model& model, AdaGradOptions options = {})
      : options(options), moments(model) {
    for_each_parameter(
        [&](auto& a) { a = a + detail::ScalarOf<decltype(a)>(options.initial_accumulator_value); },
        moments.states[0]);
  }
  void update(Model& model, const Model& grad) {
    ++moments.step;
    double lr = options.learning_rate, eps = options.epsilon;
    detail::for_each_state(
        [&](auto& p, const auto& g, auto& a) {
          using T = detail::ScalarOf<decltype(p)>;
          a = a + square(g);
          p = p - g * T(lr) / (sqrt(a) + T(eps));
        },
        model, grad, moments.states);
  }
};

/// AdaDelta's settings (S4TF's defaults).
struct AdaDeltaOptions {
  double learning_rate = 1;
  double rho = 0.95;
  double epsilon = 1e-6;
  double decay = 0;
};

/// AdaDelta: the gradient scaled by RMS(past steps) / RMS(gradients), both running means.
template <class Model>
class AdaDelta {
 public:
  AdaDeltaOptions options;
  detail::Moments<Model, 2> moments;  // running mean of squared gradients and of squared steps

  explicit AdaDelta(const Model& model, AdaDeltaOptions options = {})
      : options(options), moments(model) {}
  void update(Model& model, const Model& grad) {
    double t = double(++moments.step);
    double lr = options.learning_rate / (1 + options.decay * t), rho = options.rho,
           eps = options.epsilon;
    detail::for_each_state(
        [&](auto& p, const auto& g, auto& avg_sq, auto& acc_delta) {
          using T = detail::ScalarOf<decltype(p)>;
          detail::moving_average(avg_sq, square(g), rho);
          auto step = g * sqrt(acc_delta + T(eps)) / sqrt(avg_sq + T(eps));
          p = p - step * T(lr);
          detail::moving_average(acc_delta, square(step), rho);
        },
        model, grad, moments.states);
  }
};

// ---- One training step ---------------------------------------------------------------------

namespace detail {
template <class Optimizer, class Model>
concept TakesProductTerms = requires(Optimizer& o, Model& m, const Model& g,
                                     const ProductTerms& t) {
  o.update(m, g, t);
};
}  // namespace detail

/// One training step: evaluates f(model), updates model along the gradient with `optimizer`,
/// and returns the value (the loss before the step). The same as
///   auto [loss, grad] = value_with_gradient(model, f); optimizer.update(model, grad);
/// up to rounding, but an optimizer whose update is linear in the gradient (SGD) receives each
/// Dense or matmul weight's gradient as the matrix product it is and adds that product
/// straight into the weight: the gradient is never written out and read back, which is most
/// of a step's memory traffic at small batches.
template <class Optimizer, class Model, class F>
auto minimize(Optimizer& optimizer, Model& model, F&& f) {
  if constexpr (!detail::differentiable_call<F, Model>()) {
    return;  // the static_asserts in differentiable_call said why
  } else if constexpr (!detail::TakesProductTerms<Optimizer, Model>) {
    auto [value, grad] = value_with_gradient(model, std::forward<F>(f));
    optimizer.update(model, grad);
    return value;
  } else {
    // Products pay only where the backend multiplies them straight into a weight (the CPU);
    // elsewhere the plain step is as fast and simpler.
    if (!backend_for(device_of(model)).fuses(Op::matmul_update)) {
      auto [value, grad] = value_with_gradient(model, std::forward<F>(f));
      optimizer.update(model, grad);
      return value;
    }
    Model grad = model;
    detail::ProductTerms terms;
    auto [value, grads] = detail::value_and_gradients("minimize", &terms, f, model);
    std::size_t next = 0;
    for_each_parameter(
        [&, &grads = grads](auto& p) {
          using P = std::remove_cvref_t<decltype(p)>;
          const AnyTensor& d = grads[next++];
          p = d.defined() ? P(d) : P();  // undefined: no dense part (products, or nothing)
        },
        grad);
    // The recording is gone, so the parameters' buffers are the model's alone again and the
    // update runs in place.
    optimizer.update(model, grad, terms);
    return value;
  }
}

// ---- Learning-rate schedules: callables from the step (1-based) to a rate ----------------

/// The rate times `factor` every `step_size` steps.
struct StepSchedule {
  double initial, factor;
  std::int64_t step_size;
  double operator()(std::int64_t step) const {
    return initial * std::pow(factor, double((step - 1) / step_size));
  }
};
/// Cosine decay from `initial` to `minimum` over `total` steps.
struct CosineSchedule {
  double initial;
  std::int64_t total;
  double minimum = 0;
  double operator()(std::int64_t step) const {
    double progress =
        std::min(1.0, double(step - 1) / double(std::max<std::int64_t>(total - 1, 1)));
    return minimum + (initial - minimum) * 0.5 * (1 + std::cos(M_PI * progress));
  }
};
/// Ramps linearly from 0 to the wrapped schedule's rate over `warmup` steps.
template <class Schedule>
struct LinearWarmup {
  Schedule schedule;
  std::int64_t warmup;
  double operator()(std::int64_t step) const {
    double rate = schedule(step);
    return step < warmup ? rate * double(step) / double(warmup) : rate;
  }
};

/// An optimizer that carries its learning-rate schedule (any callable from the step, 1-based,
/// to a rate): each update first sets options.learning_rate for the step it takes.
///   Scheduled optimizer(SGD(model, {.momentum = 0.9}), CosineSchedule{0.1, 10000});
///   optimizer.update(model, grad);  // at rate CosineSchedule{...}(1), then (2), ...
/// A rate that is negative or not finite is refused (ValueError) before the model changes.
template <class Optimizer, class Schedule>
class Scheduled : public Optimizer {
 public:
  Schedule schedule;
  Scheduled(Optimizer optimizer, Schedule schedule)
      : Optimizer(std::move(optimizer)), schedule(std::move(schedule)) {}

  template <class Model, class... Rest>
  requires requires(Optimizer& o, Model& m, const Model& g, const Rest&... rest) {
    o.update(m, g, rest...);
  }
  void update(Model& model, const Model& grad, const Rest&... rest) {
    std::int64_t step = this->moments.step + 1;
    double rate = double(schedule(step));
    CT_CHECK_AS(ValueError, std::isfinite(rate) && rate >= 0,
                "Scheduled: the schedule gives a learning rate of {} at step {}; rates are finite "
                "and not negative",
                rate, step);
    this->options.learning_rate = rate;
    Optimizer::update(model, grad, rest...);
  }
};

}  // namespace ct
