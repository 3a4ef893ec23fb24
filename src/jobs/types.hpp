// What a job, a job execution and a job template are, as values the engine
// takes and returns. The AWS surfaces translate these to and from the wire
// (iot, iot-jobs-data, the MQTT jobs API); the names follow the service
// models so the mapping stays obvious.
#pragma once

#include "core/time.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace airfleet::jobs {

enum class job_status { in_progress, scheduled, canceled, deletion_in_progress, completed };
enum class execution_status { queued, in_progress, succeeded, failed, timed_out, rejected, removed, canceled };
enum class target_selection { snapshot, continuous };
enum class failure_type { failed, rejected, timed_out, all };
enum class end_behavior { stop_rollout, cancel, force_cancel };

std::string_view to_string(job_status s);
std::string_view to_string(execution_status s);
std::string_view to_string(target_selection s);
std::string_view to_string(failure_type t);
std::string_view to_string(end_behavior b);
std::optional<job_status> parse_job_status(std::string_view s);
std::optional<execution_status> parse_execution_status(std::string_view s);
std::optional<target_selection> parse_target_selection(std::string_view s);
std::optional<failure_type> parse_failure_type(std::string_view s);
std::optional<end_behavior> parse_end_behavior(std::string_view s);

// QUEUED and IN_PROGRESS are pending; every other execution status is terminal.
bool is_terminal(execution_status s);

using details_map = std::map<std::string, std::string>;

struct rate_increase_criteria {
  std::optional<std::int64_t> number_of_notified_things;
  std::optional<std::int64_t> number_of_succeeded_things;
};
struct exponential_rate {
  std::int64_t base_rate_per_minute = 0;
  double increment_factor = 0;
  rate_increase_criteria criteria;
};
struct rollout_config {
  std::optional<std::int64_t> maximum_per_minute;
  std::optional<exponential_rate> exponential;
};
struct abort_criterion {
  failure_type type = failure_type::failed;
  std::string action = "CANCEL";  // the only action AWS defines
  double threshold_percentage = 0;
  std::int64_t min_executed_things = 1;
};
struct retry_criterion {
  failure_type type = failure_type::failed;  // FAILED, TIMED_OUT or ALL
  std::int64_t retries = 0;
};
struct presigned_url_config {
  std::optional<std::string> role_arn;  // kept and returned, never evaluated
  std::optional<std::int64_t> expires_in_sec;
};
struct maintenance_window_spec {
  std::string start;  // cron(...) as given
  std::int64_t duration_minutes = 0;
};
struct scheduling_config {
  std::optional<std::string> start_time;  // "YYYY-MM-DDTHH:MM" (UTC) as given
  std::optional<std::string> end_time;
  std::optional<end_behavior> behavior;
  std::vector<maintenance_window_spec> maintenance_windows;
};

// What a job and a job template share.
struct job_config {
  std::optional<std::string> description;
  std::optional<std::string> document;
  std::optional<std::string> document_source;
  std::optional<presigned_url_config> presigned_url;
  std::optional<rollout_config> rollout;
  std::optional<std::vector<abort_criterion>> abort;
  std::optional<std::int64_t> in_progress_timeout_minutes;
  std::optional<std::vector<retry_criterion>> retry;
};

struct process_details {
  std::int64_t canceled = 0;
  std::int64_t succeeded = 0;
  std::int64_t failed = 0;
  std::int64_t rejected = 0;
  std::int64_t queued = 0;
  std::int64_t in_progress = 0;
  std::int64_t removed = 0;
  std::int64_t timed_out = 0;
  std::vector<std::string> processing_targets;  // target ARNs still rolling out
};

struct job {
  std::string id;
  std::string arn;
  job_status status = job_status::in_progress;
  target_selection selection = target_selection::snapshot;
  bool force_canceled = false;
  std::optional<std::string> reason_code;
  std::optional<std::string> comment;
  std::vector<std::string> targets;
  job_config config;
  std::optional<std::string> template_arn;
  std::optional<scheduling_config> scheduling;
  core::time_point created_at;
  core::time_point last_updated_at;
  std::optional<core::time_point> completed_at;
  process_details details;
};

