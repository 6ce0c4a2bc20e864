// The CUDA device. On every machine of a CUDA build: NVRTC compiles every kernel the backend can
// emit, and without a GPU Device::cuda() is a DeviceError that says why. With a GPU: the talk's
// models give the CPU's losses, a training step runs nothing on the CPU, and memory is counted.
#include <cotangent/backend/cuda.hpp>
#include <cotangent/models/classifiers.hpp>

#include "op_check.hpp"

using namespace ct;
using namespace ct::testing;

namespace {

#define SKIP_WITHOUT_GPU() \
  if (cuda::device_count() == 0) GTEST_SKIP() << "no GPU: " << cuda::unavailable_reason()

/// `steps` SGD steps of `Model` on cuda:0 and on the CPU from the same initial values and
/// batches (synthetic, so the check needs no dataset); expects the same loss at every step.
template <class Model>
void expect_gpu_matches_cpu(int steps, double tolerance) {
  default_generator().reseed(11);
  Model cpu_model;
  Model gpu_model = cpu_model;
  move(gpu_model, Device::cuda());
  SGD cpu_sgd(cpu_model, {.learning_rate = 0.1, .momentum = 0.9});
  SGD gpu_sgd(gpu_model, {.learning_rate = 0.1, .momentum = 0.9});
  move(gpu_sgd, Device::cuda());
  for (int i = 0; i < steps; ++i) {
    auto images = random_uniform<float>({32, 28, 28, 1});
    auto labels = Tensor<std::int32_t>(floor(random_uniform<float>({32}) * 10.0f));
    auto step = [&](Model& model, SGD<Model>& sgd, Device device) {
      auto x = to(images, device);
      auto y = to(labels, device);
      return minimize(sgd, model, [&](const Model& m) { return softmax_cross_entropy(m(x), y); });
    };
    float expected = step(cpu_model, cpu_sgd, Device::cpu()).scalar();
    float got = step(gpu_model, gpu_sgd, Device::cuda()).scalar();
    EXPECT_NEAR(got, expected, tolerance * std::max(1.0f, std::abs(expected))) << "step " << i + 1;
  }
}

}  // namespace

