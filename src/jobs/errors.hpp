// The jobs engine's expected failures. The AWS surfaces map each to its
// rest-json error (aws/errors.cpp) and to the MQTT jobs API's rejection codes
// (aws/jobs_mqtt.cpp); nothing here knows about HTTP or MQTT.
#pragma once

#include <system_error>

namespace airfleet::jobs {

enum class errc {
  not_found = 1,             // ResourceNotFoundException / ResourceNotFound
  already_exists,            // ResourceAlreadyExistsException (a job id in use)
  conflict,                  // ConflictException (a job template id in use)
  invalid_request,           // InvalidRequestException / InvalidRequest
  invalid_state_transition,  // InvalidStateTransitionException / InvalidStateTransition
  version_conflict,          // VersionConflictException / VersionMismatch
  terminal_state,            // TerminalStateException / TerminalStateReached
  limit_exceeded,            // LimitExceededException
  internal,                  // storage failed; the message says how
};
std::error_code make_error_code(errc e);

}  // namespace airfleet::jobs

template <>
struct std::is_error_code_enum<airfleet::jobs::errc> : std::true_type {};
