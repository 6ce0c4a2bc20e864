#pragma once
// The shared harness of the op tests: values against a float64 reference on several shapes
// (0-d, empty, broadcast, non-contiguous), then first- and second-order gradient checks.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cotangent/cotangent.hpp>
#include <filesystem>
#include <functional>

#include "devices.hpp"

namespace ct::testing {

inline Tensor<double> sample(const Shape& shape, double low, double high, std::uint64_t seed = 1) {
  Generator gen(seed);
  return random_uniform<double>(shape, low, high, gen);
}

/// A non-contiguous tensor with the given values: the transpose of a dense transpose.
inline Tensor<double> strided(const Tensor<double>& x) {
  if (x.rank() < 2) return x;
  return transpose(contiguous(transpose(x)));
}

struct UnaryCase {
  std::string name;
  std::function<Tensor<double>(const Tensor<double>&)> op;
  std::function<double(double)> reference;
  double low = -3, high = 3;
  bool differentiable = true;
  bool second_order = true;
};

/// Checks a row on `device`: float64 inputs made on the host and moved there, values against
/// the float64 host reference, gradients checked on the device.
inline void check_unary(const UnaryCase& c, Device device = Device::cpu()) {
  SCOPED_TRACE(c.name);
  for (Shape shape : {Shape{}, Shape{7}, Shape{3, 4}, Shape{0, 3}, Shape{2, 3, 4}}) {
    for (bool transposed : {false, true}) {
      Tensor<double> x = to(sample(shape, c.low, c.high), device);
      if (transposed) x = strided(x);
      auto got = c.op(x).scalars();
      auto in = x.scalars();
      ASSERT_EQ(got.size(), in.size());
      for (std::size_t i = 0; i < in.size(); ++i)
        EXPECT_NEAR(got[i], c.reference(in[i]), 1e-9 * (1 + std::abs(c.reference(in[i]))))
            << "at " << in[i];
    }
  }
  if (!c.differentiable) return;
  for (Shape shape : {Shape{}, Shape{5}, Shape{2, 3}}) {
    auto check = check_gradients(c.op, to(sample(shape, c.low, c.high, 3), device));
    EXPECT_TRUE(check.ok) << check.message;
  }
  if (c.second_order) {
    auto check = check_second_order([&](const Tensor<double>& x) { return sum(c.op(x)); },
                                    to(sample({4}, c.low, c.high, 5), device));
    EXPECT_TRUE(check.ok) << "second order: " << check.message;
  }
}

struct BinaryCase {
  std::string name;
  std::function<Tensor<double>(const Tensor<double>&, const Tensor<double>&)> op;
  std::function<double(double, double)> reference;
  double low = -3, high = 3;
  double low_b = -3, high_b = 3;
};

inline void check_binary(const BinaryCase& c, Device device = Device::cpu()) {
  SCOPED_TRACE(c.name);
  std::vector<std::pair<Shape, Shape>> shapes{{{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{3, 1}, {1, 4}},
                                              {{}, {2, 2}},     {{2, 2}, {}},  {{0, 4}, {4}}};
  for (auto& [sa, sb] : shapes) {
    Tensor<double> a = to(sample(sa, c.low, c.high, 1), device),
                   b = to(sample(sb, c.low_b, c.high_b, 2), device);
    Tensor<double> y = c.op(a, b);
    Shape out = broadcast_shapes(sa, sb, "test");
    ASSERT_EQ(y.shape(), out);
    auto ab = broadcast_to(a, out).scalars(), bb = broadcast_to(b, out).scalars(),
         got = y.scalars();
    for (std::size_t i = 0; i < got.size(); ++i)
      EXPECT_NEAR(got[i], c.reference(ab[i], bb[i]), 1e-9);
    if (out.count() == 0) continue;
    auto check = check_gradients(c.op, a, b);
    EXPECT_TRUE(check.ok) << sa << " and " << sb << ": " << check.message;
  }
  auto second =
      check_second_order([&](const Tensor<double>& x) { return sum(c.op(x, x * 0.5 + 1.0)); },
                         to(sample({3}, c.low, c.high, 9), device));
  EXPECT_TRUE(second.ok) << "second order: " << second.message;
}

// The elementwise tables (elementwise_test.cpp), walked by the op-coverage test too.
extern const std::vector<UnaryCase> kUnary;
extern const std::vector<BinaryCase> kBinary;

/// Runs `body` in a forked child after `prepare` (which returns false when the child cannot be
/// set up); true when body returned normally. What body does to the process stays in the child.
inline bool succeeds_in_child(const std::function<bool()>& prepare,
                              const std::function<void()>& body) {
  pid_t child = fork();
  if (child == 0) {
    if (!prepare()) _exit(2);
    try {
      body();
    } catch (...) {
      _exit(1);
    }
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/// An empty folder of its own for one test: TMPDIR/cotangent-NAME-PID.
inline std::filesystem::path scratch_directory(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() /
           ("cotangent-" + name + "-" + std::to_string(getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

/// Expects `body` to throw E with a message containing every one of `fragments`.
template <class E, class Body>
void expect_error(Body&& body, std::initializer_list<std::string> fragments) {
  try {
    body();
    ADD_FAILURE() << "no exception";
  } catch (const E& e) {
    for (auto& f : fragments)
      EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what() << " lacks " << f;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
}

/// The first `images` MNIST training images from the cache (the README's setup fills it), in
/// batches of `batch`, shuffled with seed 1; the whole test set.
inline data::Dataset cached_mnist(std::int64_t images, std::int64_t batch = 64) {
  data::DatasetOptions options;
  options.seed = 1;
  options.training_limit = images;
  options.download = false;
  return MNIST(batch, options);
}

}  // namespace ct::testing
