// One simulated device working through IoT jobs over MQTT, as the AWS
// device SDKs' jobs sample does (notes: aws-wire-format.md section 7).
//
//   idle -> connecting -> awaiting_connack -> subscribing -> ready -> closing -> closed
//   any state before closing -> failed (connect error, timeout, refusal,
//                                       broken stream, connection lost)
//
// Once connected (client id = thing name) the device subscribes, QoS 1 and in
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
// broker sends at QoS 1 is acknowledged. Reads and writes work as in
// client.hpp: two coroutines on the device's strand, one write outstanding,
// everything queued meanwhile going out in the next write. Every method posts
// to the strand; the device must outlive the io_context's run().
#pragma once

#include "mqtt/codec.hpp"
#include "mqtt/packets.hpp"
#include "sim/latency_histogram.hpp"
#include "sim/transport.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace airfleet::sim {

// What all devices of a run report, read by the coordinator while they run.
// Relaxed atomics: the sums are for progress reports and, once every device
// has finished, for the final counts.
struct jobs_tally {
  // Connections.
  std::atomic<std::uint64_t> connected{0};  // CONNACK accepted
  std::atomic<std::uint64_t> ready{0};      // SUBACK granted all five filters at QoS 1
  std::atomic<std::uint64_t> failed{0};     // ended by an error before it was asked to disconnect
  std::atomic<std::uint64_t> finished{0};   // both of its coroutines are done

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

  void note_error(const std::string& message) {
    std::lock_guard lock(mutex_);
    if (first_error_.empty()) first_error_ = message;
  }
  void note_rejection(const std::string& message) {
    std::lock_guard lock(mutex_);
    if (first_rejection_.empty()) first_rejection_ = message;
  }
  std::string first_error() const {
    std::lock_guard lock(mutex_);
    return first_error_;
  }
  std::string first_rejection() const {
    std::lock_guard lock(mutex_);
    return first_rejection_;
  }

 private:
  mutable std::mutex mutex_;  // guards the two strings
  std::string first_error_;
  std::string first_rejection_;
};

struct jobs_device_config {
  std::string thing;  // client id and thing name
  std::uint8_t protocol_level = mqtt::protocol_level_3_1_1;
  std::uint16_t keep_alive = 300;  // seconds, 0 = off
  std::uint64_t index = 0;         // picks the client certificate when there are several
  std::chrono::milliseconds connect_timeout{30000};
  bool start_next_on_connect = false;
  bool client_tokens = false;  // send {"clientToken": "<thing>-<n>"} and expect it back
};

enum class jobs_device_state : std::uint8_t {
  idle,
  connecting,        // TCP connect and TLS handshake
  awaiting_connack,  // CONNECT sent
  subscribing,       // SUBSCRIBE sent
  ready,
  closing,  // DISCONNECT queued
  closed,
  failed,
};

class jobs_device {
 public:
  jobs_device(boost::asio::any_io_executor strand, tls_client* tls, jobs_device_config config, jobs_tally& tally);
  jobs_device(const jobs_device&) = delete;
  jobs_device& operator=(const jobs_device&) = delete;

  void start(const boost::asio::ip::tcp::endpoint& broker, std::optional<boost::asio::ip::address> source);
  // Sends DISCONNECT and closes; a device not connected yet just closes.
  void disconnect();

  jobs_device_state state() const { return state_.load(std::memory_order_relaxed); }
  // update/accepted received; read once the io_context has stopped.
  std::uint64_t succeeded() const { return succeeded_; }

 private:
  using clock = std::chrono::steady_clock;

  boost::asio::awaitable<void> run(boost::asio::ip::tcp::endpoint broker,
                                   std::optional<boost::asio::ip::address> source);
  boost::asio::awaitable<void> read_loop();
  boost::asio::awaitable<void> write_loop();
  void handle(mqtt::packet& p);
  void on_connack(const mqtt::connack_packet& p);
  void on_suback(const mqtt::suback_packet& p);
  void on_publish(const mqtt::publish_packet& p);
  void on_puback(const mqtt::puback_packet& p);
  void on_notify_next(std::string_view payload);
  void on_start_next_accepted(std::string_view payload);
  void on_update_accepted(std::string_view job_id);
  void on_rejected(std::string_view what, std::string_view payload);
  void request_start_next();
  void request(const std::string& topic, std::string payload);
  void become_idle();
  void queue(const mqtt::packet& p);
  void notify_writer();
  void become(jobs_device_state next);
  void fail(const std::string& why);
  void close();
  void loop_done();
  void report_exception(std::exception_ptr e);

  // Fixed at construction.
  boost::asio::any_io_executor strand_;
  jobs_device_config config_;
  jobs_tally& tally_;
  std::string prefix_;  // $aws/things/<thing>/jobs/
  std::string notify_next_topic_;
  std::string start_next_topic_;
  std::string start_next_accepted_topic_;
  std::string start_next_rejected_topic_;

  // Everything below is touched on strand_ only, except state_.
  std::atomic<jobs_device_state> state_{jobs_device_state::idle};  // written on the strand, read anywhere
  transport transport_;
  mqtt::frame_reader frames_;
  std::vector<std::uint8_t> out_;       // queued bytes not yet handed to a write
  boost::asio::steady_timer wake_;      // the writer sleeps on it; cancel() wakes it
  boost::asio::steady_timer deadline_;  // connect_timeout
  bool writer_waiting_ = false;
  bool closed_ = false;
  bool disconnect_queued_ = false;
  int loops_running_ = 0;
  clock::time_point last_write_{};
  std::uint16_t keep_alive_ = 0;

  // The jobs conversation.
  std::uint16_t next_packet_id_ = 1;
  std::vector<std::uint16_t> inflight_;  // our QoS 1 requests awaiting PUBACK (a handful at most)
  bool start_next_outstanding_ = false;
  std::string working_on_;             // job id of the update on its way; empty when none
  bool recheck_ = false;               // another job was announced while busy: ask start-next once idle
  std::string recheck_job_;            // ... this one
  clock::time_point recheck_since_{};  // ... at this time
  bool seen_execution_ = false;        // a notify-next naming an execution has arrived
  std::unordered_set<std::string> finished_jobs_;  // update/accepted received for these
  std::optional<clock::time_point> notified_at_;   // notify-next that started the current execution
  std::uint64_t requests_ = 0;                     // numbers the client tokens
  std::uint64_t succeeded_ = 0;
};

}  // namespace airfleet::sim
