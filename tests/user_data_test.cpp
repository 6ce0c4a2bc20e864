// A user's own data: samples from tensors and .npy files, parts of sets, transforms, and
// training through fit on them; tensor indexing and printing.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <iomanip>
#include <numeric>
#include <set>
#include <sstream>

#include "cotangent/cotangent.hpp"
#include "op_check.hpp"

using namespace ct;
using ct::testing::expect_error;

namespace {

/// Two Gaussian blobs in the plane, labels 0 and 1, drawn from `seed`.
std::pair<Tensor<float>, Tensor<std::int64_t>> blobs(std::int64_t n, std::uint64_t seed) {
  Generator gen(seed);
  auto noise = random_normal<float>({n, 2}, 0, 0.7f, gen);
  std::vector<std::int64_t> labels(static_cast<std::size_t>(n));
  std::vector<float> centres(static_cast<std::size_t>(2 * n));
  for (std::int64_t i = 0; i < n; ++i) {
    labels[std::size_t(i)] = i % 2;
    centres[std::size_t(2 * i)] = i % 2 ? 2.0f : -2.0f;
    centres[std::size_t(2 * i + 1)] = i % 2 ? -1.0f : 1.0f;
  }
  return {Tensor<float>(centres, {n, 2}) + noise, Tensor<std::int64_t>(labels, {n})};
}

struct TwoLayer {
  Dense<float> hidden{2, 16, relu}, output{16, 2};
  Tensor<float> operator()(const Tensor<float>& x) const { return output(hidden(x)); }
  CT_FIELDS(hidden, output)
};

std::vector<float> values_of(const data::Samples& samples, std::vector<std::int64_t> indices,
                             std::uint64_t pass = 0) {
  return samples.batch(indices, pass).data.scalars();
}

}  // namespace

TEST(UserData, TensorSamplesTrainThroughFit) {
  auto [x, y] = blobs(512, 1);
  auto [tx, ty] = blobs(256, 2);
  data::Dataset dataset(data::TensorSamples(x, y), data::TensorSamples(tx, ty), 32, 3);
  TwoLayer model;
  SGD optimizer(model, {.learning_rate = 0.1});
  auto history = train::fit(model, optimizer, dataset, {.epochs = 3, .progress = false});
  ASSERT_EQ(history.size(), 3u);
  EXPECT_GT(history.back().test_accuracy, 0.95);
  EXPECT_LT(history.back().training_loss, history.front().training_loss);
  auto [loss, accuracy] = train::evaluate(model, dataset);
  EXPECT_DOUBLE_EQ(accuracy, history.back().test_accuracy);
  EXPECT_NEAR(loss, history.back().test_loss, 1e-9);
}

TEST(UserData, TensorSamplesTakeAnyRealFeaturesAndEitherLabelType) {
  Tensor<std::int64_t> features({1, 2, 3, 4, 5, 6}, {3, 2});
  data::TensorSamples a(features, Tensor<std::int32_t>({2, 0, 1}));
  EXPECT_EQ(a.size(), 3);
  EXPECT_EQ(a.sample_shape(), (Shape{2}));
  EXPECT_EQ(a.class_count(), 3);
  auto batch = a.batch(std::vector<std::int64_t>{2, 0});
  EXPECT_EQ(batch.data.scalars(), (std::vector<float>{5, 6, 1, 2}));
  EXPECT_EQ(batch.label.scalars(), (std::vector<std::int32_t>{1, 2}));
  data::TensorSamples b(Tensor<double>({0.5, 1.5}, {2}), Tensor<std::int64_t>({1, 0}));
  EXPECT_EQ(b.sample_shape(), Shape{});
  auto [sample, label] = b[1];
  EXPECT_EQ(sample.scalar(), 1.5f);
  EXPECT_EQ(label, 0);
}

