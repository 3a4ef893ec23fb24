// What the jobs engine stores, and the narrow interface it stores it
// through. The engine keeps every rule (state machines, rollout, abort,
// timeouts); a store reads and writes rows. Statuses travel as AWS's names
// ("IN_PROGRESS"), the job's targets and configuration as the engine's own
// encoding (`spec`), which the store does not look into.
//
// All reads and writes of one engine change run inside one `submit` call on
// the database writer, so check-then-write stays correct; `done` hears the
// outcome once the change is durable.
#pragma once

#include "core/error.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace airfleet::storage {

struct job_row {
  std::string job_id;
  std::string status;
  std::string selection;
  std::string spec;  // written by insert_job and update_job_spec; reads leave it empty (find_job_spec)
  std::optional<std::string> reason_code;
  std::optional<std::string> comment;
  bool force_canceled = false;
  std::int64_t created_ms = 0;
  std::int64_t updated_ms = 0;
  std::optional<std::int64_t> completed_ms;
  // jobProcessDetails, by the status of each thing's latest execution.
  std::int64_t queued = 0, in_progress = 0, succeeded = 0, failed = 0, rejected = 0, timed_out = 0, canceled = 0,
               removed = 0;
  // Rollout state.
  std::int64_t pending_targets = 0;  // rows in job_targets
  bool rollout_stopped = false;      // endBehavior STOP_ROLLOUT applied
  std::int64_t rate = 0;             // executions per minute now; 0 = unlimited
  std::int64_t window_start_ms = 0;
  std::int64_t window_count = 0;
  std::int64_t window_rate = 0;      // the rate when the current window opened; 0 = unlimited
  bool has_schedule = false;         // a schedulingConfig: the scheduler visits it even with nothing to roll out
  std::int64_t notified_since_increase = 0;
  std::int64_t succeeded_since_increase = 0;
};

struct execution_row {
  std::string job_id;
  std::string thing_name;
  std::int64_t number = 1;
  std::string status;
  std::string status_details;  // encoded by the engine
  bool force_canceled = false;
  std::int64_t queued_ms = 0;
  std::optional<std::int64_t> started_ms;
  std::int64_t updated_ms = 0;
  std::int64_t version = 1;
  std::optional<std::int64_t> in_progress_deadline_ms;
  std::optional<std::int64_t> step_deadline_ms;
  std::int64_t retries_failed = 0;
  std::int64_t retries_timed_out = 0;
};

struct job_template_row {
  std::string template_id;
  std::string spec;
  std::int64_t created_ms = 0;
};

class jobs_reader {
 public:
  virtual ~jobs_reader() = default;
  // Job rows come without `spec` (a document can be 32 KB and a transition
  // needs only the counters): find_job_spec reads it.
  virtual core::result<std::optional<job_row>> find_job(const std::string& job_id) = 0;
  virtual core::result<std::optional<std::string>> find_job_spec(const std::string& job_id) = 0;
  // Jobs by id after `after`, optionally of one status / target selection.
  virtual core::result<std::vector<job_row>> list_jobs(const std::optional<std::string>& status,
                                                       const std::optional<std::string>& selection,
                                                       const std::optional<std::string>& after, int limit) = 0;
  // Jobs the scheduler has work for: SCHEDULED, DELETION_IN_PROGRESS, and
  // IN_PROGRESS ones with targets left to roll out or a schedule.
  virtual core::result<std::vector<job_row>> jobs_to_drive() = 0;
  virtual core::result<std::vector<job_row>> continuous_jobs_in_progress() = 0;

  virtual core::result<std::optional<execution_row>> latest_execution(const std::string& job_id,
                                                                      const std::string& thing) = 0;
  virtual core::result<std::optional<execution_row>> find_execution(const std::string& job_id,
                                                                    const std::string& thing,
                                                                    std::int64_t number) = 0;
  // Executions of a job by thing name after `after`.
  virtual core::result<std::vector<execution_row>> executions_for_job(const std::string& job_id,
                                                                      const std::optional<std::string>& status,
                                                                      const std::optional<std::string>& after,
                                                                      int limit) = 0;
  // Executions of a thing by job id after `after`.
  virtual core::result<std::vector<execution_row>> executions_for_thing(const std::string& thing,
                                                                        const std::optional<std::string>& status,
                                                                        const std::optional<std::string>& after,
                                                                        int limit) = 0;
  // QUEUED and IN_PROGRESS executions of a thing, oldest queued first.
  virtual core::result<std::vector<execution_row>> pending_for_thing(const std::string& thing) = 0;
  // Executions whose nearer deadline is at or before `now_ms`, earliest first.
  virtual core::result<std::vector<execution_row>> due_executions(std::int64_t now_ms, int limit) = 0;
  virtual core::result<std::vector<std::string>> next_targets(const std::string& job_id, int limit) = 0;
  virtual core::result<bool> has_target(const std::string& job_id, const std::string& thing) = 0;

  virtual core::result<std::optional<job_template_row>> find_template(const std::string& id) = 0;
  virtual core::result<std::vector<job_template_row>> list_templates(const std::optional<std::string>& after,
                                                                     int limit) = 0;
};

class jobs_writer : public jobs_reader {
 public:
  virtual core::result<void> insert_job(const job_row& job) = 0;
  virtual core::result<void> update_job(const job_row& job) = 0;  // everything but spec
  virtual core::result<void> update_job_spec(const std::string& job_id, const std::string& spec) = 0;
  virtual core::result<void> delete_job(const std::string& job_id) = 0;

  virtual core::result<void> insert_execution(const execution_row& e) = 0;
  virtual core::result<void> update_execution(const execution_row& e) = 0;
  virtual core::result<void> delete_execution(const std::string& job_id, const std::string& thing,
                                              std::int64_t number) = 0;
  // Deletes up to `limit` executions of the job; returns those deleted.
  virtual core::result<std::vector<execution_row>> delete_executions(const std::string& job_id, int limit) = 0;

  // Returns how many were new.
  virtual core::result<std::int64_t> insert_targets(const std::string& job_id,
                                                    const std::vector<std::string>& things) = 0;
  virtual core::result<bool> delete_target(const std::string& job_id, const std::string& thing) = 0;
  virtual core::result<void> delete_targets(const std::string& job_id) = 0;

  virtual core::result<void> insert_template(const job_template_row& t) = 0;
  virtual core::result<void> delete_template(const std::string& id) = 0;
};

class jobs_store {
 public:
  virtual ~jobs_store() = default;
  // Runs `work` on the writer in its own savepoint (an error rolls it back);
  // `done(nullptr)` once it is durable, `done(&error)` if the commit failed.
  virtual void submit(std::function<core::result<void>(jobs_writer&)> work,
                      std::function<void(const core::error*)> done) = 0;
  virtual core::result<void> read(const std::function<core::result<void>(jobs_reader&)>& work) = 0;
  // `flush` runs on the writer after the writes of each commit group and
  // before its commit (see database::add_group_hook); an error fails the
  // group. The handle goes to remove_group_end before the owner goes away.
  virtual int on_group_end(std::function<core::result<void>(jobs_writer&)> flush) = 0;
  virtual void remove_group_end(int handle) = 0;
};

}  // namespace airfleet::storage
