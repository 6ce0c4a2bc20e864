// The 1-D layers, transposed and separable convolution, padding, up-sampling, group and instance
// normalisation and the noise layers: values against their definitions, float64 gradient checks
// and the errors they raise.
#include <cotangent/cotangent.hpp>

#include "op_check.hpp"

using namespace ct;
using namespace ct::testing;

namespace {
/// Σ f(x)·p for a fixed random p shaped like f(x): checks the whole vector-Jacobian product.
template <class F>
void expect_gradient(F f, const Tensor<double>& x, std::uint64_t seed = 9) {
  auto projection = sample(f(x).shape(), -1, 1, seed);
  auto check = check_gradients([&](const Tensor<double>& v) { return sum(f(v) * projection); }, x);
  EXPECT_TRUE(check.ok) << check.message;
}
}  // namespace

TEST(Layers1D, Conv1DIsAConvolutionAlongTheSteps) {
  Generator gen(1);
  Conv1D<double> conv({3, 2, 4}, {}, /*stride=*/2, Padding::same, 1, true, gen);
  conv.bias = sample({4}, -1, 1, 3);
  auto x = sample({2, 7, 2}, -1, 1, 2);
  auto y = conv(x);
  ASSERT_EQ(y.shape(), (Shape{2, 4, 4}));
  // Output step t, channel o: Σ_k,c x[2t + k - 1][c] · filter[k][c][o] + bias[o] (one step of
  // zero padding on the left for "same" with width 7, stride 2, kernel 3).
  auto xs = x.scalars(), fs = conv.filter.scalars(), bs = conv.bias.scalars(), ys = y.scalars();
  for (int n = 0; n < 2; ++n)
    for (int t = 0; t < 4; ++t)
      for (int o = 0; o < 4; ++o) {
        double expected = bs[std::size_t(o)];
        for (int k = 0; k < 3; ++k)
          for (int c = 0; c < 2; ++c) {
            int s = 2 * t + k - 1;
            if (s >= 0 && s < 7)
              expected +=
                  xs[std::size_t((n * 7 + s) * 2 + c)] * fs[std::size_t((k * 2 + c) * 4 + o)];
          }
        EXPECT_NEAR(ys[std::size_t((n * 4 + t) * 4 + o)], expected, 1e-12);
      }
  expect_gradient([&](const Tensor<double>& v) { return conv(v); }, x);
  expect_gradient(
      [&](const Tensor<double>& f) {
        auto copy = conv;
        copy.filter = f;
        return copy(x);
      },
      conv.filter);
  expect_error<ShapeError>([&] { conv(sample({2, 7}, -1, 1)); }, {"Conv1D", "NWC"});
}

TEST(Layers1D, PoolingPaddingAndUpSampling) {
  Tensor<double> x({1, 5, 2, 4, 3, 0}, {1, 6, 1});
  EXPECT_EQ((MaxPool1D<double>{2, 2}(x).scalars()), (std::vector<double>{5, 4, 3}));
  auto averages = AvgPool1D<double>{3, 3}(x).scalars();
  ASSERT_EQ(averages.size(), 2u);
  EXPECT_NEAR(averages[0], 8.0 / 3, 1e-15);
  EXPECT_NEAR(averages[1], 7.0 / 3, 1e-15);
  EXPECT_EQ(GlobalMaxPool1D<double>{}(x).scalars(), (std::vector<double>{5}));
  EXPECT_DOUBLE_EQ(GlobalAvgPool1D<double>{}(x).scalar(), 2.5);
  auto padded = ZeroPadding1D<double>{1, 2}(x);
  EXPECT_EQ(padded.shape(), (Shape{1, 9, 1}));
  EXPECT_EQ(padded.scalars(), (std::vector<double>{0, 1, 5, 2, 4, 3, 0, 0, 0}));
  auto up = UpSampling1D<double>{3}(Tensor<double>({1, 2, 3, 4}, {1, 2, 2}));
  EXPECT_EQ(up.scalars(), (std::vector<double>{1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4}));
  auto seq = sample({2, 6, 3}, -1, 1);
  expect_gradient([](const Tensor<double>& v) { return AvgPool1D<double>{2, 1}(v); }, seq);
  expect_gradient([](const Tensor<double>& v) { return UpSampling1D<double>{2}(v); }, seq);
  expect_gradient([](const Tensor<double>& v) { return ZeroPadding1D<double>{2, 1}(v); }, seq);
  expect_error<ValueError>([&] { UpSampling1D<double>{0}(seq); }, {"at least 1"});
  expect_error<ShapeError>([&] { GlobalAvgPool1D<double>{}(sample({2, 3}, 0, 1)); }, {"NWC"});
}

