// The machine's fp32 FMA peak on all cores: independent fused multiply-adds on the widest
// vectors the compiler targets, one chain of accumulators per thread, no memory traffic.
#include <omp.h>

#include <chrono>
#include <cstdio>

namespace {
constexpr int kLanes = 16;   // floats per vector the compiler may form (AVX-512)
constexpr int kChains = 12;  // enough independent FMAs to hide their latency
constexpr long kIterations = 20'000'000;

float run_thread() {
  float acc[kChains][kLanes];
  for (int c = 0; c < kChains; ++c)
    for (int l = 0; l < kLanes; ++l) acc[c][l] = float(c + l) * 1e-3f;
  const float a = 0.999999f, b = 1e-7f;
  for (long i = 0; i < kIterations; ++i)
    for (int c = 0; c < kChains; ++c)
#pragma omp simd
      for (int l = 0; l < kLanes; ++l) acc[c][l] = acc[c][l] * a + b;
  float s = 0;
  for (int c = 0; c < kChains; ++c)
    for (int l = 0; l < kLanes; ++l) s += acc[c][l];
  return s;
}
}  // namespace

int main() {
  double best = 0;
  for (int trial = 0; trial < 3; ++trial) {
    float sink = 0;
    auto start = std::chrono::steady_clock::now();
    int threads = 1;
#pragma omp parallel reduction(+ : sink)
    {
#pragma omp single
      threads = omp_get_num_threads();
      sink += run_thread();
    }
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    double gflops = 2.0 * kLanes * kChains * double(kIterations) * threads / seconds / 1e9;
    if (gflops > best) best = gflops;
    if (sink == 42) std::printf(" ");
  }
  std::printf("%.1f\n", best);
}
