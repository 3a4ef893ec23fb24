// One JSON object on one line, members in the order added, numbers the way
// a person reads them (counts as integers, measurements with a fixed number
// of decimals; a serializer's 3.3661E4 helps nobody reading a report).
#pragma once

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>

namespace airfleet::sim {

class json_line {
 public:
  json_line& add(std::string_view key, std::string_view value);
  json_line& add(std::string_view key, const char* value) { return add(key, std::string_view(value)); }
  json_line& add(std::string_view key, const std::string& value) { return add(key, std::string_view(value)); }
  json_line& add(std::string_view key, bool value);
  template <std::integral T>
  requires(!std::same_as<T, bool>) json_line& add(std::string_view key, T value) {
    member(key);
    text_ += std::to_string(value);
    return *this;
  }
  // Not finite: null.
  json_line& add(std::string_view key, double value, int decimals);

  std::string str() const { return text_ + "}"; }

 private:
  void member(std::string_view key);
  void quoted(std::string_view s);

  std::string text_ = "{";
};

}  // namespace airfleet::sim
