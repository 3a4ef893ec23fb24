// Hashes, MACs, encodings and randomness, on OpenSSL.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace airfleet::core {

using sha256_digest = std::array<unsigned char, 32>;

sha256_digest sha256(std::string_view data);
std::string sha256_hex(std::string_view data);
sha256_digest hmac_sha256(std::string_view key, std::string_view data);
std::string hmac_sha1(std::string_view key, std::string_view data);  // raw 20 bytes

std::string to_hex(const unsigned char* data, std::size_t size);
inline std::string to_hex(const sha256_digest& d) { return to_hex(d.data(), d.size()); }
inline std::string_view as_view(const sha256_digest& d) {
  return {reinterpret_cast<const char*>(d.data()), d.size()};
}

std::string base64_encode(std::string_view data);
std::optional<std::string> base64_decode(std::string_view text);
// URL-safe alphabet, no padding (for opaque tokens).
std::string base64url_encode(std::string_view data);
std::optional<std::string> base64url_decode(std::string_view text);

// Constant-time comparison for secrets and signatures.
bool constant_time_equal(std::string_view a, std::string_view b);

std::string random_bytes(std::size_t count);
// A random RFC 4122 version-4 UUID in its textual form.
std::string random_uuid();
// `count` characters from `alphabet`, uniformly.
std::string random_string(std::size_t count, std::string_view alphabet);

}  // namespace airfleet::core
