// Small string helpers shared by every module: percent-encoding as AWS
// canonicalises it, case-insensitive comparison, trimming and splitting.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace airfleet::core {

// Percent-encodes every byte except the RFC 3986 unreserved set
// (A-Z a-z 0-9 - _ . ~); '/' too is left alone when keep_slash is set.
// Hex digits are upper case, as SigV4 requires.
std::string uri_encode(std::string_view text, bool keep_slash = false);

// Decodes %XX escapes ('+' stays '+'). nullopt on a malformed escape.
std::optional<std::string> uri_decode(std::string_view text);

std::string to_lower(std::string_view text);
bool iequals(std::string_view a, std::string_view b);
std::string_view trim(std::string_view text);
// Trims and folds every run of spaces/tabs inside into one space (SigV4 header values).
std::string collapse_spaces(std::string_view text);
std::vector<std::string_view> split(std::string_view text, char separator);
bool starts_with(std::string_view text, std::string_view prefix);
// Non-empty and only the ASCII digits 0-9.
bool all_digits(std::string_view text);
// The decimal value of a digit string (check all_digits first; no overflow check).
int digits_value(std::string_view text);

}  // namespace airfleet::core
