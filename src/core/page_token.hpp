// Opaque pagination tokens. A token names where the next page starts (a
// keyset position, so it stays valid while others insert) and which query it
// belongs to, and carries an HMAC under a server secret, so a forged or
// edited token is rejected instead of being trusted.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace airfleet::core {

class page_token_codec {
 public:
  explicit page_token_codec(std::string secret) : secret_(std::move(secret)) {}
  // `query` identifies the listing (operation and filters); `fields` is the position.
  std::string encode(std::string_view query, const std::vector<std::string>& fields) const;
  // nullopt when the token is malformed, forged, or belongs to another query.
  std::optional<std::vector<std::string>> decode(std::string_view query, std::string_view token) const;

 private:
  std::string secret_;
};

}  // namespace airfleet::core
