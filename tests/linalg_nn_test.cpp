#include "op_check.hpp"

using namespace ct;
using namespace ct::testing;

namespace {
/// Direct-loop convolution in float64: the reference for conv2d.
Tensor<double> conv_reference(const Tensor<double>& x, const Tensor<double>& f, std::int64_t stride,
                              Padding padding, std::int64_t dilation) {
  auto xs = x.scalars(), fs = f.scalars();
  std::int64_t n = x.shape(0), h = x.shape(1), w = x.shape(2), c = x.shape(3);
  std::int64_t kh = f.shape(0), kw = f.shape(1), o = f.shape(3);
  std::int64_t span_h = dilation * (kh - 1) + 1, span_w = dilation * (kw - 1) + 1;
  std::int64_t oh, ow, pt = 0, pl = 0;
  if (padding == Padding::valid) {
    oh = (h - span_h) / stride + 1, ow = (w - span_w) / stride + 1;
  } else {
    oh = (h + stride - 1) / stride, ow = (w + stride - 1) / stride;
    pt = std::max<std::int64_t>((oh - 1) * stride + span_h - h, 0) / 2;
    pl = std::max<std::int64_t>((ow - 1) * stride + span_w - w, 0) / 2;
  }
  std::vector<double> out(n * oh * ow * o, 0);
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t y = 0; y < oh; ++y)
      for (std::int64_t xx = 0; xx < ow; ++xx)
        for (std::int64_t p = 0; p < kh; ++p)
          for (std::int64_t q = 0; q < kw; ++q) {
            std::int64_t iy = y * stride + p * dilation - pt, ix = xx * stride + q * dilation - pl;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            for (std::int64_t ci = 0; ci < c; ++ci)
              for (std::int64_t co = 0; co < o; ++co)
                out[((b * oh + y) * ow + xx) * o + co] +=
                    xs[((b * h + iy) * w + ix) * c + ci] * fs[((p * kw + q) * c + ci) * o + co];
          }
  return Tensor<double>(out, {n, oh, ow, o});
}
}  // namespace

TEST(Linalg, MatmulValuesAndTransposes) {
  Tensor<double> a({1, 2, 3, 4, 5, 6}, {2, 3}), b({1, 0, 0, 1, 1, 1}, {3, 2});
  EXPECT_EQ(matmul(a, b).scalars(), (std::vector<double>{4, 5, 10, 11}));
  EXPECT_EQ(matmul(a, a, false, true).scalars(), (std::vector<double>{14, 32, 32, 77}));
  EXPECT_EQ(matmul(a, a, true, false).shape(), (Shape{3, 3}));
  EXPECT_EQ(matmul(transpose(a), transpose(b)).scalars(),
            matmul(b, a, false, false).transposed().scalars());
  EXPECT_EQ(
      matmul(Tensor<std::int32_t>({1, 2, 3, 4}, {2, 2}), Tensor<std::int32_t>({1, 1, 1, 1}, {2, 2}))
          .scalars(),
      (std::vector<std::int32_t>{3, 3, 7, 7}));
  auto batched = matmul(sample({4, 2, 3}, -1, 1), sample({3, 5}, -1, 1));
  EXPECT_EQ(batched.shape(), (Shape{4, 2, 5}));
  auto x = sample({2, 1, 2, 3}, -1, 1), y = sample({3, 3, 4}, -1, 1);
  auto z = matmul(x, y);
  EXPECT_EQ(z.shape(), (Shape{2, 3, 2, 4}));
  auto direct = matmul(reshape(slice(x, {{1, 2}}), {2, 3}), reshape(slice(y, {{2, 3}}), {3, 4}));
  EXPECT_TRUE(all_close(reshape(slice(z, {{1, 2}, {2, 3}}), {2, 4}), direct, 1e-12));
  EXPECT_EQ(sum(matmul(zeros<float>({2, 0}), zeros<float>({0, 3}))).scalar(), 0);
}

