// The thread count the CPU kernels use.
#include "op_check.hpp"

using namespace ct;
using namespace ct::testing;

TEST(Threads, CountCanBeSetAndZeroIsRefused) {
  int before = thread_count();
  set_thread_count(1);
  EXPECT_EQ(thread_count(), 1);
  Tensor<float> a = ones<float>({64, 64});
  EXPECT_FLOAT_EQ(matmul(a, a).at({3, 5}), 64.0f);  // kernels run on one thread
  set_thread_count(before);
  EXPECT_EQ(thread_count(), before);
  expect_error<ValueError>([] { set_thread_count(0); }, {"set_thread_count", "at least 1"});
}
