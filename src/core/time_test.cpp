#include "core/time.hpp"

#include <gtest/gtest.h>

namespace airfleet::core {

TEST(time, amz_date_round_trips) {
  auto t = parse_amz_date("20261126T133607Z");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(format_amz_date(*t), "20261126T133607Z");
  EXPECT_EQ(format_iso8601(*t), "2026-11-26T13:36:07Z");
}

TEST(time, amz_date_rejects_malformed_text) {
  EXPECT_FALSE(parse_amz_date("20261126T133607").has_value());
  EXPECT_FALSE(parse_amz_date("20261326T133607Z").has_value());
  EXPECT_FALSE(parse_amz_date("2026112xT133607Z").has_value());
  EXPECT_FALSE(parse_amz_date("20261126T253607Z").has_value());
}

TEST(time, manual_clock_moves_only_when_told) {
  manual_clock c(from_epoch_millis(1000));
  EXPECT_EQ(to_epoch_millis(c.now()), 1000);
  c.advance(std::chrono::seconds(2));
  EXPECT_EQ(to_epoch_millis(c.now()), 3000);
}

}  // namespace airfleet::core
