#include "registry/registry.hpp"

#include "core/crypto.hpp"
#include "core/strings.hpp"

#include <algorithm>
#include <deque>
#include <set>

namespace airfleet::registry {

namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "airfleet.registry"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::not_found: return "resource not found";
      case errc::already_exists: return "resource already exists";
      case errc::invalid_request: return "invalid request";
      case errc::version_conflict: return "version conflict";
      case errc::limit_exceeded: return "limit exceeded";
      case errc::internal: return "internal failure";
    }
    return "unknown registry error";
  }
};

using storage::registry_reader;
using storage::registry_writer;

core::error invalid(std::string message) { return core::make_error(errc::invalid_request, std::move(message)); }
core::error not_found(std::string message) { return core::make_error(errc::not_found, std::move(message)); }

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ':' || c == '_' ||
         c == '-';
}
bool attribute_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("_.,@/:#-").find(c) != std::string_view::npos;
}

core::result<void> check_name(std::string_view what, std::string_view name) {
  if (name.empty() || name.size() > 128 || !std::all_of(name.begin(), name.end(), name_char))
    return invalid(std::string(what) + " '" + std::string(name.substr(0, 200)) +
                   "' is invalid: it must be 1-128 characters of [a-zA-Z0-9:_-]");
  return {};
}

core::result<void> check_attributes(const attribute_map& attributes) {
  for (const auto& [k, v] : attributes) {
    if (k.empty() || k.size() > 128 || !std::all_of(k.begin(), k.end(), attribute_char))
      return invalid("Attribute name '" + k.substr(0, 200) +
                     "' is invalid: it must be 1-128 characters of [a-zA-Z0-9_.,@/:#-]");
    if (v.size() > 800 || !std::all_of(v.begin(), v.end(), attribute_char))
      return invalid("Value of attribute '" + k + "' is invalid: it must be at most 800 characters of [a-zA-Z0-9_.,@/:#-]");
  }
  return {};
}

core::result<void> check_description(std::string_view what, const std::optional<std::string>& description) {
  if (!description) return {};
  if (description->size() > 2028) return invalid(std::string(what) + " is longer than 2028 characters");
  for (unsigned char c : *description)
    if (c < 0x20 || c == 0x7f) return invalid(std::string(what) + " may not contain control characters");
  return {};
}

core::result<void> check_tags(const tag_map& tags) {
  for (const auto& [k, v] : tags) {
    if (k.empty() || k.size() > 128) return invalid("Tag keys must be 1-128 characters long");
    if (core::starts_with(k, "aws:")) return invalid("Tag keys may not start with the reserved prefix 'aws:'");
    if (v.size() > 256) return invalid("Tag values must be at most 256 characters long");
  }
  return {};
}

// Applies an attribute payload: merge adds and overwrites (an empty value
// removes), replace keeps only the payload. Empty values are never stored.
attribute_map apply_payload(const attribute_map& current, const attribute_payload& payload) {
  attribute_map out = payload.merge ? current : attribute_map{};
  for (const auto& [k, v] : payload.attributes) {
    if (v.empty()) out.erase(k);
    else out[k] = v;
  }
  return out;
}

attribute_map stored_attributes(const std::optional<attribute_payload>& payload) {
  return payload ? apply_payload({}, *payload) : attribute_map{};
}

// Storage failures become internal errors; the engine's own codes pass through.
core::error as_engine_error(core::error e) {
  if (e.code.category() == make_error_code(errc::internal).category()) return e;
  return core::make_error(errc::internal, "storage failure: " + e.message);
}

template <class T>
core::result<T> engine_result(core::result<T> r) {
  if (!r) return as_engine_error(r.error());
  return r;
}

// "arn:aws:iot:<region>:<account>:<type>/<name>" -> (type, name).
core::result<std::pair<std::string, std::string>> parse_iot_arn(const std::string& arn) {
  std::size_t pos = 0;
  std::vector<std::string_view> fields;
  for (int i = 0; i < 5; ++i) {
    auto colon = arn.find(':', pos);
    if (colon == std::string::npos) return invalid("'" + arn + "' is not an AWS IoT ARN");
    fields.emplace_back(std::string_view(arn).substr(pos, colon - pos));
    pos = colon + 1;
  }
  if (fields[0] != "arn" || fields[2] != "iot") return invalid("'" + arn + "' is not an AWS IoT ARN");
  std::string_view resource = std::string_view(arn).substr(pos);
  auto slash = resource.find('/');
  if (slash == std::string_view::npos || slash + 1 == resource.size())
    return invalid("ARN '" + arn + "' does not name a resource");
  return std::pair{std::string(resource.substr(0, slash)), std::string(resource.substr(slash + 1))};
}

