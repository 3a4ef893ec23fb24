// The job runner against fakes: a jobs service that keeps the execution's
// status and version the way the server does, a downloader serving bytes
// from memory (resuming from the part file's size), and scripted commands.
// A crash is an exception thrown at a named checkpoint; "restarting" is a
// new runner over the same state directory, reading the journal back.
#include "agent/job_runner.hpp"

#include "agent/jobs_protocol.hpp"
#include "agent/test_support.hpp"
#include "core/crypto.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <deque>

namespace airfleet::agent {
namespace {

using testing::scratch_dir;
using testing::slurp;
using testing::spill;

struct crash {
  std::string point;
};

// The server's side of one execution.
class fake_service final : public job_reporter {
 public:
  std::string status = "IN_PROGRESS";
  std::int64_t version = 2;
  std::vector<std::string> steps;  // statusDetails.step of each accepted progress report
  int outcomes_accepted = 0;
  int outcome_requests = 0;
  std::optional<job_outcome> final_outcome;
  bool offline = false;
  std::optional<boost::json::object> fresh_document;

  report_result progress(job_record& job, const details_map& details, std::optional<int> step_timeout) override {
    if (offline) return report_result::unanswered;
    if (jobs_protocol::is_terminal(status)) return report_result::gone;
    // A stale expectedVersion: the real client adopts the server's and resends.
    EXPECT_TRUE(step_timeout.has_value());
    job.version_number = ++version;
    steps.push_back(details.at("step"));
    return report_result::accepted;
  }

  report_result outcome(job_record& job) override {
    ++outcome_requests;
    if (jobs_protocol::is_terminal(status)) return report_result::gone;
    status = job.outcome->status;
    job.version_number = ++version;
    final_outcome = job.outcome;
    ++outcomes_accepted;
    return report_result::accepted;
  }

  std::optional<boost::json::object> refresh_document(const job_record&) override { return fresh_document; }
};

// Serves `image` from memory, appending to the part file from its size.
class fake_downloader final : public downloader {
 public:
  std::string image;
  std::optional<std::uint64_t> crash_after;  // throw after writing this many bytes of the image
  std::vector<std::uint64_t> offsets;        // where each fetch started
  std::vector<std::string> urls;
  std::deque<long> failures;  // HTTP statuses to fail with first

  download_result fetch(const std::string& url, const std::filesystem::path& part,
                        const std::function<bool(const download_progress&)>& on_progress) override {
    urls.push_back(url);
    download_result r;
    auto offset = std::filesystem::exists(part) ? std::filesystem::file_size(part) : 0;
    offsets.push_back(offset);
    r.resumed = offset > 0;
    if (!failures.empty()) {
      r.http_status = failures.front();
      r.error = "HTTP " + std::to_string(failures.front());
      failures.pop_front();
      return r;
    }
    std::string content = offset <= image.size() ? slurp(part) + image.substr(offset) : image;
    if (crash_after && *crash_after > offset && *crash_after < image.size()) {
      spill(part, content.substr(0, *crash_after));
      crash_after.reset();
      throw crash{"download"};
    }
    spill(part, content);
    if (!on_progress(download_progress{content.size(), content.size()})) {
      r.outcome = download_result::status::interrupted;
      return r;
    }
    r.outcome = download_result::status::complete;
    r.http_status = offset > 0 ? 206 : 200;
    return r;
  }
};

class fake_commands final : public command_runner {
 public:
  std::deque<int> health_results;  // exit codes, in order; then 0
  int reboot_result = 0;
  std::vector<std::string> ran;

  command_result run(const std::string& command, const std::map<std::string, std::string>& env) override {
    ran.push_back(command);
    EXPECT_EQ(env.count("AIRFLEET_SLOT"), 1u);
    if (command == "reboot") return {false, reboot_result, {}};
    int code = 0;
    if (!health_results.empty()) {
      code = health_results.front();
      health_results.pop_front();
    }
    return {false, code, {}};
  }
  int count(const std::string& command) const { return static_cast<int>(std::count(ran.begin(), ran.end(), command)); }
};

class JobRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = state_dir::open(dir.path());
    ASSERT_TRUE(opened);
    state.emplace(std::move(*opened));
    old_image = std::string(4096, 'o');
    spill(state->image_path("a"), old_image);
    ASSERT_TRUE(state->set_version("2.0.0"));
    image.resize(200 * 1024);
    for (std::size_t i = 0; i < image.size(); ++i) image[i] = static_cast<char>((i * 7919) % 256);
    download.image = image;
  }