TEST(Linalg, MatmulKernelsMatchDirectLoops) {
  // Small inner dimensions (outer products at batch 1) take a direct loop, larger ones the BLAS
  // libraries (and A·Bᵀ from an inner dimension of 64 oneDNN's matmul primitive); all, with
  // every transpose, against a plain triple loop. Large enough to split across threads.
  for (std::int64_t k : {1, 3, 4, 5, 17, 100})
    for (auto [ta, tb] : {std::pair{false, false}, {true, false}, {false, true}, {true, true}}) {
      std::int64_t m = 70, n = 600;
      auto a = sample(ta ? Shape{k, m} : Shape{m, k}, -1, 1, 1),
           b = sample(tb ? Shape{n, k} : Shape{k, n}, -1, 1, 2);
      auto as = a.scalars(), bs = b.scalars();
      std::vector<double> expected(std::size_t(m * n), 0);
      for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t j = 0; j < n; ++j)
          for (std::int64_t p = 0; p < k; ++p)
            expected[i * n + j] += as[ta ? p * m + i : i * k + p] * bs[tb ? j * k + p : p * n + j];
      Tensor<double> reference(expected, {m, n});
      EXPECT_TRUE(all_close(matmul(a, b, ta, tb), reference, 1e-12, 1e-12)) << k << ta << tb;
      EXPECT_TRUE(all_close(Tensor<double>(matmul(Tensor<float>(a), Tensor<float>(b), ta, tb)),
                            reference, 1e-5, 1e-5))
          << k << ta << tb;
    }
}

TEST(Linalg, MatmulGradients) {
  for (auto [ta, tb] : {std::pair{false, false}, {true, false}, {false, true}, {true, true}}) {
    Shape sa = ta ? Shape{4, 3} : Shape{3, 4}, sb = tb ? Shape{2, 4} : Shape{4, 2};
    auto f = [ta, tb](const Tensor<double>& a, const Tensor<double>& b) {
      return matmul(a, b, ta, tb);
    };
    auto check = check_gradients(f, sample(sa, -1, 1), sample(sb, -1, 1, 2));
    EXPECT_TRUE(check.ok) << ta << tb << check.message;
  }
  auto batched = check_gradients([](auto& a, auto& b) { return matmul(a, b); },
                                 sample({2, 3, 4}, -1, 1), sample({4, 2}, -1, 1, 2));
  EXPECT_TRUE(batched.ok) << batched.message;
  auto second = check_second_order(
      [](const Tensor<double>& a) { return sum(square(matmul(a, a, false, true))); },
      sample({3, 3}, -1, 1));
  EXPECT_TRUE(second.ok) << second.message;
}

// Pooling's backward pass is differentiable again: second derivatives (a Hessian-vector product
// through a non-linear loss) and third (the gradient of the squared gradient norm's gradient).
TEST(NN, PoolSecondAndThirdDerivatives) {
  auto x = sample({2, 5, 4, 3}, -1, 1, 21);
  for (auto padding : {Padding::valid, Padding::same}) {
    for (bool max : {true, false}) {
      SCOPED_TRACE(std::string(max ? "max" : "avg") + (padding == Padding::same ? " same" : ""));
      auto loss = [&](const Tensor<double>& x) {
        auto y =
            max ? max_pool2d(x, {2, 2}, {2, 1}, padding) : avg_pool2d(x, {3, 2}, {2, 1}, padding);
        return sum(tanh(y) * sample(y.shape(), 0.5, 1.5, 22));
      };
      auto second = check_second_order(loss, x);
      EXPECT_TRUE(second.ok) << second.message;
      auto third = check_gradients(
          [&](const Tensor<double>& x) {
            return gradient(
                x, [&](const Tensor<double>& x) { return sum(square(gradient(x, loss))); });
          },
          x);
      EXPECT_TRUE(third.ok) << third.message;
    }
  }
  auto w = detail::window("max_pool2d", x.shape(), 2, 2, {2, 2}, Padding::valid);
  EXPECT_THROW(detail::max_pool2d_select(x, zeros<double>({2, 5, 4, 2}), w), Error);
}

