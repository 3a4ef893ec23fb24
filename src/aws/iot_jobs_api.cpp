#include "aws/iot_jobs_api.hpp"

#include "aws/input.hpp"
#include "aws/operation.hpp"
#include "aws/paging.hpp"

#include <charconv>
#include <cmath>
#include <initializer_list>

namespace airfleet::aws {

namespace json = boost::json;
using verb = boost::beast::http::verb;

namespace {

constexpr std::string_view k_job_statuses = "IN_PROGRESS, CANCELED, COMPLETED, DELETION_IN_PROGRESS, SCHEDULED";
constexpr std::string_view k_execution_statuses =
    "QUEUED, IN_PROGRESS, SUCCEEDED, FAILED, TIMED_OUT, REJECTED, REMOVED, CANCELED";
constexpr std::string_view k_target_selections = "CONTINUOUS, SNAPSHOT";
constexpr std::string_view k_failure_types = "FAILED, REJECTED, TIMED_OUT, ALL";
constexpr std::string_view k_end_behaviors = "STOP_ROLLOUT, CANCEL, FORCE_CANCEL";

// ---- reading ---------------------------------------------------------------

// The members of one JSON object of a request body, each named in errors by
// its path from the body root ("abortConfig.criteriaList[0].action"). Only
// types and the model's required members are checked here; values, ranges
// and patterns are the engine's to judge. Null counts as absent.
class members {
 public:
  members(const json::object& object, std::string path) : object_(&object), path_(std::move(path)) {}

  std::string where(std::string_view name) const {
    return path_.empty() ? std::string(name) : path_ + "." + std::string(name);
  }
  bool has(std::string_view name) const { return value(name) != nullptr; }

  core::result<std::optional<std::string>> string(std::string_view name) const {
    return input::string_in(*object_, std::string(name), where(name));
  }

  // A whole number; boto3 sends what the caller gave, so 60.0 counts too.
  core::result<std::optional<std::int64_t>> integer(std::string_view name) const {
    const auto* v = value(name);
    if (!v) return std::optional<std::int64_t>{};
    if (v->is_int64()) return std::optional<std::int64_t>{v->as_int64()};
    if (v->is_uint64() && v->as_uint64() <= static_cast<std::uint64_t>(INT64_MAX))
      return std::optional<std::int64_t>{static_cast<std::int64_t>(v->as_uint64())};
    if (v->is_double()) {
      double d = v->as_double();
      if (std::isfinite(d) && std::trunc(d) == d && std::fabs(d) < 9.0e18)
        return std::optional<std::int64_t>{static_cast<std::int64_t>(d)};
    }
    return wrong_type(name, "an integer", *v);
  }

  // Any number: the CLI sends doubles as 2.0, boto3 as the caller gave them (2).
  core::result<std::optional<double>> number(std::string_view name) const {
    const auto* v = value(name);
    if (!v) return std::optional<double>{};
    switch (v->kind()) {
      case json::kind::int64: return std::optional<double>{static_cast<double>(v->as_int64())};
      case json::kind::uint64: return std::optional<double>{static_cast<double>(v->as_uint64())};
      case json::kind::double_: return std::optional<double>{v->as_double()};
      default: return wrong_type(name, "a number", *v);
    }
  }

  core::result<std::optional<std::vector<std::string>>> strings(std::string_view name) const {
    const auto* v = value(name);
    if (!v) return std::optional<std::vector<std::string>>{};
    if (!v->is_array()) return wrong_type(name, "a list of strings", *v);
    std::vector<std::string> out;
    const auto& list = v->as_array();
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (!list[i].is_string())
        return aws::wrong_type(where(name) + "[" + std::to_string(i) + "]", "a string", list[i]);
      out.emplace_back(list[i].as_string());
    }
    return std::optional<std::vector<std::string>>{std::move(out)};
  }