TEST(UserData, BadTensorSamplesAreRefusedWithTheirIndex) {
  Tensor<float> x({1, 2, 3, 4}, {2, 2});
  expect_error<ValueError>(
      [&] {
        data::TensorSamples(x, Tensor<std::int32_t>({0, -3}));
      },
      {"label -3 of sample 1"});
  expect_error<ValueError>(
      [&] {
        data::TensorSamples(x, Tensor<std::int64_t>({0, std::int64_t(1) << 40}));
      },
      {"of sample 1", "past the largest class index"});
  expect_error<DTypeError>(
      [&] {
        data::TensorSamples(x, Tensor<float>({0, 1}));
      },
      {"int32 or int64", "float32"});
  expect_error<ShapeError>(
      [&] {
        data::TensorSamples(x, Tensor<std::int32_t>({0, 1, 1}));
      },
      {"2 samples of features but 3 labels"});
  expect_error<ShapeError>(
      [&] {
        data::TensorSamples(x, Tensor<std::int32_t>({0, 1, 1, 0}, {2, 2}));
      },
      {"[N]"});
  expect_error<ShapeError>(
      [&] { data::TensorSamples(Tensor<float>(1.0f), Tensor<std::int32_t>({0})); },
      {"not a scalar"});
  expect_error<DTypeError>(
      [&] {
        data::TensorSamples(Tensor<bool>({true, false}), Tensor<std::int32_t>({0, 1}));
      },
      {"bool"});
  expect_error<ValueError>(
      [&] {
        data::TensorSamples(Tensor<float>({1, std::nanf(""), 3, 4}, {2, 2}),
                            Tensor<std::int32_t>({0, 1}));
      },
      {"feature 1 of sample 0", "nan"});
  data::TensorSamples ok(x, Tensor<std::int32_t>({0, 1}));
  expect_error<IndexError>(
      [&] {
        ok.batch(std::vector<std::int64_t>{0, 2});
      },
      {"index 2", "2 samples"});
  expect_error<IndexError>([&] { ok[-1]; }, {"index -1"});
}

TEST(UserData, DatasetsRefuseMismatchedSets) {
  auto [x, y] = blobs(8, 1);
  data::TensorSamples training(x, y);
  data::TensorSamples other(Tensor<float>(std::vector<float>(12, 0.0f), {4, 3}),
                            Tensor<std::int32_t>({0, 1, 0, 1}));
  expect_error<ShapeError>([&] { data::Dataset(training, other, 4); }, {"[2]", "[3]", "shape"});
  expect_error<ValueError>([&] { data::Dataset(training, training, 0); }, {"batch size"});
  expect_error<ValueError>(
      [&] {
        data::Dataset(std::shared_ptr<const data::Samples>(),
                      std::shared_ptr<const data::Samples>(), 4);
      },
      {"missing"});
}

