// The jobs data plane over HTTP (service model `iot-jobs-data`, signed as
// `iot-jobs-data`): a device, or someone acting for it, listing, starting,
// describing and updating its own thing's job executions. The four
// operations are registered on an iot_api of their own, which the gateway
// picks when the credential scope names iot-jobs-data.
//
// The MQTT jobs API (aws/jobs_mqtt.hpp) takes the same requests and answers
// with the same shapes, so the readers and writers both surfaces share live
// here too (namespace jobs_wire): one statusDetails check, one update
// reader, one way of writing an execution. The only differences between the
// two surfaces are the ones AWS has: over HTTP `jobDocument` is the document
// string, over MQTT it is the document as a JSON object; MQTT replies add
// `timestamp` and echo `clientToken`.
//
// Timestamps in this service are `long` epoch SECONDS (queuedAt, startedAt,
// lastUpdatedAt), unlike the control plane's fractional seconds, and
// statusDetails is a plain string map (the control plane wraps it in
// {"detailsMap": ...}).
#pragma once

#include "aws/iot_api.hpp"
#include "jobs/engine.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace airfleet::aws {

// GetPendingJobExecutions, StartNextPendingJobExecution, DescribeJobExecution
// and UpdateJobExecution.
void add_jobs_data_operations(iot_api& api, jobs::engine& engine);

namespace jobs_wire {

// ---- readers (errors are aws::errc::invalid_input: InvalidRequest) ----------

// `statusDetails`: keys [a-zA-Z0-9:_-]{1,128}, values 1..1024 characters
// with no control characters (the model's DetailsKey / DetailsValue).
core::result<std::optional<jobs::details_map>> status_details_in(const boost::json::object& body);
// A `long` member: an integer, or a number with no fractional part.
core::result<std::optional<std::int64_t>> integer_in(const boost::json::object& body, std::string_view name);
// StartNextPendingJobExecution's body: statusDetails, stepTimeoutInMinutes.
core::result<jobs::start_next_request> start_next_in(const boost::json::object& body, std::string thing);

struct device_update {
  jobs::update_execution_request request;
  bool include_state = false;  // includeJobExecutionState
};
// UpdateJobExecution's body: status (required), statusDetails,
// stepTimeoutInMinutes, expectedVersion, executionNumber,
// includeJobExecutionState, includeJobDocument (both default false).
core::result<device_update> update_in(const boost::json::object& body, std::string thing, std::string job_id);

// ---- writers ------------------------------------------------------------------

std::int64_t epoch_seconds(core::time_point t);

// JobExecutionSummary: jobId, queuedAt, startedAt (once started),
// lastUpdatedAt, versionNumber, executionNumber.
boost::json::object summary_json(const jobs::execution& e);
// {inProgressJobs: [summary], queuedJobs: [summary]}
boost::json::object pending_json(const jobs::pending_executions& p);
// JobExecutionState: status, statusDetails, versionNumber.
boost::json::object state_json(const jobs::execution& e);

enum class document_form {
  string,  // HTTP: the document as stored
  object,  // MQTT: parsed; a document that is not a JSON object stays a string
};
boost::json::value document_json(const std::string& document, document_form form);
// JobExecution: jobId, thingName, status, statusDetails, queuedAt,
// startedAt?, lastUpdatedAt, approximateSecondsBeforeTimedOut?,
// versionNumber, executionNumber, jobDocument (when the engine gave one).
boost::json::object execution_json(const jobs::execution_with_document& e, document_form form);

}  // namespace jobs_wire
}  // namespace airfleet::aws