  core::result<std::optional<jobs::details_map>> string_map(std::string_view name) const {
    return input::string_map_in(*object_, std::string(name), where(name));
  }

  core::result<std::optional<members>> object(std::string_view name) const {
    const auto* v = value(name);
    if (!v) return std::optional<members>{};
    if (!v->is_object()) return wrong_type(name, "an object", *v);
    return std::optional<members>{members(v->as_object(), where(name))};
  }

  // A list of objects, each named by its index ("criteriaList[1]").
  core::result<std::optional<std::vector<members>>> objects(std::string_view name) const {
    const auto* v = value(name);
    if (!v) return std::optional<std::vector<members>>{};
    if (!v->is_array()) return wrong_type(name, "a list of objects", *v);
    std::vector<members> out;
    const auto& list = v->as_array();
    for (std::size_t i = 0; i < list.size(); ++i) {
      auto item_path = where(name) + "[" + std::to_string(i) + "]";
      if (!list[i].is_object())
        return aws::wrong_type(item_path, "an object", list[i]);
      out.emplace_back(list[i].as_object(), std::move(item_path));
    }
    return std::optional<std::vector<members>>{std::move(out)};
  }

  // A string from a closed set, parsed into the engine's enum.
  template <class E>
  core::result<std::optional<E>> choice(std::string_view name, std::optional<E> (*parse)(std::string_view),
                                        std::string_view allowed) const {
    TRY(text, string(name));
    if (!text) return std::optional<E>{};
    auto parsed = parse(*text);
    if (!parsed) return invalid_input("Member '" + where(name) + "' must be one of " + std::string(allowed));
    return parsed;
  }

  // Turns an optional member the model marks required into a plain value.
  template <class T>
  core::result<T> required(core::result<std::optional<T>> read, std::string_view name) const {
    if (!read) return read.error();
    if (!*read) return invalid_input("Member '" + where(name) + "' is required");
    return std::move(**read);
  }

 private:
  const json::value* value(std::string_view name) const {
    const auto* v = object_->if_contains(name);
    return v && !v->is_null() ? v : nullptr;
  }
  core::error wrong_type(std::string_view name, const std::string& want, const json::value& got) const {
    return aws::wrong_type(where(name), want, got);
  }

  const json::object* object_;  // lives in the request's input for the whole call
  std::string path_;
};

template <class E>
core::result<std::optional<E>> query_choice(const input& in, const std::string& name,
                                            std::optional<E> (*parse)(std::string_view), std::string_view allowed) {
  auto text = in.query(name);
  if (!text) return std::optional<E>{};
  auto parsed = parse(*text);
  if (!parsed) return invalid_input("Query parameter '" + name + "' must be one of " + std::string(allowed));
  return parsed;
}

// Features airfleet does not implement (job namespaces, document
// parameters for managed templates, software package versions) are refused
// by name rather than ignored, so a caller never believes they took effect.
core::result<void> refuse_unsupported(const input& in, std::initializer_list<std::string_view> body_members) {
  members body(in.body(), "");
  for (auto name : body_members)
    if (body.has(name)) return invalid_input("Member '" + std::string(name) + "' is not supported");
  if (in.query("namespaceId")) return invalid_input("Query parameter 'namespaceId' is not supported");
  return {};
}

// Tags on CreateJob and CreateJobTemplate are type-checked and then dropped:
// airfleet keeps no tags on jobs or templates, and refusing them would break
// scripts that tag everything they create.
core::result<void> check_tags(const members& body) {
  TRY(tags, body.objects("tags"));
  if (!tags) return {};
  for (const auto& tag : *tags) {
    if (auto key = tag.required(tag.string("Key"), "Key"); !key) return key.error();
    if (auto value = tag.string("Value"); !value) return value.error();
  }
  return {};
}

core::result<std::int64_t> execution_number_in_path(const input& in) {
  const auto& text = in.path("executionNumber");
  std::int64_t number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc{} || end != text.data() + text.size())
    return invalid_input("Path parameter 'executionNumber' must be an integer");
  return number;
}

