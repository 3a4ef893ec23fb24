// evaluate(): IAM's evaluation order over compiled policies. Keys and
// variables are read from the request context only when a statement that
// got that far needs them, and matched in place.
#include "policy/compiled.hpp"

#include <charconv>

namespace airfleet::policy {

namespace {

using namespace detail;

// Certificate fields longer than this, or holding one of these characters,
// are not substituted for ${iot:Certificate...} (AWS's certificate policy
// variable limitations).
constexpr std::size_t max_substituted_certificate_value = 1024;
constexpr std::string_view certificate_wildcards = "*$+?#";

// Reads condition keys and variable values from one request.
class resolver {
 public:
  explicit resolver(const request_context& ctx) : ctx_(ctx) {}

  core::time_point now() const { return ctx_.now; }

  std::optional<std::string_view> key(const key_ref& k) {
    switch (k.kind) {
      case key_kind::unknown: return std::nullopt;
      case key_kind::client_id:
        if (ctx_.client_id.empty()) return std::nullopt;
        return ctx_.client_id;
      case key_kind::thing_name:
        if (!ctx_.thing) return std::nullopt;
        return ctx_.thing->name;
      case key_kind::thing_type_name:
        if (!ctx_.thing || !ctx_.thing->type_name) return std::nullopt;
        return *ctx_.thing->type_name;
      case key_kind::thing_attribute: {
        if (!ctx_.thing) return std::nullopt;
        auto it = ctx_.thing->attributes.find(k.argument);
        if (it == ctx_.thing->attributes.end()) return std::nullopt;
        return it->second;
      }
      case key_kind::thing_is_attached: return ctx_.thing ? "true" : "false";
      case key_kind::certificate: {
        auto it = ctx_.certificate.find(k.argument);
        if (it == ctx_.certificate.end()) return std::nullopt;
        return it->second;
      }
      case key_kind::source_ip:
        if (!ctx_.source_ip) return std::nullopt;
        return *ctx_.source_ip;
      case key_kind::current_time:
        if (!current_time_) current_time_ = core::format_iso8601(ctx_.now);
        return *current_time_;
      case key_kind::epoch_time:
        if (epoch_time_size_ == 0) {
          auto seconds = std::chrono::duration_cast<std::chrono::seconds>(ctx_.now.time_since_epoch()).count();
          epoch_time_size_ = static_cast<std::size_t>(
              std::to_chars(epoch_time_, epoch_time_ + sizeof epoch_time_, seconds).ptr - epoch_time_);
        }
        return std::string_view(epoch_time_, epoch_time_size_);
      case key_kind::secure_transport: return ctx_.secure_transport ? "true" : "false";
    }
    return std::nullopt;
  }

  // The value that replaces ${k}; nullopt leaves the variable unresolved.
  std::optional<std::string_view> substitution(const key_ref& k) {
    std::optional<std::string_view> value = key(k);
    if (value && k.kind == key_kind::certificate &&
        (value->size() > max_substituted_certificate_value ||
         value->find_first_of(certificate_wildcards) != std::string_view::npos))
      return std::nullopt;
    return value;
  }

 private:
  const request_context& ctx_;
  std::optional<std::string> current_time_;  // formatted on first use
  char epoch_time_[24] = {};
  std::size_t epoch_time_size_ = 0;
};

template <class T>
bool compare(const T& request_value, const T& policy_value, comparison c) {
  switch (c) {
    case comparison::equal: return request_value == policy_value;
    case comparison::less: return request_value < policy_value;
    case comparison::less_equal: return request_value <= policy_value;
    case comparison::greater: return request_value > policy_value;
    case comparison::greater_equal: return request_value >= policy_value;
  }
  return false;
}

// "arn:aws:iot:us-east-1:123456789012:topic/a:b" -> its six fields (the last
// keeps its colons); nullopt for fewer than six.
std::optional<std::array<std::string_view, 6>> split_arn(std::string_view arn) {
  std::array<std::string_view, 6> fields;
  for (std::size_t i = 0; i < 5; ++i) {
    std::size_t colon = arn.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    fields[i] = arn.substr(0, colon);
    arn.remove_prefix(colon + 1);
  }
  fields[5] = arn;
  return fields;
}

class evaluator {
 public:
  evaluator(std::string_view action, std::string_view resource, const request_context& ctx)
      : action_(action), resource_(resource), resolver_(ctx) {}

  bool applies(const statement& s) {
    return action_matches(s) && resource_matches(s) && conditions_hold(s);
  }

 private:
  auto substitute() {
    return [this](const key_ref& k) { return resolver_.substitution(k); };
  }

  bool action_matches(const statement& s) const {
    bool any = false;
    for (const pattern& p : s.actions) {
      if (glob_match(p.pieces(), action_, true)) {
        any = true;
        break;
      }
    }
    return s.not_action ? !any : any;
  }

