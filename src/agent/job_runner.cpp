#include "agent/job_runner.hpp"

#include "agent/files.hpp"
#include "core/strings.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace airfleet::agent {

namespace {

// statusDetails values are 1..1024 characters on the wire.
constexpr std::size_t max_detail_chars = 1000;

std::string clip(std::string text) {
  if (text.size() > max_detail_chars) text = text.substr(0, max_detail_chars - 3) + "...";
  for (auto& c : text)
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  return text;
}

// Overall progress of an update, as "progress" in statusDetails: the
// download is the first 60%, the steps after it the rest.
constexpr int download_share = 60;
constexpr std::string_view progress_verifying = "65%";
constexpr std::string_view progress_installing = "75%";
constexpr std::string_view progress_rebooting = "80%";
constexpr std::string_view progress_health_check = "90%";
constexpr std::string_view progress_done = "100%";

std::string overall_download_progress(std::uint64_t bytes, std::optional<std::uint64_t> total) {
  if (!total || *total == 0) return "0%";
  auto share = std::min<std::uint64_t>(bytes, *total) * download_share / *total;
  return std::to_string(share) + "%";
}

std::string describe_exit(const command_result& r) {
  if (!r.error.empty()) return r.error;
  if (r.exit_code > 128) return "was killed by signal " + std::to_string(r.exit_code - 128);
  return "exited with status " + std::to_string(r.exit_code);
}

}  // namespace

std::string percent_text(std::uint64_t bytes, std::optional<std::uint64_t> total) {
  if (!total || *total == 0) return "0%";
  return std::to_string(std::min<std::uint64_t>(bytes, *total) * 100 / *total) + "%";
}

job_runner::job_runner(state_dir& state, job_reporter& reporter, downloader& download, command_runner& commands,
                       const core::clock& clock, runner_settings settings, runner_hooks hooks)
    : state_(state),
      reporter_(reporter),
      download_(download),
      commands_(commands),
      clock_(clock),
      settings_(std::move(settings)),
      hooks_(std::move(hooks)) {}

run_status job_runner::run(job_record& job) {
  for (;;) {
    if (job.step != job_step::reporting && stopping()) return run_status::interrupted;
    next n = next::proceed;
    switch (job.step) {
      case job_step::received: n = step_received(job); break;
      case job_step::downloading: n = step_downloading(job); break;
      case job_step::verified: n = step_verified(job); break;
      case job_step::installed: n = step_installed(job); break;
      case job_step::unconfirmed: n = step_unconfirmed(job); break;
      case job_step::reporting: return step_reporting(job);
    }
    if (n == next::stop_interrupted) return run_status::interrupted;
    if (n == next::stop_dropped) return run_status::dropped;
  }
}

// ---- steps ------------------------------------------------------------------------

job_runner::next job_runner::step_received(job_record& job) {
  auto update = parse_firmware_document(job.document);
  if (!update) {
    spdlog::warn("job {}: rejecting it: {}", job.job_id, update.error().message);
    return finish(job, "REJECTED", {{"reason", update.error().message}});
  }
  spdlog::info("job {}: firmware {} from {}", job.job_id, update->version,
               update->url.substr(0, update->url.find('?')));
  state_.remove_download();
  job.step = job_step::downloading;
  return save(job, "downloading") ? next::proceed : next::stop_interrupted;
}

job_runner::next job_runner::step_downloading(job_record& job) {
  auto update = parse_firmware_document(job.document);
  if (!update) return finish(job, "REJECTED", {{"reason", update.error().message}});
  auto part = state_.download_path();
  auto offset = file_size_or_zero(part);
  if (offset > 0)
    spdlog::info("job {}: resuming the download at byte {}", job.job_id, offset);
  else
    spdlog::info("job {}: downloading", job.job_id);
  if (report(job, "downloading", "0%") == report_result::gone) return drop(job);

  bool gone = false;
  auto last_report = clock_.now();
  std::string last_progress;
  auto on_progress = [&](const download_progress& p) {
    if (stopping()) return false;
    auto now = clock_.now();
    auto text = overall_download_progress(p.bytes, p.total);
    if (now - last_report >= settings_.progress_interval && text != last_progress) {
      last_report = now;
      last_progress = text;
      details_map extra{{"downloaded", percent_text(p.bytes, p.total)}};
      if (report(job, "downloading", text, std::move(extra)) == report_result::gone) {
        gone = true;
        return false;
      }
    }
    return true;
  };

  auto result = download_.fetch(update->url, part, on_progress);
  if (gone) return drop(job);
  if (result.outcome == download_result::status::interrupted) return next::stop_interrupted;
  if (result.outcome == download_result::status::failed && result.http_status == 403) {
    // An expired presigned link: the server mints a fresh one with the document.
    if (auto fresh = reporter_.refresh_document(job); fresh && *fresh != job.document) {
      spdlog::info("job {}: the download link was refused (403); retrying with a fresh link", job.job_id);
      job.document = std::move(*fresh);
      if (!save(job, "document-refreshed")) return next::stop_interrupted;
      if (auto again = parse_firmware_document(job.document); again)
        result = download_.fetch(again->url, part, on_progress);
      if (gone) return drop(job);
      if (result.outcome == download_result::status::interrupted) return next::stop_interrupted;
    }
  }
  if (result.outcome == download_result::status::failed) {
    state_.remove_download();
    return finish(job, "FAILED", {{"step", "downloading"}, {"reason", clip("download failed: " + result.error)}});
  }

  if (report(job, "verifying", progress_verifying) == report_result::gone) return drop(job);
  auto digest = sha256_file(part);
  if (!digest) {
    spdlog::error("job {}: cannot hash the download: {}", job.job_id, digest.error().message);
    return next::stop_interrupted;
  }
  if (!core::iequals(*digest, update->checksum)) {
    state_.remove_download();
    if ((result.resumed || offset > 0) && !job.restarted_download) {
      spdlog::warn("job {}: checksum mismatch after a resumed download; downloading again from the start", job.job_id);
      job.restarted_download = true;
      return save(job, "download-restarted") ? next::proceed : next::stop_interrupted;
    }
    spdlog::error("job {}: checksum mismatch: expected {}, got {}", job.job_id, update->checksum, *digest);
    return finish(
        job, "FAILED",
        {{"step", "verifying"}, {"reason", "checksum mismatch: expected " + update->checksum + ", got " + *digest}});
  }
  spdlog::info("job {}: checksum verified ({} bytes)", job.job_id, file_size_or_zero(part));
  job.step = job_step::verified;
  return save(job, "verified") ? next::proceed : next::stop_interrupted;
}