core::result<std::optional<jobs::presigned_url_config>> presigned_url_in(const members& body) {
  TRY(config, body.object("presignedUrlConfig"));
  if (!config) return std::optional<jobs::presigned_url_config>{};
  TRY(role, config->string("roleArn"));
  TRY(expires, config->integer("expiresInSec"));
  return std::optional<jobs::presigned_url_config>{jobs::presigned_url_config{role, expires}};
}

core::result<std::optional<jobs::rollout_config>> rollout_in(const members& body) {
  TRY(config, body.object("jobExecutionsRolloutConfig"));
  if (!config) return std::optional<jobs::rollout_config>{};
  jobs::rollout_config out;
  TRY(maximum, config->integer("maximumPerMinute"));
  out.maximum_per_minute = maximum;
  TRY(rate, config->object("exponentialRate"));
  if (rate) {
    TRY(base, rate->required(rate->integer("baseRatePerMinute"), "baseRatePerMinute"));
    TRY(factor, rate->required(rate->number("incrementFactor"), "incrementFactor"));
    TRY(criteria, rate->required(rate->object("rateIncreaseCriteria"), "rateIncreaseCriteria"));
    TRY(notified, criteria.integer("numberOfNotifiedThings"));
    TRY(succeeded, criteria.integer("numberOfSucceededThings"));
    out.exponential = jobs::exponential_rate{base, factor, jobs::rate_increase_criteria{notified, succeeded}};
  }
  return std::optional<jobs::rollout_config>{std::move(out)};
}

core::result<std::optional<std::vector<jobs::abort_criterion>>> abort_in(const members& body) {
  using out_type = std::optional<std::vector<jobs::abort_criterion>>;
  TRY(config, body.object("abortConfig"));
  if (!config) return out_type{};
  TRY(list, config->required(config->objects("criteriaList"), "criteriaList"));
  std::vector<jobs::abort_criterion> out;
  for (const auto& item : list) {
    TRY(type, item.required(item.choice("failureType", jobs::parse_failure_type, k_failure_types), "failureType"));
    TRY(action, item.required(item.string("action"), "action"));
    TRY(threshold, item.required(item.number("thresholdPercentage"), "thresholdPercentage"));
    TRY(minimum, item.required(item.integer("minNumberOfExecutedThings"), "minNumberOfExecutedThings"));
    out.push_back(jobs::abort_criterion{type, std::move(action), threshold, minimum});
  }
  return out_type{std::move(out)};
}

core::result<std::optional<std::vector<jobs::retry_criterion>>> retry_in(const members& body) {
  using out_type = std::optional<std::vector<jobs::retry_criterion>>;
  TRY(config, body.object("jobExecutionsRetryConfig"));
  if (!config) return out_type{};
  TRY(list, config->required(config->objects("criteriaList"), "criteriaList"));
  std::vector<jobs::retry_criterion> out;
  for (const auto& item : list) {
    // The model allows FAILED, TIMED_OUT and ALL here; the engine refuses REJECTED.
    TRY(type, item.required(item.choice("failureType", jobs::parse_failure_type, k_failure_types), "failureType"));
    TRY(retries, item.required(item.integer("numberOfRetries"), "numberOfRetries"));
    out.push_back(jobs::retry_criterion{type, retries});
  }
  return out_type{std::move(out)};
}

core::result<std::optional<std::int64_t>> timeout_in(const members& body) {
  TRY(config, body.object("timeoutConfig"));
  if (!config) return std::optional<std::int64_t>{};
  return config->integer("inProgressTimeoutInMinutes");
}

