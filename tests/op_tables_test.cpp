// The device axis of the op tests: every primitive of the Op table runs on every registered
// device against the float64 CPU result, with its gradients checked on that device; a test
// fails on an Op that no row reaches. Then the seam's own promises: the CPU fallback and strict
// mode, stray CPU tensors, identical random bits, and a CNN step with no host reads.
#include <cstdlib>
#include <set>

#include <cotangent/cotangent.hpp>
#include <cotangent/models/classifiers.hpp>

#include "op_check.hpp"

using namespace ct;
using namespace ct::testing;

namespace {

using Inputs = std::vector<Tensor<double>>;

/// A row: inputs of these shapes, sampled in [low, high] on the host and moved to the device,
/// and the op, told the device for any tensor it makes itself.
struct OpCase {
  std::string name;
  std::vector<Shape> shapes;
  std::function<Tensor<double>(const Inputs&, Device)> op;
  double low = -2, high = 2;
  bool differentiable = true;
  bool second_order = false;
};

Tensor<std::int64_t> indices(std::vector<std::int64_t> values, Device d) {
  auto n = std::int64_t(values.size());
  return Tensor<std::int64_t>(values, {n}, d);
}

const std::vector<OpCase> kOps = {
    {"scalar constants", {{3, 4}}, [](auto& x, Device) { return x[0] * 2.0 + 1.0 - x[0] / 4.0; }},
    {"arange, linspace, eye",
     {},
     [](auto&, Device d) {
       return concatenate<double>({arange<double>(0, 5, 0.5, d), linspace<double>(-1, 2, 7, d),
                                   reshape(eye<double>(3, 4, d), {12}),
                                   cast<double>(iota<std::int32_t>({2, 3}, 1, d)).flattened()});
     },
     -2,
     2,
     false},
    {"random draws",
     {},
     [](auto&, Device d) {
       Generator a(11), b(12), c(13);
       return concatenate<double>({random_uniform<double>({50}, -1, 2, a, d),
                                   random_normal<double>({51}, 0, 1, b, d),
                                   cast<double>(random_uniform<float>({33}, 0, 1, c, d))});
     },
     -2,
     2,
     false},
    {"where", {{3, 4}, {4}}, [](auto& x, Device) { return where(x[0] > x[1], x[0], x[1] * 3.0); }},
    {"casts",
     {{3, 4}},
     [](auto& x, Device) {
       return cast<double>(cast<float>(x[0])) + cast<double>(cast<std::int32_t>(x[0] * 3.0));
     },
     -2,
     2,
     false},
    {"cast float",
     {{5}},
     [](auto& x, Device) { return cast<double>(cast<float>(x[0]) * 2.0f); },
     -2,
     2,
     false},  // float rounding is far above a float64 finite difference
    {"contiguous", {{3, 4}}, [](auto& x, Device) { return contiguous(transpose(x[0])) * 1.5; }},
    {"comparisons and logic",
     {{3, 4}, {3, 4}},
     [](auto& x, Device) {
       auto a = round(x[0]), b = round(x[1]);
       auto t = [](const Tensor<bool>& c) { return cast<double>(c); };
       return t(equal(a, b)) + 2.0 * t(not_equal(a, b)) + 4.0 * t(a < b) + 8.0 * t(a <= b) +
              16.0 * t(a > b) + 32.0 * t(a >= b) + 64.0 * t(logical_and(a > 0.0, b > 0.0)) +
              128.0 * t(logical_or(a > 0.0, b > 0.0)) + 256.0 * t(!(a > 0.0));
     },
     -2,
     2,
     false},
    {"sum and mean", {{3, 4}}, [](auto& x, Device) { return sum(x[0], {1}) + mean(x[0], {1}); }},
    {"product", {{3, 4}}, [](auto& x, Device) { return product(x[0], {0}); }, 0.5, 1.5},
    {"max and min", {{3, 5}}, [](auto& x, Device) { return max(x[0], {1}) - min(x[0], {1}); }},
    {"any, all, argmax, argmin",
     {{4, 5}},
     [](auto& x, Device) {
       return cast<double>(any(x[0] > 1.5, {1})) + 2.0 * cast<double>(all(x[0] > -1.5, {1})) +
              4.0 * cast<double>(argmax(x[0], 1)) + 32.0 * cast<double>(argmin(x[0], 1));
     },
     -2,
     2,
     false},
    {"matmul", {{3, 4}, {4, 5}}, [](auto& x, Device) { return matmul(x[0], x[1]); }},
    {"matmul transposed, batched",
     {{2, 4, 3}, {5, 4}},
     [](auto& x, Device) { return matmul(x[0], x[1], true, true); }},
    {"conv2d",
     {{2, 5, 5, 3}, {3, 3, 3, 4}},
     [](auto& x, Device) {
       return conv2d(x[0], x[1], {1, 1}, Padding::same);
     },
     -1,
     1,
     true,
     true},
    {"conv2d strided",
     {{1, 6, 6, 2}, {2, 2, 2, 3}},
     [](auto& x, Device) {
       return conv2d(x[0], x[1], {2, 2});
     },
     -1,
     1},
    {"depthwise conv2d",
     {{1, 5, 5, 2}, {3, 3, 2, 2}},
     [](auto& x, Device) { return depthwise_conv2d(x[0], x[1]); },
     -1,
     1},
    {"max_pool2d",
     {{2, 4, 4, 3}},
     [](auto& x, Device) {
       return max_pool2d(x[0], {2, 2}, {2, 2});
     },
     -2,
     2,
     true,
     true},
    {"avg_pool2d",
     {{2, 4, 6, 3}},
     [](auto& x, Device) {
       return avg_pool2d(x[0], {2, 3}, {2, 3});
     },
     -2,
     2,
     true,
     true},
    {"gather and scatter_add",
     {{4, 3}},
     [](auto& x, Device d) {
       return gather(x[0], indices({2, 0, 1, 2, 3}, d), 0);
     }},
    {"concatenate",
     {{2, 3}, {4, 3}},
     [](auto& x, Device) {
       return concatenate<double>({x[0], x[1] * 2.0}, 0);
     }},
    {"pad",
     {{3, 4}},
     [](auto& x, Device) {
       return pad(x[0], {{1, 2}, {0, 1}}) + padded(x[0], {{1, 2}, {0, 1}}, PadMode::reflect);
     }},
    {"update",
     {{3, 4}, {3, 4}},
     [](auto& x, Device) {
       Tensor<double> y = x[0] * 1.0;
       update(y, 0.5, x[1], 2.0);
       return y;
     },
     -2,
     2,
     false},
    {"update_with_product",
     {{3, 4}, {5, 3}, {5, 4}},
     [](auto& x, Device) {
       Tensor<double> y = x[0] * 1.0;
       update_with_product(y, 0.5, x[1], x[2], true, false, -2.0);
       return y;
     },
     -2,
     2,
     false},
    {"Dense (linear)",
     {{6, 4}, {4, 3}, {3}},
     [](auto& x, Device) { return Dense<double>(x[1], x[2], relu<double>)(x[0]); }},
    {"Dense, other activation",
     {{6, 4}, {4, 3}, {3}},
     [](auto& x, Device) { return Dense<double>(x[1], x[2], tanh<double>)(x[0]); }},
    {"Conv2D (conv2d_activation)",
     {{2, 5, 5, 2}, {3, 3, 2, 3}, {3}},
     [](auto& x, Device) { return Conv2D<double>(x[1], x[2], relu<double>)(x[0]); },
     -1,
     1},
    {"softmax_cross_entropy",
     {{5, 4}},
     [](auto& x, Device d) {
       return softmax_cross_entropy(x[0], Tensor<std::int32_t>({0, 3, 1, 1, 2}, {5}, d));
     }},
    {"one_hot",
     {},
     [](auto&, Device d) {
       return one_hot<double>(Tensor<std::int64_t>({2, 0, 3}, {3}, d), 4, 5.0, -1.0);
     },
     -2,
     2,
     false},
    {"sigmoid_cross_entropy, mean_squared_error",
     {{4, 3}, {4, 3}},
     [](auto& x, Device) {
       return sigmoid_cross_entropy(x[0], sigmoid(x[1])) + mean_squared_error(x[0], x[1]);
     }},
    {"softmax", {{3, 5}}, [](auto& x, Device) { return softmax(x[0]) + log_softmax(x[0]); }},
    {"moments",
     {{3, 5}},
     [](auto& x, Device) {
       auto [m, v] = moments(x[0], {1});
       return m + v * 2.0;
     }},
    {"cosine similarity and distance",
     {{3, 4}, {3, 4}},
     [](auto& x, Device) {
       return cosine_similarity(x[0], x[1]) + 2.0 * cosine_distance(x[0] * x[0], x[1]);
     }},
    {"mean squared logarithmic, mean absolute percentage errors",
     {{4, 3}, {4, 3}},
     [](auto& x, Device) {
       return mean_squared_logarithmic_error(x[0], x[1]) +
              mean_absolute_percentage_error(x[0], x[1]) / 100.0;
     },
     0.2,
     2},
    {"batch_gather",
     {{2, 4, 3}},
     [](auto& x, Device d) {
       return batch_gather(x[0], Tensor<std::int32_t>({3, 0, 0, 1, 2, 3}, {2, 3}, d));
     }},
    {"cumulative_sum, cumulative_product",
     {{3, 6}},
     [](auto& x, Device) {
       return cumulative_sum(x[0], 1) + cumulative_product(x[0], 0, true, true) +
              cumulative_sum(x[0], -1, false, true);
     }},
    {"depth_to_space, space_to_depth",
     {{2, 2, 3, 8}, {2, 4, 6, 2}},
     [](auto& x, Device) {
       return depth_to_space(x[0], 2) * 3.0 + depth_to_space(space_to_depth(x[1], 2), 2);
     }},
    {"RNN<LSTMCell> over a sequence",
     {{2, 3, 2}, {4, 8}, {8}},
     [](auto& x, Device) {
       LSTMCell<double> cell(2, 2);
       cell.weight = x[1], cell.bias = x[2];
       return RNN<LSTMCell<double>>(cell)(x[0]);
     },
     -1,
     1},
    {"GRUCell step",
     {{2, 3}, {2, 2}, {5, 2}, {5, 2}, {5, 2}, {2}, {2}, {2}},
     [](auto& x, Device) {
       GRUCell<double> cell(3, 2);
       cell.update_weight = x[2], cell.reset_weight = x[3], cell.output_weight = x[4];
       cell.update_bias = x[5], cell.reset_bias = x[6], cell.output_bias = x[7];
       return cell(x[0], x[1]).first;
     },
     -1,
     1},
    {"Conv1D, MaxPool1D, AvgPool1D",
     {{2, 7, 2}, {3, 2, 3}, {3}},
     [](auto& x, Device) {
       Conv1D<double> conv({3, 2, 3}, tanh<double>, 1, Padding::same);
       conv.filter = x[1], conv.bias = x[2];
       auto y = conv(x[0]);
       return MaxPool1D<double>{2, 2}(y) + AvgPool1D<double>{2, 2}(y);
     },
     -1,
     1},
    {"TransposedConv2D",
     {{1, 3, 3, 2}, {3, 3, 4, 2}, {4}},
     [](auto& x, Device) {
       TransposedConv2D<double> up({3, 3, 4, 2}, {}, {2, 2});
       up.filter = x[1], up.bias = x[2];
       return up(x[0]);
     },
     -1,
     1},
    {"SeparableConv2D",
     {{1, 5, 5, 2}, {3, 3, 2, 2}, {1, 1, 4, 3}, {3}},
     [](auto& x, Device) {
       SeparableConv2D<double> sep({3, 3, 2, 2}, 3, tanh<double>);
       sep.depthwise_filter = x[1], sep.pointwise_filter = x[2], sep.bias = x[3];
       return sep(x[0]);
     },
     -1,
     1},
    {"UpSampling2D, ZeroPadding2D",
     {{1, 2, 3, 2}},
     [](auto& x, Device) { return ZeroPadding2D<double>{}(UpSampling2D<double>{2}(x[0])); }},
    {"GroupNorm",
     {{2, 3, 3, 4}, {4}, {4}},
     [](auto& x, Device) {
       GroupNorm<double> norm(2, 4);
       norm.offset = x[1], norm.scale = x[2];
       return norm(x[0]);
     }},
    {"Dropout",
     {{4, 6}},
     [](auto& x, Device) {
       LearningPhaseScope training(LearningPhase::training);
       Context::local().random.reseed(5);
       return Dropout<double>(0.5)(x[0]);
     },
     -2,
     2,
     false},
};

/// check_gradients over the first N inputs, all N of them passed to the row.
template <std::size_t... I>
GradientCheck check_first(const OpCase& c, const Inputs& in, Device d, std::index_sequence<I...>) {
  auto f = [&](auto&&... xs) { return c.op(Inputs{xs...}, d); };
  return check_gradients(f, in[I]...);
}

GradientCheck check_all(const OpCase& c, const Inputs& in, Device d) {
  switch (in.size()) {
    case 1:
      return check_first(c, in, d, std::make_index_sequence<1>{});
    case 2:
      return check_first(c, in, d, std::make_index_sequence<2>{});
    case 3:
      return check_first(c, in, d, std::make_index_sequence<3>{});
    case 4:
      return check_first(c, in, d, std::make_index_sequence<4>{});
    case 5:
      return check_first(c, in, d, std::make_index_sequence<5>{});
    case 6:
      return check_first(c, in, d, std::make_index_sequence<6>{});
    case 7:
      return check_first(c, in, d, std::make_index_sequence<7>{});
    case 8:
      return check_first(c, in, d, std::make_index_sequence<8>{});
    default:
      ADD_FAILURE() << c.name << ": rows take at most 8 inputs";
      return {};
  }
}

void check_case(const OpCase& c, Device device) {
  SCOPED_TRACE(c.name);
  Inputs host, moved;
  for (std::size_t i = 0; i < c.shapes.size(); ++i) {
    host.push_back(sample(c.shapes[i], c.low, c.high, 10 + i));
    moved.push_back(to(host.back(), device));
  }
  auto expected = c.op(host, Device::cpu()).scalars();
  Tensor<double> y = c.op(moved, device);
  ASSERT_EQ(y.device(), device) << "the result left the device";
  auto got = y.scalars();
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], expected[i], 1e-9 * (1 + std::abs(expected[i]))) << "at " << i;
  if (!c.differentiable || moved.empty()) return;
  auto check = check_all(c, moved, device);
  EXPECT_TRUE(check.ok) << check.message;
  if (c.second_order) {
    auto second = check_second_order(
        [&](const Tensor<double>& x) {
          Inputs in = moved;
          in[0] = x;
          return sum(square(c.op(in, device)));
        },
        moved[0]);
    EXPECT_TRUE(second.ok) << "second order: " << second.message;
  }
}

}  // namespace

