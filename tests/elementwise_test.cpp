#include <cmath>
#include <numeric>

#include "op_check.hpp"

using namespace ct;
using namespace ct::testing;

namespace {
double sig(double x) { return 1 / (1 + std::exp(-x)); }
double softplus_ref(double x) { return std::log1p(std::exp(x)); }
}  // namespace

// One row per op: the op, its float64 reference, the input range where it is smooth.
namespace ct::testing {
const std::vector<UnaryCase> kUnary = {
    {"negate", [](auto& x) { return -x; }, [](double x) { return -x; }},
    {"abs", [](auto& x) { return abs(x); }, [](double x) { return std::abs(x); }, 0.2, 3},
    {"sign", [](auto& x) { return sign(x); }, [](double x) { return double((x > 0) - (x < 0)); },
     -3, 3, false},
    {"square", [](auto& x) { return square(x); }, [](double x) { return x * x; }},
    {"exp", [](auto& x) { return exp(x); }, [](double x) { return std::exp(x); }},
    {"exp2", [](auto& x) { return exp2(x); }, [](double x) { return std::exp2(x); }},
    {"log", [](auto& x) { return log(x); }, [](double x) { return std::log(x); }, 0.2, 3},
    {"log1p", [](auto& x) { return log1p(x); }, [](double x) { return std::log1p(x); }, -0.5, 3},
    {"expm1", [](auto& x) { return expm1(x); }, [](double x) { return std::expm1(x); }},
    {"sqrt", [](auto& x) { return sqrt(x); }, [](double x) { return std::sqrt(x); }, 0.2, 3},
    {"rsqrt", [](auto& x) { return rsqrt(x); }, [](double x) { return 1 / std::sqrt(x); }, 0.2, 3},
    {"sin", [](auto& x) { return sin(x); }, [](double x) { return std::sin(x); }},
    {"cos", [](auto& x) { return cos(x); }, [](double x) { return std::cos(x); }},
    {"tan", [](auto& x) { return tan(x); }, [](double x) { return std::tan(x); }, -1.2, 1.2},
    {"tanh", [](auto& x) { return tanh(x); }, [](double x) { return std::tanh(x); }},
    {"sigmoid", [](auto& x) { return sigmoid(x); }, sig},
    {"log_sigmoid", [](auto& x) { return log_sigmoid(x); },
     [](double x) { return std::log(sig(x)); }},
    {"softplus", [](auto& x) { return softplus(x); }, softplus_ref},
    {"softsign", [](auto& x) { return softsign(x); },
     [](double x) { return x / (1 + std::abs(x)); }, 0.1, 3},
    {"relu", [](auto& x) { return relu(x); }, [](double x) { return x > 0 ? x : 0; }, 0.1, 3},
    {"relu6", [](auto& x) { return relu6(x); }, [](double x) { return std::clamp(x, 0.0, 6.0); },
     0.1, 5.5},
    {"leaky_relu", [](auto& x) { return leaky_relu(x); },
     [](double x) { return x > 0 ? x : 0.2 * x; }, -3, -0.1},
    {"elu", [](auto& x) { return elu(x); }, [](double x) { return x > 0 ? x : std::expm1(x); }, -3,
     -0.1},
    {"selu", [](auto& x) { return selu(x); },
     [](double x) { return 1.0507009873554805 * (x > 0 ? x : 1.6732632423543772 * std::expm1(x)); },
     0.1, 3},
    {"gelu", [](auto& x) { return gelu(x); },
     [](double x) {
       return 0.5 * x * (1 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
     }},
    {"swish", [](auto& x) { return swish(x); }, [](double x) { return x * sig(x); }},
    {"hard_sigmoid", [](auto& x) { return hard_sigmoid(x); },
     [](double x) { return std::clamp(x + 3, 0.0, 6.0) / 6; }, -2.5, 2.5},
    {"hard_swish", [](auto& x) { return hard_swish(x); },
     [](double x) { return x * std::clamp(x + 3, 0.0, 6.0) / 6; }, -2.5, 2.5},
    {"mish", [](auto& x) { return mish(x); },
     [](double x) { return x * std::tanh(softplus_ref(x)); }},
    {"floor", [](auto& x) { return floor(x); }, [](double x) { return std::floor(x); }, -3, 3,
     false},
    {"ceil", [](auto& x) { return ceil(x); }, [](double x) { return std::ceil(x); }, -3, 3, false},
    {"round", [](auto& x) { return round(x); }, [](double x) { return std::nearbyint(x); }, -3, 3,
     false},
    {"clipped", [](auto& x) { return clipped(x, -1.0, 1.0); },
     [](double x) { return std::clamp(x, -1.0, 1.0); }, -0.9, 0.9},
    {"pow_scalar", [](auto& x) { return pow(x, 2.5); }, [](double x) { return std::pow(x, 2.5); },
     0.2, 3},
    {"step", [](auto& x) { return step(x); }, [](double x) { return double(x > 0); }, -3, 3, false},
    {"truncate", [](auto& x) { return truncate(x); }, [](double x) { return std::trunc(x); }, -3, 3,
     false},
    {"erf", [](auto& x) { return erf(x); }, [](double x) { return std::erf(x); }},
    {"gelu_exact", [](auto& x) { return gelu_exact(x); },
     [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }},
    {"log1mexp", [](auto& x) { return log1mexp(x); },
     [](double x) { return std::log(-std::expm1(x)); }, -3, -0.05},
};

const std::vector<BinaryCase> kBinary = {
    {"add", [](auto& a, auto& b) { return a + b; }, [](double a, double b) { return a + b; }},
    {"subtract", [](auto& a, auto& b) { return a - b; }, [](double a, double b) { return a - b; }},
    {"multiply", [](auto& a, auto& b) { return a * b; }, [](double a, double b) { return a * b; }},
    {"divide", [](auto& a, auto& b) { return a / b; }, [](double a, double b) { return a / b; }, -3,
     3, 0.5, 3},
    {"pow", [](auto& a, auto& b) { return pow(a, b); },
     [](double a, double b) { return std::pow(a, b); }, 0.5, 3, -2, 2},
    {"mod", [](auto& a, auto& b) { return a % b; },
     [](double a, double b) { return std::fmod(a, b); }, 0.1, 0.9, 1.1, 2},
    {"minimum", [](auto& a, auto& b) { return minimum(a, b); },
     [](double a, double b) { return std::min(a, b); }},
    {"squared_difference", [](auto& a, auto& b) { return squared_difference(a, b); },
     [](double a, double b) { return (a - b) * (a - b); }},
    {"maximum", [](auto& a, auto& b) { return maximum(a, b); },
     [](double a, double b) { return std::max(a, b); }},
};
}  // namespace ct::testing

// Every row on every device: the CPU, the reference device and DefaultsOnly.
class ElementwiseTable : public ::testing::TestWithParam<Device> {};
TEST_P(ElementwiseTable, Unary) {
  for (auto& c : kUnary) check_unary(c, GetParam());
}
TEST_P(ElementwiseTable, Binary) {
  for (auto& c : kBinary) check_binary(c, GetParam());
}
INSTANTIATE_TEST_SUITE_P(Devices, ElementwiseTable, ::testing::ValuesIn(devices()), device_name);

TEST(Elementwise, FloatMatchesDouble) {
  auto xd = sample({100}, -3, 3);
  auto xf = Tensor<float>(xd);
  auto a = Tensor<double>(exp(xf) * sigmoid(xf) + tanh(xf)).scalars();
  auto b = (exp(xd) * sigmoid(xd) + tanh(xd)).scalars();
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5 * (1 + std::abs(b[i])));
}

