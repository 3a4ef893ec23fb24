#include "storage/key_store.hpp"

namespace airfleet::storage {

core::result<std::optional<access_key_record>> sqlite_key_store::find(const std::string& access_key_id) {
  return db_.read([&](connection& c) -> core::result<std::optional<access_key_record>> {
    auto s = c.cached("SELECT access_key_id, secret, created_ms FROM access_keys WHERE access_key_id = ?");
    if (!s) return s.error();
    (*s)->bind(1, access_key_id);
    auto row = (*s)->step();
    if (!row) return row.error();
    std::optional<access_key_record> out;
    if (*row) out = access_key_record{(*s)->text(0), (*s)->text(1), (*s)->integer(2)};
    (*s)->reset();
    return out;
  });
}

core::result<void> sqlite_key_store::insert(const access_key_record& key) {
  return db_.write([&](connection& c) -> core::result<void> {
    auto s = c.cached("INSERT INTO access_keys(access_key_id, secret, created_ms) VALUES (?, ?, ?)");
    if (!s) return s.error();
    (*s)->bind(1, key.access_key_id).bind(2, key.secret).bind(3, key.created_ms);
    return (*s)->run();
  });
}

core::result<std::vector<access_key_record>> sqlite_key_store::list() {
  return db_.read([&](connection& c) -> core::result<std::vector<access_key_record>> {
    auto s = c.cached("SELECT access_key_id, secret, created_ms FROM access_keys ORDER BY created_ms, access_key_id");
    if (!s) return s.error();
    std::vector<access_key_record> out;
    while (true) {
      auto row = (*s)->step();
      if (!row) return row.error();
      if (!*row) break;
      out.push_back({(*s)->text(0), (*s)->text(1), (*s)->integer(2)});
    }
    (*s)->reset();
    return out;
  });
}

core::result<bool> sqlite_key_store::remove(const std::string& access_key_id) {
  return db_.write([&](connection& c) -> core::result<bool> {
    auto s = c.cached("DELETE FROM access_keys WHERE access_key_id = ?");
    if (!s) return s.error();
    (*s)->bind(1, access_key_id);
    if (auto r = (*s)->run(); !r) return r.error();
    return c.changes() > 0;
  });
}

core::result<std::optional<std::string>> sqlite_meta_store::get(const std::string& key) {
  return db_.read([&](connection& c) -> core::result<std::optional<std::string>> {
    auto s = c.cached("SELECT value FROM meta WHERE key = ?");
    if (!s) return s.error();
    (*s)->bind(1, key);
    auto row = (*s)->step();
    if (!row) return row.error();
    std::optional<std::string> out;
    if (*row) out = (*s)->text(0);
    (*s)->reset();
    return out;
  });
}

core::result<std::string> sqlite_meta_store::get_or_insert(const std::string& key, const std::string& value) {
  return db_.write([&](connection& c) -> core::result<std::string> {
    auto ins = c.cached("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)");
    if (!ins) return ins.error();
    (*ins)->bind(1, key).bind(2, value);
    if (auto r = (*ins)->run(); !r) return r.error();
    auto sel = c.cached("SELECT value FROM meta WHERE key = ?");
    if (!sel) return sel.error();
    (*sel)->bind(1, key);
    auto row = (*sel)->step();
    if (!row) return row.error();
    std::string out = (*sel)->text(0);
    (*sel)->reset();
    return out;
  });
}

}  // namespace airfleet::storage