TEST(ImageLayers, TransposedConvolutionIsTheAdjointOfTheStridedConvolution) {
  Generator gen(2);
  for (Padding padding : {Padding::valid, Padding::same}) {
    TransposedConv2D<double> up({3, 3, 2, 5}, {}, {2, 2}, padding, /*use_bias=*/false, gen);
    auto x = sample({2, 4, 3, 5}, -1, 1, 1);
    auto y = up(x);
    EXPECT_EQ(y.shape(), padding == Padding::valid ? (Shape{2, 9, 7, 2}) : (Shape{2, 8, 6, 2}));
    // <conv(z), x> = <z, transposed(x)> for the forward convolution with the same filter.
    auto z = sample(y.shape(), -1, 1, 4);
    double forward = sum(conv2d(z, up.filter, {2, 2}, padding) * x).scalar();
    double backward = sum(z * y).scalar();
    EXPECT_NEAR(forward, backward, 1e-9) << (padding == Padding::valid ? "valid" : "same");
    expect_gradient([&](const Tensor<double>& v) { return up(v); }, x);
    expect_gradient(
        [&](const Tensor<double>& f) {
          auto copy = up;
          copy.filter = f;
          return copy(x);
        },
        up.filter);
  }
  TransposedConv2D<double> up({3, 3, 2, 5});
  expect_error<ShapeError>([&] { up(sample({1, 4, 4, 3}, 0, 1)); }, {"5 channels"});
}

TEST(ImageLayers, SeparableConvolutionIsDepthwiseThenPointwise) {
  Generator gen(3);
  SeparableConv2D<double> sep({3, 3, 2, 2}, 5, relu, {1, 1}, Padding::same, true, gen);
  sep.bias = sample({5}, -1, 1, 5);
  auto x = sample({2, 5, 5, 2}, -1, 1, 1);
  auto expected = relu(conv2d(depthwise_conv2d(x, sep.depthwise_filter, {1, 1}, Padding::same),
                              sep.pointwise_filter) +
                       sep.bias);
  EXPECT_LT(max(abs(sep(x) - expected)).scalar(), 1e-12);
  SeparableConv2D<double> smooth({3, 3, 2, 2}, 5, tanh, {1, 1}, Padding::valid, true, gen);
  expect_gradient([&](const Tensor<double>& v) { return smooth(v); }, x);
  expect_gradient(
      [&](const Tensor<double>& f) {
        auto copy = smooth;
        copy.depthwise_filter = f;
        return copy(x);
      },
      smooth.depthwise_filter);
}

TEST(ImageLayers, ZeroPaddingAndUpSamplingOfImages) {
  Tensor<double> x({1, 2, 3, 4}, {1, 2, 2, 1});
  auto padded = ZeroPadding2D<double>{{1, 0}, {0, 2}}(x);
  EXPECT_EQ(padded.shape(), (Shape{1, 3, 4, 1}));
  EXPECT_EQ(padded.scalars(), (std::vector<double>{0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0}));
  auto up = UpSampling2D<double>{2}(x);
  EXPECT_EQ(up.scalars(), (std::vector<double>{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}));
  auto images = sample({2, 3, 2, 2}, -1, 1);
  expect_gradient([](const Tensor<double>& v) { return UpSampling2D<double>{3}(v); }, images);
  expect_gradient([](const Tensor<double>& v) { return ZeroPadding2D<double>{}(v); }, images);
  expect_error<ValueError>([&] { ZeroPadding2D<double>{{-1, 0}, {0, 0}}(x); }, {"negative"});
}

