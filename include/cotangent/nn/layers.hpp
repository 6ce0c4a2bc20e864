#pragma once
// Layers: plain value structs with public parameters, a call operator and CT_FIELDS, with
// S4TF's constructor arguments and defaults (Glorot-uniform weights, zero biases).
#include <functional>
#include <memory>
#include <optional>
#include <tuple>

#include "cotangent/autodiff/gradient.hpp"
#include "cotangent/nn/activations.hpp"
#include "cotangent/nn/context.hpp"

namespace ct {

/// A plain function such as relu or tanh, resolved for T.
template <FloatingPoint T>
using ActivationFunction = Tensor<T> (*)(const Tensor<T>&);

/// Any callable from Tensor<T> to Tensor<T> other than a function pointer (lambdas, closures).
template <class F, class T>
concept ActivationLike = std::is_invocable_r_v < Tensor<T>,
        F,
const Tensor<T>& > &&!std::is_same_v<std::decay_t<F>, ActivationFunction<T>>;

/// A layer's activation: the identity (the default), a plain function, or any callable. It
/// knows which activations a backend may apply inside the layer's own op (identity, relu), so
/// a layer makes one call whichever it holds, and the backend decides whether to fuse.
template <FloatingPoint T>
class Activation {
 public:
  Activation() = default;
  Activation(ActivationFunction<T> f)  // NOLINT(google-explicit-constructor): relu, tanh, …
      : function_(f), fused_(std::nullopt) {
    if (!f || f == ActivationFunction<T>(identity<T>))
      fused_ = FusedActivation::none, function_ = {};
    if (f == ActivationFunction<T>(relu<T>)) fused_ = FusedActivation::relu, function_ = {};
  }
  template <ActivationLike<T> F>
  Activation(F f) : function_(std::move(f)), fused_(std::nullopt) {  // NOLINT
    if (!function_) fused_ = FusedActivation::none;  // an empty std::function: the identity
  }

  Tensor<T> operator()(const Tensor<T>& x) const {
    if (function_) return function_(x);
    return fused_ == FusedActivation::relu ? relu(x) : x;
  }
  /// The layer's output: product(a) runs the layer's op with fused activation a; an activation
  /// no backend knows is applied to the op's plain result instead.
  template <class Product>
  Tensor<T> apply(Product&& product) const {
    if (fused_) return product(*fused_);
    return function_(product(FusedActivation::none));
  }

 private:
  std::function<Tensor<T>(const Tensor<T>&)> function_;
  std::optional<FusedActivation> fused_ = FusedActivation::none;
};

/// State that a layer updates but that is not trained (BatchNorm's running statistics). Like
/// S4TF's Parameter it is shared by copies of the layer, so the copy a gradient call makes
/// updates the model's own statistics.
template <FloatingPoint T>
struct Parameter {
  std::shared_ptr<Tensor<T>> value = std::make_shared<Tensor<T>>();
  Parameter() = default;
  explicit Parameter(Tensor<T> v) : value(std::make_shared<Tensor<T>>(std::move(v))) {}
  const Tensor<T>& get() const { return *value; }
  void set(Tensor<T> v) const { *value = without_derivative(std::move(v)); }
  template <class Visit>
  void ct_state(Visit& visit, const std::string& name) const {
    visit(name, *value);
  }
};

/// y = activation(x · weight + bias): weight [in, out], bias [out].
template <FloatingPoint T>
struct Dense {
  Tensor<T> weight, bias;
  Activation<T> activation;
  CT_FIELDS(weight, bias)

  Dense(std::int64_t input_size, std::int64_t output_size, Activation<T> activation = {},
        bool use_bias = true, Generator& gen = default_generator())
      : weight(glorot_uniform<T>({input_size, output_size}, gen)),
        bias(use_bias ? zeros<T>({output_size}) : Tensor<T>()),
        activation(std::move(activation)) {}
  Dense(Tensor<T> weight, Tensor<T> bias, Activation<T> activation = {})
      : weight(std::move(weight)), bias(std::move(bias)), activation(std::move(activation)) {
    check_parameters();
  }

