// Device identities and what they may do: X.509 certificates (issued by the
// server's CA, from CSRs, or registered with a bring-your-own CA), IoT
// policies with versions, their attachments to certificates and thing
// groups, thing principals, and authorization decisions.
//
// Rules kept here, as AWS IoT states them:
// * A certificate's id is the hex SHA-256 of its DER encoding; its ARN is
//   arn:aws:iot:<region>:<account>:cert/<id>. A private key the server makes
//   is returned once and never stored.
// * Status changes: ACTIVE <-> INACTIVE; ACTIVE/INACTIVE -> REVOKED; a
//   REVOKED certificate stays revoked (CertificateStateException).
//   PENDING_TRANSFER, PENDING_ACTIVATION and REGISTER_INACTIVE cannot be set
//   by UpdateCertificate.
// * DeleteCertificate: refused while ACTIVE (CertificateStateException),
//   while a thing is attached (DeleteConflictException), while policies are
//   attached unless forceDelete (which detaches them).
// * A policy has at most 5 versions; the default version cannot be deleted;
//   a policy is deleted only when it is attached to nothing and has only its
//   default version left (DeleteConflictException otherwise).
// * A CA is registered with a verification certificate whose subject CN is
//   this account's registration code and which the CA signed. A device
//   certificate registered with RegisterCertificate must be signed by a
//   registered, ACTIVE CA.
// * A valid identity is an ACTIVE certificate inside its validity period,
//   known to the registry, whose issuing CA (the server's or a registered
//   one) is ACTIVE.
// * The policies that judge a connection: those attached to its
//   certificate, plus those attached to the thing groups (and their
//   ancestors) of the thing whose name equals the client id and which is
//   attached to the certificate. Thing policy variables resolve only for
//   that thing.
// Every change that can alter a decision (policy versions, attachments,
// certificate status, thing principals) is announced to subscribers.
#pragma once

#include "core/error.hpp"
#include "core/page_token.hpp"
#include "core/time.hpp"
#include "identity/errors.hpp"
#include "identity/pki.hpp"
#include "policy/policy.hpp"
#include "registry/registry.hpp"
#include "storage/identity_store.hpp"

#include <functional>
#include <map>
#include <mutex>
#include <unordered_set>
#include <optional>
#include <string>
#include <vector>

namespace airfleet::identity {

struct certificate {
  std::string id;
  std::string arn;
  std::string pem;
  std::string status;
  std::optional<std::string> ca_id;
  std::string mode;
  core::time_point creation_date;
  core::time_point last_modified_date;
  core::time_point not_before;
  core::time_point not_after;
  std::string generation_id;
};

struct ca_certificate {
  std::string id;
  std::string arn;
  std::string pem;
  std::string status;
  std::string auto_registration;
  core::time_point creation_date;
  core::time_point last_modified_date;
  core::time_point not_before;
  core::time_point not_after;
  std::string generation_id;
};

struct keys_and_certificate {
  certificate cert;
  std::string public_key_pem;
  std::string private_key_pem;
};

struct policy_info {
  std::string name;
  std::string arn;
  std::string document;  // of the version asked for (the default unless said)
  std::int64_t version = 1;
  std::int64_t default_version = 1;
  core::time_point creation_date;
  core::time_point last_modified_date;
  std::string generation_id;
};

struct policy_version_info {
  std::int64_t version;
  bool is_default;
  core::time_point create_date;
};

template <class T>
struct marker_page {
  std::vector<T> items;
  std::optional<std::string> next_marker;
};

struct marker_request {
  std::optional<int> page_size;
  std::optional<std::string> marker;
  bool ascending = false;
};

// What TestAuthorization asks and answers.
struct auth_info {
  std::string action_type;  // PUBLISH, SUBSCRIBE, RECEIVE, CONNECT
  std::vector<std::string> resources;
};
struct auth_result {
  auth_info info;
  policy::decision decision;
  std::vector<std::string> allowed_by;         // policy names
  std::vector<std::string> explicitly_denied_by;
  std::vector<std::string> implicitly_denied_by;
};

// What a certificate, connecting as a client id, is judged by: its policies
// (compiled) and the context their variables resolve against.
struct named_policy {
  std::string name;
  std::shared_ptr<const policy::compiled_policy> compiled;
};
struct grants {
  std::vector<named_policy> policies;
  policy::request_context context;
};

struct identity_event {
  enum class kind { policy_changed, attachment_changed, certificate_changed, principal_changed };
  kind what;
  std::string subject;  // the policy name, target ARN, certificate id or thing name
};

class identity {
 public:
  struct settings {
    std::string account_id;
    std::string region;
    std::string token_secret;
    std::string registration_code;
    pki::key_type device_key_type = pki::key_type::ec_p256;
    int policies_per_target = 10;
    int max_policy_versions = 5;
  };
  // `root_ca`/`root_key`: the server's own CA, which issues device certificates.
  identity(storage::identity_store& store, registry::registry& registry, const core::clock& clock, settings s,
           pki::cert_ptr root_ca, pki::key_ptr root_key);