job_runner::next job_runner::step_verified(job_record& job) {
  if (report(job, "installing", progress_installing) == report_result::gone) return drop(job);
  auto active = state_.active_slot();
  if (!active) {
    spdlog::error("job {}: {}", job.job_id, active.error().message);
    return next::stop_interrupted;
  }
  auto target = state_dir::other_slot(*active);
  spdlog::info("job {}: installing into slot {} (slot {} is active)", job.job_id, target, *active);
  if (auto r = state_.install_image(target, state_.download_path()); !r) {
    spdlog::error("job {}: cannot install: {}", job.job_id, r.error().message);
    return finish(job, "FAILED", {{"step", "installing"}, {"reason", clip("cannot install: " + r.error().message)}});
  }
  checkpoint("image-written");
  job.previous_slot = *active;
  job.target_slot = target;
  job.attempt = 1;
  job.step = job_step::installed;
  if (!save(job, "installed")) return next::stop_interrupted;
  state_.remove_download();
  return next::proceed;
}

job_runner::next job_runner::step_installed(job_record& job) {
  auto update = parse_firmware_document(job.document);
  int max_attempts = update ? update->max_attempts : 1;
  if (!ensure_active(job.target_slot)) return next::stop_interrupted;
  spdlog::info("job {}: slot {} is active (attempt {} of {})", job.job_id, job.target_slot, job.attempt, max_attempts);
  job.step = job_step::unconfirmed;
  if (!save(job, "unconfirmed")) return next::stop_interrupted;
  if (settings_.reboot_command.empty()) return next::proceed;

  report(job, "rebooting", progress_rebooting);
  spdlog::info("job {}: running the reboot command", job.job_id);
  auto r = commands_.run(settings_.reboot_command, command_environment(job));
  if (r.interrupted) return next::stop_interrupted;
  if (!r.error.empty() || r.exit_code != 0)
    return attempt_failed(job, "rebooting", "the reboot command " + describe_exit(r));
  checkpoint("rebooted");
  return next::proceed;
}

job_runner::next job_runner::step_unconfirmed(job_record& job) {
  if (!ensure_active(job.target_slot)) return next::stop_interrupted;
  auto update = parse_firmware_document(job.document);
  if (!update) return finish(job, "REJECTED", {{"reason", update.error().message}});
  report(job, "health-check", progress_health_check, {{"attempt", std::to_string(job.attempt)}});
  if (!settings_.health_check.empty()) {
    spdlog::info("job {}: running the health check", job.job_id);
    auto r = commands_.run(settings_.health_check, command_environment(job));
    if (r.interrupted) return next::stop_interrupted;
    if (!r.error.empty() || r.exit_code != 0)
      return attempt_failed(job, "health-check", "the health check " + describe_exit(r));
  }
  spdlog::info("job {}: healthy; committing version {}", job.job_id, update->version);
  if (auto r = state_.set_version(update->version); !r) {
    spdlog::error("job {}: cannot commit: {}", job.job_id, r.error().message);
    return next::stop_interrupted;
  }
  checkpoint("committed");
  return finish(job, "SUCCEEDED",
                {{"step", "completed"},
                 {"progress", std::string(progress_done)},
                 {"newVersion", update->version},
                 {"activeSlot", job.target_slot},
                 {"attempts", std::to_string(job.attempt)}});
}