// `maintenanceWindows` is in newer iot models than the CLI's; it is read
// whenever a client sends it.
core::result<std::optional<jobs::scheduling_config>> scheduling_in(const members& body) {
  TRY(config, body.object("schedulingConfig"));
  if (!config) return std::optional<jobs::scheduling_config>{};
  jobs::scheduling_config out;
  TRY(start, config->string("startTime"));
  out.start_time = std::move(start);
  TRY(end, config->string("endTime"));
  out.end_time = std::move(end);
  TRY(behavior, config->choice("endBehavior", jobs::parse_end_behavior, k_end_behaviors));
  out.behavior = behavior;
  TRY(windows, config->objects("maintenanceWindows"));
  if (windows) {
    for (const auto& window : *windows) {
      TRY(opens, window.required(window.string("startTime"), "startTime"));
      TRY(minutes, window.required(window.integer("durationInMinutes"), "durationInMinutes"));
      out.maintenance_windows.push_back(jobs::maintenance_window_spec{std::move(opens), minutes});
    }
  }
  return std::optional<jobs::scheduling_config>{std::move(out)};
}

// What CreateJob and CreateJobTemplate share.
core::result<jobs::job_config> config_in(const members& body) {
  jobs::job_config config;
  TRY(description, body.string("description"));
  config.description = std::move(description);
  TRY(document, body.string("document"));
  config.document = std::move(document);
  TRY(source, body.string("documentSource"));
  config.document_source = std::move(source);
  TRY(presigned, presigned_url_in(body));
  config.presigned_url = std::move(presigned);
  TRY(rollout, rollout_in(body));
  config.rollout = std::move(rollout);
  TRY(abort_criteria, abort_in(body));
  config.abort = std::move(abort_criteria);
  TRY(timeout, timeout_in(body));
  config.in_progress_timeout_minutes = timeout;
  TRY(retry, retry_in(body));
  config.retry = std::move(retry);
  return config;
}

// ---- writing ---------------------------------------------------------------

double seconds(core::time_point t) { return core::to_epoch_seconds(t); }

json::object presigned_url_json(const jobs::presigned_url_config& p) {
  json::object o;
  if (p.role_arn) o["roleArn"] = *p.role_arn;
  if (p.expires_in_sec) o["expiresInSec"] = *p.expires_in_sec;
  return o;
}

json::object rollout_json(const jobs::rollout_config& r) {
  json::object o;
  if (r.maximum_per_minute) o["maximumPerMinute"] = *r.maximum_per_minute;
  if (r.exponential) {
    const auto& e = *r.exponential;
    json::object criteria;
    if (e.criteria.number_of_notified_things)
      criteria["numberOfNotifiedThings"] = *e.criteria.number_of_notified_things;
    if (e.criteria.number_of_succeeded_things)
      criteria["numberOfSucceededThings"] = *e.criteria.number_of_succeeded_things;
    o["exponentialRate"] = json::object{{"baseRatePerMinute", e.base_rate_per_minute},
                                        {"incrementFactor", e.increment_factor},
                                        {"rateIncreaseCriteria", std::move(criteria)}};
  }
  return o;
}

json::object abort_json(const std::vector<jobs::abort_criterion>& criteria) {
  json::array list;
  for (const auto& c : criteria)
    list.emplace_back(json::object{{"failureType", jobs::to_string(c.type)}, {"action", c.action},
                                   {"thresholdPercentage", c.threshold_percentage},
                                   {"minNumberOfExecutedThings", c.min_executed_things}});
  return json::object{{"criteriaList", std::move(list)}};
}

json::object retry_json(const std::vector<jobs::retry_criterion>& criteria) {
  json::array list;
  for (const auto& c : criteria)
    list.emplace_back(json::object{{"failureType", jobs::to_string(c.type)}, {"numberOfRetries", c.retries}});
  return json::object{{"criteriaList", std::move(list)}};
}

