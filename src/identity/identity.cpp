#include "identity/identity.hpp"

#include "core/crypto.hpp"
#include "core/strings.hpp"

#include <algorithm>
#include <set>

namespace airfleet::identity {

namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "airfleet.identity"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::not_found: return "resource not found";
      case errc::already_exists: return "resource already exists";
      case errc::invalid_request: return "invalid request";
      case errc::malformed_policy: return "malformed policy";
      case errc::certificate_state: return "certificate state";
      case errc::delete_conflict: return "delete conflict";
      case errc::versions_limit_exceeded: return "versions limit exceeded";
      case errc::limit_exceeded: return "limit exceeded";
      case errc::certificate_validation: return "certificate validation";
      case errc::internal: return "internal failure";
    }
    return "unknown identity error";
  }
};

core::error invalid(std::string m) { return core::make_error(errc::invalid_request, std::move(m)); }
core::error not_found(std::string m) { return core::make_error(errc::not_found, std::move(m)); }

// Engine and policy errors pass through; storage failures become internal.
core::error engine_error(core::error e) {
  const auto& cat = e.code.category();
  if (cat == make_error_code(errc::internal).category() ||
      cat == registry::make_error_code(registry::errc::internal).category())
    return e;
  if (cat == policy::make_error_code(policy::errc::malformed).category())
    return core::make_error(errc::malformed_policy, e.message);
  return core::make_error(errc::internal, "storage failure: " + e.message);
}
template <class T>
core::result<T> engine_result(core::result<T> r) {
  if (!r) return engine_error(r.error());
  return r;
}

bool valid_certificate_id(const std::string& id) {
  return id.size() == 64 && id.find_first_not_of("0123456789abcdef") == std::string::npos;
}

bool valid_policy_name(const std::string& name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string_view("_+=,.@-").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

core::result<void> check_certificate_id(const std::string& id) {
  if (!valid_certificate_id(id)) return invalid("certificateId '" + id.substr(0, 100) + "' is not a 64-character lower-case hex id");
  return {};
}
core::result<void> check_policy_name(const std::string& name) {
  if (!valid_policy_name(name)) return invalid("Policy name '" + name.substr(0, 200) + "' must be 1-128 characters of [A-Za-z0-9_+=,.@-]");
  return {};
}

core::result<std::int64_t> parse_version(const std::string& version) {
  if (version.empty() || version.size() > 9 || version.find_first_not_of("0123456789") != std::string::npos)
    return invalid("policyVersionId '" + version.substr(0, 50) + "' must be a number");
  return std::stoll(version);
}

// The part after ":<type>/" of an AWS IoT ARN of that type.
std::optional<std::string> arn_resource(const std::string& arn, std::string_view type) {
  if (!core::starts_with(arn, "arn:")) return std::nullopt;
  std::size_t pos = 0;
  for (int i = 0; i < 5; ++i) {
    pos = arn.find(':', pos);
    if (pos == std::string::npos) return std::nullopt;
    ++pos;
  }
  std::string_view rest = std::string_view(arn).substr(pos);
  if (rest.size() <= type.size() + 1 || rest.substr(0, type.size()) != type || rest[type.size()] != '/')
    return std::nullopt;
  return std::string(rest.substr(type.size() + 1));
}

const char* action_name(const std::string& action_type) {
  if (action_type == "PUBLISH") return "iot:Publish";
  if (action_type == "SUBSCRIBE") return "iot:Subscribe";
  if (action_type == "RECEIVE") return "iot:Receive";
  if (action_type == "CONNECT") return "iot:Connect";
  return nullptr;
}

}  // namespace

std::error_code make_error_code(errc e) {
  static const category instance;
  return {static_cast<int>(e), instance};
}

identity::identity(storage::identity_store& store, registry::registry& registry, const core::clock& clock,
                   settings s, pki::cert_ptr root_ca, pki::key_ptr root_key)
    : store_(store),
      registry_(registry),
      clock_(clock),
      settings_(std::move(s)),
      tokens_(settings_.token_secret),
      root_ca_(std::move(root_ca)),
      root_key_(std::move(root_key)) {}

std::string identity::arn(std::string_view type, std::string_view name) const {
  return "arn:aws:iot:" + settings_.region + ":" + settings_.account_id + ":" + std::string(type) + "/" +
         std::string(name);
}
std::string identity::certificate_arn(std::string_view id) const { return arn("cert", id); }
std::string identity::policy_arn(std::string_view name) const { return arn("policy", name); }

void identity::subscribe(std::function<void(const identity_event&)> subscriber) {
  std::lock_guard lock(subscribers_mutex_);
  subscribers_.push_back(std::move(subscriber));
}

void identity::announce(identity_event::kind what, std::string subject) {
  std::vector<std::function<void(const identity_event&)>> copy;
  {
    std::lock_guard lock(subscribers_mutex_);
    copy = subscribers_;
  }
  identity_event e{what, std::move(subject)};
  for (auto& s : copy) s(e);
}

certificate identity::to_certificate(const storage::certificate_record& r) const {
  return {r.id, certificate_arn(r.id), r.pem, r.status, r.ca_id, r.mode,
          core::from_epoch_millis(r.created_ms), core::from_epoch_millis(r.updated_ms),
          core::from_epoch_millis(r.not_before_ms), core::from_epoch_millis(r.not_after_ms), r.generation_id};
}

ca_certificate identity::to_ca(const storage::ca_certificate_record& r) const {
  return {r.id, arn("cacert", r.id), r.pem, r.status, r.auto_registration,
          core::from_epoch_millis(r.created_ms), core::from_epoch_millis(r.updated_ms),
          core::from_epoch_millis(r.not_before_ms), core::from_epoch_millis(r.not_after_ms), r.generation_id};
}

core::result<int> identity::page_size(const marker_request& page) const {
  if (!page.page_size) return 25;
  if (*page.page_size < 1 || *page.page_size > 250) return invalid("pageSize must be between 1 and 250");
  return *page.page_size;
}

std::string identity::marker_scope(const std::string& query, const marker_request& page) {
  return query + (page.ascending ? "\na" : "\nd");
}

