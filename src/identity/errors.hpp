// The identity engine's expected failures; aws/errors.cpp maps them to AWS
// error shapes.
#pragma once

#include <system_error>

namespace airfleet::identity {

enum class errc {
  not_found = 1,            // ResourceNotFoundException
  already_exists,           // ResourceAlreadyExistsException
  invalid_request,          // InvalidRequestException
  malformed_policy,         // MalformedPolicyException
  certificate_state,        // CertificateStateException
  delete_conflict,          // DeleteConflictException
  versions_limit_exceeded,  // VersionsLimitExceededException
  limit_exceeded,           // LimitExceededException
  certificate_validation,   // CertificateValidationException
  internal,                 // InternalFailureException
};
std::error_code make_error_code(errc e);

}  // namespace airfleet::identity

template <>
struct std::is_error_code_enum<airfleet::identity::errc> : std::true_type {};