json::object scheduling_json(const jobs::scheduling_config& s) {
  json::object o;
  if (s.start_time) o["startTime"] = *s.start_time;
  if (s.end_time) o["endTime"] = *s.end_time;
  if (s.behavior) o["endBehavior"] = jobs::to_string(*s.behavior);
  if (!s.maintenance_windows.empty()) {
    json::array windows;
    for (const auto& w : s.maintenance_windows)
      windows.emplace_back(json::object{{"startTime", w.start}, {"durationInMinutes", w.duration_minutes}});
    o["maintenanceWindows"] = std::move(windows);
  }
  return o;
}

// The config objects a job and a template share, each only when set.
void add_config(json::object& o, const jobs::job_config& c) {
  if (c.presigned_url) o["presignedUrlConfig"] = presigned_url_json(*c.presigned_url);
  if (c.rollout) o["jobExecutionsRolloutConfig"] = rollout_json(*c.rollout);
  if (c.abort) o["abortConfig"] = abort_json(*c.abort);
  if (c.in_progress_timeout_minutes)
    o["timeoutConfig"] = json::object{{"inProgressTimeoutInMinutes", *c.in_progress_timeout_minutes}};
  if (c.retry) o["jobExecutionsRetryConfig"] = retry_json(*c.retry);
}

json::object process_details_json(const jobs::process_details& d) {
  json::array processing;
  for (const auto& t : d.processing_targets) processing.emplace_back(t);
  json::object out{{"numberOfCanceledThings", d.canceled},
                      {"numberOfSucceededThings", d.succeeded},
                      {"numberOfFailedThings", d.failed},
                      {"numberOfRejectedThings", d.rejected},
                      {"numberOfQueuedThings", d.queued},
                      {"numberOfInProgressThings", d.in_progress},
                      {"numberOfRemovedThings", d.removed},
                      {"numberOfTimedOutThings", d.timed_out}};
  if (!processing.empty()) out["processingTargets"] = std::move(processing);  // AWS omits it once rolled out
  return out;
}

json::object job_json(const jobs::job& j) {
  json::object o{{"jobArn", j.arn},
                 {"jobId", j.id},
                 {"targetSelection", jobs::to_string(j.selection)},
                 {"status", jobs::to_string(j.status)}};
  // AWS shows forceCanceled once a job has been canceled.
  if (j.status == jobs::job_status::canceled || j.force_canceled) o["forceCanceled"] = j.force_canceled;
  if (j.reason_code) o["reasonCode"] = *j.reason_code;
  if (j.comment) o["comment"] = *j.comment;
  json::array targets;
  for (const auto& t : j.targets) targets.emplace_back(t);
  o["targets"] = std::move(targets);
  if (j.config.description) o["description"] = *j.config.description;
  add_config(o, j.config);
  o["createdAt"] = seconds(j.created_at);
  o["lastUpdatedAt"] = seconds(j.last_updated_at);
  if (j.completed_at) o["completedAt"] = seconds(*j.completed_at);
  o["jobProcessDetails"] = process_details_json(j.details);
  if (j.template_arn) o["jobTemplateArn"] = *j.template_arn;
  if (j.scheduling) o["schedulingConfig"] = scheduling_json(*j.scheduling);
  return o;
}

json::object job_summary_json(const jobs::job& j) {
  json::object o{{"jobArn", j.arn},
                 {"jobId", j.id},
                 {"targetSelection", jobs::to_string(j.selection)},
                 {"status", jobs::to_string(j.status)},
                 {"createdAt", seconds(j.created_at)},
                 {"lastUpdatedAt", seconds(j.last_updated_at)}};
  if (j.completed_at) o["completedAt"] = seconds(*j.completed_at);
  return o;
}

// CreateJob, CancelJob and AssociateTargetsWithJob answer with this.
json::object job_reference(const jobs::job& j) {
  json::object o{{"jobArn", j.arn}, {"jobId", j.id}};
  if (j.config.description) o["description"] = *j.config.description;
  return o;
}