core::result<std::optional<std::string>> identity::decode_marker(const std::string& query, const marker_request& page,
                                                                 std::size_t fields,
                                                                 std::vector<std::string>* out) const {
  if (!page.marker) return std::optional<std::string>{};
  auto decoded = tokens_.decode(marker_scope(query, page), *page.marker);
  if (!decoded || decoded->size() != fields) return invalid("The marker is invalid or belongs to another query");
  *out = std::move(*decoded);
  return std::optional<std::string>{(*out)[0]};
}

core::result<std::optional<storage::created_position>> identity::decode_created_marker(const std::string& query,
                                                                                      const marker_request& page) const {
  std::vector<std::string> fields;
  auto marker = decode_marker(query, page, 2, &fields);
  if (!marker) return marker.error();
  if (!*marker) return std::optional<storage::created_position>{};
  if (fields[0].empty() || fields[0].size() > 18 || fields[0].find_first_not_of("0123456789") != std::string::npos)
    return invalid("The marker is invalid");
  return std::optional<storage::created_position>{storage::created_position{std::stoll(fields[0]), fields[1]}};
}

std::string identity::encode_created_marker(const std::string& query, const marker_request& page,
                                            std::int64_t created_ms, const std::string& id) const {
  return tokens_.encode(marker_scope(query, page), {std::to_string(created_ms), id});
}

core::result<std::pair<int, std::optional<std::string>>> identity::decode_name_token(
    const std::string& query, const registry::page_request& page) const {
  int limit = page.max_results.value_or(50);
  if (limit < 1 || limit > 250) return invalid("maxResults must be between 1 and 250");
  std::optional<std::string> after;
  if (page.next_token) {
    auto f = tokens_.decode(query, *page.next_token);
    if (!f || f->size() != 1) return invalid("The nextToken is invalid or belongs to another query");
    after = (*f)[0];
  }
  return std::pair{limit, after};
}

// ---- certificates -----------------------------------------------------------

core::result<certificate> identity::store_new_certificate(X509* cert, const std::string& status,
                                                          const std::optional<std::string>& ca_id,
                                                          const std::string& mode) {
  auto now = core::to_epoch_millis(clock_.now());
  auto validity = pki::certificate_validity(cert);
  storage::certificate_record record{pki::certificate_id(cert), pki::certificate_pem(cert), status, ca_id, mode, now,
                                     now, core::to_epoch_millis(validity.not_before),
                                     core::to_epoch_millis(validity.not_after), core::random_uuid()};
  auto done = store_.transact([&](storage::identity_writer& w) -> core::result<void> {
    auto existing = w.find_certificate(record.id);
    if (!existing) return existing.error();
    if (*existing) {
      auto e = core::make_error(errc::already_exists, "The certificate is already registered");
      e.details = {{"resourceId", record.id}, {"resourceArn", certificate_arn(record.id)}};
      return e;
    }
    return w.insert_certificate(record);
  });
  if (!done) return engine_error(done.error());
  announce(identity_event::kind::certificate_changed, record.id);
  return to_certificate(record);
}

core::result<keys_and_certificate> identity::create_keys_and_certificate(bool set_active) {
  auto key = pki::generate_key(settings_.device_key_type);
  if (!key) return core::make_error(errc::internal, "could not generate a key pair");
  pki::issue_request req;
  req.common_name = "AWS IoT Certificate";
  req.public_key = key.get();
  req.lifetime = std::chrono::hours(24 * 365 * 25);
  auto cert = pki::issue(req, root_ca_.get(), root_key_.get(), clock_.now());
  if (!cert) return cert.error();
  auto stored = store_new_certificate(cert->get(), set_active ? "ACTIVE" : "INACTIVE", std::nullopt, "DEFAULT");
  if (!stored) return stored.error();
  return keys_and_certificate{std::move(*stored), pki::public_key_pem(key.get()), pki::private_key_pem(key.get())};
}

core::result<certificate> identity::create_certificate_from_csr(const std::string& csr_pem, bool set_active) {
  auto csr = pki::read_csr(csr_pem);
  if (!csr) return csr.error();
  pki::issue_request req;
  req.subject = csr->subject.get();
  req.public_key = csr->public_key.get();
  req.lifetime = std::chrono::hours(24 * 365 * 25);
  auto cert = pki::issue(req, root_ca_.get(), root_key_.get(), clock_.now());
  if (!cert) return cert.error();
  return store_new_certificate(cert->get(), set_active ? "ACTIVE" : "INACTIVE", std::nullopt, "DEFAULT");
}

core::result<certificate> identity::describe_certificate(const std::string& id) {
  if (auto r = check_certificate_id(id); !r) return r.error();
  certificate out;
  auto done = store_.read([&](storage::identity_reader& r) -> core::result<void> {
    auto c = r.find_certificate(id);
    if (!c) return c.error();
    if (!*c) return not_found("Certificate " + id + " does not exist");
    out = to_certificate(**c);
    return {};
  });
  if (!done) return engine_error(done.error());
  return out;
}

core::result<marker_page<certificate>> identity::list_certificates(const marker_request& page,
                                                                   const std::optional<std::string>& ca_id) {
  auto limit = page_size(page);
  if (!limit) return limit.error();
  std::string query = "certificates\n" + ca_id.value_or("");
  auto after = decode_created_marker(query, page);
  if (!after) return after.error();
  marker_page<certificate> out;
  auto done = store_.read([&](storage::identity_reader& r) -> core::result<void> {
    auto rows = r.list_certificates(ca_id, *after, page.ascending, *limit + 1);
    if (!rows) return rows.error();
    bool more = static_cast<int>(rows->size()) > *limit;
    if (more) rows->pop_back();
    for (auto& c : *rows) out.items.push_back(to_certificate(c));
    if (more && !rows->empty())
      out.next_marker = encode_created_marker(query, page, rows->back().created_ms, rows->back().id);
    return {};
  });
  if (!done) return engine_error(done.error());
  return out;
}

