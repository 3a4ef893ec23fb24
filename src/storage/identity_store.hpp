// What the identity engine stores: certificates, CA certificates, policies
// and their versions, policy attachments (to certificates and thing groups,
// by ARN), and thing principals. Same shape as registry_store: the engine
// keeps the rules and runs each call in one transaction.
#pragma once

#include "core/error.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace airfleet::storage {

struct certificate_record {
  std::string id;
  std::string pem;
  std::string status;                // ACTIVE, INACTIVE, REVOKED, PENDING_ACTIVATION, ...
  std::optional<std::string> ca_id;  // the registered CA that signed it; nullopt: the server's own CA or none
  std::string mode = "DEFAULT";      // DEFAULT or SNI_ONLY
  std::int64_t created_ms = 0;
  std::int64_t updated_ms = 0;
  std::int64_t not_before_ms = 0;
  std::int64_t not_after_ms = 0;
  std::string generation_id;
};

struct ca_certificate_record {
  std::string id;
  std::string pem;
  std::string status;  // ACTIVE, INACTIVE
  std::string auto_registration = "DISABLE";
  std::int64_t created_ms = 0;
  std::int64_t updated_ms = 0;
  std::int64_t not_before_ms = 0;
  std::int64_t not_after_ms = 0;
  std::string generation_id;
};

struct policy_record {
  std::string name;
  std::int64_t default_version = 1;
  std::int64_t next_version = 2;
  std::int64_t created_ms = 0;
  std::int64_t updated_ms = 0;
  std::string generation_id;
};

struct policy_version_record {
  std::string policy;
  std::int64_t version = 1;
  std::string document;
  std::int64_t created_ms = 0;
};

// Position in a list ordered by (created_ms, id).
struct created_position {
  std::int64_t created_ms = 0;
  std::string id;
};

class identity_reader {
 public:
  virtual ~identity_reader() = default;
  virtual core::result<std::optional<certificate_record>> find_certificate(const std::string& id) = 0;
  virtual core::result<std::vector<certificate_record>> list_certificates(const std::optional<std::string>& ca_id,
                                                                          const std::optional<created_position>& after,
                                                                          bool ascending, int limit) = 0;
  virtual core::result<std::optional<ca_certificate_record>> find_ca(const std::string& id) = 0;
  virtual core::result<std::vector<ca_certificate_record>> list_cas(const std::optional<created_position>& after,
                                                                    bool ascending, int limit) = 0;
  virtual core::result<std::int64_t> count_certificates_of_ca(const std::string& ca_id) = 0;

  virtual core::result<std::optional<policy_record>> find_policy(const std::string& name) = 0;
  virtual core::result<std::vector<policy_record>> list_policies(const std::optional<std::string>& after,
                                                                 bool ascending, int limit) = 0;
  virtual core::result<std::optional<policy_version_record>> find_policy_version(const std::string& policy,
                                                                                 std::int64_t version) = 0;
  virtual core::result<std::vector<policy_version_record>> policy_versions(const std::string& policy) = 0;

  virtual core::result<std::vector<std::string>> policies_of_target(const std::string& target) = 0;
  virtual core::result<std::vector<std::string>> targets_of_policy(const std::string& policy,
                                                                   const std::optional<std::string>& after,
                                                                   int limit) = 0;

  virtual core::result<std::vector<std::string>> principals_of_thing(const std::string& thing,
                                                                     const std::optional<std::string>& after,
                                                                     int limit) = 0;
  virtual core::result<std::vector<std::string>> things_of_principal(const std::string& principal,
                                                                     const std::optional<std::string>& after,
                                                                     int limit) = 0;
  virtual core::result<bool> thing_exists(const std::string& thing) = 0;
};

class identity_writer : public identity_reader {
 public:
  virtual core::result<void> insert_certificate(const certificate_record& c) = 0;
  virtual core::result<void> update_certificate(const certificate_record& c) = 0;
  virtual core::result<void> delete_certificate(const std::string& id) = 0;
  virtual core::result<void> insert_ca(const ca_certificate_record& c) = 0;
  virtual core::result<void> update_ca(const ca_certificate_record& c) = 0;
  virtual core::result<void> delete_ca(const std::string& id) = 0;

  virtual core::result<void> insert_policy(const policy_record& p, const policy_version_record& first) = 0;
  virtual core::result<void> update_policy(const policy_record& p) = 0;
  virtual core::result<void> delete_policy(const std::string& name) = 0;
  virtual core::result<void> insert_policy_version(const policy_version_record& v) = 0;
  virtual core::result<void> delete_policy_version(const std::string& policy, std::int64_t version) = 0;

  virtual core::result<void> attach(const std::string& policy, const std::string& target) = 0;
  virtual core::result<void> detach(const std::string& policy, const std::string& target) = 0;
  virtual core::result<void> detach_all(const std::string& target) = 0;

  virtual core::result<void> attach_principal(const std::string& thing, const std::string& principal) = 0;
  virtual core::result<void> detach_principal(const std::string& thing, const std::string& principal) = 0;
};

class identity_store {
 public:
  virtual ~identity_store() = default;
  virtual core::result<void> transact(const std::function<core::result<void>(identity_writer&)>& work) = 0;
  virtual core::result<void> read(const std::function<core::result<void>(identity_reader&)>& work) = 0;
};

}  // namespace airfleet::storage
