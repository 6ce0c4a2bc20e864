// The talk's models on one device, in the form bench/torch_twin.py prints for PyTorch, so the
// two outputs compare line by line:
//   cuda_bench [--device cuda|cuda:N|cpu|lazy] [--steps N] [--steps-1024 N] [--warmup N]
//              [--add-ops N] [--only mlp,cnn,add1] [--minimize]
// Measures MLP and CNN training steps (forward, softmax cross-entropy, gradient, SGD 0.1
// update, as in examples/) at batch 128 and 1024 on synthetic MNIST-shaped data uploaded to the
// device once before timing, and the per-op cost of `a + b` on one-element tensors. Each figure
// ends with a host read, so queued device work is inside the time.
//
// Output: '#' lines for people, then one line per figure:
//   cotangent mlp batch=128 images_per_s=12345.6 ms_per_step=10.368 steps=200
//   cotangent add1 us_per_op=4.200 ops=20000
// A figure that fails prints `cotangent NAME ... error="..."` on stderr, the rest still run,
// and the exit status is 1.
#include <cotangent/backend/cuda.hpp>
#include <cotangent/cotangent.hpp>
#include <cotangent/models/classifiers.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

using namespace ct;

namespace {

struct Options {
  Device device = Device::cuda(0);
  std::string device_name = "cuda:0";
  int warmup = 20;
  int steps = 200;      // at batch 128
  int steps_1024 = 50;  // at batch 1024
  int add_ops = 20000;
  bool mlp = true, cnn = true, add1 = true;
  bool use_minimize = false;
};

[[noreturn]] void usage(const char* self, const std::string& problem) {
  std::fprintf(stderr,
               "%s: %s\nusage: %s [--device cuda|cuda:N|cpu|lazy] [--steps N] [--steps-1024 N] "
               "[--warmup N] [--add-ops N] [--only mlp,cnn,add1] [--minimize]\n",
               self, problem.c_str(), self);
  std::exit(2);
}

int whole_number(const char* self, std::string_view flag, const char* text, int minimum) {
  char* end = nullptr;
  long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || value < minimum || value > 100'000'000)
    usage(self, std::string(flag) + " " + text + ": not a whole number from " +
                    std::to_string(minimum) + " up");
  return int(value);
}

Options parse(int argc, char** argv) {
  Options o;
  const char* self = argv[0];
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage(self, std::string(arg) + " needs a value");
      return argv[++i];
    };
    if (arg == "--device") {
      std::string name = value();
      o.device_name = name;
      if (name == "cpu") {
        o.device = Device::cpu();
      } else if (name == "lazy") {
        o.device = Device::default_lazy();
      } else if (name == "cuda") {
        o.device = Device::cuda(0);
        o.device_name = "cuda:0";
      } else if (name.starts_with("cuda:")) {
        o.device = Device::cuda(whole_number(self, "--device cuda:", name.c_str() + 5, 0));
      } else {
        usage(self, "--device " + name + ": not one of cuda, cuda:N, cpu, lazy");
      }
    } else if (arg == "--steps") {
      o.steps = whole_number(self, arg, value(), 1);
    } else if (arg == "--steps-1024") {
      o.steps_1024 = whole_number(self, arg, value(), 1);
    } else if (arg == "--warmup") {
      o.warmup = whole_number(self, arg, value(), 0);
    } else if (arg == "--add-ops") {
      o.add_ops = whole_number(self, arg, value(), 1);
    } else if (arg == "--only") {
      o.mlp = o.cnn = o.add1 = false;
      std::stringstream list{std::string(value())};
      for (std::string item; std::getline(list, item, ',');) {
        if (item == "mlp")
          o.mlp = true;
        else if (item == "cnn")
          o.cnn = true;
        else if (item == "add1")
          o.add1 = true;
        else
          usage(self, "--only " + item + ": not one of mlp, cnn, add1");
      }
    } else if (arg == "--minimize") {
      o.use_minimize = true;
    } else {
      usage(self, "unknown argument " + std::string(arg));
    }
  }
  return o;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/// Ops that ran on the CPU through host copies since the last reset: a device figure that
/// includes them measures the fallback, not the device, so they are named beside it.
void report_fallbacks(const std::string& what) {
  auto counts = fallback_counts();
  if (counts.empty()) return;
  std::printf("# %s: ops that fell back to the CPU:", what.c_str());
  for (auto& [op, count] : counts)
    std::printf(" %.*s=%lld", int(op_name(op).size()), op_name(op).data(), (long long)count);
  std::printf("\n");
}

/// One MNIST-shaped batch, drawn on the host from a fixed seed and uploaded once: images
/// uniform in [0, 1) as [n, 28, 28, 1] (NHWC), labels uniform in [0, 10).
struct Batch {
  Tensor<float> images;
  Tensor<std::int32_t> labels;
};
Batch device_batch(std::int64_t n, Device device) {
  Generator gen(1234);
  auto images = random_uniform<float>({n, 28, 28, 1}, 0.0f, 1.0f, gen);
  std::vector<std::int32_t> labels(static_cast<std::size_t>(n));
  for (auto& label : labels) label = std::int32_t(gen.below(10));
  return {to(images, device), to(Tensor<std::int32_t>(labels, {n}), device)};
}