TEST(NN, Conv2DAgainstDirectLoops) {
  for (auto padding : {Padding::valid, Padding::same})
    for (std::int64_t stride : {1, 2})
      for (std::int64_t dilation : {1, 2}) {
        auto x = sample({2, 7, 6, 3}, -1, 1), f = sample({3, 2, 3, 4}, -1, 1, 2);
        auto y = conv2d(x, f, {stride, stride}, padding, {dilation, dilation});
        auto ref = conv_reference(x, f, stride, padding, dilation);
        ASSERT_EQ(y.shape(), ref.shape());
        EXPECT_TRUE(all_close(y, ref, 1e-10, 1e-12)) << int(padding) << stride << dilation;
      }
  auto big = conv2d(Tensor<float>(sample({128, 26, 26, 32}, -1, 1)),
                    Tensor<float>(sample({3, 3, 32, 8}, -1, 1)));
  EXPECT_EQ(big.shape(), (Shape{128, 24, 24, 8}));  // several im2col chunks
}

TEST(NN, ConvAndPoolGradients) {
  auto x = sample({2, 5, 5, 2}, -1, 1), f = sample({3, 3, 2, 3}, -1, 1, 2),
       d = sample({2, 2, 2, 2}, -1, 1, 3);
  for (auto padding : {Padding::valid, Padding::same}) {
    auto conv = check_gradients(
        [&](auto& x, auto& f) {
          return conv2d(x, f, {2, 1}, padding);
        },
        x, f);
    EXPECT_TRUE(conv.ok) << conv.message;
    auto depth = check_gradients(
        [&](auto& x, auto& f) {
          return depthwise_conv2d(x, f, {1, 2}, padding);
        },
        x, d);
    EXPECT_TRUE(depth.ok) << depth.message;
    auto maxp = check_gradients([&](auto& x) { return max_pool2d(x, {2, 2}, {2, 1}, padding); }, x);
    EXPECT_TRUE(maxp.ok) << maxp.message;
    auto avgp = check_gradients([&](auto& x) { return avg_pool2d(x, {3, 2}, {1, 2}, padding); }, x);
    EXPECT_TRUE(avgp.ok) << avgp.message;
  }
  // Windows that tile the input exactly take a separate path (each element written once).
  auto tiled = sample({2, 4, 6, 3}, -1, 1, 7);
  auto max_tiled = check_gradients([&](auto& x) { return max_pool2d(x, {2, 2}, {2, 2}); }, tiled);
  EXPECT_TRUE(max_tiled.ok) << max_tiled.message;
  auto avg_tiled = check_gradients([&](auto& x) { return avg_pool2d(x, {2, 3}, {2, 3}); }, tiled);
  EXPECT_TRUE(avg_tiled.ok) << avg_tiled.message;
  for (std::int64_t size : {4, 5}) {  // ties: the first maximum takes the whole gradient
    auto g = gradient(ones<double>({1, size, size, 1}), [](const Tensor<double>& x) {
      return sum(max_pool2d(x, {2, 2}, {2, 2}));  // 5×5: the last row and column are not read
    });
    auto got = g.scalars();
    for (std::int64_t i = 0; i < size * size; ++i) {
      std::int64_t y = i / size, x = i % size;
      EXPECT_EQ(got[i], y % 2 == 0 && x % 2 == 0 && y < 4 && x < 4 ? 1.0 : 0.0) << size << " " << i;
    }
  }
  auto dil = check_gradients(
      [&](auto& x, auto& f) {
        return conv2d(x, f, {1, 1}, Padding::same, {2, 2});
      },
      x, f);
  EXPECT_TRUE(dil.ok) << dil.message;
  auto second =
      check_second_order([&](const Tensor<double>& f) { return sum(square(conv2d(x, f))); }, f);
  EXPECT_TRUE(second.ok) << second.message;
  auto second_x = check_second_order(
      [&](const Tensor<double>& x) {
        return sum(square(conv2d(x, f, {1, 1}, Padding::same)));
      },
      x);
  EXPECT_TRUE(second_x.ok) << second_x.message;
}

TEST(NN, PoolValues) {
  Tensor<double> x = reshape(arange<double>(0, 16), {1, 4, 4, 1});
  EXPECT_EQ(max_pool2d(x, {2, 2}, {2, 2}).scalars(), (std::vector<double>{5, 7, 13, 15}));
  EXPECT_EQ(avg_pool2d(x, {2, 2}, {2, 2}).scalars(), (std::vector<double>{2.5, 4.5, 10.5, 12.5}));
  EXPECT_EQ(avg_pool2d(x, {2, 2}, {2, 2}, Padding::same).shape(), (Shape{1, 2, 2, 1}));
  EXPECT_EQ(avg_pool2d(reshape(arange<double>(0, 9), {1, 3, 3, 1}), {2, 2}, {2, 2}, Padding::same)
                .scalars(),
            (std::vector<double>{2, 3.5, 6.5, 8}));  // edge windows average only what is inside
}

