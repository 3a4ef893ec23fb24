#include "jobs/engine.hpp"

#include "storage/schema.hpp"
#include "storage/sqlite_jobs_store.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <map>
#include <set>

namespace airfleet::jobs {
namespace {

using namespace std::chrono_literals;

// The registry's answers, as a table the test edits.
class table_fleet final : public fleet {
 public:
  std::set<std::string> things;
  std::map<std::string, std::set<std::string>> members;  // group -> things
  std::map<std::string, std::string> parent;              // group -> parent group

  core::result<bool> thing_exists(const std::string& t) override { return things.count(t) > 0; }
  core::result<bool> group_exists(const std::string& g) override { return members.count(g) > 0; }
  core::result<std::vector<std::string>> things_in_group_tree(const std::string& g) override {
    std::set<std::string> out(members[g].begin(), members[g].end());
    for (const auto& [child, p] : parent)
      if (p == g)
        for (const auto& t : *things_in_group_tree(child)) out.insert(t);
    return std::vector<std::string>(out.begin(), out.end());
  }
  core::result<std::vector<std::string>> group_trees_of_thing(const std::string& t) override {
    std::set<std::string> out;
    for (const auto& [g, m] : members)
      if (m.count(t))
        for (std::string x = g; !x.empty(); x = parent.count(x) ? parent[x] : std::string()) out.insert(x);
    return std::vector<std::string>(out.begin(), out.end());
  }
};

class fake_presigner final : public url_presigner {
 public:
  int calls = 0;
  core::result<std::string> presign(const std::string& url, std::int64_t expires) override {
    ++calls;
    return "https://airfleet.test/presigned?u=" + url + "&e=" + std::to_string(expires) + "&n=" + std::to_string(calls);
  }
};

const std::string account = "123456789012";
std::string thing_arn(const std::string& t) { return "arn:aws:iot:us-east-1:" + account + ":thing/" + t; }
std::string group_arn(const std::string& g) { return "arn:aws:iot:us-east-1:" + account + ":thinggroup/" + g; }

class engine_test : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("airfleet-jobs-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    open();
    for (int i = 1; i <= 5; ++i) {
      fleet_.things.insert("dev" + std::to_string(i));
      fleet_.members["fleet"].insert("dev" + std::to_string(i));
    }
  }
  void open() {
    storage::database::options opts;
    opts.path = (dir_ / "j.db").string();
    auto db = storage::database::open(opts, storage::schema_migrations());
    ASSERT_TRUE(db) << db.error().message;
    db_ = std::move(*db);
    store_ = std::make_unique<storage::sqlite_jobs_store>(*db_);
    engine_settings s;
    s.account_id = account;
    s.region = "us-east-1";
    s.token_secret = "k";
    jobs_ = std::make_unique<engine>(*store_, fleet_, clock_, s);
    jobs_->subscribe([this](const std::vector<event>& events) {
      std::lock_guard lock(events_mutex_);
      for (const auto& e : events) events_.push_back(e);
    });
  }
  void reopen() {
    jobs_.reset();
    store_.reset();
    db_->close();
    db_.reset();
    open();
  }
  void TearDown() override {
    jobs_.reset();
    store_.reset();
    db_.reset();
    std::filesystem::remove_all(dir_);
  }

  create_job_request job_for(std::vector<std::string> targets, std::string id = "job1") {
    create_job_request r;
    r.job_id = std::move(id);
    r.targets = std::move(targets);
    r.config.document = R"({"operation":"firmwareUpdate","url":"https://example.com/fw.bin"})";
    return r;
  }
  job create(const create_job_request& r) {
    auto j = jobs_->create_job(r);
    EXPECT_TRUE(j) << j.error().message;
    return j ? *j : job{};
  }
  execution_status status(const std::string& job, const std::string& thing) {
    auto e = jobs_->describe_execution(job, thing, std::nullopt);
    EXPECT_TRUE(e) << e.error().message;
    return e ? e->status : execution_status::removed;
  }
  core::result<execution_with_document> update(const std::string& thing, execution_status s,
                                               std::optional<std::int64_t> expected = std::nullopt,
                                               std::string job = "job1") {
    update_execution_request r;
    r.job_id = std::move(job);
    r.thing_name = thing;
    r.status = s;
    r.expected_version = expected;
    return jobs_->update_execution(r);
  }
  std::optional<execution_with_document> start_next(const std::string& thing,
                                                    std::optional<std::int64_t> step = std::nullopt) {
    start_next_request r;
    r.thing_name = thing;
    r.step_timeout_minutes = step;
    auto out = jobs_->start_next(r);
    EXPECT_TRUE(out) << out.error().message;
    return out ? *out : std::nullopt;
  }
  process_details details(const std::string& job = "job1") {
    auto j = jobs_->describe_job(job);
    EXPECT_TRUE(j) << j.error().message;
    return j ? j->details : process_details{};
  }
  job_status job_state(const std::string& job = "job1") {
    auto j = jobs_->describe_job(job);
    EXPECT_TRUE(j) << j.error().message;
    return j ? j->status : job_status::deletion_in_progress;
  }
  std::int64_t executions(const std::string& job = "job1") {
    list_executions_request r;
    r.key = job;
    r.max_results = 250;
    auto p = jobs_->list_executions_for_job(r);
    EXPECT_TRUE(p) << p.error().message;
    return p ? static_cast<std::int64_t>(p->items.size()) : -1;
  }
  std::vector<event> take_events() {
    std::lock_guard lock(events_mutex_);
    return std::exchange(events_, {});
  }