// Resolves "name" or an ARN of `type` to a name.
core::result<std::string> resolve(std::string_view what, std::string_view type, const std::string& name_or_arn) {
  if (!core::starts_with(name_or_arn, "arn:")) return name_or_arn;
  auto parsed = parse_iot_arn(name_or_arn);
  if (!parsed) return parsed.error();
  if (parsed->first != type)
    return invalid(std::string(what) + " ARN '" + name_or_arn + "' does not name a " + std::string(type));
  return parsed->second;
}

core::result<std::vector<name_and_arn>> root_to_parent(registry_reader& r, const std::optional<std::string>& parent,
                                                       const std::function<std::string(std::string_view)>& arn_of) {
  std::vector<name_and_arn> chain;
  auto next = parent;
  while (next && chain.size() < 64) {
    chain.push_back({*next, arn_of(*next)});
    auto g = r.find_thing_group(*next);
    if (!g) return g.error();
    next = *g ? (*g)->parent_name : std::nullopt;
  }
  std::reverse(chain.begin(), chain.end());
  return chain;
}

core::result<std::string> root_of(registry_reader& r, const std::string& group) {
  std::string current = group;
  for (int i = 0; i < 64; ++i) {
    auto g = r.find_thing_group(current);
    if (!g) return g.error();
    if (!*g || !(*g)->parent_name) return current;
    current = *(*g)->parent_name;
  }
  return current;
}

core::result<std::vector<std::string>> descendants(registry_reader& r, const std::string& group) {
  std::vector<std::string> out;
  std::deque<std::string> pending{group};
  while (!pending.empty()) {
    auto children = r.child_group_names(pending.front());
    pending.pop_front();
    if (!children) return children.error();
    for (auto& c : *children) {
      out.push_back(c);
      pending.push_back(c);
    }
  }
  return out;
}

}  // namespace

std::error_code make_error_code(errc e) {
  static const category instance;
  return {static_cast<int>(e), instance};
}

registry::registry(storage::registry_store& store, const core::clock& clock, settings s)
    : store_(store), clock_(clock), settings_(std::move(s)), tokens_(settings_.token_secret) {}

std::string registry::arn(std::string_view type, std::string_view name) const {
  std::string out = "arn:aws:iot:" + settings_.region + ":" + settings_.account_id + ":";
  out += type;
  out += '/';
  out += name;
  return out;
}
std::string registry::thing_arn(std::string_view name) const { return arn("thing", name); }

thing registry::make_thing(const storage::thing_record& t) const {
  return {t.name, t.id, thing_arn(t.name), t.type_name, t.attributes, t.version};
}

core::result<std::optional<std::vector<std::string>>> registry::decode_token(const std::string& query,
                                                                            const page_request& page,
                                                                            std::size_t fields) const {
  if (!page.next_token) return std::optional<std::vector<std::string>>{};
  auto decoded = tokens_.decode(query, *page.next_token);
  if (!decoded || decoded->size() != fields) return invalid("The nextToken is invalid or belongs to another query");
  return decoded;
}
std::string registry::thing_type_arn(std::string_view name) const { return arn("thingtype", name); }
std::string registry::thing_group_arn(std::string_view name) const { return arn("thinggroup", name); }

core::result<int> registry::page_size(const page_request& page) const {
  if (!page.max_results) return settings_.limits.default_results;
  if (*page.max_results < 1 || *page.max_results > settings_.limits.max_results)
    return invalid("maxResults must be between 1 and " + std::to_string(settings_.limits.max_results));
  return *page.max_results;
}

// ---- things --------------------------------------------------------------

core::result<thing> registry::create_thing(const create_thing_request& request) {
  if (auto r = check_name("Thing name", request.name); !r) return r.error();
  if (request.type_name)
    if (auto r = check_name("Thing type name", *request.type_name); !r) return r.error();
  attribute_map attributes = stored_attributes(request.attributes);
  if (request.attributes)
    if (auto r = check_attributes(request.attributes->attributes); !r) return r.error();

  thing out;
  auto done = store_.transact([&](registry_writer& w) -> core::result<void> {
    auto existing = w.find_thing(request.name);
    if (!existing) return existing.error();
    if (*existing) {
      const auto& e = **existing;
      if (e.type_name == request.type_name && e.attributes == attributes) {
        out = make_thing(e);
        return {};
      }
      auto err = core::make_error(errc::already_exists,
                                  "Thing " + request.name + " already exists with different attributes");
      err.details = {{"resourceId", e.id}, {"resourceArn", thing_arn(e.name)}};
      return err;
    }
    int limit = settings_.limits.attributes_without_type;
    if (request.type_name) {
      auto type = w.find_thing_type(*request.type_name);
      if (!type) return type.error();
      if (!*type) return not_found("Thing type " + *request.type_name + " does not exist");
      if ((*type)->deprecated)
        return invalid("Can not create new thing with deprecated thing type: " + *request.type_name);
      limit = settings_.limits.attributes_with_type;
    }
    if (static_cast<int>(attributes.size()) > limit)
      return invalid("A thing " + std::string(request.type_name ? "with" : "without") + " a thing type can have at most " +
                     std::to_string(limit) + " attributes; " + std::to_string(attributes.size()) + " were given");
    storage::thing_record record{request.name, core::random_uuid(), request.type_name, attributes, 1,
                                 core::to_epoch_millis(clock_.now())};
    if (auto r = w.insert_thing(record); !r) return r.error();
    out = make_thing(record);
    return {};
  });
  if (!done) return as_engine_error(done.error());
  return out;
}

