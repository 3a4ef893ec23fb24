// One simulated MQTT client: a small state machine over one connection.
//
//   idle -> connecting -> awaiting_connack -> subscribing -> ready -> closing -> closed
//                                     \________________________/
//                                       (no subscription: straight to ready)
//   any state before closing -> failed (connect error, timeout, refusal,
//                                       broken stream, connection lost)
//
// Two coroutines on the client's strand share the connection. The reader
// cuts what the broker sends into frames, decodes them with the airfleet
// codec and moves the state on (CONNACK, SUBACK, PUBACK, PUBLISH). The
// writer sends whatever is queued (CONNECT, SUBSCRIBE, PUBACKs, PINGREQ,
// DISCONNECT) and, once told to publish, as many PUBLISH packets as flow
// control allows, everything ready going out in one write of at most
// max_batch_bytes. Only one write is outstanding at a time: a QoS 0
// publisher is never more than one batch plus the kernel's socket buffer
// ahead of the broker, and a QoS 1 publisher never has more than --inflight
// (or the broker's Receive Maximum, if less) unacknowledged. On top of that a
// publisher keeps at most the scoreboard's window of messages on their way
// end to end (scoreboard.hpp says why).
//
// Every method but the accessors posts to the strand (fleet.hpp: a strand of
// its own with several I/O threads, the single-threaded io_context itself
// otherwise), so the coordinator may call them from anywhere. The client must outlive the io_context's run().
#pragma once

#include "mqtt/codec.hpp"
#include "mqtt/packets.hpp"
#include "sim/scoreboard.hpp"
#include "sim/sequence_tracker.hpp"
#include "sim/transport.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
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

struct client_config {
  std::string client_id;
  std::uint8_t protocol_level = mqtt::protocol_level_3_1_1;
  std::uint16_t keep_alive = 60;  // seconds, 0 = off
  std::size_t read_buffer_size = 4096;
  std::uint64_t index = 0;                           // picks the client certificate when there are several
  std::chrono::milliseconds connect_timeout{30000};  // until ready (CONNACK, and SUBACK)
  std::optional<publish_plan> publish;
  std::optional<subscribe_plan> subscribe;
};

enum class client_state : std::uint8_t {
  idle,
  connecting,        // TCP connect and TLS handshake
  awaiting_connack,  // CONNECT sent
  subscribing,       // SUBSCRIBE sent
  ready,
  closing,  // DISCONNECT queued
  closed,
  failed,
};

class client {
 public:
  // Largest write the client puts together from what is ready to go.
  static constexpr std::size_t max_batch_bytes = 64 * 1024;
  // A publisher whose window stays full with no message of its arriving
  // anywhere for this long writes the outstanding ones off (scoreboard.hpp).
  static constexpr std::chrono::seconds window_stall{2};

  client(boost::asio::any_io_executor strand, tls_client* tls, client_config config, scoreboard& board);
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  void start(const boost::asio::ip::tcp::endpoint& broker, std::optional<boost::asio::ip::address> source);
  void start_publishing();
  void stop_publishing();
  // Sends DISCONNECT and closes; a client not connected yet just closes.
  void disconnect();
  // A publisher looks at its end-to-end window again (scoreboard.hpp).
  void wake();

  client_state state() const { return state_.load(std::memory_order_relaxed); }
  const client_config& config() const { return config_; }

  // Per publisher, what this subscriber received. Read only after the
  // io_context stopped running.
  const std::unordered_map<std::uint32_t, sequence_tracker>& trackers() const { return trackers_; }

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
  void fill_publishes();
  bool wait_for_window();
  void check_window_stall();
  clock::time_point next_wakeup() const;
  void queue(const mqtt::packet& p);
  void notify_writer();
  void become(client_state next);
  void fail(const std::string& why);
  void close();
  void loop_done();
  void report_exception(std::exception_ptr e);

  // Fixed at construction.
  boost::asio::any_io_executor strand_;
  client_config config_;
  scoreboard& board_;
  mqtt::codec_limits limits_;

  // Everything below is touched on strand_ only, except state_.
  std::atomic<client_state> state_{client_state::idle};  // written on the strand, read anywhere
  transport transport_;
  mqtt::frame_reader frames_;
  std::vector<std::uint8_t> out_;       // queued bytes not yet handed to a write
  boost::asio::steady_timer wake_;      // the writer sleeps on it; cancel() wakes it
  boost::asio::steady_timer deadline_;  // connect_timeout
  bool writer_waiting_ = false;
  bool closed_ = false;             // transport closed; both loops are ending
  bool disconnect_queued_ = false;  // nothing may follow it; the write that carries it ends the connection
  bool writer_has_work_ = false;    // a PUBACK opened the window: the reader wakes the writer
  int loops_running_ = 0;
  clock::time_point last_write_{};
  std::uint16_t keep_alive_ = 0;  // what the broker asked for (MQTT 5), else ours

  // Publisher state.
  bool publishing_ = false;
  mqtt::packet publish_;  // the PUBLISH re-stamped for each message
  std::uint64_t sequence_ = 0;
  clock::time_point publish_started_{};
  double rate_ = 0;                   // per second, 0 = unlimited
  std::uint16_t inflight_limit_ = 0;  // QoS 1: min(--inflight, the broker's Receive Maximum)
  std::uint16_t inflight_ = 0;
  std::uint16_t next_packet_id_ = 1;
  std::vector<bool> in_use_;            // QoS 1: packet ids awaiting their PUBACK
  bool window_blocked_ = false;         // the end-to-end window is full
  clock::time_point window_checked_{};  // when progress was last seen to move while blocked
  std::uint64_t window_progress_ = 0;   // the progress seen then

  // Subscriber state.
  mqtt::packet puback_ = mqtt::puback_packet{};
  std::unordered_map<std::uint32_t, sequence_tracker> trackers_;
};

}  // namespace airfleet::sim
