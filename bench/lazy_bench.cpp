// The lazy device beside eager in one run, on the talk's models and random MNIST-shaped data:
//   lazy_bench steps      MLP training step at batch 1, 8 and 32 (images/s, median of rounds)
//   lazy_bench chain      10 cheap elementwise ops on 1M floats (evaluations/s)
//   lazy_bench epochs N   MLP and CNN training at batch 128 over N images (images/s)
//   lazy_bench compile    the CNN step's compile: cold (an empty cache) and from the disk cache,
//                         each in a new process
//   lazy_bench all [N]    everything, as one table
// Prints one line per figure: what, eager, lazy, and lazy/eager (speed-up; for compile, seconds).
#include <sys/wait.h>
#include <unistd.h>

#include <cotangent/cotangent.hpp>
#include <cotangent/models/classifiers.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

using namespace ct;

namespace {

const Device kLazy = Device::default_lazy();

template <class Body>
double median_seconds(int rounds, int per_round, Body&& body) {
  std::vector<double> times;
  for (int r = 0; r < rounds; ++r) {
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < per_round; ++i) body();
    times.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() /
        per_round);
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

void row(const std::string& what, double eager, double lazy, const char* unit) {
  std::printf("%-44s %12.1f %12.1f %8.2fx  %s\n", what.c_str(), eager, lazy, lazy / eager, unit);
  std::fflush(stdout);
}

struct Batch {
  Tensor<float> images;
  Tensor<std::int32_t> labels;
};
Batch random_batch(std::int64_t n) {
  std::vector<std::int32_t> labels(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) labels[std::size_t(i)] = std::int32_t((i * 7) % 10);
  return {random_uniform<float>({n, 28, 28, 1}), Tensor<std::int32_t>(labels, {n})};
}

/// Seconds per SGD step of `Model` at batch `n` on `device` (the batch uploaded each step, as
/// training does).
template <class Model>
double step_seconds(Device device, std::int64_t n, int rounds, int per_round) {
  default_generator().reseed(1);
  Model model;
  move(model, device);
  SGD optimizer(model, {.learning_rate = 0.01});
  Batch batch = random_batch(n);
  auto step = [&] {
    auto x = to(batch.images, device);
    auto y = to(batch.labels, device);
    minimize(optimizer, model, [&](const Model& m) { return softmax_cross_entropy(m(x), y); });
    lazy_tensor_barrier(device);
  };
  for (int i = 0; i < 3; ++i) step();  // compiles, caches and pools warm
  return median_seconds(rounds, per_round, step);
}

void steps() {
  for (std::int64_t n : {1, 8, 32}) {
    int per = n == 1 ? 100 : n == 8 ? 50 : 20;
    double eager = step_seconds<models::MLP>(Device::cpu(), n, 7, per);
    double lazy = step_seconds<models::MLP>(kLazy, n, 7, per);
    row("MLP training step, batch " + std::to_string(n) + " (images/s)", double(n) / eager,
        double(n) / lazy, "");
  }
}

void chain() {
  auto x = random_uniform<float>({1 << 20});
  auto run = [&](Device device) {
    auto input = to(x, device);
    auto evaluate = [&] {
      auto y = input;
      // Ten cheap ops, as in an optimizer update or a normalization: memory-bound when each
      // is its own pass, one pass fused.
      y = relu(square(y * 0.5f + 0.25f) - 0.125f) * 2.0f + y;
      y = abs(y - 1.5f) * 0.75f;
      lazy_tensor_barrier(device);
      return y;
    };
    evaluate();
    return median_seconds(9, 10, evaluate);
  };
  double eager = run(Device::cpu()), lazy = run(kLazy);
  row("10 elementwise ops on 1M floats (evaluations/s)", 1 / eager, 1 / lazy, "");
}

void epochs(std::int64_t images) {
  auto run = [&](auto tag, Device device, std::int64_t count) {
    using Model = decltype(tag);
    double s = step_seconds<Model>(device, 128, 1, int(count / 128));
    return 128 / s;
  };
  row("MLP training, batch 128 (images/s)", run(models::MLP{}, Device::cpu(), images),
      run(models::MLP{}, kLazy, images), "");
  std::int64_t cnn_images = std::max<std::int64_t>(images / 8, 1280);
  row("CNN training, batch 128 (images/s)", run(models::CNN{}, Device::cpu(), cnn_images),
      run(models::CNN{}, kLazy, cnn_images), "");
}

/// In a child process: one CNN training step on the lazy device; prints its compile seconds.
int compile_child() {
  default_generator().reseed(1);
  models::CNN model;
  move(model, kLazy);
  SGD optimizer(model, {.learning_rate = 0.01});
  Batch batch = random_batch(128);
  auto x = to(batch.images, kLazy);
  auto y = to(batch.labels, kLazy);
  minimize(optimizer, model, [&](const models::CNN& m) { return softmax_cross_entropy(m(x), y); });
  lazy_tensor_barrier(kLazy);
  lazy::Metrics m = lazy::metrics();
  std::printf("%.4f %lld\n", m.compile_seconds, (long long)m.disk_cache_hits);
  return 0;
}

double compile_in_new_process(const char* self, const std::filesystem::path& cache) {
  std::string command = "CT_CACHE_DIR='" + cache.string() + "' '" + self + "' compile-child";
  FILE* pipe = ::popen(command.c_str(), "r");
  double seconds = -1;
  long long hits = 0;
  if (pipe && std::fscanf(pipe, "%lf %lld", &seconds, &hits) != 2) seconds = -1;
  if (pipe) ::pclose(pipe);
  return seconds;
}

void compile(const char* self) {
  auto cache = std::filesystem::temp_directory_path() /
               ("cotangent-lazy-bench-" + std::to_string(::getpid()));
  std::filesystem::remove_all(cache);
  double cold = compile_in_new_process(self, cache);
  double warm = compile_in_new_process(self, cache);
  std::printf("%-44s %12s %12.3f %9s  %s\n", "CNN step compile, cold (s)", "-", cold, "", "");
  std::printf("%-44s %12s %12.3f %9s  %s\n", "CNN step compile, disk cache, new process (s)", "-",
              warm, "", "");
  std::filesystem::remove_all(cache);
}

}  // namespace

int main(int argc, char** argv) try {
  std::string what = argc > 1 ? argv[1] : "all";
  if (what == "compile-child") return compile_child();
  std::int64_t images = argc > 2 ? std::atoll(argv[2]) : 12800;
  std::printf("%-44s %12s %12s %9s\n", "", "eager", "lazy", "lazy/eager");
  if (what == "steps" || what == "all") steps();
  if (what == "chain" || what == "all") chain();
  if (what == "epochs" || what == "all") epochs(images);
  if (what == "compile" || what == "all") compile(argv[0]);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "lazy_bench: %s\n", e.what());
  return 1;
}