struct execution {
  std::string job_id;
  std::string thing_name;
  std::string thing_arn;
  execution_status status = execution_status::queued;
  bool force_canceled = false;
  details_map status_details;
  core::time_point queued_at;
  std::optional<core::time_point> started_at;
  core::time_point last_updated_at;
  std::int64_t execution_number = 1;
  std::int64_t version_number = 1;
  std::int64_t retry_attempt = 0;
  // Seconds until the nearer of the in-progress and step deadlines (IN_PROGRESS only).
  std::optional<std::int64_t> approximate_seconds_before_timed_out;
};

struct job_template {
  std::string id;
  std::string arn;
  job_config config;  // description is required for templates
  core::time_point created_at;
};

// ---- requests --------------------------------------------------------------

struct create_job_request {
  std::string job_id;
  std::vector<std::string> targets;  // thing and thing-group ARNs
  std::optional<target_selection> selection;
  job_config config;
  std::optional<std::string> template_arn;  // fills in what `config` leaves out
  std::optional<scheduling_config> scheduling;
};

struct update_job_request {
  std::string job_id;
  std::optional<std::string> description;
  std::optional<presigned_url_config> presigned_url;
  std::optional<rollout_config> rollout;
  std::optional<std::vector<abort_criterion>> abort;
  std::optional<std::int64_t> in_progress_timeout_minutes;
  std::optional<std::vector<retry_criterion>> retry;
};

struct cancel_job_request {
  std::string job_id;
  std::optional<std::string> reason_code;
  std::optional<std::string> comment;
  bool force = false;
};

struct list_jobs_request {
  std::optional<job_status> status;
  std::optional<target_selection> selection;
  std::optional<std::string> thing_group_name;
  std::optional<int> max_results;
  std::optional<std::string> next_token;
};

struct list_executions_request {
  std::string key;  // the job id (for a job) or the thing name (for a thing)
  std::optional<execution_status> status;
  std::optional<std::string> job_id;  // for a thing: only this job's execution
  std::optional<int> max_results;
  std::optional<std::string> next_token;
};

struct cancel_execution_request {
  std::string job_id;
  std::string thing_name;
  bool force = false;
  std::optional<std::int64_t> expected_version;
  std::optional<details_map> status_details;
};

struct start_next_request {
  std::string thing_name;
  std::optional<details_map> status_details;
  std::optional<std::int64_t> step_timeout_minutes;
};

struct update_execution_request {
  std::string job_id;
  std::string thing_name;
  execution_status status = execution_status::in_progress;
  std::optional<details_map> status_details;
  std::optional<std::int64_t> step_timeout_minutes;
  std::optional<std::int64_t> expected_version;
  std::optional<std::int64_t> execution_number;
  bool include_document = false;
};

template <class T>
struct page {
  std::vector<T> items;
  std::optional<std::string> next_token;
};

struct pending_executions {
  std::vector<execution> in_progress;  // by started time
  std::vector<execution> queued;       // by queued time

  // What a device's `$next` names: the oldest IN_PROGRESS execution, else
  // the oldest QUEUED one; null when nothing is pending.
  const execution* next() const {
    if (!in_progress.empty()) return &in_progress.front();
    return queued.empty() ? nullptr : &queued.front();
  }
};

// An execution with the document the device should act on (placeholders
// already replaced with fresh presigned URLs).
struct execution_with_document {
  execution state;
  std::optional<std::string> document;
};

// ---- events ------------------------------------------------------------------

// Emitted after the change they describe is durable, in commit order.
struct execution_event {
  execution state;  // after the change
  std::optional<execution_status> previous;  // nullopt: the execution was just created
  bool deleted = false;                      // DeleteJobExecution / DeleteJob removed it
};
struct job_event {
  enum class kind { completed, canceled, deleted, cancellation_in_progress, deletion_in_progress };
  kind what = kind::completed;
  job state;  // details counts as of the event
};
using event = std::variant<execution_event, job_event>;

}  // namespace airfleet::jobs