  std::filesystem::path dir_;
  // 2026-11-26 12:00 UTC, a Thursday.
  core::manual_clock clock_{core::from_epoch_millis(1795694400000)};
  table_fleet fleet_;
  std::unique_ptr<storage::database> db_;
  std::unique_ptr<storage::sqlite_jobs_store> store_;
  std::unique_ptr<engine> jobs_;
  std::mutex events_mutex_;
  std::vector<event> events_;
};

TEST_F(engine_test, a_snapshot_job_runs_to_completed_with_exact_counts) {
  auto j = create(job_for({group_arn("fleet")}));
  EXPECT_EQ(j.status, job_status::in_progress);
  EXPECT_EQ(j.arn, "arn:aws:iot:us-east-1:123456789012:job/job1");
  EXPECT_EQ(executions(), 0);  // nothing before the scheduler rolls out
  jobs_->tick();
  EXPECT_EQ(executions(), 5);
  EXPECT_EQ(details().queued, 5);

  auto started = start_next("dev1");
  ASSERT_TRUE(started);
  EXPECT_EQ(started->state.status, execution_status::in_progress);
  EXPECT_EQ(started->state.version_number, 2);
  ASSERT_TRUE(started->document);
  EXPECT_NE(started->document->find("firmwareUpdate"), std::string::npos);
  EXPECT_EQ(details().in_progress, 1);
  EXPECT_EQ(details().queued, 4);

  auto done = update("dev1", execution_status::succeeded, 2);
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(done->state.version_number, 3);
  for (int i = 2; i <= 4; ++i) ASSERT_TRUE(update("dev" + std::to_string(i), execution_status::succeeded));
  EXPECT_EQ(job_state(), job_status::in_progress);
  ASSERT_TRUE(update("dev5", execution_status::failed));
  auto d = details();
  EXPECT_EQ(d.succeeded, 4);
  EXPECT_EQ(d.failed, 1);
  EXPECT_EQ(d.queued + d.in_progress, 0);
  auto finished = jobs_->describe_job("job1");
  ASSERT_TRUE(finished);
  EXPECT_EQ(finished->status, job_status::completed);
  EXPECT_TRUE(finished->completed_at);

  bool completed_event = false;
  for (const auto& e : take_events())
    if (auto* je = std::get_if<job_event>(&e)) completed_event |= je->what == job_event::kind::completed;
  EXPECT_TRUE(completed_event);
}

TEST_F(engine_test, executions_follow_the_aws_state_machine) {
  create(job_for({thing_arn("dev1"), thing_arn("dev2"), thing_arn("dev3")}));
  jobs_->tick();
  // A device cannot set the statuses the service sets.
  for (auto s : {execution_status::queued, execution_status::canceled, execution_status::timed_out,
                 execution_status::removed}) {
    auto r = update("dev1", s);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(errc::invalid_request));
  }
  // QUEUED may go straight to a terminal status.
  ASSERT_TRUE(update("dev2", execution_status::rejected));
  EXPECT_EQ(status("job1", "dev2"), execution_status::rejected);
  // A stale expectedVersion changes nothing.
  auto stale = update("dev1", execution_status::in_progress, 7);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, make_error_code(errc::version_conflict));
  EXPECT_EQ(status("job1", "dev1"), execution_status::queued);
  // IN_PROGRESS -> IN_PROGRESS reports progress and bumps the version.
  ASSERT_TRUE(update("dev1", execution_status::in_progress, 1));
  update_execution_request progress;
  progress.job_id = "job1";
  progress.thing_name = "dev1";
  progress.status = execution_status::in_progress;
  progress.status_details = details_map{{"step", "downloading"}, {"progress", "25%"}};
  auto p = jobs_->update_execution(progress);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->state.version_number, 3);
  EXPECT_EQ(p->state.status_details.at("step"), "downloading");
  // Omitted statusDetails stay as they were.
  ASSERT_TRUE(update("dev1", execution_status::succeeded, 3));
  auto e = jobs_->describe_execution("job1", "dev1", std::nullopt);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status_details.at("progress"), "25%");
  // Terminal: nothing moves.
  auto back = update("dev1", execution_status::in_progress);
  ASSERT_FALSE(back);
  EXPECT_EQ(back.error().code, make_error_code(errc::invalid_state_transition));
  // The data plane's describe of a finished execution is TerminalState.
  auto described = jobs_->describe_for_device("job1", "dev1", std::nullopt, true);
  ASSERT_FALSE(described);
  EXPECT_EQ(described.error().code, make_error_code(errc::terminal_state));
  // Unknown job or execution.
  auto unknown = update("dev9", execution_status::succeeded);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, make_error_code(errc::not_found));
  auto no_job = update("dev1", execution_status::succeeded, std::nullopt, "nope");
  ASSERT_FALSE(no_job);
  EXPECT_EQ(no_job.error().code, make_error_code(errc::not_found));
}

