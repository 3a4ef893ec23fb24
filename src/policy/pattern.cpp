#include "policy/pattern.hpp"

#include <array>
#include <cstring>
#include <utility>

namespace airfleet::policy::detail {

namespace {

constexpr std::size_t npos = std::string_view::npos;

bool istarts_with(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && ascii_iequals(text.substr(0, prefix.size()), prefix);
}

bool is_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Bytes of the UTF-8 character at `pos`; 1 for anything that is not one.
std::size_t character_length(std::string_view s, std::size_t pos) {
  auto lead = static_cast<unsigned char>(s[pos]);
  std::size_t length = lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : lead < 0xF8 ? 4 : 1;
  if (pos + length > s.size()) return 1;
  for (std::size_t i = 1; i < length; ++i)
    if (!is_continuation(s[pos + i])) return 1;
  return length;
}

class matcher {
 public:
  matcher(std::span<const piece> pieces, std::string_view subject, bool ignore_case)
      : pieces_(pieces), subject_(subject), ignore_case_(ignore_case) {}

  bool run() const {
    const std::size_t n = pieces_.size();
    std::size_t segment_end = next_run(0);
    std::size_t pos = match_segment(0, segment_end, 0);
    if (pos == npos) return false;
    if (segment_end == n) return pos == subject_.size();
    std::size_t i = segment_end;
    for (;;) {
      while (i < n && pieces_[i].kind == piece_kind::any_run) ++i;
      if (i == n) return true;  // the pattern ends in '*'
      segment_end = next_run(i);
      if (segment_end == n) return match_tail(i, pos);
      pos = match_leftmost(i, segment_end, pos);
      if (pos == npos) return false;
      i = segment_end;
    }
  }

 private:
  std::size_t next_run(std::size_t from) const {
    while (from < pieces_.size() && pieces_[from].kind != piece_kind::any_run) ++from;
    return from;
  }

  bool equal_at(std::string_view text, std::size_t pos) const {
    if (subject_.size() - pos < text.size()) return false;
    if (!ignore_case_) return std::memcmp(subject_.data() + pos, text.data(), text.size()) == 0;
    for (std::size_t i = 0; i < text.size(); ++i)
      if (ascii_lower(subject_[pos + i]) != ascii_lower(text[i])) return false;
    return true;
  }

  // Matches pieces [first, last) (no '*' among them) at `pos`; the end, or npos.
  std::size_t match_segment(std::size_t first, std::size_t last, std::size_t pos) const {
    for (std::size_t i = first; i < last; ++i) {
      const piece& p = pieces_[i];
      if (p.kind == piece_kind::literal) {
        if (!equal_at(p.text, pos)) return npos;
        pos += p.text.size();
      } else {
        if (pos >= subject_.size()) return npos;
        pos += character_length(subject_, pos);
      }
    }
    return pos;
  }

  // The end of the leftmost match of [first, last) at or after `from`.
  std::size_t match_leftmost(std::size_t first, std::size_t last, std::size_t from) const {
    const piece& lead = pieces_[first];
    if (lead.kind == piece_kind::literal && !ignore_case_) {
      for (std::size_t s = subject_.find(lead.text, from); s != npos; s = subject_.find(lead.text, s + 1)) {
        std::size_t end = match_segment(first, last, s);
        if (end != npos) return end;
      }
      return npos;
    }
    for (std::size_t s = from; s <= subject_.size(); ++s) {
      if (s < subject_.size() && is_continuation(subject_[s])) continue;
      std::size_t end = match_segment(first, last, s);
      if (end != npos) return end;
    }
    return npos;
  }

  // The last segment [first, end of pieces) must end where the subject ends.
  bool match_tail(std::size_t first, std::size_t from) const {
    std::size_t fixed_length = 0;
    bool fixed = true;
    for (std::size_t i = first; i < pieces_.size(); ++i) {
      if (pieces_[i].kind == piece_kind::any_one) fixed = false;
      fixed_length += pieces_[i].text.size();
    }
    if (fixed) {
      if (subject_.size() - from < fixed_length) return false;
      return match_segment(first, pieces_.size(), subject_.size() - fixed_length) == subject_.size();
    }
    for (std::size_t s = from; s < subject_.size(); ++s) {
      if (is_continuation(subject_[s])) continue;
      if (match_segment(first, pieces_.size(), s) == subject_.size()) return true;
    }
    return false;
  }