core::result<void> identity::update_certificate(const std::string& id, const std::string& new_status) {
  if (auto r = check_certificate_id(id); !r) return r.error();
  static const std::set<std::string> known = {"ACTIVE", "INACTIVE", "REVOKED", "PENDING_TRANSFER",
                                              "REGISTER_INACTIVE", "PENDING_ACTIVATION"};
  if (!known.count(new_status)) return invalid("newStatus '" + new_status + "' is not a certificate status");
  if (new_status != "ACTIVE" && new_status != "INACTIVE" && new_status != "REVOKED")
    return invalid("A certificate cannot be set to " + new_status + " with UpdateCertificate");
  auto done = store_.transact([&](storage::identity_writer& w) -> core::result<void> {
    auto c = w.find_certificate(id);
    if (!c) return c.error();
    if (!*c) return not_found("Certificate " + id + " does not exist");
    auto record = **c;
    if (record.status == "REVOKED" && new_status != "REVOKED")
      return core::make_error(errc::certificate_state, "Certificate " + id + " is REVOKED and cannot become " + new_status);
    if (record.status == "PENDING_TRANSFER")
      return core::make_error(errc::certificate_state, "Certificate " + id + " is being transferred");
    if (new_status == "ACTIVE" && record.ca_id) {
      auto ca = w.find_ca(*record.ca_id);
      if (!ca) return ca.error();
      if (!*ca || (*ca)->status != "ACTIVE")
        return core::make_error(errc::certificate_state, "The CA that signed certificate " + id + " is not ACTIVE");
    }
    record.status = new_status;
    record.updated_ms = core::to_epoch_millis(clock_.now());
    record.generation_id = core::random_uuid();
    return w.update_certificate(record);
  });
  if (!done) return engine_error(done.error());
  announce(identity_event::kind::certificate_changed, id);
  return {};
}

core::result<void> identity::delete_certificate(const std::string& id, bool force) {
  if (auto r = check_certificate_id(id); !r) return r.error();
  std::string cert_arn = certificate_arn(id);
  auto done = store_.transact([&](storage::identity_writer& w) -> core::result<void> {
    auto c = w.find_certificate(id);
    if (!c) return c.error();
    if (!*c) return not_found("Certificate " + id + " does not exist");
    if ((*c)->status == "ACTIVE")
      return core::make_error(errc::certificate_state,
                              "Certificate " + id + " is ACTIVE: deactivate it (UpdateCertificate INACTIVE) before deleting");
    auto things = w.things_of_principal(cert_arn, std::nullopt, 1);
    if (!things) return things.error();
    if (!things->empty())
      return core::make_error(errc::delete_conflict, "Certificate " + id + " is attached to thing " + things->front() +
                                                         ": detach it (DetachThingPrincipal) first");
    auto policies = w.policies_of_target(cert_arn);
    if (!policies) return policies.error();
    if (!policies->empty()) {
      if (!force)
        return core::make_error(errc::delete_conflict, "Certificate " + id + " has policy " + policies->front() +
                                                           " attached: detach it first or use forceDelete");
      if (auto r = w.detach_all(cert_arn); !r) return r.error();
    }
    return w.delete_certificate(id);
  });
  if (!done) return engine_error(done.error());
  announce(identity_event::kind::certificate_changed, id);
  return {};
}

// ---- bring-your-own CA --------------------------------------------------------

core::result<ca_certificate> identity::register_ca_certificate(const std::string& ca_pem,
                                                               const std::optional<std::string>& verification_pem,
                                                               bool set_active, bool allow_auto_registration) {
  auto ca = pki::read_certificate(ca_pem);
  if (!ca) return core::make_error(errc::certificate_validation, ca.error().message);
  if (!pki::is_ca((*ca).get()))
    return core::make_error(errc::certificate_validation, "The certificate is not a CA certificate (basicConstraints CA:TRUE)");
  auto now = clock_.now();
  auto validity = pki::certificate_validity(ca->get());
  if (validity.not_after < now || validity.not_before > now)
    return core::make_error(errc::certificate_validation, "The CA certificate is expired or not yet valid");
  if (!verification_pem) return invalid("verificationCertificate is required to register a CA certificate");
  auto verification = pki::read_certificate(*verification_pem);
  if (!verification) return core::make_error(errc::certificate_validation, "verificationCertificate: " + verification.error().message);
  if (!pki::signed_by(verification->get(), ca->get()))
    return core::make_error(errc::certificate_validation, "The verification certificate is not signed by the CA certificate");
  if (pki::subject_common_name(verification->get()) != settings_.registration_code)
    return core::make_error(errc::invalid_request,
                            "The verification certificate's common name must be this account's registration code");
  storage::ca_certificate_record record{pki::certificate_id(ca->get()), pki::certificate_pem(ca->get()),
                                        set_active ? "ACTIVE" : "INACTIVE",
                                        allow_auto_registration ? "ENABLE" : "DISABLE",
                                        core::to_epoch_millis(now), core::to_epoch_millis(now),
                                        core::to_epoch_millis(validity.not_before),
                                        core::to_epoch_millis(validity.not_after), core::random_uuid()};
  auto done = store_.transact([&](storage::identity_writer& w) -> core::result<void> {
    auto existing = w.find_ca(record.id);
    if (!existing) return existing.error();
    if (*existing) {
      auto e = core::make_error(errc::already_exists, "The CA certificate is already registered");
      e.details = {{"resourceId", record.id}, {"resourceArn", arn("cacert", record.id)}};
      return e;
    }
    return w.insert_ca(record);
  });
  if (!done) return engine_error(done.error());
  return to_ca(record);
}

core::result<ca_certificate> identity::describe_ca_certificate(const std::string& id) {
  if (auto r = check_certificate_id(id); !r) return r.error();
  ca_certificate out;
  auto done = store_.read([&](storage::identity_reader& r) -> core::result<void> {
    auto c = r.find_ca(id);
    if (!c) return c.error();
    if (!*c) return not_found("CA certificate " + id + " does not exist");
    out = to_ca(**c);
    return {};
  });
  if (!done) return engine_error(done.error());
  return out;
}

core::result<marker_page<ca_certificate>> identity::list_ca_certificates(const marker_request& page) {
  auto limit = page_size(page);
  if (!limit) return limit.error();
  auto after = decode_created_marker("cacertificates", page);
  if (!after) return after.error();
  marker_page<ca_certificate> out;
  auto done = store_.read([&](storage::identity_reader& r) -> core::result<void> {
    auto rows = r.list_cas(*after, page.ascending, *limit + 1);
    if (!rows) return rows.error();
    bool more = static_cast<int>(rows->size()) > *limit;
    if (more) rows->pop_back();
    for (auto& c : *rows) out.items.push_back(to_ca(c));
    if (more && !rows->empty())
      out.next_marker = encode_created_marker("cacertificates", page, rows->back().created_ms, rows->back().id);
    return {};
  });
  if (!done) return engine_error(done.error());
  return out;
}