TEST_F(engine_test, start_next_takes_in_progress_first_then_the_oldest_queued) {
  create(job_for({thing_arn("dev1")}, "a"));
  jobs_->tick();
  clock_.advance(1s);
  create(job_for({thing_arn("dev1")}, "b"));
  jobs_->tick();
  auto pending = jobs_->pending("dev1");
  ASSERT_TRUE(pending);
  ASSERT_EQ(pending->queued.size(), 2u);
  EXPECT_EQ(pending->queued[0].job_id, "a");
  auto first = start_next("dev1");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->state.job_id, "a");
  auto again = start_next("dev1");  // "a" is still in progress: it stays the next one
  ASSERT_TRUE(again);
  EXPECT_EQ(again->state.job_id, "a");
  EXPECT_EQ(again->state.version_number, 2);
  ASSERT_TRUE(update("dev1", execution_status::succeeded, std::nullopt, "a"));
  auto second = start_next("dev1");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->state.job_id, "b");
  ASSERT_TRUE(update("dev1", execution_status::succeeded, std::nullopt, "b"));
  EXPECT_FALSE(start_next("dev1"));
  auto next = jobs_->describe_for_device("$next", "dev1", std::nullopt, true);
  ASSERT_TRUE(next);
  EXPECT_FALSE(*next);
}

TEST_F(engine_test, maximum_per_minute_limits_each_minute) {
  for (int i = 6; i <= 12; ++i) {
    fleet_.things.insert("dev" + std::to_string(i));
    fleet_.members["fleet"].insert("dev" + std::to_string(i));
  }
  auto r = job_for({group_arn("fleet")});
  r.config.rollout = rollout_config{3, std::nullopt};
  create(r);
  jobs_->tick();
  EXPECT_EQ(executions(), 3);
  clock_.advance(59s);
  jobs_->tick();
  EXPECT_EQ(executions(), 3);
  clock_.advance(1s);
  jobs_->tick();
  EXPECT_EQ(executions(), 6);
  auto j = jobs_->describe_job("job1");
  ASSERT_TRUE(j);
  EXPECT_EQ(j->details.processing_targets, std::vector<std::string>{group_arn("fleet")});
  for (int minute = 0; minute < 3; ++minute) {
    clock_.advance(60s);
    jobs_->tick();
  }
  EXPECT_EQ(executions(), 12);
  j = jobs_->describe_job("job1");
  EXPECT_TRUE(j->details.processing_targets.empty());
}

TEST_F(engine_test, an_exponential_rate_grows_by_its_factor_up_to_the_maximum) {
  for (int i = 6; i <= 40; ++i) {
    fleet_.things.insert("dev" + std::to_string(i));
    fleet_.members["fleet"].insert("dev" + std::to_string(i));
  }
  auto r = job_for({group_arn("fleet")});
  r.config.rollout = rollout_config{10, exponential_rate{2, 2.0, rate_increase_criteria{2, std::nullopt}}};
  create(r);
  std::vector<std::int64_t> per_minute;
  std::int64_t before = 0;
  for (int minute = 0; minute < 6; ++minute) {
    jobs_->tick();
    clock_.advance(30s);
    jobs_->tick();  // an increase within a window waits for the next one
    auto now = executions();
    per_minute.push_back(now - before);
    before = now;
    clock_.advance(30s);
  }
  // Every 2 things notified multiply the rate by 2: minute 1 notifies 2 (rate
  // 4); minute 2 notifies 4, passing the criterion twice (8, then 16 capped
  // at 10); then 10 a minute until the 40 are out.
  EXPECT_EQ(per_minute, (std::vector<std::int64_t>{2, 4, 10, 10, 10, 4}));
}

TEST_F(engine_test, the_rate_rises_on_succeeded_things_too) {
  for (int i = 6; i <= 10; ++i) {
    fleet_.things.insert("dev" + std::to_string(i));
    fleet_.members["fleet"].insert("dev" + std::to_string(i));
  }
  auto r = job_for({group_arn("fleet")});
  r.config.rollout = rollout_config{std::nullopt, exponential_rate{1, 3.0, rate_increase_criteria{std::nullopt, 1}}};
  create(r);
  jobs_->tick();
  EXPECT_EQ(executions(), 1);
  ASSERT_TRUE(update("dev1", execution_status::succeeded));
  clock_.advance(60s);
  jobs_->tick();
  EXPECT_EQ(executions(), 4);  // rate 1 * 3
}

TEST_F(engine_test, an_abort_rule_cancels_the_job_and_its_queued_executions) {
  auto r = job_for({group_arn("fleet")});
  r.config.abort = std::vector<abort_criterion>{{failure_type::failed, "CANCEL", 50, 2}};
  create(r);
  jobs_->tick();
  ASSERT_TRUE(start_next("dev3"));
  ASSERT_TRUE(update("dev1", execution_status::failed));
  EXPECT_EQ(job_state(), job_status::in_progress);  // 1 executed < 2 required
  ASSERT_TRUE(update("dev2", execution_status::failed));
  auto j = jobs_->describe_job("job1");
  ASSERT_TRUE(j);
  EXPECT_EQ(j->status, job_status::canceled);
  EXPECT_EQ(j->reason_code, "ABORT_CRITERIA_MET");
  ASSERT_TRUE(j->comment);
  EXPECT_NE(j->comment->find("FAILED"), std::string::npos);
  EXPECT_FALSE(j->force_canceled);
  EXPECT_EQ(status("job1", "dev4"), execution_status::canceled);
  EXPECT_EQ(status("job1", "dev5"), execution_status::canceled);
  EXPECT_EQ(status("job1", "dev3"), execution_status::in_progress);  // left to finish
  EXPECT_EQ(j->details.canceled, 2);
  ASSERT_TRUE(update("dev3", execution_status::succeeded));
  EXPECT_EQ(job_state(), job_status::canceled);
}