  std::span<const piece> pieces_;
  std::string_view subject_;
  bool ignore_case_;
};

}  // namespace

bool ascii_iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

key_ref parse_key(std::string_view name) {
  static constexpr std::array<std::pair<std::string_view, key_kind>, 8> fixed{{
      {"iot:ClientId", key_kind::client_id},
      {"iot:Connection.Thing.ThingName", key_kind::thing_name},
      {"iot:Connection.Thing.ThingTypeName", key_kind::thing_type_name},
      {"iot:Connection.Thing.IsAttached", key_kind::thing_is_attached},
      {"aws:SourceIp", key_kind::source_ip},
      {"aws:CurrentTime", key_kind::current_time},
      {"aws:EpochTime", key_kind::epoch_time},
      {"aws:SecureTransport", key_kind::secure_transport},
  }};
  for (const auto& [fixed_name, kind] : fixed)
    if (ascii_iequals(name, fixed_name)) return {kind, {}};

  constexpr std::string_view attributes = "iot:Connection.Thing.Attributes[";
  if (istarts_with(name, attributes) && name.size() > attributes.size() + 1 && name.back() == ']')
    return {key_kind::thing_attribute, std::string(name.substr(attributes.size(), name.size() - attributes.size() - 1))};
  constexpr std::string_view certificate = "iot:Certificate.";
  if (istarts_with(name, certificate) && name.size() > certificate.size())
    return {key_kind::certificate, std::string(name.substr(certificate.size()))};
  return {};
}

pattern pattern::compile(std::string_view source, syntax s) {
  // Pieces refer to `text` by offset until it has its final home.
  struct raw_piece {
    piece_kind kind;
    std::size_t offset = 0, size = 0;
    std::uint32_t variable = 0;
  };
  pattern result;
  std::string text;
  std::vector<raw_piece> raw;
  auto add_literal = [&](std::string_view literal) {
    if (literal.empty()) return;
    if (!raw.empty() && raw.back().kind == piece_kind::literal)
      raw.back().size += literal.size();  // the previous literal ends where `text` ends
    else
      raw.push_back({piece_kind::literal, text.size(), literal.size()});
    text.append(literal);
  };

  std::size_t i = 0;
  while (i < source.size()) {
    char c = source[i];
    if (s.variables && c == '$' && i + 1 < source.size() && source[i + 1] == '{') {
      std::size_t close = source.find('}', i + 2);
      if (close != npos) {
        std::string_view name = source.substr(i + 2, close - i - 2);
        if (name == "*" || name == "?" || name == "$") {
          add_literal(name);
        } else {
          raw.push_back({piece_kind::variable, 0, 0, static_cast<std::uint32_t>(result.variables_.size())});
          result.variables_.push_back(parse_key(name));
        }
        i = close + 1;
        continue;
      }
    }
    if (s.wildcards && c == '*') {
      if (raw.empty() || raw.back().kind != piece_kind::any_run) raw.push_back({piece_kind::any_run});
      ++i;
      continue;
    }
    if (s.wildcards && c == '?') {
      raw.push_back({piece_kind::any_one});
      ++i;
      continue;
    }
    std::size_t end = i + 1;
    while (end < source.size()) {
      char d = source[end];
      if ((s.wildcards && (d == '*' || d == '?')) || (s.variables && d == '$')) break;
      ++end;
    }
    add_literal(source.substr(i, end - i));
    i = end;
  }

  result.text_ = std::make_unique<char[]>(text.size() + 1);
  std::memcpy(result.text_.get(), text.data(), text.size());
  result.pieces_.reserve(raw.size());
  for (const raw_piece& r : raw)
    result.pieces_.push_back(piece{r.kind, std::string_view(result.text_.get() + r.offset, r.size), r.variable});
  return result;
}

bool glob_match(std::span<const piece> pieces, std::string_view subject, bool ignore_case) {
  if (pieces.size() == 1 && pieces[0].kind == piece_kind::literal)  // most actions and many resources
    return ignore_case ? ascii_iequals(pieces[0].text, subject) : pieces[0].text == subject;
  return matcher(pieces, subject, ignore_case).run();
}

}  // namespace airfleet::policy::detail
