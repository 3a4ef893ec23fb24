#include "policy/values.hpp"

#include "core/strings.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>

namespace airfleet::policy::detail {

namespace {

using core::all_digits;
int number(std::string_view s) { return core::digits_value(s); }

// Reads `digits` digits at `pos`; -1 when they are not there.
int fixed_digits(std::string_view s, std::size_t pos, std::size_t digits) {
  if (pos + digits > s.size() || !all_digits(s.substr(pos, digits))) return -1;
  return number(s.substr(pos, digits));
}

struct parsed_ip {
  ip_address address;
  bool mapped = false;  // ::ffff:a.b.c.d, still in its IPv6 form
};

std::optional<parsed_ip> parse_ip_raw(std::string_view text) {
  char buffer[INET6_ADDRSTRLEN];
  if (text.empty() || text.size() >= sizeof buffer) return std::nullopt;
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  parsed_ip result;
  if (text.find(':') == std::string_view::npos) {
    if (inet_pton(AF_INET, buffer, result.address.bytes.data()) != 1) return std::nullopt;
    return result;
  }
  if (inet_pton(AF_INET6, buffer, result.address.bytes.data()) != 1) return std::nullopt;
  result.address.v6 = true;
  static constexpr std::uint8_t mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  result.mapped = std::memcmp(result.address.bytes.data(), mapped_prefix, sizeof mapped_prefix) == 0;
  return result;
}

ip_address unmap(const ip_address& mapped) {
  ip_address v4;
  std::memcpy(v4.bytes.data(), mapped.bytes.data() + 12, 4);
  return v4;
}

}  // namespace

std::optional<core::time_point> parse_date(std::string_view text) {
  using namespace std::chrono;
  if (all_digits(text)) {
    if (text.size() > 12) return std::nullopt;  // beyond year 33,000
    std::int64_t seconds = 0;
    for (char c : text) seconds = seconds * 10 + (c - '0');
    return core::time_point{std::chrono::seconds{seconds}};
  }
  int y = fixed_digits(text, 0, 4), mo = fixed_digits(text, 5, 2), d = fixed_digits(text, 8, 2);
  if (y < 0 || mo < 0 || d < 0 || text[4] != '-' || text[7] != '-') return std::nullopt;
  year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  core::time_point result{sys_days{ymd}};
  if (text.size() == 10) return result;

  if (text[10] != 'T' && text[10] != 't') return std::nullopt;
  int h = fixed_digits(text, 11, 2), mi = fixed_digits(text, 14, 2);
  if (h < 0 || mi < 0 || text[13] != ':' || h > 23 || mi > 59) return std::nullopt;
  result += hours{h} + minutes{mi};
  std::size_t pos = 16;
  if (pos < text.size() && text[pos] == ':') {
    int s = fixed_digits(text, pos + 1, 2);
    if (s < 0 || s > 60) return std::nullopt;
    result += seconds{s};
    pos += 3;
    if (pos < text.size() && (text[pos] == '.' || text[pos] == ',')) {
      std::size_t first = ++pos;
      std::int64_t nanos = 0;
      int scale = 0;
      while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
        if (scale < 9) {
          nanos = nanos * 10 + (text[pos] - '0');
          ++scale;
        }
        ++pos;
      }
      if (pos == first) return std::nullopt;
      for (; scale < 9; ++scale) nanos *= 10;
      result += duration_cast<core::time_point::duration>(nanoseconds{nanos});
    }
  }
  if (pos == text.size()) return result;  // no zone: UTC, as AWS reads it
  char zone = text[pos];
  if ((zone == 'Z' || zone == 'z') && pos + 1 == text.size()) return result;
  if (zone != '+' && zone != '-') return std::nullopt;
  int oh = fixed_digits(text, pos + 1, 2);
  if (oh < 0 || oh > 23) return std::nullopt;
  std::size_t after = pos + 3;
  int om = 0;
  if (after < text.size()) {
    if (text[after] == ':') ++after;
    om = fixed_digits(text, after, 2);
    if (om < 0 || om > 59 || after + 2 != text.size()) return std::nullopt;
  }
  minutes offset = hours{oh} + minutes{om};
  return zone == '+' ? result - offset : result + offset;
}

std::optional<double> parse_number(std::string_view text) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty()) return std::nullopt;
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || !std::isfinite(value)) return std::nullopt;
  return value;
}

std::optional<bool> parse_bool(std::string_view text) {
  auto lower_equals = [&](std::string_view word) {
    if (text.size() != word.size()) return false;
    for (std::size_t i = 0; i < word.size(); ++i)
      if ((text[i] | 0x20) != word[i]) return false;
    return true;
  };
  if (lower_equals("true")) return true;
  if (lower_equals("false")) return false;
  return std::nullopt;
}

std::optional<ip_address> parse_ip(std::string_view text) {
  auto parsed = parse_ip_raw(text);
  if (!parsed) return std::nullopt;
  return parsed->mapped ? unmap(parsed->address) : parsed->address;
}

std::optional<ip_network> parse_network(std::string_view text) {
  std::size_t slash = text.find('/');
  auto parsed = parse_ip_raw(text.substr(0, slash));
  if (!parsed) return std::nullopt;
  ip_network network{parsed->address, parsed->address.v6 ? 128 : 32};
  if (slash != std::string_view::npos) {
    std::string_view digits = text.substr(slash + 1);
    if (!all_digits(digits) || digits.size() > 3) return std::nullopt;
    network.prefix_length = number(digits);
    if (network.prefix_length > (parsed->address.v6 ? 128 : 32)) return std::nullopt;
  }
  if (parsed->mapped && network.prefix_length >= 96) {
    network.base = unmap(parsed->address);
    network.prefix_length -= 96;
  }
  return network;
}

bool ip_network::contains(const ip_address& address) const {
  if (address.v6 != base.v6) return false;
  int full_bytes = prefix_length / 8;
  if (std::memcmp(address.bytes.data(), base.bytes.data(), static_cast<std::size_t>(full_bytes)) != 0) return false;
  int rest = prefix_length % 8;
  if (rest == 0) return true;
  auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (address.bytes[static_cast<std::size_t>(full_bytes)] & mask) == (base.bytes[static_cast<std::size_t>(full_bytes)] & mask);
}

}  // namespace airfleet::policy::detail