TEST(Elementwise, IntegerArithmetic) {
  Tensor<std::int32_t> a{7, -7, 9}, b{2, 2, -4};
  EXPECT_EQ((a + b).scalars(), (std::vector<std::int32_t>{9, -5, 5}));
  EXPECT_EQ((a * b).scalars(), (std::vector<std::int32_t>{14, -14, -36}));
  EXPECT_EQ((a / b).scalars(), (std::vector<std::int32_t>{3, -3, -2}));
  EXPECT_EQ((a % b).scalars(), (std::vector<std::int32_t>{1, -1, 1}));
  EXPECT_EQ(abs(a).scalars(), (std::vector<std::int32_t>{7, 7, 9}));
  EXPECT_EQ((-a).scalars(), (std::vector<std::int32_t>{-7, 7, -9}));
  Tensor<std::int64_t> big{std::numeric_limits<std::int64_t>::min()};
  EXPECT_EQ((big / std::int64_t(-1)).scalar(),
            std::numeric_limits<std::int64_t>::min());  // wraps, never traps
  expect_error<ValueError>(
      [&] {
        (void)(a / Tensor<std::int32_t>{1, 0, 1});
      },
      {"divide", "division by zero"});
  expect_error<ValueError>([&] { (void)(a % std::int32_t(0)); }, {"mod", "division by zero"});
}

