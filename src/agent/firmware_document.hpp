// The job document contract between the server and the agent (the recipe's):
//
//   {"operation": "firmwareUpdate", "firmwareVersion": "2.1.0",
//    "downloadUrl": "http(s)://...", "checksumAlgorithm": "SHA256",
//    "checksum": "<64 hex digits>", "installationSteps": [...],
//    "rollbackInstructions": {"enabled": true, "maxAttempts": 3},
//    "timeoutConfig": {"inProgressTimeoutInMinutes": 30, "stepTimeoutInMinutes": 10}}
//
// `installationSteps` is prose for people and is ignored. maxAttempts is the
// number of install + health-check attempts before the agent gives up; it is
// 1 when rollbackInstructions is missing or disabled, and at most
// max_install_attempts. A document the agent cannot carry out (another
// operation, a missing URL, another checksum algorithm) is refused with a
// reason, which the agent reports as REJECTED.
#pragma once

#include "core/error.hpp"

#include <boost/json/object.hpp>

#include <optional>
#include <string>

namespace airfleet::agent {

constexpr int max_install_attempts = 10;

struct firmware_update {
  std::string version;
  std::string url;
  std::string checksum;  // lower-case hex SHA-256
  int max_attempts = 1;
  std::optional<int> step_timeout_minutes;
};

// An error (invalid_document) whose message is the reason to report.
core::result<firmware_update> parse_firmware_document(const boost::json::object& document);

}  // namespace airfleet::agent
