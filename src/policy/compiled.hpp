// What compile() makes of a policy document: statements split by effect, each
// with its action and resource patterns and its typed conditions, ready for
// evaluate(). Internal to the policy module; users hold it by pointer only.
#pragma once

#include "policy/pattern.hpp"
#include "policy/policy.hpp"
#include "policy/values.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace airfleet::policy {
namespace detail {

enum class condition_type : std::uint8_t {
  string_equals,  // ignore_case for ...IgnoreCase; wildcards for StringLike
  arn,            // ArnEquals and ArnLike alike: wildcards, per ARN field
  numeric,
  date,
  boolean,
  ip_address,
  null_check,
};

enum class comparison : std::uint8_t { equal, less, less_equal, greater, greater_equal };

enum class set_qualifier : std::uint8_t { none, for_any_value, for_all_values };

// One value a condition key is compared with.
struct condition_value {
  pattern text;                     // string_equals; arn when not split
  std::vector<pattern> arn_fields;  // arn: six patterns, one per colon-separated field
  double number = 0;
  core::time_point time{};
  bool flag = false;  // boolean; null_check: "true" = the key must be absent
  ip_network network;
};

struct condition {
  std::string operator_name;  // as written, for messages
  condition_type type = condition_type::string_equals;
  comparison compare = comparison::equal;
  bool negated = false;
  bool ignore_case = false;
  bool if_exists = false;
  set_qualifier qualifier = set_qualifier::none;
  key_ref key;
  std::vector<condition_value> values;  // alternatives
};

enum class statement_effect : std::uint8_t { allow, deny };

struct statement {
  std::string sid;
  statement_effect effect = statement_effect::allow;
  bool not_action = false;
  std::vector<pattern> actions;
  bool not_resource = false;
  std::vector<pattern> resources;
  std::vector<condition> conditions;  // all must hold
};

}  // namespace detail

class compiled_policy {
 public:
  std::string version;  // "2012-10-17" or "2008-10-17"
  std::vector<detail::statement> statements;
  std::vector<std::uint32_t> deny_statements;   // indexes into statements
  std::vector<std::uint32_t> allow_statements;  // indexes into statements
};

}  // namespace airfleet::policy
