#include "agent/backoff.hpp"

#include <gtest/gtest.h>

namespace airfleet::agent {
namespace {

using std::chrono::milliseconds;

TEST(Backoff, DoublesWithJitterUpToTheMaximum) {
  backoff b(milliseconds(100), milliseconds(1000), 42);
  std::int64_t ceiling = 100;
  for (int i = 0; i < 10; ++i) {
    auto d = b.next().count();
    EXPECT_GE(d, ceiling / 2) << i;
    EXPECT_LE(d, ceiling) << i;
    ceiling = std::min<std::int64_t>(ceiling * 2, 1000);
  }
  EXPECT_EQ(b.failures(), 10);
  b.reset();
  EXPECT_LE(b.next().count(), 100);
}

TEST(Backoff, TwoDevicesDoNotRetryInLockstep) {
  backoff a(milliseconds(1000), milliseconds(60000), 1), b(milliseconds(1000), milliseconds(60000), 2);
  int same = 0;
  for (int i = 0; i < 8; ++i) same += a.next() == b.next();
  EXPECT_LT(same, 8);
}

}  // namespace
}  // namespace airfleet::agent