core::result<thing> registry::describe_thing(const std::string& name) {
  if (auto r = check_name("Thing name", name); !r) return r.error();
  thing out;
  auto done = store_.read([&](registry_reader& r) -> core::result<void> {
    auto t = r.find_thing(name);
    if (!t) return t.error();
    if (!*t) return not_found("Thing " + name + " does not exist");
    out = make_thing(**t);
    return {};
  });
  if (!done) return as_engine_error(done.error());
  return out;
}

core::result<void> registry::update_thing(const update_thing_request& request) {
  if (auto r = check_name("Thing name", request.name); !r) return r.error();
  if (request.remove_type && request.type_name)
    return invalid("Cannot both set thingTypeName and removeThingType");
  if (request.type_name)
    if (auto r = check_name("Thing type name", *request.type_name); !r) return r.error();
  if (request.attributes)
    if (auto r = check_attributes(request.attributes->attributes); !r) return r.error();
  return engine_result(store_.transact([&](registry_writer& w) -> core::result<void> {
    auto found = w.find_thing(request.name);
    if (!found) return found.error();
    if (!*found) return not_found("Thing " + request.name + " does not exist");
    auto record = **found;
    if (request.expected_version && *request.expected_version != record.version)
      return core::make_error(errc::version_conflict, "The version for thing " + request.name +
                                                          " does not match the expected version.");
    if (request.remove_type) record.type_name.reset();
    if (request.type_name && request.type_name != record.type_name) {
      auto type = w.find_thing_type(*request.type_name);
      if (!type) return type.error();
      if (!*type) return not_found("Thing type " + *request.type_name + " does not exist");
      if ((*type)->deprecated)
        return invalid("Can not update a thing to a deprecated thing type: " + *request.type_name);
      record.type_name = request.type_name;
    }
    if (request.attributes) record.attributes = apply_payload(record.attributes, *request.attributes);
    int limit = record.type_name ? settings_.limits.attributes_with_type : settings_.limits.attributes_without_type;
    if (static_cast<int>(record.attributes.size()) > limit)
      return invalid("A thing " + std::string(record.type_name ? "with" : "without") +
                     " a thing type can have at most " + std::to_string(limit) + " attributes");
    record.version += 1;
    return w.update_thing(record);
  }));
}

core::result<void> registry::delete_thing(const std::string& name, std::optional<std::int64_t> expected_version) {
  if (auto r = check_name("Thing name", name); !r) return r.error();
  bool existed = false;
  auto r = engine_result(store_.transact([&](registry_writer& w) -> core::result<void> {
    auto found = w.find_thing(name);
    if (!found) return found.error();
    existed = found->has_value();
    if (!*found) return {};
    if (expected_version && *expected_version != (*found)->version)
      return core::make_error(errc::version_conflict,
                              "The version for thing " + name + " does not match the expected version.");
    auto principals = w.count_principals(name);
    if (!principals) return principals.error();
    if (*principals > 0)
      return invalid("Cannot delete. Thing " + name + " is still attached to one or more principals");
    return w.delete_thing(name);
  }));
  if (r && existed) tell(membership_change::kind::thing_deleted, name);
  return r;
}

core::result<page<thing>> registry::list_things(const list_things_request& request) {
  auto limit = page_size(request.page);
  if (!limit) return limit.error();
  if (request.attribute_value && !request.attribute_name)
    return invalid("attributeValue requires attributeName");
  if (request.attribute_name) {
    attribute_map probe{{*request.attribute_name, request.attribute_value.value_or("x")}};
    if (request.attribute_value && request.attribute_value->empty()) probe.begin()->second = "";
    if (auto r = check_attributes(probe); !r) return r.error();
  }
  if (request.type_name)
    if (auto r = check_name("Thing type name", *request.type_name); !r) return r.error();

  storage::thing_filter filter{request.attribute_name, request.attribute_value,
                               request.use_prefix_attribute_value || !request.attribute_value,
                               request.type_name};
  if (!request.attribute_value) filter.attribute_value_is_prefix = true;  // any value, ordered by value
  std::string query = "things\n" + request.attribute_name.value_or("") + "\n" +
                      request.attribute_value.value_or("") + "\n" + (filter.attribute_value_is_prefix ? "p" : "e") +
                      "\n" + request.type_name.value_or("");
  auto fields = decode_token(query, request.page, 2);
  if (!fields) return fields.error();
  std::optional<storage::list_position> after;
  if (*fields) after = storage::list_position{(**fields)[0], (**fields)[1]};
  page<thing> out;
  auto done = store_.read([&](registry_reader& r) -> core::result<void> {
    auto rows = r.list_things(filter, after, *limit + 1);
    if (!rows) return rows.error();
    bool more = static_cast<int>(rows->size()) > *limit;
    if (more) rows->pop_back();
    for (auto& t : *rows) out.items.push_back(make_thing(t));
    if (more && !rows->empty()) {
      const auto& last = rows->back();
      std::string primary = request.attribute_name ? last.attributes.at(*request.attribute_name) : "";
      out.next_token = tokens_.encode(query, {primary, last.name});
    }
    return {};
  });
  if (!done) return as_engine_error(done.error());
  return out;
}