json::object execution_summary_json(const jobs::execution& e) {
  json::object o{{"status", jobs::to_string(e.status)}, {"queuedAt", seconds(e.queued_at)}};
  if (e.started_at) o["startedAt"] = seconds(*e.started_at);
  o["lastUpdatedAt"] = seconds(e.last_updated_at);
  o["executionNumber"] = e.execution_number;
  o["retryAttempt"] = e.retry_attempt;
  return o;
}

// The iot `JobExecution` shape: thingArn (no thingName), and the details
// wrapped as {"detailsMap": {...}}, unlike iot-jobs-data's flat map.
json::object execution_json(const jobs::execution& e) {
  json::object details;
  for (const auto& [k, v] : e.status_details) details[k] = v;
  json::object o{{"jobId", e.job_id},
                 {"status", jobs::to_string(e.status)},
                 {"statusDetails", json::object{{"detailsMap", std::move(details)}}},
                 {"thingArn", e.thing_arn},
                 {"queuedAt", seconds(e.queued_at)}};
  if (e.status == jobs::execution_status::canceled || e.force_canceled) o["forceCanceled"] = e.force_canceled;
  if (e.started_at) o["startedAt"] = seconds(*e.started_at);
  o["lastUpdatedAt"] = seconds(e.last_updated_at);
  o["executionNumber"] = e.execution_number;
  o["versionNumber"] = e.version_number;
  if (e.approximate_seconds_before_timed_out)
    o["approximateSecondsBeforeTimedOut"] = *e.approximate_seconds_before_timed_out;
  return o;
}

json::object template_json(const jobs::job_template& t) {
  json::object o{{"jobTemplateArn", t.arn}, {"jobTemplateId", t.id}};
  if (t.config.description) o["description"] = *t.config.description;
  if (t.config.document_source) o["documentSource"] = *t.config.document_source;
  if (t.config.document) o["document"] = *t.config.document;
  o["createdAt"] = seconds(t.created_at);
  add_config(o, t.config);
  return o;
}

}  // namespace

