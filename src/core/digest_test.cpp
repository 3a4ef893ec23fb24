#include "core/digest.hpp"

#include "core/crypto.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>

namespace airfleet::core {
namespace {

std::string hex_digest(hasher::kind k, std::string_view data) {
  hasher h(k);
  h.update(data);
  std::string raw = h.finish_raw();
  return to_hex(reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
}

// Bit at a time, straight from the definition: the reference the tables must match.
std::uint32_t reference_crc(std::uint32_t reflected_polynomial, std::string_view data) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : data) {
    crc ^= byte;
    for (int bit = 0; bit < 8; ++bit)
      crc = (crc & 1) ? (crc >> 1) ^ reflected_polynomial : crc >> 1;
  }
  return crc ^ 0xFFFFFFFFu;
}

std::string big_endian_hex(std::uint32_t v) {
  const unsigned char b[4] = {static_cast<unsigned char>(v >> 24),
                              static_cast<unsigned char>(v >> 16),
                              static_cast<unsigned char>(v >> 8), static_cast<unsigned char>(v)};
  return to_hex(b, 4);
}

TEST(digest, crc32_check_values) {
  EXPECT_EQ(hex_digest(hasher::kind::crc32, "123456789"), "cbf43926");
  EXPECT_EQ(hex_digest(hasher::kind::crc32, ""), "00000000");
  EXPECT_EQ(hex_digest(hasher::kind::crc32, "The quick brown fox jumps over the lazy dog"),
            "414fa339");
}

TEST(digest, crc32c_check_values_and_rfc3720_vectors) {
  EXPECT_EQ(hex_digest(hasher::kind::crc32c, "123456789"), "e3069283");
  EXPECT_EQ(hex_digest(hasher::kind::crc32c, ""), "00000000");
  std::string zeros(32, '\0'), ones(32, '\xff'), up, down;
  for (int i = 0; i < 32; ++i) {
    up += static_cast<char>(i);
    down += static_cast<char>(31 - i);
  }
  EXPECT_EQ(hex_digest(hasher::kind::crc32c, zeros), "8a9136aa");
  EXPECT_EQ(hex_digest(hasher::kind::crc32c, ones), "62a8ab43");
  EXPECT_EQ(hex_digest(hasher::kind::crc32c, up), "46dd794e");
  EXPECT_EQ(hex_digest(hasher::kind::crc32c, down), "113fdb5c");
}

TEST(digest, message_digests_of_abc) {
  EXPECT_EQ(hex_digest(hasher::kind::md5, "abc"), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(hex_digest(hasher::kind::sha1, "abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(hex_digest(hasher::kind::sha256, "abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hex_digest(hasher::kind::md5, ""), "d41d8cd98f00b204e9800998ecf8427e");
}

TEST(digest, crc_tables_match_the_bitwise_definition_at_every_length) {
  std::mt19937 rng(7);
  std::string data;
  for (int i = 0; i < 300; ++i) data += static_cast<char>(rng());
  for (std::size_t n = 0; n <= data.size(); ++n) {
    std::string_view part(data.data(), n);
    ASSERT_EQ(hex_digest(hasher::kind::crc32, part),
              big_endian_hex(reference_crc(0xEDB88320u, part)))
        << n;
    ASSERT_EQ(hex_digest(hasher::kind::crc32c, part),
              big_endian_hex(reference_crc(0x82F63B78u, part)))
        << n;
  }
}

TEST(digest, incremental_equals_one_shot_for_every_kind) {
  std::mt19937 rng(11);
  std::string data;
  for (int i = 0; i < 100'003; ++i) data += static_cast<char>(rng());
  for (auto k : {hasher::kind::md5, hasher::kind::sha1, hasher::kind::sha256, hasher::kind::crc32,
                 hasher::kind::crc32c}) {
    hasher h(k);
    std::size_t at = 0;
    while (at < data.size()) {
      std::size_t n =
          std::min<std::size_t>(rng() % 5000, data.size() - at);  // includes empty updates
      h.update(std::string_view(data).substr(at, n));
      at += n;
    }
    std::string raw = h.finish_raw();
    EXPECT_EQ(to_hex(reinterpret_cast<const unsigned char*>(raw.data()), raw.size()),
              hex_digest(k, data))
        << static_cast<int>(k);
  }
}

TEST(digest, raw_digest_sizes) {
  EXPECT_EQ(hasher(hasher::kind::md5).finish_raw().size(), 16u);
  EXPECT_EQ(hasher(hasher::kind::sha1).finish_raw().size(), 20u);
  EXPECT_EQ(hasher(hasher::kind::sha256).finish_raw().size(), 32u);
  EXPECT_EQ(hasher(hasher::kind::crc32).finish_raw().size(), 4u);
  EXPECT_EQ(hasher(hasher::kind::crc32c).finish_raw().size(), 4u);
}

}  // namespace
}  // namespace airfleet::core
