#pragma once
// The talk's models for 28×28×1 images, written as a user would write them.
#include "cotangent/nn/layers.hpp"

namespace ct::models {

/// The talk's multilayer perceptron: Flatten → Dense 784→512 relu → 512→512 relu → 512→10.
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

/// The talk's convolutional network.
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

/// LeNet-5 as in swift-models: two convolutions with average pooling, three dense layers.
struct LeNet {
  Conv2D<float> conv1{{5, 5, 1, 6}, relu, {1, 1}, Padding::same};
  AvgPool2D<float> pool1{{2, 2}, {2, 2}};
  Conv2D<float> conv2{{5, 5, 6, 16}, relu};
  AvgPool2D<float> pool2{{2, 2}, {2, 2}};
  Flatten<float> flatten;
  Dense<float> fc1{400, 120, relu};
  Dense<float> fc2{120, 84, relu};
  Dense<float> fc3{84, 10};
  CT_FIELDS(conv1, pool1, conv2, pool2, flatten, fc1, fc2, fc3)

  Tensor<float> operator()(const Tensor<float>& input) const {
    auto convolved = input.sequenced(conv1, pool1, conv2, pool2);
    return convolved.sequenced(flatten, fc1, fc2, fc3);
  }
};

}  // namespace ct::models
