// The lazy device: the talk's models give eager's losses, a training loop compiles once, a
// new shape says why it recompiles, chains fuse, and the disk cache survives corruption,
// concurrent writers and a broken compiler.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include <cotangent/models/classifiers.hpp>

#include "op_check.hpp"

using namespace ct;
using namespace ct::testing;

namespace {

const Device kLazy = Device::default_lazy();

/// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

data::Dataset small_mnist(std::int64_t batch, std::int64_t images = 128) {
  data::DatasetOptions options;
  options.training_limit = images;
  options.test_limit = 64;
  options.download = false;
  return MNIST(batch, options);
}

/// `steps` SGD steps of `Model` on the lazy device and on the CPU from the same initial values;
/// expects the same loss at every step within `tolerance`.
template <class Model>
void expect_lazy_matches_eager(int steps, double tolerance) {
  auto dataset = small_mnist(32);
  auto epoch = dataset.training_epochs(1)[0];
  default_generator().reseed(7);
  Model eager;
  Model lazy = eager;
  move(lazy, kLazy);
  SGD eager_sgd(eager, {.learning_rate = 0.1, .momentum = 0.9});
  SGD lazy_sgd(lazy, {.learning_rate = 0.1, .momentum = 0.9});
  for (int i = 0; i < steps; ++i) {
    auto batch = epoch.batch(i % epoch.batch_count());
    auto step = [&](Model& model, SGD<Model>& sgd, Device device) {
      auto x = to(batch.data, device);
      auto y = to(batch.label, device);
      auto loss =
          minimize(sgd, model, [&](const Model& m) { return softmax_cross_entropy(m(x), y); });
      lazy_tensor_barrier(device);
      return loss;
    };
    float expected = step(eager, eager_sgd, Device::cpu()).scalar();
    float got = step(lazy, lazy_sgd, kLazy).scalar();
    EXPECT_NEAR(got, expected, tolerance * std::max(1.0f, std::abs(expected))) << "step " << i + 1;
  }
}

std::int64_t compiles() { return lazy::metrics().memory_cache_misses; }

}  // namespace

TEST(LazyDevice, TalkMlpGivesEagerLossesForThreeSteps) {
  expect_lazy_matches_eager<models::MLP>(3, 1e-5);
}

TEST(LazyDevice, TalkCnnGivesEagerLossesForThreeSteps) {
  expect_lazy_matches_eager<models::CNN>(3, 1e-5);
}

TEST(LazyDevice, WithoutCodegenEveryNodeRunsOnTheEagerKernels) {
  ScopedEnv off("CT_LAZY_CODEGEN", "0");
  lazy::clear_program_cache();
  expect_lazy_matches_eager<models::MLP>(2, 1e-5);
  lazy::clear_program_cache();
}

TEST(LazyDevice, TrainingCompilesOnceAndReadsNothingFromTheSecondStep) {
  auto dataset = small_mnist(32, 256);
  default_generator().reseed(3);
  models::MLP model;
  move(model, kLazy);
  Adam optimizer(model, {.learning_rate = 0.001});
  move(optimizer, kLazy);
  auto epoch = dataset.training_epochs(1)[0];
  auto step = [&](int i) {
    auto batch = epoch.batch(i);
    auto x = to(batch.data, kLazy);
    auto y = to(batch.label, kLazy);
    auto loss = minimize(optimizer, model,
                         [&](const models::MLP& m) { return softmax_cross_entropy(m(x), y); });
    lazy_tensor_barrier(kLazy);
    return loss;
  };
  step(0);
  step(1);  // Adam's step counter turns from a constant into a computed value once
  lazy::reset_metrics();
  {
    ScopedEnv strict("CT_ASSERT_NO_COMPILE", "1");
    for (int i = 2; i < epoch.batch_count(); ++i) step(i);
  }
  lazy::Metrics m = lazy::metrics();
  EXPECT_EQ(m.memory_cache_misses, 0);
  EXPECT_EQ(m.memory_cache_hits, epoch.batch_count() - 2);
  EXPECT_EQ(m.implicit_barriers, 0);
  EXPECT_EQ(m.explicit_barriers, epoch.batch_count() - 2);
  EXPECT_GT(m.traced_ops, 0);
  // The learning rate is a runtime value: changing it recompiles nothing.
  optimizer.options.learning_rate = 0.0005;
  {
    ScopedEnv strict("CT_ASSERT_NO_COMPILE", "1");
    step(2);
  }
  std::cout << lazy::metrics_report();
}

