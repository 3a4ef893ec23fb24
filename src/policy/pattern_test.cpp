#include "policy/pattern.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace airfleet::policy::detail {
namespace {

bool glob(std::string_view pattern_text, std::string_view subject, bool ignore_case = false) {
  pattern p = pattern::compile(pattern_text, {.wildcards = true, .variables = false});
  return glob_match(p.pieces(), subject, ignore_case);
}

TEST(pattern, literal_patterns_match_exactly) {
  EXPECT_TRUE(glob("abc", "abc"));
  EXPECT_FALSE(glob("abc", "abcd"));
  EXPECT_FALSE(glob("abc", "ab"));
  EXPECT_TRUE(glob("", ""));
  EXPECT_FALSE(glob("", "a"));
}

TEST(pattern, star_matches_any_run) {
  EXPECT_TRUE(glob("*", ""));
  EXPECT_TRUE(glob("*", "anything/at:all"));
  EXPECT_TRUE(glob("a*", "a"));
  EXPECT_TRUE(glob("*c", "abc"));
  EXPECT_TRUE(glob("a*c", "abbbc"));
  EXPECT_FALSE(glob("a*c", "abbbd"));
  EXPECT_TRUE(glob("a*b*c", "a-b-b-c"));
  EXPECT_TRUE(glob("a**c", "ac"));
  EXPECT_FALSE(glob("a*bc*bc", "abcbx"));
  EXPECT_TRUE(glob("*ab*ab*", "xxabyyab"));
  EXPECT_FALSE(glob("ab*ba", "aba"));  // prefix and suffix must not overlap
}

TEST(pattern, question_mark_matches_one_character) {
  EXPECT_TRUE(glob("a?c", "abc"));
  EXPECT_FALSE(glob("a?c", "ac"));
  EXPECT_FALSE(glob("a?c", "abbc"));
  EXPECT_TRUE(glob("*?", "x"));
  EXPECT_FALSE(glob("*?", ""));
  EXPECT_TRUE(glob("*a?c*", "zzabcab"));
  EXPECT_TRUE(glob("?", "\xe2\x82\xac"));  // one three-byte character
  EXPECT_FALSE(glob("??", "\xe2\x82\xac"));
  EXPECT_TRUE(glob("*?x", "\xc3\xa9x"));
  EXPECT_TRUE(glob("a*??", "a\xc3\xa9\xc3\xa9"));
}

// The obvious recursive definition, for ASCII subjects.
bool reference_glob(std::string_view p, std::string_view s) {
  if (p.empty()) return s.empty();
  if (p[0] == '*') return reference_glob(p.substr(1), s) || (!s.empty() && reference_glob(p, s.substr(1)));
  if (s.empty()) return false;
  return (p[0] == '?' || p[0] == s[0]) && reference_glob(p.substr(1), s.substr(1));
}

TEST(pattern, agrees_with_the_recursive_definition) {
  std::mt19937 random(20261126);
  auto text = [&](std::string_view alphabet, int max_length) {
    std::string t(random() % static_cast<unsigned>(max_length + 1), ' ');
    for (char& c : t) c = alphabet[random() % alphabet.size()];
    return t;
  };
  for (int i = 0; i < 50000; ++i) {
    std::string p = text("ab/*?", 7);
    std::string s = text("ab/", 9);
    ASSERT_EQ(glob(p, s), reference_glob(p, s)) << "pattern '" << p << "' subject '" << s << "'";
  }
}

TEST(pattern, case_folding_is_optional) {
  EXPECT_TRUE(glob("iot:Publish", "IOT:PUBLISH", true));
  EXPECT_FALSE(glob("iot:Publish", "IOT:PUBLISH", false));
  EXPECT_TRUE(glob("iot:*lish", "IoT:PubLISH", true));
  EXPECT_TRUE(glob("*PUB*", "iot:publish", true));
}

TEST(pattern, mqtt_wildcards_are_plain_characters) {
  EXPECT_TRUE(glob("a/+/b", "a/+/b"));
  EXPECT_FALSE(glob("a/+/b", "a/x/b"));
  EXPECT_FALSE(glob("a/#", "a/x"));
}

TEST(pattern, literal_syntax_takes_wildcards_as_characters) {
  pattern p = pattern::compile("a*?", {.wildcards = false, .variables = false});
  EXPECT_TRUE(glob_match(p.pieces(), "a*?", false));
  EXPECT_FALSE(glob_match(p.pieces(), "abc", false));
}

TEST(pattern, variables_and_escapes_compile_into_pieces) {
  pattern p = pattern::compile("t/${iot:ClientId}/${*}${?}${$}/*", {.wildcards = true, .variables = true});
  ASSERT_EQ(p.pieces().size(), 4u);
  EXPECT_EQ(p.pieces()[0].text, "t/");
  EXPECT_EQ(p.pieces()[1].kind, piece_kind::variable);
  EXPECT_EQ(p.variable(p.pieces()[1].variable).kind, key_kind::client_id);
  EXPECT_EQ(p.pieces()[2].text, "/*?$/");  // escapes are literal text, merged with their neighbours
  EXPECT_EQ(p.pieces()[3].kind, piece_kind::any_run);
}

TEST(pattern, an_unclosed_variable_is_text) {
  pattern p = pattern::compile("a/${iot:ClientId", {.wildcards = true, .variables = true});
  EXPECT_FALSE(p.has_variables());
  EXPECT_TRUE(glob_match(p.pieces(), "a/${iot:ClientId", false));
}

TEST(pattern, substituted_values_are_literal) {
  pattern p = pattern::compile("c/${iot:ClientId}/d", {.wildcards = true, .variables = true});
  std::string client = "*";
  auto resolve = [&](const key_ref&) -> std::optional<std::string_view> { return client; };
  EXPECT_EQ(match(p, "c/*/d", false, resolve), match_result::match);
  EXPECT_EQ(match(p, "c/x/d", false, resolve), match_result::no_match);
  auto nothing = [](const key_ref&) -> std::optional<std::string_view> { return std::nullopt; };
  EXPECT_EQ(match(p, "c/x/d", false, nothing), match_result::unresolved);
}

TEST(pattern, many_variables_spill_past_the_inline_buffer) {
  std::string text;
  for (int i = 0; i < 20; ++i) text += "${iot:ClientId}/";
  pattern p = pattern::compile(text, {.wildcards = true, .variables = true});
  auto resolve = [](const key_ref&) -> std::optional<std::string_view> { return "x"; };
  std::string subject;
  for (int i = 0; i < 20; ++i) subject += "x/";
  EXPECT_EQ(match(p, subject, false, resolve), match_result::match);
}

TEST(pattern, keys_parse_case_insensitively_with_their_arguments_as_written) {
  EXPECT_EQ(parse_key("iot:clientid").kind, key_kind::client_id);
  EXPECT_EQ(parse_key("IOT:CONNECTION.THING.THINGNAME").kind, key_kind::thing_name);
  key_ref attribute = parse_key("iot:Connection.Thing.Attributes[Site]");
  EXPECT_EQ(attribute.kind, key_kind::thing_attribute);
  EXPECT_EQ(attribute.argument, "Site");
  key_ref certificate = parse_key("iot:Certificate.Subject.CommonName");
  EXPECT_EQ(certificate.kind, key_kind::certificate);
  EXPECT_EQ(certificate.argument, "Subject.CommonName");
  EXPECT_EQ(parse_key("iot:Connection.Thing.Attributes[]").kind, key_kind::unknown);
  EXPECT_EQ(parse_key("iot:Certificate.").kind, key_kind::unknown);
  EXPECT_EQ(parse_key("aws:username").kind, key_kind::unknown);
  EXPECT_EQ(parse_key("aws:securetransport").kind, key_kind::secure_transport);
}

}  // namespace
}  // namespace airfleet::policy::detail
