// A convolutional autoencoder on MNIST (after swift-models' Autoencoder2D): strided
// convolutions squeeze each digit to 7×7×8 values, a transposed convolution and up-sampling
// rebuild it, and training minimises the mean squared error of the reconstruction. Prints the
// test set's reconstruction error after each epoch and writes autoencoder.png: test digits
// (top row) over their reconstructions (bottom row).
//   autoencoder [EPOCHS] [--device cpu|lazy|cuda] [--limit N]
#include <cotangent/cotangent.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <iostream>

#include "arguments.hpp"

using namespace ct;

struct Autoencoder {
  Conv2D<float> encode1{{3, 3, 1, 16}, relu, {2, 2}, Padding::same};            // 28 -> 14
  Conv2D<float> encode2{{3, 3, 16, 8}, relu, {2, 2}, Padding::same};            // 14 -> 7
  TransposedConv2D<float> decode1{{3, 3, 16, 8}, relu, {2, 2}, Padding::same};  // 7 -> 14
  UpSampling2D<float> upsample{2};                                              // 14 -> 28
  Conv2D<float> decode2{{3, 3, 16, 1}, sigmoid, {1, 1}, Padding::same};
  CT_FIELDS(encode1, encode2, decode1, upsample, decode2)

  Tensor<float> operator()(const Tensor<float>& images) const {
    return images.sequenced(encode1, encode2, decode1, upsample, decode2);
  }
};

/// Test digits over their reconstructions, side by side, as 8-bit gray pixels.
std::vector<std::uint8_t> comparison(const Tensor<float>& images, const Tensor<float>& rebuilt,
                                     std::int64_t count) {
  auto top = images.scalars(), bottom = rebuilt.scalars();  // host edge: the picture
  std::vector<std::uint8_t> pixels(std::size_t(2 * 28 * 28 * count));
  for (std::int64_t row = 0; row < 2; ++row)
    for (std::int64_t y = 0; y < 28; ++y)
      for (std::int64_t i = 0; i < count; ++i)
        for (std::int64_t x = 0; x < 28; ++x) {
          float v = (row ? bottom : top)[std::size_t((i * 28 + y) * 28 + x)];
          pixels[std::size_t(((row * 28 + y) * count + i) * 28 + x)] =
              std::uint8_t(std::lround(std::clamp(v, 0.0f, 1.0f) * 255));
        }
  return pixels;
}

int main(int argc, char** argv) try {
  ct::choose_openmp_waiting(argv);
  // --limit N (the first N training images, for a quick run) is this example's own.
  std::vector<char*> rest;
  std::int64_t limit = -1;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--limit") != 0) {
      rest.push_back(argv[i]);
      continue;
    }
    CT_CHECK_AS(ValueError, i + 1 < argc, "--limit needs a number of images");
    std::string_view text = argv[++i];
    auto [at, error] = std::from_chars(text.data(), text.data() + text.size(), limit);
    CT_CHECK_AS(ValueError, error == std::errc() && at == text.data() + text.size() && limit >= 64,
                "--limit '{}' is not a whole number from 64 up", text);
  }
  auto [epochs, device] = examples::parse(int(rest.size()), rest.data(), 5);
  data::DatasetOptions options;
  options.seed = 1;
  options.training_limit = limit;
  auto dataset = MNIST(/*batch_size=*/64, options);

  default_generator().reseed(1);
  Autoencoder model;
  move(model, device);
  Adam<Autoencoder> optimizer(model, {.learning_rate = 2e-3});
  for (auto [epoch, batches] : enumerate(dataset.training_epochs(epochs))) {
    for (auto& [host_images, labels] : batches) {
      auto images = to(host_images, device);
      minimize(optimizer, model,
               [&](const Autoencoder& m) { return mean_squared_error(m(images), images); });
      lazy_tensor_barrier(device);
    }
    double error = 0;
    std::int64_t seen = 0;
    for (auto& [host_images, labels] : dataset.validation()) {
      auto images = to(host_images, device);
      error += double(mean_squared_error(model(images), images).scalar()) * double(labels.shape(0));
      seen += labels.shape(0);
    }
    std::cout << "Epoch " << epoch + 1 << ": test reconstruction error (MSE) "
              << error / double(seen) << std::endl;
  }
  auto first = dataset.validation().batch(0).data;
  auto shown = slice(first, {Range{0, 8}});
  auto pixels = comparison(shown, to(model(to(shown, device)), Device::cpu()), 8);
  auto png = io::encode_png(pixels.data(), 8 * 28, 2 * 28, 1);
  write_file_atomically("autoencoder.png", png.data(), png.size());
  std::cout << "wrote autoencoder.png (test digits over their reconstructions)" << std::endl;
} catch (const std::exception& e) {
  std::cerr << argv[0] << ": " << e.what() << std::endl;
  return 1;
}
