// The AWS IoT Jobs MQTT API as the agent speaks it: topic names, request
// bodies, and what an answer means. Pure functions: no I/O, so the rules are
// unit-tested on their own.
//
//   $aws/things/T/jobs/notify-next           an execution to start (or none)
//   $aws/things/T/jobs/start-next            -> /accepted {execution?} | /rejected
//   $aws/things/T/jobs/<jobId>/update        -> /accepted {executionState} | /rejected
//   $aws/things/T/jobs/<jobId>/get           -> /accepted {execution} | /rejected
//
// Every request carries a clientToken; an answer belongs to the request
// whose topic it extends and whose clientToken it echoes.
//
// ## What a rejected update means
//
//   VersionMismatch, executionState terminal   the server already has an
//                                              outcome: ours was delivered
//                                              earlier, or the execution was
//                                              canceled/timed out -> gone
//   VersionMismatch, executionState not terminal
//                                              our expectedVersion was stale
//                                              (an answer got lost): adopt its
//                                              versionNumber and send again
//   VersionMismatch without executionState     read the execution with
//                                              <jobId>/get, then as above
//   InvalidStateTransition, TerminalStateReached, ResourceNotFound
//                                              the execution is over or gone
//   RequestThrottled, InternalError            try again later
//   anything else (InvalidRequest, InvalidJson, InvalidTopic)
//                                              the request itself is wrong;
//                                              sending it again cannot help
#pragma once

#include "agent/journal.hpp"
#include "core/error.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace airfleet::agent::jobs_protocol {

std::string topic(std::string_view thing, std::string_view suffix);
// The filters the agent subscribes to (7, under AWS's 8 per SUBSCRIBE).
std::vector<std::string> subscriptions(std::string_view thing);

bool is_terminal(std::string_view status);

boost::json::object start_next_request(std::optional<int> step_timeout_minutes);
boost::json::object update_request(std::string_view status, const details_map& details,
                                   std::optional<std::int64_t> expected_version,
                                   std::optional<int> step_timeout_minutes);
boost::json::object describe_request(std::int64_t execution_number);

// A start-next, notify-next or get answer's "execution" as a fresh job record
// (step received). An error when jobId, versionNumber or a document object is
// missing.
core::result<job_record> job_from_execution(const boost::json::object& execution);

struct verdict {
  enum class kind { adopt_version, describe, gone, retry_later, invalid } action = kind::invalid;
  std::int64_t version = 0;  // adopt_version
  std::string reason;        // code: message, for the log
};
verdict judge_update_rejection(const boost::json::object& rejection);

// executionState.versionNumber of an accepted update, if present.
std::optional<std::int64_t> accepted_version(const boost::json::object& accepted);

}  // namespace airfleet::agent::jobs_protocol