TEST(NN, SoftmaxAndOneHot) {
  Tensor<double> x({1, 2, 3, 1000, 1000, 1000}, {2, 3});
  auto s = softmax(x).scalars();
  EXPECT_NEAR(s[2], std::exp(3) / (std::exp(1) + std::exp(2) + std::exp(3)), 1e-12);
  EXPECT_NEAR(s[4], 1.0 / 3, 1e-12);
  EXPECT_NEAR(log_softmax(x).scalars()[3], -std::log(3), 1e-12);
  for (auto f : {+[](const Tensor<double>& x) { return softmax(x); },
                 +[](const Tensor<double>& x) { return log_softmax(x, 0); }}) {
    auto check = check_gradients(f, sample({3, 4}, -2, 2));
    EXPECT_TRUE(check.ok) << check.message;
    auto second = check_second_order([&](const Tensor<double>& x) { return sum(square(f(x))); },
                                     sample({2, 3}, -2, 2));
    EXPECT_TRUE(second.ok) << second.message;
  }
  EXPECT_EQ(one_hot<float>(Tensor<std::int32_t>{2, 0}, 3).scalars(),
            (std::vector<float>{0, 0, 1, 1, 0, 0}));
}

TEST(NN, Errors) {
  auto x = zeros<float>({1, 5, 5, 3});
  expect_error<ShapeError>(
      [&] {
        (void)conv2d(x, zeros<float>({3, 3, 2, 4}));
      },
      {"conv2d", "3 channels", "expects 2"});
  expect_error<ShapeError>(
      [&] {
        (void)conv2d(zeros<float>({5, 5, 3}), zeros<float>({3, 3, 3, 4}));
      },
      {"conv2d", "[5, 5, 3]"});
  expect_error<ShapeError>(
      [&] {
        (void)conv2d(x, zeros<float>({7, 7, 3, 4}));
      },
      {"conv2d", "does not fit"});
  expect_error<ValueError>(
      [&] {
        (void)max_pool2d(x, {2, 2}, {0, 1});
      },
      {"max_pool2d", "positive"});
  expect_error<ShapeError>(
      [&] {
        (void)matmul(zeros<float>({2, 3}), zeros<float>({2, 3}));
      },
      {"matmul", "[2, 3]", "inner"});
  expect_error<ShapeError>(
      [&] {
        (void)matmul(zeros<float>({3}), zeros<float>({3, 2}));
      },
      {"matmul", "rank"});
}

TEST(NN, Float32ConvolutionMatchesFloat64) {
  // float32 runs on oneDNN's convolution primitives, float64 on im2col + OpenBLAS: the two paths
  // must agree.
  for (auto padding : {Padding::valid, Padding::same})
    for (std::int64_t stride : {1, 2})
      for (std::int64_t dilation : {1, 2}) {
        auto x = sample({3, 9, 8, 5}, -1, 1), f = sample({3, 2, 5, 4}, -1, 1, 2);
        auto loss = [&](const auto& x, const auto& f) {
          return sum(square(conv2d(x, f, {stride, stride}, padding, {dilation, dilation})));
        };
        auto [gx, gf] = gradient(x, f, loss);
        auto [gx32, gf32] = gradient(Tensor<float>(x), Tensor<float>(f), loss);
        auto y = conv2d(x, f, {stride, stride}, padding, {dilation, dilation});
        auto y32 = conv2d(Tensor<float>(x), Tensor<float>(f), {stride, stride}, padding,
                          {dilation, dilation});
        EXPECT_TRUE(all_close(Tensor<double>(y32), y, 1e-4, 1e-5))
            << int(padding) << stride << dilation;
        EXPECT_TRUE(all_close(Tensor<double>(gx32), gx, 1e-4, 1e-4))
            << int(padding) << stride << dilation;
        EXPECT_TRUE(all_close(Tensor<double>(gf32), gf, 1e-4, 1e-4))
            << int(padding) << stride << dilation;
      }
}