  std::string certificate_arn(std::string_view id) const;
  const std::string& account_id() const { return settings_.account_id; }
  const core::clock& clock() const { return clock_; }
  std::string policy_arn(std::string_view name) const;
  void subscribe(std::function<void(const identity_event&)> subscriber);

  // Certificates
  core::result<keys_and_certificate> create_keys_and_certificate(bool set_active);
  core::result<certificate> create_certificate_from_csr(const std::string& csr_pem, bool set_active);
  core::result<certificate> describe_certificate(const std::string& id);
  core::result<marker_page<certificate>> list_certificates(const marker_request& page,
                                                           const std::optional<std::string>& ca_id = std::nullopt);
  core::result<void> update_certificate(const std::string& id, const std::string& new_status);
  core::result<void> delete_certificate(const std::string& id, bool force);

  // Bring-your-own CA
  const std::string& registration_code() const { return settings_.registration_code; }
  core::result<ca_certificate> register_ca_certificate(const std::string& ca_pem,
                                                       const std::optional<std::string>& verification_pem,
                                                       bool set_active, bool allow_auto_registration);
  core::result<ca_certificate> describe_ca_certificate(const std::string& id);
  core::result<marker_page<ca_certificate>> list_ca_certificates(const marker_request& page);
  core::result<void> update_ca_certificate(const std::string& id, const std::optional<std::string>& new_status,
                                           const std::optional<std::string>& auto_registration);
  core::result<void> delete_ca_certificate(const std::string& id);
  core::result<certificate> register_certificate(const std::string& cert_pem,
                                                 const std::optional<std::string>& ca_pem,
                                                 const std::string& status);
  core::result<certificate> register_certificate_without_ca(const std::string& cert_pem, const std::string& status);

  // Thing principals (principal = certificate ARN)
  core::result<void> attach_thing_principal(const std::string& thing, const std::string& principal);
  core::result<void> detach_thing_principal(const std::string& thing, const std::string& principal);
  core::result<registry::page<std::string>> list_thing_principals(const std::string& thing,
                                                                  const registry::page_request& page);
  core::result<registry::page<std::string>> list_principal_things(const std::string& principal,
                                                                  const registry::page_request& page);

  // Policies
  core::result<policy_info> create_policy(const std::string& name, const std::string& document);
  core::result<policy_info> get_policy(const std::string& name);
  core::result<marker_page<policy_info>> list_policies(const marker_request& page);
  core::result<void> delete_policy(const std::string& name);
  core::result<policy_info> create_policy_version(const std::string& name, const std::string& document,
                                                  bool set_as_default);
  core::result<policy_info> get_policy_version(const std::string& name, const std::string& version);
  core::result<std::vector<policy_version_info>> list_policy_versions(const std::string& name);
  core::result<void> set_default_policy_version(const std::string& name, const std::string& version);
  core::result<void> delete_policy_version(const std::string& name, const std::string& version);

  // Attachments (target = certificate ARN or thing group ARN)
  core::result<void> attach_policy(const std::string& policy, const std::string& target);
  core::result<void> detach_policy(const std::string& policy, const std::string& target);
  core::result<marker_page<std::string>> list_attached_policies(const std::string& target, bool recursive,
                                                                const marker_request& page);
  core::result<marker_page<std::string>> list_targets_for_policy(const std::string& policy,
                                                                 const marker_request& page);
  core::result<std::vector<policy_info>> get_effective_policies(const std::optional<std::string>& principal,
                                                                const std::optional<std::string>& thing_name);