class OpTable : public ::testing::TestWithParam<Device> {};
TEST_P(OpTable, EveryRow) {
  reset_fallback_counts();
  for (auto& c : kOps) check_case(c, GetParam());
  // A fallback the device does not list is a primitive the seam failed to route.
  std::set<Op> expected = expected_fallbacks(GetParam());
  for (auto [op, n] : fallback_counts()) {
    std::cout << "  " << op_name(op) << " ran on the CPU " << n << " times\n";
    EXPECT_TRUE(expected.contains(op)) << "unexpected CPU fallback: " << op_name(op);
  }
}
INSTANTIATE_TEST_SUITE_P(Devices, OpTable, ::testing::ValuesIn(devices()), device_name);

TEST(OpTable, EveryOpHasATestRowThatReachesIt) {
  // Each row of every table, run on the reference device, records the ops it dispatched there.
  ReferenceBackend& ref = reference_backend();
  std::set<int> reached;
  auto collect = [&] {
    for (int op = 0; op < kOpCount; ++op)
      if (ref.dispatched(Op(op)) > 0) reached.insert(op);
  };
  ref.reset_counts();
  for (auto& c : kUnary) check_unary(c, reference_device());
  for (auto& c : kBinary) check_binary(c, reference_device());
  for (auto& c : kOps) check_case(c, reference_device());
  collect();
  std::vector<std::string> missing;
  for (int op = 0; op < kOpCount; ++op)
    if (!reached.contains(op)) missing.emplace_back(op_name(Op(op)));
  EXPECT_TRUE(missing.empty()) << "ops without a test row: " << ::testing::PrintToString(missing);
  std::cout << "op table: " << kOpCount << " ops; rows: " << kUnary.size() << " unary, "
            << kBinary.size() << " binary, " << kOps.size()
            << " others; devices: " << devices().size() << "\n";
}