TEST(NN, FusedBiasAndReluGradients) {
  // Layers run bias and relu inside the convolution's or matmul's output pass; the fused ops
  // have their own pullbacks, checked here to first and second order.
  auto x = sample({2, 5, 5, 2}, -1, 1), f = sample({3, 3, 2, 3}, -1, 1, 2),
       b = sample({3}, -0.5, 0.5, 3);
  for (auto activation : {FusedActivation::none, FusedActivation::relu}) {
    SCOPED_TRACE(int(activation));
    auto conv = check_gradients(
        [&](auto& x, auto& f, auto& b) {
          return detail::conv2d_fused(x, f, b, activation, {2, 1}, Padding::same, {1, 1});
        },
        x, f, b);
    EXPECT_TRUE(conv.ok) << conv.message;
    auto d = sample({3, 2, 2, 3}, -1, 1, 8), db = sample({6}, -0.5, 0.5, 9);
    auto depthwise = check_gradients(
        [&](auto& x, auto& d, auto& db) {
          return detail::conv2d_fused(x, d, db, activation, {1, 2}, Padding::same, {1, 1}, true);
        },
        x, d, db);
    EXPECT_TRUE(depthwise.ok) << depthwise.message;
    auto m = sample({4, 6}, -1, 1, 4), w = sample({6, 3}, -1, 1, 5);
    auto linear = check_gradients(
        [&](auto& m, auto& w, auto& b) { return detail::linear(m, w, b, activation); }, m, w, b);
    EXPECT_TRUE(linear.ok) << linear.message;
    auto no_bias = check_gradients(
        [&](auto& m, auto& w) { return detail::linear(m, w, Tensor<double>(), activation); }, m, w);
    EXPECT_TRUE(no_bias.ok) << no_bias.message;
    auto second = check_second_order(
        [&](const Tensor<double>& w) { return sum(square(detail::linear(m, w, b, activation))); },
        w);
    EXPECT_TRUE(second.ok) << second.message;
    auto second_conv = check_second_order(
        [&](const Tensor<double>& f) {
          return sum(
              square(detail::conv2d_fused(x, f, b, activation, {1, 1}, Padding::valid, {1, 1})));
        },
        f);
    EXPECT_TRUE(second_conv.ok) << second_conv.message;
  }
}

TEST(NN, FusedLayersMatchTheirComposition) {
  // float32, batches large enough to split across threads: oneDNN's convolution with its fused
  // bias and relu, and the one-sweep backward pass, against the unfused float64 composition.
  auto x = sample({16, 12, 12, 5}, -1, 1), f = sample({3, 3, 5, 24}, -0.5, 0.5, 2),
       b = sample({24}, -0.5, 0.5, 3);
  auto unfused = [&](const auto& x, const auto& f, const auto& b) {
    return sum(square(relu(conv2d(x, f, {1, 1}, Padding::same) + b) - 0.25));
  };
  auto [gx, gf, gb] = gradient(x, f, b, unfused);
  Conv2D<float> layer(Tensor<float>(f), Tensor<float>(b), relu<float>, {1, 1}, Padding::same);
  auto x32 = Tensor<float>(x);
  auto [loss32, grads32] = value_with_gradient(layer, x32, [](const auto& layer, const auto& x) {
    return sum(square(layer(x) - 0.25f));  // the gradient is not 0 where relu cuts
  });
  auto [model_grad, gx32] = grads32;
  EXPECT_NEAR(double(loss32.scalar()), unfused(x, f, b).scalar(), 1e-4 * unfused(x, f, b).scalar());
  EXPECT_TRUE(all_close(Tensor<double>(gx32), gx, 1e-3, 1e-4));
  EXPECT_TRUE(all_close(Tensor<double>(model_grad.filter), gf, 1e-3, 1e-3));
  EXPECT_TRUE(all_close(Tensor<double>(model_grad.bias), gb, 1e-3, 1e-3));

  // Dense: relu and the identity are fused, any other activation composes.
  auto m = sample({300, 40}, -1, 1, 4), w = sample({40, 130}, -1, 1, 5),
       c = sample({130}, -1, 1, 6);
  for (ActivationFunction<double> activation : {relu<double>, identity<double>, tanh<double>}) {
    Dense<double> dense(w, c, activation);
    auto fused_loss = [&](const Dense<double>& d) { return sum(square(d(m) - 0.25)); };
    auto reference = [&](const Tensor<double>& w, const Tensor<double>& c) {
      return sum(square(activation(matmul(m, w) + c) - 0.25));
    };
    auto [dw, dc] = gradient(w, c, reference);
    auto [value, grad] = value_with_gradient(dense, fused_loss);
    EXPECT_NEAR(value.scalar(), reference(w, c).scalar(), 1e-9 * value.scalar());
    EXPECT_TRUE(all_close(grad.weight, dw, 1e-9, 1e-9));
    EXPECT_TRUE(all_close(grad.bias, dc, 1e-9, 1e-9));
    auto row = reshape(slice(m, {{0, 1}}), {40});  // a rank-1 input
    EXPECT_TRUE(all_close(dense(row), reshape(slice(activation(matmul(m, w) + c), {{0, 1}}), {130}),
                          1e-9, 1e-12));
  }
}