TEST_F(engine_test, an_abort_rule_below_its_threshold_does_nothing) {
  auto r = job_for({group_arn("fleet")});
  r.config.abort = std::vector<abort_criterion>{{failure_type::all, "CANCEL", 50, 4}};
  create(r);
  jobs_->tick();
  ASSERT_TRUE(update("dev1", execution_status::failed));
  ASSERT_TRUE(update("dev2", execution_status::succeeded));
  ASSERT_TRUE(update("dev3", execution_status::succeeded));
  ASSERT_TRUE(update("dev4", execution_status::rejected));  // 2 of 4 = 50%: aborts
  EXPECT_EQ(job_state(), job_status::canceled);
}

TEST_F(engine_test, the_in_progress_timeout_fires_once_even_across_a_restart) {
  auto r = job_for({thing_arn("dev1"), thing_arn("dev2")});
  r.config.in_progress_timeout_minutes = 10;
  create(r);
  jobs_->tick();
  ASSERT_TRUE(start_next("dev1"));
  auto e = jobs_->describe_execution("job1", "dev1", std::nullopt);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->approximate_seconds_before_timed_out, 600);
  clock_.advance(9min);
  jobs_->tick();
  EXPECT_EQ(status("job1", "dev1"), execution_status::in_progress);
  reopen();
  clock_.advance(1min);
  jobs_->tick();
  EXPECT_EQ(status("job1", "dev1"), execution_status::timed_out);
  EXPECT_EQ(status("job1", "dev2"), execution_status::queued);  // queued executions have no timer
  EXPECT_EQ(details().timed_out, 1);
  take_events();
  reopen();
  jobs_->tick();
  EXPECT_TRUE(take_events().empty());
  auto late = update("dev1", execution_status::succeeded);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, make_error_code(errc::invalid_state_transition));
}

TEST_F(engine_test, a_step_timeout_is_replaced_by_each_update_and_cleared_by_minus_one) {
  create(job_for({thing_arn("dev1"), thing_arn("dev2")}));
  jobs_->tick();
  ASSERT_TRUE(start_next("dev1", 2));
  clock_.advance(90s);
  update_execution_request r;
  r.job_id = "job1";
  r.thing_name = "dev1";
  r.status = execution_status::in_progress;
  r.step_timeout_minutes = 2;  // a fresh 2-minute step from now
  ASSERT_TRUE(jobs_->update_execution(r));
  clock_.advance(90s);
  jobs_->tick();
  EXPECT_EQ(status("job1", "dev1"), execution_status::in_progress);
  r.step_timeout_minutes = -1;
  ASSERT_TRUE(jobs_->update_execution(r));
  clock_.advance(1h);
  jobs_->tick();
  EXPECT_EQ(status("job1", "dev1"), execution_status::in_progress);
  ASSERT_TRUE(start_next("dev2", 1));
  clock_.advance(61s);
  jobs_->tick();
  EXPECT_EQ(status("job1", "dev2"), execution_status::timed_out);
  r.step_timeout_minutes = 0;
  auto bad = jobs_->update_execution(r);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, make_error_code(errc::invalid_request));
}

TEST_F(engine_test, failed_and_timed_out_executions_are_retried_as_configured) {
  auto r = job_for({thing_arn("dev1")});
  r.config.in_progress_timeout_minutes = 5;
  r.config.retry = std::vector<retry_criterion>{{failure_type::failed, 1}, {failure_type::timed_out, 1}};
  create(r);
  jobs_->tick();
  ASSERT_TRUE(start_next("dev1"));
  ASSERT_TRUE(update("dev1", execution_status::failed));
  auto e = jobs_->describe_execution("job1", "dev1", std::nullopt);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, execution_status::queued);
  EXPECT_EQ(e->retry_attempt, 1);
  EXPECT_EQ(details().failed, 0);
  EXPECT_EQ(details().queued, 1);
  ASSERT_TRUE(start_next("dev1"));
  clock_.advance(5min);
  jobs_->tick();
  e = jobs_->describe_execution("job1", "dev1", std::nullopt);
  EXPECT_EQ(e->status, execution_status::queued);
  EXPECT_EQ(e->retry_attempt, 2);
  ASSERT_TRUE(start_next("dev1"));
  ASSERT_TRUE(update("dev1", execution_status::failed));  // no FAILED retry left
  EXPECT_EQ(status("job1", "dev1"), execution_status::failed);
  EXPECT_EQ(job_state(), job_status::completed);
}

