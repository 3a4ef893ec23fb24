#include "aws/errors.hpp"

#include "s3/xml.hpp"

#include "auth/sigv4.hpp"
#include "aws/input.hpp"
#include "identity/errors.hpp"
#include "jobs/errors.hpp"
#include "registry/errors.hpp"
#include "storage/sqlite.hpp"

#include <boost/json.hpp>

namespace airfleet::aws {

namespace bhttp = boost::beast::http;
namespace json = boost::json;

wire_error to_wire(const core::error& e) {
  using s = bhttp::status;
  const auto& cat = e.code.category();
  if (cat == registry::make_error_code(registry::errc::not_found).category()) {
    switch (static_cast<registry::errc>(e.code.value())) {
      case registry::errc::not_found: return {s::not_found, "ResourceNotFoundException", e.message, e.details};
      case registry::errc::already_exists: return {s::conflict, "ResourceAlreadyExistsException", e.message, e.details};
      case registry::errc::invalid_request: return {s::bad_request, "InvalidRequestException", e.message, e.details};
      case registry::errc::version_conflict: return {s::conflict, "VersionConflictException", e.message, e.details};
      case registry::errc::limit_exceeded: return {s::gone, "LimitExceededException", e.message, e.details};
      case registry::errc::internal: break;
    }
  } else if (cat == identity::make_error_code(identity::errc::not_found).category()) {
    using ie = identity::errc;
    switch (static_cast<ie>(e.code.value())) {
      case ie::not_found: return {s::not_found, "ResourceNotFoundException", e.message, e.details};
      case ie::already_exists: return {s::conflict, "ResourceAlreadyExistsException", e.message, e.details};
      case ie::invalid_request: return {s::bad_request, "InvalidRequestException", e.message, e.details};
      case ie::malformed_policy: return {s::bad_request, "MalformedPolicyException", e.message, e.details};
      case ie::certificate_state: return {s::not_acceptable, "CertificateStateException", e.message, e.details};
      case ie::delete_conflict: return {s::conflict, "DeleteConflictException", e.message, e.details};
      case ie::versions_limit_exceeded: return {s::conflict, "VersionsLimitExceededException", e.message, e.details};
      case ie::limit_exceeded: return {s::gone, "LimitExceededException", e.message, e.details};
      case ie::certificate_validation: return {s::bad_request, "CertificateValidationException", e.message, e.details};
      case ie::internal: break;
    }
  } else if (cat == jobs::make_error_code(jobs::errc::not_found).category()) {
    // The jobs engine's details carry the execution state for the MQTT
    // rejections (jobs_mqtt.cpp); rest-json errors do not include it.
    using je = jobs::errc;
    switch (static_cast<je>(e.code.value())) {
      case je::not_found: return {s::not_found, "ResourceNotFoundException", e.message, {}};
      case je::already_exists: return {s::conflict, "ResourceAlreadyExistsException", e.message, {}};
      case je::conflict: return {s::conflict, "ConflictException", e.message, {}};
      case je::invalid_request: return {s::bad_request, "InvalidRequestException", e.message, {}};
      case je::invalid_state_transition:
        return {s::conflict, "InvalidStateTransitionException", e.message, {}};
      case je::version_conflict: return {s::conflict, "VersionConflictException", e.message, {}};
      case je::terminal_state: return {s::gone, "TerminalStateException", e.message, {}};
      case je::limit_exceeded: return {s::gone, "LimitExceededException", e.message, {}};
      case je::internal: break;
    }
  } else if (cat == auth::make_error_code(auth::errc::invalid_signature).category()) {
    switch (static_cast<auth::errc>(e.code.value())) {
      case auth::errc::missing_authentication: return {s::forbidden, "MissingAuthenticationTokenException", e.message, {}};
      case auth::errc::incomplete_signature: return {s::forbidden, "IncompleteSignatureException", e.message, {}};
      case auth::errc::unrecognized_client: return {s::forbidden, "UnrecognizedClientException", e.message, {}};
      case auth::errc::invalid_signature:
      case auth::errc::signature_expired:
      case auth::errc::request_expired: return {s::forbidden, "InvalidSignatureException", e.message, {}};
      case auth::errc::throttled: return {s::too_many_requests, "ThrottlingException", e.message, {}};
    }
  } else if (cat == make_error_code(errc::invalid_input).category()) {
    switch (static_cast<errc>(e.code.value())) {
      case errc::invalid_input: return {s::bad_request, "InvalidRequestException", e.message, {}};
      case errc::unknown_operation: return {s::not_found, "UnknownOperationException", e.message, {}};
      case errc::method_not_allowed: return {s::method_not_allowed, "MethodNotAllowedException", e.message, {}};
      case errc::unsupported_service: return {s::bad_request, "InvalidRequestException", e.message, {}};
    }
  } else if (cat == storage::make_error_code(storage::errc::closed).category()) {
    if (static_cast<storage::errc>(e.code.value()) == storage::errc::closed)
      return {s::service_unavailable, "ServiceUnavailableException", "The server is shutting down", {}};
  }
  return {s::internal_server_error, "InternalFailureException", "Internal failure: " + e.message, {}};
}

http::response json_error(const wire_error& e, unsigned version) {
  http::response res{e.status, version};
  res.set(bhttp::field::content_type, "application/json");
  res.set("x-amzn-ErrorType", e.code);
  json::object body;
  body["__type"] = e.code;
  body["message"] = e.message;
  for (const auto& [k, v] : e.details) body[k] = v;
  res.body() = json::serialize(body);
  return res;
}

http::response json_error(const core::error& e, unsigned version) { return json_error(to_wire(e), version); }

namespace {
}  // namespace

http::response xml_error(const wire_error& e, const std::string& request_id, unsigned version) {
  http::response res{e.status, version};
  res.set(bhttp::field::content_type, "text/xml");
  bool sender = static_cast<int>(e.status) < 500;
  res.body() = "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>" +
               std::string(sender ? "Sender" : "Receiver") + "</Type><Code>" + s3::xml_escape(e.code) +
               "</Code><Message>" + s3::xml_escape(e.message) + "</Message></Error><RequestId>" + s3::xml_escape(request_id) +
               "</RequestId></ErrorResponse>";
  return res;
}

}  // namespace airfleet::aws