// ---- thing types -----------------------------------------------------------

namespace {
thing_type to_type(const storage::thing_type_record& t, std::string arn) {
  return {t.name, t.id, std::move(arn), t.description, t.searchable_attributes, t.deprecated,
          core::from_epoch_millis(t.deprecated_ms), core::from_epoch_millis(t.created_ms)};
}
}  // namespace

core::result<thing_type> registry::create_thing_type(const create_thing_type_request& request) {
  if (auto r = check_name("Thing type name", request.name); !r) return r.error();
  if (auto r = check_description("thingTypeDescription", request.description); !r) return r.error();
  if (static_cast<int>(request.searchable_attributes.size()) > settings_.limits.searchable_attributes)
    return invalid("A thing type can have at most " + std::to_string(settings_.limits.searchable_attributes) +
                   " searchable attributes");
  for (const auto& a : request.searchable_attributes)
    if (auto r = check_attributes({{a, ""}}); !r) return r.error();
  if (auto r = check_tags(request.tags); !r) return r.error();
  if (static_cast<int>(request.tags.size()) > settings_.limits.tags_per_resource)
    return core::make_error(errc::limit_exceeded, "A resource can have at most 50 tags");
  thing_type out;
  auto done = store_.transact([&](registry_writer& w) -> core::result<void> {
    auto existing = w.find_thing_type(request.name);
    if (!existing) return existing.error();
    if (*existing) {
      const auto& e = **existing;
      if (e.description == request.description && e.searchable_attributes == request.searchable_attributes) {
        out = to_type(e, thing_type_arn(e.name));
        return {};
      }
      auto err = core::make_error(errc::already_exists, "Thing type " + request.name + " already exists");
      err.details = {{"resourceId", e.id}, {"resourceArn", thing_type_arn(e.name)}};
      return err;
    }
    storage::thing_type_record record{request.name, core::random_uuid(), request.description,
                                      request.searchable_attributes, false, 0, core::to_epoch_millis(clock_.now())};
    if (auto r = w.insert_thing_type(record); !r) return r.error();
    if (auto r = w.set_tags(thing_type_arn(record.name), request.tags); !r) return r.error();
    out = to_type(record, thing_type_arn(record.name));
    return {};
  });
  if (!done) return as_engine_error(done.error());
  return out;
}

core::result<thing_type> registry::describe_thing_type(const std::string& name) {
  if (auto r = check_name("Thing type name", name); !r) return r.error();
  thing_type out;
  auto done = store_.read([&](registry_reader& r) -> core::result<void> {
    auto t = r.find_thing_type(name);
    if (!t) return t.error();
    if (!*t) return not_found("Thing type " + name + " does not exist");
    out = to_type(**t, thing_type_arn(name));
    return {};
  });
  if (!done) return as_engine_error(done.error());
  return out;
}

core::result<page<thing_type>> registry::list_thing_types(const std::optional<std::string>& name,
                                                          const page_request& request) {
  auto limit = page_size(request);
  if (!limit) return limit.error();
  if (name)
    if (auto r = check_name("Thing type name", *name); !r) return r.error();
  std::string query = "thing-types\n" + name.value_or("");
  auto fields = decode_token(query, request, 1);
  if (!fields) return fields.error();
  std::optional<std::string> after;
  if (*fields) after = (**fields)[0];
  page<thing_type> out;
  auto done = store_.read([&](registry_reader& r) -> core::result<void> {
    auto rows = r.list_thing_types(name, after, *limit + 1);
    if (!rows) return rows.error();
    bool more = static_cast<int>(rows->size()) > *limit;
    if (more) rows->pop_back();
    for (auto& t : *rows) out.items.push_back(to_type(t, thing_type_arn(t.name)));
    if (more && !rows->empty()) out.next_token = tokens_.encode(query, {rows->back().name});
    return {};
  });
  if (!done) return as_engine_error(done.error());
  return out;
}

