#include "core/page_token.hpp"

#include "core/crypto.hpp"

namespace airfleet::core {

namespace {
constexpr std::size_t mac_size = 16;  // truncated HMAC-SHA256: ample against forgery

// Length-prefixed fields: "<len>:<bytes>" repeated.
std::string pack(const std::vector<std::string>& fields) {
  std::string out;
  for (const auto& f : fields) {
    out += std::to_string(f.size());
    out += ':';
    out += f;
  }
  return out;
}
std::optional<std::vector<std::string>> unpack(std::string_view text) {
  std::vector<std::string> fields;
  while (!text.empty()) {
    auto colon = text.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon > 9) return std::nullopt;
    std::size_t len = 0;
    for (char c : text.substr(0, colon)) {
      if (c < '0' || c > '9') return std::nullopt;
      len = len * 10 + static_cast<std::size_t>(c - '0');
    }
    text.remove_prefix(colon + 1);
    if (len > text.size()) return std::nullopt;
    fields.emplace_back(text.substr(0, len));
    text.remove_prefix(len);
  }
  return fields;
}
}  // namespace

std::string page_token_codec::encode(std::string_view query, const std::vector<std::string>& fields) const {
  std::string body = pack(fields);
  std::string signed_text = std::string(query) + '\n' + body;
  auto mac = hmac_sha256(secret_, signed_text);
  return base64url_encode(std::string(as_view(mac).substr(0, mac_size)) + body);
}

std::optional<std::vector<std::string>> page_token_codec::decode(std::string_view query,
                                                                 std::string_view token) const {
  if (token.size() > 4096) return std::nullopt;
  auto raw = base64url_decode(token);
  if (!raw || raw->size() < mac_size) return std::nullopt;
  std::string_view mac = std::string_view(*raw).substr(0, mac_size);
  std::string_view body = std::string_view(*raw).substr(mac_size);
  auto expected = hmac_sha256(secret_, std::string(query) + '\n' + std::string(body));
  if (!constant_time_equal(mac, as_view(expected).substr(0, mac_size))) return std::nullopt;
  return unpack(body);
}

}  // namespace airfleet::core
