// The device agent's expected failures. Each becomes either a log line (local
// trouble the agent retries) or a reason in a FAILED/REJECTED job outcome;
// nothing here knows about MQTT.
#pragma once

#include <system_error>

namespace airfleet::agent {

enum class errc {
  io = 1,            // a file in the state directory could not be read or written
  corrupt_state,     // a state file holds something the agent never writes
  invalid_document,  // the job document is not one the agent can carry out
  download,          // the image could not be downloaded
  command,           // a health check or reboot command could not be started
};
std::error_code make_error_code(errc e);

}  // namespace airfleet::agent

template <>
struct std::is_error_code_enum<airfleet::agent::errc> : std::true_type {};