core::result<void> registry::deprecate_thing_type(const std::string& name, bool undo) {
  if (auto r = check_name("Thing type name", name); !r) return r.error();
  return engine_result(store_.transact([&](registry_writer& w) -> core::result<void> {
    auto t = w.find_thing_type(name);
    if (!t) return t.error();
    if (!*t) return not_found("Thing type " + name + " does not exist");
    auto record = **t;
    record.deprecated = !undo;
    record.deprecated_ms = undo ? 0 : core::to_epoch_millis(clock_.now());
    return w.update_thing_type(record);
  }));
}

core::result<void> registry::delete_thing_type(const std::string& name) {
  if (auto r = check_name("Thing type name", name); !r) return r.error();
  return engine_result(store_.transact([&](registry_writer& w) -> core::result<void> {
    auto t = w.find_thing_type(name);
    if (!t) return t.error();
    if (!*t) return not_found("Thing type " + name + " does not exist");
    if (!(*t)->deprecated) return invalid("Thing type " + name + " must be deprecated before it can be deleted");
    auto users = w.count_things_of_type(name);
    if (!users) return users.error();
    if (*users > 0)
      return invalid("Thing type " + name + " is still used by " + std::to_string(*users) + " things");
    if (auto r = w.remove_all_tags(thing_type_arn(name)); !r) return r.error();
    return w.delete_thing_type(name);
  }));
}

// ---- thing groups ----------------------------------------------------------

core::result<thing_group> registry::create_thing_group(const create_thing_group_request& request) {
  if (auto r = check_name("Thing group name", request.name); !r) return r.error();
  if (request.parent_name)
    if (auto r = check_name("Parent group name", *request.parent_name); !r) return r.error();
  if (auto r = check_description("thingGroupDescription", request.description); !r) return r.error();
  attribute_map attributes = stored_attributes(request.attributes);
  if (request.attributes)
    if (auto r = check_attributes(request.attributes->attributes); !r) return r.error();
  if (static_cast<int>(attributes.size()) > settings_.limits.group_attributes)
    return invalid("A thing group can have at most " + std::to_string(settings_.limits.group_attributes) + " attributes");
  if (auto r = check_tags(request.tags); !r) return r.error();
  if (static_cast<int>(request.tags.size()) > settings_.limits.tags_per_resource)
    return core::make_error(errc::limit_exceeded, "A resource can have at most 50 tags");

  thing_group out;
  auto arn_of = [this](std::string_view n) { return thing_group_arn(n); };
  auto done = store_.transact([&](registry_writer& w) -> core::result<void> {
    auto existing = w.find_thing_group(request.name);
    if (!existing) return existing.error();
    if (*existing) {
      const auto& e = **existing;
      if (e.parent_name == request.parent_name && e.description == request.description && e.attributes == attributes) {
        auto chain = root_to_parent(w, e.parent_name, arn_of);
        if (!chain) return chain.error();
        out = {e.name, e.id, thing_group_arn(e.name), e.version, e.description, e.attributes, e.parent_name,
               std::move(*chain), core::from_epoch_millis(e.created_ms)};
        return {};
      }
      auto err = core::make_error(errc::already_exists, "Thing group " + request.name + " already exists with a different configuration");
      err.details = {{"resourceId", e.id}, {"resourceArn", thing_group_arn(e.name)}};
      return err;
    }
    std::vector<name_and_arn> chain;
    if (request.parent_name) {
      auto parent = w.find_thing_group(*request.parent_name);
      if (!parent) return parent.error();
      if (!*parent) return not_found("Parent thing group " + *request.parent_name + " does not exist");
      auto c = root_to_parent(w, request.parent_name, arn_of);
      if (!c) return c.error();
      chain = std::move(*c);
      if (static_cast<int>(chain.size()) + 1 > settings_.limits.group_depth)
        return invalid("Thing group hierarchies are at most " + std::to_string(settings_.limits.group_depth) + " levels deep");
    }
    storage::thing_group_record record{request.name, core::random_uuid(), request.parent_name, request.description,
                                       attributes, 1, core::to_epoch_millis(clock_.now())};
    if (auto r = w.insert_thing_group(record); !r) return r.error();
    if (auto r = w.set_tags(thing_group_arn(record.name), request.tags); !r) return r.error();
    out = {record.name, record.id, thing_group_arn(record.name), 1, record.description, record.attributes,
           record.parent_name, std::move(chain), core::from_epoch_millis(record.created_ms)};
    return {};
  });
  if (!done) return as_engine_error(done.error());
  return out;
}

