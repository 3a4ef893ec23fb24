// Jobs engine throughput with the real SQLite store (WAL, synchronous=FULL,
// group commit): how many durable execution transitions per second the
// engine commits when many devices report at once.
//
//   jobs_bench [--things N] [--inflight K] [--dir DIR] [--start-next]
//
// It creates a job for N things (no rollout cap), lets the scheduler roll
// them all out (reported as executions created per second), then drives every
// execution QUEUED -> IN_PROGRESS -> SUCCEEDED with at most K changes waiting
// for their commit at any time (K devices talking at once), and reports
// transitions per second, the number of fsyncs' worth of groups, and checks
// that the job ended COMPLETED with N succeeded. --start-next uses
// StartNextPendingJobExecution (which also finds the thing's next pending
// execution) for the first transition instead of UpdateJobExecution.
#include "jobs/engine.hpp"
#include "storage/database.hpp"
#include "storage/schema.hpp"
#include "storage/sqlite_jobs_store.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <unistd.h>
#include <vector>

using namespace airfleet;

namespace {

class one_group_fleet final : public jobs::fleet {
 public:
  explicit one_group_fleet(int n) {
    for (int i = 0; i < n; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "device-%07d", i);
      things_.emplace_back(name);
    }
  }
  core::result<bool> thing_exists(const std::string&) override { return true; }
  core::result<bool> group_exists(const std::string& g) override { return g == "fleet"; }
  core::result<std::vector<std::string>> things_in_group_tree(const std::string&) override { return things_; }
  core::result<std::vector<std::string>> group_trees_of_thing(const std::string&) override {
    return std::vector<std::string>{"fleet"};
  }
  const std::vector<std::string>& things() const { return things_; }

 private:
  std::vector<std::string> things_;
};

// At most `limit` operations waiting at once.
class window {
 public:
  explicit window(int limit) : limit_(limit) {}
  void acquire() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return open_ < limit_; });
    ++open_;
  }
  void release() {
    std::lock_guard lock(mutex_);
    --open_;
    cv_.notify_all();
  }
  void drain() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return open_ == 0; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  int limit_;
  int open_ = 0;  // guarded by mutex_
};

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  int things = 100000;
  int inflight = 2000;
  bool use_start_next = false;
  std::string dir = std::filesystem::temp_directory_path() / ("airfleet-jobs-bench-" + std::to_string(::getpid()));
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--things" && i + 1 < argc) things = std::atoi(argv[++i]);
    else if (a == "--inflight" && i + 1 < argc) inflight = std::atoi(argv[++i]);
    else if (a == "--dir" && i + 1 < argc) dir = argv[++i];
    else if (a == "--start-next") use_start_next = true;
    else {
      std::fprintf(stderr, "usage: jobs_bench [--things N] [--inflight K] [--dir DIR] [--start-next]\n");
      return 2;
    }
  }
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  storage::database::options opts;
  opts.path = dir + "/jobs.db";
  auto db = storage::database::open(opts, storage::schema_migrations());
  if (!db) {
    std::fprintf(stderr, "cannot open the database: %s\n", db.error().message.c_str());
    return 1;
  }
  storage::sqlite_jobs_store store(**db);
  one_group_fleet fleet(things);
  core::system_clock clock;
  jobs::engine_settings settings;
  settings.account_id = "123456789012";
  settings.region = "us-east-1";
  settings.token_secret = "bench";
  settings.tick_batch = 10000;
  jobs::engine engine(store, fleet, clock, settings);

  jobs::create_job_request request;
  request.job_id = "bench";
  request.targets = {"arn:aws:iot:us-east-1:123456789012:thinggroup/fleet"};
  request.config.document = R"({"operation":"firmwareUpdate","firmwareVersion":"v2"})";
  auto create_start = std::chrono::steady_clock::now();
  auto created = engine.create_job(request);
  if (!created) {
    std::fprintf(stderr, "create_job: %s\n", created.error().message.c_str());
    return 1;
  }
  double create_s = seconds_since(create_start);
  auto rollout_start = std::chrono::steady_clock::now();
  while (engine.tick()) {
  }
  double rollout_s = seconds_since(rollout_start);

  window w(inflight);
  std::atomic<int> failures{0};
  auto transitions_start = std::chrono::steady_clock::now();
  for (const auto& thing : fleet.things()) {
    w.acquire();
    auto finish = [&engine, &w, &failures, thing](bool ok) {
      if (!ok) {
        ++failures;
        w.release();
        return;
      }
      jobs::update_execution_request done;
      done.job_id = "bench";
      done.thing_name = thing;
      done.status = jobs::execution_status::succeeded;
      done.status_details = jobs::details_map{{"step", "done"}, {"newVersion", "v2"}};
      engine.update_execution_async(std::move(done), [&w, &failures](core::result<jobs::execution_with_document> r) {
        if (!r) ++failures;
        w.release();
      });
    };
    if (use_start_next) {
      jobs::start_next_request start;
      start.thing_name = thing;
      start.step_timeout_minutes = 10;
      engine.start_next_async(std::move(start), [finish](auto r) { finish(r && *r); });
    } else {
      jobs::update_execution_request start;
      start.job_id = "bench";
      start.thing_name = thing;
      start.status = jobs::execution_status::in_progress;
      start.step_timeout_minutes = 10;
      engine.update_execution_async(std::move(start), [finish](auto r) { finish(r.has_value()); });
    }
  }
  w.drain();
  double transitions_s = seconds_since(transitions_start);

  auto job = engine.describe_job("bench");
  bool ok = job && job->status == jobs::job_status::completed && job->details.succeeded == things && failures == 0;
  std::printf(
      "{\"things\":%d,\"inflight\":%d,\"first_transition\":\"%s\",\"create_job_s\":%.3f,"
      "\"rollout_executions_per_s\":%.0f,\"transitions\":%d,\"transitions_s\":%.3f,\"transitions_per_s\":%.0f,"
      "\"job_status\":\"%s\",\"succeeded\":%lld,\"failures\":%d}\n",
      things, inflight, use_start_next ? "start_next" : "update", create_s, things / rollout_s, 2 * things,
      transitions_s, 2 * things / transitions_s, job ? std::string(jobs::to_string(job->status)).c_str() : "?",
      job ? static_cast<long long>(job->details.succeeded) : -1LL, failures.load());
  (*db)->close();
  std::filesystem::remove_all(dir);
  return ok ? 0 : 1;
}
