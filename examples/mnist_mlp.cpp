// The talk's multilayer perceptron on MNIST: Flatten, two Dense 512 relu layers, Dense 10.
#include <cotangent/cotangent.hpp>

#include <iostream>

#include "arguments.hpp"

using namespace ct;

struct MLP {
  Flatten<float> flatten;
  Dense<float> inputLayer{28 * 28, 512, relu};
  Dense<float> hiddenLayer{512, 512, relu};
  Dense<float> outputLayer{512, 10};
  CT_FIELDS(flatten, inputLayer, hiddenLayer, outputLayer)

  Tensor<float> operator()(const Tensor<float>& input) const {
    return input.sequenced(flatten, inputLayer, hiddenLayer, outputLayer);
  }
};

int main(int argc, char** argv) try {
  ct::choose_openmp_waiting(argv);  // a short spin: see cotangent/backend/threads.hpp
  auto [epochs, device] = examples::parse(argc, argv);
  auto dataset = MNIST(/*batch_size=*/128);
  MLP model;
  move(model, device);  // as the talk's `model.move(to: device)`
  SGD optimizer(model, {.learning_rate = 0.1});
  for (auto [epoch, batches] : enumerate(dataset.training_epochs(epochs))) {
    Context::local().learning_phase = LearningPhase::training;
    for (auto& [host_images, host_labels] : batches) {
      auto images = to(host_images, device);
      auto labels = to(host_labels, device);
      auto [loss, grad] = value_with_gradient(
          model, [&](const MLP& m) { return softmax_cross_entropy(m(images), labels); });
      optimizer.update(model, grad);
      lazy_tensor_barrier(device);  // the step as one compiled program (no-op on the CPU)
    }
    Context::local().learning_phase = LearningPhase::inference;
    std::int64_t correct = 0, total = 0;
    for (auto& [images, labels] : dataset.validation()) {
      auto predictions = cast<std::int32_t>(argmax(model(to(images, device)), 1));
      correct += sum(cast<std::int32_t>(equal(predictions, to(labels, device)))).scalar();
      total += labels.shape(0);
    }
    std::cout << "Epoch " << epoch + 1 << ": test accuracy "
              << 100.0 * double(correct) / double(total) << "%" << std::endl;
  }
  if (device.mode == Device::Mode::lazy) std::cout << lazy::metrics_summary() << std::endl;
} catch (const std::exception& e) {
  std::cerr << argv[0] << ": " << e.what() << std::endl;
  return 1;
}