void add_jobs_operations(iot_api& api, jobs::engine& engine) {
  auto* self = &engine;

  // Jobs
  api.add(verb::put, "/jobs/{jobId}", "CreateJob", true, [self](const input& in) -> core::result<json::object> {
    if (auto r = refuse_unsupported(in, {"namespaceId", "documentParameters", "destinationPackageVersions"}); !r)
      return r.error();
    members body(in.body(), "");
    jobs::create_job_request request;
    request.job_id = in.path("jobId");
    TRY(targets, body.required(body.strings("targets"), "targets"));
    request.targets = std::move(targets);
    TRY(selection, body.choice("targetSelection", jobs::parse_target_selection, k_target_selections));
    request.selection = selection;
    TRY(config, config_in(body));
    request.config = std::move(config);
    TRY(template_arn, body.string("jobTemplateArn"));
    request.template_arn = std::move(template_arn);
    TRY(scheduling, scheduling_in(body));
    request.scheduling = std::move(scheduling);
    if (auto r = check_tags(body); !r) return r.error();
    TRY(job, self->create_job(request));
    return job_reference(job);
  });
  api.add(verb::get, "/jobs/{jobId}", "DescribeJob", false, [self](const input& in) -> core::result<json::object> {
    TRY(job, self->describe_job(in.path("jobId")));
    json::object out{{"job", job_json(job)}};
    if (job.config.document_source) out["documentSource"] = *job.config.document_source;
    return out;
  });
  api.add(verb::get, "/jobs/{jobId}/job-document", "GetJobDocument", false,
          [self](const input& in) -> core::result<json::object> {
            TRY(document, self->job_document(in.path("jobId")));
            return json::object{{"document", std::move(document)}};
          });
  api.add(verb::get, "/jobs", "ListJobs", false, [self](const input& in) -> core::result<json::object> {
    if (auto r = refuse_unsupported(in, {}); !r) return r.error();
    // Jobs know their target groups by name; the engine has no group ids.
    if (in.query("thingGroupId"))
      return invalid_input("Query parameter 'thingGroupId' is not supported; use thingGroupName");
    TRY(status, query_choice(in, "status", jobs::parse_job_status, k_job_statuses));
    TRY(selection, query_choice(in, "targetSelection", jobs::parse_target_selection, k_target_selections));
    TRY(page, token_page(in));
    TRY(result, self->list_jobs({status, selection, in.query("thingGroupName"), page.max_results, page.next_token}));
    return page_json("jobs", result, job_summary_json);
  });
  api.add(verb::patch, "/jobs/{jobId}", "UpdateJob", true, [self](const input& in) -> core::result<json::object> {
    if (auto r = refuse_unsupported(in, {}); !r) return r.error();
    // The model's UpdateJob members are CreateJob's configuration without the
    // document: read them the same way (a document member, not in the model, is not used).
    TRY(config, config_in(members(in.body(), "")));
    jobs::update_job_request request;
    request.job_id = in.path("jobId");
    request.description = std::move(config.description);
    request.presigned_url = std::move(config.presigned_url);
    request.rollout = std::move(config.rollout);
    request.abort = std::move(config.abort);
    request.in_progress_timeout_minutes = config.in_progress_timeout_minutes;
    request.retry = std::move(config.retry);
    if (auto r = self->update_job(request); !r) return r.error();
    return json::object{};
  });
  // `force` travels in the query string (?force=true); reasonCode and comment in the body.
  api.add(verb::put, "/jobs/{jobId}/cancel", "CancelJob", true, [self](const input& in) -> core::result<json::object> {
    members body(in.body(), "");
    TRY(reason, body.string("reasonCode"));
    TRY(comment, body.string("comment"));
    TRY(force, in.query_bool("force"));
    TRY(job, self->cancel_job({in.path("jobId"), std::move(reason), std::move(comment), force.value_or(false)}));
    return job_reference(job);
  });
  api.add(verb::delete_, "/jobs/{jobId}", "DeleteJob", true, [self](const input& in) -> core::result<json::object> {
    if (auto r = refuse_unsupported(in, {}); !r) return r.error();
    TRY(force, in.query_bool("force"));
    if (auto r = self->delete_job(in.path("jobId"), force.value_or(false)); !r) return r.error();
    return json::object{};
  });
  api.add(verb::post, "/jobs/{jobId}/targets", "AssociateTargetsWithJob", true,
          [self](const input& in) -> core::result<json::object> {
            if (auto r = refuse_unsupported(in, {}); !r) return r.error();
            members body(in.body(), "");
            TRY(targets, body.required(body.strings("targets"), "targets"));
            TRY(comment, body.string("comment"));
            TRY(job, self->associate_targets(in.path("jobId"), targets, comment));
            return job_reference(job);
          });

  // Executions, as an operator sees them
  api.add(verb::get, "/jobs/{jobId}/things", "ListJobExecutionsForJob", false,
          [self](const input& in) -> core::result<json::object> {
            TRY(status, query_choice(in, "status", jobs::parse_execution_status, k_execution_statuses));
            TRY(page, token_page(in));
            TRY(result,
                self->list_executions_for_job({in.path("jobId"), status, std::nullopt, page.max_results, page.next_token}));
            return page_json("executionSummaries", result, [](const jobs::execution& e) {
              return json::object{{"thingArn", e.thing_arn}, {"jobExecutionSummary", execution_summary_json(e)}};
            });
          });
  api.add(verb::get, "/things/{thingName}/jobs", "ListJobExecutionsForThing", false,
          [self](const input& in) -> core::result<json::object> {
            if (auto r = refuse_unsupported(in, {}); !r) return r.error();
            TRY(status, query_choice(in, "status", jobs::parse_execution_status, k_execution_statuses));
            TRY(page, token_page(in));
            TRY(result, self->list_executions_for_thing(
                            {in.path("thingName"), status, in.query("jobId"), page.max_results, page.next_token}));
            return page_json("executionSummaries", result, [](const jobs::execution& e) {
              return json::object{{"jobId", e.job_id}, {"jobExecutionSummary", execution_summary_json(e)}};
            });
          });
  api.add(verb::get, "/things/{thingName}/jobs/{jobId}", "DescribeJobExecution", false,
          [self](const input& in) -> core::result<json::object> {
            TRY(number, in.query_int("executionNumber"));
            TRY(execution, self->describe_execution(in.path("jobId"), in.path("thingName"), number));
            return json::object{{"execution", execution_json(execution)}};
          });
  api.add(verb::put, "/things/{thingName}/jobs/{jobId}/cancel", "CancelJobExecution", true,
          [self](const input& in) -> core::result<json::object> {
            members body(in.body(), "");
            jobs::cancel_execution_request request;
            request.job_id = in.path("jobId");
            request.thing_name = in.path("thingName");
            TRY(force, in.query_bool("force"));
            request.force = force.value_or(false);
            TRY(expected, body.integer("expectedVersion"));
            request.expected_version = expected;
            TRY(details, body.string_map("statusDetails"));
            request.status_details = std::move(details);
            if (auto r = self->cancel_execution(request); !r) return r.error();
            return json::object{};
          });
  api.add(verb::delete_, "/things/{thingName}/jobs/{jobId}/executionNumber/{executionNumber}", "DeleteJobExecution",
          true, [self](const input& in) -> core::result<json::object> {
            if (auto r = refuse_unsupported(in, {}); !r) return r.error();
            TRY(number, execution_number_in_path(in));
            TRY(force, in.query_bool("force"));
            if (auto r = self->delete_execution(in.path("jobId"), in.path("thingName"), number, force.value_or(false));
                !r)
              return r.error();
            return json::object{};
          });

  // Job templates
  api.add(verb::put, "/job-templates/{jobTemplateId}", "CreateJobTemplate", true,
          [self](const input& in) -> core::result<json::object> {
            if (auto r = refuse_unsupported(in, {"maintenanceWindows", "destinationPackageVersions"}); !r)
              return r.error();
            members body(in.body(), "");
            TRY(config, config_in(body));
            if (!config.description) return invalid_input("Member 'description' is required");
            TRY(job_arn, body.string("jobArn"));
            if (auto r = check_tags(body); !r) return r.error();
            const auto& id = in.path("jobTemplateId");
            auto made = self->create_template(id, config, job_arn);
            if (!made) return made.error();
            return json::object{{"jobTemplateArn", made->arn}, {"jobTemplateId", made->id}};
          });
  api.add(verb::get, "/job-templates/{jobTemplateId}", "DescribeJobTemplate", false,
          [self](const input& in) -> core::result<json::object> {
            TRY(found, self->describe_template(in.path("jobTemplateId")));
            return template_json(found);
          });
  api.add(verb::get, "/job-templates", "ListJobTemplates", false, [self](const input& in) -> core::result<json::object> {
    TRY(page, token_page(in));
    TRY(result, self->list_templates(page.max_results, page.next_token));
    return page_json("jobTemplates", result, [](const jobs::job_template& t) {
      json::object o{{"jobTemplateArn", t.arn}, {"jobTemplateId", t.id}};
      if (t.config.description) o["description"] = *t.config.description;
      o["createdAt"] = seconds(t.created_at);
      return o;
    });
  });
  api.add(verb::delete_, "/job-templates/{jobTemplateId}", "DeleteJobTemplate", true,
          [self](const input& in) -> core::result<json::object> {
            if (auto r = self->delete_template(in.path("jobTemplateId")); !r) return r.error();
            return json::object{};
          });
}

}  // namespace airfleet::aws
