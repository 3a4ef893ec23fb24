#include "sim/client.hpp"

#include "sim/payload.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>

namespace airfleet::sim {

namespace asio = boost::asio;

namespace {

constexpr auto as_tuple = asio::as_tuple(asio::use_awaitable);

std::uint64_t steady_nanoseconds(std::chrono::steady_clock::time_point t) {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

const char* packet_name(mqtt::packet_type type) {
  static const char* names[] = {"reserved", "CONNECT",  "CONNACK",    "PUBLISH", "PUBACK",      "PUBREC",
                                "PUBREL",   "PUBCOMP",  "SUBSCRIBE",  "SUBACK",  "UNSUBSCRIBE", "UNSUBACK",
                                "PINGREQ",  "PINGRESP", "DISCONNECT", "AUTH"};
  return names[static_cast<std::size_t>(type) & 0x0F];
}

}  // namespace

client::client(asio::any_io_executor strand, tls_client* tls, client_config config, scoreboard& board)
    : strand_(std::move(strand)),
      config_(std::move(config)),
      board_(board),
      transport_(strand_, tls),
      wake_(strand_),
      deadline_(strand_),
      keep_alive_(config_.keep_alive) {
  if (config_.publish) {
    const auto& plan = *config_.publish;
    limits_.max_packet_size = std::max(limits_.max_packet_size, plan.payload_size + 1024);
    mqtt::publish_packet p;
    p.qos = plan.qos;
    p.topic = plan.topic;
    p.payload.resize(plan.payload_size);
    // Filler after the stamp: a pattern rather than zeros, so nothing on the
    // way can make the message smaller than it is.
    for (std::size_t i = payload_stamp_size; i < p.payload.size(); ++i)
      p.payload[i] = static_cast<std::uint8_t>(i * 31);
    publish_ = std::move(p);
    rate_ = plan.rate;
    inflight_limit_ = plan.inflight;
    if (plan.qos != mqtt::qos::at_most_once) in_use_.resize(65536, false);
  }
  if (config_.subscribe)
    limits_.max_packet_size = std::max(limits_.max_packet_size, config_.subscribe->payload_size + 1024);
  frames_.set_max_packet_size(limits_.max_packet_size);
}

void client::start(const asio::ip::tcp::endpoint& broker, std::optional<asio::ip::address> source) {
  asio::post(strand_, [this, broker, source] {
    if (state() != client_state::idle) return;
    loops_running_ = 1;
    asio::co_spawn(strand_, run(broker, source), [this](std::exception_ptr e) {
      report_exception(e);
      loop_done();
    });
  });
}

void client::start_publishing() {
  asio::post(strand_, [this] {
    if (!config_.publish || state() != client_state::ready || publishing_) return;
    publishing_ = true;
    publish_started_ = clock::now();
    notify_writer();
  });
}

void client::wake() {
  asio::post(strand_, [this] { notify_writer(); });
}

void client::stop_publishing() {
  asio::post(strand_, [this] { publishing_ = false; });
}

void client::disconnect() {
  asio::post(strand_, [this] {
    switch (state()) {
      case client_state::awaiting_connack:
      case client_state::subscribing:
      case client_state::ready:
        publishing_ = false;
        queue(mqtt::disconnect_packet{});
        disconnect_queued_ = true;
        become(client_state::closing);
        notify_writer();
        break;
      case client_state::idle:
      case client_state::connecting: close(); break;
      case client_state::closing:
      case client_state::closed:
      case client_state::failed: break;
    }
  });
}

asio::awaitable<void> client::run(asio::ip::tcp::endpoint broker, std::optional<asio::ip::address> source) {
  if (closed_) co_return;
  become(client_state::connecting);
  deadline_.expires_after(config_.connect_timeout);
  deadline_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    switch (state()) {
      case client_state::connecting: fail("no TCP/TLS connection within the connect timeout"); break;
      case client_state::awaiting_connack: fail("no CONNACK within the connect timeout"); break;
      case client_state::subscribing: fail("no SUBACK within the connect timeout"); break;
      default: break;
    }
  });

  auto ec = co_await transport_.connect(broker, source, config_.index);
  if (closed_) co_return;  // timed out or told to disconnect meanwhile
  if (ec) {
    fail("connect: " + ec.message());
    co_return;
  }

