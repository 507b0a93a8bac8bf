#include "archive/backoff.h"

#include <gtest/gtest.h>

namespace strata::archive {
namespace {

using std::chrono::milliseconds;

TEST(BackoffTest, DoublesWithJitterUpToTheCap) {
  BackoffPolicy policy{milliseconds(100), milliseconds(1000)};
  std::minstd_rand rng(42);
  for (int round = 0; round < 200; ++round) {
    EXPECT_GE(BackoffDelay(policy, 1, rng), milliseconds(50));
    EXPECT_LE(BackoffDelay(policy, 1, rng), milliseconds(100));
    EXPECT_GE(BackoffDelay(policy, 3, rng), milliseconds(200));
    EXPECT_LE(BackoffDelay(policy, 3, rng), milliseconds(400));
    EXPECT_GE(BackoffDelay(policy, 10, rng), milliseconds(500));
    EXPECT_LE(BackoffDelay(policy, 10, rng), milliseconds(1000));
    // Huge failure counts neither overflow nor exceed the cap.
    EXPECT_LE(BackoffDelay(policy, 1000000, rng), milliseconds(1000));
    EXPECT_GE(BackoffDelay(policy, 1000000, rng), milliseconds(500));
  }
}

TEST(BackoffTest, JitterSpreadsTheDelays) {
  BackoffPolicy policy{milliseconds(1000), milliseconds(1000)};
  std::minstd_rand rng(7);
  milliseconds low = BackoffDelay(policy, 1, rng);
  milliseconds high = low;
  for (int i = 0; i < 100; ++i) {
    milliseconds d = BackoffDelay(policy, 1, rng);
    low = std::min(low, d);
    high = std::max(high, d);
  }
  EXPECT_GT(high - low, milliseconds(200));
}

}  // namespace
}  // namespace strata::archive
