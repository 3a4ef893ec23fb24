#include "aws/jobs_data_api.hpp"

#include "aws/input.hpp"
#include "aws/operation.hpp"

#include <boost/json.hpp>

#include <chrono>
#include <limits>

namespace airfleet::aws {

namespace json = boost::json;
using verb = boost::beast::http::verb;

namespace jobs_wire {

namespace {

constexpr std::size_t max_details_key_chars = 128;
constexpr std::size_t max_details_value_chars = 1024;

bool details_key_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ':' || c == '_' ||
         c == '-';
}

// Characters, not bytes: Boost.JSON has already checked the UTF-8, so every
// byte that is not a continuation byte starts one character.
std::size_t utf8_chars(std::string_view text) {
  std::size_t n = 0;
  for (unsigned char c : text)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

// C0 controls, DEL and the C1 controls (U+0080..U+009F, encoded C2 80..C2 9F).
bool has_control_character(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7F) return true;
    if (c == 0xC2 && i + 1 < text.size()) {
      auto next = static_cast<unsigned char>(text[i + 1]);
      if (next >= 0x80 && next <= 0x9F) return true;
    }
  }
  return false;
}

json::object details_json(const jobs::details_map& details) {
  json::object o;
  for (const auto& [k, v] : details) o[k] = v;
  return o;
}

}  // namespace

core::result<std::optional<jobs::details_map>> status_details_in(const json::object& body) {
  TRY(details, input::string_map_in(body, "statusDetails", "statusDetails"));
  if (!details) return details;
  for (const auto& [key, value] : *details) {
    if (key.empty() || key.size() > max_details_key_chars)
      return invalid_input("statusDetails keys must be 1 to 128 characters long");
    for (unsigned char c : key)
      if (!details_key_char(c))
        return invalid_input("statusDetails key '" + key + "' must match [a-zA-Z0-9:_-]+");
    auto chars = utf8_chars(value);
    if (chars == 0 || chars > max_details_value_chars)
      return invalid_input("statusDetails value of '" + key + "' must be 1 to 1024 characters long");
    if (has_control_character(value))
      return invalid_input("statusDetails value of '" + key + "' must not contain control characters");
  }
  return details;
}

core::result<std::optional<std::int64_t>> integer_in(const json::object& body, std::string_view name) {
  auto* v = body.if_contains(name);
  if (!v || v->is_null()) return std::optional<std::int64_t>{};
  if (v->is_int64()) return std::optional<std::int64_t>{v->as_int64()};
  if (v->is_uint64() && v->as_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    return std::optional<std::int64_t>{static_cast<std::int64_t>(v->as_uint64())};
  if (v->is_double()) {
    double d = v->as_double();
    // 2^63 as a double: anything at or beyond it does not fit an int64.
    constexpr double limit = 9223372036854775808.0;
    if (d > -limit && d < limit && d == static_cast<double>(static_cast<std::int64_t>(d)))
      return std::optional<std::int64_t>{static_cast<std::int64_t>(d)};
  }
  return invalid_input("Member '" + std::string(name) + "' must be an integer");
}

core::result<jobs::start_next_request> start_next_in(const json::object& body, std::string thing) {
  TRY(details, status_details_in(body));
  TRY(step, integer_in(body, "stepTimeoutInMinutes"));
  jobs::start_next_request request;
  request.thing_name = std::move(thing);
  request.status_details = std::move(details);
  request.step_timeout_minutes = step;
  return request;
}

core::result<device_update> update_in(const json::object& body, std::string thing, std::string job_id) {
  TRY(status_text, input::string_in(body, "status", "status"));
  if (!status_text) return invalid_input("Member 'status' is required");
  auto status = jobs::parse_execution_status(*status_text);
  if (!status)
    return invalid_input("Member 'status' must be one of QUEUED, IN_PROGRESS, SUCCEEDED, FAILED, TIMED_OUT, "
                         "REJECTED, REMOVED, CANCELED");
  TRY(details, status_details_in(body));
  TRY(step, integer_in(body, "stepTimeoutInMinutes"));
  TRY(expected, integer_in(body, "expectedVersion"));
  TRY(number, integer_in(body, "executionNumber"));
  TRY(include_state, input::bool_in(body, "includeJobExecutionState", "includeJobExecutionState"));
  TRY(include_document, input::bool_in(body, "includeJobDocument", "includeJobDocument"));
  device_update out;
  out.request.job_id = std::move(job_id);
  out.request.thing_name = std::move(thing);
  out.request.status = *status;
  out.request.status_details = std::move(details);
  out.request.step_timeout_minutes = step;
  out.request.expected_version = expected;
  out.request.execution_number = number;
  out.request.include_document = include_document.value_or(false);
  out.include_state = include_state.value_or(false);
  return out;
}

std::int64_t epoch_seconds(core::time_point t) {
  return std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
}

json::object summary_json(const jobs::execution& e) {
  json::object o;
  o["jobId"] = e.job_id;
  o["queuedAt"] = epoch_seconds(e.queued_at);
  if (e.started_at) o["startedAt"] = epoch_seconds(*e.started_at);
  o["lastUpdatedAt"] = epoch_seconds(e.last_updated_at);
  o["versionNumber"] = e.version_number;
  o["executionNumber"] = e.execution_number;
  return o;
}

json::object pending_json(const jobs::pending_executions& p) {
  json::array in_progress;
  for (const auto& e : p.in_progress) in_progress.emplace_back(summary_json(e));
  json::array queued;
  for (const auto& e : p.queued) queued.emplace_back(summary_json(e));
  return json::object{{"inProgressJobs", std::move(in_progress)}, {"queuedJobs", std::move(queued)}};
}

json::object state_json(const jobs::execution& e) {
  return json::object{{"status", jobs::to_string(e.status)},
                      {"statusDetails", details_json(e.status_details)},
                      {"versionNumber", e.version_number}};
}

json::value document_json(const std::string& document, document_form form) {
  if (form == document_form::object) {
    boost::system::error_code ec;
    auto parsed = json::parse(document, ec);
    if (!ec && parsed.is_object()) return parsed;
  }
  return json::string(document);
}

json::object execution_json(const jobs::execution_with_document& e, document_form form) {
  const auto& s = e.state;
  json::object o;
  o["jobId"] = s.job_id;
  o["thingName"] = s.thing_name;
  o["status"] = jobs::to_string(s.status);
  o["statusDetails"] = details_json(s.status_details);
  o["queuedAt"] = epoch_seconds(s.queued_at);
  if (s.started_at) o["startedAt"] = epoch_seconds(*s.started_at);
  o["lastUpdatedAt"] = epoch_seconds(s.last_updated_at);
  if (s.approximate_seconds_before_timed_out)
    o["approximateSecondsBeforeTimedOut"] = *s.approximate_seconds_before_timed_out;
  o["versionNumber"] = s.version_number;
  o["executionNumber"] = s.execution_number;
  if (e.document) o["jobDocument"] = document_json(*e.document, form);
  return o;
}

}  // namespace jobs_wire

