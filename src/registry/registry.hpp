// The device registry: things, thing types and thing groups, with AWS IoT's
// rules (names, attribute limits, merge semantics, versions, hierarchies).
//
// Rules kept here, as the AWS IoT developer guide states them:
// * Names of things, types and groups match [a-zA-Z0-9:_-]{1,128}; attribute
//   names [a-zA-Z0-9_.,@/:#-]{1,128}, values [a-zA-Z0-9_.,@/:#-]{0,800}.
// * A thing holds at most 3 attributes without a thing type, 50 with one; a
//   type names at most 3 searchable attributes. No new thing (and no thing
//   moved) into a deprecated type; a type is deleted only once deprecated and
//   no thing uses it.
// * Attribute payloads merge (merge=true: add/overwrite, an empty value
//   removes) or replace (merge=false). Every change bumps `version`;
//   expectedVersion guards updates and deletes.
// * Creating something that exists with the same configuration succeeds and
//   returns it; with a different one it is ResourceAlreadyExists.
// * Groups nest up to 7 levels; a group with children is not deleted; a thing
//   joins at most 10 groups and at most one group of any one hierarchy.
// * Deleting a thing or group that does not exist succeeds (as AWS does); a
//   thing with certificates attached is not deleted (detach them first).
// Every engine call runs in one store transaction, so these checks hold under
// concurrent writers.
#pragma once