  mqtt::connect_packet connect;
  connect.protocol_level = config_.protocol_level;
  connect.clean_start = true;
  connect.keep_alive = config_.keep_alive;
  connect.client_id = config_.client_id;
  queue(connect);
  become(client_state::awaiting_connack);

  ++loops_running_;
  asio::co_spawn(strand_, write_loop(), [this](std::exception_ptr e) {
    report_exception(e);
    loop_done();
  });
  co_await read_loop();
}

asio::awaitable<void> client::read_loop() {
  std::vector<std::uint8_t> buffer(config_.read_buffer_size);
  while (!closed_) {
    auto [ec, n] = co_await transport_.read_some(asio::buffer(buffer));
    if (closed_) co_return;
    if (ec) {
      // After our DISCONNECT the broker closing the connection is the end we asked for.
      if (state() == client_state::closing) close();
      else fail("connection lost: " + ec.message());
      co_return;
    }
    frames_.append({buffer.data(), n});
    for (;;) {
      auto frame = frames_.next();
      if (!frame) {
        fail("the broker's byte stream broke: " + frame.error().message);
        co_return;
      }
      if (!*frame) break;
      auto decoded = mqtt::decode(**frame, config_.protocol_level, limits_);
      if (!decoded) {
        fail(std::string("undecodable ") + packet_name(static_cast<mqtt::packet_type>((*frame)->type_bits())) +
             " from the broker: " + decoded.error().message);
        co_return;
      }
      handle(*decoded);
      if (closed_) co_return;
    }
    if (!out_.empty() || writer_has_work_) {
      writer_has_work_ = false;
      notify_writer();
    }
  }
}

asio::awaitable<void> client::write_loop() {
  std::vector<std::uint8_t> writing;
  last_write_ = clock::now();
  while (!closed_) {
    fill_publishes();
    if (out_.empty()) {
      if (window_blocked_ && !wait_for_window()) continue;  // it opened meanwhile
      wake_.expires_at(next_wakeup());
      writer_waiting_ = true;
      co_await wake_.async_wait(as_tuple);
      writer_waiting_ = false;
      if (closed_) break;
      if (window_blocked_) check_window_stall();
      // Keep-alive (MQTT 3.1.2.10): the broker must hear from us within the
      // interval; ping at three quarters of it when nothing else went out.
      if (keep_alive_ > 0 && out_.empty() && state() == client_state::ready &&
          clock::now() - last_write_ >= std::chrono::milliseconds(keep_alive_ * 750))
        queue(mqtt::pingreq_packet{});
      continue;
    }
    writing.swap(out_);
    auto [ec, written] = co_await transport_.write(asio::buffer(writing));
    writing.clear();
    if (closed_) break;
    if (ec) {
      if (state() == client_state::closing) close();
      else fail("write: " + ec.message());
      break;
    }
    last_write_ = clock::now();
    if (disconnect_queued_ && out_.empty()) {
      close();  // DISCONNECT is out; the broker closes its end (MQTT 3.14.4)
      break;
    }
  }
}

client::clock::time_point client::next_wakeup() const {
  auto at = clock::time_point::max();
  if (keep_alive_ > 0) at = last_write_ + std::chrono::milliseconds(keep_alive_ * 750);
  if (publishing_ && window_blocked_) at = std::min(at, window_checked_ + window_stall);
  if (publishing_ && rate_ > 0) {
    // Message n may go at publish_started_ + n / rate.
    auto due = publish_started_ + std::chrono::duration_cast<clock::duration>(
                                      std::chrono::duration<double>(static_cast<double>(sequence_) / rate_));
    at = std::min(at, due);
  }
  return at;
}

