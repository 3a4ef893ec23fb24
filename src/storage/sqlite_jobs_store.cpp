#include "storage/sqlite_jobs_store.hpp"

#include "storage/sqlite_rows.hpp"

namespace airfleet::storage {

namespace {

// `'' AS spec` keeps the column positions of insert_job's list.
constexpr const char* job_columns =
    "job_id, status, selection, '' AS spec, reason_code, comment, force_canceled, created_ms, updated_ms, completed_ms, "
    "n_queued, n_in_progress, n_succeeded, n_failed, n_rejected, n_timed_out, n_canceled, n_removed, "
    "pending_targets, rollout_stopped, rate, window_start_ms, window_count, notified_since_increase, "
    "succeeded_since_increase, window_rate, has_schedule";

constexpr const char* insert_columns =
    "job_id, status, selection, spec, reason_code, comment, force_canceled, created_ms, updated_ms, completed_ms, "
    "n_queued, n_in_progress, n_succeeded, n_failed, n_rejected, n_timed_out, n_canceled, n_removed, "
    "pending_targets, rollout_stopped, rate, window_start_ms, window_count, notified_since_increase, "
    "succeeded_since_increase, window_rate, has_schedule";

constexpr const char* execution_columns =
    "job_id, thing_name, execution_number, status, status_details, force_canceled, queued_ms, started_ms, "
    "updated_ms, version, in_progress_deadline_ms, step_deadline_ms, retries_failed, retries_timed_out";

std::optional<std::int64_t> optional_integer(const statement& s, int column) {
  if (s.is_null(column)) return std::nullopt;
  return s.integer(column);
}

statement& bind_optional(statement& s, int index, const std::optional<std::int64_t>& v) {
  return v ? s.bind(index, *v) : s.bind_null(index);
}

job_row read_job(const statement& s) {
  job_row j;
  j.job_id = s.text(0);
  j.status = s.text(1);
  j.selection = s.text(2);
  j.spec = s.text(3);
  j.reason_code = s.optional_text(4);
  j.comment = s.optional_text(5);
  j.force_canceled = s.integer(6) != 0;
  j.created_ms = s.integer(7);
  j.updated_ms = s.integer(8);
  j.completed_ms = optional_integer(s, 9);
  j.queued = s.integer(10);
  j.in_progress = s.integer(11);
  j.succeeded = s.integer(12);
  j.failed = s.integer(13);
  j.rejected = s.integer(14);
  j.timed_out = s.integer(15);
  j.canceled = s.integer(16);
  j.removed = s.integer(17);
  j.pending_targets = s.integer(18);
  j.rollout_stopped = s.integer(19) != 0;
  j.rate = s.integer(20);
  j.window_start_ms = s.integer(21);
  j.window_count = s.integer(22);
  j.notified_since_increase = s.integer(23);
  j.succeeded_since_increase = s.integer(24);
  j.window_rate = s.integer(25);
  j.has_schedule = s.integer(26) != 0;
  return j;
}

void bind_job(statement& s, const job_row& j) {
  s.bind(1, j.job_id).bind(2, j.status).bind(3, j.selection).bind(4, j.spec).bind(5, j.reason_code)
      .bind(6, j.comment).bind(7, j.force_canceled ? 1 : 0).bind(8, j.created_ms).bind(9, j.updated_ms);
  bind_optional(s, 10, j.completed_ms);
  s.bind(11, j.queued).bind(12, j.in_progress).bind(13, j.succeeded).bind(14, j.failed).bind(15, j.rejected)
      .bind(16, j.timed_out).bind(17, j.canceled).bind(18, j.removed).bind(19, j.pending_targets)
      .bind(20, j.rollout_stopped ? 1 : 0).bind(21, j.rate).bind(22, j.window_start_ms).bind(23, j.window_count)
      .bind(24, j.notified_since_increase).bind(25, j.succeeded_since_increase).bind(26, j.window_rate)
      .bind(27, j.has_schedule ? 1 : 0);
}

execution_row read_execution(const statement& s) {
  execution_row e;
  e.job_id = s.text(0);
  e.thing_name = s.text(1);
  e.number = s.integer(2);
  e.status = s.text(3);
  e.status_details = s.text(4);
  e.force_canceled = s.integer(5) != 0;
  e.queued_ms = s.integer(6);
  e.started_ms = optional_integer(s, 7);
  e.updated_ms = s.integer(8);
  e.version = s.integer(9);
  e.in_progress_deadline_ms = optional_integer(s, 10);
  e.step_deadline_ms = optional_integer(s, 11);
  e.retries_failed = s.integer(12);
  e.retries_timed_out = s.integer(13);
  return e;
}

std::optional<std::int64_t> nearer(const std::optional<std::int64_t>& a, const std::optional<std::int64_t>& b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

void bind_execution(statement& s, const execution_row& e) {
  s.bind(1, e.job_id).bind(2, e.thing_name).bind(3, e.number).bind(4, e.status).bind(5, e.status_details)
      .bind(6, e.force_canceled ? 1 : 0).bind(7, e.queued_ms);
  bind_optional(s, 8, e.started_ms);
  s.bind(9, e.updated_ms).bind(10, e.version);
  bind_optional(s, 11, e.in_progress_deadline_ms);
  bind_optional(s, 12, e.step_deadline_ms);
  s.bind(13, e.retries_failed).bind(14, e.retries_timed_out);
  bool pending = e.status == "QUEUED" || e.status == "IN_PROGRESS";
  bind_optional(s, 15, pending ? nearer(e.in_progress_deadline_ms, e.step_deadline_ms) : std::nullopt);
}

std::string sql(std::string_view head, const char* columns, std::string_view tail) {
  std::string out(head);
  out += columns;
  out += tail;
  return out;
}

class sqlite_jobs_writer final : public jobs_writer {
 public:
  explicit sqlite_jobs_writer(connection& db) : db_(db) {}

  core::result<std::optional<job_row>> find_job(const std::string& job_id) override {
    static const std::string q = sql("SELECT ", job_columns, " FROM jobs WHERE job_id = ?");
    AIRFLEET_PREPARE(db_, st, q);
    st.bind(1, job_id);
    return rows::find_one<job_row>(st, read_job);
  }

  core::result<std::vector<job_row>> list_jobs(const std::optional<std::string>& status,
                                               const std::optional<std::string>& selection,
                                               const std::optional<std::string>& after, int limit) override {
    static const std::string q =
        sql("SELECT ", job_columns,
            " FROM jobs WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR selection = ?2) "
            "AND (?3 IS NULL OR job_id > ?3) ORDER BY job_id LIMIT ?4");
    AIRFLEET_PREPARE(db_, st, q);
    st.bind(1, status).bind(2, selection).bind(3, after).bind(4, limit);
    return rows::collect<job_row>(st, read_job);
  }

  core::result<std::vector<job_row>> jobs_to_drive() override {
    static const std::string q =
        sql("SELECT ", job_columns,
            " FROM jobs WHERE status IN ('IN_PROGRESS', 'SCHEDULED', 'DELETION_IN_PROGRESS') "
            "AND (status != 'IN_PROGRESS' OR pending_targets > 0 OR has_schedule = 1) ORDER BY job_id");
    AIRFLEET_PREPARE(db_, st, q);
    return rows::collect<job_row>(st, read_job);
  }

  core::result<std::vector<job_row>> continuous_jobs_in_progress() override {
    static const std::string q =
        sql("SELECT ", job_columns, " FROM jobs WHERE status = 'IN_PROGRESS' AND selection = 'CONTINUOUS'");
    AIRFLEET_PREPARE(db_, st, q);
    return rows::collect<job_row>(st, read_job);
  }

  core::result<std::optional<execution_row>> latest_execution(const std::string& job_id,
                                                              const std::string& thing) override {
    static const std::string q = sql("SELECT ", execution_columns,
                                     " FROM job_executions WHERE job_id = ? AND thing_name = ? "
                                     "ORDER BY execution_number DESC LIMIT 1");
    AIRFLEET_PREPARE(db_, st, q);
    st.bind(1, job_id).bind(2, thing);
    return rows::find_one<execution_row>(st, read_execution);
  }

  core::result<std::optional<execution_row>> find_execution(const std::string& job_id, const std::string& thing,
                                                            std::int64_t number) override {
    static const std::string q = sql("SELECT ", execution_columns,
                                     " FROM job_executions WHERE job_id = ? AND thing_name = ? "
                                     "AND execution_number = ?");
    AIRFLEET_PREPARE(db_, st, q);
    st.bind(1, job_id).bind(2, thing).bind(3, number);
    return rows::find_one<execution_row>(st, read_execution);
  }

  core::result<std::vector<execution_row>> executions_for_job(const std::string& job_id,
                                                              const std::optional<std::string>& status,
                                                              const std::optional<std::string>& after,
                                                              int limit) override {
    static const std::string q =
        sql("SELECT ", execution_columns,
            " FROM job_executions WHERE job_id = ?1 AND (?2 IS NULL OR status = ?2) "
            "AND (?3 IS NULL OR thing_name > ?3) ORDER BY thing_name, execution_number LIMIT ?4");
    AIRFLEET_PREPARE(db_, st, q);
    st.bind(1, job_id).bind(2, status).bind(3, after).bind(4, limit);
    return rows::collect<execution_row>(st, read_execution);
  }

  core::result<std::vector<execution_row>> executions_for_thing(const std::string& thing,
                                                                const std::optional<std::string>& status,
                                                                const std::optional<std::string>& after,
                                                                int limit) override {
    static const std::string q =
        sql("SELECT ", execution_columns,
            " FROM job_executions WHERE thing_name = ?1 AND (?2 IS NULL OR status = ?2) "
            "AND (?3 IS NULL OR job_id > ?3) ORDER BY job_id, execution_number LIMIT ?4");
    AIRFLEET_PREPARE(db_, st, q);
    st.bind(1, thing).bind(2, status).bind(3, after).bind(4, limit);
    return rows::collect<execution_row>(st, read_execution);
  }

  core::result<std::vector<execution_row>> pending_for_thing(const std::string& thing) override {
    static const std::string q =
        sql("SELECT ", execution_columns,
            " FROM job_executions WHERE thing_name = ? AND status IN ('QUEUED', 'IN_PROGRESS') "
            "ORDER BY queued_ms, job_id");
    AIRFLEET_PREPARE(db_, st, q);
    st.bind(1, thing);
    return rows::collect<execution_row>(st, read_execution);
  }

  core::result<std::vector<execution_row>> due_executions(std::int64_t now_ms, int limit) override {
    static const std::string q = sql("SELECT ", execution_columns,
                                     " FROM job_executions WHERE deadline_ms IS NOT NULL AND deadline_ms <= ? "
                                     "ORDER BY deadline_ms LIMIT ?");
    AIRFLEET_PREPARE(db_, st, q);
    st.bind(1, now_ms).bind(2, limit);
    return rows::collect<execution_row>(st, read_execution);
  }

  core::result<std::vector<std::string>> next_targets(const std::string& job_id, int limit) override {
    AIRFLEET_PREPARE(db_, st, "SELECT thing_name FROM job_targets WHERE job_id = ? ORDER BY thing_name LIMIT ?");
    st.bind(1, job_id).bind(2, limit);
    return rows::collect_names(st);
  }

  core::result<bool> has_target(const std::string& job_id, const std::string& thing) override {
    AIRFLEET_PREPARE(db_, st, "SELECT count(*) FROM job_targets WHERE job_id = ? AND thing_name = ?");
    st.bind(1, job_id).bind(2, thing);
    auto n = rows::single_integer(st);
    if (!n) return n.error();
    return *n > 0;
  }

  core::result<std::optional<job_template_row>> find_template(const std::string& id) override {
    AIRFLEET_PREPARE(db_, st, "SELECT template_id, spec, created_ms FROM job_templates WHERE template_id = ?");
    st.bind(1, id);
    return rows::find_one<job_template_row>(
        st, [](const statement& s) { return job_template_row{s.text(0), s.text(1), s.integer(2)}; });
  }

  core::result<std::vector<job_template_row>> list_templates(const std::optional<std::string>& after,
                                                             int limit) override {
    AIRFLEET_PREPARE(db_, st,
                     "SELECT template_id, spec, created_ms FROM job_templates WHERE (?1 IS NULL OR template_id > ?1) "
                     "ORDER BY template_id LIMIT ?2");
    st.bind(1, after).bind(2, limit);
    return rows::collect<job_template_row>(
        st, [](const statement& s) { return job_template_row{s.text(0), s.text(1), s.integer(2)}; });
  }

  core::result<std::optional<std::string>> find_job_spec(const std::string& job_id) override {
    AIRFLEET_PREPARE(db_, st, "SELECT spec FROM jobs WHERE job_id = ?");
    st.bind(1, job_id);
    return rows::find_one<std::string>(st, [](const statement& s) { return s.text(0); });
  }

  core::result<void> update_job_spec(const std::string& job_id, const std::string& spec) override {
    AIRFLEET_PREPARE(db_, st, "UPDATE jobs SET spec = ? WHERE job_id = ?");
    return st.bind(1, spec).bind(2, job_id).run();
  }

  core::result<void> insert_job(const job_row& job) override {
    static const std::string q = sql("INSERT INTO jobs (", insert_columns,
                                     ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                                     "?, ?, ?, ?)");
    AIRFLEET_PREPARE(db_, st, q);
    bind_job(st, job);
    return st.run();
  }

  core::result<void> update_job(const job_row& job) override {
    AIRFLEET_PREPARE(db_, st,  // ?4 (spec) is bound and unused: update_job_spec writes it
                     "UPDATE jobs SET status = ?2, selection = ?3, reason_code = ?5, comment = ?6, "
                     "force_canceled = ?7, created_ms = ?8, updated_ms = ?9, completed_ms = ?10, n_queued = ?11, "
                     "n_in_progress = ?12, n_succeeded = ?13, n_failed = ?14, n_rejected = ?15, n_timed_out = ?16, "
                     "n_canceled = ?17, n_removed = ?18, pending_targets = ?19, rollout_stopped = ?20, rate = ?21, "
                     "window_start_ms = ?22, window_count = ?23, notified_since_increase = ?24, "
                     "succeeded_since_increase = ?25, window_rate = ?26, has_schedule = ?27 WHERE job_id = ?1");
    bind_job(st, job);
    return st.run();
  }

  core::result<void> delete_job(const std::string& job_id) override {
    AIRFLEET_PREPARE(db_, st, "DELETE FROM jobs WHERE job_id = ?");
    return st.bind(1, job_id).run();
  }

  core::result<void> insert_execution(const execution_row& e) override {
    static const std::string q = sql("INSERT INTO job_executions (", execution_columns,
                                     ", deadline_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    AIRFLEET_PREPARE(db_, st, q);
    bind_execution(st, e);
    return st.run();
  }

  core::result<void> update_execution(const execution_row& e) override {
    AIRFLEET_PREPARE(db_, st,
                     "UPDATE job_executions SET status = ?4, status_details = ?5, force_canceled = ?6, "
                     "queued_ms = ?7, started_ms = ?8, updated_ms = ?9, version = ?10, "
                     "in_progress_deadline_ms = ?11, step_deadline_ms = ?12, retries_failed = ?13, "
                     "retries_timed_out = ?14, deadline_ms = ?15 "
                     "WHERE job_id = ?1 AND thing_name = ?2 AND execution_number = ?3");
    bind_execution(st, e);
    return st.run();
  }

  core::result<void> delete_execution(const std::string& job_id, const std::string& thing,
                                      std::int64_t number) override {
    AIRFLEET_PREPARE(db_, st,
                     "DELETE FROM job_executions WHERE job_id = ? AND thing_name = ? AND execution_number = ?");
    return st.bind(1, job_id).bind(2, thing).bind(3, number).run();
  }

  core::result<std::vector<execution_row>> delete_executions(const std::string& job_id, int limit) override {
    auto batch = executions_for_job(job_id, std::nullopt, std::nullopt, limit);
    if (!batch) return batch.error();
    for (const auto& e : *batch)
      if (auto r = delete_execution(e.job_id, e.thing_name, e.number); !r) return r.error();
    return batch;
  }

  core::result<std::int64_t> insert_targets(const std::string& job_id,
                                            const std::vector<std::string>& things) override {
    AIRFLEET_PREPARE(db_, st, "INSERT OR IGNORE INTO job_targets (job_id, thing_name) VALUES (?, ?)");
    std::int64_t added = 0;
    for (const auto& t : things) {
      auto r = st.bind(1, job_id).bind(2, t).run();
      st.reset();
      if (!r) return r.error();
      added += db_.changes();
    }
    return added;
  }

  core::result<bool> delete_target(const std::string& job_id, const std::string& thing) override {
    AIRFLEET_PREPARE(db_, st, "DELETE FROM job_targets WHERE job_id = ? AND thing_name = ?");
    if (auto r = st.bind(1, job_id).bind(2, thing).run(); !r) return r.error();
    return db_.changes() > 0;
  }

  core::result<void> delete_targets(const std::string& job_id) override {
    AIRFLEET_PREPARE(db_, st, "DELETE FROM job_targets WHERE job_id = ?");
    return st.bind(1, job_id).run();
  }

  core::result<void> insert_template(const job_template_row& t) override {
    AIRFLEET_PREPARE(db_, st, "INSERT INTO job_templates (template_id, spec, created_ms) VALUES (?, ?, ?)");
    return st.bind(1, t.template_id).bind(2, t.spec).bind(3, t.created_ms).run();
  }

  core::result<void> delete_template(const std::string& id) override {
    AIRFLEET_PREPARE(db_, st, "DELETE FROM job_templates WHERE template_id = ?");
    return st.bind(1, id).run();
  }

 private:
  connection& db_;
};

}  // namespace

void sqlite_jobs_store::submit(std::function<core::result<void>(jobs_writer&)> work,
                               std::function<void(const core::error*)> done) {
  db_.submit(
      [work = std::move(work)](connection& db) {
        sqlite_jobs_writer writer(db);
        return work(writer).has_value();
      },
      std::move(done));
}

int sqlite_jobs_store::on_group_end(std::function<core::result<void>(jobs_writer&)> flush) {
  return db_.add_group_hook([flush = std::move(flush)](connection& db) {
    sqlite_jobs_writer writer(db);
    return flush(writer);
  });
}

core::result<void> sqlite_jobs_store::read(const std::function<core::result<void>(jobs_reader&)>& work) {
  return db_.read([&](connection& db) -> core::result<void> {
    sqlite_jobs_writer reader(db);  // used through the read-only interface
    return work(reader);
  });
}

}  // namespace airfleet::storage