TEST(LazyDevice, ANewBatchSizeRecompilesAndSaysWhy) {
  default_generator().reseed(5);
  models::MLP model;
  move(model, kLazy);
  auto forward = [&](std::int64_t batch) {
    auto x = random_uniform<float>({batch, 28, 28, 1}, 0.0f, 1.0f, default_generator(), kLazy);
    auto y = model(x);
    lazy_tensor_barrier(kLazy);
    return y;
  };
  forward(24);
  forward(24);
  lazy::reset_metrics();
  {
    ScopedEnv strict("CT_ASSERT_NO_COMPILE", "1");
    expect_error<Error>([&] { forward(12); },
                        {"CT_ASSERT_NO_COMPILE", "lazy_test.cpp",
                         "parameter 0: float32 [24, 28, 28, 1] -> float32 [12, 28, 28, 1]"});
  }
  forward(12);  // the pending tensors of the refused barrier compute now
  lazy::Metrics m = lazy::metrics();
  ASSERT_EQ(m.compiles.size(), 1u);
  EXPECT_NE(m.compiles[0].reason.find("parameter"), std::string::npos) << m.compiles[0].reason;
  EXPECT_NE(m.compiles[0].site.find("lazy_test.cpp"), std::string::npos) << m.compiles[0].site;
}

TEST(LazyDevice, AHostReadIsAnImplicitBarrierCountedAtItsLine) {
  lazy::reset_metrics();
  auto x = Tensor<float>({1, 2, 3, 4}, {2, 2}, kLazy);
  auto y = exp(x) * 2.0f + 1.0f;
  EXPECT_EQ(lazy::metrics().implicit_barriers, 0);
  int line = __LINE__ + 1;
  auto values = y.scalars();
  EXPECT_NEAR(values[3], std::exp(4.0) * 2 + 1, 1e-4);
  lazy::Metrics m = lazy::metrics();
  EXPECT_EQ(m.implicit_barriers, 1);
  ASSERT_EQ(m.implicit_barrier_sites.size(), 1u);
  EXPECT_EQ(m.implicit_barrier_sites[0].first, "lazy_test.cpp:" + std::to_string(line));
  // Computed tensors read without another barrier; a print of a pending one is one.
  (void)y.scalars();
  EXPECT_EQ(lazy::metrics().implicit_barriers, 1);
  EXPECT_NE(to_string(y + 1.0f).find("111.1"), std::string::npos) << to_string(y + 1.0f);
  EXPECT_EQ(lazy::metrics().implicit_barriers, 2);
}

TEST(LazyDevice, AChainOfElementwiseOpsIsOneKernel) {
  lazy::reset_metrics();
  auto x = to(random_uniform<float>({1000}), kLazy);
  auto y = x;
  for (int i = 0; i < 10; ++i) y = i % 2 ? exp(y * 0.5f) : y - 0.25f;
  Tensor<float> expected = to(x, Device::cpu());
  for (int i = 0; i < 10; ++i) expected = i % 2 ? exp(expected * 0.5f) : expected - 0.25f;
  lazy_tensor_barrier(kLazy);
  EXPECT_TRUE(all_close(to(y, Device::cpu()), expected, 1e-6, 1e-6));
  lazy::Metrics m = lazy::metrics();
  ASSERT_EQ(m.compiles.size(), 1u);
  EXPECT_EQ(m.compiles[0].kernels, 1) << lazy::metrics_report();
  EXPECT_EQ(m.compiles[0].externs, 0);
}

TEST(LazyDevice, ReductionsFuseTheirInputAndMatchEager) {
  auto x = random_normal<float>({37, 53});
  auto lazy_x = to(x, kLazy);
  auto check = [](const Tensor<float>& got, const Tensor<float>& want) {
    EXPECT_TRUE(all_close(to(got, Device::cpu()), want, 1e-5, 1e-5)) << got << want;
  };
  check(sum(exp(lazy_x) * 2.0f, {0}), sum(exp(x) * 2.0f, {0}));
  check(max(lazy_x.transposed(), {1}), max(x.transposed(), {1}));
  check(mean(square(lazy_x - 1.0f)), mean(square(x - 1.0f)));
  EXPECT_EQ(to(argmax(lazy_x, 1), Device::cpu()).scalars(), argmax(x, 1).scalars());
}