TEST_F(engine_test, a_scheduled_job_waits_for_its_start_and_cancels_at_its_end) {
  auto r = job_for({group_arn("fleet")});
  r.scheduling = scheduling_config{"2026-11-26T13:00", "2026-11-26T14:00", end_behavior::cancel, {}};
  auto j = create(r);
  EXPECT_EQ(j.status, job_status::scheduled);
  jobs_->tick();
  EXPECT_EQ(executions(), 0);
  clock_.advance(60min);
  jobs_->tick();
  EXPECT_EQ(job_state(), job_status::in_progress);
  EXPECT_EQ(executions(), 5);
  ASSERT_TRUE(start_next("dev1"));
  clock_.advance(60min);
  jobs_->tick();
  EXPECT_EQ(job_state(), job_status::canceled);
  EXPECT_EQ(status("job1", "dev2"), execution_status::canceled);
  EXPECT_EQ(status("job1", "dev1"), execution_status::in_progress);  // CANCEL is not forced

  auto soon = job_for({group_arn("fleet")}, "too-soon");
  soon.scheduling = scheduling_config{"2026-11-26T14:10", std::nullopt, std::nullopt, {}};
  auto refused = jobs_->create_job(soon);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, make_error_code(errc::invalid_request));
}

TEST_F(engine_test, force_cancel_at_the_end_cancels_in_progress_executions_too) {
  auto r = job_for({group_arn("fleet")});
  r.scheduling = scheduling_config{std::nullopt, "2026-11-26T13:00", end_behavior::force_cancel, {}};
  create(r);
  jobs_->tick();
  ASSERT_TRUE(start_next("dev1"));
  clock_.advance(60min);
  jobs_->tick();
  auto e = jobs_->describe_execution("job1", "dev1", std::nullopt);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, execution_status::canceled);
  EXPECT_TRUE(e->force_canceled);
}

TEST_F(engine_test, stop_rollout_at_the_end_lets_the_job_complete_with_what_is_out) {
  auto r = job_for({group_arn("fleet")});
  r.config.rollout = rollout_config{2, std::nullopt};
  r.scheduling = scheduling_config{std::nullopt, "2026-11-26T12:30", end_behavior::stop_rollout, {}};
  create(r);
  jobs_->tick();
  EXPECT_EQ(executions(), 2);
  clock_.advance(30min);
  jobs_->tick();
  EXPECT_EQ(executions(), 2);
  ASSERT_TRUE(update("dev1", execution_status::succeeded));
  ASSERT_TRUE(update("dev2", execution_status::succeeded));
  EXPECT_EQ(job_state(), job_status::completed);
}

TEST_F(engine_test, maintenance_windows_gate_the_rollout) {
  auto r = job_for({group_arn("fleet")});
  r.config.rollout = rollout_config{1, std::nullopt};
  // Every day 12:30-12:40 UTC.
  r.scheduling = scheduling_config{std::nullopt, std::nullopt, std::nullopt, {{"cron(30 12 * * ? *)", 10}}};
  create(r);
  jobs_->tick();
  EXPECT_EQ(executions(), 0);
  clock_.advance(30min);
  jobs_->tick();
  EXPECT_EQ(executions(), 1);
  clock_.advance(5min);
  jobs_->tick();
  EXPECT_EQ(executions(), 2);
  clock_.advance(5min);  // 12:40: the window has closed
  jobs_->tick();
  EXPECT_EQ(executions(), 2);
  clock_.advance(24h - 10min);
  jobs_->tick();
  EXPECT_EQ(executions(), 3);
}

TEST_F(engine_test, continuous_jobs_follow_group_membership) {
  auto r = job_for({group_arn("fleet")});
  r.selection = target_selection::continuous;
  create(r);
  jobs_->tick();
  EXPECT_EQ(executions(), 5);
  fleet_.things.insert("late");
  fleet_.members["fleet"].insert("late");
  jobs_->thing_joined_group("late", "fleet");
  jobs_->tick();
  EXPECT_EQ(status("job1", "late"), execution_status::queued);
  fleet_.members["fleet"].erase("dev2");
  jobs_->thing_left_group("dev2", "fleet");
  EXPECT_EQ(status("job1", "dev2"), execution_status::removed);
  EXPECT_EQ(details().removed, 1);
  for (auto t : {"dev1", "dev3", "dev4", "dev5", "late"}) ASSERT_TRUE(update(t, execution_status::succeeded));
  EXPECT_EQ(job_state(), job_status::in_progress);  // a continuous job never completes
  // A thing in a sub-group counts as a member.
  fleet_.members["sub"].insert("deep");
  fleet_.parent["sub"] = "fleet";
  fleet_.things.insert("deep");
  jobs_->thing_joined_group("deep", "sub");
  jobs_->tick();
  EXPECT_EQ(status("job1", "deep"), execution_status::queued);
  // Targets can be added to a continuous job only.
  auto added = jobs_->associate_targets("job1", {thing_arn("dev2")}, std::nullopt);
  ASSERT_TRUE(added) << added.error().message;
  create(job_for({thing_arn("dev1")}, "snap"));
  auto refused = jobs_->associate_targets("snap", {thing_arn("dev2")}, std::nullopt);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, make_error_code(errc::invalid_request));
}

TEST_F(engine_test, a_snapshot_job_ignores_later_members) {
  create(job_for({group_arn("fleet")}));
  fleet_.things.insert("late");
  fleet_.members["fleet"].insert("late");
  jobs_->thing_joined_group("late", "fleet");
  jobs_->tick();
  EXPECT_EQ(executions(), 5);
}