core::result<thing_group> registry::describe_thing_group(const std::string& name) {
  if (auto r = check_name("Thing group name", name); !r) return r.error();
  thing_group out;
  auto done = store_.read([&](registry_reader& r) -> core::result<void> {
    auto g = r.find_thing_group(name);
    if (!g) return g.error();
    if (!*g) return not_found("Thing group " + name + " does not exist");
    const auto& e = **g;
    auto chain = root_to_parent(r, e.parent_name, [this](std::string_view n) { return thing_group_arn(n); });
    if (!chain) return chain.error();
    out = {e.name, e.id, thing_group_arn(e.name), e.version, e.description, e.attributes, e.parent_name,
           std::move(*chain), core::from_epoch_millis(e.created_ms)};
    return {};
  });
  if (!done) return as_engine_error(done.error());
  return out;
}

core::result<std::int64_t> registry::update_thing_group(const update_thing_group_request& request) {
  if (auto r = check_name("Thing group name", request.name); !r) return r.error();
  if (auto r = check_description("thingGroupDescription", request.description); !r) return r.error();
  if (request.attributes)
    if (auto r = check_attributes(request.attributes->attributes); !r) return r.error();
  std::int64_t version = 0;
  auto done = store_.transact([&](registry_writer& w) -> core::result<void> {
    auto g = w.find_thing_group(request.name);
    if (!g) return g.error();
    if (!*g) return not_found("Thing group " + request.name + " does not exist");
    auto record = **g;
    if (request.expected_version && *request.expected_version != record.version)
      return core::make_error(errc::version_conflict, "The version for thing group " + request.name +
                                                          " does not match the expected version.");
    if (request.description) record.description = request.description;
    if (request.attributes) record.attributes = apply_payload(record.attributes, *request.attributes);
    if (static_cast<int>(record.attributes.size()) > settings_.limits.group_attributes)
      return invalid("A thing group can have at most " + std::to_string(settings_.limits.group_attributes) + " attributes");
    record.version += 1;
    version = record.version;
    return w.update_thing_group(record);
  });
  if (!done) return as_engine_error(done.error());
  return version;
}

core::result<void> registry::delete_thing_group(const std::string& name, std::optional<std::int64_t> expected_version) {
  if (auto r = check_name("Thing group name", name); !r) return r.error();
  return engine_result(store_.transact([&](registry_writer& w) -> core::result<void> {
    auto g = w.find_thing_group(name);
    if (!g) return g.error();
    if (!*g) return {};
    if (expected_version && *expected_version != (*g)->version)
      return core::make_error(errc::version_conflict,
                              "The version for thing group " + name + " does not match the expected version.");
    auto children = w.child_group_names(name);
    if (!children) return children.error();
    if (!children->empty())
      return invalid("Cannot delete thing group " + name + " while it has child groups (" + children->front() + ")");
    if (auto r = w.remove_all_tags(thing_group_arn(name)); !r) return r.error();
    return w.delete_thing_group(name);
  }));
}

core::result<page<name_and_arn>> registry::list_thing_groups(const list_thing_groups_request& request) {
  auto limit = page_size(request.page);
  if (!limit) return limit.error();
  if (request.parent_group)
    if (auto r = check_name("Parent group name", *request.parent_group); !r) return r.error();
  std::string prefix = request.name_prefix.value_or("");
  std::string query = "thing-groups\n" + request.parent_group.value_or("") + "\n" + prefix + "\n" +
                      (request.recursive ? (*request.recursive ? "r" : "n") : "-");
  auto fields = decode_token(query, request.page, 1);
  if (!fields) return fields.error();
  std::optional<std::string> after;
  if (*fields) after = (**fields)[0];
  page<name_and_arn> out;
  auto done = store_.read([&](registry_reader& r) -> core::result<void> {
    std::optional<std::vector<std::string>> names;
    if (request.parent_group) {
      auto parent = r.find_thing_group(*request.parent_group);
      if (!parent) return parent.error();
      if (!*parent) return not_found("Thing group " + *request.parent_group + " does not exist");
      auto found = request.recursive.value_or(false) ? descendants(r, *request.parent_group)
                                                     : r.child_group_names(*request.parent_group);
      if (!found) return found.error();
      names = std::move(*found);
    } else if (request.recursive && !*request.recursive) {
      auto roots = r.root_group_names();
      if (!roots) return roots.error();
      names = std::move(*roots);
    }
    auto rows = r.list_thing_groups(names, prefix, after, *limit + 1);
    if (!rows) return rows.error();
    bool more = static_cast<int>(rows->size()) > *limit;
    if (more) rows->pop_back();
    for (auto& g : *rows) out.items.push_back({g.name, thing_group_arn(g.name)});
    if (more && !rows->empty()) out.next_token = tokens_.encode(query, {rows->back().name});
    return {};
  });
  if (!done) return as_engine_error(done.error());
  return out;
}

// ---- membership ------------------------------------------------------------

