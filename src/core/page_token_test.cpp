#include "core/page_token.hpp"

#include <gtest/gtest.h>

namespace airfleet::core {

TEST(page_token, round_trips_fields_including_separators) {
  page_token_codec codec("secret");
  std::vector<std::string> fields = {"a:b", "", "12:3"};
  auto token = codec.encode("list-things", fields);
  auto back = codec.decode("list-things", token);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, fields);
}

TEST(page_token, rejects_forged_edited_and_foreign_tokens) {
  page_token_codec codec("secret");
  auto token = codec.encode("list-things", {"dev1"});
  EXPECT_FALSE(codec.decode("list-thing-groups", token).has_value());
  EXPECT_FALSE(page_token_codec("other").decode("list-things", token).has_value());
  std::string edited = token;
  edited.back() = edited.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(codec.decode("list-things", edited).has_value());
  EXPECT_FALSE(codec.decode("list-things", "not a token!").has_value());
  EXPECT_FALSE(codec.decode("list-things", "").has_value());
}

}  // namespace airfleet::core
