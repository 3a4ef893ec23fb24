#include "aws/iot_api.hpp"

#include "aws/errors.hpp"
#include "aws/input.hpp"
#include "aws/operation.hpp"
#include "aws/paging.hpp"
#include "core/strings.hpp"

namespace airfleet::aws {

namespace json = boost::json;
namespace bhttp = boost::beast::http;
using verb = bhttp::verb;

namespace {

// ---- readers ---------------------------------------------------------------


core::result<std::optional<registry::attribute_payload>> attribute_payload_in(const json::object& o,
                                                                              const std::string& where) {
  auto* v = o.if_contains("attributePayload");
  if (!v || v->is_null()) return std::optional<registry::attribute_payload>{};
  if (!v->is_object()) return invalid_input("Member '" + where + "attributePayload' must be an object");
  const auto& p = v->as_object();
  TRY(attributes, input::string_map_in(p, "attributes", where + "attributePayload.attributes"));
  TRY(merge, input::bool_in(p, "merge", where + "attributePayload.merge"));
  return std::optional<registry::attribute_payload>{
      registry::attribute_payload{attributes.value_or(registry::attribute_map{}), merge.value_or(false)}};
}

core::result<registry::tag_map> tags_in(const json::object& o) {
  registry::tag_map out;
  auto* v = o.if_contains("tags");
  if (!v || v->is_null()) return out;
  if (!v->is_array()) return invalid_input("Member 'tags' must be a list of {Key, Value}");
  for (const auto& item : v->as_array()) {
    if (!item.is_object()) return invalid_input("Each tag must be an object with Key and Value");
    TRY(key, input::string_in(item.as_object(), "Key", "tags[].Key"));
    TRY(value, input::string_in(item.as_object(), "Value", "tags[].Value"));
    if (!key) return invalid_input("Each tag needs a Key");
    out[*key] = value.value_or("");
  }
  return out;
}


core::result<std::optional<std::int64_t>> expected_version_query(const input& in) {
  return in.query_int("expectedVersion");
}

// ---- writers ---------------------------------------------------------------

json::object attributes_json(const registry::attribute_map& m) {
  json::object o;
  for (const auto& [k, v] : m) o[k] = v;
  return o;
}

json::object type_properties(const registry::thing_type& t) {
  json::object props;
  if (t.description) props["thingTypeDescription"] = *t.description;
  json::array searchable;
  for (const auto& a : t.searchable_attributes) searchable.emplace_back(a);
  props["searchableAttributes"] = std::move(searchable);
  return props;
}

json::object type_metadata(const registry::thing_type& t) {
  json::object meta;
  meta["deprecated"] = t.deprecated;
  if (t.deprecated) meta["deprecationDate"] = core::to_epoch_seconds(t.deprecation_date);
  meta["creationDate"] = core::to_epoch_seconds(t.creation_date);
  return meta;
}

json::object group_ref(const registry::name_and_arn& g) {
  return json::object{{"groupName", g.name}, {"groupArn", g.arn}};
}

std::vector<std::string> split_path(std::string_view raw_path) {
  std::vector<std::string> out;
  if (!raw_path.empty() && raw_path.front() == '/') raw_path.remove_prefix(1);
  if (raw_path.empty()) return out;
  for (auto part : core::split(raw_path, '/')) out.emplace_back(part);
  return out;
}

}  // namespace

void add_registry_operations(iot_api& api, registry::registry& r, iot_api::settings s) {

  // Things
  api.add(verb::post, "/things/{thingName}", "CreateThing", true, [&r](const input& in) -> core::result<json::object> {
    TRY(type, in.string("thingTypeName"));
    TRY(payload, attribute_payload_in(in.body(), ""));
    TRY(t, r.create_thing({in.path("thingName"), type, payload}));
    return json::object{{"thingName", t.name}, {"thingArn", t.arn}, {"thingId", t.id}};
  });
  api.add(verb::get, "/things/{thingName}", "DescribeThing", false, [&r](const input& in) -> core::result<json::object> {
    TRY(t, r.describe_thing(in.path("thingName")));
    json::object o{{"defaultClientId", t.name}, {"thingName", t.name}, {"thingId", t.id}, {"thingArn", t.arn}};
    if (t.type_name) o["thingTypeName"] = *t.type_name;
    o["attributes"] = attributes_json(t.attributes);
    o["version"] = t.version;
    return o;
  });
  api.add(verb::patch, "/things/{thingName}", "UpdateThing", true, [&r](const input& in) -> core::result<json::object> {
    TRY(type, in.string("thingTypeName"));
    TRY(remove, in.boolean("removeThingType"));
    TRY(payload, attribute_payload_in(in.body(), ""));
    TRY(expected, in.integer("expectedVersion"));
    if (auto d = r.update_thing({in.path("thingName"), type, remove.value_or(false), payload, expected}); !d)
      return d.error();
    return json::object{};
  });
  api.add(verb::delete_, "/things/{thingName}", "DeleteThing", true, [&r](const input& in) -> core::result<json::object> {
    TRY(expected, expected_version_query(in));
    if (auto d = r.delete_thing(in.path("thingName"), expected); !d) return d.error();
    return json::object{};
  });
  api.add(verb::get, "/things", "ListThings", false, [&r](const input& in) -> core::result<json::object> {
    TRY(page, token_page(in));
    TRY(prefix, in.query_bool("usePrefixAttributeValue"));
    registry::list_things_request req{in.query("attributeName"), in.query("attributeValue"), prefix.value_or(false),
                                      in.query("thingTypeName"), page};
    TRY(result, r.list_things(req));
    return page_json("things", result, [](const registry::thing& t) {
      json::object o{{"thingName", t.name}};
      if (t.type_name) o["thingTypeName"] = *t.type_name;
      o["thingArn"] = t.arn;
      o["attributes"] = attributes_json(t.attributes);
      o["version"] = t.version;
      return o;
    });
  });

  // Thing types
  api.add(verb::post, "/thing-types/{thingTypeName}", "CreateThingType", true,
      [&r](const input& in) -> core::result<json::object> {
        registry::create_thing_type_request req{in.path("thingTypeName"), {}, {}, {}};
        TRY(props, in.object_member("thingTypeProperties"));
        if (props) {
          TRY(description, input::string_in(*props, "thingTypeDescription", "thingTypeProperties.thingTypeDescription"));
          req.description = description;
          if (auto* s = props->if_contains("searchableAttributes"); s && !s->is_null()) {
            if (!s->is_array()) return invalid_input("Member 'thingTypeProperties.searchableAttributes' must be a list");
            for (const auto& a : s->as_array()) {
              if (!a.is_string()) return invalid_input("Each searchable attribute must be a string");
              req.searchable_attributes.emplace_back(a.as_string());
            }
          }
        }
        TRY(tags, tags_in(in.body()));
        req.tags = std::move(tags);
        TRY(t, r.create_thing_type(req));
        return json::object{{"thingTypeName", t.name}, {"thingTypeArn", t.arn}, {"thingTypeId", t.id}};
      });
  api.add(verb::get, "/thing-types/{thingTypeName}", "DescribeThingType", false,
      [&r](const input& in) -> core::result<json::object> {
        TRY(t, r.describe_thing_type(in.path("thingTypeName")));
        return json::object{{"thingTypeName", t.name}, {"thingTypeId", t.id}, {"thingTypeArn", t.arn},
                            {"thingTypeProperties", type_properties(t)}, {"thingTypeMetadata", type_metadata(t)}};
      });
  api.add(verb::get, "/thing-types", "ListThingTypes", false, [&r](const input& in) -> core::result<json::object> {
    TRY(page, token_page(in));
    TRY(result, r.list_thing_types(in.query("thingTypeName"), page));
    return page_json("thingTypes", result, [](const registry::thing_type& t) {
      return json::object{{"thingTypeName", t.name}, {"thingTypeArn", t.arn},
                          {"thingTypeProperties", type_properties(t)}, {"thingTypeMetadata", type_metadata(t)}};
    });
  });
  api.add(verb::post, "/thing-types/{thingTypeName}/deprecate", "DeprecateThingType", true,
      [&r](const input& in) -> core::result<json::object> {
        TRY(undo, in.boolean("undoDeprecate"));
        if (auto d = r.deprecate_thing_type(in.path("thingTypeName"), undo.value_or(false)); !d) return d.error();
        return json::object{};
      });
  api.add(verb::delete_, "/thing-types/{thingTypeName}", "DeleteThingType", true,
      [&r](const input& in) -> core::result<json::object> {
        if (auto d = r.delete_thing_type(in.path("thingTypeName")); !d) return d.error();
        return json::object{};
      });

  // Thing groups
  api.add(verb::post, "/thing-groups/{thingGroupName}", "CreateThingGroup", true,
      [&r](const input& in) -> core::result<json::object> {
        registry::create_thing_group_request req{in.path("thingGroupName"), {}, {}, {}, {}};
        TRY(parent, in.string("parentGroupName"));
        req.parent_name = parent;
        TRY(props, in.object_member("thingGroupProperties"));
        if (props) {
          TRY(description, input::string_in(*props, "thingGroupDescription", "thingGroupProperties.thingGroupDescription"));
          req.description = description;
          TRY(payload, attribute_payload_in(*props, "thingGroupProperties."));
          req.attributes = payload;
        }
        TRY(tags, tags_in(in.body()));
        req.tags = std::move(tags);
        TRY(g, r.create_thing_group(req));
        return json::object{{"thingGroupName", g.name}, {"thingGroupArn", g.arn}, {"thingGroupId", g.id}};
      });
  api.add(verb::get, "/thing-groups/{thingGroupName}", "DescribeThingGroup", false,
      [&r](const input& in) -> core::result<json::object> {
        TRY(g, r.describe_thing_group(in.path("thingGroupName")));
        json::object props;
        if (g.description) props["thingGroupDescription"] = *g.description;
        props["attributePayload"] = json::object{{"attributes", attributes_json(g.attributes)}};
        json::object meta;
        if (g.parent_name) meta["parentGroupName"] = *g.parent_name;
        json::array chain;
        for (const auto& c : g.root_to_parent) chain.emplace_back(group_ref(c));
        meta["rootToParentThingGroups"] = std::move(chain);
        meta["creationDate"] = core::to_epoch_seconds(g.creation_date);
        return json::object{{"thingGroupName", g.name}, {"thingGroupId", g.id}, {"thingGroupArn", g.arn},
                            {"version", g.version}, {"thingGroupProperties", std::move(props)},
                            {"thingGroupMetadata", std::move(meta)}};
      });
  api.add(verb::patch, "/thing-groups/{thingGroupName}", "UpdateThingGroup", true,
      [&r](const input& in) -> core::result<json::object> {
        registry::update_thing_group_request req{in.path("thingGroupName"), {}, {}, {}};
        TRY(props, in.object_member("thingGroupProperties"));
        if (!props) return invalid_input("Member 'thingGroupProperties' is required");
        TRY(description, input::string_in(*props, "thingGroupDescription", "thingGroupProperties.thingGroupDescription"));
        req.description = description;
        TRY(payload, attribute_payload_in(*props, "thingGroupProperties."));
        req.attributes = payload;
        TRY(expected, in.integer("expectedVersion"));
        req.expected_version = expected;
        TRY(version, r.update_thing_group(req));
        return json::object{{"version", version}};
      });
  api.add(verb::delete_, "/thing-groups/{thingGroupName}", "DeleteThingGroup", true,
      [&r](const input& in) -> core::result<json::object> {
        TRY(expected, expected_version_query(in));
        if (auto d = r.delete_thing_group(in.path("thingGroupName"), expected); !d) return d.error();
        return json::object{};
      });
  api.add(verb::get, "/thing-groups", "ListThingGroups", false, [&r](const input& in) -> core::result<json::object> {
    TRY(page, token_page(in));
    TRY(recursive, in.query_bool("recursive"));
    TRY(result, r.list_thing_groups({in.query("parentGroup"), in.query("namePrefixFilter"), recursive, page}));
    return page_json("thingGroups", result, group_ref);
  });
  auto membership = [](const input& in) -> core::result<std::pair<std::string, std::string>> {
    TRY(group_name, in.string("thingGroupName"));
    TRY(group_arn, in.string("thingGroupArn"));
    TRY(thing_name, in.string("thingName"));
    TRY(thing_arn, in.string("thingArn"));
    if (!group_name && !group_arn) return invalid_input("Either thingGroupName or thingGroupArn is required");
    if (!thing_name && !thing_arn) return invalid_input("Either thingName or thingArn is required");
    return std::pair{group_name ? *group_name : *group_arn, thing_name ? *thing_name : *thing_arn};
  };
  api.add(verb::put, "/thing-groups/addThingToThingGroup", "AddThingToThingGroup", true,
      [&r, membership](const input& in) -> core::result<json::object> {
        TRY(m, membership(in));
        if (auto d = r.add_thing_to_group(m.first, m.second); !d) return d.error();
        return json::object{};
      });
  api.add(verb::put, "/thing-groups/removeThingFromThingGroup", "RemoveThingFromThingGroup", true,
      [&r, membership](const input& in) -> core::result<json::object> {
        TRY(m, membership(in));
        if (auto d = r.remove_thing_from_group(m.first, m.second); !d) return d.error();
        return json::object{};
      });
  api.add(verb::put, "/thing-groups/updateThingGroupsForThing", "UpdateThingGroupsForThing", true,
      [&r](const input& in) -> core::result<json::object> {
        TRY(thing, in.string("thingName"));
        if (!thing) return invalid_input("Member 'thingName' is required");
        TRY(add_groups, in.string_list("thingGroupsToAdd"));
        TRY(remove_groups, in.string_list("thingGroupsToRemove"));
        if (auto d = r.update_groups_for_thing(*thing, add_groups.value_or(std::vector<std::string>{}),
                                               remove_groups.value_or(std::vector<std::string>{}));
            !d)
          return d.error();
        return json::object{};
      });
  api.add(verb::get, "/thing-groups/{thingGroupName}/things", "ListThingsInThingGroup", false,
      [&r](const input& in) -> core::result<json::object> {
        TRY(page, token_page(in));
        TRY(recursive, in.query_bool("recursive"));
        TRY(result, r.list_things_in_group(in.path("thingGroupName"), recursive.value_or(false), page));
        return page_json("things", result, [](const std::string& n) { return json::value(n); });
      });
  api.add(verb::get, "/things/{thingName}/thing-groups", "ListThingGroupsForThing", false,
      [&r](const input& in) -> core::result<json::object> {
        TRY(page, token_page(in));
        TRY(result, r.list_groups_for_thing(in.path("thingName"), page));
        return page_json("thingGroups", result, group_ref);
      });

  // Tags
  api.add(verb::post, "/tags", "TagResource", true, [&r](const input& in) -> core::result<json::object> {
    TRY(arn, in.string("resourceArn"));
    if (!arn) return invalid_input("Member 'resourceArn' is required");
    TRY(tags, tags_in(in.body()));
    if (auto d = r.tag_resource(*arn, tags); !d) return d.error();
    return json::object{};
  });
  api.add(verb::post, "/untag", "UntagResource", true, [&r](const input& in) -> core::result<json::object> {
    TRY(arn, in.string("resourceArn"));
    if (!arn) return invalid_input("Member 'resourceArn' is required");
    TRY(keys, in.string_list("tagKeys"));
    if (!keys) return invalid_input("Member 'tagKeys' is required");
    if (auto d = r.untag_resource(*arn, *keys); !d) return d.error();
    return json::object{};
  });
  api.add(verb::get, "/tags", "ListTagsForResource", false, [&r](const input& in) -> core::result<json::object> {
    auto arn = in.query("resourceArn");
    if (!arn) return invalid_input("Query parameter 'resourceArn' is required");
    TRY(page, token_page(in));
    TRY(result, r.list_tags(*arn, page));
    return page_json("tags", result, [](const std::pair<std::string, std::string>& t) {
      return json::object{{"Key", t.first}, {"Value", t.second}};
    });
  });

  // Endpoint
  api.add(verb::get, "/endpoint", "DescribeEndpoint", false, [s](const input& in) -> core::result<json::object> {
    auto type = in.query("endpointType").value_or("iot:Data");
    if (type != "iot:Data" && type != "iot:Data-ATS" && type != "iot:CredentialProvider" && type != "iot:Jobs")
      return invalid_input("endpointType must be one of iot:Data, iot:Data-ATS, iot:CredentialProvider, iot:Jobs");
    return json::object{{"endpointAddress", s.endpoint_address}};
  });
}


void iot_api::add(verb method, std::string_view pattern, std::string operation, bool mutating,
                  std::function<core::result<json::object>(const input&)> call) {
  routes_.push_back({method, split_path(pattern), std::move(operation), mutating, std::move(call)});
}

core::result<iot_api::match> iot_api::find(verb method, std::string_view raw_path) const {
  auto segments = split_path(raw_path);
  const route* best = nullptr;
  int best_literals = -1;
  bool path_known = false;
  std::map<std::string, std::string> best_params;
  for (const auto& r : routes_) {
    if (r.segments.size() != segments.size()) continue;
    std::map<std::string, std::string> params;
    int literals = 0;
    bool ok = true;
    for (std::size_t i = 0; i < segments.size() && ok; ++i) {
      const auto& pattern = r.segments[i];
      if (pattern.size() > 2 && pattern.front() == '{') {
        auto decoded = core::uri_decode(segments[i]);
        if (!decoded || decoded->empty()) ok = false;
        else params[pattern.substr(1, pattern.size() - 2)] = std::move(*decoded);
      } else if (pattern == segments[i]) {
        ++literals;
      } else {
        ok = false;
      }
    }
    if (!ok) continue;
    if (r.method != method) {
      path_known = true;
      continue;
    }
    if (literals > best_literals) {
      best = &r;
      best_literals = literals;
      best_params = std::move(params);
    }
  }
  if (best) return match{best, std::move(best_params)};
  if (path_known)
    return core::make_error(errc::method_not_allowed, "The method is not allowed on " + std::string(raw_path));
  return core::make_error(errc::unknown_operation, "No operation is served at " + std::string(raw_path));
}

http::response iot_api::invoke(const match& m, const http::request& request) const {
  auto in = input::from(request, m.params);
  if (!in) return json_error(in.error(), request.version());
  auto out = m.route->call(*in);
  if (!out) return json_error(out.error(), request.version());
  http::response res{bhttp::status::ok, request.version()};
  res.set(bhttp::field::content_type, "application/json");
  res.body() = json::serialize(*out);
  return res;
}

}  // namespace airfleet::aws
