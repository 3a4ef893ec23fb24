#include "sim/shorthand.hpp"

#include <boost/json/parse.hpp>

#include <cctype>
#include <charconv>
#include <system_error>

namespace airfleet::sim {

namespace json = boost::json;

namespace {

constexpr std::size_t max_depth = 16;

class parser {
 public:
  explicit parser(std::string_view text) : text_(text) {}

  core::result<json::value> parse_document() {
    auto object = parse_members('\0', 0);
    if (!object) return object.error();
    skip_spaces();
    if (pos_ != text_.size()) return fail("unexpected '" + std::string(1, text_[pos_]) + "'");
    return json::value(std::move(*object));
  }

 private:
  core::error fail(const std::string& why) const {
    return core::error{std::make_error_code(std::errc::invalid_argument),
                       "shorthand syntax: " + why + " at character " + std::to_string(pos_ + 1)};
  }

  void skip_spaces() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool at(char c) {
    skip_spaces();
    return pos_ < text_.size() && text_[pos_] == c;
  }

  // key=value[,key=value]... up to `close` ('\0': the end of the text).
  core::result<json::object> parse_members(char close, std::size_t depth) {
    if (depth > max_depth) return fail("structures nested too deeply");
    json::object out;
    for (;;) {
      skip_spaces();
      const std::size_t key_start = pos_;
      while (pos_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '_' ||
                                     text_[pos_] == '-' || text_[pos_] == '.'))
        ++pos_;
      if (pos_ == key_start) return fail("expected a member name");
      std::string key(text_.substr(key_start, pos_ - key_start));
      if (!at('=')) return fail("expected '=' after " + key);
      ++pos_;
      auto value = parse_value(depth);
      if (!value) return value.error();
      if (out.contains(key)) return fail("member " + key + " given twice");
      out[key] = std::move(*value);
      skip_spaces();
      if (pos_ == text_.size() || (close != '\0' && text_[pos_] == close)) return out;
      if (text_[pos_] != ',') return fail("expected ',' or the end of the structure");
      ++pos_;
    }
  }

  core::result<json::value> parse_value(std::size_t depth) {
    skip_spaces();
    if (pos_ == text_.size()) return json::value(json::string());
    const char c = text_[pos_];
    if (c == '{') {
      ++pos_;
      json::object empty;
      if (at('}')) {
        ++pos_;
        return json::value(std::move(empty));
      }
      auto members = parse_members('}', depth + 1);
      if (!members) return members.error();
      if (!at('}')) return fail("expected '}'");
      ++pos_;
      return json::value(std::move(*members));
    }
    if (c == '[') {
      if (depth + 1 > max_depth) return fail("lists nested too deeply");
      ++pos_;
      json::array list;
      if (at(']')) {
        ++pos_;
        return json::value(std::move(list));
      }
      for (;;) {
        auto item = parse_value(depth + 1);
        if (!item) return item.error();
        list.push_back(std::move(*item));
        if (at(']')) {
          ++pos_;
          return json::value(std::move(list));
        }
        if (!at(',')) return fail("expected ',' or ']'");
        ++pos_;
      }
    }
    if (c == '\'' || c == '"') {
      const auto end = text_.find(c, pos_ + 1);
      if (end == std::string_view::npos) return fail("unterminated quoted value");
      json::value out(json::string(text_.substr(pos_ + 1, end - pos_ - 1)));
      pos_ = end + 1;
      return out;
    }
    const std::size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != '}' && text_[pos_] != ']') {
      if (text_[pos_] == '=' || text_[pos_] == '{' || text_[pos_] == '[')
        return fail("unexpected '" + std::string(1, text_[pos_]) + "' in a value (quote it, or use [..] for a list)");
      ++pos_;
    }
    std::string_view scalar = text_.substr(start, pos_ - start);
    while (!scalar.empty() && std::isspace(static_cast<unsigned char>(scalar.back()))) scalar.remove_suffix(1);
    return typed(scalar);
  }

  static json::value typed(std::string_view s) {
    if (s == "true") return json::value(true);
    if (s == "false") return json::value(false);
    std::int64_t integer = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), integer);
    if (!s.empty() && ec == std::errc() && end == s.data() + s.size()) return json::value(integer);
    double real = 0;
    auto [real_end, real_ec] = std::from_chars(s.data(), s.data() + s.size(), real);
    if (!s.empty() && real_ec == std::errc() && real_end == s.data() + s.size()) return json::value(real);
    return json::value(json::string(s));
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace

core::result<json::value> parse_shorthand(std::string_view text) {
  std::size_t first = 0;
  while (first < text.size() && std::isspace(static_cast<unsigned char>(text[first]))) ++first;
  if (first < text.size() && text[first] == '{') {
    boost::system::error_code ec;
    auto value = json::parse(text, ec);
    if (ec || !value.is_object())
      return core::error{std::make_error_code(std::errc::invalid_argument),
                         "not a JSON object: " + (ec ? ec.message() : std::string("another JSON value"))};
    return value;
  }
  if (first == text.size())
    return core::error{std::make_error_code(std::errc::invalid_argument), "shorthand syntax: empty"};
  return parser(text).parse_document();
}

}  // namespace airfleet::sim
