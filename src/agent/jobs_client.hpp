// The jobs service as the agent's main thread sees it: requests on the
// Jobs MQTT API (jobs_protocol.hpp) sent through the mqtt_link, each waited
// for by its clientToken, with the link's events handled while waiting.
//
// One request is outstanding at a time. When the link comes back up while a
// request waits, the same request (same clientToken) is sent again: a
// request that did reach the server before the drop is answered as a
// duplicate would be (VersionMismatch carrying the state it produced), which
// jobs_protocol's rules read correctly.
//
// Single-threaded: everything here runs on the main thread; only the
// event_queue is shared with the network thread.
#pragma once

#include "agent/event_queue.hpp"
#include "agent/job_runner.hpp"
#include "agent/mqtt_link.hpp"

#include <boost/json/object.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>

namespace airfleet::agent {

struct jobs_client_settings {
  std::chrono::milliseconds answer_timeout{10000};
  std::chrono::milliseconds progress_timeout{5000};
  std::chrono::milliseconds retry_initial{1000};
  std::chrono::milliseconds retry_maximum{30000};
};

class jobs_client final : public job_reporter {
 public:
  jobs_client(mqtt_link& link, event_queue& events, std::string thing, jobs_client_settings settings,
              std::function<bool()> stopping);

  bool online() const { return online_; }
  // Handles link events for up to `timeout` (returns early when one arrives).
  void wait(std::chrono::milliseconds timeout);
  // Waits until online, stopping, or `timeout`.
  bool wait_online(std::chrono::milliseconds timeout);
  // True (once) when the agent should ask start-next: the link came up, or a
  // notify-next announced an execution.
  bool take_work_hint();
  void want_work() { work_hint_ = true; }
  // Handles link events for `delay` (a backoff that still keeps up with the link).
  void pause(std::chrono::milliseconds delay);

  struct start_next_answer {
    bool accepted = false;
    std::optional<job_record> job;  // accepted with an execution
    std::string error;              // rejected, or an execution the agent cannot read
  };
  // nullopt: offline or unanswered.
  std::optional<start_next_answer> start_next(std::optional<int> step_timeout_minutes);

  // job_reporter
  report_result progress(job_record& job, const details_map& details, std::optional<int> step_timeout) override;
  report_result outcome(job_record& job) override;
  std::optional<boost::json::object> refresh_document(const job_record& job) override;

 private:
  struct answer {
    bool accepted = false;
    boost::json::object body;
  };
  struct outstanding {
    std::string topic;
    std::string payload;
    std::string token;
  };

  std::optional<answer> call(const std::string& suffix, boost::json::object body, std::chrono::milliseconds timeout,
                             bool wait_for_link);
  void handle(link_event e);
  // <jobId>/get: the execution's state; gone when the server says it is over.
  report_result describe(job_record& job, std::optional<boost::json::object>* document);
  std::string next_token();

  mqtt_link& link_;
  event_queue& events_;
  std::string thing_;
  jobs_client_settings settings_;
  std::function<bool()> stopping_;
  bool online_ = false;
  bool work_hint_ = false;
  std::optional<outstanding> outstanding_;
  std::optional<answer> answer_;
  std::string token_prefix_;
  std::uint64_t token_counter_ = 0;
};

}  // namespace airfleet::agent