TEST(NN, FusedOpsRejectMismatchedBiases) {
  expect_error<ShapeError>(
      [&] {
        (void)detail::conv2d_fused(zeros<float>({1, 4, 4, 2}), zeros<float>({3, 3, 2, 5}),
                                   zeros<float>({4}), FusedActivation::relu, {1, 1}, Padding::valid,
                                   {1, 1});
      },
      {"conv2d", "bias [4]", "[3, 3, 2, 5]"});
  expect_error<ShapeError>(
      [&] {
        (void)detail::linear(zeros<float>({2, 3}), zeros<float>({3, 5}), zeros<float>({3}),
                             FusedActivation::none);
      },
      {"linear", "bias [3]", "[3, 5]"});
  // The backend checks too, before oneDNN would read past the bias.
  RawTensor bias = zeros<float>({4}).raw();
  expect_error<ShapeError>(
      [&] {
        (void)backend_for(Device::cpu())
            .conv2d_activation(zeros<float>({1, 4, 4, 2}).raw(), zeros<float>({3, 3, 2, 5}).raw(),
                               detail::window("conv2d", {1, 4, 4, 2}, 3, 3, {1, 1}, Padding::valid),
                               false, &bias, FusedActivation::relu);
      },
      {"conv2d", "bias [4]", "[1, 2, 2, 5]"});
}

TEST(NN, WinogradAndDirectConvolutionsMatchFloat64) {
  // 3×3, stride 1, 32 -> 64 channels: eligible for Winograd. Both algorithms, forward and both
  // gradients, against the float64 convolution; the option switches between them at any time.
  auto x = sample({4, 10, 9, 32}, -1, 1), f = sample({3, 3, 32, 64}, -0.3, 0.3, 2),
       b = sample({64}, -0.5, 0.5, 3);
  auto loss = [](const auto& x, const auto& f, const auto& b) {
    return sum(square(relu(conv2d(x, f) + b) - 0.1));
  };
  auto y = relu(conv2d(x, f) + b);
  auto [gx, gf, gb] = gradient(x, f, b, loss);
  auto relative = [](const Tensor<double>& got, const Tensor<double>& want) {
    return max(abs(got - want)).scalar() / max(abs(want)).scalar();
  };
  for (bool winograd : {true, false}) {
    SCOPED_TRACE(winograd ? "winograd" : "direct");
    cpu::kernel_options().winograd = winograd;
    Conv2D<float> layer(Tensor<float>(f), Tensor<float>(b), relu<float>);
    auto x32 = Tensor<float>(x);
    auto [grads32, gx32] = gradient(
        layer, x32, [](const auto& layer, const auto& x) { return sum(square(layer(x) - 0.1f)); });
    EXPECT_LT(relative(Tensor<double>(layer(x32)), y), 1e-5);
    EXPECT_LT(relative(Tensor<double>(gx32), gx), 1e-5);
    EXPECT_LT(relative(Tensor<double>(grads32.filter), gf), 1e-5);
    EXPECT_LT(relative(Tensor<double>(grads32.bias), gb), 1e-5);
  }
  cpu::kernel_options().winograd = true;
}