TEST_F(engine_test, cancel_and_delete_follow_the_rules) {
  create(job_for({group_arn("fleet")}));
  jobs_->tick();
  ASSERT_TRUE(start_next("dev1"));
  ASSERT_TRUE(update("dev2", execution_status::succeeded));

  // Executions.
  cancel_execution_request ce{"job1", "dev1", false, std::nullopt, std::nullopt};
  auto in_progress = jobs_->cancel_execution(ce);
  ASSERT_FALSE(in_progress);
  EXPECT_EQ(in_progress.error().code, make_error_code(errc::invalid_state_transition));
  ce.expected_version = 1;
  ce.force = true;
  auto stale = jobs_->cancel_execution(ce);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, make_error_code(errc::version_conflict));
  ce.expected_version = 2;
  ASSERT_TRUE(jobs_->cancel_execution(ce));
  EXPECT_EQ(status("job1", "dev1"), execution_status::canceled);
  cancel_execution_request done{"job1", "dev2", true, std::nullopt, std::nullopt};
  auto terminal = jobs_->cancel_execution(done);
  ASSERT_FALSE(terminal);
  EXPECT_EQ(terminal.error().code, make_error_code(errc::invalid_state_transition));
  auto pending_delete = jobs_->delete_execution("job1", "dev3", 1, false);
  ASSERT_FALSE(pending_delete);
  EXPECT_EQ(pending_delete.error().code, make_error_code(errc::invalid_state_transition));
  ASSERT_TRUE(jobs_->delete_execution("job1", "dev2", 1, false));
  EXPECT_EQ(details().succeeded, 0);

  // The job.
  auto not_forced = jobs_->delete_job("job1", false);
  ASSERT_FALSE(not_forced);
  EXPECT_EQ(not_forced.error().code, make_error_code(errc::invalid_state_transition));
  ASSERT_TRUE(start_next("dev3"));
  auto canceled = jobs_->cancel_job({"job1", std::string("FW_RECALL"), std::string("bad build"), false});
  ASSERT_TRUE(canceled) << canceled.error().message;
  EXPECT_EQ(canceled->status, job_status::canceled);
  EXPECT_EQ(canceled->reason_code, "FW_RECALL");
  EXPECT_EQ(status("job1", "dev3"), execution_status::in_progress);
  EXPECT_EQ(status("job1", "dev4"), execution_status::canceled);
  auto again = jobs_->cancel_job({"job1", std::nullopt, std::nullopt, false});
  ASSERT_FALSE(again);
  ASSERT_TRUE(jobs_->cancel_job({"job1", std::nullopt, std::nullopt, true}));
  EXPECT_EQ(status("job1", "dev3"), execution_status::canceled);
  ASSERT_TRUE(jobs_->delete_job("job1", false));
  EXPECT_EQ(job_state(), job_status::deletion_in_progress);
  jobs_->tick();
  auto gone = jobs_->describe_job("job1");
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, make_error_code(errc::not_found));
  // The id can be used again.
  create(job_for({thing_arn("dev1")}));

  create(job_for({thing_arn("dev1")}, "complete-me"));
  jobs_->tick();
  ASSERT_TRUE(update("dev1", execution_status::succeeded, std::nullopt, "complete-me"));
  auto completed = jobs_->cancel_job({"complete-me", std::nullopt, std::nullopt, false});
  ASSERT_FALSE(completed);
  EXPECT_EQ(completed.error().code, make_error_code(errc::invalid_request));
}

TEST_F(engine_test, bad_configurations_are_refused_and_nothing_is_stored) {
  auto expect_invalid = [&](create_job_request r, errc code = errc::invalid_request) {
    auto j = jobs_->create_job(r);
    ASSERT_FALSE(j) << r.job_id;
    EXPECT_EQ(j.error().code, make_error_code(code)) << j.error().message;
    EXPECT_FALSE(jobs_->describe_job(r.job_id));
  };
  auto base = job_for({group_arn("fleet")});
  auto r = base;
  r.job_id = "bad.id";
  expect_invalid(r);
  r = base;
  r.config.rollout = rollout_config{1001, std::nullopt};
  expect_invalid(r);
  r = base;
  r.config.rollout = rollout_config{0, std::nullopt};
  expect_invalid(r);
  r = base;
  r.config.rollout = rollout_config{std::nullopt, exponential_rate{5, 6.0, {5, std::nullopt}}};
  expect_invalid(r);
  r = base;
  r.config.rollout = rollout_config{std::nullopt, exponential_rate{5, 1.0, {5, std::nullopt}}};
  expect_invalid(r);
  r = base;
  r.config.abort = std::vector<abort_criterion>{{failure_type::failed, "CANCEL", 100.5, 1}};
  expect_invalid(r);
  r = base;
  r.config.retry = std::vector<retry_criterion>{{failure_type::failed, 11}};
  expect_invalid(r);
  r = base;
  r.config.in_progress_timeout_minutes = 10081;
  expect_invalid(r);
  r = base;
  r.config.document = "{\"x\":\"" + std::string(32768, 'a') + "\"}";
  expect_invalid(r);
  r = base;
  r.config.document = "not json";
  expect_invalid(r);
  r = base;
  r.targets = {group_arn("nope")};
  expect_invalid(r, errc::not_found);
  r = base;
  r.targets = {"arn:aws:iot:us-east-1:123456789012:policy/p"};
  expect_invalid(r);
  create(base);
  auto twice = jobs_->create_job(base);
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().code, make_error_code(errc::already_exists));
}

