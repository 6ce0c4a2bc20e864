#include <thread>

#include "op_check.hpp"

using namespace ct;
using namespace ct::testing;

TEST(Core, ValueSemantics) {
  Tensor<float> x{1, 2, 3};
  auto y = x;
  y += 1.0f;
  EXPECT_EQ(x.scalars(), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(y.scalars(), (std::vector<float>{2, 3, 4}));
  auto view = transpose(reshape(x, {3, 1}));
  x *= 10.0f;
  EXPECT_EQ(view.scalars(), (std::vector<float>{1, 2, 3}));
}

TEST(Core, ShapeAndScalars) {
  Tensor<double> x({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(x.rank(), 2);
  EXPECT_EQ(x.shape(-1), 3);
  EXPECT_EQ(x.scalar_count(), 6);
  EXPECT_EQ(Tensor<float>(2.5f).scalar(), 2.5f);
  EXPECT_EQ(Tensor<float>(2.5f).rank(), 0);
  expect_error<ShapeError>([&] { (void)x.scalar(); }, {"scalar", "[2, 3]"});
  expect_error<IndexError>([&] { (void)x.shape(2); }, {"axis 2", "rank 2"});
}

TEST(Core, Creation) {
  EXPECT_EQ(zeros<std::int32_t>({2}).scalars(), (std::vector<std::int32_t>{0, 0}));
  EXPECT_EQ(ones<bool>({2}).scalars(), (std::vector<bool>{true, true}));
  EXPECT_EQ(filled<std::int64_t>({3}, 7).scalars(), (std::vector<std::int64_t>{7, 7, 7}));
  EXPECT_EQ(arange<float>(0, 1, 0.25f).scalars(), (std::vector<float>{0, 0.25f, 0.5f, 0.75f}));
  EXPECT_EQ(arange<std::int32_t>(5, 0, -2).scalars(), (std::vector<std::int32_t>{5, 3, 1}));
  EXPECT_EQ(linspace<double>(0, 1, 5).scalars(), (std::vector<double>{0, 0.25, 0.5, 0.75, 1}));
  EXPECT_EQ(eye<float>(2, 3).scalars(), (std::vector<float>{1, 0, 0, 0, 1, 0}));
  expect_error<ValueError>([] { (void)arange<float>(0, 1, 0); }, {"arange", "step"});
}

TEST(Core, SeededRandomAndInitializers) {
  Generator a(42), b(42);
  auto x = random_normal<float>({1000}, 0, 1, a), y = random_normal<float>({1000}, 0, 1, b);
  EXPECT_EQ(x.scalars(), y.scalars());
  EXPECT_NEAR(mean(x).scalar(), 0, 0.1);
  EXPECT_NEAR(standard_deviation(x).scalar(), 1, 0.1);
  auto u = random_uniform<double>({1000}, 2, 3, a);
  EXPECT_GE(min(u).scalar(), 2);
  EXPECT_LT(max(u).scalar(), 3);
  auto t = truncated_normal<double>({1000}, 0, 1, a);
  EXPECT_LE(max(abs(t)).scalar(), 2);
  auto g = glorot_uniform<float>({784, 512}, a);
  float limit = std::sqrt(6.0f / (784 + 512));
  EXPECT_LE(max(abs(g)).scalar(), limit);
  EXPECT_GT(max(abs(g)).scalar(), 0.95f * limit);
  auto h = he_normal<double>({3, 3, 32, 64}, a);
  EXPECT_NEAR(standard_deviation(h).scalar(), std::sqrt(2.0 / (9 * 32)) * 0.88,
              0.01);  // truncation narrows it
}

TEST(Core, Printing) {
  EXPECT_EQ(to_string(Tensor<float>({1, 2, 3, 4}, {2, 2})), "[[1.0, 2.0],\n [3.0, 4.0]]");
  EXPECT_EQ(to_string(Tensor<std::int32_t>{1, -2}), "[1, -2]");
  EXPECT_EQ(to_string(Tensor<bool>{true, false}), "[true, false]");
  EXPECT_EQ(to_string(Tensor<double>(0.5)), "0.5");
  EXPECT_EQ(to_string(arange<std::int32_t>(0, 2000)), "[0, 1, 2, ..., 1997, 1998, 1999]");
  EXPECT_EQ(to_string(Tensor<float>()), "Tensor(undefined)");
}

TEST(Core, DevicesMustMatch) {
  expect_error<DeviceError>([] { (void)zeros<float>({2}, Device::cuda()); }, {"cuda:0"});
  // A tensor that claims another device is refused before any kernel runs.
  RawTensor raw = zeros<float>({2}).raw();
  raw.device = Device::default_lazy();
  Tensor<float> lazy{AnyTensor(raw)};
  expect_error<DeviceError>([&] { (void)(lazy + zeros<float>({2})); },
                            {"add", "different devices", "cpu:0:lazy"});
}

TEST(Core, MemoryStatsCountStorage) {
  auto before = memory_stats().live_bytes;
  {
    auto x = zeros<float>({1024});
    EXPECT_EQ(memory_stats().live_bytes - before, 4096);
  }
  EXPECT_EQ(memory_stats().live_bytes, before);
}
