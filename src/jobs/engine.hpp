// The jobs engine: AWS IoT Jobs' jobs, executions, rollouts, abort rules,
// timeouts, retries, schedules and templates, with no HTTP, MQTT or wire JSON
// inside. The control plane (iot), the data plane over HTTP (iot-jobs-data)
// and the MQTT jobs API all call these functions, so a device updating its
// execution over MQTT and an operator doing it over HTTP take one path.
//
// ## The job
//
//   SCHEDULED ──start time──▶ IN_PROGRESS ──every target rolled out and every
//       │                        │          execution terminal (SNAPSHOT)──▶ COMPLETED
//       │                        │
//       └──CancelJob / end time──┴──CancelJob, abort rule, end time (CANCEL,
//                                   FORCE_CANCEL)──▶ CANCELED
//   any status ──DeleteJob──▶ DELETION_IN_PROGRESS ──rows gone──▶ (no job)
//
// * A job with `schedulingConfig.startTime` in the future is SCHEDULED and
//   rolls nothing out until then. At `endTime` the `endBehavior` applies:
//   STOP_ROLLOUT stops creating executions (the job completes once the ones
//   out there finish), CANCEL cancels (queued executions CANCELED), and
//   FORCE_CANCEL cancels in-progress executions too. Maintenance windows
//   (cron + duration) gate the rollout: outside every window no new
//   execution is created; executions already out there carry on.
// * A CONTINUOUS job never completes: things that join a target group later
//   get an execution, and a thing that leaves has its QUEUED execution
//   REMOVED. A SNAPSHOT job targets the things the groups held at creation.
// * CancelJob is refused for a COMPLETED or DELETION_IN_PROGRESS job; on a
//   CANCELED job it is allowed again only with force (to force-cancel what
//   is still in progress). Cancel: targets not yet rolled out are dropped,
//   QUEUED executions become CANCELED, IN_PROGRESS ones too only with
//   `force` (forceCanceled=true); otherwise devices may still finish them.
// * DeleteJob of an IN_PROGRESS or SCHEDULED job needs `force`. Deletion
//   marks the job DELETION_IN_PROGRESS and the scheduler removes its rows in
//   batches, then the job.
// * `jobProcessDetails` counts each (job, thing) once, by the status of its
//   latest execution, updated in the same transaction as the execution.
//
// ## The execution
//
//   (rollout) ──▶ QUEUED ──device──▶ IN_PROGRESS ──device──▶ SUCCEEDED | FAILED | REJECTED
//                   │  └──device──▶ SUCCEEDED | FAILED | REJECTED      │
//                   │                                                 ├──timer──▶ TIMED_OUT
//                   ├──CancelJob / CancelJobExecution──▶ CANCELED ◀───┤ (force only)
//                   └──left a CONTINUOUS job's group──▶ REMOVED
//
// * A device may set IN_PROGRESS (again, to report progress), SUCCEEDED,
//   FAILED or REJECTED; any other status it asks for is InvalidRequest.
//   From a terminal status nothing moves: InvalidStateTransition.
// * Every change increments `versionNumber` (1 when queued); a request's
//   `expectedVersion` that differs is a VersionConflict and changes nothing.
//   `executionNumber` is 1 (one execution per job and thing); a request
//   naming another number finds nothing.
// * `statusDetails` given in a request replace the stored map (AWS keeps the
//   last map a device reported); omitted, they stay as they were.
// * Timeouts: `inProgressTimeoutInMinutes` (the job's) runs from the moment
//   an execution goes IN_PROGRESS and is never reset; `stepTimeoutInMinutes`
//   (the device's, on start-next or an update) replaces the previous step
//   timer, and -1 clears it. The nearer deadline is stored with the
//   execution; the scheduler times it out (TIMED_OUT) once, after a restart
//   too. A timed-out or failed execution is retried (queued again, its
//   `retryAttempt` counting up, at most 10 in all) while the job's retry
//   criteria for that failure type allow it; REJECTED is never retried.
// * CancelJobExecution: a QUEUED execution is canceled; an IN_PROGRESS one
//   only with force; a terminal one is InvalidStateTransition.
//   DeleteJobExecution removes a terminal execution (an unfinished one only
//   with force).
//
// ## Rollout
//
// Executions are created (and devices notified) at the rollout rate, so a
// job for a million things never creates a million rows up front: the
// targets wait in a compact pending list. The rate applies per minute
// window: in each window at most `rate` executions are created.
// `maximumPerMinute` alone fixes the rate. `exponentialRate` starts at
// `baseRatePerMinute` and multiplies it by `incrementFactor` (rounded up,
// capped at maximumPerMinute) each time the things notified, or succeeded,
// since the last increase reach `rateIncreaseCriteria`. Without a rollout
// config the server's default rate applies (unlimited unless set). AWS's
// ceiling of 1,000 per minute holds unless the operator raises `max_rate`.
//
// ## Abort
//
// Each time an execution of an IN_PROGRESS job finishes, every abort
// criterion is checked: once at least `minNumberOfExecutedThings` have
// finished (SUCCEEDED, FAILED, REJECTED, TIMED_OUT) and the share of the
// criterion's failure type among them (ALL: failed + rejected + timed out)
// reaches `thresholdPercentage`, the job is canceled with reason code
// ABORT_CRITERIA_MET and a comment naming the criterion (AWS fills both in
// for an abort but does not document the strings); queued executions are
// canceled, in-progress ones left to finish (a non-forced cancel). A failure
// that is retried does not count until its last attempt.
//
// ## Threading and durability
//
// Every change runs on the database's writer inside one savepoint and is
// committed (group commit, one fsync for many changes) before its caller
// hears the answer; events go to subscribers after the commit, on the
// writer thread, so subscribers must hand them off and return. Reads use
// the read pool. `tick()` drives the clock-based work (rollouts, deadlines,
// schedules, deletions); the server calls it a few times a second.
#pragma once