TEST(LazyDevice, ADeepRecordedLoopStillCompiles) {
  auto x = Tensor<double>(1.0, kLazy);
  for (int i = 0; i < 500; ++i) x = x + 1.0;
  EXPECT_EQ(x.scalar(), 501.0);
}

TEST(LazyDevice, ACorruptDiskCacheEntryIsRebuiltNeverLoaded) {
  auto dir = scratch_directory("lazy-corrupt");
  ScopedEnv cache("CT_CACHE_DIR", dir.string());
  auto compute = [] {
    auto x = Tensor<float>({1, 2, 3}, {3}, kLazy);
    return (tanh(x) * 3.0f + 0.5f).scalars();
  };
  lazy::clear_program_cache();
  lazy::reset_metrics();
  auto expected = compute();
  EXPECT_EQ(lazy::metrics().disk_cache_misses, 1);
  std::filesystem::path so;
  for (auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.path().extension() == ".so") so = entry.path();
  ASSERT_FALSE(so.empty());
  // A new process (a cleared memory cache) loads it from disk.
  lazy::clear_program_cache();
  EXPECT_EQ(compute(), expected);
  EXPECT_EQ(lazy::metrics().disk_cache_hits, 1);
  // Truncated, then overwritten with garbage: each is detected, recompiled and replaced.
  for (std::string bad : {std::string("\x7f"
                                      "ELF"),
                          std::string(4096, 'x')}) {
    // A new file in its place: the old one may still be mapped by this process.
    std::filesystem::remove(so);
    std::ofstream(so, std::ios::binary) << bad;
    lazy::clear_program_cache();
    lazy::reset_metrics();
    EXPECT_EQ(compute(), expected);
    EXPECT_EQ(lazy::metrics().disk_cache_misses, 1) << "a corrupt entry was loaded";
    EXPECT_GT(std::filesystem::file_size(so), 4096u);
  }
  lazy::clear_program_cache();
  std::filesystem::remove_all(dir);
}

