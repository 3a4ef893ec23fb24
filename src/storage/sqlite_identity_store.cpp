#include "storage/sqlite_identity_store.hpp"

#include "storage/sqlite_rows.hpp"

namespace airfleet::storage {

namespace {

using rows::collect;
using rows::collect_names;
using rows::find_one;

constexpr const char* cert_columns =
    "id, pem, status, ca_id, mode, created_ms, updated_ms, not_before_ms, not_after_ms, generation_id";
constexpr const char* ca_columns =
    "id, pem, status, auto_registration, created_ms, updated_ms, not_before_ms, not_after_ms, generation_id";
constexpr const char* policy_columns = "name, default_version, next_version, created_ms, updated_ms, generation_id";

certificate_record read_cert(const statement& s) {
  return {s.text(0), s.text(1), s.text(2), s.optional_text(3), s.text(4), s.integer(5),
          s.integer(6), s.integer(7), s.integer(8), s.text(9)};
}
ca_certificate_record read_ca(const statement& s) {
  return {s.text(0), s.text(1), s.text(2), s.text(3), s.integer(4), s.integer(5), s.integer(6), s.integer(7), s.text(8)};
}
policy_record read_policy(const statement& s) {
  return {s.text(0), s.integer(1), s.integer(2), s.integer(3), s.integer(4), s.text(5)};
}
policy_version_record read_version(const statement& s) {
  return {s.text(0), s.integer(1), s.text(2), s.integer(3)};
}

#define PREPARE(var, sql) AIRFLEET_PREPARE(conn_, var, sql)

class sqlite_identity_txn final : public identity_writer {
 public:
  explicit sqlite_identity_txn(connection& conn) : conn_(conn) {}

  core::result<std::optional<certificate_record>> find_certificate(const std::string& id) override {
    PREPARE(s, std::string("SELECT ") + cert_columns + " FROM certificates WHERE id = ?");
    s.bind(1, id);
    return find_one<certificate_record>(s, read_cert);
  }

  core::result<std::vector<certificate_record>> list_certificates(const std::optional<std::string>& ca_id,
                                                                  const std::optional<created_position>& after,
                                                                  bool ascending, int limit) override {
    std::string sql = std::string("SELECT ") + cert_columns + " FROM certificates WHERE (?1 IS NULL OR ca_id = ?1)";
    if (after) sql += ascending ? " AND (created_ms, id) > (?2, ?3)" : " AND (created_ms, id) < (?2, ?3)";
    sql += ascending ? " ORDER BY created_ms, id LIMIT ?4" : " ORDER BY created_ms DESC, id DESC LIMIT ?4";
    PREPARE(s, sql);
    s.bind(1, ca_id);
    if (after) s.bind(2, after->created_ms).bind(3, after->id);
    s.bind(4, limit);
    return collect<certificate_record>(s, read_cert);
  }

  core::result<std::optional<ca_certificate_record>> find_ca(const std::string& id) override {
    PREPARE(s, std::string("SELECT ") + ca_columns + " FROM ca_certificates WHERE id = ?");
    s.bind(1, id);
    return find_one<ca_certificate_record>(s, read_ca);
  }

  core::result<std::vector<ca_certificate_record>> list_cas(const std::optional<created_position>& after,
                                                            bool ascending, int limit) override {
    std::string sql = std::string("SELECT ") + ca_columns + " FROM ca_certificates WHERE 1";
    if (after) sql += ascending ? " AND (created_ms, id) > (?1, ?2)" : " AND (created_ms, id) < (?1, ?2)";
    sql += ascending ? " ORDER BY created_ms, id LIMIT ?3" : " ORDER BY created_ms DESC, id DESC LIMIT ?3";
    PREPARE(s, sql);
    if (after) s.bind(1, after->created_ms).bind(2, after->id);
    s.bind(3, limit);
    return collect<ca_certificate_record>(s, read_ca);
  }

  core::result<std::int64_t> count_certificates_of_ca(const std::string& ca_id) override {
    PREPARE(s, "SELECT count(*) FROM certificates WHERE ca_id = ?");
    s.bind(1, ca_id);
    return rows::single_integer(s);
  }

  core::result<std::optional<policy_record>> find_policy(const std::string& name) override {
    PREPARE(s, std::string("SELECT ") + policy_columns + " FROM policies WHERE name = ?");
    s.bind(1, name);
    return find_one<policy_record>(s, read_policy);
  }