void client::fill_publishes() {
  if (!publishing_ || state() != client_state::ready) return;
  const auto& plan = *config_.publish;
  auto& p = std::get<mqtt::publish_packet>(publish_);
  auto now = clock::now();
  std::uint64_t allowed = std::numeric_limits<std::uint64_t>::max();
  if (rate_ > 0)
    allowed = static_cast<std::uint64_t>(std::chrono::duration<double>(now - publish_started_).count() * rate_) + 1;
  const bool acknowledged = plan.qos != mqtt::qos::at_most_once;
  const std::size_t index = plan.publisher_index;
  while (out_.size() < max_batch_bytes && sequence_ < allowed) {
    if (board_.window_full(index)) {
      if (!window_blocked_) {
        window_blocked_ = true;
        window_checked_ = clock::now();
        window_progress_ = board_.publisher(index).progress.load();
      }
      break;
    }
    window_blocked_ = false;
    if (acknowledged) {
      if (inflight_ >= inflight_limit_) break;
      std::uint16_t id = 0;
      do {
        id = next_packet_id_;
        next_packet_id_ = next_packet_id_ == 65535 ? 1 : static_cast<std::uint16_t>(next_packet_id_ + 1);
      } while (in_use_[id]);
      in_use_[id] = true;
      ++inflight_;
      p.packet_id = id;
    }
    write_stamp(p.payload,
                payload_stamp{board_.run_id(), plan.publisher_index, sequence_, steady_nanoseconds(clock::now())});
    mqtt::encode(publish_, config_.protocol_level, out_);
    ++sequence_;
    board_.sent(index).fetch_add(1, std::memory_order_release);
  }
}

// Announces that the publisher waits for its window, then looks once more:
// a subscriber that moved progress before seeing the announcement would not
// wake us (scoreboard::advance). False when the window opened meanwhile.
bool client::wait_for_window() {
  auto& slot = board_.publisher(config_.publish->publisher_index);
  slot.waiting.store(true);
  if (board_.window_full(config_.publish->publisher_index)) return true;
  slot.waiting.store(false);
  window_blocked_ = false;
  return false;
}

void client::check_window_stall() {
  const std::size_t index = config_.publish->publisher_index;
  auto& slot = board_.publisher(index);
  const auto now = clock::now();
  const std::uint64_t progress = slot.progress.load();
  if (progress != window_progress_) {
    window_progress_ = progress;
    window_checked_ = now;
    return;
  }
  if (now - window_checked_ < window_stall || !board_.window_full(index)) return;
  // Nothing of ours arrived anywhere for window_stall: the broker dropped
  // what is outstanding (QoS 0 may). Write it off rather than stop for good.
  if (auto owed = board_.outstanding(index); owed > 0) slot.written_off.fetch_add(static_cast<std::uint64_t>(owed));
  board_.window_stalls.fetch_add(1, std::memory_order_relaxed);
  slot.waiting.store(false);
  window_checked_ = now;
}

void client::handle(mqtt::packet& p) {
  if (auto* publish = std::get_if<mqtt::publish_packet>(&p)) return on_publish(*publish);
  if (auto* puback = std::get_if<mqtt::puback_packet>(&p)) return on_puback(*puback);
  if (auto* connack = std::get_if<mqtt::connack_packet>(&p)) return on_connack(*connack);
  if (auto* suback = std::get_if<mqtt::suback_packet>(&p)) return on_suback(*suback);
  if (std::holds_alternative<mqtt::pingresp_packet>(p)) return;
  if (auto* disconnect = std::get_if<mqtt::disconnect_packet>(&p)) {
    fail("the broker sent DISCONNECT: " + std::string(mqtt::to_string(disconnect->reason)));
    return;
  }
  fail(std::string("unexpected ") + packet_name(mqtt::type_of(p)) + " from the broker");
}

void client::on_connack(const mqtt::connack_packet& p) {
  if (state() != client_state::awaiting_connack) return fail("CONNACK when none was expected");
  if (mqtt::is_failure(p.reason)) return fail("CONNACK refused: " + std::string(mqtt::to_string(p.reason)));
  board_.connected.fetch_add(1, std::memory_order_relaxed);
  if (p.props.receive_maximum) inflight_limit_ = std::min(inflight_limit_, *p.props.receive_maximum);
  if (p.props.server_keep_alive) keep_alive_ = *p.props.server_keep_alive;
  if (config_.subscribe) {
    mqtt::subscribe_packet subscribe;
    subscribe.packet_id = 1;
    subscribe.subscriptions.push_back(mqtt::subscription{config_.subscribe->filter, config_.subscribe->qos});
    queue(subscribe);
    become(client_state::subscribing);
    return;
  }
  deadline_.cancel();
  become(client_state::ready);
  board_.ready.fetch_add(1, std::memory_order_relaxed);
}