  // An entry whose variable does not resolve matches nothing, and keeps
  // NotResource from applying: it can never make the statement apply.
  bool resource_matches(const statement& s) {
    bool any = false, unresolved = false;
    for (const pattern& p : s.resources) {
      match_result m = p.matches_everything() ? match_result::match : match(p, resource_, false, substitute());
      if (m == match_result::match) {
        any = true;
        break;
      }
      if (m == match_result::unresolved) unresolved = true;
    }
    return s.not_resource ? (!any && !unresolved) : any;
  }

  bool conditions_hold(const statement& s) {
    for (const condition& c : s.conditions)
      if (!holds(c)) return false;
    return true;
  }

  bool holds(const condition& c) {
    const bool time_key = c.key.kind == key_kind::current_time || c.key.kind == key_kind::epoch_time;
    std::optional<std::string_view> value;
    if (!(time_key && c.type == condition_type::date)) value = resolver_.key(c.key);
    const bool present = time_key || value.has_value();

    if (c.type == condition_type::null_check) {
      for (const condition_value& v : c.values)
        if (v.flag == !present) return true;
      return false;
    }
    if (!present) {
      if (c.if_exists || c.qualifier == set_qualifier::for_all_values) return true;
      if (c.qualifier == set_qualifier::for_any_value) return false;
      return c.negated;  // IAM: an absent key satisfies StringNotEquals & co.
    }

    bool matched = false, unresolved = false;
    auto note = [&](match_result m) {
      if (m == match_result::match) matched = true;
      if (m == match_result::unresolved) unresolved = true;
      return matched;
    };
    switch (c.type) {
      case condition_type::string_equals:
        for (const condition_value& v : c.values)
          if (note(match(v.text, *value, c.ignore_case, substitute()))) break;
        break;
      case condition_type::arn: {
        auto fields = split_arn(*value);
        for (const condition_value& v : c.values)
          if (note(arn_matches(v, *value, fields))) break;
        break;
      }
      case condition_type::numeric: {
        auto number = parse_number(*value);
        if (!number) return false;  // not comparable: neither equal nor unequal
        for (const condition_value& v : c.values)
          if ((matched = compare(*number, v.number, c.compare))) break;
        break;
      }
      case condition_type::date: {
        auto time = time_key ? std::optional(resolver_.now()) : parse_date(*value);
        if (!time) return false;
        for (const condition_value& v : c.values)
          if ((matched = compare(*time, v.time, c.compare))) break;
        break;
      }
      case condition_type::boolean: {
        auto flag = parse_bool(*value);
        if (!flag) return false;
        for (const condition_value& v : c.values)
          if ((matched = v.flag == *flag)) break;
        break;
      }
      case condition_type::ip_address: {
        auto address = parse_ip(*value);
        if (!address) return false;
        for (const condition_value& v : c.values)
          if ((matched = v.network.contains(*address))) break;
        break;
      }
      case condition_type::null_check: break;  // handled above
    }
    return c.negated ? (!matched && !unresolved) : matched;
  }

  match_result arn_matches(const condition_value& v, std::string_view value,
                           const std::optional<std::array<std::string_view, 6>>& fields) {
    if (v.arn_fields.empty()) return match(v.text, value, false, substitute());
    if (!fields) return match_result::no_match;
    match_result result = match_result::match;
    for (std::size_t i = 0; i < 6; ++i) {
      match_result m = match(v.arn_fields[i], (*fields)[i], false, substitute());
      if (m == match_result::unresolved) return m;
      if (m == match_result::no_match) result = m;
    }
    return result;
  }

  std::string_view action_;
  std::string_view resource_;
  resolver resolver_;
};

}  // namespace

evaluation evaluate_detailed(std::span<const compiled_policy* const> policies, std::string_view action,
                             std::string_view resource, const request_context& ctx) {
  evaluator e(action, resource, ctx);
  for (std::size_t i = 0; i < policies.size(); ++i) {
    if (!policies[i]) continue;
    for (std::uint32_t index : policies[i]->deny_statements)
      if (e.applies(policies[i]->statements[index])) return {decision::explicit_deny, static_cast<int>(i)};
  }
  for (std::size_t i = 0; i < policies.size(); ++i) {
    if (!policies[i]) continue;
    for (std::uint32_t index : policies[i]->allow_statements)
      if (e.applies(policies[i]->statements[index])) return {decision::allowed, static_cast<int>(i)};
  }
  return {decision::implicit_deny, -1};
}

decision evaluate(std::span<const compiled_policy* const> policies, std::string_view action,
                  std::string_view resource, const request_context& ctx) {
  return evaluate_detailed(policies, action, resource, ctx).result;
}

decision evaluate_one(const compiled_policy& policy, std::string_view action, std::string_view resource,
                      const request_context& ctx) {
  const compiled_policy* one[] = {&policy};
  return evaluate_detailed(one, action, resource, ctx).result;
}

}  // namespace airfleet::policy
