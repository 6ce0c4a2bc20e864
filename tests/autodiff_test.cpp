#include <thread>

#include "op_check.hpp"

using namespace ct;
using namespace ct::testing;

namespace {
struct Inner {
  Tensor<double> weight, bias;
  CT_FIELDS(weight, bias)
};
struct Net {
  Inner dense{sample({3, 2}, -1, 1, 11), sample({2}, -1, 1, 12)};
  Tensor<double> scale = Tensor<double>(2.0);
  Tensor<double> unused = Tensor<double>{1, 2};
  int steps = 3;  // not a tensor: carried along, never differentiated
  CT_FIELDS(dense, scale, unused)
};
Tensor<double> net_loss(const Net& m, const Tensor<double>& x) {
  return sum(square(tanh(matmul(x, m.dense.weight) + m.dense.bias) * m.scale));
}
Tensor<double> power(const Tensor<double>& x, int n) {
  return n == 0 ? ones_like(x) : x * power(x, n - 1);
}
}  // namespace

TEST(Autodiff, ScalarsLoopsBranchesRecursion) {
  EXPECT_DOUBLE_EQ(gradient(3.0, [](const Tensor<double>& x) { return x * x; }), 6.0);
  EXPECT_FLOAT_EQ(gradient(2.0f, [](const Tensor<float>& x) { return sin(x); }), std::cos(2.0f));
  auto loop = gradient(1.5, [](const Tensor<double>& x) {
    Tensor<double> y = x;
    for (int i = 0; i < 100; ++i) y = y * 0.99 + sin(y) * 0.01;
    return y;
  });
  double h = 1e-6, fx[2];
  for (int s = 0; s < 2; ++s) {
    double y = 1.5 + (s ? h : -h);
    for (int i = 0; i < 100; ++i) y = y * 0.99 + std::sin(y) * 0.01;
    fx[s] = y;
  }
  EXPECT_NEAR(loop, (fx[1] - fx[0]) / (2 * h), 1e-7);
  auto branch = [](const Tensor<double>& x) { return x.scalar() > 0 ? x * x : -x * 3.0; };
  EXPECT_DOUBLE_EQ(gradient(2.0, branch), 4.0);
  EXPECT_DOUBLE_EQ(gradient(-2.0, branch), -3.0);
  EXPECT_DOUBLE_EQ(gradient(2.0, [](const Tensor<double>& x) { return power(x, 5); }), 80.0);
}

TEST(Autodiff, CapturedTensorsAreConstants) {
  Tensor<double> c{1, 2, 3};
  auto g =
      gradient(Tensor<double>{1, 1, 1}, [&](const Tensor<double>& x) { return sum(x * c * c); });
  EXPECT_EQ(g.scalars(), (std::vector<double>{1, 4, 9}));
  auto [v, gw] = value_with_gradient(
      Tensor<double>{2}, [&](const Tensor<double>& x) { return sum(x * without_derivative(x)); });
  EXPECT_EQ(v.scalar(), 4);
  EXPECT_EQ(gw.scalars(), (std::vector<double>{2}));
}

TEST(Autodiff, StructGradientsAreShapedLikeTheModel) {
  Net model;
  auto x = sample({4, 3}, -1, 1, 13);
  auto [loss, grad] = value_with_gradient(model, [&](const Net& m) { return net_loss(m, x); });
  EXPECT_EQ(grad.dense.weight.shape(), (Shape{3, 2}));
  EXPECT_EQ(grad.scale.shape(), (Shape{}));
  EXPECT_EQ(grad.unused.scalars(), (std::vector<double>{0, 0}));  // no influence: zeros
  EXPECT_EQ(grad.steps, 3);
  // Each field against finite differences.
  auto check = check_gradients(
      [&](const Tensor<double>& w) {
        Net m = model;
        m.dense.weight = w;
        return net_loss(m, x);
      },
      model.dense.weight);
  EXPECT_TRUE(check.ok) << check.message;
  auto expected = gradient(model.dense.weight, [&](const Tensor<double>& w) {
    Net m = model;
    m.dense.weight = w;
    return net_loss(m, x);
  });
  EXPECT_TRUE(all_close(grad.dense.weight, expected, 1e-12));
  // Tangent arithmetic.
  auto twice = grad + grad;
  EXPECT_TRUE(all_close(twice.dense.bias, grad.dense.bias * 2.0));
  EXPECT_TRUE(all_close((grad * 0.5).scale, grad.scale * 0.5));
  EXPECT_EQ(zero_tangent(grad).dense.weight.scalars(), std::vector<double>(6, 0.0));
  Net moved = model;
  move_along(moved, grad * -0.1);
  EXPECT_LT(net_loss(moved, x).scalar(), loss.scalar());
}

