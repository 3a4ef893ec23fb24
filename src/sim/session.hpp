// One simulated MQTT connection to a broker: what client.hpp (the load
// generator's client) and jobs_device.hpp (a device running the jobs
// protocol) share, as a small state machine over one transport.
//
//   idle -> connecting -> awaiting_connack -> subscribing -> ready -> closing -> closed
//                                     \________________________/
//                                       (no subscription: straight to ready)
//   any state before closing -> failed (connect error, timeout, refusal,
//                                       broken stream, connection lost)
//
// Two coroutines on the session's strand share the connection. The reader
// cuts what the broker sends into frames, decodes them with the airfleet
// codec and moves the state on: CONNACK and SUBACK here, PUBLISH and PUBACK
// in the subclass (on_publish, on_puback). The writer sends whatever is
// queued in one write at a time (everything queued meanwhile goes out in the
// next), pings at three quarters of the keep-alive when nothing else went
// out, and lets the subclass add traffic of its own before each look at the
// queue (fill_out). Once DISCONNECT is queued nothing may follow it, and the
// write that carries it ends the connection.
//
// Subclasses say what to subscribe to (subscriptions(), in one SUBSCRIBE
// with packet id 1; none: ready at CONNACK) and which granted QoS they cannot
// work with (grant_problem); the whole setup, CONNACK and SUBACK included,
// must happen within connect_timeout. The counters of connection_tally.hpp
// move with the state.
//
// Every public method but state() posts to the strand (fleet.hpp: a strand
// of its own with several I/O threads, the single-threaded io_context itself
// otherwise), so a coordinator may call them from anywhere. The session must
// outlive the io_context's run().
#pragma once

#include "mqtt/codec.hpp"
#include "mqtt/packets.hpp"
#include "sim/connection_tally.hpp"
#include "sim/packet_ids.hpp"
#include "sim/transport.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <vector>

namespace airfleet::sim {

enum class session_state : std::uint8_t {
  idle,
  connecting,        // TCP connect and TLS handshake
  awaiting_connack,  // CONNECT sent
  subscribing,       // SUBSCRIBE sent
  ready,
  closing,  // DISCONNECT queued
  closed,
  failed,
};

struct session_config {
  std::string client_id;
  std::uint8_t protocol_level = mqtt::protocol_level_3_1_1;
  std::uint16_t keep_alive = 60;  // seconds, 0 = off
  std::size_t read_buffer_size = 4096;
  std::uint64_t index = 0;                           // picks the client certificate when there are several
  std::chrono::milliseconds connect_timeout{30000};  // until ready (CONNACK, and SUBACK)
};

class session {
 public:
  session(const session&) = delete;
  session& operator=(const session&) = delete;
  virtual ~session() = default;

  void start(const boost::asio::ip::tcp::endpoint& broker, std::optional<boost::asio::ip::address> source);
  // Sends DISCONNECT and closes; a session not connected yet just closes.
  void disconnect();

  session_state state() const { return state_.load(std::memory_order_relaxed); }

 protected:
  using clock = std::chrono::steady_clock;

  // `max_packet_size`: the largest packet accepted from the broker.
  session(boost::asio::any_io_executor strand, tls_client* tls, session_config config, connection_tally& tally,
          std::size_t max_packet_size = mqtt::codec_limits{}.max_packet_size);

  // What to subscribe to once connected; empty: ready at CONNACK.
  virtual std::vector<mqtt::subscription> subscriptions() const = 0;
  // Why the QoS granted for subscriptions()[i] will not do; empty when it will.
  virtual std::string grant_problem(std::size_t i, mqtt::reason_code granted) const = 0;
  virtual void on_publish(const mqtt::publish_packet& p) = 0;
  virtual void on_puback(const mqtt::puback_packet& p) = 0;
  // CONNACK accepted, before subscribing.
  virtual void on_connack_accepted(const mqtt::connack_packet&) {}
  // Connected and subscribed.
  virtual void on_ready() {}
  // The writer's turns: fill_out before each look at the queue; may_sleep
  // when it is empty (false: look again at once); wakeup_at is when to look
  // again unwoken (by default the next keep-alive ping); on_wake after
  // waking.
  virtual void fill_out() {}
  virtual bool may_sleep() { return true; }
  virtual clock::time_point wakeup_at() const;
  virtual void on_wake() {}
  // No more traffic of the subclass's own: DISCONNECT is queued, or the
  // connection closed.
  virtual void on_ending() {}

  // On the strand only, from here on.
  void queue(const mqtt::packet& p);
  void notify_writer();
  // Wakes the writer once the reader has handled what it read.
  void writer_has_work() { writer_has_work_ = true; }
  void fail(const std::string& why);
  const boost::asio::any_io_executor& strand() const { return strand_; }
  const std::string& client_id() const { return config_.client_id; }
  std::uint8_t protocol_level() const { return config_.protocol_level; }
  std::vector<std::uint8_t>& out() { return out_; }  // queued bytes; nothing may be added once disconnecting
  packet_ids& ids() { return ids_; }                 // our QoS 1 PUBLISH packets awaiting PUBACK

 private:
  boost::asio::awaitable<void> run(boost::asio::ip::tcp::endpoint broker,
                                   std::optional<boost::asio::ip::address> source);
  boost::asio::awaitable<void> read_loop();
  boost::asio::awaitable<void> write_loop();
  void handle(mqtt::packet& p);
  void on_connack(const mqtt::connack_packet& p);
  void on_suback(const mqtt::suback_packet& p);
  void become_ready();
  void become(session_state next);
  void close();
  void loop_done();
  void report_exception(std::exception_ptr e);

  // Fixed at construction.
  boost::asio::any_io_executor strand_;
  session_config config_;
  connection_tally& counters_;
  mqtt::codec_limits limits_;

  // Everything below is touched on strand_ only, except state_.
  std::atomic<session_state> state_{session_state::idle};  // written on the strand, read anywhere
  transport transport_;
  mqtt::frame_reader frames_;
  std::vector<std::uint8_t> out_;       // queued bytes not yet handed to a write
  boost::asio::steady_timer wake_;      // the writer sleeps on it; cancel() wakes it
  boost::asio::steady_timer deadline_;  // connect_timeout
  bool writer_waiting_ = false;
  bool closed_ = false;             // transport closed; both loops are ending
  bool disconnect_queued_ = false;  // nothing may follow it; the write that carries it ends the connection
  bool writer_has_work_ = false;    // set while handling what was read: the reader wakes the writer after
  int loops_running_ = 0;
  std::size_t subscriptions_sent_ = 0;
  clock::time_point last_write_{};
  std::uint16_t keep_alive_ = 0;  // what the broker asked for (MQTT 5), else ours
  packet_ids ids_;
};

}  // namespace airfleet::sim
