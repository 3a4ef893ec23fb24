// The journal: what the agent is doing, written before it does it.
//
// One job at a time is in flight on a device, and STATE/job.json records it:
// the execution (job id, execution number, the version the server last
// confirmed), its document as the server sent it, and the step reached. The
// file is replaced atomically (files.hpp) each time the step changes, always
// *before* the step's side effects begin, so after a kill or a power cut the
// agent reads where it was and redoes the step; every step is written so that
// doing it twice is the same as doing it once (see job_runner.hpp).
//
// No journal means no job in flight. The journal is removed only after the
// server acknowledged the outcome (or told us it already has one).
#pragma once

#include "core/error.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace airfleet::agent {

// The steps of a firmware job, in order. `reporting` is entered from any
// step once the outcome is known.
enum class job_step {
  received,     // the execution is ours; nothing done yet
  downloading,  // STATE/download.part holds the bytes fetched so far
  verified,     // download.part holds the image and its checksum matched
  installed,    // the image is in the target slot; the active slot may not point at it yet
  unconfirmed,  // the target slot is active (and the reboot command ran or is running): health check pending
  reporting,    // the outcome is decided and final on the device; the server has not acknowledged it yet
};

std::string_view to_string(job_step s);
std::optional<job_step> parse_job_step(std::string_view text);

using details_map = std::map<std::string, std::string>;

struct job_outcome {
  std::string status;  // SUCCEEDED, FAILED or REJECTED
  details_map status_details;
};

struct job_record {
  std::string job_id;
  std::int64_t execution_number = 0;
  // The execution's version as last confirmed by the server: the
  // expectedVersion of the next update.
  std::int64_t version_number = 0;
  boost::json::object document;
  job_step step = job_step::received;
  // Install attempts so far (1-based once installing).
  int attempt = 0;
  std::string previous_slot;  // active before the install ("a" or "b")
  std::string target_slot;    // the slot the image goes into
  // The download was restarted from byte 0 after a resumed download failed
  // its checksum; a second mismatch is final.
  bool restarted_download = false;
  std::string last_failure;  // why the last attempt failed (for the log and the outcome)
  std::optional<job_outcome> outcome;
};

std::string to_json(const job_record& record);
// An error (corrupt_state) when the text is not a journal this agent wrote.
core::result<job_record> job_record_from_json(std::string_view text);

}  // namespace airfleet::agent
