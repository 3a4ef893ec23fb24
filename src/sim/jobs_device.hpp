// One simulated device working through IoT jobs over MQTT, as the AWS
// device SDKs' jobs sample does (notes: aws-wire-format.md section 7).
//
// The connection, its states and its reader and writer are a session's
// (session.hpp). Once connected (client id = thing name) the device subscribes, QoS 1 and in
// one SUBSCRIBE, to
//
//   $aws/things/T/jobs/notify-next
//   $aws/things/T/jobs/start-next/accepted     .../start-next/rejected
//   $aws/things/T/jobs/+/update/accepted       .../+/update/rejected
//
// and then plays the device's part of a job:
//
//   notify-next with an execution ──▶ PUBLISH .../start-next  {} or {"clientToken": ...}
//   start-next/accepted with an execution J, versionNumber v
//                                 ──▶ PUBLISH .../J/update
//                                     {"status":"SUCCEEDED","expectedVersion":v,"statusDetails":{"step":"done"}}
//   J/update/accepted             ──▶ counted; the device is idle again
//
// One job at a time, as the sample has it: a notify-next that arrives while a
// start-next or an update is on its way is remembered, not answered, and the
// device asks start-next once more when it is idle again. notify-next is sent
// whenever the thing's next execution changes (QUEUED, then IN_PROGRESS once
// started, then nothing), and those announcements may reach the device after
// the update they describe was accepted; a notify-next naming a job this
// device already finished is stale and ignored, or every device would ask
// start-next once more for nothing.
//
// With start_next_on_connect the device also asks start-next once as soon as
// it is subscribed (the sample's step 4), which picks up an execution that was
// queued before it connected.
//
// Requests are QoS 1 PUBLISH packets with their own packet ids; what the
// broker sends at QoS 1 is acknowledged. Every method posts to the strand;
// the device must outlive the io_context's run().
#pragma once

#include "mqtt/packets.hpp"
#include "sim/connection_tally.hpp"
#include "sim/latency_histogram.hpp"
#include "sim/options.hpp"
#include "sim/session.hpp"

#include <boost/json/object.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace airfleet::sim {

// What all devices of a run report, read by the coordinator while they run.
// Relaxed atomics: the sums are for progress reports and, once every device
// has finished, for the final counts. The connection counters are
// connection_tally's; a device is ready once SUBACK granted all five filters
// at QoS 1.
struct jobs_tally : connection_tally {
  // The jobs protocol.
  std::atomic<std::uint64_t> notify_next_execution{0};  // notify-next naming an execution
  std::atomic<std::uint64_t> notify_next_empty{0};      // notify-next with nothing pending
  std::atomic<std::uint64_t> notify_next_stale{0};      // naming a job this device already finished
  std::atomic<std::uint64_t> start_next_sent{0};
  std::atomic<std::uint64_t> start_next_accepted{0};  // with an execution
  std::atomic<std::uint64_t> start_next_nothing{0};   // accepted, nothing pending
  std::atomic<std::uint64_t> start_next_rejected{0};
  std::atomic<std::uint64_t> update_sent{0};
  std::atomic<std::uint64_t> update_accepted{0};
  std::atomic<std::uint64_t> update_rejected{0};
  std::atomic<std::uint64_t> unreadable{0};       // a reply whose payload lacked what the protocol promises
  std::atomic<std::uint64_t> publish_refused{0};  // PUBACK with a failure reason code (MQTT 5)
  std::atomic<std::uint64_t> foreign{0};          // PUBLISH on a topic we did not subscribe to

  // Steady-clock nanoseconds (0: not yet) and wall-clock milliseconds since
  // the epoch of: the first notify-next naming an execution any device got,
  // the last device's first such notify-next, and the first and last
  // update/accepted.
  std::atomic<std::uint64_t> first_notify_ns{0};
  std::atomic<std::uint64_t> last_first_notify_ns{0};
  std::atomic<std::uint64_t> first_accepted_ns{0};
  std::atomic<std::uint64_t> last_accepted_ns{0};
  std::atomic<std::int64_t> first_notify_wall_ms{0};
  std::atomic<std::int64_t> last_accepted_wall_ms{0};

