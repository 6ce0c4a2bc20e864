// Kernel and overhead benchmarks (Google Benchmark): matmul and conv2d at the talk's shapes in
// GFLOP/s beside the machine's OpenBLAS cblas_sgemm, and the per-op cost of tiny ops with and
// without recording for a gradient.
//   build-bench/bench/ops_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <cotangent/cotangent.hpp>
#include <cotangent/models/classifiers.hpp>

using namespace ct;

namespace {

void set_flops(benchmark::State& state, double flops_per_iteration) {
  state.counters["GFLOP/s"] = benchmark::Counter(
      flops_per_iteration * double(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
}

// The MLP's first layer: [128, 784] × [784, 512].
void BM_Matmul_128x784x512(benchmark::State& state) {
  auto a = random_uniform<float>({128, 784}), b = random_uniform<float>({784, 512});
  for (auto _ : state) benchmark::DoNotOptimize(matmul(a, b));
  set_flops(state, 2.0 * 128 * 784 * 512);
}
BENCHMARK(BM_Matmul_128x784x512)->UseRealTime();

void BM_OpenBLAS_sgemm_128x784x512(benchmark::State& state) {
  std::vector<float> a(128 * 784, 1.0f), b(784 * 512, 1.0f), c(128 * 512);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 128, 512, 784, 1, a.data(), 784,
                b.data(), 512, 0, c.data(), 512);
    benchmark::ClobberMemory();
  }
  set_flops(state, 2.0 * 128 * 784 * 512);
  state.SetLabel(openblas_get_corename());
}
BENCHMARK(BM_OpenBLAS_sgemm_128x784x512)->UseRealTime();

// The CNN's second convolution: [128, 26, 26, 32] * [3, 3, 32, 64] -> [128, 24, 24, 64].
constexpr double kConvFlops = 2.0 * 128 * 24 * 24 * 64 * 3 * 3 * 32;

void BM_Conv2D_128x26x26x32_3x3x32x64(benchmark::State& state) {
  auto x = random_uniform<float>({128, 26, 26, 32}), f = random_uniform<float>({3, 3, 32, 64});
  for (auto _ : state) benchmark::DoNotOptimize(conv2d(x, f));
  set_flops(state, kConvFlops);
}
BENCHMARK(BM_Conv2D_128x26x26x32_3x3x32x64)->UseRealTime()->Unit(benchmark::kMillisecond);

// The same convolution's FLOPs as one OpenBLAS GEMM of its im2col shape ([73728, 288] × [288, 64]).
void BM_OpenBLAS_sgemm_conv_shape(benchmark::State& state) {
  std::int64_t m = 128 * 24 * 24, k = 288, n = 64;
  std::vector<float> a(m * k, 1.0f), b(k * n, 1.0f), c(m * n);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1, a.data(), k, b.data(), n, 0,
                c.data(), n);
    benchmark::ClobberMemory();
  }
  set_flops(state, kConvFlops);
}
BENCHMARK(BM_OpenBLAS_sgemm_conv_shape)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_Conv2D_ForwardBackward(benchmark::State& state) {
  auto x = random_uniform<float>({128, 26, 26, 32}), f = random_uniform<float>({3, 3, 32, 64});
  for (auto _ : state)
    benchmark::DoNotOptimize(gradient(
        x, f, [](const Tensor<float>& x, const Tensor<float>& f) { return sum(conv2d(x, f)); }));
  set_flops(state, 3 * kConvFlops);
}
BENCHMARK(BM_Conv2D_ForwardBackward)->UseRealTime()->Unit(benchmark::kMillisecond);

// Per-op overhead: a + b on 1-element tensors, nothing recorded.
void BM_AddScalarTensors(benchmark::State& state) {
  Tensor<float> a{1.0f}, b{2.0f};
  for (auto _ : state) benchmark::DoNotOptimize(a + b);
}
BENCHMARK(BM_AddScalarTensors);

// A chain of 100 tiny ops: forward alone, then forward + backward.
void BM_Chain100_Forward(benchmark::State& state) {
  Tensor<float> x{1.0f}, b{2.0f};
  for (auto _ : state) {
    Tensor<float> y = x;
    for (int i = 0; i < 100; ++i) y = y * b;
    benchmark::DoNotOptimize(y);
  }
}
BENCHMARK(BM_Chain100_Forward);

// The same forward pass while recording for a gradient (value_with_pullback stops before the
// backward pass): the per-op cost of recording.
void BM_Chain100_ForwardRecorded(benchmark::State& state) {
  Tensor<float> b{2.0f};
  for (auto _ : state) {
    auto result = value_with_pullback(Tensor<float>{1.0f}, [&](const Tensor<float>& x) {
      Tensor<float> y = x;
      for (int i = 0; i < 100; ++i) y = y * b;
      return y;
    });
    benchmark::DoNotOptimize(result.first);
  }
}
BENCHMARK(BM_Chain100_ForwardRecorded);

void BM_Chain100_ForwardBackward(benchmark::State& state) {
  Tensor<float> b{2.0f};
  for (auto _ : state) {
    auto g = gradient(Tensor<float>{1.0f}, [&](const Tensor<float>& x) {
      Tensor<float> y = x;
      for (int i = 0; i < 100; ++i) y = y * b;
      return y;
    });
    benchmark::DoNotOptimize(g);
  }
}
BENCHMARK(BM_Chain100_ForwardBackward);

// One training step of the talk's MLP at batch 1: as train::fit takes it (minimize), and as
// two calls (gradient, then update), which writes the weight gradients out.
void BM_MlpTrainingStepBatch1(benchmark::State& state) {
  models::MLP model;
  SGD optimizer(model, {.learning_rate = 0.01f});
  auto image = random_uniform<float>({1, 28, 28, 1});
  Tensor<std::int32_t> label{3};
  auto loss = [&](const models::MLP& m) { return softmax_cross_entropy(m(image), label); };
  for (auto _ : state) {
    if (state.range(0) == 0) {
      benchmark::DoNotOptimize(minimize(optimizer, model, loss));
    } else {
      auto grad = gradient(model, loss);
      optimizer.update(model, grad);
    }
  }
}
BENCHMARK(BM_MlpTrainingStepBatch1)->ArgName("two_calls")->Arg(0)->Arg(1)->Unit(
    benchmark::kMicrosecond);

// The CNN's pooling layer, forward and backward: [128, 24, 24, 64], 2×2 windows, stride 2.
void BM_MaxPool2D_ForwardBackward(benchmark::State& state) {
  auto x = random_uniform<float>({128, 24, 24, 64});
  for (auto _ : state)
    benchmark::DoNotOptimize(
        gradient(x, [](const Tensor<float>& x) { return sum(max_pool2d(x, {2, 2}, {2, 2})); }));
}
BENCHMARK(BM_MaxPool2D_ForwardBackward)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