  Tensor<T> operator()(const Tensor<T>& input) const {
    check_parameters();
    CT_CHECK(input.rank() >= 1 && input.shape(-1) == weight.shape(0),
             "Dense: input {} does not end in {} features", input.shape(), weight.shape(0));
    // Any leading dimensions are batch dimensions: one matrix product over all their rows.
    std::int64_t in = weight.shape(0), out = weight.shape(1);
    Tensor<T> rows =
        input.rank() == 2
            ? input
            : reshape(input, {input.scalar_count() / std::max<std::int64_t>(in, 1), in});
    Tensor<T> y = activation.apply(
        [&](FusedActivation fused) { return detail::linear(rows, weight, bias, fused); });
    if (input.rank() == 2) return y;
    Shape shape = input.shape();
    shape[shape.rank() - 1] = out;
    return reshape(y, shape);
  }

 private:
  // S4TF's batched (rank-3) weights are not supported: refuse them rather than broadcast.
  void check_parameters() const {
    CT_CHECK(weight.rank() == 2, "Dense: the weight must be [input, output], not {}",
             weight.shape());
    CT_CHECK(!bias.defined() || (bias.rank() == 1 && bias.shape(0) == weight.shape(1)),
             "Dense: the bias must be [{}] for a weight {}, not {}", weight.shape(1),
             weight.shape(), bias.shape());
  }
};

/// 2-D convolution over NHWC input with an HWIO filter.
template <FloatingPoint T>
struct Conv2D {
  Tensor<T> filter, bias;
  Activation<T> activation;
  std::array<std::int64_t, 2> strides{1, 1};
  Padding padding = Padding::valid;
  std::array<std::int64_t, 2> dilations{1, 1};
  CT_FIELDS(filter, bias)

  Conv2D(std::array<std::int64_t, 4> filter_shape, Activation<T> activation = {},
         std::array<std::int64_t, 2> strides = {1, 1}, Padding padding = Padding::valid,
         std::array<std::int64_t, 2> dilations = {1, 1}, bool use_bias = true,
         Generator& gen = default_generator())
      : filter(glorot_uniform<T>(Shape(filter_shape), gen)),
        bias(use_bias ? zeros<T>({filter_shape[3]}) : Tensor<T>()),
        activation(std::move(activation)),
        strides(strides),
        padding(padding),
        dilations(dilations) {}
  Conv2D(Tensor<T> filter, Tensor<T> bias, Activation<T> activation = {},
         std::array<std::int64_t, 2> strides = {1, 1}, Padding padding = Padding::valid,
         std::array<std::int64_t, 2> dilations = {1, 1})
      : filter(std::move(filter)),
        bias(std::move(bias)),
        activation(std::move(activation)),
        strides(strides),
        padding(padding),
        dilations(dilations) {}

  Tensor<T> operator()(const Tensor<T>& input) const {
    return activation.apply([&](FusedActivation fused) {
      return detail::conv2d_fused(input, filter, bias, fused, strides, padding, dilations);
    });
  }
};

/// Depthwise convolution: filter [h, w, channels, multiplier].
template <FloatingPoint T>
struct DepthwiseConv2D {
  Tensor<T> filter, bias;
  Activation<T> activation;
  std::array<std::int64_t, 2> strides{1, 1};
  Padding padding = Padding::valid;
  CT_FIELDS(filter, bias)

  DepthwiseConv2D(std::array<std::int64_t, 4> filter_shape, Activation<T> activation = {},
                  std::array<std::int64_t, 2> strides = {1, 1}, Padding padding = Padding::valid,
                  bool use_bias = true, Generator& gen = default_generator())
      : filter(glorot_uniform<T>(Shape(filter_shape), gen)),
        bias(use_bias ? zeros<T>({filter_shape[2] * filter_shape[3]}) : Tensor<T>()),
        activation(activation),
        strides(strides),
        padding(padding) {}

