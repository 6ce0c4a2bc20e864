// Errors say what the user did wrong, in the user's terms.
#include "op_check.hpp"

using namespace ct;
using namespace ct::testing;

TEST(Messages, ConvolutionOfASingleImageNamesTheMissingBatchAxis) {
  Tensor<float> image = zeros<float>({28, 28, 1}), filter = zeros<float>({3, 3, 1, 8});
  expect_error<ShapeError>([&] { conv2d(image, filter); },
                           {"conv2d", "[28, 28, 1]", "[N, H, W, C]", "expand_dims"});
  try {
    conv2d(image, filter);
  } catch (const ShapeError& e) {
    EXPECT_EQ(std::string(e.what()).find("-1"), std::string::npos) << e.what();
  }
  Conv2D<float> layer({3, 3, 1, 8});
  expect_error<ShapeError>([&] { layer(image); }, {"rank 4"});
}

TEST(Messages, ScalarOfAnUndefinedTensorSaysItIsUndefined) {
  Tensor<float> nothing;
  expect_error<ValueError>([&] { nothing.scalar(); }, {"scalar", "undefined"});
  expect_error<ShapeError>([] { zeros<float>({2, 3}).scalar(); }, {"[2, 3]", "6 values"});
}

TEST(Messages, AnAllocationTooLargeForTheMachineIsAMemoryError) {
  expect_error<MemoryError>([] { zeros<float>({std::int64_t(1) << 42}); },
                            {"out of memory", "[4398046511104]", "16384 GiB"});
}