void client::on_suback(const mqtt::suback_packet& p) {
  if (state() != client_state::subscribing || p.packet_id != 1 || p.reasons.size() != 1)
    return fail("SUBACK that does not answer our SUBSCRIBE");
  const auto granted = p.reasons.front();
  if (mqtt::is_failure(granted)) return fail("SUBSCRIBE refused: " + std::string(mqtt::to_string(granted)));
  // A broker may grant less than asked; a QoS 1 run on a QoS 0 subscription
  // would measure something else, so say so instead.
  if (static_cast<std::uint8_t>(granted) < static_cast<std::uint8_t>(config_.subscribe->qos))
    return fail("the broker granted QoS " + std::to_string(static_cast<int>(granted)) + " for " +
                config_.subscribe->filter);
  deadline_.cancel();
  become(client_state::ready);
  board_.ready.fetch_add(1, std::memory_order_relaxed);
}

void client::on_publish(const mqtt::publish_packet& p) {
  if (p.qos == mqtt::qos::at_least_once) {
    std::get<mqtt::puback_packet>(puback_).packet_id = p.packet_id;
    queue(puback_);
  } else if (p.qos == mqtt::qos::exactly_once) {
    return fail("QoS 2 PUBLISH, which the sim never asks for");
  }
  if (!config_.subscribe) return;
  auto stamp = read_stamp(p.payload);
  if (!stamp || stamp->run != board_.run_id()) {
    board_.foreign.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (p.payload.size() != config_.subscribe->payload_size) {
    board_.wrong_size.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // The stamp comes off the wire: only a sequence number the publisher has
  // handed out may reach the tracker (which grows with the number).
  if (stamp->publisher >= board_.publishers() ||
      stamp->sequence >= board_.sent(stamp->publisher).load(std::memory_order_acquire)) {
    board_.out_of_range.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  auto& tracker = trackers_[stamp->publisher];
  const std::uint64_t highest_before = tracker.next();
  tracker.record(stamp->sequence);
  if (tracker.next() > highest_before) board_.advance(stamp->publisher, tracker.next() - highest_before);
  board_.delivered(config_.subscribe->subscriber_index).fetch_add(1, std::memory_order_relaxed);
  if (board_.measuring.load(std::memory_order_relaxed)) {
    const std::uint64_t now = steady_nanoseconds(clock::now());
    board_.latency.add(now > stamp->sent_ns ? (now - stamp->sent_ns) / 1000 : 0);
  }
}

void client::on_puback(const mqtt::puback_packet& p) {
  if (!config_.publish || in_use_.empty() || !in_use_[p.packet_id])
    return fail("PUBACK for packet id " + std::to_string(p.packet_id) + ", which is not in flight");
  in_use_[p.packet_id] = false;
  --inflight_;
  board_.acked(config_.publish->publisher_index).fetch_add(1, std::memory_order_relaxed);
  if (mqtt::is_failure(p.reason)) board_.publish_refused.fetch_add(1, std::memory_order_relaxed);
  if (publishing_) writer_has_work_ = true;
}

void client::queue(const mqtt::packet& p) {
  if (disconnect_queued_) return;  // nothing may follow DISCONNECT
  mqtt::encode(p, config_.protocol_level, out_);
}

void client::notify_writer() {
  if (writer_waiting_) wake_.cancel();
}

void client::become(client_state next) { state_.store(next, std::memory_order_relaxed); }

void client::fail(const std::string& why) {
  if (closed_) return;
  board_.note_error(config_.client_id + ": " + why);
  board_.failed.fetch_add(1, std::memory_order_relaxed);
  become(client_state::failed);
  close();
}

void client::close() {
  if (closed_) return;
  closed_ = true;
  publishing_ = false;
  transport_.close();
  wake_.cancel();
  deadline_.cancel();
}

void client::loop_done() {
  if (--loops_running_ > 0) return;
  close();
  if (state() != client_state::failed) become(client_state::closed);
  board_.finished.fetch_add(1, std::memory_order_relaxed);
}

void client::report_exception(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    fail(std::string("exception: ") + ex.what());
  }
}

}  // namespace airfleet::sim