core::result<void> identity::update_ca_certificate(const std::string& id, const std::optional<std::string>& new_status,
                                                   const std::optional<std::string>& auto_registration) {
  if (auto r = check_certificate_id(id); !r) return r.error();
  if (new_status && *new_status != "ACTIVE" && *new_status != "INACTIVE")
    return invalid("newStatus must be ACTIVE or INACTIVE");
  if (auto_registration && *auto_registration != "ENABLE" && *auto_registration != "DISABLE")
    return invalid("newAutoRegistrationStatus must be ENABLE or DISABLE");
  auto done = store_.transact([&](storage::identity_writer& w) -> core::result<void> {
    auto c = w.find_ca(id);
    if (!c) return c.error();
    if (!*c) return not_found("CA certificate " + id + " does not exist");
    auto record = **c;
    if (new_status) record.status = *new_status;
    if (auto_registration) record.auto_registration = *auto_registration;
    record.updated_ms = core::to_epoch_millis(clock_.now());
    record.generation_id = core::random_uuid();
    return w.update_ca(record);
  });
  if (!done) return engine_error(done.error());
  announce(identity_event::kind::certificate_changed, id);
  return {};
}

core::result<void> identity::delete_ca_certificate(const std::string& id) {
  if (auto r = check_certificate_id(id); !r) return r.error();
  return engine_result(store_.transact([&](storage::identity_writer& w) -> core::result<void> {
    auto c = w.find_ca(id);
    if (!c) return c.error();
    if (!*c) return not_found("CA certificate " + id + " does not exist");
    if ((*c)->status == "ACTIVE")
      return core::make_error(errc::certificate_state, "CA certificate " + id + " is ACTIVE: deactivate it first");
    auto users = w.count_certificates_of_ca(id);
    if (!users) return users.error();
    if (*users > 0)
      return core::make_error(errc::certificate_state, "CA certificate " + id + " still has " +
                                                           std::to_string(*users) + " registered device certificates");
    return w.delete_ca(id);
  }));
}

core::result<certificate> identity::register_certificate(const std::string& cert_pem,
                                                         const std::optional<std::string>& ca_pem,
                                                         const std::string& status) {
  auto cert = pki::read_certificate(cert_pem);
  if (!cert) return core::make_error(errc::certificate_validation, cert.error().message);
  if (status != "ACTIVE" && status != "INACTIVE" && status != "PENDING_ACTIVATION" && status != "REGISTER_INACTIVE")
    return invalid("status '" + status + "' cannot be given to a newly registered certificate");
  auto now = clock_.now();
  auto validity = pki::certificate_validity(cert->get());
  if (validity.not_after < now) return core::make_error(errc::certificate_validation, "The certificate has expired");
  std::optional<std::string> wanted_ca;
  if (ca_pem) {
    auto ca = pki::read_certificate(*ca_pem);
    if (!ca) return core::make_error(errc::certificate_validation, "caCertificatePem: " + ca.error().message);
    wanted_ca = pki::certificate_id(ca->get());
  }
  // Find the registered CA that signed it.
  std::optional<std::string> signer;
  std::string signer_status;
  auto scan = store_.read([&](storage::identity_reader& r) -> core::result<void> {
    std::optional<storage::created_position> after;
    while (!signer) {
      auto cas = r.list_cas(after, true, 200);
      if (!cas) return cas.error();
      for (auto& c : *cas) {
        if (wanted_ca && c.id != *wanted_ca) continue;
        auto ca = pki::read_certificate(c.pem);
        if (ca && pki::signed_by(cert->get(), ca->get())) {
          signer = c.id;
          signer_status = c.status;
          break;
        }
      }
      if (cas->size() < 200) break;
      after = storage::created_position{cas->back().created_ms, cas->back().id};
    }
    return {};
  });
  if (!scan) return engine_error(scan.error());
  if (!signer)
    return core::make_error(errc::certificate_validation,
                            "The certificate is not signed by a registered CA certificate");
  if (signer_status != "ACTIVE")
    return core::make_error(errc::certificate_state, "The CA certificate " + *signer + " is not ACTIVE");
  return store_new_certificate(cert->get(), status, signer, "DEFAULT");
}

core::result<certificate> identity::register_certificate_without_ca(const std::string& cert_pem,
                                                                   const std::string& status) {
  auto cert = pki::read_certificate(cert_pem);
  if (!cert) return core::make_error(errc::certificate_validation, cert.error().message);
  if (status != "ACTIVE" && status != "INACTIVE")
    return invalid("status must be ACTIVE or INACTIVE");
  if (pki::certificate_validity(cert->get()).not_after < clock_.now())
    return core::make_error(errc::certificate_validation, "The certificate has expired");
  return store_new_certificate(cert->get(), status, std::nullopt, "SNI_ONLY");
}

// ---- thing principals ---------------------------------------------------------

core::result<void> identity::attach_thing_principal(const std::string& thing, const std::string& principal) {
  auto id = arn_resource(principal, "cert");
  if (!id || !valid_certificate_id(*id)) return invalid("principal '" + principal.substr(0, 300) + "' is not a certificate ARN");
  if (auto t = registry_.describe_thing(thing); !t) return t.error();
  std::string canonical = certificate_arn(*id);
  auto done = store_.transact([&](storage::identity_writer& w) -> core::result<void> {
    auto c = w.find_certificate(*id);
    if (!c) return c.error();
    if (!*c) return not_found("Certificate " + *id + " does not exist");
    auto exists = w.thing_exists(thing);
    if (!exists) return exists.error();
    if (!*exists) return not_found("Thing " + thing + " does not exist");
    return w.attach_principal(thing, canonical);
  });
  if (!done) return engine_error(done.error());
  announce(identity_event::kind::principal_changed, thing);
  return {};
}

core::result<void> identity::detach_thing_principal(const std::string& thing, const std::string& principal) {
  auto id = arn_resource(principal, "cert");
  if (!id || !valid_certificate_id(*id)) return invalid("principal '" + principal.substr(0, 300) + "' is not a certificate ARN");
  if (auto t = registry_.describe_thing(thing); !t) return t.error();
  auto done = store_.transact([&](storage::identity_writer& w) -> core::result<void> {
    return w.detach_principal(thing, certificate_arn(*id));
  });
  if (!done) return engine_error(done.error());
  announce(identity_event::kind::principal_changed, thing);
  return {};
}