  // Per execution, from the notify-next that announced it to the device: to
  // start-next/accepted, and to update/accepted. Microseconds.
  latency_histogram notify_to_started;
  latency_histogram notify_to_succeeded;

  void note_rejection(const std::string& message) {
    std::lock_guard lock(mutex_);
    if (first_rejection_.empty()) first_rejection_ = message;
  }
  std::string first_rejection() const {
    std::lock_guard lock(mutex_);
    return first_rejection_;
  }

 private:
  mutable std::mutex mutex_;  // guards first_rejection_
  std::string first_rejection_;
};

// client_id is the thing name.
struct jobs_device_config : session_config {
  bool start_next_on_connect = false;
  bool client_tokens = false;  // send {"clientToken": "<thing>-<n>"} and expect it back
};

// The string member `key` of a reply or document; nullopt (or empty) when
// it is missing or not a string.
std::optional<std::string> string_member(const boost::json::object& o, std::string_view key);
std::string string_or_empty(const boost::json::object& o, std::string_view key);

// Device i of a run: client id (the thing name) <prefix>-<i>, and the
// connection settings of `c`.
jobs_device_config device_config(const connection_options& c, std::size_t i);

class jobs_device : public session {
 public:
  jobs_device(boost::asio::any_io_executor strand, tls_client* tls, jobs_device_config config, jobs_tally& tally);

  // update/accepted for a SUCCEEDED update received; read once the
  // io_context has stopped.
  std::uint64_t succeeded() const { return succeeded_; }

 protected:
  // start-next/accepted handed this device execution `job_id` (now
  // IN_PROGRESS, at `version`). The device works on it until it calls
  // report(), from this call or later on the strand; until then it is busy.
  // By default it succeeds at once.
  virtual void on_execution(const std::string& job_id, std::int64_t version,
                            const boost::json::object& execution);
  // Sends the outcome of the current execution: an update with `status`
  // and `status_details` (a JSON object's text) expecting `expected_version`.
  void report(std::int64_t expected_version, std::string_view status, std::string_view status_details);
  // The server accepted, or rejected, the update report() sent.
  virtual void on_outcome_accepted(const std::string& /*job_id*/, const std::string& /*status*/) {}
  virtual void on_outcome_rejected(const std::string& /*job_id*/, std::string_view /*payload*/) {}
  jobs_tally& tally() { return tally_; }

 private:
  std::vector<mqtt::subscription> subscriptions() const override;
  std::string grant_problem(std::size_t i, mqtt::reason_code granted) const override;
  void on_ready() override;
  void on_publish(const mqtt::publish_packet& p) override;
  void on_puback(const mqtt::puback_packet& p) override;
  void on_notify_next(std::string_view payload);
  void on_start_next_accepted(std::string_view payload);
  void on_update_accepted(std::string_view job_id);
  void on_rejected(std::string_view what, std::string_view payload);
  void request_start_next();
  void request(const std::string& topic, std::string payload);
  void become_idle();

  // Fixed at construction.
  bool start_next_on_connect_;
  bool client_tokens_;
  jobs_tally& tally_;
  std::string prefix_;  // $aws/things/<thing>/jobs/
  std::string notify_next_topic_;
  std::string start_next_topic_;
  std::string start_next_accepted_topic_;
  std::string start_next_rejected_topic_;

  // The jobs conversation, touched on the strand only.
  bool start_next_outstanding_ = false;
  std::string working_on_;             // job id of the update on its way; empty when none
  bool recheck_ = false;               // another job was announced while busy: ask start-next once idle
  std::string recheck_job_;            // ... this one
  clock::time_point recheck_since_{};  // ... at this time
  bool seen_execution_ = false;        // a notify-next naming an execution has arrived
  std::unordered_set<std::string> finished_jobs_;  // update/accepted received for these
  std::optional<clock::time_point> notified_at_;   // notify-next that started the current execution
  std::string reported_status_;                    // of the update on its way
  std::uint64_t requests_ = 0;                     // numbers the client tokens
  std::uint64_t succeeded_ = 0;
};

}  // namespace airfleet::sim
