// Training on your own data through train::fit: features and labels from two .npy files (saved
// with numpy.save), or, without files, two interleaved spirals generated here. A tenth, drawn
// at random, is the test set; each feature is standardised with the training set's mean and
// deviation.
//   own_data [EPOCHS] [--device cpu|lazy|cuda] [FEATURES.npy LABELS.npy]
#include <cotangent/cotangent.hpp>

#include <cmath>
#include <iostream>
#include <numbers>
#include <numeric>

#include "arguments.hpp"

using namespace ct;

/// Two spirals in the plane, `n` points each, labels 0 and 1.
std::pair<Tensor<float>, Tensor<std::int32_t>> spirals(std::int64_t n) {
  Generator gen(3);
  std::vector<float> points;
  std::vector<std::int32_t> labels;
  for (std::int64_t i = 0; i < 2 * n; ++i) {
    double t = double(i / 2) / double(n) * 3 * std::numbers::pi, side = i % 2 ? 1 : -1;
    points.push_back(float(side * t * std::cos(t) + 0.2 * gen.normal()));
    points.push_back(float(side * t * std::sin(t) + 0.2 * gen.normal()));
    labels.push_back(std::int32_t(i % 2));
  }
  return {Tensor<float>(points, {2 * n, 2}), Tensor<std::int32_t>(labels, {2 * n})};
}

struct Classifier {
  Dense<float> hidden1, hidden2, output;
  CT_FIELDS(hidden1, hidden2, output)
  Classifier(std::int64_t features, std::int64_t classes)
      : hidden1(features, 64, relu), hidden2(64, 64, relu), output(64, classes) {}
  Tensor<float> operator()(const Tensor<float>& x) const {
    return x.sequenced(hidden1, hidden2, output);
  }
};

int main(int argc, char** argv) try {
  ct::choose_openmp_waiting(argv);
  // The two file names, when given, come last; the rest are the examples' usual arguments.
  std::vector<char*> rest(argv, argv + argc);
  AnyTensor features, labels;
  if (argc >= 3 && std::string(argv[argc - 1]).ends_with(".npy")) {
    features = io::read_npy(argv[argc - 2]);
    labels = io::read_npy(argv[argc - 1]);
    rest.resize(std::size_t(argc - 2));
  } else {
    std::tie(features, labels) = spirals(2000);
  }
  auto [epochs, device] = examples::parse(int(rest.size()), rest.data(), 20);

  auto all = std::make_shared<data::TensorSamples>(features, labels);
  auto [training, test] = data::split(all, 0.9, /*shuffle_seed=*/1);
  CT_CHECK_AS(ShapeError, all->sample_shape().rank() == 1,
              "own_data: each sample must be a vector of features, not {}", all->sample_shape());
  std::int64_t width = all->sample_shape()[0];
  // Each feature standardised with the training set's statistics (the test set must not leak
  // into them).
  std::vector<std::int64_t> every(std::size_t(training->size()));
  std::iota(every.begin(), every.end(), 0);
  auto whole = training->batch(every).data;  // [samples, features]
  auto mean = ct::mean(whole, {0}).scalars();
  auto deviation = sqrt(variance(whole, {0})).scalars();  // host edge: once, before training
  for (float& d : deviation) d = std::max(d, 1e-6f);      // a constant feature stays as it is
  auto standardise = data::normalize(mean, deviation);
  data::Dataset dataset(data::transformed(training, {standardise}),
                        data::transformed(test, {standardise}), /*batch_size=*/64, /*seed=*/1);

  Classifier model(width, std::max<std::int64_t>(all->class_count(), 2));
  move(model, device);
  Scheduled optimizer(Adam<Classifier>(model, {.learning_rate = 3e-3}),
                      CosineSchedule{3e-3, epochs * (training->size() / 64)});
  auto history = train::fit(model, optimizer, dataset, {.epochs = epochs});
  std::cout << "test accuracy " << 100 * history.back().test_accuracy << "% after " << epochs
            << " epochs (" << parameter_count(model) << " parameters)" << std::endl;
} catch (const std::exception& e) {
  std::cerr << argv[0] << ": " << e.what() << std::endl;
  return 1;
}