TEST(ImageLayers, GroupAndInstanceNormNormaliseEachGroupOfEachSample) {
  GroupNorm<double> norm(2, 4);
  auto x = sample({3, 5, 5, 4}, -3, 7);
  auto y = norm(x);
  // Group g of sample n: channels 2g and 2g + 1 over every pixel, mean 0 and variance 1.
  auto grouped = reshape(y, {3, 25, 2, 2});
  auto m = mean(grouped, {1, 3}), v = variance(grouped, {1, 3});
  EXPECT_LT(max(abs(m)).scalar(), 1e-9);
  EXPECT_LT(max(abs(v - 1.0)).scalar(), 1e-3);  // epsilon 1e-3 keeps it just under 1
  InstanceNorm<double> instance(4);
  auto per_channel = variance(reshape(instance(x), {3, 25, 4}), {1});
  EXPECT_LT(max(abs(per_channel - 1.0)).scalar(), 1e-3);
  norm.scale = sample({4}, 0.5, 2, 3);
  norm.offset = sample({4}, -1, 1, 4);
  expect_gradient([&](const Tensor<double>& v) { return norm(v); }, sample({2, 3, 3, 4}, -1, 1));
  auto grad = gradient(norm, [&](const GroupNorm<double>& n) { return sum(n(x) * x); });
  EXPECT_EQ(grad.scale.shape(), (Shape{4}));
  expect_error<ValueError>([] { GroupNorm<double>(3, 4); }, {"4 channels", "3 groups"});
  expect_error<ShapeError>([&] { norm(sample({2, 3}, 0, 1)); }, {"4 channels"});
}

TEST(NoiseLayers, IdentityInInferenceAndTheRightMomentsInTraining) {
  auto x = random_normal<double>({200000}, 0, 1, *std::make_unique<Generator>(4));
  GaussianNoise<double> noise(0.5);
  GaussianDropout<double> gaussian_dropout(0.2);
  AlphaDropout<double> alpha_dropout(0.2);
  EXPECT_EQ(noise(x).scalars(), x.scalars());  // inference: the identity
  EXPECT_EQ(alpha_dropout(x).scalars(), x.scalars());
  LearningPhaseScope training(LearningPhase::training);
  auto added = noise(x) - x;
  EXPECT_NEAR(standard_deviation(added).scalar(), 0.5, 0.01);
  auto ratio = gaussian_dropout(ones<double>({200000}));
  EXPECT_NEAR(mean(ratio).scalar(), 1, 0.01);
  EXPECT_NEAR(variance(ratio).scalar(), 0.2 / 0.8, 0.01);
  auto kept = alpha_dropout(x);  // standard normal in, mean 0 and variance 1 out
  EXPECT_NEAR(mean(kept).scalar(), 0, 0.01);
  EXPECT_NEAR(variance(kept).scalar(), 1, 0.02);
  expect_error<ValueError>([] { AlphaDropout<double>(1.0); }, {"[0, 1)"});
  expect_error<ValueError>([] { GaussianNoise<double>(-1); }, {"not negative"});
}

TEST(ImageLayers, DepthToSpaceFollowsTensorFlowsOrderAndSpaceToDepthUndoesIt) {
  // One 1x1 image of 8 channels, block 2: channels (i·2 + j)·2 + c go to pixel (i, j), channel c.
  Tensor<double> x({0, 1, 2, 3, 4, 5, 6, 7}, {1, 1, 1, 8});
  auto y = depth_to_space(x, 2);
  EXPECT_EQ(y.shape(), (Shape{1, 2, 2, 2}));
  EXPECT_EQ(y.scalars(), (std::vector<double>{0, 1, 2, 3, 4, 5, 6, 7}));
  auto images = sample({2, 4, 6, 3}, -1, 1);
  auto packed = space_to_depth(images, 2);
  EXPECT_EQ(packed.shape(), (Shape{2, 2, 3, 12}));
  EXPECT_EQ(depth_to_space(packed, 2).scalars(), images.scalars());
  // Pixel (1, 0) of the first 2x2 block is channel group 2 of packed pixel (0, 0).
  EXPECT_EQ(packed.at({0, 0, 0, 6}), images.at({0, 1, 0, 0}));
  expect_gradient([](const Tensor<double>& v) { return space_to_depth(v, 2); }, images);
  expect_error<ValueError>([&] { depth_to_space(images, 2); }, {"3 channels", "2x2"});
  expect_error<ValueError>([&] { space_to_depth(images, 4); }, {"4x6 images"});
}