TEST(Autodiff, SeveralArguments) {
  auto [v, g] = value_with_gradient(
      2.0, 3.0, [](const Tensor<double>& x, const Tensor<double>& y) { return x * x * y; });
  EXPECT_EQ(v.scalar(), 12);
  EXPECT_EQ(std::get<0>(g), 12);
  EXPECT_EQ(std::get<1>(g), 4);
  auto [gx, gy, gz] = gradient(Tensor<double>{1, 2}, 3.0, Tensor<double>(4.0),
                               [](auto& x, auto& y, auto& z) { return sum(x * y) * z; });
  EXPECT_EQ(gx.scalars(), (std::vector<double>{12, 12}));
  EXPECT_EQ(gy, 12);
  EXPECT_EQ(gz.scalar(), 9);
}

TEST(Autodiff, PullbacksAndNonScalarResults) {
  Tensor<double> x{1, 2, 3};
  auto [y, pb] = value_with_pullback(x, [](const Tensor<double>& x) { return x * x; });
  EXPECT_EQ(pb(Tensor<double>{1, 0, 0}).scalars(), (std::vector<double>{2, 0, 0}));
  EXPECT_EQ(pb(Tensor<double>{1, 1, 1}).scalars(), (std::vector<double>{2, 4, 6}));  // reusable
  expect_error<ShapeError>([&] { (void)pb(Tensor<double>{1}); }, {"pullback", "[1]", "[3]"});
  expect_error<ShapeError>(
      [&] { (void)gradient(x, [](const Tensor<double>& x) { return x * 2.0; }); },
      {"value_with_gradient", "[3]", "not a single value"});
}

TEST(Autodiff, HigherOrder) {
  auto f = [](const Tensor<double>& x) { return x * x * x * sin(x); };
  for (double x : {0.3, 1.7, -2.2}) {
    double closed = 6 * x * std::sin(x) + 6 * x * x * std::cos(x) - x * x * x * std::sin(x);
    double second =
        gradient(x, [&](const Tensor<double>& x) { return Tensor<double>(gradient(x, f)); });
    EXPECT_NEAR(second, closed, 1e-10);
  }
  // Nested calls do not confuse their perturbations: d/dx [x · d/dy (x·y)] = 2x.
  double nested = gradient(3.0, [](const Tensor<double>& x) {
    return x * gradient(Tensor<double>(1.0), [&](const Tensor<double>& y) { return x * y; });
  });
  EXPECT_DOUBLE_EQ(nested, 6.0);
  // Hessian-vector product of a small network's loss, against finite differences of its gradient.
  Net model;
  auto data = sample({5, 3}, -1, 1, 21);
  auto loss_of_w = [&](const Tensor<double>& w) {
    Net m = model;
    m.dense.weight = w;
    return net_loss(m, data);
  };
  auto v = sample({3, 2}, -1, 1, 22);
  auto hvp = gradient(model.dense.weight,
                      [&](const Tensor<double>& w) { return sum(gradient(w, loss_of_w) * v); });
  double eps = 1e-5;
  auto fd = (gradient(model.dense.weight + v * eps, loss_of_w) -
             gradient(model.dense.weight - v * eps, loss_of_w)) /
            (2 * eps);
  EXPECT_TRUE(all_close(hvp, fd, 1e-5, 1e-7));
  auto check = check_second_order(loss_of_w, model.dense.weight);
  EXPECT_TRUE(check.ok) << check.message;
}

TEST(Autodiff, ForwardMode) {
  auto f = [](const Tensor<double>& x) {
    return matmul(reshape(x, {2, 2}), reshape(x, {2, 2})) * sin(reshape(x, {2, 2}));
  };
  auto x = sample({4}, -1, 1, 31), dx = sample({4}, -1, 1, 32);
  auto [y, differential] = value_with_differential(x, f);
  auto jvp = differential(dx);
  double eps = 1e-6;
  auto fd = (f(x + dx * eps) - f(x - dx * eps)) / (2 * eps);
  EXPECT_EQ(jvp.shape(), y.shape());
  EXPECT_TRUE(all_close(jvp, fd, 1e-6, 1e-8));
}

