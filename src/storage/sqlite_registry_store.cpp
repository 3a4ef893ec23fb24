#include "storage/sqlite_registry_store.hpp"

#include "storage/sqlite_rows.hpp"

#include <boost/json.hpp>

namespace airfleet::storage {

namespace {

namespace json = boost::json;

std::string encode_map(const attribute_map& m) {
  json::object o;
  for (const auto& [k, v] : m) o[k] = v;
  return json::serialize(o);
}
attribute_map decode_map(const std::string& text) {
  attribute_map m;
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return m;
  for (const auto& [k, val] : v.as_object())
    if (val.is_string()) m.emplace(std::string(k), std::string(val.as_string()));
  return m;
}
std::string encode_list(const std::vector<std::string>& items) {
  json::array a;
  for (const auto& s : items) a.emplace_back(s);
  return json::serialize(a);
}
std::vector<std::string> decode_list(const std::string& text) {
  std::vector<std::string> out;
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_array()) return out;
  for (const auto& item : v.as_array())
    if (item.is_string()) out.emplace_back(item.as_string());
  return out;
}

// The smallest string greater than every string starting with `prefix`, or
// nullopt when there is none (prefix of only 0xff bytes).
std::optional<std::string> prefix_upper_bound(std::string prefix) {
  while (!prefix.empty()) {
    auto last = static_cast<unsigned char>(prefix.back());
    if (last < 0xff) {
      prefix.back() = static_cast<char>(last + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::nullopt;
}

constexpr const char* thing_columns = "t.name, t.id, t.type_name, t.attributes, t.version, t.created_ms";
constexpr const char* group_columns = "name, id, parent_name, description, attributes, version, created_ms";
constexpr const char* type_columns =
    "name, id, description, searchable, deprecated, deprecated_ms, created_ms";

thing_record read_thing(const statement& s) {
  thing_record t;
  t.name = s.text(0);
  t.id = s.text(1);
  t.type_name = s.optional_text(2);
  t.attributes = decode_map(s.text(3));
  t.version = s.integer(4);
  t.created_ms = s.integer(5);
  return t;
}
thing_group_record read_group(const statement& s) {
  thing_group_record g;
  g.name = s.text(0);
  g.id = s.text(1);
  g.parent_name = s.optional_text(2);
  g.description = s.optional_text(3);
  g.attributes = decode_map(s.text(4));
  g.version = s.integer(5);
  g.created_ms = s.integer(6);
  return g;
}
thing_type_record read_type(const statement& s) {
  thing_type_record t;
  t.name = s.text(0);
  t.id = s.text(1);
  t.description = s.optional_text(2);
  t.searchable_attributes = decode_list(s.text(3));
  t.deprecated = s.integer(4) != 0;
  t.deprecated_ms = s.integer(5);
  t.created_ms = s.integer(6);
  return t;
}

using rows::collect;
using rows::collect_names;
using rows::find_one;

#define PREPARE(var, sql) AIRFLEET_PREPARE(conn_, var, sql)

class sqlite_registry_txn final : public registry_writer {
 public:
  explicit sqlite_registry_txn(connection& conn) : conn_(conn) {}

  core::result<std::optional<thing_record>> find_thing(const std::string& name) override {
    PREPARE(s, "SELECT t.name, t.id, t.type_name, t.attributes, t.version, t.created_ms "
                        "FROM things t WHERE t.name = ?");
    s.bind(1, name);
    return find_one<thing_record>(s, read_thing);
  }

  core::result<std::vector<thing_record>> list_things(const thing_filter& filter,
                                                      const std::optional<list_position>& after,
                                                      int limit) override {
    std::string sql = "SELECT ";
    sql += thing_columns;
    std::vector<std::string> binds;
    if (filter.attribute_name) {
      sql += " FROM thing_attributes a JOIN things t ON t.name = a.thing_name WHERE a.name = ?";
      binds.push_back(*filter.attribute_name);
      std::string order;
      if (filter.attribute_value && !filter.attribute_value_is_prefix) {
        sql += " AND a.value = ?";
        binds.push_back(*filter.attribute_value);
        if (after) {
          sql += " AND a.thing_name > ?";
          binds.push_back(after->secondary);
        }
        order = " ORDER BY a.thing_name";
      } else {
        if (filter.attribute_value) {  // prefix match on the value
          sql += " AND a.value >= ?";
          binds.push_back(*filter.attribute_value);
          if (auto upper = prefix_upper_bound(*filter.attribute_value)) {
            sql += " AND a.value < ?";
            binds.push_back(*upper);
          }
        }
        if (after) {
          sql += " AND (a.value, a.thing_name) > (?, ?)";
          binds.push_back(after->primary);
          binds.push_back(after->secondary);
        }
        order = " ORDER BY a.value, a.thing_name";
      }
      if (filter.type_name) {
        sql += " AND t.type_name = ?";
        binds.push_back(*filter.type_name);
      }
      sql += order;
    } else {
      sql += " FROM things t WHERE 1";
      if (filter.type_name) {
        sql += " AND t.type_name = ?";
        binds.push_back(*filter.type_name);
      }
      if (after) {
        sql += " AND t.name > ?";
        binds.push_back(after->secondary);
      }
      sql += " ORDER BY t.name";
    }
    sql += " LIMIT ?";
    PREPARE(s, sql);
    int i = 1;
    for (const auto& b : binds) s.bind(i++, b);
    s.bind(i, limit);
    return collect<thing_record>(s, read_thing);
  }

  core::result<std::int64_t> count_things_of_type(const std::string& type_name) override {
    PREPARE(s, "SELECT count(*) FROM things WHERE type_name = ?");
    s.bind(1, type_name);
    auto row = s.step();
    if (!row) return row.error();
    auto n = s.integer(0);
    s.reset();
    return n;
  }

  core::result<std::int64_t> count_principals(const std::string& thing) override {
    PREPARE(s, "SELECT count(*) FROM thing_principals WHERE thing_name = ?");
    s.bind(1, thing);
    return rows::single_integer(s);
  }

  core::result<std::optional<thing_type_record>> find_thing_type(const std::string& name) override {
    PREPARE(s, std::string("SELECT ") + type_columns + " FROM thing_types WHERE name = ?");
    s.bind(1, name);
    return find_one<thing_type_record>(s, read_type);
  }

  core::result<std::vector<thing_type_record>> list_thing_types(const std::optional<std::string>& name,
                                                                const std::optional<std::string>& after,
                                                                int limit) override {
    PREPARE(s, std::string("SELECT ") + type_columns +
                            " FROM thing_types WHERE (?1 IS NULL OR name = ?1) AND (?2 IS NULL OR name > ?2)"
                            " ORDER BY name LIMIT ?3");
    s.bind(1, name).bind(2, after).bind(3, limit);
    return collect<thing_type_record>(s, read_type);
  }

  core::result<std::optional<thing_group_record>> find_thing_group(const std::string& name) override {
    PREPARE(s, std::string("SELECT ") + group_columns + " FROM thing_groups WHERE name = ?");
    s.bind(1, name);
    return find_one<thing_group_record>(s, read_group);
  }

  core::result<std::vector<thing_group_record>> list_thing_groups(
      const std::optional<std::vector<std::string>>& names, const std::string& prefix,
      const std::optional<std::string>& after, int limit) override {
    PREPARE(s, std::string("SELECT ") + group_columns +
                            " FROM thing_groups WHERE (?1 IS NULL OR name IN (SELECT value FROM json_each(?1)))"
                            " AND substr(name, 1, length(?2)) = ?2 AND (?3 IS NULL OR name > ?3)"
                            " ORDER BY name LIMIT ?4");
    if (names) s.bind(1, encode_list(*names));
    s.bind(2, prefix).bind(3, after).bind(4, limit);
    return collect<thing_group_record>(s, read_group);
  }

  core::result<std::vector<std::string>> child_group_names(const std::string& parent) override {
    PREPARE(s, "SELECT name FROM thing_groups WHERE parent_name = ? ORDER BY name");
    s.bind(1, parent);
    return collect_names(s);
  }

  core::result<std::vector<std::string>> root_group_names() override {
    PREPARE(s, "SELECT name FROM thing_groups WHERE parent_name IS NULL ORDER BY name");
    return collect_names(s);
  }

  core::result<bool> is_member(const std::string& group, const std::string& thing) override {
    PREPARE(s, "SELECT 1 FROM thing_group_members WHERE group_name = ? AND thing_name = ?");
    s.bind(1, group).bind(2, thing);
    auto row = s.step();
    if (!row) return row.error();
    bool found = *row;
    s.reset();
    return found;
  }

  core::result<std::vector<std::string>> groups_of_thing(const std::string& thing) override {
    PREPARE(s, "SELECT group_name FROM thing_group_members WHERE thing_name = ? ORDER BY group_name");
    s.bind(1, thing);
    return collect_names(s);
  }

  core::result<std::vector<std::string>> things_in_groups(const std::vector<std::string>& groups,
                                                          const std::optional<std::string>& after,
                                                          int limit) override {
    if (groups.size() == 1) {
      PREPARE(s, "SELECT thing_name FROM thing_group_members WHERE group_name = ?1"
                          " AND (?2 IS NULL OR thing_name > ?2) ORDER BY thing_name LIMIT ?3");
      s.bind(1, groups.front()).bind(2, after).bind(3, limit);
      return collect_names(s);
    }
    PREPARE(s, "SELECT DISTINCT thing_name FROM thing_group_members"
                        " WHERE group_name IN (SELECT value FROM json_each(?1))"
                        " AND (?2 IS NULL OR thing_name > ?2) ORDER BY thing_name LIMIT ?3");
    s.bind(1, encode_list(groups)).bind(2, after).bind(3, limit);
    return collect_names(s);
  }

  core::result<std::map<std::string, std::string>> tags(const std::string& arn) override {
    PREPARE(s, "SELECT key, value FROM tags WHERE resource_arn = ? ORDER BY key");
    s.bind(1, arn);
    auto rows = collect<std::pair<std::string, std::string>>(
        s, [](const statement& st) { return std::pair{st.text(0), st.text(1)}; });
    if (!rows) return rows.error();
    return std::map<std::string, std::string>(rows->begin(), rows->end());
  }

  // ---- writes ----------------------------------------------------------
  core::result<void> insert_thing(const thing_record& t) override {
    PREPARE(s, "INSERT INTO things(name, id, type_name, attributes, version, created_ms)"
                        " VALUES (?, ?, ?, ?, ?, ?)");
    s.bind(1, t.name).bind(2, t.id).bind(3, t.type_name).bind(4, encode_map(t.attributes))
        .bind(5, t.version).bind(6, t.created_ms);
    if (auto r = s.run(); !r) return r.error();
    return write_attributes(t);
  }

  core::result<void> update_thing(const thing_record& t) override {
    PREPARE(s, "UPDATE things SET type_name = ?, attributes = ?, version = ? WHERE name = ?");
    s.bind(1, t.type_name).bind(2, encode_map(t.attributes)).bind(3, t.version).bind(4, t.name);
    if (auto r = s.run(); !r) return r.error();
    PREPARE(d, "DELETE FROM thing_attributes WHERE thing_name = ?");
    d.bind(1, t.name);
    if (auto r = d.run(); !r) return r.error();
    return write_attributes(t);
  }

  core::result<void> delete_thing(const std::string& name) override {
    return run_with(conn_, "DELETE FROM things WHERE name = ?", name);
  }

  core::result<void> insert_thing_type(const thing_type_record& t) override {
    PREPARE(s, "INSERT INTO thing_types(name, id, description, searchable, deprecated, deprecated_ms,"
                        " created_ms) VALUES (?, ?, ?, ?, ?, ?, ?)");
    s.bind(1, t.name).bind(2, t.id).bind(3, t.description).bind(4, encode_list(t.searchable_attributes))
        .bind(5, t.deprecated ? 1 : 0).bind(6, t.deprecated_ms).bind(7, t.created_ms);
    return s.run();
  }

  core::result<void> update_thing_type(const thing_type_record& t) override {
    PREPARE(s, "UPDATE thing_types SET description = ?, searchable = ?, deprecated = ?,"
                        " deprecated_ms = ? WHERE name = ?");
    s.bind(1, t.description).bind(2, encode_list(t.searchable_attributes)).bind(3, t.deprecated ? 1 : 0)
        .bind(4, t.deprecated_ms).bind(5, t.name);
    return s.run();
  }

  core::result<void> delete_thing_type(const std::string& name) override {
    return run_with(conn_, "DELETE FROM thing_types WHERE name = ?", name);
  }

  core::result<void> insert_thing_group(const thing_group_record& g) override {
    PREPARE(s, "INSERT INTO thing_groups(name, id, parent_name, description, attributes, version,"
                        " created_ms) VALUES (?, ?, ?, ?, ?, ?, ?)");
    s.bind(1, g.name).bind(2, g.id).bind(3, g.parent_name).bind(4, g.description)
        .bind(5, encode_map(g.attributes)).bind(6, g.version).bind(7, g.created_ms);
    return s.run();
  }

  core::result<void> update_thing_group(const thing_group_record& g) override {
    PREPARE(s, "UPDATE thing_groups SET description = ?, attributes = ?, version = ? WHERE name = ?");
    s.bind(1, g.description).bind(2, encode_map(g.attributes)).bind(3, g.version).bind(4, g.name);
    return s.run();
  }

  core::result<void> delete_thing_group(const std::string& name) override {
    return run_with(conn_, "DELETE FROM thing_groups WHERE name = ?", name);
  }

  core::result<void> add_member(const std::string& group, const std::string& thing) override {
    PREPARE(s, "INSERT OR IGNORE INTO thing_group_members(group_name, thing_name) VALUES (?, ?)");
    s.bind(1, group).bind(2, thing);
    return s.run();
  }

  core::result<void> remove_member(const std::string& group, const std::string& thing) override {
    PREPARE(s, "DELETE FROM thing_group_members WHERE group_name = ? AND thing_name = ?");
    s.bind(1, group).bind(2, thing);
    return s.run();
  }

  core::result<void> set_tags(const std::string& arn, const std::map<std::string, std::string>& tags) override {
    PREPARE(s, "INSERT INTO tags(resource_arn, key, value) VALUES (?, ?, ?)"
                        " ON CONFLICT(resource_arn, key) DO UPDATE SET value = excluded.value");
    for (const auto& [k, v] : tags) {
      s.reset();
      s.bind(1, arn).bind(2, k).bind(3, v);
      if (auto r = s.run(); !r) return r.error();
    }
    return {};
  }

  core::result<void> remove_tags(const std::string& arn, const std::vector<std::string>& keys) override {
    PREPARE(s, "DELETE FROM tags WHERE resource_arn = ? AND key = ?");
    for (const auto& k : keys) {
      s.reset();
      s.bind(1, arn).bind(2, k);
      if (auto r = s.run(); !r) return r.error();
    }
    return {};
  }

  core::result<void> remove_all_tags(const std::string& arn) override {
    return run_with(conn_, "DELETE FROM tags WHERE resource_arn = ?", arn);
  }

 private:
  static core::result<void> run_with(connection& conn, const char* sql, const std::string& arg) {
    auto s = conn.cached(sql);
    if (!s) return s.error();
    (*s)->bind(1, arg);
    return (*s)->run();
  }

  core::result<void> write_attributes(const thing_record& t) {
    PREPARE(s, "INSERT INTO thing_attributes(thing_name, name, value) VALUES (?, ?, ?)");
    for (const auto& [k, v] : t.attributes) {
      s.reset();
      s.bind(1, t.name).bind(2, k).bind(3, v);
      if (auto r = s.run(); !r) return r.error();
    }
    return {};
  }

  connection& conn_;
};

#undef PREPARE

}  // namespace

core::result<void> sqlite_registry_store::transact(
    const std::function<core::result<void>(registry_writer&)>& work) {
  return db_.write([&](connection& conn) -> core::result<void> {
    sqlite_registry_txn txn(conn);
    return work(txn);
  });
}

core::result<void> sqlite_registry_store::read(const std::function<core::result<void>(registry_reader&)>& work) {
  return db_.read([&](connection& conn) -> core::result<void> {
    sqlite_registry_txn txn(conn);
    return work(txn);
  });
}

}  // namespace airfleet::storage