run_status job_runner::step_reporting(job_record& job) {
  if (job.outcome->status == "FAILED" && !job.previous_slot.empty() && !ensure_active(job.previous_slot))
    return run_status::interrupted;
  spdlog::info("job {}: reporting {} (expectedVersion {})", job.job_id, job.outcome->status, job.version_number);
  auto r = reporter_.outcome(job);
  if (r == report_result::unanswered) return run_status::interrupted;
  checkpoint("delivered");
  if (r == report_result::accepted)
    spdlog::info("job {}: the server accepted {}", job.job_id, job.outcome->status);
  else
    spdlog::info("job {}: the server already has an outcome for it; done", job.job_id);
  state_.remove_journal();
  state_.remove_download();
  return run_status::finished;
}

// ---- helpers ------------------------------------------------------------------------

job_runner::next job_runner::finish(job_record& job, std::string status, details_map details) {
  if (status == "FAILED") {
    // What the device runs now: the version it had, in the slot it had.
    auto version = state_.version();
    if (version && *version) details["version"] = **version;
    if (!job.previous_slot.empty()) {
      details["activeSlot"] = job.previous_slot;
    } else if (auto active = state_.active_slot()) {
      details["activeSlot"] = *active;
    }
  }
  // statusDetails values must be 1..1024 characters without control characters.
  for (auto it = details.begin(); it != details.end();) {
    if (it->second.empty()) {
      it = details.erase(it);
    } else {
      it->second = clip(std::move(it->second));
      ++it;
    }
  }
  job.outcome = job_outcome{std::move(status), std::move(details)};
  job.step = job_step::reporting;
  return save(job, "outcome") ? next::proceed : next::stop_interrupted;
}

job_runner::next job_runner::attempt_failed(job_record& job, std::string_view failed_step, std::string reason) {
  auto update = parse_firmware_document(job.document);
  int max_attempts = update ? update->max_attempts : 1;
  job.last_failure = reason;
  if (job.attempt < max_attempts) {
    spdlog::warn("job {}: attempt {} of {} failed: {}; rolling back to slot {} and trying again", job.job_id,
                 job.attempt, max_attempts, reason, job.previous_slot);
    ++job.attempt;
    job.step = job_step::installed;
    if (!save(job, "retry")) return next::stop_interrupted;
    return ensure_active(job.previous_slot) ? next::proceed : next::stop_interrupted;
  }
  spdlog::error("job {}: {}; rolling back to slot {}", job.job_id, reason, job.previous_slot);
  auto n = finish(job, "FAILED",
                  {{"step", std::string(failed_step)},
                   {"reason", clip(reason + "; rolled back to slot " + job.previous_slot)},
                   {"attempts", std::to_string(job.attempt)}});
  if (n != next::proceed) return n;
  return ensure_active(job.previous_slot) ? next::proceed : next::stop_interrupted;
}

job_runner::next job_runner::drop(job_record& job) {
  spdlog::warn("job {}: the server ended the execution; dropping it", job.job_id);
  state_.remove_download();
  state_.remove_journal();
  return next::stop_dropped;
}

report_result job_runner::report(job_record& job, std::string_view step, std::string_view progress, details_map extra) {
  extra["step"] = std::string(step);
  extra["progress"] = std::string(progress);
  auto r = reporter_.progress(job, extra, step_timeout(job));
  // Before the install the job can simply be dropped; afterwards the local
  // transaction is finished first (see the essay above).
  if (r == report_result::gone && job.step > job_step::verified) return report_result::accepted;
  return r;
}

bool job_runner::ensure_active(const std::string& slot) {
  auto active = state_.active_slot();
  if (active && *active == slot) return true;
  if (auto r = state_.set_active_slot(slot); !r) {
    spdlog::error("cannot switch to slot {}: {}", slot, r.error().message);
    return false;
  }
  spdlog::info("switched the active slot to {}", slot);
  checkpoint("switched-" + slot);
  return true;
}

bool job_runner::save(const job_record& job, std::string_view point) {
  if (auto r = state_.save_journal(job); !r) {
    spdlog::error("job {}: cannot write the journal: {}", job.job_id, r.error().message);
    return false;
  }
  checkpoint(point);
  return true;
}

void job_runner::checkpoint(std::string_view point) {
  if (hooks_.checkpoint) hooks_.checkpoint(point);
}

bool job_runner::stopping() const { return hooks_.stopping && hooks_.stopping(); }

std::map<std::string, std::string> job_runner::command_environment(const job_record& job) const {
  std::map<std::string, std::string> env{{"AIRFLEET_JOB_ID", job.job_id},
                                         {"AIRFLEET_SLOT", job.target_slot},
                                         {"AIRFLEET_PREVIOUS_SLOT", job.previous_slot},
                                         {"AIRFLEET_IMAGE", state_.image_path(job.target_slot).string()},
                                         {"AIRFLEET_ATTEMPT", std::to_string(job.attempt)}};
  if (auto update = parse_firmware_document(job.document)) env["AIRFLEET_FIRMWARE_VERSION"] = update->version;
  return env;
}

std::optional<int> job_runner::step_timeout(const job_record& job) const {
  if (auto update = parse_firmware_document(job.document); update && update->step_timeout_minutes)
    return update->step_timeout_minutes;
  return settings_.default_step_timeout_minutes > 0 ? std::optional<int>(settings_.default_step_timeout_minutes)
                                                    : std::nullopt;
}

}  // namespace airfleet::agent
