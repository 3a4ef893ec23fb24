#include "aws/iot_identity_api.hpp"

#include "aws/input.hpp"
#include "aws/operation.hpp"
#include "aws/paging.hpp"

namespace airfleet::aws {

namespace json = boost::json;
using verb = boost::beast::http::verb;

namespace {

double seconds(core::time_point t) { return core::to_epoch_seconds(t); }

json::object validity(core::time_point from, core::time_point to) {
  return json::object{{"notBefore", seconds(from)}, {"notAfter", seconds(to)}};
}

json::object describe(const identity::certificate& c, const std::string& account) {
  json::object d{{"certificateArn", c.arn}, {"certificateId", c.id}, {"status", c.status},
                 {"certificatePem", c.pem}, {"ownedBy", account}, {"creationDate", seconds(c.creation_date)},
                 {"lastModifiedDate", seconds(c.last_modified_date)}, {"customerVersion", 1},
                 {"generationId", c.generation_id}, {"validity", validity(c.not_before, c.not_after)},
                 {"certificateMode", c.mode}};
  if (c.ca_id) d["caCertificateId"] = *c.ca_id;
  return d;
}

json::object summary(const identity::certificate& c) {
  return json::object{{"certificateArn", c.arn}, {"certificateId", c.id}, {"status", c.status},
                      {"certificateMode", c.mode}, {"creationDate", seconds(c.creation_date)}};
}

json::object certificates_page(const identity::marker_page<identity::certificate>& page) {
  json::array items;
  for (const auto& c : page.items) items.emplace_back(summary(c));
  json::object out{{"certificates", std::move(items)}};
  if (page.next_marker) out["nextMarker"] = *page.next_marker;
  return out;
}

json::array names_with_arns(const std::vector<std::string>& names, const identity::identity& id) {
  json::array items;
  for (const auto& n : names) items.emplace_back(json::object{{"policyName", n}, {"policyArn", id.policy_arn(n)}});
  return items;
}

core::result<std::string> required_string(const input& in, const std::string& name) {
  TRY(value, in.string(name));
  if (!value) return invalid_input("Member '" + name + "' is required");
  return *value;
}

core::result<std::string> principal_header(const input& in) {
  auto p = in.header("x-amzn-principal");
  if (!p || p->empty()) return invalid_input("The x-amzn-principal header is required");
  return *p;
}

}  // namespace

void add_identity_operations(iot_api& api, identity::identity& id) {
  auto* self = &id;

  // Certificates
  api.add(verb::post, "/keys-and-certificate", "CreateKeysAndCertificate", true,
          [self](const input& in) -> core::result<json::object> {
            TRY(active, in.query_bool("setAsActive"));
            TRY(made, self->create_keys_and_certificate(active.value_or(false)));
            return json::object{{"certificateArn", made.cert.arn}, {"certificateId", made.cert.id},
                                {"certificatePem", made.cert.pem},
                                {"keyPair", json::object{{"PublicKey", made.public_key_pem},
                                                         {"PrivateKey", made.private_key_pem}}}};
          });
  api.add(verb::post, "/certificates", "CreateCertificateFromCsr", true,
          [self](const input& in) -> core::result<json::object> {
            TRY(csr, required_string(in, "certificateSigningRequest"));
            TRY(active, in.query_bool("setAsActive"));
            TRY(c, self->create_certificate_from_csr(csr, active.value_or(false)));
            return json::object{{"certificateArn", c.arn}, {"certificateId", c.id}, {"certificatePem", c.pem}};
          });
  api.add(verb::get, "/certificates/{certificateId}", "DescribeCertificate", false,
          [self](const input& in) -> core::result<json::object> {
            TRY(c, self->describe_certificate(in.path("certificateId")));
            return json::object{{"certificateDescription", describe(c, self->account_id())}};
          });
  api.add(verb::get, "/certificates", "ListCertificates", false, [self](const input& in) -> core::result<json::object> {
    TRY(page, marker_page(in));
    TRY(result, self->list_certificates(page));
    return certificates_page(result);
  });
  api.add(verb::get, "/certificates-by-ca/{caCertificateId}", "ListCertificatesByCA", false,
          [self](const input& in) -> core::result<json::object> {
            TRY(page, marker_page(in));
            TRY(result, self->list_certificates(page, in.path("caCertificateId")));
            return certificates_page(result);
          });
  api.add(verb::put, "/certificates/{certificateId}", "UpdateCertificate", true,
          [self](const input& in) -> core::result<json::object> {
            auto status = in.query("newStatus");
            if (!status) return invalid_input("Query parameter 'newStatus' is required");
            if (auto r = self->update_certificate(in.path("certificateId"), *status); !r) return r.error();
            return json::object{};
          });
  api.add(verb::delete_, "/certificates/{certificateId}", "DeleteCertificate", true,
          [self](const input& in) -> core::result<json::object> {
            TRY(force, in.query_bool("forceDelete"));
            if (auto r = self->delete_certificate(in.path("certificateId"), force.value_or(false)); !r) return r.error();
            return json::object{};
          });

  // Bring-your-own CA
  api.add(verb::get, "/registrationcode", "GetRegistrationCode", false,
          [self](const input&) -> core::result<json::object> {
            return json::object{{"registrationCode", self->registration_code()}};
          });
  api.add(verb::post, "/cacertificate", "RegisterCACertificate", true,
          [self](const input& in) -> core::result<json::object> {
            TRY(pem, required_string(in, "caCertificate"));
            TRY(verification, in.string("verificationCertificate"));
            TRY(active, in.query_bool("setAsActive"));
            TRY(auto_reg, in.query_bool("allowAutoRegistration"));
            TRY(ca, self->register_ca_certificate(pem, verification, active.value_or(false), auto_reg.value_or(false)));
            return json::object{{"certificateArn", ca.arn}, {"certificateId", ca.id}};
          });
  api.add(verb::get, "/cacertificate/{caCertificateId}", "DescribeCACertificate", false,
          [self](const input& in) -> core::result<json::object> {
            TRY(ca, self->describe_ca_certificate(in.path("caCertificateId")));
            return json::object{
                {"certificateDescription",
                 json::object{{"certificateArn", ca.arn}, {"certificateId", ca.id}, {"status", ca.status},
                              {"certificatePem", ca.pem}, {"ownedBy", self->account_id()},
                              {"creationDate", seconds(ca.creation_date)},
                              {"autoRegistrationStatus", ca.auto_registration},
                              {"lastModifiedDate", seconds(ca.last_modified_date)}, {"customerVersion", 1},
                              {"generationId", ca.generation_id}, {"validity", validity(ca.not_before, ca.not_after)},
                              {"certificateMode", "DEFAULT"}}}};
          });
  api.add(verb::get, "/cacertificates", "ListCACertificates", false,
          [self](const input& in) -> core::result<json::object> {
            TRY(page, marker_page(in));
            TRY(result, self->list_ca_certificates(page));
            json::array items;
            for (const auto& c : result.items)
              items.emplace_back(json::object{{"certificateArn", c.arn}, {"certificateId", c.id}, {"status", c.status},
                                              {"creationDate", seconds(c.creation_date)}});
            json::object out{{"certificates", std::move(items)}};
            if (result.next_marker) out["nextMarker"] = *result.next_marker;
            return out;
          });
  api.add(verb::put, "/cacertificate/{caCertificateId}", "UpdateCACertificate", true,
          [self](const input& in) -> core::result<json::object> {
            if (auto r = self->update_ca_certificate(in.path("caCertificateId"), in.query("newStatus"),
                                                     in.query("newAutoRegistrationStatus"));
                !r)
              return r.error();
            return json::object{};
          });
  api.add(verb::delete_, "/cacertificate/{caCertificateId}", "DeleteCACertificate", true,
          [self](const input& in) -> core::result<json::object> {
            if (auto r = self->delete_ca_certificate(in.path("caCertificateId")); !r) return r.error();
            return json::object{};
          });
  api.add(verb::post, "/certificate/register", "RegisterCertificate", true,
          [self](const input& in) -> core::result<json::object> {
            TRY(pem, required_string(in, "certificatePem"));
            TRY(ca_pem, in.string("caCertificatePem"));
            TRY(status, in.string("status"));
            TRY(active, in.query_bool("setAsActive"));
            std::string s = status.value_or(active.value_or(false) ? "ACTIVE" : "INACTIVE");
            TRY(c, self->register_certificate(pem, ca_pem, s));
            return json::object{{"certificateArn", c.arn}, {"certificateId", c.id}};
          });
  api.add(verb::post, "/certificate/register-no-ca", "RegisterCertificateWithoutCA", true,
          [self](const input& in) -> core::result<json::object> {
            TRY(pem, required_string(in, "certificatePem"));
            TRY(status, in.string("status"));
            TRY(c, self->register_certificate_without_ca(pem, status.value_or("INACTIVE")));
            return json::object{{"certificateArn", c.arn}, {"certificateId", c.id}};
          });

  // Thing principals
  api.add(verb::put, "/things/{thingName}/principals", "AttachThingPrincipal", true,
          [self](const input& in) -> core::result<json::object> {
            TRY(principal, principal_header(in));
            if (auto r = self->attach_thing_principal(in.path("thingName"), principal); !r) return r.error();
            return json::object{};
          });
  api.add(verb::delete_, "/things/{thingName}/principals", "DetachThingPrincipal", true,
          [self](const input& in) -> core::result<json::object> {
            TRY(principal, principal_header(in));
            if (auto r = self->detach_thing_principal(in.path("thingName"), principal); !r) return r.error();
            return json::object{};
          });
  api.add(verb::get, "/things/{thingName}/principals", "ListThingPrincipals", false,
          [self](const input& in) -> core::result<json::object> {
            TRY(page, token_page(in));
            TRY(result, self->list_thing_principals(in.path("thingName"), page));
            json::array items;
            for (const auto& p : result.items) items.emplace_back(p);
            json::object out{{"principals", std::move(items)}};
            if (result.next_token) out["nextToken"] = *result.next_token;
            return out;
          });
  api.add(verb::get, "/principals/things", "ListPrincipalThings", false,
          [self](const input& in) -> core::result<json::object> {
            TRY(principal, principal_header(in));
            TRY(page, token_page(in));
            TRY(result, self->list_principal_things(principal, page));
            json::array items;
            for (const auto& t : result.items) items.emplace_back(t);
            json::object out{{"things", std::move(items)}};
            if (result.next_token) out["nextToken"] = *result.next_token;
            return out;
          });

  // Policies
  api.add(verb::post, "/policies/{policyName}", "CreatePolicy", true,
          [self](const input& in) -> core::result<json::object> {
            TRY(document, required_string(in, "policyDocument"));
            TRY(p, self->create_policy(in.path("policyName"), document));
            return json::object{{"policyName", p.name}, {"policyArn", p.arn}, {"policyDocument", p.document},
                                {"policyVersionId", std::to_string(p.version)}};
          });
  api.add(verb::get, "/policies/{policyName}", "GetPolicy", false, [self](const input& in) -> core::result<json::object> {
    TRY(p, self->get_policy(in.path("policyName")));
    return json::object{{"policyName", p.name}, {"policyArn", p.arn}, {"policyDocument", p.document},
                        {"defaultVersionId", std::to_string(p.default_version)},
                        {"creationDate", seconds(p.creation_date)}, {"lastModifiedDate", seconds(p.last_modified_date)},
                        {"generationId", p.generation_id}};
  });
  api.add(verb::get, "/policies", "ListPolicies", false, [self](const input& in) -> core::result<json::object> {
    TRY(page, marker_page(in));
    TRY(result, self->list_policies(page));
    json::array items;
    for (const auto& p : result.items) items.emplace_back(json::object{{"policyName", p.name}, {"policyArn", p.arn}});
    json::object out{{"policies", std::move(items)}};
    if (result.next_marker) out["nextMarker"] = *result.next_marker;
    return out;
  });
  api.add(verb::delete_, "/policies/{policyName}", "DeletePolicy", true,
          [self](const input& in) -> core::result<json::object> {
            if (auto r = self->delete_policy(in.path("policyName")); !r) return r.error();
            return json::object{};
          });
  api.add(verb::post, "/policies/{policyName}/version", "CreatePolicyVersion", true,
          [self](const input& in) -> core::result<json::object> {
            TRY(document, required_string(in, "policyDocument"));
            TRY(as_default, in.query_bool("setAsDefault"));
            TRY(p, self->create_policy_version(in.path("policyName"), document, as_default.value_or(false)));
            return json::object{{"policyArn", p.arn}, {"policyDocument", p.document},
                                {"policyVersionId", std::to_string(p.version)},
                                {"isDefaultVersion", p.version == p.default_version}};
          });
  api.add(verb::get, "/policies/{policyName}/version/{policyVersionId}", "GetPolicyVersion", false,
          [self](const input& in) -> core::result<json::object> {
            TRY(p, self->get_policy_version(in.path("policyName"), in.path("policyVersionId")));
            return json::object{{"policyArn", p.arn}, {"policyName", p.name}, {"policyDocument", p.document},
                                {"policyVersionId", std::to_string(p.version)},
                                {"isDefaultVersion", p.version == p.default_version},
                                {"creationDate", seconds(p.creation_date)},
                                {"lastModifiedDate", seconds(p.last_modified_date)}, {"generationId", p.generation_id}};
          });
  api.add(verb::get, "/policies/{policyName}/version", "ListPolicyVersions", false,
          [self](const input& in) -> core::result<json::object> {
            TRY(versions, self->list_policy_versions(in.path("policyName")));
            json::array items;
            for (const auto& v : versions)
              items.emplace_back(json::object{{"versionId", std::to_string(v.version)},
                                              {"isDefaultVersion", v.is_default},
                                              {"createDate", seconds(v.create_date)}});
            return json::object{{"policyVersions", std::move(items)}};
          });
  api.add(verb::patch, "/policies/{policyName}/version/{policyVersionId}", "SetDefaultPolicyVersion", true,
          [self](const input& in) -> core::result<json::object> {
            if (auto r = self->set_default_policy_version(in.path("policyName"), in.path("policyVersionId")); !r)
              return r.error();
            return json::object{};
          });
  api.add(verb::delete_, "/policies/{policyName}/version/{policyVersionId}", "DeletePolicyVersion", true,
          [self](const input& in) -> core::result<json::object> {
            if (auto r = self->delete_policy_version(in.path("policyName"), in.path("policyVersionId")); !r)
              return r.error();
            return json::object{};
          });

  // Attachments
  api.add(verb::put, "/target-policies/{policyName}", "AttachPolicy", true,
          [self](const input& in) -> core::result<json::object> {
            TRY(target, required_string(in, "target"));
            if (auto r = self->attach_policy(in.path("policyName"), target); !r) return r.error();
            return json::object{};
          });
  api.add(verb::post, "/target-policies/{policyName}", "DetachPolicy", true,
          [self](const input& in) -> core::result<json::object> {
            TRY(target, required_string(in, "target"));
            if (auto r = self->detach_policy(in.path("policyName"), target); !r) return r.error();
            return json::object{};
          });
  api.add(verb::post, "/attached-policies/{target}", "ListAttachedPolicies", false,
          [self](const input& in) -> core::result<json::object> {
            TRY(page, marker_page(in));
            TRY(recursive, in.query_bool("recursive"));
            TRY(result, self->list_attached_policies(in.path("target"), recursive.value_or(false), page));
            json::object out{{"policies", names_with_arns(result.items, *self)}};
            if (result.next_marker) out["nextMarker"] = *result.next_marker;
            return out;
          });
  api.add(verb::post, "/policy-targets/{policyName}", "ListTargetsForPolicy", false,
          [self](const input& in) -> core::result<json::object> {
            TRY(page, marker_page(in));
            TRY(result, self->list_targets_for_policy(in.path("policyName"), page));
            json::array items;
            for (const auto& t : result.items) items.emplace_back(t);
            json::object out{{"targets", std::move(items)}};
            if (result.next_marker) out["nextMarker"] = *result.next_marker;
            return out;
          });
  api.add(verb::post, "/effective-policies", "GetEffectivePolicies", false,
          [self](const input& in) -> core::result<json::object> {
            TRY(principal, in.string("principal"));
            auto thing = in.query("thingName");
            if (!principal && !thing) return invalid_input("principal or thingName is required");
            TRY(policies, self->get_effective_policies(principal, thing));
            json::array items;
            for (const auto& p : policies)
              items.emplace_back(json::object{{"policyName", p.name}, {"policyArn", p.arn}, {"policyDocument", p.document}});
            return json::object{{"effectivePolicies", std::move(items)}};
          });
  api.add(verb::post, "/test-authorization", "TestAuthorization", false,
          [self](const input& in) -> core::result<json::object> {
            TRY(principal, required_string(in, "principal"));
            auto* infos = in.body().if_contains("authInfos");
            if (!infos || !infos->is_array() || infos->as_array().empty())
              return invalid_input("Member 'authInfos' must be a non-empty list");
            if (infos->as_array().size() > 10) return invalid_input("At most 10 authInfos are allowed");
            std::vector<identity::auth_info> asked;
            for (const auto& item : infos->as_array()) {
              if (!item.is_object()) return invalid_input("Each authInfo must be an object");
              TRY(action, input::string_in(item.as_object(), "actionType", "authInfos[].actionType"));
              identity::auth_info info{action.value_or(""), {}};
              auto* resources = item.as_object().if_contains("resources");
              if (!resources || !resources->is_array()) return invalid_input("Each authInfo needs a list of resources");
              for (const auto& r : resources->as_array()) {
                if (!r.is_string()) return invalid_input("Each resource must be a string");
                info.resources.emplace_back(r.as_string());
              }
              asked.push_back(std::move(info));
            }
            TRY(add, in.string_list("policyNamesToAdd"));
            TRY(skip, in.string_list("policyNamesToSkip"));
            TRY(results, self->test_authorization(principal, in.query("clientId"), asked,
                                                   add.value_or(std::vector<std::string>{}),
                                                   skip.value_or(std::vector<std::string>{})));
            json::array out;
            for (const auto& r : results) {
              json::array resources;
              for (const auto& res : r.info.resources) resources.emplace_back(res);
              json::object result{{"authInfo", json::object{{"actionType", r.info.action_type},
                                                            {"resources", std::move(resources)}}},
                                  {"authDecision", std::string(policy::to_string(r.decision))},
                                  {"missingContextValues", json::array{}}};
              result["allowed"] = json::object{{"policies", names_with_arns(r.allowed_by, *self)}};
              result["denied"] = json::object{
                  {"implicitDeny", json::object{{"policies", names_with_arns(r.implicitly_denied_by, *self)}}},
                  {"explicitDeny", json::object{{"policies", names_with_arns(r.explicitly_denied_by, *self)}}}};
              out.emplace_back(std::move(result));
            }
            return json::object{{"authResults", std::move(out)}};
          });
}

}  // namespace airfleet::aws
