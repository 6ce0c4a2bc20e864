#include "op_check.hpp"

using namespace ct;
using namespace ct::testing;

namespace {
Tensor<double> iota(const Shape& s) { return reshape(arange<double>(0, double(s.count())), s); }
}  // namespace

TEST(Shape, ViewsAndCopies) {
  auto x = iota({2, 3});
  EXPECT_EQ(reshape(x, {3, -1}).shape(), (Shape{3, 2}));
  EXPECT_EQ(flatten(iota({2, 3, 4})).shape(), (Shape{2, 12}));
  EXPECT_EQ(expand_dims(x, -1).shape(), (Shape{2, 3, 1}));
  EXPECT_EQ(squeeze(iota({1, 3, 1})).shape(), (Shape{3}));
  EXPECT_EQ(transpose(x).scalars(), (std::vector<double>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(permute(iota({2, 3, 4}), {2, 0, 1}).shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(reshape(transpose(x), {6}).scalars(), (std::vector<double>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(broadcast_to(Tensor<double>{1, 2}, {2, 2}).scalars(),
            (std::vector<double>{1, 2, 1, 2}));
  EXPECT_EQ(reversed(x, {1}).scalars(), (std::vector<double>{2, 1, 0, 5, 4, 3}));
  EXPECT_EQ(tiled(Tensor<double>{1, 2}, {3}).scalars(), (std::vector<double>{1, 2, 1, 2, 1, 2}));
}

TEST(Shape, Slicing) {
  auto x = iota({4, 5});
  EXPECT_EQ(slice(x, {{1, 3}, {std::nullopt, std::nullopt, 2}}).scalars(),
            (std::vector<double>{5, 7, 9, 10, 12, 14}));
  EXPECT_EQ(slice(x, {{-1}}).scalars(), (std::vector<double>{15, 16, 17, 18, 19}));
  EXPECT_EQ(slice(x, {{std::nullopt, std::nullopt, -2}, {-1, 2, -1}}).scalars(),
            (std::vector<double>{19, 18, 9, 8}));
  EXPECT_EQ(slice(x, {{7, 9}}).shape(), (Shape{0, 5}));
  EXPECT_EQ(x.at({2, -1}), 14);
}

TEST(Shape, JoinSplitGatherPad) {
  auto a = iota({2, 2});
  EXPECT_EQ(concatenate<double>({a, a * 10.0}, 1).scalars(),
            (std::vector<double>{0, 1, 0, 10, 2, 3, 20, 30}));
  EXPECT_EQ(stack<double>({a, a}, 0).shape(), (Shape{2, 2, 2}));
  auto parts = split(iota({5}), std::vector<std::int64_t>{2, 3});
  EXPECT_EQ(parts[1].scalars(), (std::vector<double>{2, 3, 4}));
  EXPECT_EQ(split(iota({6}), 3)[2].scalars(), (std::vector<double>{4, 5}));
  EXPECT_EQ(gather(iota({3, 2}), Tensor<std::int32_t>{2, 0, 2}).scalars(),
            (std::vector<double>{4, 5, 0, 1, 4, 5}));
  EXPECT_EQ(gather(iota({3, 2}), Tensor<std::int64_t>({1, 0}, {2, 1}), 1).shape(),
            (Shape{3, 2, 1}));
  Tensor<double> v{1, 2, 3};
  EXPECT_EQ(padded(v, {{2, 1}}).scalars(), (std::vector<double>{0, 0, 1, 2, 3, 0}));
  EXPECT_EQ(padded(v, {{2, 2}}, PadMode::reflect).scalars(),
            (std::vector<double>{3, 2, 1, 2, 3, 2, 1}));
  EXPECT_EQ(padded(v, {{2, 1}}, PadMode::edge).scalars(), (std::vector<double>{1, 1, 1, 2, 3, 3}));
  EXPECT_EQ(padded(v, {{1, 0}}, PadMode::constant, 9.0).scalars(),
            (std::vector<double>{9, 1, 2, 3}));
}

TEST(Shape, Gradients) {
  auto idx = Tensor<std::int64_t>{2, 0, 2, 1};
  std::vector<std::pair<std::string, std::function<Tensor<double>(const Tensor<double>&)>>> cases =
      {
          {"reshape",
           [](auto& x) {
             return reshape(x, {4, 3});
           }},
          {"transpose", [](auto& x) { return transpose(x) * transpose(x); }},
          {"expand_squeeze", [](auto& x) { return squeeze(expand_dims(x, 1)) * 2.0; }},
          {"broadcast_to",
           [](auto& x) {
             return broadcast_to(x, {2, 3, 4});
           }},
          {"reversed",
           [](auto& x) {
             return reversed(x, {0, 1}) * x;
           }},
          {"slice",
           [](auto& x) {
             return slice(x, {{1, 3}, {-1, 0, -2}});
           }},
          {"concatenate",
           [](auto& x) {
             return concatenate<double>({x, x * x}, 0);
           }},
          {"stack",
           [](auto& x) {
             return stack<double>({x, exp(x)}, 2);
           }},
          {"split",
           [](auto& x) {
             auto p = split(x, std::vector<std::int64_t>{1, 3}, 1);
             return p[0] * 2.0 + sum(p[1]);
           }},
          {"gather", [&](auto& x) { return gather(x, idx, 0); }},
          {"pad_constant",
           [](auto& x) {
             return padded(x, {{1, 2}, {0, 1}});
           }},
          {"pad_reflect",
           [](auto& x) {
             return padded(x, {{1, 2}, {2, 1}}, PadMode::reflect);
           }},
          {"pad_edge",
           [](auto& x) {
             return padded(x, {{2, 0}, {1, 3}}, PadMode::edge);
           }},
          {"tiled",
           [](auto& x) {
             return tiled(x, {2, 1});
           }},
      };
  for (auto& [name, f] : cases) {
    SCOPED_TRACE(name);
    auto x = sample({3, 4}, -1, 1);
    auto first = check_gradients(f, x);
    EXPECT_TRUE(first.ok) << first.message;
    auto second = check_second_order([&](const Tensor<double>& x) { return sum(f(x) * f(x)); }, x);
    EXPECT_TRUE(second.ok) << second.message;
  }
}

TEST(Shape, Errors) {
  auto x = iota({2, 3});
  expect_error<ShapeError>([&] { (void)reshape(x, {4, 2}); }, {"reshape", "[2, 3]", "[4, 2]"});
  expect_error<ShapeError>(
      [&] {
        (void)concatenate<double>({x, iota({3, 3})}, 1);
      },
      {"concatenate", "[2, 3]", "[3, 3]"});
  expect_error<IndexError>([&] { (void)gather(x, Tensor<std::int32_t>{2}); },
                           {"gather", "index 2", "[0, 2)"});
  expect_error<ShapeError>(
      [&] {
        (void)broadcast_to(x, {3, 3});
      },
      {"broadcast_to", "[2, 3]", "[3, 3]"});
  expect_error<ValueError>([&] { (void)slice(x, {{0, 1, 0}}); }, {"slice", "step"});
  expect_error<ShapeError>([&] { (void)padded(x, {{2, 0}}, PadMode::reflect); }, {"reflect"});
  expect_error<ShapeError>(
      [&] {
        (void)split(x, std::vector<std::int64_t>{1, 1}, 1);
      },
      {"split", "add up to 2"});
  expect_error<IndexError>([&] { (void)transpose(x, {0, 0}); }, {"transpose", "repeats"});
  expect_error<ValueError>([&] { (void)zeros<float>({1 << 30, 1 << 30, 1 << 30}); }, {"overflows"});
}

TEST(BatchGather, EachRowGathersWithItsOwnIndices) {
  // params[0] = [[0, 1], [2, 10], [11, 12]], params[1] = [[20, 21], [22, 30], [31, 32]].
  Tensor<double> params({0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32}, {2, 3, 2});
  Tensor<std::int64_t> indices({2, 0, 0, 0, 1, 2}, {2, 3});
  auto y = batch_gather(params, indices);
  EXPECT_EQ(y.shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(y.scalars(), (std::vector<double>{11, 12, 0, 1, 0, 1, 20, 21, 22, 30, 31, 32}));
  // Row 0's index 3 would be row 1's first entry after the offset: refused, not read.
  expect_error<IndexError>(
      [&] {
        batch_gather(params, Tensor<std::int64_t>({3, 0, 0, 0, 0, 0}, {2, 3}));
      },
      {"batch_gather", "index 3", "position [0, 0]", "[0, 3)"});
  expect_error<ShapeError>(
      [&] {
        batch_gather(params, Tensor<std::int32_t>({0, 1}, {2}));
      },
      {"[B, K]"});
  auto check = check_gradients(
      [&](const Tensor<double>& p) {
        return batch_gather(p, indices) * p[{0, 2}].sum();
      },
      sample({2, 3, 2}, -1, 1));
  EXPECT_TRUE(check.ok) << check.message;
}
