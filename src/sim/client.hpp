// One simulated MQTT client of the load generator: a session (session.hpp:
// connection, states, reader and writer) that publishes, subscribes, or both.
//
// Once told to publish, the writer sends as many PUBLISH packets as flow
// control allows, everything ready going out in one write of at most
// max_batch_bytes. Only one write is outstanding at a time: a QoS 0
// publisher is never more than one batch plus the kernel's socket buffer
// ahead of the broker, and a QoS 1 publisher never has more than --inflight
// (or the broker's Receive Maximum, if less) unacknowledged. On top of that a
// publisher keeps at most the scoreboard's window of messages on their way
// end to end (scoreboard.hpp says why). A subscriber acknowledges QoS 1
// messages and checks each against the publishers' stamps.
//
// Every method but the accessors posts to the strand, so the coordinator may
// call them from anywhere. The client must outlive the io_context's run().
#pragma once

#include "mqtt/packets.hpp"
#include "sim/scoreboard.hpp"
#include "sim/sequence_tracker.hpp"
#include "sim/session.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace airfleet::sim {

// What a client publishes, when it is a publisher.
struct publish_plan {
  std::string topic;
  mqtt::qos qos = mqtt::qos::at_most_once;
  std::size_t payload_size = 1024;  // at least payload_stamp_size
  std::uint32_t publisher_index = 0;
  std::uint16_t inflight = 16;  // QoS 1: unacknowledged PUBLISH at most
  double rate = 0;              // messages per second, 0 = as fast as flow control allows
};

// What a client subscribes to, when it is a subscriber.
struct subscribe_plan {
  std::string filter;
  mqtt::qos qos = mqtt::qos::at_most_once;
  std::uint32_t subscriber_index = 0;
  std::size_t payload_size = 1024;  // what every message of the run must measure
};

struct client_config : session_config {
  std::optional<publish_plan> publish;
  std::optional<subscribe_plan> subscribe;
};

class client : public session {
 public:
  // Largest write the client puts together from what is ready to go.
  static constexpr std::size_t max_batch_bytes = 64 * 1024;
  // A publisher whose window stays full with no message of its arriving
  // anywhere for this long writes the outstanding ones off (scoreboard.hpp).
  static constexpr std::chrono::seconds window_stall{2};

  client(boost::asio::any_io_executor strand, tls_client* tls, client_config config, scoreboard& board);

  void start_publishing();
  void stop_publishing();
  // A publisher looks at its end-to-end window again (scoreboard.hpp).
  void wake();

  // Per publisher, what this subscriber received. Read only after the
  // io_context stopped running.
  const std::unordered_map<std::uint32_t, sequence_tracker>& trackers() const { return trackers_; }

 private:
  std::vector<mqtt::subscription> subscriptions() const override;
  std::string grant_problem(std::size_t i, mqtt::reason_code granted) const override;
  void on_connack_accepted(const mqtt::connack_packet& p) override;
  void on_publish(const mqtt::publish_packet& p) override;
  void on_puback(const mqtt::puback_packet& p) override;
  void fill_out() override;
  bool may_sleep() override;
  clock::time_point wakeup_at() const override;
  void on_wake() override;
  void on_ending() override { publishing_ = false; }
  void check_window_stall();

  // Fixed at construction.
  std::optional<publish_plan> publish_plan_;
  std::optional<subscribe_plan> subscribe_plan_;
  scoreboard& board_;

  // Everything below is touched on the strand only.
  // Publisher state.
  bool publishing_ = false;
  mqtt::packet publish_;  // the PUBLISH re-stamped for each message
  std::uint64_t sequence_ = 0;
  clock::time_point publish_started_{};
  double rate_ = 0;                   // per second, 0 = unlimited
  std::uint16_t inflight_limit_ = 0;  // QoS 1: min(--inflight, the broker's Receive Maximum)
  bool window_blocked_ = false;         // the end-to-end window is full
  clock::time_point window_checked_{};  // when progress was last seen to move while blocked
  std::uint64_t window_progress_ = 0;   // the progress seen then

  // Subscriber state.
  mqtt::packet puback_ = mqtt::puback_packet{};
  std::unordered_map<std::uint32_t, sequence_tracker> trackers_;
};

}  // namespace airfleet::sim