  core::result<std::vector<policy_record>> list_policies(const std::optional<std::string>& after, bool ascending,
                                                         int limit) override {
    std::string sql = std::string("SELECT ") + policy_columns + " FROM policies WHERE 1";
    if (after) sql += ascending ? " AND name > ?1" : " AND name < ?1";
    sql += ascending ? " ORDER BY name LIMIT ?2" : " ORDER BY name DESC LIMIT ?2";
    PREPARE(s, sql);
    if (after) s.bind(1, *after);
    s.bind(2, limit);
    return collect<policy_record>(s, read_policy);
  }

  core::result<std::optional<policy_version_record>> find_policy_version(const std::string& policy,
                                                                         std::int64_t version) override {
    PREPARE(s, "SELECT policy, version, document, created_ms FROM policy_versions WHERE policy = ? AND version = ?");
    s.bind(1, policy).bind(2, version);
    return find_one<policy_version_record>(s, read_version);
  }

  core::result<std::vector<policy_version_record>> policy_versions(const std::string& policy) override {
    PREPARE(s, "SELECT policy, version, document, created_ms FROM policy_versions WHERE policy = ? ORDER BY version");
    s.bind(1, policy);
    return collect<policy_version_record>(s, read_version);
  }

  core::result<std::vector<std::string>> policies_of_target(const std::string& target) override {
    PREPARE(s, "SELECT policy FROM policy_targets WHERE target = ? ORDER BY policy");
    s.bind(1, target);
    return collect_names(s);
  }

  core::result<std::vector<std::string>> targets_of_policy(const std::string& policy,
                                                           const std::optional<std::string>& after,
                                                           int limit) override {
    PREPARE(s, "SELECT target FROM policy_targets WHERE policy = ?1 AND (?2 IS NULL OR target > ?2)"
               " ORDER BY target LIMIT ?3");
    s.bind(1, policy).bind(2, after).bind(3, limit);
    return collect_names(s);
  }

  core::result<std::vector<std::string>> principals_of_thing(const std::string& thing,
                                                             const std::optional<std::string>& after,
                                                             int limit) override {
    PREPARE(s, "SELECT principal FROM thing_principals WHERE thing_name = ?1 AND (?2 IS NULL OR principal > ?2)"
               " ORDER BY principal LIMIT ?3");
    s.bind(1, thing).bind(2, after).bind(3, limit);
    return collect_names(s);
  }

  core::result<std::vector<std::string>> things_of_principal(const std::string& principal,
                                                             const std::optional<std::string>& after,
                                                             int limit) override {
    PREPARE(s, "SELECT thing_name FROM thing_principals WHERE principal = ?1 AND (?2 IS NULL OR thing_name > ?2)"
               " ORDER BY thing_name LIMIT ?3");
    s.bind(1, principal).bind(2, after).bind(3, limit);
    return collect_names(s);
  }

  core::result<bool> thing_exists(const std::string& thing) override {
    PREPARE(s, "SELECT count(*) FROM things WHERE name = ?");
    s.bind(1, thing);
    auto n = rows::single_integer(s);
    if (!n) return n.error();
    return *n > 0;
  }