namespace {
core::result<void> add_member(registry_writer& w, const std::string& group, const std::string& thing,
                              const registry_limits& limits) {
  auto g = w.find_thing_group(group);
  if (!g) return g.error();
  if (!*g) return not_found("Thing group " + group + " does not exist");
  auto t = w.find_thing(thing);
  if (!t) return t.error();
  if (!*t) return not_found("Thing " + thing + " does not exist");
  auto member = w.is_member(group, thing);
  if (!member) return member.error();
  if (*member) return {};
  auto current = w.groups_of_thing(thing);
  if (!current) return current.error();
  if (static_cast<int>(current->size()) >= limits.groups_per_thing)
    return invalid("Thing " + thing + " is already in " + std::to_string(limits.groups_per_thing) +
                   " thing groups, the most a thing can join");
  auto root = root_of(w, group);
  if (!root) return root.error();
  for (const auto& other : *current) {
    auto other_root = root_of(w, other);
    if (!other_root) return other_root.error();
    if (*other_root == *root)
      return invalid("Thing " + thing + " is already in thing group " + other +
                     ", which is in the same hierarchy as " + group + "; a thing can be in only one group of a hierarchy");
  }
  return w.add_member(group, thing);
}

core::result<void> remove_member(registry_writer& w, const std::string& group, const std::string& thing) {
  auto g = w.find_thing_group(group);
  if (!g) return g.error();
  if (!*g) return not_found("Thing group " + group + " does not exist");
  auto t = w.find_thing(thing);
  if (!t) return t.error();
  if (!*t) return not_found("Thing " + thing + " does not exist");
  return w.remove_member(group, thing);
}
}  // namespace

core::result<void> registry::add_thing_to_group(const std::string& group_ref, const std::string& thing_ref) {
  auto group = resolve("Thing group", "thinggroup", group_ref);
  if (!group) return group.error();
  auto thing = resolve("Thing", "thing", thing_ref);
  if (!thing) return thing.error();
  if (auto r = check_name("Thing group name", *group); !r) return r.error();
  if (auto r = check_name("Thing name", *thing); !r) return r.error();
  auto r = engine_result(store_.transact(
      [&](registry_writer& w) { return add_member(w, *group, *thing, settings_.limits); }));
  if (r) tell(membership_change::kind::joined, *thing, *group);
  return r;
}

core::result<void> registry::remove_thing_from_group(const std::string& group_ref, const std::string& thing_ref) {
  auto group = resolve("Thing group", "thinggroup", group_ref);
  if (!group) return group.error();
  auto thing = resolve("Thing", "thing", thing_ref);
  if (!thing) return thing.error();
  if (auto r = check_name("Thing group name", *group); !r) return r.error();
  if (auto r = check_name("Thing name", *thing); !r) return r.error();
  auto r = engine_result(store_.transact([&](registry_writer& w) { return remove_member(w, *group, *thing); }));
  if (r) tell(membership_change::kind::left, *thing, *group);
  return r;
}

core::result<void> registry::update_groups_for_thing(const std::string& thing, const std::vector<std::string>& add,
                                                     const std::vector<std::string>& remove) {
  if (auto r = check_name("Thing name", thing); !r) return r.error();
  for (const auto& g : add)
    if (auto r = check_name("Thing group name", g); !r) return r.error();
  for (const auto& g : remove)
    if (auto r = check_name("Thing group name", g); !r) return r.error();
  auto r = engine_result(store_.transact([&](registry_writer& w) -> core::result<void> {
    for (const auto& g : remove)
      if (auto r = remove_member(w, g, thing); !r) return r.error();
    for (const auto& g : add)
      if (auto r = add_member(w, g, thing, settings_.limits); !r) return r.error();
    return {};
  }));
  if (r) {
    for (const auto& g : remove) tell(membership_change::kind::left, thing, g);
    for (const auto& g : add) tell(membership_change::kind::joined, thing, g);
  }
  return r;
}

core::result<page<std::string>> registry::list_things_in_group(const std::string& group, bool recursive,
                                                               const page_request& request) {
  if (auto r = check_name("Thing group name", group); !r) return r.error();
  auto limit = page_size(request);
  if (!limit) return limit.error();
  std::string query = "things-in-group\n" + group + "\n" + (recursive ? "r" : "n");
  auto fields = decode_token(query, request, 1);
  if (!fields) return fields.error();
  std::optional<std::string> after;
  if (*fields) after = (**fields)[0];
  page<std::string> out;
  auto done = store_.read([&](registry_reader& r) -> core::result<void> {
    auto g = r.find_thing_group(group);
    if (!g) return g.error();
    if (!*g) return not_found("Thing group " + group + " does not exist");
    std::vector<std::string> groups{group};
    if (recursive) {
      auto below = descendants(r, group);
      if (!below) return below.error();
      groups.insert(groups.end(), below->begin(), below->end());
    }
    auto rows = r.things_in_groups(groups, after, *limit + 1);
    if (!rows) return rows.error();
    bool more = static_cast<int>(rows->size()) > *limit;
    if (more) rows->pop_back();
    out.items = std::move(*rows);
    if (more && !out.items.empty()) out.next_token = tokens_.encode(query, {out.items.back()});
    return {};
  });
  if (!done) return as_engine_error(done.error());
  return out;
}

