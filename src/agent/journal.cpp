#include "agent/journal.hpp"

#include "agent/errors.hpp"

#include <boost/json.hpp>

#include <array>
#include <utility>

namespace airfleet::agent {

namespace json = boost::json;

namespace {

constexpr std::array<std::pair<job_step, std::string_view>, 6> step_names{{
    {job_step::received, "received"},
    {job_step::downloading, "downloading"},
    {job_step::verified, "verified"},
    {job_step::installed, "installed"},
    {job_step::unconfirmed, "installed-unconfirmed"},
    {job_step::reporting, "reporting"},
}};

core::error corrupt(std::string what) {
  return core::make_error(errc::corrupt_state, "the journal is corrupt: " + std::move(what));
}

json::object details_json(const details_map& details) {
  json::object o;
  for (const auto& [k, v] : details) o[k] = v;
  return o;
}

const json::string* string_member(const json::object& o, std::string_view name) {
  auto* v = o.if_contains(name);
  return v && v->is_string() ? &v->as_string() : nullptr;
}

std::optional<std::int64_t> integer_member(const json::object& o, std::string_view name) {
  auto* v = o.if_contains(name);
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
  return std::nullopt;
}

}  // namespace

std::string_view to_string(job_step s) {
  for (const auto& [step, name] : step_names)
    if (step == s) return name;
  return "unknown";
}

std::optional<job_step> parse_job_step(std::string_view text) {
  for (const auto& [step, name] : step_names)
    if (name == text) return step;
  return std::nullopt;
}

std::string to_json(const job_record& r) {
  json::object o{
      {"jobId", r.job_id},
      {"executionNumber", r.execution_number},
      {"versionNumber", r.version_number},
      {"document", r.document},
      {"step", to_string(r.step)},
      {"attempt", r.attempt},
      {"previousSlot", r.previous_slot},
      {"targetSlot", r.target_slot},
      {"restartedDownload", r.restarted_download},
      {"lastFailure", r.last_failure},
  };
  if (r.outcome)
    o["outcome"] =
        json::object{{"status", r.outcome->status}, {"statusDetails", details_json(r.outcome->status_details)}};
  return json::serialize(o) + "\n";
}

core::result<job_record> job_record_from_json(std::string_view text) {
  boost::system::error_code ec;
  auto value = json::parse(text, ec);
  if (ec) return corrupt("not JSON: " + ec.message());
  if (!value.is_object()) return corrupt("not a JSON object");
  const auto& o = value.as_object();
  job_record r;
  auto* job_id = string_member(o, "jobId");
  if (!job_id || job_id->empty()) return corrupt("no jobId");
  r.job_id = std::string(*job_id);
  auto number = integer_member(o, "executionNumber");
  auto version = integer_member(o, "versionNumber");
  if (!number || !version) return corrupt("no executionNumber or versionNumber");
  r.execution_number = *number;
  r.version_number = *version;
  auto* document = o.if_contains("document");
  if (!document || !document->is_object()) return corrupt("no document");
  r.document = document->as_object();
  auto* step = string_member(o, "step");
  auto parsed = step ? parse_job_step(*step) : std::nullopt;
  if (!parsed) return corrupt("unknown step");
  r.step = *parsed;
  r.attempt = static_cast<int>(integer_member(o, "attempt").value_or(0));
  if (auto* s = string_member(o, "previousSlot")) r.previous_slot = std::string(*s);
  if (auto* s = string_member(o, "targetSlot")) r.target_slot = std::string(*s);
  if (auto* b = o.if_contains("restartedDownload"); b && b->is_bool()) r.restarted_download = b->as_bool();
  if (auto* s = string_member(o, "lastFailure")) r.last_failure = std::string(*s);
  if (auto* out = o.if_contains("outcome"); out && out->is_object()) {
    job_outcome outcome;
    auto* status = string_member(out->as_object(), "status");
    if (!status) return corrupt("outcome without status");
    outcome.status = std::string(*status);
    if (auto* d = out->as_object().if_contains("statusDetails"); d && d->is_object())
      for (const auto& [k, v] : d->as_object())
        if (v.is_string()) outcome.status_details[std::string(k)] = std::string(v.as_string());
    r.outcome = std::move(outcome);
  }
  if (r.step == job_step::reporting && !r.outcome) return corrupt("step reporting without an outcome");
  if ((r.step == job_step::installed || r.step == job_step::unconfirmed) &&
      (r.previous_slot.empty() || r.target_slot.empty()))
    return corrupt("an installed step without its slots");
  return r;
}

}  // namespace airfleet::agent
