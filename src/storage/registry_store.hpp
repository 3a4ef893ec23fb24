// What the registry engine stores, and the narrow interface it stores it
// through. The engine keeps every rule (names, limits, merge semantics,
// versions); a store only reads and writes rows. All reads and writes of one
// engine call happen inside one `transact` call, so the check-then-write
// sequences stay correct when other writers (other nodes, later) run at once.
#pragma once

#include "core/error.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace airfleet::storage {

using attribute_map = std::map<std::string, std::string>;

struct thing_record {
  std::string name;
  std::string id;
  std::optional<std::string> type_name;
  attribute_map attributes;
  std::int64_t version = 1;
  std::int64_t created_ms = 0;
};

struct thing_type_record {
  std::string name;
  std::string id;
  std::optional<std::string> description;
  std::vector<std::string> searchable_attributes;
  bool deprecated = false;
  std::int64_t deprecated_ms = 0;
  std::int64_t created_ms = 0;
};

struct thing_group_record {
  std::string name;
  std::string id;
  std::optional<std::string> parent_name;
  std::optional<std::string> description;
  attribute_map attributes;
  std::int64_t version = 1;
  std::int64_t created_ms = 0;
};

struct thing_filter {
  std::optional<std::string> attribute_name;
  std::optional<std::string> attribute_value;
  bool attribute_value_is_prefix = false;
  std::optional<std::string> type_name;
};

// Keyset position: list calls return rows strictly after it, in key order.
// `primary` is the main sort key (a name, or an attribute value when listing
// by attribute prefix); `secondary` breaks ties (the thing name).
struct list_position {
  std::string primary;
  std::string secondary;
};

class registry_reader {
 public:
  virtual ~registry_reader() = default;
  virtual core::result<std::optional<thing_record>> find_thing(const std::string& name) = 0;
  // Things in key order after `after`; with an attribute-prefix filter the
  // order is (attribute value, name), otherwise name.
  virtual core::result<std::vector<thing_record>> list_things(const thing_filter& filter,
                                                              const std::optional<list_position>& after,
                                                              int limit) = 0;
  virtual core::result<std::int64_t> count_things_of_type(const std::string& type_name) = 0;
  // Certificates (principals) attached to the thing; a thing with any is not deleted.
  virtual core::result<std::int64_t> count_principals(const std::string& thing) = 0;

  virtual core::result<std::optional<thing_type_record>> find_thing_type(const std::string& name) = 0;
  virtual core::result<std::vector<thing_type_record>> list_thing_types(
      const std::optional<std::string>& name, const std::optional<std::string>& after, int limit) = 0;

  virtual core::result<std::optional<thing_group_record>> find_thing_group(const std::string& name) = 0;
  // Groups by name after `after`; restricted to `names` when given and to names starting with `prefix`.
  virtual core::result<std::vector<thing_group_record>> list_thing_groups(
      const std::optional<std::vector<std::string>>& names, const std::string& prefix,
      const std::optional<std::string>& after, int limit) = 0;
  virtual core::result<std::vector<std::string>> child_group_names(const std::string& parent) = 0;
  virtual core::result<std::vector<std::string>> root_group_names() = 0;

  virtual core::result<bool> is_member(const std::string& group, const std::string& thing) = 0;
  virtual core::result<std::vector<std::string>> groups_of_thing(const std::string& thing) = 0;
  // Distinct things in any of `groups`, by name, after `after`.
  virtual core::result<std::vector<std::string>> things_in_groups(const std::vector<std::string>& groups,
                                                                  const std::optional<std::string>& after,
                                                                  int limit) = 0;

  virtual core::result<std::map<std::string, std::string>> tags(const std::string& arn) = 0;
};

class registry_writer : public registry_reader {
 public:
  virtual core::result<void> insert_thing(const thing_record& thing) = 0;
  virtual core::result<void> update_thing(const thing_record& thing) = 0;
  virtual core::result<void> delete_thing(const std::string& name) = 0;

  virtual core::result<void> insert_thing_type(const thing_type_record& type) = 0;
  virtual core::result<void> update_thing_type(const thing_type_record& type) = 0;
  virtual core::result<void> delete_thing_type(const std::string& name) = 0;

  virtual core::result<void> insert_thing_group(const thing_group_record& group) = 0;
  virtual core::result<void> update_thing_group(const thing_group_record& group) = 0;
  virtual core::result<void> delete_thing_group(const std::string& name) = 0;

  virtual core::result<void> add_member(const std::string& group, const std::string& thing) = 0;
  virtual core::result<void> remove_member(const std::string& group, const std::string& thing) = 0;

  virtual core::result<void> set_tags(const std::string& arn, const std::map<std::string, std::string>& tags) = 0;
  virtual core::result<void> remove_tags(const std::string& arn, const std::vector<std::string>& keys) = 0;
  virtual core::result<void> remove_all_tags(const std::string& arn) = 0;
};

class registry_store {
 public:
  virtual ~registry_store() = default;
  // Runs `work` atomically and durably: all of it or none of it.
  virtual core::result<void> transact(const std::function<core::result<void>(registry_writer&)>& work) = 0;
  virtual core::result<void> read(const std::function<core::result<void>(registry_reader&)>& work) = 0;
};

}  // namespace airfleet::storage