TEST(CudaKernels, NvrtcCompilesEveryKernelTheBackendCanEmit) {
  if (!cuda::built()) GTEST_SKIP() << cuda::unavailable_reason();
  // Every .def row × dtype, casts, reductions, pooling, padding, Philox: one unit for Hopper.
  std::size_t cubin = cuda::compile_kernels("sm_90");
  EXPECT_GT(cubin, 100'000u);
  EXPECT_GT(cuda::kernel_count(), 200u);
}

TEST(CudaKernels, EveryKernelTheBackendLaunchesIsInTheGeneratedSource) {
  if (!cuda::built()) GTEST_SKIP() << cuda::unavailable_reason();
  EXPECT_EQ(cuda::missing_kernels(), std::vector<std::string>{});
}

TEST(CudaDevice, WithoutAGpuDeviceCudaIsADeviceErrorThatSaysWhy) {
  if (cuda::device_count() > 0) GTEST_SKIP() << "a GPU is present";
  EXPECT_FALSE(cuda::unavailable_reason().empty());
  try {
    auto t = zeros<float>({2, 3}, Device::cuda());
    FAIL() << "made a tensor on a device that does not exist";
  } catch (const DeviceError& e) {
    EXPECT_NE(std::string(e.what()).find("cuda:0"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(cuda::unavailable_reason()), std::string::npos)
        << e.what();
  }
  // The CPU is unaffected.
  EXPECT_EQ((ones<float>({2}) + 1.0f).scalars(), (std::vector<float>{2, 2}));
}

TEST(CudaDevice, AnOrdinalBeyondTheGpusIsADeviceError) {
  EXPECT_THROW(zeros<float>({1}, Device::cuda(Device::kMaxOrdinals - 1)), DeviceError);
}

TEST(CudaDevice, TalkMlpGivesTheCpuLossesForThreeSteps) {
  SKIP_WITHOUT_GPU();
  expect_gpu_matches_cpu<models::MLP>(3, 1e-4);
}

TEST(CudaDevice, TalkCnnGivesTheCpuLossesForThreeSteps) {
  SKIP_WITHOUT_GPU();
  expect_gpu_matches_cpu<models::CNN>(3, 1e-4);
}

TEST(CudaDevice, ATrainingStepRunsNothingOnTheCpu) {
  SKIP_WITHOUT_GPU();
  models::CNN model;
  move(model, Device::cuda());
  SGD sgd(model, {.learning_rate = 0.01});
  auto x = random_uniform<float>({16, 28, 28, 1}, 0, 1, default_generator(), Device::cuda());
  auto y = Tensor<std::int32_t>(std::vector<std::int32_t>(16, 3), {16}, Device::cuda());
  reset_fallback_counts();
  minimize(sgd, model, [&](const models::CNN& m) { return softmax_cross_entropy(m(x), y); });
  for (auto [op, n] : fallback_counts()) ADD_FAILURE() << op_name(op) << " fell back " << n;
}

TEST(CudaDevice, MemoryIsCountedPerGpuAndGivenBack) {
  SKIP_WITHOUT_GPU();
  auto before = memory_stats(Device::cuda());
  {
    auto t = zeros<float>({1024, 1024}, Device::cuda());
    EXPECT_GE(memory_stats(Device::cuda()).live_bytes, before.live_bytes + 4 * 1024 * 1024);
  }
  EXPECT_EQ(memory_stats(Device::cuda()).live_bytes, before.live_bytes);
}

TEST(CudaDevice, AnAllocationBeyondTheGpuIsAMemoryErrorNamingTheShape) {
  SKIP_WITHOUT_GPU();
  try {
    auto t = zeros<float>({1 << 20, 1 << 20}, Device::cuda());  // 4 TiB
    FAIL() << "allocated 4 TiB";
  } catch (const MemoryError& e) {
    EXPECT_NE(std::string(e.what()).find("[1048576, 1048576]"), std::string::npos) << e.what();
  }
  // The device still works afterwards.
  EXPECT_EQ((ones<float>({2}, Device::cuda()) * 3.0f).scalars(), (std::vector<float>{3, 3}));
}

TEST(CudaDevice, BatchesWrittenInTurnThroughPinnedBuffersArriveIntact) {
  SKIP_WITHOUT_GPU();
  // Three writes of 1 MiB reuse the two staging buffers; each must land before its buffer does.
  std::vector<Tensor<float>> on_gpu;
  for (int k = 0; k < 3; ++k)
    on_gpu.push_back(
        Tensor<float>(std::vector<float>(1 << 18, float(k + 1)), {1 << 18}, Device::cuda()));
  for (int k = 0; k < 3; ++k) {
    auto values = on_gpu[k].scalars();
    EXPECT_EQ(values.front(), float(k + 1));
    EXPECT_EQ(values.back(), float(k + 1));
    EXPECT_EQ(sum(on_gpu[k]).scalar(), float(k + 1) * (1 << 18));
  }
}

TEST(CudaDevice, TrainingIsReproducibleBitForBit) {
  SKIP_WITHOUT_GPU();
  // Deterministic cuDNN algorithms and reductions: two runs from one start agree exactly.
  auto run = [] {
    default_generator().reseed(5);
    models::CNN model;
    move(model, Device::cuda());
    SGD sgd(model, {.learning_rate = 0.05});
    auto x = random_uniform<float>({64, 28, 28, 1}, 0, 1, default_generator(), Device::cuda());
    auto y = Tensor<std::int32_t>(std::vector<std::int32_t>(64, 7), {64}, Device::cuda());
    for (int i = 0; i < 3; ++i)
      minimize(sgd, model, [&](const models::CNN& m) { return softmax_cross_entropy(m(x), y); });
    return model.conv1b.filter.scalars();
  };
  EXPECT_EQ(run(), run());
}