  // ---- writes ----------------------------------------------------------------
  core::result<void> insert_certificate(const certificate_record& c) override {
    PREPARE(s, "INSERT INTO certificates(id, pem, status, ca_id, mode, created_ms, updated_ms, not_before_ms,"
               " not_after_ms, generation_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    s.bind(1, c.id).bind(2, c.pem).bind(3, c.status).bind(4, c.ca_id).bind(5, c.mode).bind(6, c.created_ms)
        .bind(7, c.updated_ms).bind(8, c.not_before_ms).bind(9, c.not_after_ms).bind(10, c.generation_id);
    return s.run();
  }
  core::result<void> update_certificate(const certificate_record& c) override {
    PREPARE(s, "UPDATE certificates SET status = ?, updated_ms = ?, generation_id = ? WHERE id = ?");
    s.bind(1, c.status).bind(2, c.updated_ms).bind(3, c.generation_id).bind(4, c.id);
    return s.run();
  }
  core::result<void> delete_certificate(const std::string& id) override {
    PREPARE(s, "DELETE FROM certificates WHERE id = ?");
    s.bind(1, id);
    return s.run();
  }
  core::result<void> insert_ca(const ca_certificate_record& c) override {
    PREPARE(s, "INSERT INTO ca_certificates(id, pem, status, auto_registration, created_ms, updated_ms,"
               " not_before_ms, not_after_ms, generation_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    s.bind(1, c.id).bind(2, c.pem).bind(3, c.status).bind(4, c.auto_registration).bind(5, c.created_ms)
        .bind(6, c.updated_ms).bind(7, c.not_before_ms).bind(8, c.not_after_ms).bind(9, c.generation_id);
    return s.run();
  }
  core::result<void> update_ca(const ca_certificate_record& c) override {
    PREPARE(s, "UPDATE ca_certificates SET status = ?, auto_registration = ?, updated_ms = ?, generation_id = ?"
               " WHERE id = ?");
    s.bind(1, c.status).bind(2, c.auto_registration).bind(3, c.updated_ms).bind(4, c.generation_id).bind(5, c.id);
    return s.run();
  }
  core::result<void> delete_ca(const std::string& id) override {
    PREPARE(s, "DELETE FROM ca_certificates WHERE id = ?");
    s.bind(1, id);
    return s.run();
  }

  core::result<void> insert_policy(const policy_record& p, const policy_version_record& first) override {
    PREPARE(s, "INSERT INTO policies(name, default_version, next_version, created_ms, updated_ms, generation_id)"
               " VALUES (?, ?, ?, ?, ?, ?)");
    s.bind(1, p.name).bind(2, p.default_version).bind(3, p.next_version).bind(4, p.created_ms)
        .bind(5, p.updated_ms).bind(6, p.generation_id);
    if (auto r = s.run(); !r) return r.error();
    return insert_policy_version(first);
  }
  core::result<void> update_policy(const policy_record& p) override {
    PREPARE(s, "UPDATE policies SET default_version = ?, next_version = ?, updated_ms = ?, generation_id = ?"
               " WHERE name = ?");
    s.bind(1, p.default_version).bind(2, p.next_version).bind(3, p.updated_ms).bind(4, p.generation_id).bind(5, p.name);
    return s.run();
  }
  core::result<void> delete_policy(const std::string& name) override {
    PREPARE(s, "DELETE FROM policies WHERE name = ?");
    s.bind(1, name);
    return s.run();
  }
  core::result<void> insert_policy_version(const policy_version_record& v) override {
    PREPARE(s, "INSERT INTO policy_versions(policy, version, document, created_ms) VALUES (?, ?, ?, ?)");
    s.bind(1, v.policy).bind(2, v.version).bind(3, v.document).bind(4, v.created_ms);
    return s.run();
  }
  core::result<void> delete_policy_version(const std::string& policy, std::int64_t version) override {
    PREPARE(s, "DELETE FROM policy_versions WHERE policy = ? AND version = ?");
    s.bind(1, policy).bind(2, version);
    return s.run();
  }

  core::result<void> attach(const std::string& policy, const std::string& target) override {
    PREPARE(s, "INSERT OR IGNORE INTO policy_targets(policy, target) VALUES (?, ?)");
    s.bind(1, policy).bind(2, target);
    return s.run();
  }
  core::result<void> detach(const std::string& policy, const std::string& target) override {
    PREPARE(s, "DELETE FROM policy_targets WHERE policy = ? AND target = ?");
    s.bind(1, policy).bind(2, target);
    return s.run();
  }
  core::result<void> detach_all(const std::string& target) override {
    PREPARE(s, "DELETE FROM policy_targets WHERE target = ?");
    s.bind(1, target);
    return s.run();
  }

  core::result<void> attach_principal(const std::string& thing, const std::string& principal) override {
    PREPARE(s, "INSERT OR IGNORE INTO thing_principals(thing_name, principal) VALUES (?, ?)");
    s.bind(1, thing).bind(2, principal);
    return s.run();
  }
  core::result<void> detach_principal(const std::string& thing, const std::string& principal) override {
    PREPARE(s, "DELETE FROM thing_principals WHERE thing_name = ? AND principal = ?");
    s.bind(1, thing).bind(2, principal);
    return s.run();
  }

 private:
  connection& conn_;
};

#undef PREPARE

}  // namespace

core::result<void> sqlite_identity_store::transact(const std::function<core::result<void>(identity_writer&)>& work) {
  return db_.write([&](connection& conn) -> core::result<void> {
    sqlite_identity_txn txn(conn);
    return work(txn);
  });
}

core::result<void> sqlite_identity_store::read(const std::function<core::result<void>(identity_reader&)>& work) {
  return db_.read([&](connection& conn) -> core::result<void> {
    sqlite_identity_txn txn(conn);
    return work(txn);
  });
}

}  // namespace airfleet::storage