  Tensor<T> operator()(const Tensor<T>& input) const {
    return activation.apply([&](FusedActivation fused) {
      return detail::conv2d_fused(input, filter, bias, fused, strides, padding, {1, 1},
                                  /*depthwise=*/true);
    });
  }
};

/// Max pooling over NHWC windows, 2×2 with stride 2 unless set: MaxPool2D<float>{{3, 3}, {2, 2}}.
template <FloatingPoint T>
struct MaxPool2D {
  std::array<std::int64_t, 2> pool_size{2, 2}, strides{2, 2};
  Padding padding = Padding::valid;
  CT_FIELDS()
  Tensor<T> operator()(const Tensor<T>& x) const {
    return max_pool2d(x, pool_size, strides, padding);
  }
};

/// Average pooling over NHWC windows, 2×2 with stride 2 unless set (see MaxPool2D).
template <FloatingPoint T>
struct AvgPool2D {
  std::array<std::int64_t, 2> pool_size{2, 2}, strides{2, 2};
  Padding padding = Padding::valid;
  CT_FIELDS()
  Tensor<T> operator()(const Tensor<T>& x) const {
    return avg_pool2d(x, pool_size, strides, padding);
  }
};

/// [N, H, W, C] -> [N, C], the mean over each feature map.
template <FloatingPoint T>
struct GlobalAvgPool2D {
  CT_FIELDS()
  Tensor<T> operator()(const Tensor<T>& x) const {
    CT_CHECK(x.rank() == 4, "GlobalAvgPool2D: input must be NHWC, got {}", x.shape());
    return mean(x, {1, 2});
  }
};

/// [N, H, W, C] -> [N, C], the maximum of each feature map.
template <FloatingPoint T>
struct GlobalMaxPool2D {
  CT_FIELDS()
  Tensor<T> operator()(const Tensor<T>& x) const {
    CT_CHECK(x.rank() == 4, "GlobalMaxPool2D: input must be NHWC, got {}", x.shape());
    return max(x, {1, 2});
  }
};

/// Collapses all dimensions after the first, [N, H, W, C] -> [N, H*W*C]: before a Dense layer.
template <FloatingPoint T>
struct Flatten {
  CT_FIELDS()
  Tensor<T> operator()(const Tensor<T>& x) const { return flatten(x); }
};

/// Reshapes to `shape` (one entry may be -1, for the batch).
template <FloatingPoint T>
struct Reshape {
  Shape shape;
  CT_FIELDS()
  Tensor<T> operator()(const Tensor<T>& x) const { return reshape(x, shape); }
};

namespace detail {
/// A dropout-like layer's probability, checked: in [0, 1).
inline double drop_probability(const char* layer, double p) {
  CT_CHECK_AS(ValueError, p >= 0 && p < 1, "{}: probability {} is not in [0, 1)", layer, p);
  return p;
}
/// Whether a layer with noise applies it now: only in the training phase, with some noise.
inline bool noisy(double amount) {
  return Context::local().learning_phase == LearningPhase::training && amount != 0;
}
/// 1 where a uniform draw of the context's generator is at least p, else 0: the units kept.
template <FloatingPoint T>
Tensor<T> kept_units(const Tensor<T>& x, double p) {
  return cast<T>(random_uniform<T>(x.shape(), 0, 1, Context::local().random, x.device()) >= T(p));
}
}  // namespace detail

/// Zeroes each element with the given probability while training, scaling the rest up.
template <FloatingPoint T>
struct Dropout {
  double probability = 0.5;
  CT_FIELDS()
  explicit Dropout(double probability = 0.5)
      : probability(detail::drop_probability("Dropout", probability)) {}
  Tensor<T> operator()(const Tensor<T>& x) const {
    if (!detail::noisy(probability)) return x;
    return x * detail::kept_units(x, probability) * T(1 / (1 - probability));
  }
};

/// Batch normalization over all axes but `axis`; running statistics serve inference.
template <FloatingPoint T>
struct BatchNorm {
  Tensor<T> offset, scale;
  Parameter<T> running_mean, running_variance;
  int axis = -1;
  T momentum = T(0.99), epsilon = T(0.001);
  CT_FIELDS(offset, scale, running_mean, running_variance)

  explicit BatchNorm(std::int64_t feature_count, int axis = -1, T momentum = T(0.99),
                     T epsilon = T(0.001))
      : offset(zeros<T>({feature_count})),
        scale(ones<T>({feature_count})),
        running_mean(zeros<T>({feature_count})),
        running_variance(ones<T>({feature_count})),
        axis(axis),
        momentum(momentum),
        epsilon(epsilon) {}