#include "core/error.hpp"
#include "core/page_token.hpp"
#include "core/time.hpp"
#include "registry/errors.hpp"
#include "storage/registry_store.hpp"

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace airfleet::registry {

using attribute_map = std::map<std::string, std::string>;
using tag_map = std::map<std::string, std::string>;

struct registry_limits {
  int attributes_without_type = 3;
  int attributes_with_type = 50;
  int searchable_attributes = 3;
  int group_attributes = 50;
  int group_depth = 7;
  int groups_per_thing = 10;
  int tags_per_resource = 50;
  int max_results = 250;
  int default_results = 50;
};

struct attribute_payload {
  attribute_map attributes;
  bool merge = false;
};

struct thing {
  std::string name;
  std::string id;
  std::string arn;
  std::optional<std::string> type_name;
  attribute_map attributes;
  std::int64_t version = 0;
};

struct thing_type {
  std::string name;
  std::string id;
  std::string arn;
  std::optional<std::string> description;
  std::vector<std::string> searchable_attributes;
  bool deprecated = false;
  core::time_point deprecation_date;
  core::time_point creation_date;
};

struct name_and_arn {
  std::string name;
  std::string arn;
};

struct thing_group {
  std::string name;
  std::string id;
  std::string arn;
  std::int64_t version = 0;
  std::optional<std::string> description;
  attribute_map attributes;
  std::optional<std::string> parent_name;
  std::vector<name_and_arn> root_to_parent;
  core::time_point creation_date;
};

template <class T>
struct page {
  std::vector<T> items;
  std::optional<std::string> next_token;
};

struct page_request {
  std::optional<int> max_results;
  std::optional<std::string> next_token;
};

struct create_thing_request {
  std::string name;
  std::optional<std::string> type_name;
  std::optional<attribute_payload> attributes;
};

struct update_thing_request {
  std::string name;
  std::optional<std::string> type_name;
  bool remove_type = false;
  std::optional<attribute_payload> attributes;
  std::optional<std::int64_t> expected_version;
};

struct list_things_request {
  std::optional<std::string> attribute_name;
  std::optional<std::string> attribute_value;
  bool use_prefix_attribute_value = false;
  std::optional<std::string> type_name;
  page_request page;
};

struct create_thing_type_request {
  std::string name;
  std::optional<std::string> description;
  std::vector<std::string> searchable_attributes;
  tag_map tags;
};

struct create_thing_group_request {
  std::string name;
  std::optional<std::string> parent_name;
  std::optional<std::string> description;
  std::optional<attribute_payload> attributes;
  tag_map tags;
};

struct update_thing_group_request {
  std::string name;
  std::optional<std::string> description;
  std::optional<attribute_payload> attributes;
  std::optional<std::int64_t> expected_version;
};

// A thing joined or left a group (or was deleted, leaving all of them); told
// after the change is durable, to whoever follows memberships (CONTINUOUS jobs).
struct membership_change {
  enum class kind { joined, left, thing_deleted };
  kind what;
  std::string thing;
  std::string group;  // empty for thing_deleted
};

struct list_thing_groups_request {
  std::optional<std::string> parent_group;
  std::optional<std::string> name_prefix;
  std::optional<bool> recursive;
  page_request page;
};

class registry {
 public:
  struct settings {
    std::string account_id;
    std::string region;
    std::string token_secret;
    registry_limits limits;
  };
  registry(storage::registry_store& store, const core::clock& clock, settings s);

  std::string thing_arn(std::string_view name) const;
  std::string thing_type_arn(std::string_view name) const;
  std::string thing_group_arn(std::string_view name) const;

  core::result<thing> create_thing(const create_thing_request& request);
  core::result<thing> describe_thing(const std::string& name);
  core::result<void> update_thing(const update_thing_request& request);
  core::result<void> delete_thing(const std::string& name, std::optional<std::int64_t> expected_version);
  core::result<page<thing>> list_things(const list_things_request& request);

  core::result<thing_type> create_thing_type(const create_thing_type_request& request);
  core::result<thing_type> describe_thing_type(const std::string& name);
  core::result<page<thing_type>> list_thing_types(const std::optional<std::string>& name, const page_request& page);
  core::result<void> deprecate_thing_type(const std::string& name, bool undo);
  core::result<void> delete_thing_type(const std::string& name);

  core::result<thing_group> create_thing_group(const create_thing_group_request& request);
  core::result<thing_group> describe_thing_group(const std::string& name);
  core::result<std::int64_t> update_thing_group(const update_thing_group_request& request);
  core::result<void> delete_thing_group(const std::string& name, std::optional<std::int64_t> expected_version);
  core::result<page<name_and_arn>> list_thing_groups(const list_thing_groups_request& request);

  // Groups and things may be named by name or ARN.
  core::result<void> add_thing_to_group(const std::string& group, const std::string& thing);
  core::result<void> remove_thing_from_group(const std::string& group, const std::string& thing);
  core::result<void> update_groups_for_thing(const std::string& thing, const std::vector<std::string>& add,
                                             const std::vector<std::string>& remove);
  core::result<page<std::string>> list_things_in_group(const std::string& group, bool recursive,
                                                       const page_request& page);
  core::result<page<name_and_arn>> list_groups_for_thing(const std::string& thing, const page_request& page);

  // Called after each committed membership change, on the caller's thread.
  void set_membership_listener(std::function<void(const membership_change&)> listener) {
    membership_listener_ = std::move(listener);
  }

  core::result<void> tag_resource(const std::string& arn, const tag_map& tags);
  core::result<void> untag_resource(const std::string& arn, const std::vector<std::string>& keys);
  core::result<page<std::pair<std::string, std::string>>> list_tags(const std::string& arn, const page_request& page);

 private:
  core::result<int> page_size(const page_request& page) const;
  thing make_thing(const storage::thing_record& record) const;
  // The position fields of a page token for `query`; nullopt on the first page.
  core::result<std::optional<std::vector<std::string>>> decode_token(const std::string& query, const page_request& page,
                                                                     std::size_t fields) const;
  std::string arn(std::string_view type, std::string_view name) const;

  storage::registry_store& store_;
  const core::clock& clock_;
  settings settings_;
  core::page_token_codec tokens_;
  std::function<void(const membership_change&)> membership_listener_;  // set once at start-up
  void tell(membership_change::kind what, const std::string& thing, const std::string& group = {}) const {
    if (membership_listener_) membership_listener_(membership_change{what, thing, group});
  }
};

}  // namespace airfleet::registry