/// Images per second of `Model`'s training step at batch `n`: the examples' loop with the data
/// already on the device.
template <class Model>
double images_per_second(const Options& o, std::int64_t n, int steps, double& ms_per_step) {
  Device device = o.device;
  default_generator().reseed(1);
  Model model;
  move(model, device);
  SGD optimizer(model, {.learning_rate = 0.1});
  Batch batch = device_batch(n, device);
  Context::local().learning_phase = LearningPhase::training;
  auto loss_of = [&](const Model& m) {
    return softmax_cross_entropy(m(batch.images), batch.labels);
  };
  Tensor<float> loss;
  auto step = [&] {
    if (o.use_minimize) {
      loss = minimize(optimizer, model, loss_of);
    } else {
      auto [value, grad] = value_with_gradient(model, loss_of);
      optimizer.update(model, grad);
      loss = value;
    }
    lazy_tensor_barrier(device);  // the step as one compiled program (no-op on eager devices)
  };
  for (int i = 0; i < o.warmup; ++i) step();  // kernels compiled or loaded, memory pools filled
  if (o.warmup > 0) (void)loss.scalar();      // the warm-up finished before the clock starts
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) step();
  float last = loss.scalar();  // waits for every queued step
  double seconds = seconds_since(start);
  if (!std::isfinite(last)) std::printf("# warning: final loss %g is not finite\n", double(last));
  ms_per_step = 1e3 * seconds / steps;
  return double(n) * steps / seconds;
}

/// Microseconds per `a + b` on one-element tensors: the cost of dispatching an op (on a GPU,
/// queuing a launch) when there is almost no work.
double add1_microseconds(const Options& o) {
  auto a = filled<float>({1}, 1.0f, o.device), b = filled<float>({1}, 2.0f, o.device);
  Tensor<float> c;
  for (int i = 0; i < 1000; ++i) c = a + b;
  (void)c.scalar();
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < o.add_ops; ++i) c = a + b;
  float value = c.scalar();
  double seconds = seconds_since(start);
  if (value != 3.0f) std::printf("# warning: a + b gave %g, not 3\n", double(value));
  return 1e6 * seconds / o.add_ops;
}

/// With CT_CUDA_PROFILE=1 on a GPU: where the figure's GPU time went, kernel by kernel.
void report_profile(const Options& o, const std::string& what) {
  if (o.device.kind != Device::Kind::cuda || !std::getenv("CT_CUDA_PROFILE")) return;
  std::stringstream table{cuda::profile_report(o.device.ordinal)};
  std::printf("# profile of %s (warm-up and timed steps):\n", what.c_str());
  for (std::string line; std::getline(table, line);) std::printf("#   %s\n", line.c_str());
}

void error_line(const std::string& what, const std::exception& e) {
  std::string message = e.what();
  for (char& ch : message)
    if (ch == '"' || ch == '\n') ch = ch == '"' ? '\'' : ' ';
  std::fprintf(stderr, "cotangent %s error=\"%s\"\n", what.c_str(), message.c_str());
  std::fflush(stderr);
}

}  // namespace

int main(int argc, char** argv) {
  ct::choose_openmp_waiting(argv);  // a short spin, as the examples (matters for --device cpu)
  Options o = parse(argc, argv);
  std::printf(
      "# cotangent cuda_bench on %s (%s step); warmup %d steps, timed %d steps at batch "
      "128 and %d at batch 1024; add1 %d ops\n",
      o.device_name.c_str(), o.use_minimize ? "minimize" : "value_with_gradient + update", o.warmup,
      o.steps, o.steps_1024, o.add_ops);
  std::fflush(stdout);
  int status = 0;

  auto model_rows = [&](auto tag, const char* name) {
    using Model = typename decltype(tag)::type;
    for (std::int64_t n : {128, 1024}) {
      std::string what = std::string(name) + " batch=" + std::to_string(n);
      int steps = n == 128 ? o.steps : o.steps_1024;
      try {
        reset_fallback_counts();
        double ms = 0;
        double rate = images_per_second<Model>(o, n, steps, ms);
        std::printf("cotangent %s images_per_s=%.1f ms_per_step=%.3f steps=%d\n", what.c_str(),
                    rate, ms, steps);
        report_fallbacks(what);
        report_profile(o, what);
      } catch (const std::exception& e) {
        error_line(what, e);
        status = 1;
      }
      std::fflush(stdout);
    }
  };
  // add1 first: the quickest figure survives a run cut short by a time limit.
  if (o.add1) {
    try {
      reset_fallback_counts();
      double us = add1_microseconds(o);
      std::printf("cotangent add1 us_per_op=%.3f ops=%d\n", us, o.add_ops);
      report_fallbacks("add1");
    } catch (const std::exception& e) {
      error_line("add1", e);
      status = 1;
    }
  }
  if (o.mlp) model_rows(std::type_identity<models::MLP>{}, "mlp");
  if (o.cnn) model_rows(std::type_identity<models::CNN>{}, "cnn");
  if (o.device.mode == Device::Mode::lazy) {
    std::stringstream summary{lazy::metrics_summary()};
    for (std::string line; std::getline(summary, line);) std::printf("# %s\n", line.c_str());
  }
  std::fflush(stdout);
  return status;
}