#include "core/error.hpp"
#include "core/page_token.hpp"
#include "core/time.hpp"
#include "jobs/errors.hpp"
#include "jobs/types.hpp"

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace airfleet::storage {
class jobs_store;
}

namespace airfleet::jobs {

// What the engine needs to know about the fleet (the registry answers it).
class fleet {
 public:
  virtual ~fleet() = default;
  virtual core::result<bool> thing_exists(const std::string& thing) = 0;
  virtual core::result<bool> group_exists(const std::string& group) = 0;
  // Every thing in the group or any of its descendants, each once, by name.
  virtual core::result<std::vector<std::string>> things_in_group_tree(const std::string& group) = 0;
  // The groups the thing is directly in, plus all their ancestors.
  virtual core::result<std::vector<std::string>> group_trees_of_thing(const std::string& thing) = 0;
};

// Replaces an S3 URL with a presigned one (the firmware store provides it).
class url_presigner {
 public:
  virtual ~url_presigner() = default;
  virtual core::result<std::string> presign(const std::string& s3_url, std::int64_t expires_in_sec) = 0;
};

// Reads a job document from the firmware store (`documentSource`).
class document_source {
 public:
  virtual ~document_source() = default;
  virtual core::result<std::string> read(const std::string& s3_url) = 0;
};

struct engine_settings {
  std::string account_id;
  std::string region;
  std::string token_secret;
  // Executions per minute when a job has no rollout config; 0 = unlimited.
  std::int64_t default_rate_per_minute = 0;
  // The highest maximumPerMinute / baseRatePerMinute accepted (AWS: 1,000).
  std::int64_t max_rate_per_minute = 1000;
  // Test-only: how many engine minutes pass per real minute (timeouts,
  // rollout windows and the schedule's minimum lead times shrink by this
  // factor; calendar times and maintenance windows do not).
  double time_scale = 1.0;
  // Work done per tick, so one huge job cannot stall the writer.
  std::int64_t tick_batch = 5000;
  std::int64_t max_document_bytes = 32768;
  int max_targets = 100;  // AWS's limit on targets per job
  int max_results = 250;
  int default_results = 50;
};

class engine {
 public:
  engine(storage::jobs_store& store, fleet& fleet, const core::clock& clock, engine_settings s);
  ~engine();