core::result<registry::page<std::string>> identity::list_thing_principals(const std::string& thing,
                                                                          const registry::page_request& page) {
  if (auto t = registry_.describe_thing(thing); !t) return t.error();
  std::string query = "thing-principals\n" + thing;
  auto position = decode_name_token(query, page);
  if (!position) return position.error();
  auto [limit, after] = *position;
  registry::page<std::string> out;
  auto done = store_.read([&](storage::identity_reader& r) -> core::result<void> {
    auto rows = r.principals_of_thing(thing, after, limit + 1);
    if (!rows) return rows.error();
    if (static_cast<int>(rows->size()) > limit) {
      rows->pop_back();
      out.next_token = tokens_.encode(query, {rows->back()});
    }
    out.items = std::move(*rows);
    return {};
  });
  if (!done) return engine_error(done.error());
  return out;
}

core::result<registry::page<std::string>> identity::list_principal_things(const std::string& principal,
                                                                          const registry::page_request& page) {
  auto id = arn_resource(principal, "cert");
  if (!id || !valid_certificate_id(*id)) return invalid("principal '" + principal.substr(0, 300) + "' is not a certificate ARN");
  std::string canonical = certificate_arn(*id);
  std::string query = "principal-things\n" + canonical;
  auto position = decode_name_token(query, page);
  if (!position) return position.error();
  auto [limit, after] = *position;
  registry::page<std::string> out;
  auto done = store_.read([&](storage::identity_reader& r) -> core::result<void> {
    auto c = r.find_certificate(*id);
    if (!c) return c.error();
    if (!*c) return not_found("Certificate " + *id + " does not exist");
    auto rows = r.things_of_principal(canonical, after, limit + 1);
    if (!rows) return rows.error();
    if (static_cast<int>(rows->size()) > limit) {
      rows->pop_back();
      out.next_token = tokens_.encode(query, {rows->back()});
    }
    out.items = std::move(*rows);
    return {};
  });
  if (!done) return engine_error(done.error());
  return out;
}

// ---- policies -----------------------------------------------------------------

core::result<std::shared_ptr<const policy::compiled_policy>> identity::compiled(const std::string& name,
                                                                                std::int64_t version,
                                                                                const std::string& document) {
  std::string key = name + "\n" + std::to_string(version);
  {
    std::lock_guard lock(compiled_mutex_);
    if (auto it = compiled_.find(key); it != compiled_.end()) return it->second;
  }
  auto c = policy::compile(document);
  if (!c) return engine_error(c.error());
  std::lock_guard lock(compiled_mutex_);
  compiled_[key] = *c;
  return *c;
}

core::result<policy_info> identity::create_policy(const std::string& name, const std::string& document) {
  if (auto r = check_policy_name(name); !r) return r.error();
  if (auto c = policy::compile(document); !c) return engine_error(c.error());
  auto now = core::to_epoch_millis(clock_.now());
  storage::policy_record record{name, 1, 2, now, now, core::random_uuid()};
  storage::policy_version_record first{name, 1, document, now};
  auto done = store_.transact([&](storage::identity_writer& w) -> core::result<void> {
    auto existing = w.find_policy(name);
    if (!existing) return existing.error();
    if (*existing) {
      auto e = core::make_error(errc::already_exists, "Policy " + name + " already exists");
      e.details = {{"resourceId", name}, {"resourceArn", policy_arn(name)}};
      return e;
    }
    return w.insert_policy(record, first);
  });
  if (!done) return engine_error(done.error());
  return policy_info{name, policy_arn(name), document, 1, 1, core::from_epoch_millis(now), core::from_epoch_millis(now),
                     record.generation_id};
}

core::result<policy_info> identity::get_policy(const std::string& name) {
  return get_policy_version(name, "");
}

core::result<marker_page<policy_info>> identity::list_policies(const marker_request& page) {
  auto limit = page_size(page);
  if (!limit) return limit.error();
  std::vector<std::string> fields;
  auto after = decode_marker("policies", page, 1, &fields);
  if (!after) return after.error();
  marker_page<policy_info> out;
  auto done = store_.read([&](storage::identity_reader& r) -> core::result<void> {
    auto rows = r.list_policies(*after, page.ascending, *limit + 1);
    if (!rows) return rows.error();
    bool more = static_cast<int>(rows->size()) > *limit;
    if (more) rows->pop_back();
    for (auto& p : *rows)
      out.items.push_back({p.name, policy_arn(p.name), "", p.default_version, p.default_version,
                           core::from_epoch_millis(p.created_ms), core::from_epoch_millis(p.updated_ms), p.generation_id});
    if (more && !rows->empty())
      out.next_marker = tokens_.encode(marker_scope("policies", page), {rows->back().name});
    return {};
  });
  if (!done) return engine_error(done.error());
  return out;
}

core::result<void> identity::delete_policy(const std::string& name) {
  if (auto r = check_policy_name(name); !r) return r.error();
  auto done = store_.transact([&](storage::identity_writer& w) -> core::result<void> {
    auto p = w.find_policy(name);
    if (!p) return p.error();
    if (!*p) return not_found("Policy " + name + " does not exist");
    auto targets = w.targets_of_policy(name, std::nullopt, 1);
    if (!targets) return targets.error();
    if (!targets->empty())
      return core::make_error(errc::delete_conflict, "Policy " + name + " is attached to " + targets->front() +
                                                         ": detach it first");
    auto versions = w.policy_versions(name);
    if (!versions) return versions.error();
    if (versions->size() > 1)
      return core::make_error(errc::delete_conflict, "Policy " + name + " has " + std::to_string(versions->size() - 1) +
                                                         " non-default versions: delete them first");
    return w.delete_policy(name);
  });
  if (!done) return engine_error(done.error());
  announce(identity_event::kind::policy_changed, name);
  return {};
}