TEST_F(engine_test, the_operator_may_raise_the_rate_ceiling) {
  reopen();
  jobs_.reset();
  engine_settings s;
  s.account_id = account;
  s.region = "us-east-1";
  s.token_secret = "k";
  s.max_rate_per_minute = 100000;
  jobs_ = std::make_unique<engine>(*store_, fleet_, clock_, s);
  auto r = job_for({group_arn("fleet")});
  r.config.rollout = rollout_config{50000, std::nullopt};
  EXPECT_TRUE(jobs_->create_job(r));
}

TEST_F(engine_test, templates_supply_what_a_job_leaves_out) {
  job_config c;
  c.description = "firmware";
  c.document = R"({"operation":"firmwareUpdate"})";
  c.in_progress_timeout_minutes = 30;
  auto t = jobs_->create_template("fw", c, std::nullopt);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->arn, "arn:aws:iot:us-east-1:123456789012:jobtemplate/fw");
  auto taken = jobs_->create_template("fw", c, std::nullopt);
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().code, make_error_code(errc::conflict));
  create_job_request r;
  r.job_id = "from-template";
  r.targets = {thing_arn("dev1")};
  r.template_arn = t->arn;
  auto j = create(r);
  EXPECT_EQ(j.config.document, c.document);
  EXPECT_EQ(j.config.in_progress_timeout_minutes, 30);
  EXPECT_EQ(j.template_arn, t->arn);
  auto listed = jobs_->list_templates(std::nullopt, std::nullopt);
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->items.size(), 1u);
  ASSERT_TRUE(jobs_->delete_template("fw"));
  EXPECT_FALSE(jobs_->describe_template("fw"));
}

TEST_F(engine_test, documents_get_fresh_presigned_urls_when_devices_read_them) {
  fake_presigner presigner;
  jobs_->set_presigner(&presigner);
  auto r = job_for({thing_arn("dev1")});
  r.config.document = R"({"url":"${aws:iot:s3-presigned-url:https://s3.amazonaws.com/b/fw.bin}"})";
  r.config.presigned_url = presigned_url_config{std::string("arn:aws:iam::1:role/r"), 600};
  create(r);
  jobs_->tick();
  auto stored = jobs_->job_document("job1");
  ASSERT_TRUE(stored);
  EXPECT_NE(stored->find("${aws:iot:s3-presigned-url:"), std::string::npos);  // GetJobDocument keeps it
  auto started = start_next("dev1");
  ASSERT_TRUE(started && started->document);
  EXPECT_EQ(*started->document,
            R"({"url":"https://airfleet.test/presigned?u=https://s3.amazonaws.com/b/fw.bin&e=600&n=1"})");
  auto again = jobs_->describe_for_device("job1", "dev1", std::nullopt, true);
  ASSERT_TRUE(again && *again && (*again)->document);
  EXPECT_NE((*again)->document->find("&n=2"), std::string::npos);
}

TEST_F(engine_test, listing_pages_and_filters) {
  for (int i = 0; i < 5; ++i) create(job_for({thing_arn("dev1")}, "j" + std::to_string(i)));
  auto g = job_for({group_arn("fleet")}, "grouped");
  g.selection = target_selection::continuous;
  create(g);
  list_jobs_request r;
  r.max_results = 2;
  std::vector<std::string> seen;
  while (true) {
    auto p = jobs_->list_jobs(r);
    ASSERT_TRUE(p) << p.error().message;
    for (const auto& j : p->items) seen.push_back(j.id);
    if (!p->next_token) break;
    r.next_token = p->next_token;
  }
  EXPECT_EQ(seen.size(), 6u);
  list_jobs_request by_group;
  by_group.thing_group_name = "fleet";
  auto grouped = jobs_->list_jobs(by_group);
  ASSERT_TRUE(grouped);
  ASSERT_EQ(grouped->items.size(), 1u);
  EXPECT_EQ(grouped->items[0].id, "grouped");
  list_jobs_request continuous;
  continuous.selection = target_selection::continuous;
  EXPECT_EQ(jobs_->list_jobs(continuous)->items.size(), 1u);
  list_jobs_request forged;
  forged.next_token = "garbage";
  EXPECT_FALSE(jobs_->list_jobs(forged));

  jobs_->tick();
  list_executions_request by_thing;
  by_thing.key = "dev1";
  by_thing.status = execution_status::queued;
  auto mine = jobs_->list_executions_for_thing(by_thing);
  ASSERT_TRUE(mine);
  EXPECT_EQ(mine->items.size(), 6u);
}

TEST_F(engine_test, events_describe_each_change_after_it_is_durable) {
  create(job_for({thing_arn("dev1")}));
  jobs_->tick();
  ASSERT_TRUE(start_next("dev1"));
  ASSERT_TRUE(update("dev1", execution_status::succeeded));
  std::vector<std::pair<std::optional<execution_status>, execution_status>> seen;
  bool completed = false;
  for (const auto& e : take_events()) {
    if (auto* x = std::get_if<execution_event>(&e)) seen.emplace_back(x->previous, x->state.status);
    if (auto* j = std::get_if<job_event>(&e)) completed |= j->what == job_event::kind::completed;
  }
  using s = execution_status;
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], (std::pair<std::optional<s>, s>{std::nullopt, s::queued}));
  EXPECT_EQ(seen[1], (std::pair<std::optional<s>, s>{s::queued, s::in_progress}));
  EXPECT_EQ(seen[2], (std::pair<std::optional<s>, s>{s::in_progress, s::succeeded}));
  EXPECT_TRUE(completed);
  // A refused change emits nothing.
  EXPECT_FALSE(update("dev1", execution_status::failed));
  EXPECT_TRUE(take_events().empty());
}