void add_jobs_data_operations(iot_api& api, jobs::engine& engine) {
  using namespace jobs_wire;
  auto& e = engine;

  api.add(verb::get, "/things/{thingName}/jobs", "GetPendingJobExecutions", false,
          [&e](const input& in) -> core::result<json::object> {
            TRY(pending, e.pending(in.path("thingName")));
            return pending_json(pending);
          });

  // The model's URI is the literal /things/{thingName}/jobs/$next. Matching
  // the last segment as a parameter instead accepts both the `$next` the
  // CLI sends and the `%24next` of clients that encode `$` (iot_api::find
  // compares literal segments undecoded).
  api.add(verb::put, "/things/{thingName}/jobs/{jobId}", "StartNextPendingJobExecution", true,
          [&e](const input& in) -> core::result<json::object> {
            if (in.path("jobId") != "$next")
              return core::make_error(errc::method_not_allowed,
                                      "PUT is only served at /things/{thingName}/jobs/$next");
            TRY(request, start_next_in(in.body(), in.path("thingName")));
            TRY(next, e.start_next(request));
            json::object out;
            if (next) out["execution"] = execution_json(*next, document_form::string);
            return out;
          });

  // jobId may be `$next` (sent as %24next by botocore, decoded by the matcher).
  api.add(verb::get, "/things/{thingName}/jobs/{jobId}", "DescribeJobExecution", false,
          [&e](const input& in) -> core::result<json::object> {
            TRY(include_document, in.query_bool("includeJobDocument"));
            TRY(execution_number, in.query_int("executionNumber"));
            TRY(found, e.describe_for_device(in.path("jobId"), in.path("thingName"), execution_number,
                                             include_document.value_or(false)));
            json::object out;
            if (found) out["execution"] = execution_json(*found, document_form::string);
            return out;
          });

  api.add(verb::post, "/things/{thingName}/jobs/{jobId}", "UpdateJobExecution", true,
          [&e](const input& in) -> core::result<json::object> {
            TRY(update, update_in(in.body(), in.path("thingName"), in.path("jobId")));
            TRY(updated, e.update_execution(update.request));
            json::object out;
            if (update.include_state) out["executionState"] = state_json(updated.state);
            if (update.request.include_document && updated.document) out["jobDocument"] = *updated.document;
            return out;
          });
}

}  // namespace airfleet::aws
