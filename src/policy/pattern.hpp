// Patterns: the strings of a policy that are matched against a request
// (actions, resources, string and ARN condition values), compiled once into
// pieces — literal text, `?`, `*` and `${variable}` references — so that a
// match substitutes variables by reference and compares in place.
//
// Matching splits the pattern at its `*`s into segments of literal text and
// `?`s. The first segment must match at the start, the last at the end, and
// each one between at its leftmost position after the previous one; taking
// the leftmost position never loses a match, because a segment has a fixed
// shape, so starting earlier never ends later. `?` is one UTF-8 character.
// A variable's value is literal text: its '*' and '?' are characters.
// Internal to the policy module.
#pragma once

#include <boost/container/small_vector.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace airfleet::policy::detail {

// What a condition key or a ${...} variable names.
enum class key_kind : std::uint8_t {
  unknown,  // a well-formed name we do not provide: never present
  client_id,
  thing_name,
  thing_type_name,
  thing_attribute,  // argument: the attribute name
  thing_is_attached,
  certificate,  // argument: the field after "iot:Certificate."
  source_ip,
  current_time,
  epoch_time,
  secure_transport,
};

struct key_ref {
  key_kind kind = key_kind::unknown;
  std::string argument;
};

// "iot:Connection.Thing.Attributes[fw]" -> {thing_attribute, "fw"}. Fixed
// names compare without regard to case, as IAM's condition keys do.
key_ref parse_key(std::string_view name);

// ASCII case folding; IAM's names are ASCII.
inline char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
bool ascii_iequals(std::string_view a, std::string_view b);

inline bool has_prefix(std::string_view text, std::string_view prefix, bool ignore_case) {
  if (text.size() < prefix.size()) return false;
  return ignore_case ? ascii_iequals(text.substr(0, prefix.size()), prefix) : text.starts_with(prefix);
}

enum class piece_kind : std::uint8_t { literal, any_one, any_run, variable };

struct piece {
  piece_kind kind = piece_kind::literal;
  std::string_view text;       // literal: the text (owned by the pattern)
  std::uint32_t variable = 0;  // variable: index for pattern::variable()
};

enum class match_result : std::uint8_t { no_match, match, unresolved };

class pattern {
 public:
  struct syntax {
    bool wildcards = true;  // '*' and '?' are wildcards (else literal, as in StringEquals)
    bool variables = true;  // ${...} is a variable (policy Version 2012-10-17)
  };
  static pattern compile(std::string_view source, syntax s);

  std::span<const piece> pieces() const { return pieces_; }
  const key_ref& variable(std::uint32_t index) const { return variables_[index]; }
  bool has_variables() const { return !variables_.empty(); }
  bool matches_everything() const { return pieces_.size() == 1 && pieces_[0].kind == piece_kind::any_run; }

 private:
  std::unique_ptr<char[]> text_;  // literal text, escapes resolved; on the heap so views survive moves
  std::vector<piece> pieces_;
  std::vector<key_ref> variables_;
};

// Matches variable-free pieces against `subject`.
bool glob_match(std::span<const piece> pieces, std::string_view subject, bool ignore_case);

// Matches `p` against `subject`, substituting each variable with
// `resolve(const key_ref&) -> std::optional<std::string_view>`; unresolved
// when one of them has no value.
template <class Resolve>
match_result match(const pattern& p, std::string_view subject, bool ignore_case, Resolve&& resolve) {
  if (!p.has_variables()) return glob_match(p.pieces(), subject, ignore_case) ? match_result::match : match_result::no_match;
  const piece& first = p.pieces().front();  // a pattern with a variable has pieces
  if (first.kind == piece_kind::literal && !has_prefix(subject, first.text, ignore_case)) {
    // Cannot match; still unresolved if a variable has no value, as below.
    for (const piece& x : p.pieces())
      if (x.kind == piece_kind::variable && !resolve(p.variable(x.variable))) return match_result::unresolved;
    return match_result::no_match;
  }
  boost::container::small_vector<piece, 16> substituted;
  for (const piece& x : p.pieces()) {
    if (x.kind != piece_kind::variable) {
      substituted.push_back(x);
      continue;
    }
    std::optional<std::string_view> value = resolve(p.variable(x.variable));
    if (!value) return match_result::unresolved;
    substituted.push_back(piece{piece_kind::literal, *value, 0});
  }
  return glob_match(substituted, subject, ignore_case) ? match_result::match : match_result::no_match;
}


}  // namespace airfleet::policy::detail