TEST_F(engine_test, a_deleted_thing_leaves_no_pending_execution_behind) {
  create(job_for({thing_arn("dev1"), thing_arn("dev2")}));
  jobs_->tick();
  ASSERT_TRUE(start_next("dev1"));
  fleet_.things.erase("dev1");
  for (auto& [g, m] : fleet_.members) m.erase("dev1");
  jobs_->thing_deleted("dev1");
  EXPECT_EQ(status("job1", "dev1"), execution_status::removed);
  ASSERT_TRUE(update("dev2", execution_status::succeeded));
  EXPECT_EQ(job_state(), job_status::completed);
}

}  // namespace
}  // namespace airfleet::jobs

namespace airfleet::jobs {
namespace {

TEST_F(engine_test, counters_stay_exact_when_refused_and_accepted_changes_share_a_commit_group) {
  for (int i = 6; i <= 200; ++i) {
    fleet_.things.insert("dev" + std::to_string(i));
    fleet_.members["fleet"].insert("dev" + std::to_string(i));
  }
  create(job_for({group_arn("fleet")}));
  jobs_->tick();
  std::mutex mutex;
  std::condition_variable cv;
  int pending = 0, accepted = 0, refused = 0;
  auto done = [&](bool ok) {
    std::lock_guard lock(mutex);
    (ok ? accepted : refused)++;
    --pending;
    cv.notify_all();
  };
  // Each thing asks twice to start at version 1: the second ask must fail
  // (VersionConflict) while the first, often in the same commit group, moves
  // the job's counters; the counters must be exact in memory and on disk.
  for (int i = 1; i <= 200; ++i) {
    for (int twice = 0; twice < 2; ++twice) {
      update_execution_request r;
      r.job_id = "job1";
      r.thing_name = "dev" + std::to_string(i);
      r.status = execution_status::in_progress;
      r.expected_version = 1;
      {
        std::lock_guard lock(mutex);
        ++pending;
      }
      jobs_->update_execution_async(r, [&](core::result<execution_with_document> out) { done(out.has_value()); });
    }
  }
  {
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return pending == 0; });
  }
  EXPECT_EQ(accepted, 200);
  EXPECT_EQ(refused, 200);
  EXPECT_EQ(details().in_progress, 200);
  EXPECT_EQ(details().queued, 0);
  reopen();  // what was committed, not what a cache remembers
  EXPECT_EQ(details().in_progress, 200);
  EXPECT_EQ(details().queued, 0);
  for (int i = 1; i <= 200; ++i) ASSERT_TRUE(update("dev" + std::to_string(i), execution_status::succeeded));
  EXPECT_EQ(job_state(), job_status::completed);
}

}  // namespace
}  // namespace airfleet::jobs

namespace airfleet::jobs {
namespace {

TEST_F(engine_test, a_timeout_and_a_rollout_of_one_job_in_the_same_pass_both_count) {
  auto r = job_for({group_arn("fleet")});
  r.config.rollout = rollout_config{1, std::nullopt};
  r.config.in_progress_timeout_minutes = 1;
  create(r);
  jobs_->tick();
  ASSERT_TRUE(start_next("dev1"));
  clock_.advance(60s);  // dev1's deadline and the next rollout window, in one pass
  jobs_->tick();
  EXPECT_EQ(status("job1", "dev1"), execution_status::timed_out);
  EXPECT_EQ(executions(), 2);
  reopen();
  auto d = details();
  EXPECT_EQ(d.timed_out, 1);
  EXPECT_EQ(d.queued, 1);
  EXPECT_EQ(d.in_progress, 0);
}

}  // namespace
}  // namespace airfleet::jobs

namespace airfleet::jobs {
namespace {

// A job larger than one scheduler pass, with devices answering between
// passes: each pass builds on the counters the devices moved. (When a pass and
// a device's answer share one commit group, the pass reads a job row older
// than the writer's copy; that case is pinned down deterministically by
// a_timeout_and_a_rollout_of_one_job_in_the_same_pass_both_count.)
TEST_F(engine_test, a_job_larger_than_one_pass_keeps_exact_counts_while_devices_answer) {
  jobs_.reset();
  engine_settings s;
  s.account_id = account;
  s.region = "us-east-1";
  s.token_secret = "k";
  s.tick_batch = 2;
  jobs_ = std::make_unique<engine>(*store_, fleet_, clock_, s);
  create(job_for({group_arn("fleet")}));
  jobs_->tick();  // dev1, dev2
  ASSERT_TRUE(start_next("dev1"));
  ASSERT_TRUE(update("dev2", execution_status::succeeded));
  jobs_->tick();  // dev3, dev4
  ASSERT_TRUE(start_next("dev3"));
  jobs_->tick();  // dev5
  for (auto t : {"dev1", "dev3", "dev4", "dev5"}) ASSERT_TRUE(update(t, execution_status::succeeded));
  EXPECT_EQ(job_state(), job_status::completed);
  EXPECT_EQ(details().succeeded, 5);
  EXPECT_EQ(details().queued + details().in_progress, 0);
}

}  // namespace
}  // namespace airfleet::jobs
