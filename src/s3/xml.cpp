#include "s3/xml.hpp"

#include <cstdint>

namespace airfleet::s3 {

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      case '\r': out += "&#13;"; break;
      default: out += c;
    }
  }
  return out;
}

const xml_element* xml_element::child(std::string_view local_name) const {
  for (const auto& c : children)
    if (c.name == local_name) return &c;
  return nullptr;
}

std::vector<const xml_element*> xml_element::all(std::string_view local_name) const {
  std::vector<const xml_element*> out;
  for (const auto& c : children)
    if (c.name == local_name) out.push_back(&c);
  return out;
}

namespace {

constexpr int max_depth = 32;

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

class parser {
 public:
  explicit parser(std::string_view doc) : s_(doc) {}

  std::optional<xml_element> document() {
    if (!skip_misc()) return std::nullopt;
    if (peek() != '<') return std::nullopt;
    auto root = element(0);
    if (!root) return std::nullopt;
    if (!skip_misc()) return std::nullopt;
    if (pos_ != s_.size()) return std::nullopt;
    return root;
  }

 private:
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  bool starts(std::string_view p) const { return s_.substr(pos_, p.size()) == p; }
  void skip_space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\r' || s_[pos_] == '\n')) ++pos_;
  }
  bool skip_until(std::string_view end) {
    auto at = s_.find(end, pos_);
    if (at == std::string_view::npos) return false;
    pos_ = at + end.size();
    return true;
  }
  // Whitespace, the XML declaration, comments and processing instructions.
  bool skip_misc() {
    while (true) {
      skip_space();
      if (starts("<?")) {
        if (!skip_until("?>")) return false;
      } else if (starts("<!--")) {
        if (!skip_until("-->")) return false;
      } else if (starts("<!")) {
        return false;  // DOCTYPE and friends: refused
      } else {
        return true;
      }
    }
  }
  static bool name_char(char c) {
    return c != '\0' && c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != '>' && c != '/' && c != '=' &&
           c != '<' && c != '"' && c != '\'';
  }
  std::string name() {
    auto start = pos_;
    while (pos_ < s_.size() && name_char(s_[pos_])) ++pos_;
    return std::string(s_.substr(start, pos_ - start));
  }
  static std::string local(const std::string& qname) {
    auto colon = qname.find(':');
    return colon == std::string::npos ? qname : qname.substr(colon + 1);
  }
  bool decode_text(std::string_view raw, std::string& out) {
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] != '&') {
        out += raw[i];
        continue;
      }
      auto semi = raw.find(';', i);
      if (semi == std::string_view::npos) return false;
      auto ent = raw.substr(i + 1, semi - i - 1);
      if (ent == "amp") out += '&';
      else if (ent == "lt") out += '<';
      else if (ent == "gt") out += '>';
      else if (ent == "quot") out += '"';
      else if (ent == "apos") out += '\'';
      else if (ent.size() > 1 && ent[0] == '#') {
        std::uint32_t cp = 0;
        bool hex = ent[1] == 'x';
        auto digits = ent.substr(hex ? 2 : 1);
        if (digits.empty() || digits.size() > 8) return false;
        for (char d : digits) {
          int v;
          if (d >= '0' && d <= '9') v = d - '0';
          else if (hex && d >= 'a' && d <= 'f') v = d - 'a' + 10;
          else if (hex && d >= 'A' && d <= 'F') v = d - 'A' + 10;
          else return false;
          cp = cp * (hex ? 16 : 10) + static_cast<std::uint32_t>(v);
        }
        if (cp == 0 || cp > 0x10FFFF) return false;
        append_utf8(out, cp);
      } else {
        return false;
      }
      i = semi;
    }
    return true;
  }

  std::optional<xml_element> element(int depth) {
    if (depth > max_depth || peek() != '<') return std::nullopt;
    ++pos_;
    auto qname = name();
    if (qname.empty()) return std::nullopt;
    xml_element el;
    el.name = local(qname);
    // Attributes: read and ignored.
    while (true) {
      skip_space();
      if (starts("/>")) {
        pos_ += 2;
        return el;
      }
      if (peek() == '>') {
        ++pos_;
        break;
      }
      if (name().empty()) return std::nullopt;
      skip_space();
      if (peek() != '=') return std::nullopt;
      ++pos_;
      skip_space();
      char q = peek();
      if (q != '"' && q != '\'') return std::nullopt;
      auto end = s_.find(q, pos_ + 1);
      if (end == std::string_view::npos) return std::nullopt;
      pos_ = end + 1;
    }
    // Content.
    while (true) {
      if (pos_ >= s_.size()) return std::nullopt;
      if (starts("</")) {
        pos_ += 2;
        if (name() != qname) return std::nullopt;
        skip_space();
        if (peek() != '>') return std::nullopt;
        ++pos_;
        return el;
      }
      if (starts("<!--")) {
        if (!skip_until("-->")) return std::nullopt;
        continue;
      }
      if (starts("<![CDATA[")) {
        auto end = s_.find("]]>", pos_);
        if (end == std::string_view::npos) return std::nullopt;
        el.text += s_.substr(pos_ + 9, end - pos_ - 9);
        pos_ = end + 3;
        continue;
      }
      if (starts("<?")) {
        if (!skip_until("?>")) return std::nullopt;
        continue;
      }
      if (peek() == '<') {
        auto child = element(depth + 1);
        if (!child) return std::nullopt;
        el.children.push_back(std::move(*child));
        continue;
      }
      auto next = s_.find('<', pos_);
      if (next == std::string_view::npos) return std::nullopt;
      if (!decode_text(s_.substr(pos_, next - pos_), el.text)) return std::nullopt;
      pos_ = next;
    }
  }

  std::string_view s_;
  std::size_t pos_ = 0;
};

}  // namespace

std::optional<xml_element> parse_xml(std::string_view document) { return parser(document).document(); }

}  // namespace airfleet::s3