TEST(Seam, PhiloxMatchesTheKnownAnswers) {
  // Random123's known-answer vectors for Philox4x32-10.
  using Words = std::array<std::uint32_t, 4>;
  Words zero = philox::block(Words{0, 0, 0, 0}, std::array<std::uint32_t, 2>{0, 0});
  Words pi = philox::block(Words{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
                           std::array<std::uint32_t, 2>{0xa4093822, 0x299f31d0});
  EXPECT_EQ(zero, (Words{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(pi, (Words{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
  // Draws are the same bits on every device, and reserve their counters on the host.
  Generator a(3), b(3);
  auto on_cpu = random_uniform<float>({1000}, 0, 1, a).scalars();
  auto on_reference = random_uniform<float>({1000}, 0, 1, b, reference_device()).scalars();
  EXPECT_EQ(on_cpu, on_reference);
  EXPECT_TRUE(a.state() == (Generator::State{3, 250}));
  double mean = 0;
  for (float v : on_cpu) {
    mean += v;
    EXPECT_TRUE(v >= 0 && v < 1);
  }
  EXPECT_NEAR(mean / 1000, 0.5, 0.03);
}

TEST(Seam, OpsWithoutDeviceSupportFallBackCountedOrFailInStrictMode) {
  ReferenceBackend& ref = reference_backend();
  struct Restore {  // whatever happens, later tests see the device as it was
    ReferenceBackend& ref;
    ~Restore() {
      ref.refused.clear();
      ::unsetenv("CT_STRICT_DEVICE");
    }
  } restore{ref};
  ref.refused = {Op::unary_exp};
  reset_fallback_counts();
  auto x = to(Tensor<double>({0.0, 1.0, 2.0}, {3}), reference_device());
  Tensor<double> y = exp(x);
  EXPECT_EQ(y.device(), reference_device());
  EXPECT_NEAR(y.scalars()[2], std::exp(2.0), 1e-12);
  auto counts = fallback_counts();
  ASSERT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts[0], (std::pair<Op, std::int64_t>{Op::unary_exp, 1}));
  ::setenv("CT_STRICT_DEVICE", "1", 1);
  expect_error<DeviceError>([&] { (void)exp(x); },
                            {"unary_exp", "reference:0", "CT_STRICT_DEVICE"});
}

TEST(Seam, NormalDrawsHaveUnitVarianceAndUpdatesKeepValueSemantics) {
  Generator gen(21);
  auto z = random_normal<double>({20000}, 0, 1, gen, reference_device()).scalars();
  double mean = 0, square_sum = 0;
  for (double v : z) mean += v, square_sum += v * v;
  mean /= double(z.size());
  EXPECT_NEAR(mean, 0, 0.03);
  EXPECT_NEAR(square_sum / double(z.size()) - mean * mean, 1, 0.05);

  // In place only when nothing else sees the buffer: a copy keeps its values on every device.
  for (Device d : devices()) {
    Tensor<float> y = to(Tensor<float>({1, 2, 3}, {3}), d), copy = y;
    update(y, 2.0f, y, 1.0f);  // y = 3y, y aliasing x
    EXPECT_EQ(y.scalars(), (std::vector<float>{3, 6, 9})) << d;
    EXPECT_EQ(copy.scalars(), (std::vector<float>{1, 2, 3})) << d;
    Tensor<float> w = to(Tensor<float>({1, 0, 0, 1}, {2, 2}), d), before = w;
    update_with_product(w, 1.0f, w, w, false, false, 1.0f);  // w += w·w, factors aliasing w
    EXPECT_EQ(w.scalars(), (std::vector<float>{2, 0, 0, 2})) << d;
    EXPECT_EQ(before.scalars(), (std::vector<float>{1, 0, 0, 1})) << d;
    // A failed update leaves y defined and unchanged.
    EXPECT_THROW(update_with_product(w, 1.0f, w, to(Tensor<float>({1, 2, 3}, {1, 3}), d), false,
                                     false, 1.0f),
                 ShapeError);
    EXPECT_EQ(w.scalars(), (std::vector<float>{2, 0, 0, 2})) << d;
  }
}

TEST(Seam, AStrayCpuTensorIsADeviceError) {
  auto x = to(Tensor<float>({1, 2}, {2}), reference_device());
  expect_error<DeviceError>(
      [&] {
        (void)(x + Tensor<float>({1, 1}, {2}));
      },
      {"add", "different devices", "reference:0", "cpu:0"});
  expect_error<DeviceError>([] { (void)zeros<float>({2}, Device::cuda(3)); }, {"cuda:3"});
}

TEST(Seam, ModelsAndOptimizersMoveAndACnnStepReadsNothingFromTheDevice) {
  data::DatasetOptions options;
  options.training_limit = 64;
  options.download = false;
  auto dataset = MNIST(32, options);
  auto batch = dataset.training_epochs(1)[0].batch(0);
  default_generator().reseed(2);
  models::CNN on_cpu;
  models::CNN on_device = on_cpu;
  SGD cpu_optimizer(on_cpu, {.learning_rate = 0.1, .momentum = 0.9});
  SGD device_optimizer(on_device, {.learning_rate = 0.1, .momentum = 0.9});
  move(on_device, reference_device());
  move(device_optimizer, reference_device());
  EXPECT_EQ(device_of(on_device), reference_device());
  auto images = to(batch.data, reference_device());
  auto labels = to(batch.label, reference_device());
  auto step = [](auto& model, auto& optimizer, auto& x, auto& y) {
    return minimize(optimizer, model,
                    [&](const models::CNN& m) { return softmax_cross_entropy(m(x), y); });
  };
  ReferenceBackend& ref = reference_backend();
  for (int i = 0; i < 3; ++i) {
    ref.reset_counts();
    Tensor<float> loss = step(on_device, device_optimizer, images, labels);
    EXPECT_EQ(ref.reads(), 0) << "host reads in training step " << i + 1;
    EXPECT_EQ(loss.device(), reference_device());
    Tensor<float> expected = step(on_cpu, cpu_optimizer, batch.data, batch.label);
    EXPECT_NEAR(loss.scalar(), expected.scalar(), 1e-5);
  }
  std::cout << "host reads per CNN training step on the reference device: 0\n";
  move(on_device, Device::cpu());
  EXPECT_TRUE(all_close(on_device.conv1a.filter, on_cpu.conv1a.filter, 1e-4, 1e-5));
  EXPECT_TRUE(all_close(on_device.outputLayer.weight, on_cpu.outputLayer.weight, 1e-4, 1e-5));
}

TEST(Seam, FitReadsTheDeviceOncePerLogInterval) {
  data::DatasetOptions options;
  options.training_limit = 640;
  options.test_limit = 256;
  options.download = false;
  auto dataset = MNIST(64, options);  // 10 batches
  default_generator().reseed(4);
  models::MLP model;
  SGD optimizer(model, {.learning_rate = 0.1});
  move(model, reference_device());
  move(optimizer, reference_device());
  ReferenceBackend& ref = reference_backend();
  ref.reset_counts();
  auto history =
      train::fit(model, optimizer, dataset, {.epochs = 1, .progress = false, .log_every = 5});
  // Two reads (loss and correct-guess sums) after batches 5 and 10, two for the evaluation.
  EXPECT_EQ(ref.reads(), 6);
  ASSERT_EQ(history.size(), 1u);
  EXPECT_GT(history[0].training_accuracy, 0.2);
  EXPECT_TRUE(std::isfinite(history[0].test_loss));
}

TEST(Seam, PhiloxValuesDependOnlyOnTheirIndex) {
  // Value i read on its own (from its counter onward) is value i of the whole draw, whatever
  // the draw's length: what lets a device compute any element independently.
  for (auto distribution : {Distribution::uniform, Distribution::normal}) {
    std::vector<float> f(13);
    std::vector<double> d(7);
    philox::fill<float>(distribution, {5, 9}, f.data(), f.size());
    philox::fill<double>(distribution, {5, 9}, d.data(), d.size());
    for (std::size_t i = 0; i < f.size(); ++i)
      EXPECT_EQ(f[i], philox::value<float>(distribution, {5, 9}, i));
    for (std::size_t i = 0; i < d.size(); ++i)
      EXPECT_EQ(d[i], philox::value<double>(distribution, {5, 9}, i));
  }
}

TEST(Seam, MinimizeAgreesWhetherOrNotTheBackendFusesProducts) {
  // The CPU keeps weight gradients as products; DefaultsOnly has no fused matmul_update, so
  // minimize takes the plain step there. Both must land on the same weights.
  EXPECT_TRUE(backend_for(Device::cpu()).fuses(Op::matmul_update));
  EXPECT_FALSE(backend_for(defaults_only_device()).fuses(Op::matmul_update));
  default_generator().reseed(6);
  models::MLP on_cpu;
  models::MLP plain = on_cpu;
  SGD cpu_optimizer(on_cpu, {.learning_rate = 0.05, .momentum = 0.5});
  SGD plain_optimizer(plain, {.learning_rate = 0.05, .momentum = 0.5});
  move(plain, defaults_only_device());
  move(plain_optimizer, defaults_only_device());
  auto image = random_uniform<float>({2, 28, 28, 1});
  Tensor<std::int32_t> label({3, 7}, {2});
  auto image_there = to(image, defaults_only_device());
  auto label_there = to(label, defaults_only_device());
  for (int i = 0; i < 3; ++i) {
    auto a = minimize(cpu_optimizer, on_cpu,
                      [&](const models::MLP& m) { return softmax_cross_entropy(m(image), label); });
    auto b = minimize(plain_optimizer, plain, [&](const models::MLP& m) {
      return softmax_cross_entropy(m(image_there), label_there);
    });
    EXPECT_NEAR(a.scalar(), b.scalar(), 1e-5);
  }
  move(plain, Device::cpu());
  EXPECT_TRUE(all_close(plain.inputLayer.weight, on_cpu.inputLayer.weight, 1e-4, 1e-6));
}

TEST(Seam, DefaultsRunARefusedPrimitiveThroughTheFallback) {
  ReferenceBackend& defaults = defaults_only_backend();
  struct Restore {
    ReferenceBackend& backend;
    ~Restore() { backend.refused.clear(); }
  } restore{defaults};
  defaults.refused = {Op::binary_multiply};
  reset_fallback_counts();
  auto y = to(Tensor<float>({1, 2}, {2}), defaults_only_device());
  auto x = to(Tensor<float>({3, 4}, {2}), defaults_only_device());
  update(y, 2.0f, x, 0.5f);  // the default: 2·y + 0.5·x, each product on the CPU
  EXPECT_EQ(y.device(), defaults_only_device());
  EXPECT_EQ(y.scalars(), (std::vector<float>{3.5f, 6.0f}));
  auto counts = fallback_counts();
  ASSERT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts[0], (std::pair<Op, std::int64_t>{Op::binary_multiply, 2}));
}

TEST(S4TFOps, MomentsCosineAndLossesMatchHandComputedValues) {
  Tensor<double> x({1, 2, 3, 4, 6, 8}, {2, 3});
  auto [m, v] = moments(x, {1});
  EXPECT_EQ(m.scalars(), (std::vector<double>{2, 6}));
  EXPECT_NEAR(v.scalars()[0], 2.0 / 3, 1e-15);
  EXPECT_NEAR(v.scalars()[1], 8.0 / 3, 1e-15);
  EXPECT_EQ(moments(x, {1}, true).first.shape(), (Shape{2, 1}));
  Tensor<double> a{1, 0, 0}, b{1, 1, 0};
  EXPECT_NEAR(cosine_similarity(a, b).scalar(), 1 / std::sqrt(2.0), 1e-15);
  EXPECT_NEAR(cosine_distance(a, a).scalar(), 0, 1e-15);
  expect_error<ShapeError>(
      [&] {
        (void)cosine_similarity(a, Tensor<double>{1, 2});
      },
      {"cosine_similarity", "[3]", "[2]"});
  Tensor<double> predicted{1, -1, 3}, expected{2, 0.5, 3};
  double msle = (std::pow(std::log(2.0) - std::log(3.0), 2) + std::pow(0 - std::log(1.5), 2)) / 3;
  EXPECT_NEAR(mean_squared_logarithmic_error(predicted, expected).scalar(), msle, 1e-15);
  EXPECT_NEAR(mean_absolute_percentage_error(predicted, expected).scalar(), 100 * (0.5 + 3 + 0) / 3,
              1e-12);
  // log1mexp stays finite, gradient included, on both sides of -log 2 and far out.
  Tensor<double> t{-1e-8, -0.6931, -0.6932, -40};
  auto [value, grad] =
      value_with_gradient(t, [](const Tensor<double>& u) { return sum(log1mexp(u)); });
  EXPECT_TRUE(std::isfinite(value.scalar()));
  for (double g : grad.scalars()) EXPECT_TRUE(std::isfinite(g));
  EXPECT_NEAR(log1mexp(t).scalars()[3], -std::exp(-40.0), 1e-30);
}