core::result<page<name_and_arn>> registry::list_groups_for_thing(const std::string& thing, const page_request& request) {
  if (auto r = check_name("Thing name", thing); !r) return r.error();
  auto limit = page_size(request);
  if (!limit) return limit.error();
  std::string query = "groups-for-thing\n" + thing;
  auto fields = decode_token(query, request, 1);
  if (!fields) return fields.error();
  std::optional<std::string> after;
  if (*fields) after = (**fields)[0];
  page<name_and_arn> out;
  auto done = store_.read([&](registry_reader& r) -> core::result<void> {
    auto t = r.find_thing(thing);
    if (!t) return t.error();
    if (!*t) return not_found("Thing " + thing + " does not exist");
    auto groups = r.groups_of_thing(thing);
    if (!groups) return groups.error();
    for (const auto& g : *groups) {
      if (after && g <= *after) continue;
      if (static_cast<int>(out.items.size()) == *limit) {
        out.next_token = tokens_.encode(query, {out.items.back().name});
        break;
      }
      out.items.push_back({g, thing_group_arn(g)});
    }
    return {};
  });
  if (!done) return as_engine_error(done.error());
  return out;
}

// ---- tags ------------------------------------------------------------------

namespace {
// Which taggable resource an ARN names: ("thinggroup"|"thingtype", name).
core::result<std::pair<std::string, std::string>> taggable(const std::string& arn) {
  auto parsed = parse_iot_arn(arn);
  if (!parsed) return parsed.error();
  if (parsed->first != "thinggroup" && parsed->first != "thingtype")
    return invalid("Resources of type '" + parsed->first + "' cannot be tagged here");
  return parsed;
}

core::result<void> check_taggable_exists(registry_reader& r, const std::pair<std::string, std::string>& which,
                                         const std::string& arn) {
  if (which.first == "thinggroup") {
    auto g = r.find_thing_group(which.second);
    if (!g) return g.error();
    if (!*g) return not_found("Resource " + arn + " does not exist");
  } else {
    auto t = r.find_thing_type(which.second);
    if (!t) return t.error();
    if (!*t) return not_found("Resource " + arn + " does not exist");
  }
  return {};
}
}  // namespace

core::result<void> registry::tag_resource(const std::string& arn_text, const tag_map& tags) {
  auto which = taggable(arn_text);
  if (!which) return which.error();
  if (auto r = check_tags(tags); !r) return r.error();
  std::string canonical = arn(which->first, which->second);
  return engine_result(store_.transact([&](registry_writer& w) -> core::result<void> {
    if (auto r = check_taggable_exists(w, *which, arn_text); !r) return r.error();
    auto current = w.tags(canonical);
    if (!current) return current.error();
    auto merged = *current;
    for (const auto& [k, v] : tags) merged[k] = v;
    if (static_cast<int>(merged.size()) > settings_.limits.tags_per_resource)
      return core::make_error(errc::limit_exceeded, "A resource can have at most " +
                                                        std::to_string(settings_.limits.tags_per_resource) + " tags");
    return w.set_tags(canonical, tags);
  }));
}

core::result<void> registry::untag_resource(const std::string& arn_text, const std::vector<std::string>& keys) {
  auto which = taggable(arn_text);
  if (!which) return which.error();
  std::string canonical = arn(which->first, which->second);
  return engine_result(store_.transact([&](registry_writer& w) -> core::result<void> {
    if (auto r = check_taggable_exists(w, *which, arn_text); !r) return r.error();
    return w.remove_tags(canonical, keys);
  }));
}

core::result<page<std::pair<std::string, std::string>>> registry::list_tags(const std::string& arn_text,
                                                                            const page_request& request) {
  auto which = taggable(arn_text);
  if (!which) return which.error();
  std::string canonical = arn(which->first, which->second);
  std::string query = "tags\n" + canonical;
  auto fields = decode_token(query, request, 1);
  if (!fields) return fields.error();
  std::optional<std::string> after;
  if (*fields) after = (**fields)[0];
  page<std::pair<std::string, std::string>> out;
  auto done = store_.read([&](registry_reader& r) -> core::result<void> {
    if (auto c = check_taggable_exists(r, *which, arn_text); !c) return c.error();
    auto tags = r.tags(canonical);
    if (!tags) return tags.error();
    for (const auto& [k, v] : *tags)
      if (!after || k > *after) out.items.emplace_back(k, v);
    return {};
  });
  if (!done) return as_engine_error(done.error());
  return out;
}

}  // namespace airfleet::registry