core::result<policy_info> identity::create_policy_version(const std::string& name, const std::string& document,
                                                          bool set_as_default) {
  if (auto r = check_policy_name(name); !r) return r.error();
  if (auto c = policy::compile(document); !c) return engine_error(c.error());
  policy_info out;
  auto done = store_.transact([&](storage::identity_writer& w) -> core::result<void> {
    auto p = w.find_policy(name);
    if (!p) return p.error();
    if (!*p) return not_found("Policy " + name + " does not exist");
    auto versions = w.policy_versions(name);
    if (!versions) return versions.error();
    if (static_cast<int>(versions->size()) >= settings_.max_policy_versions)
      return core::make_error(errc::versions_limit_exceeded,
                              "Policy " + name + " already has the maximum of " +
                                  std::to_string(settings_.max_policy_versions) + " versions; delete one first");
    auto record = **p;
    auto now = core::to_epoch_millis(clock_.now());
    std::int64_t version = record.next_version;
    if (auto r = w.insert_policy_version({name, version, document, now}); !r) return r.error();
    record.next_version += 1;
    if (set_as_default) record.default_version = version;
    record.updated_ms = now;
    record.generation_id = core::random_uuid();
    if (auto r = w.update_policy(record); !r) return r.error();
    out = {name, policy_arn(name), document, version, record.default_version, core::from_epoch_millis(now),
           core::from_epoch_millis(now), record.generation_id};
    return {};
  });
  if (!done) return engine_error(done.error());
  if (set_as_default) announce(identity_event::kind::policy_changed, name);
  return out;
}

core::result<policy_info> identity::get_policy_version(const std::string& name, const std::string& version_text) {
  if (auto r = check_policy_name(name); !r) return r.error();
  std::optional<std::int64_t> wanted;
  if (!version_text.empty()) {
    auto v = parse_version(version_text);
    if (!v) return v.error();
    wanted = *v;
  }
  policy_info out;
  auto done = store_.read([&](storage::identity_reader& r) -> core::result<void> {
    auto p = r.find_policy(name);
    if (!p) return p.error();
    if (!*p) return not_found("Policy " + name + " does not exist");
    auto version = wanted.value_or((*p)->default_version);
    auto v = r.find_policy_version(name, version);
    if (!v) return v.error();
    if (!*v) return not_found("Policy " + name + " has no version " + std::to_string(version));
    out = {name, policy_arn(name), (*v)->document, version, (*p)->default_version,
           core::from_epoch_millis(wanted ? (*v)->created_ms : (*p)->created_ms),
           core::from_epoch_millis((*p)->updated_ms), (*p)->generation_id};
    return {};
  });
  if (!done) return engine_error(done.error());
  return out;
}

core::result<std::vector<policy_version_info>> identity::list_policy_versions(const std::string& name) {
  if (auto r = check_policy_name(name); !r) return r.error();
  std::vector<policy_version_info> out;
  auto done = store_.read([&](storage::identity_reader& r) -> core::result<void> {
    auto p = r.find_policy(name);
    if (!p) return p.error();
    if (!*p) return not_found("Policy " + name + " does not exist");
    auto versions = r.policy_versions(name);
    if (!versions) return versions.error();
    for (auto it = versions->rbegin(); it != versions->rend(); ++it)
      out.push_back({it->version, it->version == (*p)->default_version, core::from_epoch_millis(it->created_ms)});
    return {};
  });
  if (!done) return engine_error(done.error());
  return out;
}

core::result<void> identity::set_default_policy_version(const std::string& name, const std::string& version_text) {
  if (auto r = check_policy_name(name); !r) return r.error();
  auto version = parse_version(version_text);
  if (!version) return version.error();
  auto done = store_.transact([&](storage::identity_writer& w) -> core::result<void> {
    auto p = w.find_policy(name);
    if (!p) return p.error();
    if (!*p) return not_found("Policy " + name + " does not exist");
    auto v = w.find_policy_version(name, *version);
    if (!v) return v.error();
    if (!*v) return not_found("Policy " + name + " has no version " + version_text);
    auto record = **p;
    record.default_version = *version;
    record.updated_ms = core::to_epoch_millis(clock_.now());
    record.generation_id = core::random_uuid();
    return w.update_policy(record);
  });
  if (!done) return engine_error(done.error());
  announce(identity_event::kind::policy_changed, name);
  return {};
}

core::result<void> identity::delete_policy_version(const std::string& name, const std::string& version_text) {
  if (auto r = check_policy_name(name); !r) return r.error();
  auto version = parse_version(version_text);
  if (!version) return version.error();
  return engine_result(store_.transact([&](storage::identity_writer& w) -> core::result<void> {
    auto p = w.find_policy(name);
    if (!p) return p.error();
    if (!*p) return not_found("Policy " + name + " does not exist");
    if ((*p)->default_version == *version)
      return core::make_error(errc::delete_conflict, "Version " + version_text + " is the default version of policy " +
                                                         name + "; it cannot be deleted");
    auto v = w.find_policy_version(name, *version);
    if (!v) return v.error();
    if (!*v) return not_found("Policy " + name + " has no version " + version_text);
    return w.delete_policy_version(name, *version);
  }));
}

// ---- attachments ----------------------------------------------------------------

namespace {
// A policy target: ("cert", id) or ("thinggroup", name).
core::result<std::pair<std::string, std::string>> parse_target(const std::string& target) {
  if (auto id = arn_resource(target, "cert"); id && valid_certificate_id(*id)) return std::pair{std::string("cert"), *id};
  if (auto g = arn_resource(target, "thinggroup"); g && !g->empty()) return std::pair{std::string("thinggroup"), *g};
  return invalid("target '" + target.substr(0, 300) + "' must be a certificate ARN or a thing group ARN");
}
}  // namespace

core::result<void> identity::attach_policy(const std::string& policy_name, const std::string& target) {
  if (auto r = check_policy_name(policy_name); !r) return r.error();
  auto parsed = parse_target(target);
  if (!parsed) return parsed.error();
  std::string canonical = arn(parsed->first, parsed->second);
  if (parsed->first == "thinggroup")
    if (auto g = registry_.describe_thing_group(parsed->second); !g) return g.error();
  auto done = store_.transact([&](storage::identity_writer& w) -> core::result<void> {
    auto p = w.find_policy(policy_name);
    if (!p) return p.error();
    if (!*p) return not_found("Policy " + policy_name + " does not exist");
    if (parsed->first == "cert") {
      auto c = w.find_certificate(parsed->second);
      if (!c) return c.error();
      if (!*c) return not_found("Certificate " + parsed->second + " does not exist");
    }
    auto current = w.policies_of_target(canonical);
    if (!current) return current.error();
    if (std::find(current->begin(), current->end(), policy_name) != current->end()) return {};
    if (static_cast<int>(current->size()) >= settings_.policies_per_target)
      return core::make_error(errc::limit_exceeded, "A target can have at most " +
                                                        std::to_string(settings_.policies_per_target) + " policies attached");
    return w.attach(policy_name, canonical);
  });
  if (!done) return engine_error(done.error());
  announce(identity_event::kind::attachment_changed, canonical);
  return {};
}