  boost::json::object document(const std::string& checksum, int max_attempts = 1,
                               const std::string& operation = "firmwareUpdate") {
    return boost::json::object{{"operation", operation},
                               {"firmwareVersion", "2.1.0"},
                               {"downloadUrl", "http://server/fw.bin?sig=1"},
                               {"checksumAlgorithm", "SHA256"},
                               {"checksum", checksum},
                               {"rollbackInstructions", {{"enabled", true}, {"maxAttempts", max_attempts}}},
                               {"timeoutConfig", {{"stepTimeoutInMinutes", 10}}}};
  }

  // A new execution, journaled as the agent does on start-next.
  void receive(boost::json::object doc) {
    job_record r;
    r.job_id = "fw-job";
    r.execution_number = 1;
    r.version_number = service.version;
    r.document = std::move(doc);
    ASSERT_TRUE(state->save_journal(r));
  }

  // Runs the journal's job; crashes at the `crash_at`-th checkpoint when given.
  // Returns the checkpoints passed.
  std::vector<std::string> run(std::optional<int> crash_at = std::nullopt, run_status* status = nullptr) {
    std::vector<std::string> passed;
    runner_hooks hooks;
    hooks.checkpoint = [&](std::string_view point) {
      passed.emplace_back(point);
      if (crash_at && static_cast<int>(passed.size()) == *crash_at) throw crash{std::string(point)};
    };
    runner_settings settings;
    settings.health_check = "health";
    settings.reboot_command = reboot ? "reboot" : "";
    job_runner runner(*state, service, download, commands, clock, settings, hooks);
    auto journal = state->load_journal();
    EXPECT_TRUE(journal && *journal);
    if (!journal || !*journal) return passed;
    try {
      auto s = runner.run(**journal);
      if (status) *status = s;
    } catch (const crash&) {
    }
    return passed;
  }

  std::string active() { return *state->active_slot(); }
  std::string version() { return state->version()->value_or(""); }

  scratch_dir dir;
  std::optional<state_dir> state;
  fake_service service;
  fake_downloader download;
  fake_commands commands;
  core::manual_clock clock{core::time_point{}};
  std::string image;
  std::string old_image;
  bool reboot = true;
};

TEST_F(JobRunnerTest, InstallsIntoTheOtherSlotAndCommits) {
  receive(document(core::sha256_hex(image), 1));
  run_status status{};
  run(std::nullopt, &status);
  EXPECT_EQ(status, run_status::finished);
  EXPECT_EQ(active(), "b");
  EXPECT_TRUE(slurp(state->image_path("b")) == image);
  EXPECT_TRUE(slurp(state->image_path("a")) == old_image);
  EXPECT_EQ(version(), "2.1.0");
  ASSERT_TRUE(service.final_outcome);
  EXPECT_EQ(service.final_outcome->status, "SUCCEEDED");
  EXPECT_EQ(service.final_outcome->status_details.at("newVersion"), "2.1.0");
  EXPECT_EQ(service.outcomes_accepted, 1);
  EXPECT_EQ(service.steps,
            (std::vector<std::string>{"downloading", "verifying", "installing", "rebooting", "health-check"}));
  EXPECT_EQ(commands.count("reboot"), 1);
  EXPECT_EQ(commands.count("health"), 1);
  EXPECT_FALSE(*state->load_journal());
  EXPECT_FALSE(std::filesystem::exists(state->download_path()));
}

TEST_F(JobRunnerTest, AChecksumMismatchInstallsNothing) {
  receive(document(std::string(64, '0')));
  run();
  ASSERT_TRUE(service.final_outcome);
  EXPECT_EQ(service.final_outcome->status, "FAILED");
  EXPECT_EQ(service.final_outcome->status_details.at("reason").rfind("checksum mismatch", 0), 0u)
      << service.final_outcome->status_details.at("reason");
  EXPECT_EQ(service.final_outcome->status_details.at("version"), "2.0.0");
  EXPECT_EQ(service.final_outcome->status_details.at("activeSlot"), "a");
  EXPECT_EQ(active(), "a");
  EXPECT_EQ(version(), "2.0.0");
  EXPECT_FALSE(std::filesystem::exists(state->image_path("b")));
  EXPECT_FALSE(std::filesystem::exists(state->download_path()));
  EXPECT_TRUE(commands.ran.empty());
}

TEST_F(JobRunnerTest, RejectsAnUnknownOperation) {
  receive(document(core::sha256_hex(image), 1, "factoryReset"));
  run();
  ASSERT_TRUE(service.final_outcome);
  EXPECT_EQ(service.final_outcome->status, "REJECTED");
  EXPECT_EQ(service.final_outcome->status_details.at("reason"), "unsupported operation 'factoryReset'");
  EXPECT_TRUE(download.urls.empty());
  EXPECT_EQ(active(), "a");
}