TEST(LazyDevice, TwoProcessesCompilingOneProgramAtOnceBothSucceed) {
  auto dir = scratch_directory("lazy-race");
  ScopedEnv cache("CT_CACHE_DIR", dir.string());
  lazy::clear_program_cache();
  auto body = [] {
    auto x = Tensor<float>({0.5f, 1.5f}, {2}, kLazy);
    auto v = (sin(x) * cos(x) + 0.125f).scalars();
    if (std::abs(v[0] - (std::sin(0.5f) * std::cos(0.5f) + 0.125f)) > 1e-6) throw Error("wrong");
  };
  std::vector<pid_t> children;
  for (int i = 0; i < 2; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      try {
        body();
      } catch (...) {
        _exit(1);
      }
      _exit(0);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  // One entry, valid: this process loads it without compiling.
  lazy::reset_metrics();
  body();
  EXPECT_EQ(lazy::metrics().disk_cache_misses, 0);
  EXPECT_EQ(lazy::metrics().disk_cache_hits, 1);
  lazy::clear_program_cache();
  std::filesystem::remove_all(dir);
}

TEST(LazyDevice, ACompilerErrorNamesTheSavedSourceAndTheTensorsStayPending) {
  auto dir = scratch_directory("lazy-broken-compiler");
  ScopedEnv cache("CT_CACHE_DIR", dir.string());
  lazy::clear_program_cache();
  auto x = Tensor<float>({1, 2}, {2}, kLazy);
  auto y = log1p(x) * 4.0f;
  // A compiler that answers --version, then fails on every program.
  auto broken = dir / "broken-cxx";
  std::ofstream(broken) << "#!/bin/sh\n[ \"$1\" = --version ] && { echo broken 1.0; exit 0; }\n"
                           "echo 'error: out of cheese' >&2; exit 1\n";
  std::filesystem::permissions(broken, std::filesystem::perms::owner_all);
  {
    ScopedEnv cxx("CT_LAZY_CXX", broken.string());
    expect_error<Error>([&] { (void)y.scalars(); },
                        {"failed (exit 1)", "generated program saved at " + dir.string(), ".cpp",
                         "error: out of cheese"});
  }
  EXPECT_NEAR(y.scalars()[1], std::log1p(2.0f) * 4, 1e-5);  // with the real compiler
  lazy::clear_program_cache();
  std::filesystem::remove_all(dir);
}

TEST(LazyDevice, WithoutACompilerGraphsRunNodeByNode) {
  lazy::clear_program_cache();
  ScopedEnv missing("CT_LAZY_CXX", "cotangent-no-such-compiler");
  auto x = Tensor<float>({1, 2}, {2}, kLazy);
  EXPECT_NEAR((sqrt(x) + 3.0f).scalars()[1], std::sqrt(2.0f) + 3, 1e-6);
  lazy::clear_program_cache();
}

TEST(LazyDevice, FitAndCheckpointsWorkOnTheLazyDevice) {
  auto dataset = small_mnist(32, 256);
  default_generator().reseed(9);
  models::MLP model;
  move(model, kLazy);
  SGD optimizer(model, {.learning_rate = 0.1});
  lazy::reset_metrics();
  auto history = train::fit(model, optimizer, dataset, {.epochs = 2, .progress = false});
  ASSERT_EQ(history.size(), 2u);
  EXPECT_GT(history[1].test_accuracy, 0.3);
  lazy::Metrics m = lazy::metrics();
  // The first step (the optimizer's state still a constant), every later step, and the
  // evaluation: three graphs; epoch 2 compiles nothing.
  EXPECT_LE(m.memory_cache_misses, 3) << lazy::metrics_report();
  auto dir = scratch_directory("lazy-checkpoint");
  io::save_checkpoint(dir / "model.safetensors", model, &optimizer, {"mlp"});
  models::MLP loaded;
  io::load_checkpoint(io::load_safetensors(dir / "model.safetensors"), dir / "model.safetensors",
                      loaded);
  EXPECT_TRUE(
      all_close(loaded.outputLayer.weight, to(model.outputLayer.weight, Device::cpu()), 0, 0));
  std::filesystem::remove_all(dir);
}

TEST(LazyDevice, UpdatesWriteInPlaceOnlyWhenNothingElseHoldsTheOldValue) {
  auto dataset = small_mnist(32);
  auto batch = dataset.training_epochs(1)[0].batch(0);
  default_generator().reseed(11);
  models::MLP model;
  move(model, kLazy);
  SGD optimizer(model, {.learning_rate = 0.1, .momentum = 0.9});
  move(optimizer, kLazy);
  auto x = to(batch.data, kLazy);
  auto y = to(batch.label, kLazy);
  auto step = [&] {
    minimize(optimizer, model,
             [&](const models::MLP& m) { return softmax_cross_entropy(m(x), y); });
    lazy_tensor_barrier(kLazy);
  };
  step();
  step();
  // A copy of the old weights must keep its values: that buffer is not the step's to take.
  Tensor<float> kept = model.outputLayer.weight;
  std::vector<float> before = kept.scalars();
  lazy::reset_metrics();
  step();
  EXPECT_EQ(kept.scalars(), before);
  EXPECT_NE(model.outputLayer.weight.scalars(), before);
  // The other parameters and the velocities were nobody else's: written in place.
  EXPECT_GE(lazy::metrics().in_place_results, 8) << lazy::metrics_report();
}

TEST(LazyDevice, AProgramThatFailsRaisesAtTheReadEveryTime) {
  auto table = Tensor<float>({1, 2, 3}, {3}, kLazy);
  auto rows = gather(table * 2.0f, Tensor<std::int32_t>({0, 7}, {2}, kLazy));
  expect_error<Error>([&] { (void)rows.scalars(); }, {"7"});
  expect_error<Error>([&] { (void)rows.scalars(); }, {"7"});
  // The device goes on working for everything else.
  EXPECT_EQ((table + 1.0f).scalars(), (std::vector<float>{2, 3, 4}));
}

TEST(LazyDevice, ALoopWithoutBarriersIsCutByTheGraphSizeGuard) {
  lazy::set_max_pending_nodes(300);
  lazy::reset_metrics();
  auto x = Tensor<double>(0.0, kLazy);
  for (int i = 0; i < 1000; ++i) x = x + 1.0;
  lazy::Metrics m = lazy::metrics();
  lazy::set_max_pending_nodes(100'000);
  ASSERT_EQ(m.implicit_barrier_sites.size(), 1u);
  EXPECT_EQ(m.implicit_barrier_sites[0].first, "graph size guard");
  EXPECT_GE(m.implicit_barriers, 3);
  EXPECT_EQ(x.scalar(), 1000.0);
  expect_error<ValueError>([] { lazy::set_max_pending_nodes(0); }, {"at least 1"});
}