TEST(UserData, SplitAndSubsetKeepTheOrder) {
  Tensor<float> x({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {10, 1});
  Tensor<std::int32_t> y({0, 1, 0, 1, 0, 1, 0, 1, 0, 1});
  auto [first, rest] = data::split(data::TensorSamples(x, y), 0.7);
  EXPECT_EQ(first->size(), 7);
  EXPECT_EQ(rest->size(), 3);
  EXPECT_EQ(values_of(*rest, {0, 2}), (std::vector<float>{7, 9}));
  EXPECT_EQ(rest->batch(std::vector<std::int64_t>{1}).label.scalars()[0], 0);
  expect_error<IndexError>([&] { rest->batch(std::vector<std::int64_t>{3}); }, {"3 samples"});
  expect_error<ValueError>([&] { data::split(data::TensorSamples(x, y), 1.0); }, {"fraction"});
  expect_error<ValueError>([&] { data::split(data::TensorSamples(x, y), 0.01); },
                           {"leaves one part empty"});
  expect_error<IndexError>([&] { data::Subset(std::make_shared<data::TensorSamples>(x, y), 8, 3); },
                           {"out of range"});
  expect_error<IndexError>(
      [&] {
        data::Subset(std::make_shared<data::TensorSamples>(x, y), std::vector<std::int64_t>{1, 10});
      },
      {"index 10 (at 1)"});
  // Shuffled from a seed: the parts still hold every sample once, in an order the seed fixes.
  auto [a, b] = data::split(data::TensorSamples(x, y), 0.5, 11);
  auto [a2, b2] = data::split(data::TensorSamples(x, y), 0.5, 11);
  auto part_a = values_of(*a, {0, 1, 2, 3, 4}), part_b = values_of(*b, {0, 1, 2, 3, 4});
  EXPECT_EQ(values_of(*a2, {0, 1, 2, 3, 4}), part_a);
  std::vector<float> both = part_a;
  both.insert(both.end(), part_b.begin(), part_b.end());
  EXPECT_NE(both, values_of(data::TensorSamples(x, y), {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  std::sort(both.begin(), both.end());
  EXPECT_EQ(both, (std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST(UserData, NormalizeShiftsAndScalesEachChannel) {
  Tensor<float> x({1, 10, 3, 30}, {2, 1, 1, 2});  // two 1x1 images with 2 channels
  auto source = std::make_shared<data::TensorSamples>(x, Tensor<std::int32_t>({0, 1}));
  auto normalized = data::transformed(source, {data::normalize({1, 10}, {2, 5})});
  EXPECT_EQ(values_of(*normalized, {0, 1}), (std::vector<float>{0, 0, 1, 4}));
  expect_error<ShapeError>(
      [&] {
        data::transformed(source, {data::normalize({1, 2, 3}, {1})});
      },
      {"3 values", "2 channels"});
  expect_error<ValueError>([&] { data::normalize({0}, {0}); }, {"standard deviation 0"});
  expect_error<ValueError>([&] { data::normalize({0}, {-1}); }, {"positive"});
  expect_error<ValueError>([&] { data::normalize({std::nanf("")}, {1}); }, {"mean"});
}

TEST(UserData, RandomCropIsAWindowOfThePaddedImageKeyedByPassAndIndex) {
  // Four 3x3 one-channel images whose pixel (r, c) is 10·r + c + 100·i.
  std::vector<float> v;
  for (int i = 0; i < 4; ++i)
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c) v.push_back(float(100 * i + 10 * r + c + 1));
  auto source = std::make_shared<data::TensorSamples>(Tensor<float>(v, {4, 3, 3, 1}),
                                                      Tensor<std::int32_t>({0, 1, 2, 3}));
  auto cropped = data::transformed(source, {data::random_crop(2, 2, 1)});
  EXPECT_EQ(cropped->sample_shape(), (Shape{2, 2, 1}));
  std::set<std::vector<float>> windows;
  for (std::uint64_t pass = 0; pass < 40; ++pass) {
    auto w = values_of(*cropped, {1}, pass);
    ASSERT_EQ(w.size(), 4u);
    // A window of the zero-padded image: any non-zero pixel determines where it sits.
    for (int k = 0; k < 4; ++k) {
      if (w[std::size_t(k)] == 0) continue;
      int r = (int(w[std::size_t(k)]) - 101) / 10, c = (int(w[std::size_t(k)]) - 101) % 10;
      int top = r - k / 2, left = c - k % 2;
      for (int j = 0; j < 4; ++j) {
        int rr = top + j / 2, cc = left + j % 2;
        float expected = rr >= 0 && rr < 3 && cc >= 0 && cc < 3 ? float(101 + 10 * rr + cc) : 0;
        EXPECT_EQ(w[std::size_t(j)], expected) << "pass " << pass;
      }
    }
    windows.insert(w);
    // The same sample and pass give the same window in any batch.
    auto in_batch = values_of(*cropped, {3, 1, 0}, pass);
    EXPECT_EQ(std::vector<float>(in_batch.begin() + 4, in_batch.begin() + 8), w);
  }
  EXPECT_GT(windows.size(), 5u);  // 16 possible windows
  auto whole = data::transformed(source, {data::random_crop(3, 3)});
  EXPECT_EQ(values_of(*whole, {2}, 5), std::vector<float>(v.begin() + 18, v.begin() + 27));
  expect_error<ShapeError>([&] { data::transformed(source, {data::random_crop(4, 4)}); },
                           {"larger than the padded images"});
  auto flat = std::make_shared<data::TensorSamples>(Tensor<float>({1, 2}, {2, 1}),
                                                    Tensor<std::int32_t>({0, 1}));
  expect_error<ShapeError>([&] { data::transformed(flat, {data::random_crop(1, 1)}); },
                           {"random_crop", "[height, width, channels]"});
  expect_error<ValueError>([&] { data::random_crop(0, 2); }, {"at least 1x1"});
}

TEST(UserData, RandomFlipMirrorsAboutHalfTheSamples) {
  std::int64_t n = 400;
  std::vector<float> v;
  for (std::int64_t i = 0; i < n; ++i) v.insert(v.end(), {1, 2, 3, 4, 5, 6});  // [1, 3, 2]
  auto source = std::make_shared<data::TensorSamples>(
      Tensor<float>(v, {n, 1, 3, 2}), Tensor<std::int32_t>(std::vector<std::int32_t>(n, 0), {n}));
  auto flipped = data::transformed(source, {data::random_flip()});
  std::vector<std::int64_t> all(static_cast<std::size_t>(n));
  std::iota(all.begin(), all.end(), 0);
  auto out = values_of(*flipped, all, 9);
  int mirrored = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    std::vector<float> s(out.begin() + 6 * i, out.begin() + 6 * i + 6);
    bool same = s == std::vector<float>{1, 2, 3, 4, 5, 6};
    bool mirror = s == std::vector<float>{5, 6, 3, 4, 1, 2};  // pixels reversed, channels kept
    EXPECT_TRUE(same || mirror) << i;
    mirrored += mirror;
  }
  EXPECT_GT(mirrored, 150);
  EXPECT_LT(mirrored, 250);
  EXPECT_NE(values_of(*flipped, all, 10), out);  // another pass, other flips
  EXPECT_EQ(values_of(*flipped, all, 9), out);
  // Two flips in one pipeline draw apart: a quarter of the samples end up mirrored by the
  // first alone, a quarter by the second alone (not none, as with shared draws).
  auto twice = data::transformed(source, {data::random_flip(), data::random_flip()});
  auto out2 = values_of(*twice, all, 9);
  int mirrored2 = 0;
  for (std::int64_t i = 0; i < n; ++i)
    mirrored2 += std::vector<float>(out2.begin() + 6 * i, out2.begin() + 6 * i + 6) ==
                 std::vector<float>{5, 6, 3, 4, 1, 2};
  EXPECT_GT(mirrored2, 150);
  EXPECT_LT(mirrored2, 250);
}

TEST(UserData, EpochsKeyTransformsByEpochAndShardsSeeTheSameSamples) {
  auto [x, y] = blobs(64, 4);
  auto images = reshape(x, {64, 1, 2, 1});
  auto source = data::transformed(std::make_shared<data::TensorSamples>(images, y),
                                  {data::random_crop(1, 2, 1)});
  data::Dataset dataset(source, source, 16, 5);
  auto epochs = dataset.training_epochs(2);
  auto whole = epochs[0].batch(0).data.scalars();
  auto shard = epochs[0].shard(1, 2).batch(0).data.scalars();
  EXPECT_EQ(std::vector<float>(whole.begin() + 16, whole.end()), shard);
  auto again = dataset.training_epochs(1, 0)[0].batch(0).data.scalars();
  EXPECT_EQ(again, whole);  // a resumed run sees the same
}

TEST(UserData, NpyRoundTripsEveryDtype) {
  auto dir = ct::testing::scratch_directory("npy");
  std::vector<AnyTensor> tensors = {Tensor<float>({1.5f, -2, 3, 4, 5, 6}, {2, 3}),
                                    Tensor<double>({0.25, 1e300}),
                                    Tensor<std::int32_t>({-7}, {1, 1, 1}),
                                    Tensor<std::int64_t>(std::int64_t(1) << 50),
                                    Tensor<bool>({true, false, true}),
                                    Tensor<float>(std::vector<float>{}, {0, 4})};
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    auto path = dir / ("t" + std::to_string(i) + ".npy");
    io::write_npy(path, tensors[i]);
    AnyTensor back = io::read_npy(path);
    EXPECT_EQ(back.dtype(), tensors[i].dtype()) << i;
    EXPECT_EQ(back.shape(), tensors[i].shape()) << i;
    EXPECT_EQ(to_string(back), to_string(tensors[i])) << i;
    auto bytes = io::encode_npy(tensors[i]);
    EXPECT_EQ((bytes.size() - (std::size_t(back.scalar_count()) * dtype_size(back.dtype()))) % 64,
              0u);  // the data starts on a 64-byte boundary
  }
  // A transposed view is written in its logical order.
  auto t = transpose(Tensor<float>({1, 2, 3, 4, 5, 6}, {2, 3}));
  EXPECT_EQ(to_string(io::parse_npy(io::encode_npy(t))), to_string(t));
}

namespace {
/// .npy bytes with the given header dict and data.
std::vector<std::uint8_t> npy(const std::string& dict, std::vector<std::uint8_t> data,
                              int major = 1) {
  std::string header = dict + "\n";
  std::vector<std::uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', std::uint8_t(major), 0};
  out.push_back(std::uint8_t(header.size()));
  out.push_back(0);
  if (major > 1) out.insert(out.end(), {0, 0});
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}
}  // namespace

TEST(UserData, NpyReadsOtherByteOrdersWidthsAndFortranOrder) {
  // Big-endian int16 [2]: 258 and -2.
  auto be = io::parse_npy(
      npy("{'descr': '>i2', 'fortran_order': False, 'shape': (2,), }", {0x01, 0x02, 0xff, 0xfe}));
  EXPECT_EQ(be.dtype(), DType::int32);
  EXPECT_EQ(Tensor<std::int32_t>(be).scalars(), (std::vector<std::int32_t>{258, -2}));
  auto u8 = io::parse_npy(
      npy("{'shape': (3,), 'fortran_order': False, 'descr': '|u1'}", {0, 128, 255}, 2));
  EXPECT_EQ(Tensor<std::int32_t>(u8).scalars(), (std::vector<std::int32_t>{0, 128, 255}));
  auto u32 = io::parse_npy(
      npy("{'descr': '<u4', 'fortran_order': False, 'shape': (1,), }", {0xff, 0xff, 0xff, 0xff}));
  EXPECT_EQ(Tensor<std::int64_t>(u32).scalars(), (std::vector<std::int64_t>{4294967295}));
  // Fortran order: the 2x3 matrix [[1, 2, 3], [4, 5, 6]] stored column by column.
  std::vector<std::uint8_t> column_major;
  for (float v : {1.0f, 4.0f, 2.0f, 5.0f, 3.0f, 6.0f}) {
    std::uint32_t bits;
    std::memcpy(&bits, &v, 4);
    for (int k = 0; k < 4; ++k) column_major.push_back(std::uint8_t(bits >> (8 * k)));
  }
  auto f = io::parse_npy(
      npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", column_major));
  EXPECT_EQ(f.shape(), (Shape{2, 3}));
  EXPECT_EQ(Tensor<float>(f).scalars(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

TEST(UserData, HostileNpyFilesAreRefusedWithTheProblem) {
  std::string f4 = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  std::vector<std::uint8_t> eight(8, 0);
  auto refused = [](std::vector<std::uint8_t> bytes, std::initializer_list<std::string> words) {
    expect_error<IOError>([&] { io::parse_npy(bytes, "x.npy"); }, words);
  };
  refused({'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0}, {"x.npy", "bad magic"});
  refused({0x93, 'N', 'U'}, {"bad magic"});
  refused(npy(f4, eight, 4), {"version 4.0"});
  refused(npy(f4, {0, 0, 0, 0}), {"promises 2 values", "holds 4"});
  refused(npy(f4, std::vector<std::uint8_t>(12, 0)), {"holds 12"});
  auto lying = npy(f4, eight);
  lying[8] = 0xff;  // a header length past the end
  refused(lying, {"claims 255 bytes"});
  refused(npy("{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", {0, 0, 0, 0}),
          {"'<f2' is not supported", "astype"});
  refused(npy("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", eight),
          {"'|O' is not supported"});
  refused(npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", eight),
          {"structured dtype"});
  refused(
      npy("{'descr': '<u8', 'fortran_order': False, 'shape': (1,), }", {0, 0, 0, 0, 0, 0, 0, 0x80}),
      {"past int64's range"});
  refused(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }",
              eight),
          {"implausibly large"});
  refused(
      npy("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 1099511627776, 1099511627776), }",
          {}),
      {"implausibly large"});
  refused(npy("{'descr': '<f4' 'fortran_order': False, 'shape': (2,), }", eight), {"',' or '}'"});
  refused(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2 2), }",
              std::vector<std::uint8_t>(16, 0)),
          {"',' or ')'"});
  refused(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x", eight),
          {"text after the dictionary"});
  refused(
      npy("{'descr': '<f99999999999999999999', 'fortran_order': False, 'shape': (2,), }", eight),
      {"is not supported"});
  refused(npy("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }", eight),
          {"True or False"});
  refused(npy("{'descr': '<f4', 'shape': (2,), }", eight), {"lacks one of"});
  refused(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}", eight),
          {"unknown key 'extra'"});
  refused(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,", eight), {"ends early"});
  refused(
      npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", {0, 0, 0, 0}),
      {"more than 8 dimensions"});
  expect_error<IOError>([&] { io::read_npy("/nonexistent/x.npy"); }, {"/nonexistent/x.npy"});
}

TEST(UserData, NpyAgreesWithNumPy) {
  // Debian's interpreter, which sees python3-numpy when it is installed.
  if (std::system("/usr/bin/python3 -c 'import numpy' 2>/dev/null") != 0)
    GTEST_SKIP() << "no python3-numpy at /usr/bin/python3";
  auto dir = ct::testing::scratch_directory("npy-numpy");
  io::write_npy(dir / "ours.npy", Tensor<float>({1, 2, 3, 4, 5, 6}, {3, 2}));
  std::string script =
      "import numpy as n, sys; d = sys.argv[1]; a = n.load(d + '/ours.npy'); "
      "assert a.dtype == n.float32 and a.shape == (3, 2) and a[2, 1] == 6, a; "
      "n.save(d + '/theirs.npy', n.asfortranarray(n.arange(12, dtype='>i8').reshape(3, 4)))";
  ASSERT_EQ(std::system(("/usr/bin/python3 -c \"" + script + "\" " + dir.string()).c_str()), 0);
  auto theirs = Tensor<std::int64_t>(io::read_npy(dir / "theirs.npy"));
  EXPECT_EQ(theirs.shape(), (Shape{3, 4}));
  EXPECT_EQ(theirs.at({2, 1}), 9);
}

TEST(TensorIndexing, SubscriptsAndRangesAlongTheFirstAxis) {
  Tensor<float> x({1, 2, 3, 4, 5, 6}, {3, 2});
  EXPECT_EQ(x[0].scalars(), (std::vector<float>{1, 2}));
  EXPECT_EQ(x[-1].scalars(), (std::vector<float>{5, 6}));
  EXPECT_EQ(x[1][0].scalar(), 3);
  EXPECT_EQ(x[1].shape(), (Shape{2}));
  EXPECT_EQ((x[{1, 3}]).scalars(), (std::vector<float>{3, 4, 5, 6}));
  EXPECT_EQ((x[{std::nullopt, std::nullopt, -1}]).scalars(),
            (std::vector<float>{5, 6, 3, 4, 1, 2}));
  expect_error<IndexError>([&] { x[3]; }, {"x[3]", "[3, 2]"});
  expect_error<IndexError>([&] { x[-4]; }, {"x[-4]"});
  expect_error<IndexError>([&] { x[0][0][0]; }, {"scalar"});
}

TEST(TensorIndexing, GradientsFlowThroughIndexing) {
  auto x = ct::testing::sample({4, 3}, -1, 1);
  auto check = check_gradients([](const Tensor<double>& t) { return t[1] * t[-1]; }, x);
  EXPECT_TRUE(check.ok) << check.message;
  check = check_gradients([](const Tensor<double>& t) { return sum(exp(t[{1, 4, 2}])); }, x);
  EXPECT_TRUE(check.ok) << check.message;
}

TEST(TensorPrinting, LeavesTheStreamsFormattingAsItFoundIt) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(3) << std::hex;
  out << Tensor<float>({1.0f, 2.5f}) << ' ' << 1.0 << ' ' << 255;
  EXPECT_EQ(out.str(), "[1.0, 2.5] 1.000 ff");
  EXPECT_EQ(out.precision(), 3);
}

namespace {
struct One {
  Tensor<float> w = Tensor<float>({0.0f});
  CT_FIELDS(w)
};
}  // namespace

TEST(Schedules, ScheduledOptimizerSetsTheRateOfEachStep) {
  One model, grad;
  grad.w = Tensor<float>({1.0f});
  Scheduled optimizer(SGD<One>(model), StepSchedule{1.0, 0.5, 2});
  std::vector<double> rates;
  for (int i = 0; i < 5; ++i) {
    optimizer.update(model, grad);
    rates.push_back(optimizer.options.learning_rate);
  }
  EXPECT_EQ(rates, (std::vector<double>{1, 1, 0.5, 0.5, 0.25}));
  EXPECT_FLOAT_EQ(model.w.scalar(), -3.25f);
  Scheduled broken(SGD<One>(model),
                   [](std::int64_t step) { return step > 1 ? std::nan("") : 0.1; });
  broken.update(model, grad);
  expect_error<ValueError>([&] { broken.update(model, grad); }, {"nan", "step 2"});
  EXPECT_FLOAT_EQ(model.w.scalar(), -3.35f);  // the refused step left the model alone
}

TEST(Schedules, FitReportsTheRateOfAScheduledOptimizer) {
  auto [x, y] = blobs(64, 1);
  data::Dataset dataset(data::TensorSamples(x, y), data::TensorSamples(x, y), 16);
  TwoLayer model;
  Scheduled optimizer(SGD<TwoLayer>(model), [](std::int64_t step) { return 0.01 * double(step); });
  auto history = train::fit(model, optimizer, dataset, {.epochs = 2, .progress = false});
  EXPECT_DOUBLE_EQ(history[0].learning_rate, 0.04);  // 4 steps an epoch
  EXPECT_DOUBLE_EQ(history[1].learning_rate, 0.08);
}