TEST_F(JobRunnerTest, AFailedHealthCheckRollsBack) {
  commands.health_results = {1};
  receive(document(core::sha256_hex(image), 1));
  run();
  ASSERT_TRUE(service.final_outcome);
  EXPECT_EQ(service.final_outcome->status, "FAILED");
  const auto& details = service.final_outcome->status_details;
  EXPECT_NE(details.at("reason").find("health check exited with status 1"), std::string::npos) << details.at("reason");
  EXPECT_EQ(details.at("step"), "health-check");
  EXPECT_EQ(details.at("attempts"), "1");
  EXPECT_EQ(details.at("version"), "2.0.0");
  EXPECT_EQ(active(), "a");
  EXPECT_EQ(version(), "2.0.0");
}

TEST_F(JobRunnerTest, HonoursMaxAttempts) {
  commands.health_results = {1, 1};  // then healthy
  receive(document(core::sha256_hex(image), 3));
  run();
  ASSERT_TRUE(service.final_outcome);
  EXPECT_EQ(service.final_outcome->status, "SUCCEEDED");
  EXPECT_EQ(service.final_outcome->status_details.at("attempts"), "3");
  EXPECT_EQ(commands.count("health"), 3);
  EXPECT_EQ(commands.count("reboot"), 3);
  EXPECT_EQ(active(), "b");
}

TEST_F(JobRunnerTest, GivesUpAfterMaxAttempts) {
  commands.health_results = {1, 1, 1, 1};
  receive(document(core::sha256_hex(image), 3));
  run();
  ASSERT_TRUE(service.final_outcome);
  EXPECT_EQ(service.final_outcome->status, "FAILED");
  EXPECT_EQ(service.final_outcome->status_details.at("attempts"), "3");
  EXPECT_EQ(commands.count("health"), 3);
  EXPECT_EQ(active(), "a");
  EXPECT_EQ(version(), "2.0.0");
}

TEST_F(JobRunnerTest, AFailingRebootCommandCountsAsAFailedAttempt) {
  commands.reboot_result = 3;
  receive(document(core::sha256_hex(image), 1));
  run();
  ASSERT_TRUE(service.final_outcome);
  EXPECT_EQ(service.final_outcome->status, "FAILED");
  EXPECT_NE(service.final_outcome->status_details.at("reason").find("reboot command exited with status 3"),
            std::string::npos);
  EXPECT_EQ(commands.count("health"), 0);
  EXPECT_EQ(active(), "a");
}

TEST_F(JobRunnerTest, ResumesAKilledDownload) {
  download.crash_after = image.size() / 3;
  receive(document(core::sha256_hex(image), 1));
  run();
  EXPECT_EQ((*state->load_journal())->step, job_step::downloading);
  EXPECT_EQ(std::filesystem::file_size(state->download_path()), image.size() / 3);
  run();
  EXPECT_EQ(download.offsets, (std::vector<std::uint64_t>{0, image.size() / 3}));
  ASSERT_TRUE(service.final_outcome);
  EXPECT_EQ(service.final_outcome->status, "SUCCEEDED");
  EXPECT_TRUE(slurp(state->image_path("b")) == image);
}

TEST_F(JobRunnerTest, RestartsADownloadWhosePartWasStale) {
  receive(document(core::sha256_hex(image), 1));
  // Left over from a different image: resuming gives garbage, so the runner
  // starts over once.
  auto journal = **state->load_journal();
  journal.step = job_step::downloading;
  ASSERT_TRUE(state->save_journal(journal));
  spill(state->download_path(), std::string(1000, 'x'));
  run();
  EXPECT_EQ(download.offsets, (std::vector<std::uint64_t>{1000, 0}));
  ASSERT_TRUE(service.final_outcome);
  EXPECT_EQ(service.final_outcome->status, "SUCCEEDED");
}

TEST_F(JobRunnerTest, AnExpiredLinkIsRefreshedOnce) {
  download.failures = {403};
  receive(document(core::sha256_hex(image), 1));
  auto fresh = document(core::sha256_hex(image), 1);
  fresh["downloadUrl"] = "http://server/fw.bin?sig=2";
  service.fresh_document = fresh;
  run();
  EXPECT_EQ(download.urls, (std::vector<std::string>{"http://server/fw.bin?sig=1", "http://server/fw.bin?sig=2"}));
  ASSERT_TRUE(service.final_outcome);
  EXPECT_EQ(service.final_outcome->status, "SUCCEEDED");
}