  Tensor<T> operator()(const Tensor<T>& x) const {
    int a = normalize_axis(axis, x.rank(), "BatchNorm");
    CT_CHECK(x.shape(a) == offset.shape(0),
             "BatchNorm: input {} has {} features on axis {}, expected {}", x.shape(), x.shape(a),
             a, offset.shape(0));
    std::vector<int> axes;
    Shape param_shape = Shape::filled(x.rank(), 1);
    param_shape[a] = x.shape(a);
    for (int i = 0; i < x.rank(); ++i)
      if (i != a) axes.push_back(i);
    Tensor<T> m, v;
    if (Context::local().learning_phase == LearningPhase::training) {
      m = mean(x, axes, true);
      v = variance(x, axes, true);
      running_mean.set(running_mean.get() * momentum + reshape(m, {-1}) * (T(1) - momentum));
      running_variance.set(running_variance.get() * momentum +
                           reshape(v, {-1}) * (T(1) - momentum));
    } else {
      m = reshape(running_mean.get(), param_shape);
      v = reshape(running_variance.get(), param_shape);
    }
    return (x - m) * rsqrt(v + epsilon) * reshape(scale, param_shape) +
           reshape(offset, param_shape);
  }
};

/// Layer normalization over `axis` (the features of each sample).
template <FloatingPoint T>
struct LayerNorm {
  Tensor<T> offset, scale;
  int axis = -1;
  T epsilon = T(0.001);
  CT_FIELDS(offset, scale)

  explicit LayerNorm(std::int64_t feature_count, int axis = -1, T epsilon = T(0.001))
      : offset(zeros<T>({feature_count})),
        scale(ones<T>({feature_count})),
        axis(axis),
        epsilon(epsilon) {}

  Tensor<T> operator()(const Tensor<T>& x) const {
    int a = normalize_axis(axis, x.rank(), "LayerNorm");
    CT_CHECK(x.shape(a) == offset.shape(0),
             "LayerNorm: input {} has {} features on axis {}, expected {}", x.shape(), x.shape(a),
             a, offset.shape(0));
    Shape param_shape = Shape::filled(x.rank(), 1);
    param_shape[a] = x.shape(a);
    auto m = mean(x, {a}, true);
    auto v = variance(x, {a}, true);
    return (x - m) * rsqrt(v + epsilon) * reshape(scale, param_shape) +
           reshape(offset, param_shape);
  }
};

/// Rows of a learned table looked up by integer ids: [..] -> [.., embedding_size].
template <FloatingPoint T>
struct Embedding {
  Tensor<T> embeddings;
  CT_FIELDS(embeddings)

  Embedding(std::int64_t vocabulary_size, std::int64_t embedding_size,
            Generator& gen = default_generator())
      : embeddings(random_uniform<T>({vocabulary_size, embedding_size}, T(-0.05), T(0.05), gen)) {}

  template <class I>
  Tensor<T> operator()(const Tensor<I>& ids) const {
    return gather(embeddings, ids, 0);
  }
};

/// Wraps a function as a layer: Function<float>{[](auto& x) { return x * 2.0f; }}.
template <FloatingPoint T>
struct Function {
  std::function<Tensor<T>(const Tensor<T>&)> body;
  CT_FIELDS()
  Tensor<T> operator()(const Tensor<T>& x) const { return body(x); }
};

/// Layers applied in order, as one layer; its fields are named "0", "1", …
template <class... Layers>
struct Sequential {
  std::tuple<Layers...> layers;
  explicit Sequential(Layers... ls) : layers(std::move(ls)...) {}

  template <class Visit, class... Selves>
  static void ct_fields(Visit&& visit, Selves&... selves) {
    static const std::array<std::string, sizeof...(Layers)> names = [] {
      std::array<std::string, sizeof...(Layers)> n;
      for (std::size_t i = 0; i < n.size(); ++i) n[i] = std::to_string(i);
      return n;
    }();
    auto visit_layer = [&]<std::size_t I>() {
      visit(names[I].c_str(), std::get<I>(selves.layers)...);
    };
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (visit_layer.template operator()<I>(), ...);
    }
    (std::index_sequence_for<Layers...>{});
  }

  template <class X>
  auto operator()(const X& x) const {
    return std::apply([&](const auto&... ls) { return x.sequenced(ls...); }, layers);
  }
};

/// sequenced(conv, pool, flatten, dense): one layer that applies them in order.
template <class... Layers>
Sequential<Layers...> sequenced(Layers... layers) {
  return Sequential<Layers...>(std::move(layers)...);
}

template <Scalar T>
template <class... Layers>
auto Tensor<T>::sequenced(const Layers&... layers) const {
  Tensor<T> x = *this;
  ((x = layers(x)), ...);
  return x;
}

}  // namespace ct