TEST(Elementwise, ComparisonsAndLogic) {
  Tensor<float> a{1, 2, 3}, b{3, 2, 1};
  EXPECT_EQ((a < b).scalars(), (std::vector<bool>{true, false, false}));
  EXPECT_EQ(equal(a, b).scalars(), (std::vector<bool>{false, true, false}));
  EXPECT_EQ(not_equal(a, 2.0f).scalars(), (std::vector<bool>{true, false, true}));
  EXPECT_EQ((a >= 2.0f).scalars(), (std::vector<bool>{false, true, true}));
  Tensor<bool> p{true, true, false}, q{true, false, false};
  EXPECT_EQ((p && q).scalars(), (std::vector<bool>{true, false, false}));
  EXPECT_EQ((p || q).scalars(), (std::vector<bool>{true, true, false}));
  EXPECT_EQ((!p).scalars(), (std::vector<bool>{false, false, true}));
  EXPECT_EQ(where(p, a, b).scalars(), (std::vector<float>{1, 2, 1}));
  Tensor<std::int64_t> i{1, 5};
  EXPECT_EQ((i > std::int64_t(2)).scalars(), (std::vector<bool>{false, true}));
}

TEST(Elementwise, WhereGradient) {
  auto c = sample({3, 4}, -1, 1) > 0.0;
  auto check = check_gradients(
      [&](const Tensor<double>& a, const Tensor<double>& b) { return where(c, a * a, b); },
      sample({3, 4}, -2, 2), sample({4}, -2, 2));
  EXPECT_TRUE(check.ok) << check.message;
}

TEST(Elementwise, Casts) {
  Tensor<float> x{1.7f, -2.2f, 0.0f};
  EXPECT_EQ(cast<std::int32_t>(x).scalars(), (std::vector<std::int32_t>{1, -2, 0}));
  EXPECT_EQ(cast<bool>(x).scalars(), (std::vector<bool>{true, true, false}));
  EXPECT_EQ(Tensor<double>(Tensor<std::int64_t>{3, 4}).scalars(), (std::vector<double>{3, 4}));
  auto g = gradient(Tensor<double>{1, 2}, [](const Tensor<double>& x) {
    return sum(Tensor<double>(Tensor<float>(x) * 2.0f));
  });
  EXPECT_EQ(g.scalars(), (std::vector<double>{2, 2}));
  auto none = gradient(Tensor<double>{1.5}, [](const Tensor<double>& x) {
    return sum(Tensor<double>(cast<std::int32_t>(x)));
  });
  EXPECT_EQ(none.scalars(), (std::vector<double>{0}));  // integers carry no gradient
}

TEST(Elementwise, Errors) {
  Tensor<float> a = zeros<float>({2, 3}), b = zeros<float>({4});
  expect_error<ShapeError>([&] { (void)(a + b); }, {"add", "[2, 3]", "[4]", "broadcast"});
  expect_error<ValueError>([&] { (void)(Tensor<float>() + a); }, {"add", "undefined"});
  expect_error<DTypeError>([&] { (void)Tensor<std::int32_t>(AnyTensor(a)); }, {"int32", "float32"});
  expect_error<ShapeError>([&] { (void)Tensor<float>({1, 2, 3}, {2, 2}); }, {"3 values", "[2, 2]"});
}

TEST(Elementwise, LargeTensorsUseBothPaths) {
  // Above the parallel grain, strided and broadcast paths must agree with the dense path.
  auto x = sample({300, 500}, -1, 1);
  auto row = sample({500}, -1, 1);
  auto dense = (x + row).scalars();
  auto via_transpose = transpose(transpose(x) + expand_dims(row, 1)).scalars();
  ASSERT_EQ(dense.size(), via_transpose.size());
  for (std::size_t i = 0; i < dense.size(); i += 997) EXPECT_DOUBLE_EQ(dense[i], via_transpose[i]);
  auto values = x.scalars();
  EXPECT_NEAR(sum(x).scalar(), std::accumulate(values.begin(), values.end(), 0.0), 1e-8);
}
