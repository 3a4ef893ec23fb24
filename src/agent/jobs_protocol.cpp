#include "agent/jobs_protocol.hpp"

#include "agent/errors.hpp"

#include <boost/json.hpp>

namespace airfleet::agent::jobs_protocol {

namespace json = boost::json;

namespace {

std::optional<std::int64_t> integer_of(const json::value* v) {
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
  if (v->is_double()) return static_cast<std::int64_t>(v->as_double());
  return std::nullopt;
}

std::string string_of(const json::value* v) { return v && v->is_string() ? std::string(v->as_string()) : ""; }

}  // namespace

std::string topic(std::string_view thing, std::string_view suffix) {
  std::string out = "$aws/things/";
  out += thing;
  out += "/jobs/";
  out += suffix;
  return out;
}

std::vector<std::string> subscriptions(std::string_view thing) {
  return {topic(thing, "notify-next"),       topic(thing, "start-next/accepted"), topic(thing, "start-next/rejected"),
          topic(thing, "+/update/accepted"), topic(thing, "+/update/rejected"),   topic(thing, "+/get/accepted"),
          topic(thing, "+/get/rejected")};
}

bool is_terminal(std::string_view status) {
  return status == "SUCCEEDED" || status == "FAILED" || status == "REJECTED" || status == "TIMED_OUT" ||
         status == "REMOVED" || status == "CANCELED";
}

json::object start_next_request(std::optional<int> step_timeout_minutes) {
  json::object o;
  if (step_timeout_minutes) o["stepTimeoutInMinutes"] = *step_timeout_minutes;
  return o;
}

json::object update_request(std::string_view status, const details_map& details,
                            std::optional<std::int64_t> expected_version, std::optional<int> step_timeout_minutes) {
  json::object d;
  for (const auto& [k, v] : details) d[k] = v;
  json::object o{{"status", status}, {"statusDetails", std::move(d)}, {"includeJobExecutionState", true}};
  if (expected_version) o["expectedVersion"] = *expected_version;
  if (step_timeout_minutes) o["stepTimeoutInMinutes"] = *step_timeout_minutes;
  return o;
}

json::object describe_request(std::int64_t execution_number) {
  json::object o{{"includeJobDocument", true}};
  if (execution_number > 0) o["executionNumber"] = execution_number;
  return o;
}

core::result<job_record> job_from_execution(const json::object& execution) {
  job_record r;
  r.job_id = string_of(execution.if_contains("jobId"));
  auto version = integer_of(execution.if_contains("versionNumber"));
  auto* document = execution.if_contains("jobDocument");
  if (r.job_id.empty() || !version)
    return core::make_error(errc::invalid_document, "the execution has no jobId or versionNumber");
  if (!document || !document->is_object()) {
    // AWS sends the document as an object; accept a JSON string holding one too.
    if (document && document->is_string()) {
      boost::system::error_code ec;
      auto parsed = json::parse(document->as_string(), ec);
      if (!ec && parsed.is_object()) r.document = std::move(parsed.as_object());
    }
    if (r.document.empty() && !(document && document->is_object()))
      return core::make_error(errc::invalid_document, "the execution of " + r.job_id + " has no jobDocument object");
  } else {
    r.document = document->as_object();
  }
  r.version_number = *version;
  r.execution_number = integer_of(execution.if_contains("executionNumber")).value_or(0);
  r.step = job_step::received;
  return r;
}

verdict judge_update_rejection(const json::object& rejection) {
  verdict v;
  auto code = string_of(rejection.if_contains("code"));
  v.reason = code + ": " + string_of(rejection.if_contains("message"));
  const json::object* state = nullptr;
  if (auto* s = rejection.if_contains("executionState"); s && s->is_object()) state = &s->as_object();
  if (code == "VersionMismatch" || code == "InvalidStateTransition") {
    if (state) {
      auto status = string_of(state->if_contains("status"));
      if (is_terminal(status)) {
        v.action = verdict::kind::gone;
        return v;
      }
      if (auto version = integer_of(state->if_contains("versionNumber")); version && code == "VersionMismatch") {
        v.action = verdict::kind::adopt_version;
        v.version = *version;
        return v;
      }
    }
    v.action = code == "VersionMismatch" ? verdict::kind::describe : verdict::kind::gone;
    return v;
  }
  if (code == "TerminalStateReached" || code == "ResourceNotFound")
    v.action = verdict::kind::gone;
  else if (code == "RequestThrottled" || code == "InternalError")
    v.action = verdict::kind::retry_later;
  else
    v.action = verdict::kind::invalid;
  return v;
}

std::optional<std::int64_t> accepted_version(const json::object& accepted) {
  auto* state = accepted.if_contains("executionState");
  if (!state || !state->is_object()) return std::nullopt;
  return integer_of(state->as_object().if_contains("versionNumber"));
}

}  // namespace airfleet::agent::jobs_protocol
