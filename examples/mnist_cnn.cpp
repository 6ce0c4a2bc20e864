// The talk's convolutional network on MNIST, written as in the talk: SGD with learning rate
// 0.1, batch 128, 12 epochs, then test loss and accuracy after each epoch.
#include <cotangent/cotangent.hpp>

#include <iostream>

#include "arguments.hpp"

using namespace ct;

struct CNN {
  Conv2D<float> conv1a{{3, 3, 1, 32}, relu};
  Conv2D<float> conv1b{{3, 3, 32, 64}, relu};
  MaxPool2D<float> pool1{{2, 2}, {2, 2}};
  Flatten<float> flatten;
  Dense<float> inputLayer{12 * 12 * 64, 512, relu};
  Dense<float> hiddenLayer{512, 512, relu};
  Dense<float> outputLayer{512, 10};
  CT_FIELDS(conv1a, conv1b, pool1, flatten, inputLayer, hiddenLayer, outputLayer)

  Tensor<float> operator()(const Tensor<float>& input) const {
    auto convolved = input.sequenced(conv1a, conv1b, pool1);
    return convolved.sequenced(flatten, inputLayer, hiddenLayer, outputLayer);
  }
};

int main(int argc, char** argv) try {
  ct::choose_openmp_waiting(argv);  // a short spin: see cotangent/backend/threads.hpp
  auto [epochs, device] = examples::parse(argc, argv);
  auto dataset = MNIST(/*batch_size=*/128);  // downloads, verifies, caches
  CNN model;
  move(model, device);  // as the talk's `model.move(to: device)`
  SGD optimizer(model, {.learning_rate = 0.1});
  for (auto [epoch, batches] : enumerate(dataset.training_epochs(epochs))) {
    Context::local().learning_phase = LearningPhase::training;
    for (auto& [host_images, host_labels] : batches) {
      auto images = to(host_images, device);
      auto labels = to(host_labels, device);
      auto [loss, grad] = value_with_gradient(
          model, [&](const CNN& m) { return softmax_cross_entropy(m(images), labels); });
      optimizer.update(model, grad);  // grad has type CNN: grad.conv1a.filter …
      lazy_tensor_barrier(device);    // the step as one compiled program (no-op on the CPU)
    }
    Context::local().learning_phase = LearningPhase::inference;
    float test_loss_sum = 0;
    std::int64_t correct = 0, total = 0;
    for (auto& [host_images, host_labels] : dataset.validation()) {
      auto images = to(host_images, device);
      auto labels = to(host_labels, device);
      auto logits = model(images);
      test_loss_sum += softmax_cross_entropy(logits, labels, Reduction::sum).scalar();
      correct +=
          sum(cast<std::int32_t>(equal(cast<std::int32_t>(argmax(logits, 1)), labels))).scalar();
      total += labels.shape(0);
    }
    std::cout << "Epoch " << epoch + 1 << ": test loss " << test_loss_sum / float(total)
              << ", accuracy " << 100.0 * double(correct) / double(total) << "%" << std::endl;
  }
  if (device.mode == Device::Mode::lazy) std::cout << lazy::metrics_summary() << std::endl;
} catch (const std::exception& e) {
  std::cerr << argv[0] << ": " << e.what() << std::endl;
  return 1;
}
