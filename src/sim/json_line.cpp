#include "sim/json_line.hpp"

#include <cmath>
#include <cstdio>

namespace airfleet::sim {

void json_line::quoted(std::string_view s) {
  text_ += '"';
  for (char c : s) {
    switch (c) {
      case '"': text_ += "\\\""; break;
      case '\\': text_ += "\\\\"; break;
      case '\n': text_ += "\\n"; break;
      case '\r': text_ += "\\r"; break;
      case '\t': text_ += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          text_ += escaped;
        } else {
          text_ += c;
        }
    }
  }
  text_ += '"';
}

void json_line::member(std::string_view key) {
  if (text_.size() > 1) text_ += ',';
  quoted(key);
  text_ += ':';
}

json_line& json_line::add(std::string_view key, std::string_view value) {
  member(key);
  quoted(value);
  return *this;
}

json_line& json_line::add(std::string_view key, bool value) {
  member(key);
  text_ += value ? "true" : "false";
  return *this;
}

json_line& json_line::add(std::string_view key, double value, int decimals) {
  member(key);
  if (!std::isfinite(value)) {
    text_ += "null";
    return *this;
  }
  char number[64];
  std::snprintf(number, sizeof number, "%.*f", decimals, value);
  text_ += number;
  return *this;
}

}  // namespace airfleet::sim
