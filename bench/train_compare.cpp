// One side of the training comparison: trains the talk's MLP or CNN with SGD (learning rate 0.1,
// batch 128, seed 1) on MNIST in the same shuffled order and prints one JSON line: seconds per
// epoch, images/s, test accuracy and the process's peak RSS. Built twice, so that neither side's
// memory figure includes the other's libraries: train_cotangent (the code path of `cotangent
// train`) and, with COTANGENT_WITH_LIBTORCH, train_libtorch (a LibTorch twin of the same model).
//   train_cotangent|train_libtorch mlp|cnn EPOCHS [TRAINING_LIMIT]
// With `overhead` instead, it measures per-op costs on one-element tensors (a + b, and a + b
// while recording for a gradient) and one MLP training step at batch 1, median of many runs:
// as train::fit takes it (minimize) and written as two calls (gradient, then update).
//   train_cotangent|train_libtorch overhead
#include <sys/resource.h>

#include <cotangent/cotangent.hpp>
#include <cotangent/models/classifiers.hpp>
#include <cotangent/train/trainer.hpp>
#ifdef COTANGENT_WITH_LIBTORCH
#include <torch/torch.h>
#endif

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>

using namespace ct;

namespace {

long peak_rss_kib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

void report(const char* side, const std::string& model, double seconds, double images,
            double accuracy, std::int64_t epochs) {
  std::printf(
      "{\"side\": \"%s\", \"model\": \"%s\", \"seconds_per_epoch\": %.3f, \"images_per_second\": "
      "%.1f, "
      "\"test_accuracy\": %.4f, \"peak_rss_mib\": %.1f}\n",
      side, model.c_str(), seconds / double(epochs), images / seconds, accuracy,
      double(peak_rss_kib()) / 1024);
}

/// Median seconds per call of `body`, timed in groups of `per_group` calls.
template <class Body>
double median_seconds(int groups, int per_group, Body&& body) {
  std::vector<double> times;
  for (int g = 0; g < groups; ++g) {
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < per_group; ++i) body();
    times.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() /
        per_group);
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

/// `two_calls`: the step written as gradient + optimizer.update (LibTorch's only form).
void report_overhead(const char* side, double add, double add_recorded, double step,
                     double two_calls) {
  std::printf(
      "{\"side\": \"%s\", \"add_ns\": %.0f, \"add_recorded_ns\": %.0f, \"mlp_step_batch1_us\": "
      "%.0f, \"mlp_two_calls_batch1_us\": %.0f}\n",
      side, add * 1e9, add_recorded * 1e9, step * 1e6, two_calls * 1e6);
}

#ifndef COTANGENT_WITH_LIBTORCH
void overhead() {
  Tensor<float> a{1.0f}, b{2.0f};
  double add = median_seconds(50, 20000, [&] {
    Tensor<float> y = a + b;
    (void)y;
  });
  // Forward only, recording: 100 adds inside a gradient call that stops before the backward pass.
  double chain = median_seconds(50, 200, [&] {
    auto result = value_with_pullback(Tensor<float>{1.0f}, [&](const Tensor<float>& x) {
      Tensor<float> y = x;
      for (int i = 0; i < 100; ++i) y = y + b;
      return y;
    });
    (void)result;
  });
  default_generator().reseed(1);
  models::MLP model;
  SGD optimizer(model, {.learning_rate = 0.01f});
  auto image = random_uniform<float>({1, 28, 28, 1});
  Tensor<std::int32_t> label{3};
  auto loss = [&](const models::MLP& m) { return softmax_cross_entropy(m(image), label); };
  // The step as train::fit takes it, and as the talk writes it (gradient, then update).
  double step = median_seconds(50, 40, [&] { minimize(optimizer, model, loss); });
  double two_calls = median_seconds(50, 40, [&] {
    auto grad = gradient(model, loss);
    optimizer.update(model, grad);
  });
  report_overhead("cotangent", add, chain / 100, step, two_calls);
}
#endif

template <class Model>
void run_cotangent(const std::string& name, const data::Dataset& dataset, std::int64_t epochs) {
  default_generator().reseed(1);
  Model model;
  SGD optimizer(model, {.learning_rate = 0.1f});
  auto history = train::fit(model, optimizer, dataset, {.epochs = epochs, .progress = false});
  double seconds = 0, images = 0;
  for (auto& m : history) seconds += m.seconds, images += m.images_per_second * m.seconds;
  report("cotangent", name, seconds, images, history.back().test_accuracy, epochs);
}

#ifdef COTANGENT_WITH_LIBTORCH
struct TorchMLP : torch::nn::Module {
  torch::nn::Linear input{784, 512}, hidden{512, 512}, output{512, 10};
  TorchMLP() {
    register_module("input", input);
    register_module("hidden", hidden);
    register_module("output", output);
  }
  torch::Tensor forward(torch::Tensor x) {
    x = x.reshape({x.size(0), 784});
    return output(torch::relu(hidden(torch::relu(input(x)))));
  }
};

struct TorchCNN : torch::nn::Module {
  torch::nn::Conv2d conv1a{torch::nn::Conv2dOptions(1, 32, 3)},
      conv1b{torch::nn::Conv2dOptions(32, 64, 3)};
  torch::nn::Linear input{9216, 512}, hidden{512, 512}, output{512, 10};
  TorchCNN() {
    register_module("conv1a", conv1a);
    register_module("conv1b", conv1b);
    register_module("input", input);
    register_module("hidden", hidden);
    register_module("output", output);
  }
  torch::Tensor forward(torch::Tensor x) {
    x = torch::max_pool2d(torch::relu(conv1b(torch::relu(conv1a(x)))), 2, 2);
    x = x.reshape({x.size(0), 9216});
    return output(torch::relu(hidden(torch::relu(input(x)))));
  }
};

/// Our batch (NHWC float, int32 labels) as LibTorch tensors (NCHW, int64).
std::pair<torch::Tensor, torch::Tensor> to_torch(const data::LabeledBatch& b) {
  auto x = b.data.scalars();
  auto y = b.label.scalars();
  auto n = b.data.shape(0);
  // clone: with one channel the permuted view is already contiguous and would alias `x`.
  auto images = torch::from_blob(x.data(), {n, 28, 28, 1})
                    .permute({0, 3, 1, 2})
                    .clone(torch::MemoryFormat::Contiguous);
  auto labels = torch::from_blob(y.data(), {n}, torch::kInt32).to(torch::kInt64);
  return {images, labels};
}

template <class Net>
void run_libtorch(const std::string& name, const data::Dataset& dataset, std::int64_t epochs) {
  torch::manual_seed(1);
  auto net = std::make_shared<Net>();
  torch::optim::SGD optimizer(net->parameters(), torch::optim::SGDOptions(0.1));
  double seconds = 0, images = 0, accuracy = 0;
  for (auto& epoch : dataset.training_epochs(epochs)) {
    net->train();
    auto start = std::chrono::steady_clock::now();
    for (auto& batch : epoch) {
      auto [x, y] = to_torch(batch);
      optimizer.zero_grad();
      auto loss = torch::nn::functional::cross_entropy(net->forward(x), y);
      loss.backward();
      optimizer.step();
      images += double(x.size(0));
    }
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    net->eval();
    torch::NoGradGuard no_grad;
    std::int64_t correct = 0, total = 0;
    for (auto& batch : dataset.validation()) {
      auto [x, y] = to_torch(batch);
      correct += net->forward(x).argmax(1).eq(y).sum().template item<std::int64_t>();
      total += x.size(0);
    }
    accuracy = double(correct) / double(total);
  }
  report("libtorch", name, seconds, images, accuracy, epochs);
}

void overhead() {
  torch::NoGradGuard no_grad;
  auto a = torch::ones({1}), b = torch::ones({1});
  double add = median_seconds(50, 20000, [&] {
    auto y = a + b;
    (void)y;
  });
  double chain = median_seconds(50, 200, [&] {
    torch::AutoGradMode recording(true);
    auto y = torch::ones({1}).requires_grad_(true);
    for (int i = 0; i < 100; ++i) y = y + b;
  });
  torch::AutoGradMode enable(true);
  torch::manual_seed(1);
  auto net = std::make_shared<TorchMLP>();
  torch::optim::SGD optimizer(net->parameters(), torch::optim::SGDOptions(0.01));
  auto image = torch::rand({1, 1, 28, 28});
  auto label = torch::tensor({3}, torch::kInt64);
  double step = median_seconds(50, 40, [&] {
    optimizer.zero_grad();
    torch::nn::functional::cross_entropy(net->forward(image), label).backward();
    optimizer.step();
  });
  report_overhead("libtorch", add, chain / 100, step, step);
}
#endif

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || (argc < 3 && std::string(argv[1]) != "overhead")) {
    std::fprintf(stderr, "usage: %s mlp|cnn EPOCHS [TRAINING_LIMIT] | overhead\n", argv[0]);
    return 2;
  }
  std::string model = argv[1];
  if (model == "overhead") return overhead(), 0;
  std::int64_t epochs = std::atoll(argv[2]);
  data::DatasetOptions options;
  options.seed = 1;
  options.download = false;
  if (argc > 3) options.training_limit = std::atoll(argv[3]);
  auto dataset = MNIST(128, options);
#ifdef COTANGENT_WITH_LIBTORCH
  if (model == "mlp")
    run_libtorch<TorchMLP>(model, dataset, epochs);
  else
    run_libtorch<TorchCNN>(model, dataset, epochs);
#else
  if (model == "mlp")
    run_cotangent<models::MLP>(model, dataset, epochs);
  else
    run_cotangent<models::CNN>(model, dataset, epochs);
#endif
}