core::result<void> identity::detach_policy(const std::string& policy_name, const std::string& target) {
  if (auto r = check_policy_name(policy_name); !r) return r.error();
  auto parsed = parse_target(target);
  if (!parsed) return parsed.error();
  std::string canonical = arn(parsed->first, parsed->second);
  auto done = store_.transact([&](storage::identity_writer& w) { return w.detach(policy_name, canonical); });
  if (!done) return engine_error(done.error());
  announce(identity_event::kind::attachment_changed, canonical);
  return {};
}

core::result<marker_page<std::string>> identity::list_attached_policies(const std::string& target, bool recursive,
                                                                        const marker_request& page) {
  auto parsed = parse_target(target);
  if (!parsed) return parsed.error();
  auto limit = page_size(page);
  if (!limit) return limit.error();
  std::vector<std::string> targets{arn(parsed->first, parsed->second)};
  if (parsed->first == "thinggroup") {
    auto g = registry_.describe_thing_group(parsed->second);
    if (!g) return g.error();
    if (recursive)
      for (const auto& ancestor : g->root_to_parent) targets.push_back(ancestor.arn);
  }
  std::string query = "attached\n" + targets.front() + (recursive ? "\nr" : "\nn");
  std::vector<std::string> fields;
  auto after = decode_marker(query, page, 1, &fields);
  if (!after) return after.error();
  std::set<std::string> names;
  auto done = store_.read([&](storage::identity_reader& r) -> core::result<void> {
    if (parsed->first == "cert") {
      auto c = r.find_certificate(parsed->second);
      if (!c) return c.error();
      if (!*c) return not_found("Certificate " + parsed->second + " does not exist");
    }
    for (const auto& t : targets) {
      auto ps = r.policies_of_target(t);
      if (!ps) return ps.error();
      names.insert(ps->begin(), ps->end());
    }
    return {};
  });
  if (!done) return engine_error(done.error());
  std::vector<std::string> ordered(names.begin(), names.end());
  if (!page.ascending) std::reverse(ordered.begin(), ordered.end());
  marker_page<std::string> out;
  for (const auto& n : ordered) {
    if (*after && (page.ascending ? n <= **after : n >= **after)) continue;
    if (static_cast<int>(out.items.size()) == *limit) {
      out.next_marker = tokens_.encode(marker_scope(query, page), {out.items.back()});
      break;
    }
    out.items.push_back(n);
  }
  return out;
}

core::result<marker_page<std::string>> identity::list_targets_for_policy(const std::string& policy_name,
                                                                         const marker_request& page) {
  if (auto r = check_policy_name(policy_name); !r) return r.error();
  auto limit = page_size(page);
  if (!limit) return limit.error();
  std::string query = "targets\n" + policy_name;
  std::vector<std::string> fields;
  const marker_request by_target{page.page_size, page.marker, true};  // targets are listed in one order only
  auto after = decode_marker(query, by_target, 1, &fields);
  if (!after) return after.error();
  marker_page<std::string> out;
  auto done = store_.read([&](storage::identity_reader& r) -> core::result<void> {
    auto p = r.find_policy(policy_name);
    if (!p) return p.error();
    if (!*p) return not_found("Policy " + policy_name + " does not exist");
    auto rows = r.targets_of_policy(policy_name, *after, *limit + 1);
    if (!rows) return rows.error();
    if (static_cast<int>(rows->size()) > *limit) {
      rows->pop_back();
      out.next_marker = tokens_.encode(marker_scope(query, by_target), {rows->back()});
    }
    out.items = std::move(*rows);
    return {};
  });
  if (!done) return engine_error(done.error());
  return out;
}

core::result<std::vector<named_policy>> identity::policies_for(const std::string& cert_arn,
                                                                         const std::optional<std::string>& thing) {
  std::vector<std::string> targets{cert_arn};
  if (thing) {
    auto groups = registry_.list_groups_for_thing(*thing, registry::page_request{250, std::nullopt});
    if (!groups) return groups.error();
    std::set<std::string> seen;
    for (const auto& g : groups->items) {
      auto described = registry_.describe_thing_group(g.name);
      if (!described) continue;  // deleted meanwhile
      if (seen.insert(g.arn).second) targets.push_back(g.arn);
      for (const auto& ancestor : described->root_to_parent)
        if (seen.insert(ancestor.arn).second) targets.push_back(ancestor.arn);
    }
  }
  std::vector<std::pair<std::string, storage::policy_version_record>> found;
  auto done = store_.read([&](storage::identity_reader& r) -> core::result<void> {
    std::set<std::string> names;
    for (const auto& t : targets) {
      auto ps = r.policies_of_target(t);
      if (!ps) return ps.error();
      names.insert(ps->begin(), ps->end());
    }
    for (const auto& n : names) {
      auto p = r.find_policy(n);
      if (!p) return p.error();
      if (!*p) continue;
      auto v = r.find_policy_version(n, (*p)->default_version);
      if (!v) return v.error();
      if (*v) found.emplace_back(n, **v);
    }
    return {};
  });
  if (!done) return engine_error(done.error());
  std::vector<named_policy> out;
  for (auto& [name, v] : found) {
    auto c = compiled(name, v.version, v.document);
    if (!c) return c.error();
    out.push_back({name, *c});
  }
  return out;
}

core::result<std::vector<policy_info>> identity::get_effective_policies(const std::optional<std::string>& principal,
                                                                        const std::optional<std::string>& thing_name) {
  std::vector<std::string> names;
  std::string cert_arn;
  if (principal) {
    auto id = arn_resource(*principal, "cert");
    if (!id || !valid_certificate_id(*id)) return invalid("principal must be a certificate ARN");
    if (auto c = describe_certificate(*id); !c) return c.error();
    cert_arn = certificate_arn(*id);
  }
  if (thing_name)
    if (auto t = registry_.describe_thing(*thing_name); !t) return t.error();
  auto policies = policies_for(cert_arn, thing_name);
  if (!policies) return policies.error();
  std::vector<policy_info> out;
  for (const auto& p : *policies) {
    auto info = get_policy(p.name);
    if (info) out.push_back(std::move(*info));
  }
  return out;
}

