#include "core/strings.hpp"

#include <gtest/gtest.h>

namespace airfleet::core {

TEST(strings, uri_encode_leaves_only_unreserved_characters) {
  EXPECT_EQ(uri_encode("a b+c=d~(1)/x"), "a%20b%2Bc%3Dd~%281%29%2Fx");
  EXPECT_EQ(uri_encode("/a b/", true), "/a%20b/");
  EXPECT_EQ(uri_encode("\xe2\x82\xac"), "%E2%82%AC");
}

TEST(strings, uri_decode_handles_escapes_and_rejects_broken_ones) {
  EXPECT_EQ(uri_decode("a%20b%2fc+").value(), "a b/c+");
  EXPECT_FALSE(uri_decode("%2").has_value());
  EXPECT_FALSE(uri_decode("%zz").has_value());
  EXPECT_FALSE(uri_decode("abc%").has_value());
}

TEST(strings, collapse_spaces_trims_and_folds) {
  EXPECT_EQ(collapse_spaces("  a   b \t c  "), "a b c");
}

TEST(strings, split_keeps_empty_parts) {
  auto parts = split("a,,b", ',');
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[1], "");
}

}  // namespace airfleet::core

namespace airfleet::core {

TEST(strings, all_digits_needs_at_least_one_digit_and_nothing_else) {
  EXPECT_TRUE(all_digits("0123456789"));
  EXPECT_FALSE(all_digits(""));
  EXPECT_FALSE(all_digits("12a"));
  EXPECT_FALSE(all_digits("-1"));
  EXPECT_EQ(digits_value("2026"), 2026);
}

}  // namespace airfleet::core