  std::string job_arn(std::string_view id) const;
  std::string template_arn(std::string_view id) const;
  std::string thing_arn(std::string_view thing) const;

  // The firmware-store hooks (optional; without them placeholders stay as
  // they are and documentSource is refused).
  void set_presigner(url_presigner* presigner) { presigner_ = presigner; }
  void set_document_source(document_source* source) { document_source_ = source; }
  // Subscribers are called on the writer thread after each commit; they must
  // hand the events off and return (never call a synchronous engine write).
  void subscribe(std::function<void(const std::vector<event>&)> subscriber);
  // Called when new work for tick() appeared (a job created, targets added).
  void set_wake(std::function<void()> wake);

  // ---- control plane ----
  core::result<job> create_job(const create_job_request& request);
  core::result<job> describe_job(const std::string& job_id);
  core::result<std::string> job_document(const std::string& job_id);  // as stored, placeholders kept
  core::result<page<job>> list_jobs(const list_jobs_request& request);
  core::result<void> update_job(const update_job_request& request);
  core::result<job> cancel_job(const cancel_job_request& request);
  core::result<void> delete_job(const std::string& job_id, bool force);
  // Adds targets to a CONTINUOUS job.
  core::result<job> associate_targets(const std::string& job_id, const std::vector<std::string>& targets,
                                      const std::optional<std::string>& comment);
  core::result<page<execution>> list_executions_for_job(const list_executions_request& request);
  core::result<page<execution>> list_executions_for_thing(const list_executions_request& request);
  // The latest execution, or the one numbered `execution_number`.
  core::result<execution> describe_execution(const std::string& job_id, const std::string& thing,
                                             std::optional<std::int64_t> execution_number);
  core::result<void> cancel_execution(const cancel_execution_request& request);
  core::result<void> delete_execution(const std::string& job_id, const std::string& thing,
                                      std::int64_t execution_number, bool force);

  core::result<job_template> create_template(const std::string& id, const job_config& config,
                                             const std::optional<std::string>& from_job_arn);
  core::result<job_template> describe_template(const std::string& id);
  core::result<page<job_template>> list_templates(std::optional<int> max_results,
                                                  const std::optional<std::string>& next_token);
  core::result<void> delete_template(const std::string& id);

  // ---- data plane (a device acting on its own thing's executions) ----
  core::result<pending_executions> pending(const std::string& thing);
  // The next pending execution started (IN_PROGRESS first, then the oldest
  // QUEUED one); nullopt when nothing is pending.
  core::result<std::optional<execution_with_document>> start_next(const start_next_request& request);
  // `job_id` may be "$next". TerminalState when the execution has finished.
  core::result<std::optional<execution_with_document>> describe_for_device(
      const std::string& job_id, const std::string& thing, std::optional<std::int64_t> execution_number,
      bool include_document);
  core::result<execution_with_document> update_execution(const update_execution_request& request);

  // Asynchronous forms for callers that must not block (the MQTT jobs API):
  // `done` runs on the writer thread once the change is durable (or failed).
  void start_next_async(start_next_request request,
                        std::function<void(core::result<std::optional<execution_with_document>>)> done);
  void update_execution_async(update_execution_request request,
                              std::function<void(core::result<execution_with_document>)> done);

  // ---- the fleet changed (registry events) ----
  void thing_joined_group(const std::string& thing, const std::string& group);
  void thing_left_group(const std::string& thing, const std::string& group);
  void thing_deleted(const std::string& thing);

  // ---- the clock ----
  // Rolls out, times out, starts and ends schedules, deletes; returns true
  // while work remains that the next tick should do at once.
  bool tick();

  // Length of an engine minute in real milliseconds (time_scale applied).
  std::int64_t minute_ms() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
  url_presigner* presigner_ = nullptr;
  document_source* document_source_ = nullptr;
};

}  // namespace airfleet::jobs