TEST_F(JobRunnerTest, ADownloadThatFailsIsReported) {
  download.failures = {404};
  receive(document(core::sha256_hex(image), 1));
  run();
  ASSERT_TRUE(service.final_outcome);
  EXPECT_EQ(service.final_outcome->status, "FAILED");
  EXPECT_EQ(service.final_outcome->status_details.at("reason"), "download failed: HTTP 404");
  EXPECT_EQ(active(), "a");
}

TEST_F(JobRunnerTest, DropsAJobTheServerEndedBeforeTheInstall) {
  service.status = "CANCELED";
  receive(document(core::sha256_hex(image), 1));
  run_status status{};
  run(std::nullopt, &status);
  EXPECT_EQ(status, run_status::dropped);
  EXPECT_FALSE(*state->load_journal());
  EXPECT_FALSE(service.final_outcome);
  EXPECT_EQ(active(), "a");
  EXPECT_FALSE(std::filesystem::exists(state->image_path("b")));
}

TEST_F(JobRunnerTest, KeepsTheOutcomeWhileOffline) {
  receive(document(core::sha256_hex(image), 1));
  service.offline = true;  // progress unanswered; the outcome still waits for delivery
  run();
  EXPECT_EQ(service.outcomes_accepted, 1);
  EXPECT_EQ(active(), "b");
}

// A crash at every checkpoint of a whole job, then a restart: the device
// ends in the same state as without the crash, and the server hears the
// outcome exactly once.
struct crash_case {
  const char* name;
  std::deque<int> health;
  int max_attempts;
  const char* status;
  const char* active;
  const char* version;
};

class JobRunnerCrashTest : public JobRunnerTest, public ::testing::WithParamInterface<crash_case> {};

TEST_P(JobRunnerCrashTest, EveryCheckpointRecovers) {
  const auto& c = GetParam();
  // How many checkpoints a run without crashes passes.
  int total = 0;
  {
    scratch_dir probe_dir;
    auto probe_state = state_dir::open(probe_dir.path());
    ASSERT_TRUE(probe_state);
    fake_service probe_service;
    fake_commands probe_commands;
    probe_commands.health_results = c.health;
    runner_settings settings;
    settings.health_check = "health";
    settings.reboot_command = "reboot";
    runner_hooks hooks;
    hooks.checkpoint = [&](std::string_view) { ++total; };
    job_runner runner(*probe_state, probe_service, download, probe_commands, clock, settings, hooks);
    job_record r;
    r.job_id = "probe";
    r.execution_number = 1;
    r.version_number = 2;
    r.document = document(core::sha256_hex(image), c.max_attempts);
    ASSERT_TRUE(probe_state->save_journal(r));
    runner.run(r);
    download.offsets.clear();
    download.urls.clear();
  }
  ASSERT_GT(total, 5);

  for (int crash_at = 1; crash_at <= total; ++crash_at) {
    SCOPED_TRACE("crash at checkpoint " + std::to_string(crash_at));
    scratch_dir fresh;
    auto opened = state_dir::open(fresh.path());
    ASSERT_TRUE(opened);
    state.emplace(std::move(*opened));
    spill(state->image_path("a"), old_image);
    ASSERT_TRUE(state->set_version("2.0.0"));
    service = fake_service{};
    commands = fake_commands{};
    commands.health_results = c.health;
    receive(document(core::sha256_hex(image), c.max_attempts));

    auto passed = run(crash_at);
    ASSERT_EQ(static_cast<int>(passed.size()), crash_at) << "the crash did not happen";
    if (*state->load_journal()) run();  // the restart

    EXPECT_FALSE(*state->load_journal());
    EXPECT_EQ(service.outcomes_accepted, 1);
    ASSERT_TRUE(service.final_outcome);
    EXPECT_EQ(service.final_outcome->status, c.status);
    EXPECT_EQ(active(), c.active);
    EXPECT_EQ(version(), c.version);
    EXPECT_LE(commands.count("reboot"), c.max_attempts + 1);
    if (std::string(c.status) == "SUCCEEDED") {
      EXPECT_TRUE(slurp(state->image_path("b")) == image);
    }
    state.reset();
  }
}

INSTANTIATE_TEST_SUITE_P(Jobs, JobRunnerCrashTest,
                         ::testing::Values(crash_case{"healthy", {}, 1, "SUCCEEDED", "b", "2.1.0"},
                                           crash_case{"unhealthy", {1, 1, 1, 1, 1, 1, 1, 1}, 1, "FAILED", "a", "2.0.0"},
                                           crash_case{"retried", {1}, 2, "SUCCEEDED", "b", "2.1.0"}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace airfleet::agent