  // Is this certificate (as presented in a TLS handshake) a valid device
  // identity right now? Known to the registry, ACTIVE, inside its validity
  // period, and issued by the server's CA or by a registered ACTIVE CA (or
  // registered without a CA). Anything else is certificate_state /
  // not_found, never an identity.
  core::result<certificate> validate_device_certificate(X509* presented);

  // The policies and context that judge `cert` connecting as `client_id`
  // (thing variables and thing-group policies only when the client id names
  // a thing attached to the certificate). The broker resolves this once per
  // connection and again after an identity_event.
  // `fields`: the certificate's subject/issuer fields when the caller already
  // has them (parsing the stored PEM again is the expensive part).
  core::result<grants> grants_for(const certificate& cert, const std::optional<std::string>& client_id,
                                  const std::optional<std::string>& source_ip = std::nullopt,
                                  const std::map<std::string, std::string>* fields = nullptr);
  // The grants of a client judged by one named policy instead of a
  // certificate (the broker's development plain-TCP listener).
  core::result<grants> grants_for_policy(const std::string& policy, const std::string& client_id,
                                         const std::optional<std::string>& source_ip = std::nullopt);
  // "arn:aws:iot:<region>:<account>:<type>/<name>" for topic, topicfilter, client.
  std::string resource_arn(std::string_view type, std::string_view name) const { return arn(type, name); }

  // Authorization
  core::result<std::vector<auth_result>> test_authorization(const std::string& principal,
                                                            const std::optional<std::string>& client_id,
                                                            const std::vector<auth_info>& infos,
                                                            const std::vector<std::string>& policies_to_add,
                                                            const std::vector<std::string>& policies_to_skip);

 private:
  core::result<std::shared_ptr<const policy::compiled_policy>> compiled(const std::string& name, std::int64_t version,
                                                                        const std::string& document);
  core::result<std::vector<named_policy>> policies_for(const std::string& cert_arn,
                                                       const std::optional<std::string>& thing);
  core::result<certificate> store_new_certificate(X509* cert, const std::string& status,
                                                  const std::optional<std::string>& ca_id, const std::string& mode);
  // Page markers and tokens are sealed for their query (and, for markers, the order).
  static std::string marker_scope(const std::string& query, const marker_request& page);
  core::result<std::optional<std::string>> decode_marker(const std::string& query, const marker_request& page,
                                                         std::size_t fields, std::vector<std::string>* out) const;
  core::result<std::optional<storage::created_position>> decode_created_marker(const std::string& query,
                                                                               const marker_request& page) const;
  std::string encode_created_marker(const std::string& query, const marker_request& page, std::int64_t created_ms,
                                    const std::string& id) const;
  // (page size, the name after which the page starts) of a nextToken-paged list.
  core::result<std::pair<int, std::optional<std::string>>> decode_name_token(const std::string& query,
                                                                            const registry::page_request& page) const;
  core::result<int> page_size(const marker_request& page) const;
  void announce(identity_event::kind what, std::string subject);
  std::string arn(std::string_view type, std::string_view name) const;
  certificate to_certificate(const storage::certificate_record& r) const;
  ca_certificate to_ca(const storage::ca_certificate_record& r) const;

  storage::identity_store& store_;
  registry::registry& registry_;
  const core::clock& clock_;
  settings settings_;
  core::page_token_codec tokens_;
  pki::cert_ptr root_ca_;
  pki::key_ptr root_key_;

  std::mutex subscribers_mutex_;
  std::vector<std::function<void(const identity_event&)>> subscribers_;  // guarded by subscribers_mutex_

  std::mutex verified_mutex_;
  // Ids (SHA-256 of the DER) of certificates whose signature by the server's
  // CA has been checked: the same bytes always give the same answer.
  std::unordered_set<std::string> verified_by_root_;  // guarded by verified_mutex_

  std::mutex compiled_mutex_;
  // Compiled documents by "policy\nversion"; a version's document never changes.
  std::map<std::string, std::shared_ptr<const policy::compiled_policy>> compiled_;  // guarded by compiled_mutex_
};

}  // namespace airfleet::identity
