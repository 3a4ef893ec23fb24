#include "core/crypto.hpp"

#include <gtest/gtest.h>

namespace airfleet::core {

TEST(crypto, sha256_of_empty_string_is_the_well_known_value) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(crypto, hmac_sha256_matches_rfc4231_case_2) {
  auto mac = hmac_sha256("Jefe", "what do ya want for nothing?");
  EXPECT_EQ(to_hex(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(crypto, base64_round_trips_and_rejects_junk) {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    EXPECT_EQ(base64_decode(base64_encode(s)).value(), s);
    EXPECT_EQ(base64url_decode(base64url_encode(s)).value(), s);
  }
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_FALSE(base64_decode("Zm8").has_value());
  EXPECT_FALSE(base64_decode("Z!8=").has_value());
  EXPECT_FALSE(base64url_decode("Zm9=").has_value());
}

TEST(crypto, random_uuid_has_version_4_shape) {
  auto u = random_uuid();
  ASSERT_EQ(u.size(), 36u);
  EXPECT_EQ(u[14], '4');
  EXPECT_NE(random_uuid(), u);
}

TEST(crypto, random_string_stays_in_alphabet) {
  auto s = random_string(200, "AB");
  EXPECT_EQ(s.size(), 200u);
  EXPECT_EQ(s.find_first_not_of("AB"), std::string::npos);
}

}  // namespace airfleet::core
