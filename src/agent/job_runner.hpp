// The job runner: carries one firmware job from "received" to an outcome the
// server has acknowledged, one journaled step at a time.
//
// ## Steps and what a restart does in each
//
// Every step is journaled (journal.hpp) before its side effects, and every
// step can be redone from the start after a crash:
//
//   received     parse the document. Not a firmwareUpdate the agent can
//                carry out -> outcome REJECTED {reason}. Otherwise drop any
//                stale download.part and go on to downloading.
//   downloading  fetch downloadUrl into download.part, resuming from its
//                size with a Range request (a restart resumes the same way).
//                A 403 (an expired presigned link) fetches the document
//                again for a fresh link, once. Then hash the file: a
//                mismatch after a resumed download restarts it from byte 0
//                once (the part may be stale); a mismatch of a whole
//                download -> FAILED {reason: "checksum mismatch ..."}, with
//                nothing installed.
//   verified     record previous = the active slot, target = the other one;
//                copy the image into the target slot (atomically); then
//                journal "installed" with both slots and attempt 1, and drop
//                download.part.
//   installed    point `active` at the target slot; journal
//                "installed-unconfirmed"; run the reboot command, if any.
//                (A real reboot kills the agent here; on restart the journal
//                says installed-unconfirmed, so it health-checks rather than
//                rebooting again.)
//   installed-unconfirmed
//                make sure `active` is the target; run the health check (none
//                given = healthy). Healthy -> write STATE/version and the
//                outcome SUCCEEDED {newVersion}. Unhealthy (or a failed
//                reboot command) -> if attempts remain, journal "installed"
//                with attempt + 1 and switch back to the previous slot, then
//                try again; otherwise journal FAILED {reason} and switch back.
//   reporting    make sure `active` is right for the outcome (FAILED: the
//                previous slot), then deliver the outcome with the
//                expectedVersion last confirmed by the server. Only once the
//                server acknowledged it (or showed it already has a terminal
//                status) is the journal removed.
//
// Because the journal is written before the switch and the switch is redone
// on resume, `active` can never be left pointing at an image whose outcome
// the journal does not know.
//
// ## The server's side
//
// Progress goes out as IN_PROGRESS with statusDetails {step, progress} and
// the document's stepTimeoutInMinutes. A progress report is best effort
// (offline, it is skipped); if the server says the execution is over
// (canceled, timed out, deleted) before anything was installed, the job is
// dropped; after the install has begun, the runner finishes the local
// transaction (commit or roll back) first, and the outcome's rejection then
// counts as delivered.
#pragma once

#include "agent/firmware_document.hpp"
#include "agent/journal.hpp"
#include "agent/state_dir.hpp"
#include "core/time.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace airfleet::agent {

enum class report_result {
  accepted,    // the server took it (job.version_number is updated)
  unanswered,  // offline or no answer in time
  gone,        // the server says the execution is over (terminal, or deleted)
};

// What the runner needs from the jobs service (jobs_client implements it over MQTT).
class job_reporter {
 public:
  virtual ~job_reporter() = default;
  // Status IN_PROGRESS with these details, expectedVersion = job.version_number.
  virtual report_result progress(job_record& job, const details_map& details,
                                 std::optional<int> step_timeout_minutes) = 0;
  // Delivers job.outcome; returns accepted or gone once the server has it, and
  // unanswered only when the agent is stopping.
  virtual report_result outcome(job_record& job) = 0;
  // The execution's document as the server has it now (fresh presigned links).
  virtual std::optional<boost::json::object> refresh_document(const job_record& job) = 0;
};

struct download_progress {
  std::uint64_t bytes = 0;             // in the part file so far
  std::optional<std::uint64_t> total;  // the whole image, when known
};

struct download_result {
  enum class status { complete, failed, interrupted } outcome = status::failed;
  long http_status = 0;  // the last response's status (0: none)
  bool resumed = false;  // the part file was not empty when the download began
  std::string error;     // for failed
};

class downloader {
 public:
  virtual ~downloader() = default;
  // Fetches `url` into `part`, continuing from its current size. on_progress
  // is called as bytes arrive and returns false to stop (-> interrupted).
  virtual download_result fetch(const std::string& url, const std::filesystem::path& part,
                                const std::function<bool(const download_progress&)>& on_progress) = 0;
};

struct command_result {
  bool interrupted = false;  // the agent is stopping; the command's result is unknown
  int exit_code = 0;         // 0 = success; 128 + n for a signal n; 127 not found
  std::string error;         // could not be started
};

class command_runner {
 public:
  virtual ~command_runner() = default;
  // /bin/sh -c command, with these variables added to the environment.
  virtual command_result run(const std::string& command, const std::map<std::string, std::string>& environment) = 0;
};

struct runner_settings {
  std::string health_check;    // empty: healthy
  std::string reboot_command;  // empty: none
  int default_step_timeout_minutes = 10;
  // Download progress is reported at most this often.
  std::chrono::milliseconds progress_interval{2000};
};

struct runner_hooks {
  // Called after each durable change with its name (tests throw here to
  // simulate a crash at that point).
  std::function<void(std::string_view point)> checkpoint;
  // True when the agent is asked to stop.
  std::function<bool()> stopping;
};

enum class run_status {
  finished,     // the outcome was delivered; the journal is gone
  dropped,      // the server ended the execution before the install; the journal is gone
  interrupted,  // stopping, or the state directory failed: the journal says where to resume
};

class job_runner {
 public:
  job_runner(state_dir& state, job_reporter& reporter, downloader& download, command_runner& commands,
             const core::clock& clock, runner_settings settings, runner_hooks hooks = {});

  // Runs `job` from its journaled step to the end (the journal must already hold it).
  run_status run(job_record& job);

 private:
  enum class next { proceed, stop_interrupted, stop_dropped };

  next step_received(job_record& job);
  next step_downloading(job_record& job);
  next step_verified(job_record& job);
  next step_installed(job_record& job);
  next step_unconfirmed(job_record& job);
  run_status step_reporting(job_record& job);

  bool save(const job_record& job, std::string_view point);
  void checkpoint(std::string_view point);
  bool stopping() const;
  // A progress report. `gone` only while the job can still be dropped (before
  // the install); afterwards the runner carries on and `gone` reads as accepted.
  report_result report(job_record& job, std::string_view step, std::string_view progress, details_map extra = {});
  next finish(job_record& job, std::string status, details_map details);
  next attempt_failed(job_record& job, std::string_view failed_step, std::string reason);
  next drop(job_record& job);
  bool ensure_active(const std::string& slot);
  std::map<std::string, std::string> command_environment(const job_record& job) const;
  std::optional<int> step_timeout(const job_record& job) const;

  state_dir& state_;
  job_reporter& reporter_;
  downloader& download_;
  command_runner& commands_;
  const core::clock& clock_;
  runner_settings settings_;
  runner_hooks hooks_;
};

// A download percentage as the statusDetails "progress" value ("42%").
std::string percent_text(std::uint64_t bytes, std::optional<std::uint64_t> total);

}  // namespace airfleet::agent