core::result<certificate> identity::validate_device_certificate(X509* presented) {
  if (!presented) return invalid("no certificate was presented");
  auto id = pki::certificate_id(presented);
  auto known = describe_certificate(id);
  if (!known) return known.error();
  if (known->status != "ACTIVE")
    return core::make_error(errc::certificate_state, "Certificate " + id + " is " + known->status);
  auto now = clock_.now();
  if (now < known->not_before || now > known->not_after)
    return core::make_error(errc::certificate_state, "Certificate " + id + " is outside its validity period");
  if (known->ca_id) {
    auto ca = describe_ca_certificate(*known->ca_id);
    if (!ca || ca->status != "ACTIVE")
      return core::make_error(errc::certificate_state, "The CA of certificate " + id + " is not ACTIVE");
    auto ca_cert = pki::read_certificate(ca->pem);
    if (!ca_cert || !pki::signed_by(presented, ca_cert->get()))
      return core::make_error(errc::certificate_state, "Certificate " + id + " is not signed by its CA");
  } else if (known->mode != "SNI_ONLY") {
    bool verified;
    {
      std::lock_guard lock(verified_mutex_);
      verified = verified_by_root_.count(id) > 0;
    }
    if (!verified) {
      if (!pki::signed_by(presented, root_ca_.get()))
        return core::make_error(errc::certificate_state, "Certificate " + id + " is not signed by this server's CA");
      std::lock_guard lock(verified_mutex_);
      if (verified_by_root_.size() >= 200000) verified_by_root_.clear();
      verified_by_root_.insert(id);
    }
  }
  return known;
}

core::result<grants> identity::grants_for(const certificate& cert, const std::optional<std::string>& client_id,
                                          const std::optional<std::string>& source_ip,
                                          const std::map<std::string, std::string>* fields) {
  grants out;
  auto& ctx = out.context;
  if (fields) {
    ctx.certificate = *fields;
  } else {
    auto x509 = pki::read_certificate(cert.pem);
    if (!x509) return core::make_error(errc::internal, "stored certificate " + cert.id + " does not parse");
    ctx.certificate = pki::certificate_fields(x509->get());
  }
  ctx.client_id = client_id.value_or("");
  ctx.now = clock_.now();
  ctx.source_ip = source_ip;
  std::optional<std::string> thing;
  if (client_id) {
    auto attached = list_principal_things(cert.arn, registry::page_request{250, std::nullopt});
    if (!attached) return attached.error();
    if (std::find(attached->items.begin(), attached->items.end(), *client_id) != attached->items.end()) {
      auto t = registry_.describe_thing(*client_id);
      if (t) {
        thing = t->name;
        ctx.thing = policy::thing_info{t->name, t->type_name, t->attributes};
      }
    }
  }
  auto policies = policies_for(cert.arn, thing);
  if (!policies) return policies.error();
  out.policies = std::move(*policies);
  return out;
}

core::result<grants> identity::grants_for_policy(const std::string& policy, const std::string& client_id,
                                                 const std::optional<std::string>& source_ip) {
  auto info = get_policy(policy);
  if (!info) return info.error();
  auto c = compiled(policy, info->version, info->document);
  if (!c) return c.error();
  grants out;
  out.context.client_id = client_id;
  out.context.now = clock_.now();
  out.context.source_ip = source_ip;
  out.policies.push_back({policy, *c});
  return out;
}

core::result<std::vector<auth_result>> identity::test_authorization(const std::string& principal,
                                                                    const std::optional<std::string>& client_id,
                                                                    const std::vector<auth_info>& infos,
                                                                    const std::vector<std::string>& policies_to_add,
                                                                    const std::vector<std::string>& policies_to_skip) {
  auto id = arn_resource(principal, "cert");
  if (!id || !valid_certificate_id(*id)) return invalid("principal must be a certificate ARN");
  auto cert = describe_certificate(*id);
  if (!cert) return cert.error();
  auto granted = grants_for(*cert, client_id);
  if (!granted) return granted.error();
  const auto& ctx = granted->context;
  auto* policies = &granted->policies;
  std::vector<named_policy> judged;
  for (auto& p : *policies)
    if (std::find(policies_to_skip.begin(), policies_to_skip.end(), p.name) == policies_to_skip.end())
      judged.push_back(p);
  for (const auto& name : policies_to_add) {
    if (std::any_of(judged.begin(), judged.end(), [&](const named_policy& p) { return p.name == name; })) continue;
    auto info = get_policy(name);
    if (!info) return info.error();
    auto c = compiled(name, info->version, info->document);
    if (!c) return c.error();
    judged.push_back({name, *c});
  }

  std::vector<auth_result> out;
  for (const auto& info : infos) {
    const char* action = action_name(info.action_type);
    if (!action) return invalid("actionType '" + info.action_type + "' must be PUBLISH, SUBSCRIBE, RECEIVE or CONNECT");
    if (info.resources.empty()) return invalid("Each authInfo needs at least one resource");
    auth_result result{info, policy::decision::allowed, {}, {}, {}};
    std::set<std::string> allowed, explicit_deny, implicit_deny;
    for (const auto& resource : info.resources) {
      bool any_allow = false, any_deny = false;
      for (const auto& p : judged) {
        const policy::compiled_policy* one[] = {p.compiled.get()};
        auto d = policy::evaluate(one, action, resource, ctx);
        if (d == policy::decision::explicit_deny) {
          any_deny = true;
          explicit_deny.insert(p.name);
        } else if (d == policy::decision::allowed) {
          any_allow = true;
          allowed.insert(p.name);
        } else {
          implicit_deny.insert(p.name);
        }
      }
      auto d = any_deny ? policy::decision::explicit_deny
                        : (any_allow ? policy::decision::allowed : policy::decision::implicit_deny);
      if (d == policy::decision::explicit_deny ||
          (d == policy::decision::implicit_deny && result.decision == policy::decision::allowed))
        result.decision = d;
    }
    if (result.decision == policy::decision::allowed) result.allowed_by.assign(allowed.begin(), allowed.end());
    else if (result.decision == policy::decision::explicit_deny)
      result.explicitly_denied_by.assign(explicit_deny.begin(), explicit_deny.end());
    else result.implicitly_denied_by.assign(implicit_deny.begin(), implicit_deny.end());
    out.push_back(std::move(result));
  }
  return out;
}

}  // namespace airfleet::identity
