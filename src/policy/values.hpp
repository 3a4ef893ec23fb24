// The typed values of condition operators: dates (ISO 8601 or epoch
// seconds), numbers, booleans and IP networks, read from policy text at
// compile time and from request values at evaluation time. Internal to the
// policy module.
#pragma once

#include "core/time.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace airfleet::policy::detail {

// "2026-11-26", "2026-11-26T13:36:07Z", "2026-11-26T13:36:07.250+02:00",
// "2026-11-26T13:36Z" (no zone means UTC), or epoch seconds "1795700167".
std::optional<core::time_point> parse_date(std::string_view text);

// A decimal number as JSON or IAM writes it ("10", "-2.5", "1e3").
std::optional<double> parse_number(std::string_view text);

// "true"/"false", any case.
std::optional<bool> parse_bool(std::string_view text);

struct ip_address {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};  // IPv4 in the first 4
};

struct ip_network {
  ip_address base;
  int prefix_length = 0;
  bool contains(const ip_address& address) const;
};

// Dotted IPv4 or RFC 4291 IPv6 text; an IPv4-mapped IPv6 address
// (::ffff:192.0.2.1) is read as the IPv4 address it carries.
std::optional<ip_address> parse_ip(std::string_view text);
// "192.0.2.0/24", "2001:db8::/32", or one address (/32, /128).
std::optional<ip_network> parse_network(std::string_view text);

}  // namespace airfleet::policy::detail
