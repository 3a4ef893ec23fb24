// One live connection's authority: the grants (compiled policies + policy
// variable context) resolved once when the device connects, then evaluated
// for every CONNECT, PUBLISH, SUBSCRIBE and delivery without touching
// storage. When identity announces a change (identity_event), the broker
// calls refresh(): a certificate that is no longer ACTIVE fails it (drop the
// connection), otherwise the grants are resolved again.
//
// Not thread-safe: it belongs to its connection's strand.
#pragma once

#include "identity/identity.hpp"

namespace airfleet::identity {

class connection_authorizer {
 public:
  // `fields`: the certificate's fields (pki::certificate_fields) when the
  // caller has parsed it already, as the broker has after the TLS handshake.
  connection_authorizer(identity& id, certificate cert, std::string client_id,
                        std::optional<std::string> source_ip = std::nullopt,
                        std::optional<std::map<std::string, std::string>> fields = std::nullopt);
  // A client without a certificate, judged by one named policy.
  connection_authorizer(identity& id, std::string policy, std::string client_id,
                        std::optional<std::string> source_ip = std::nullopt);

  // Resolves (or re-resolves) the grants; fails when the certificate is no
  // longer a valid identity.
  core::result<void> refresh();

  // `action` e.g. "iot:Publish"; `type` "topic", "topicfilter" or "client";
  // `name` the topic, filter or client id. Implicit deny before refresh().
  policy::decision authorize(std::string_view action, std::string_view type, std::string_view name);

  const certificate& cert() const { return cert_; }
  const grants& current() const { return grants_; }
  const std::string& client_id() const { return client_id_; }

 private:
  identity& identity_;
  certificate cert_;
  std::optional<std::string> policy_;  // set: judged by this policy alone
  std::string client_id_;
  std::optional<std::string> source_ip_;
  std::optional<std::map<std::string, std::string>> fields_;  // the certificate's, once known
  grants grants_;
  std::vector<const policy::compiled_policy*> compiled_;  // points into grants_
  std::string resource_prefix_;                           // "arn:aws:iot:<region>:<account>:"
  std::string resource_;                                  // reused buffer for the resource ARN
};

}  // namespace airfleet::identity