TEST(Autodiff, CustomDerivativeSwish) {
  auto x = sample({3, 5}, -4, 4, 41);
  auto custom = gradient(x, [](const Tensor<double>& x) { return sum(swish(x) * x); });
  auto automatic = gradient(x, [](const Tensor<double>& x) { return sum(swish_automatic(x) * x); });
  EXPECT_TRUE(all_close(custom, automatic, 1e-12));
  auto second = check_second_order([](const Tensor<double>& x) { return sum(swish(x)); }, x);
  EXPECT_TRUE(second.ok) << second.message;
}

TEST(Autodiff, CheckerCatchesAWrongDerivative) {
  auto wrong_square = [](const Tensor<double>& x) {
    return with_derivative(x, [](const Tensor<double>& x) {
      return std::pair{x * x,
                       [x](const Tensor<double>& dy) { return dy * x * 2.01; }};  // off by 0.5%
    });
  };
  auto check = check_gradients(wrong_square, sample({4}, 0.5, 2));
  EXPECT_FALSE(check.ok);
  EXPECT_NE(check.message.find("automatic"), std::string::npos);
}

TEST(Autodiff, MemoryIsReleasedAndRecomputeSavesIt) {
  auto x = Tensor<float>(sample({256, 256}, -1, 1));
  auto deep = [](const Tensor<float>& x) {
    Tensor<float> y = x;
    for (int i = 0; i < 8; ++i) y = tanh(y) * 1.1f;
    return y;
  };
  auto peak_of = [&](auto&& f) {
    reset_peak_memory();
    auto before = memory_stats().live_bytes;
    auto g = gradient(x, [&](const Tensor<float>& x) { return sum(f(x)); });
    return memory_stats().peak_bytes - before;
  };
  auto live_before = memory_stats().live_bytes;
  // Four blocks: recomputing each block keeps only block inputs plus one block's internals.
  auto blocks = [&](auto&& block) {
    return [block](const Tensor<float>& x) {
      Tensor<float> y = x;
      for (int i = 0; i < 4; ++i) y = block(y);
      return y;
    };
  };
  auto plain = peak_of(blocks(deep));
  auto recomputed = peak_of(blocks(recompute(deep)));
  EXPECT_EQ(memory_stats().live_bytes, live_before);  // nothing of the recording survives
  EXPECT_LT(recomputed, plain / 2);
  auto g1 = gradient(x, [&](const Tensor<float>& x) { return sum(deep(x)); });
  auto g2 = gradient(x, [&](const Tensor<float>& x) { return sum(recompute(deep)(x)); });
  EXPECT_TRUE(all_close(g1, g2, 1e-6));
}

// A recomputed block reading parameters it captures (as a layer does): they get the
// gradients of the plain block, first and second order, and so does its argument.
TEST(Autodiff, RecomputeDifferentiatesCapturedParameters) {
  Inner p{sample({3, 3}, -1, 1, 7), sample({3}, -1, 1, 8)};
  auto x = sample({2, 3}, -1, 1, 9);
  auto loss = [](const Inner& p, const Tensor<double>& x, bool recomputed) {
    // By value: the backward pass calls the block again, after `p` has gone.
    std::function<Tensor<double>(const Tensor<double>&)> block = [p](const Tensor<double>& h) {
      return tanh(matmul(h, p.weight) + p.bias);
    };
    if (recomputed) block = recompute(block);
    return sum(square(block(block(x))));
  };
  auto [plain_p, plain_x] = gradient(
      p, x, [&](const Inner& p, const Tensor<double>& x) { return loss(p, x, false); });
  auto [re_p, re_x] = gradient(
      p, x, [&](const Inner& p, const Tensor<double>& x) { return loss(p, x, true); });
  EXPECT_GT(max(abs(re_p.weight)).scalar(), 1e-3);
  EXPECT_TRUE(all_close(re_p.weight, plain_p.weight, 1e-12, 1e-12));
  EXPECT_TRUE(all_close(re_p.bias, plain_p.bias, 1e-12, 1e-12));
  EXPECT_TRUE(all_close(re_x, plain_x, 1e-12, 1e-12));
  auto check = check_second_order(
      [&](const Tensor<double>& w) { return loss(Inner{w, p.bias}, x, true); }, p.weight);
  EXPECT_TRUE(check.ok) << check.message;
}

TEST(Autodiff, ThreadsDifferentiateIndependently) {
  std::vector<double> results(2);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([t, &results] {
      double acc = 0;
      for (int i = 0; i < 200; ++i)
        acc += gradient(double(t + 1), [](const Tensor<double>& x) { return x * x * x; });
      results[t] = acc;
    });
  for (auto& th : threads) th.join();
  EXPECT_DOUBLE_EQ(results[0], 200 * 3.0);
  EXPECT_DOUBLE_EQ(results[1], 200 * 12.0);
}
