#include "auth/rate_limiter.hpp"

#include <gtest/gtest.h>

namespace airfleet::auth {

TEST(rate_limiter, allows_the_burst_then_refills_with_time) {
  core::manual_clock clock(core::from_epoch_millis(0));
  rate_limiter limiter(clock, 2.0, 2.0);
  EXPECT_TRUE(limiter.try_acquire("a"));
  EXPECT_TRUE(limiter.try_acquire("a"));
  EXPECT_FALSE(limiter.try_acquire("a"));
  EXPECT_TRUE(limiter.try_acquire("b"));  // buckets are per key
  clock.advance(std::chrono::milliseconds(500));
  EXPECT_TRUE(limiter.try_acquire("a"));
  EXPECT_FALSE(limiter.try_acquire("a"));
}

}  // namespace airfleet::auth
