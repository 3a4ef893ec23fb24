// compile(): JSON text -> compiled_policy, refusing anything the policy
// language does not allow with a message that says where.
#include "policy/policy.hpp"

#include "policy/compiled.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <string>
#include <utility>

namespace airfleet::policy {

namespace {

namespace json = boost::json;
using detail::comparison;
using detail::condition_type;
using detail::pattern;

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "airfleet.policy"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::malformed: return "malformed policy";
    }
    return "unknown policy error";
  }
};

core::error malformed(std::string message) { return core::make_error(errc::malformed, std::move(message)); }

// 'text', shortened so that a huge value does not make a huge message.
std::string quoted(std::string_view text) {
  constexpr std::size_t limit = 80;
  std::string out;
  out.reserve(std::min(text.size(), limit) + 5);
  out += '\'';
  out.append(text.substr(0, limit));
  if (text.size() > limit) out += "...";
  out += '\'';
  return out;
}

bool json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Characters (UTF-8 code points) outside white space: what AWS's size quota counts.
std::size_t policy_characters(std::string_view document) {
  std::size_t count = 0;
  for (char c : document)
    if (!json_space(c) && (static_cast<unsigned char>(c) & 0xC0) != 0x80) ++count;
  return count;
}

std::string position(std::string_view document, std::size_t offset) {
  std::size_t line = 1, column = 1;
  for (std::size_t i = 0; i < offset && i < document.size(); ++i) {
    if (document[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

core::result<json::value> parse_json(std::string_view document) {
  json::parse_options options;
  options.max_depth = max_nesting_depth;
  json::stream_parser parser({}, options);
  boost::system::error_code ec;
  std::size_t used = parser.write_some(document.data(), document.size(), ec);
  if (!ec && parser.done()) {
    while (used < document.size() && json_space(document[used])) ++used;
    if (used < document.size())
      return malformed("policy document is not valid JSON: unexpected text after the document at " +
                       position(document, used));
  }
  if (!ec) parser.finish(ec);
  if (ec == json::error::too_deep)
    return malformed("policy document nests deeper than " + std::to_string(max_nesting_depth) + " levels");
  if (ec) return malformed("policy document is not valid JSON: " + ec.message() + " at " + position(document, used));
  return parser.release();
}

// A condition value as text: IAM accepts strings, numbers and booleans.
std::optional<std::string> scalar_text(const json::value& v) {
  switch (v.kind()) {
    case json::kind::string: return std::string(v.get_string());
    case json::kind::int64: return std::to_string(v.get_int64());
    case json::kind::uint64: return std::to_string(v.get_uint64());
    case json::kind::double_: return json::serialize(v);
    case json::kind::bool_: return v.get_bool() ? "true" : "false";
    default: return std::nullopt;
  }
}

struct operator_info {
  std::string_view name;
  condition_type type;
  comparison compare = comparison::equal;
  bool negated = false;
  bool ignore_case = false;
  bool wildcards = false;
};

constexpr std::array<operator_info, 26> operators{{
    {"StringEquals", condition_type::string_equals},
    {"StringNotEquals", condition_type::string_equals, comparison::equal, true},
    {"StringEqualsIgnoreCase", condition_type::string_equals, comparison::equal, false, true},
    {"StringNotEqualsIgnoreCase", condition_type::string_equals, comparison::equal, true, true},
    {"StringLike", condition_type::string_equals, comparison::equal, false, false, true},
    {"StringNotLike", condition_type::string_equals, comparison::equal, true, false, true},
    {"ArnEquals", condition_type::arn, comparison::equal, false, false, true},
    {"ArnLike", condition_type::arn, comparison::equal, false, false, true},
    {"ArnNotEquals", condition_type::arn, comparison::equal, true, false, true},
    {"ArnNotLike", condition_type::arn, comparison::equal, true, false, true},
    {"NumericEquals", condition_type::numeric},
    {"NumericNotEquals", condition_type::numeric, comparison::equal, true},
    {"NumericLessThan", condition_type::numeric, comparison::less},
    {"NumericLessThanEquals", condition_type::numeric, comparison::less_equal},
    {"NumericGreaterThan", condition_type::numeric, comparison::greater},
    {"NumericGreaterThanEquals", condition_type::numeric, comparison::greater_equal},
    {"DateEquals", condition_type::date},
    {"DateNotEquals", condition_type::date, comparison::equal, true},
    {"DateLessThan", condition_type::date, comparison::less},
    {"DateLessThanEquals", condition_type::date, comparison::less_equal},
    {"DateGreaterThan", condition_type::date, comparison::greater},
    {"DateGreaterThanEquals", condition_type::date, comparison::greater_equal},
    {"Bool", condition_type::boolean},
    {"IpAddress", condition_type::ip_address},
    {"NotIpAddress", condition_type::ip_address, comparison::equal, true},
    {"Null", condition_type::null_check},
}};  // BinaryEquals is left out: it compares base64 blobs, and no IoT key carries one.

const operator_info* find_operator(std::string_view name) {
  for (const operator_info& op : operators)
    if (op.name == name) return &op;
  return nullptr;
}

bool service_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

// "service:name" with a plain service prefix; the name may hold wildcards.
bool prefixed_name(std::string_view text) {
  std::size_t colon = text.find(':');
  if (colon == 0 || colon == std::string_view::npos || colon + 1 == text.size()) return false;
  for (std::size_t i = 0; i < colon; ++i)
    if (!service_char(text[i])) return false;
  return true;
}

// Splits an ARN pattern into its six colon-separated fields; a ':' inside
// ${...} does not count. Fewer than six fields: nullopt.
std::optional<std::array<std::string_view, 6>> arn_fields(std::string_view text, bool variables) {
  std::array<std::string_view, 6> fields;
  std::size_t start = 0, field = 0;
  for (std::size_t i = 0; i < text.size() && field < 5; ++i) {
    if (variables && text[i] == '$' && i + 1 < text.size() && text[i + 1] == '{') {
      std::size_t close = text.find('}', i + 2);
      if (close != std::string_view::npos) {
        i = close;
        continue;
      }
    }
    if (text[i] == ':') {
      fields[field++] = text.substr(start, i - start);
      start = i + 1;
    }
  }
  if (field < 5) return std::nullopt;
  fields[5] = text.substr(start);
  return fields;
}

class compiler {
 public:
  explicit compiler(compiled_policy& out) : out_(out) {}

  core::result<void> document(const json::value& root) {
    if (!root.is_object()) return malformed("policy document must be a JSON object");
    const json::object& top = root.get_object();
    for (const auto& member : top) {
      std::string_view key = member.key();
      if (key != "Version" && key != "Id" && key != "Statement")
        return malformed("unknown policy element " + quoted(key));
    }
    out_.version = "2008-10-17";
    if (const json::value* version = top.if_contains("Version")) {
      if (!version->is_string()) return malformed("Version must be a string");
      std::string_view v = version->get_string();
      if (v != "2012-10-17" && v != "2008-10-17") return malformed("unknown Version " + quoted(v));
      out_.version = std::string(v);
    }
    variables_ = out_.version == "2012-10-17";
    if (const json::value* id = top.if_contains("Id"); id && !id->is_string()) return malformed("Id must be a string");

    const json::value* statements = top.if_contains("Statement");
    if (!statements) return malformed("policy has no Statement");
    if (statements->is_object()) return statement(*statements, "Statement: ");
    if (!statements->is_array()) return malformed("Statement must be an object or a list of objects");
    const json::array& list = statements->get_array();
    if (list.empty()) return malformed("Statement is an empty list");
    for (std::size_t i = 0; i < list.size(); ++i) {
      auto r = statement(list[i], "Statement[" + std::to_string(i) + "]: ");
      if (!r) return r;
    }
    return {};
  }

 private:
  core::result<void> statement(const json::value& value, const std::string& where) {
    if (!value.is_object()) return malformed(where + "must be an object");
    const json::object& object = value.get_object();
    for (const auto& member : object) {
      std::string_view key = member.key();
      if (key == "Principal" || key == "NotPrincipal")
        return malformed(where + std::string(key) + " is not allowed in an AWS IoT policy");
      if (key != "Sid" && key != "Effect" && key != "Action" && key != "NotAction" && key != "Resource" &&
          key != "NotResource" && key != "Condition")
        return malformed(where + "unknown element " + quoted(key));
    }
    detail::statement result;
    if (const json::value* sid = object.if_contains("Sid")) {
      if (!sid->is_string()) return malformed(where + "Sid must be a string");
      result.sid = std::string(sid->get_string());
    }

    const json::value* effect = object.if_contains("Effect");
    if (!effect) return malformed(where + "Effect is missing");
    if (!effect->is_string()) return malformed(where + "Effect must be a string");
    if (effect->get_string() == "Allow")
      result.effect = detail::statement_effect::allow;
    else if (effect->get_string() == "Deny")
      result.effect = detail::statement_effect::deny;
    else
      return malformed(where + "unknown Effect " + quoted(effect->get_string()));

    auto actions = pair_element(object, "Action", "NotAction", where);
    if (!actions) return actions.error();
    result.not_action = actions->first == "NotAction";
    for (std::string_view action : actions->second) {
      if (action != "*" && !prefixed_name(action))
        return malformed(where + std::string(actions->first) + " " + quoted(action) +
                         " is not of the form 'service:action'");
      result.actions.push_back(pattern::compile(action, {.wildcards = true, .variables = false}));
    }

    auto resources = pair_element(object, "Resource", "NotResource", where);
    if (!resources) return resources.error();
    result.not_resource = resources->first == "NotResource";
    for (std::string_view resource : resources->second) {
      if (resource != "*" && !resource.starts_with("arn:"))
        return malformed(where + std::string(resources->first) + " " + quoted(resource) + " is not an ARN");
      result.resources.push_back(pattern::compile(resource, {.wildcards = true, .variables = variables_}));
    }

    if (const json::value* conditions = object.if_contains("Condition")) {
      auto r = condition_block(*conditions, where, result);
      if (!r) return r;
    }

    auto index = static_cast<std::uint32_t>(out_.statements.size());
    (result.effect == detail::statement_effect::deny ? out_.deny_statements : out_.allow_statements).push_back(index);
    out_.statements.push_back(std::move(result));
    return {};
  }

  // Exactly one of `name`/`not_name`, as a non-empty list of strings:
  // (which one, its strings).
  core::result<std::pair<std::string_view, std::vector<std::string_view>>> pair_element(
      const json::object& object, std::string_view name, std::string_view not_name, const std::string& where) {
    const json::value* positive = object.if_contains(name);
    const json::value* negative = object.if_contains(not_name);
    if (positive && negative)
      return malformed(where + "has both " + std::string(name) + " and " + std::string(not_name));
    if (!positive && !negative)
      return malformed(where + "needs " + std::string(name) + " or " + std::string(not_name));
    std::string_view which = positive ? name : not_name;
    auto strings = string_list(positive ? *positive : *negative);
    if (!strings) return malformed(where + std::string(which) + " must be a string or a non-empty list of strings");
    return std::pair{which, std::move(*strings)};
  }

  static std::optional<std::vector<std::string_view>> string_list(const json::value& value) {
    std::vector<std::string_view> result;
    if (value.is_string()) {
      result.push_back(value.get_string());
      return result;
    }
    if (!value.is_array() || value.get_array().empty()) return std::nullopt;
    for (const json::value& item : value.get_array()) {
      if (!item.is_string()) return std::nullopt;
      result.push_back(item.get_string());
    }
    return result;
  }

  core::result<void> condition_block(const json::value& value, const std::string& where, detail::statement& out) {
    if (!value.is_object()) return malformed(where + "Condition must be an object");
    for (const auto& [operator_name, keys] : value.get_object()) {
      std::string_view name = operator_name;
      detail::set_qualifier qualifier = detail::set_qualifier::none;
      if (name.starts_with("ForAnyValue:")) {
        qualifier = detail::set_qualifier::for_any_value;
        name.remove_prefix(12);
      } else if (name.starts_with("ForAllValues:")) {
        qualifier = detail::set_qualifier::for_all_values;
        name.remove_prefix(13);
      }
      bool if_exists = name.ends_with("IfExists");
      if (if_exists) name.remove_suffix(8);
      const operator_info* op = find_operator(name);
      if (!op) return malformed(where + "unknown Condition operator " + quoted(operator_name));
      if (op->type == condition_type::null_check && (if_exists || qualifier != detail::set_qualifier::none))
        return malformed(where + "Condition operator " + quoted(operator_name) +
                         ": Null takes neither IfExists nor ForAnyValue/ForAllValues");
      if (!keys.is_object())
        return malformed(where + "Condition operator " + quoted(operator_name) + " must map condition keys to values");
      for (const auto& [key_name, values] : keys.get_object()) {
        std::string what = where + "Condition " + std::string(operator_name.data(), operator_name.size()) + " " +
                           quoted(key_name) + ": ";
        if (!prefixed_name(key_name)) return malformed(what + "the key is not of the form 'prefix:name'");
        detail::condition c;
        c.operator_name = std::string(operator_name.data(), operator_name.size());
        c.type = op->type;
        c.compare = op->compare;
        c.negated = op->negated;
        c.ignore_case = op->ignore_case;
        c.if_exists = if_exists;
        c.qualifier = qualifier;
        c.key = detail::parse_key(key_name);
        std::vector<std::string> texts;
        if (values.is_array()) {
          for (const json::value& item : values.get_array()) {
            auto text = scalar_text(item);
            if (!text) return malformed(what + "values must be strings, numbers or booleans");
            texts.push_back(std::move(*text));
          }
        } else if (auto text = scalar_text(values)) {
          texts.push_back(std::move(*text));
        } else {
          return malformed(what + "values must be strings, numbers or booleans");
        }
        if (texts.empty()) return malformed(what + "needs at least one value");
        for (const std::string& text : texts) {
          auto v = condition_value(*op, text);
          if (!v) return malformed(what + v.error().message);
          c.values.push_back(std::move(*v));
        }
        out.conditions.push_back(std::move(c));
      }
    }
    return {};
  }

  core::result<detail::condition_value> condition_value(const operator_info& op, std::string_view text) {
    detail::condition_value v;
    switch (op.type) {
      case condition_type::string_equals:
        v.text = pattern::compile(text, {.wildcards = op.wildcards, .variables = variables_});
        break;
      case condition_type::arn:
        if (auto fields = arn_fields(text, variables_)) {
          for (std::string_view field : *fields)
            v.arn_fields.push_back(pattern::compile(field, {.wildcards = true, .variables = variables_}));
        } else {
          v.text = pattern::compile(text, {.wildcards = true, .variables = variables_});
        }
        break;
      case condition_type::numeric: {
        auto n = detail::parse_number(text);
        if (!n) return malformed(quoted(text) + " is not a number");
        v.number = *n;
        break;
      }
      case condition_type::date: {
        auto t = detail::parse_date(text);
        if (!t) return malformed(quoted(text) + " is not an ISO 8601 date or epoch seconds");
        v.time = *t;
        break;
      }
      case condition_type::boolean:
      case condition_type::null_check: {
        auto b = detail::parse_bool(text);
        if (!b) return malformed(quoted(text) + " is not true or false");
        v.flag = *b;
        break;
      }
      case condition_type::ip_address: {
        auto network = detail::parse_network(text);
        if (!network) return malformed(quoted(text) + " is not an IP address or CIDR range");
        v.network = *network;
        break;
      }
    }
    return v;
  }

  compiled_policy& out_;
  bool variables_ = false;  // ${...} is a variable only under Version 2012-10-17
};

}  // namespace

std::error_code make_error_code(errc e) {
  static const category instance;
  return {static_cast<int>(e), instance};
}

std::string_view to_string(decision d) {
  switch (d) {
    case decision::allowed: return "ALLOWED";
    case decision::explicit_deny: return "EXPLICIT_DENY";
    case decision::implicit_deny: return "IMPLICIT_DENY";
  }
  return "IMPLICIT_DENY";
}

core::result<std::shared_ptr<const compiled_policy>> compile(std::string_view document) {
  if (document.size() > max_document_bytes)
    return malformed("policy document is larger than " + std::to_string(max_document_bytes) + " bytes");
  if (std::size_t characters = policy_characters(document); characters > max_policy_characters)
    return malformed("policy document has " + std::to_string(characters) +
                     " characters not counting white space; at most " + std::to_string(max_policy_characters) +
                     " are allowed");
  auto root = parse_json(document);
  if (!root) return root.error();
  auto policy = std::make_shared<compiled_policy>();
  if (auto r = compiler(*policy).document(*root); !r) return r.error();
  return std::shared_ptr<const compiled_policy>(std::move(policy));
}

}  // namespace airfleet::policy
