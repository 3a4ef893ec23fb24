#include "sim/session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace airfleet::sim {

namespace asio = boost::asio;

namespace {

constexpr auto as_tuple = asio::as_tuple(asio::use_awaitable);

const char* packet_name(mqtt::packet_type type) {
  static const char* names[] = {"reserved", "CONNECT",  "CONNACK",    "PUBLISH", "PUBACK",      "PUBREC",
                                "PUBREL",   "PUBCOMP",  "SUBSCRIBE",  "SUBACK",  "UNSUBSCRIBE", "UNSUBACK",
                                "PINGREQ",  "PINGRESP", "DISCONNECT", "AUTH"};
  return names[static_cast<std::size_t>(type) & 0x0F];
}

}  // namespace

session::session(asio::any_io_executor strand, tls_client* tls, session_config config, connection_tally& tally,
                 std::size_t max_packet_size)
    : strand_(std::move(strand)),
      config_(std::move(config)),
      counters_(tally),
      transport_(strand_, tls),
      wake_(strand_),
      deadline_(strand_),
      keep_alive_(config_.keep_alive) {
  limits_.max_packet_size = max_packet_size;
  frames_.set_max_packet_size(max_packet_size);
}

void session::start(const asio::ip::tcp::endpoint& broker, std::optional<asio::ip::address> source) {
  asio::post(strand_, [this, broker, source] {
    if (state() != session_state::idle) return;
    loops_running_ = 1;
    asio::co_spawn(strand_, run(broker, source), [this](std::exception_ptr e) {
      report_exception(e);
      loop_done();
    });
  });
}

void session::disconnect() {
  asio::post(strand_, [this] {
    switch (state()) {
      case session_state::awaiting_connack:
      case session_state::subscribing:
      case session_state::ready:
        on_ending();
        queue(mqtt::disconnect_packet{});
        disconnect_queued_ = true;
        become(session_state::closing);
        notify_writer();
        break;
      case session_state::idle:
      case session_state::connecting: close(); break;
      case session_state::closing:
      case session_state::closed:
      case session_state::failed: break;
    }
  });
}

asio::awaitable<void> session::run(asio::ip::tcp::endpoint broker, std::optional<asio::ip::address> source) {
  if (closed_) co_return;
  become(session_state::connecting);
  deadline_.expires_after(config_.connect_timeout);
  deadline_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    switch (state()) {
      case session_state::connecting: fail("no TCP/TLS connection within the connect timeout"); break;
      case session_state::awaiting_connack: fail("no CONNACK within the connect timeout"); break;
      case session_state::subscribing: fail("no SUBACK within the connect timeout"); break;
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
  become(session_state::awaiting_connack);

  ++loops_running_;
  asio::co_spawn(strand_, write_loop(), [this](std::exception_ptr e) {
    report_exception(e);
    loop_done();
  });
  co_await read_loop();
}

asio::awaitable<void> session::read_loop() {
  std::vector<std::uint8_t> buffer(config_.read_buffer_size);
  while (!closed_) {
    auto [ec, n] = co_await transport_.read_some(asio::buffer(buffer));
    if (closed_) co_return;
    if (ec) {
      // After our DISCONNECT the broker closing the connection is the end we asked for.
      if (state() == session_state::closing) close();
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

asio::awaitable<void> session::write_loop() {
  std::vector<std::uint8_t> writing;
  last_write_ = clock::now();
  while (!closed_) {
    fill_out();
    if (out_.empty()) {
      if (!may_sleep()) continue;
      wake_.expires_at(wakeup_at());
      writer_waiting_ = true;
      co_await wake_.async_wait(as_tuple);
      writer_waiting_ = false;
      if (closed_) break;
      on_wake();
      // Keep-alive (MQTT 3.1.2.10): the broker must hear from us within the
      // interval; ping at three quarters of it when nothing else went out.
      if (keep_alive_ > 0 && out_.empty() && state() == session_state::ready &&
          clock::now() - last_write_ >= std::chrono::milliseconds(keep_alive_ * 750))
        queue(mqtt::pingreq_packet{});
      continue;
    }
    writing.swap(out_);
    auto [ec, written] = co_await transport_.write(asio::buffer(writing));
    writing.clear();
    if (closed_) break;
    if (ec) {
      if (state() == session_state::closing) close();
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

session::clock::time_point session::wakeup_at() const {
  if (keep_alive_ == 0) return clock::time_point::max();
  return last_write_ + std::chrono::milliseconds(keep_alive_ * 750);
}

void session::handle(mqtt::packet& p) {
  if (auto* publish = std::get_if<mqtt::publish_packet>(&p)) return on_publish(*publish);
  if (auto* puback = std::get_if<mqtt::puback_packet>(&p)) return on_puback(*puback);
  if (auto* connack = std::get_if<mqtt::connack_packet>(&p)) return on_connack(*connack);
  if (auto* suback = std::get_if<mqtt::suback_packet>(&p)) return on_suback(*suback);
  if (std::holds_alternative<mqtt::pingresp_packet>(p)) return;
  if (auto* disconnect = std::get_if<mqtt::disconnect_packet>(&p))
    return fail("the broker sent DISCONNECT: " + std::string(mqtt::to_string(disconnect->reason)));
  fail(std::string("unexpected ") + packet_name(mqtt::type_of(p)) + " from the broker");
}

void session::on_connack(const mqtt::connack_packet& p) {
  if (state() != session_state::awaiting_connack) return fail("CONNACK when none was expected");
  if (mqtt::is_failure(p.reason)) return fail("CONNACK refused: " + std::string(mqtt::to_string(p.reason)));
  counters_.connected.fetch_add(1, std::memory_order_relaxed);
  if (p.props.server_keep_alive) keep_alive_ = *p.props.server_keep_alive;
  on_connack_accepted(p);
  mqtt::subscribe_packet subscribe;
  subscribe.packet_id = 1;
  subscribe.subscriptions = subscriptions();
  if (subscribe.subscriptions.empty()) return become_ready();
  subscriptions_sent_ = subscribe.subscriptions.size();
  queue(subscribe);
  become(session_state::subscribing);
}

void session::on_suback(const mqtt::suback_packet& p) {
  if (state() != session_state::subscribing || p.packet_id != 1 || p.reasons.size() != subscriptions_sent_)
    return fail("SUBACK that does not answer our SUBSCRIBE");
  for (std::size_t i = 0; i < p.reasons.size(); ++i) {
    const auto granted = p.reasons[i];
    if (mqtt::is_failure(granted)) return fail("SUBSCRIBE refused: " + std::string(mqtt::to_string(granted)));
    if (auto problem = grant_problem(i, granted); !problem.empty()) return fail(problem);
  }
  become_ready();
}

void session::become_ready() {
  deadline_.cancel();
  become(session_state::ready);
  counters_.ready.fetch_add(1, std::memory_order_relaxed);
  on_ready();
}

void session::queue(const mqtt::packet& p) {
  if (disconnect_queued_) return;  // nothing may follow DISCONNECT
  mqtt::encode(p, config_.protocol_level, out_);
}

void session::notify_writer() {
  if (writer_waiting_) wake_.cancel();
}

void session::become(session_state next) { state_.store(next, std::memory_order_relaxed); }

void session::fail(const std::string& why) {
  if (closed_) return;
  counters_.note_error(config_.client_id + ": " + why);
  counters_.failed.fetch_add(1, std::memory_order_relaxed);
  become(session_state::failed);
  close();
}

void session::close() {
  if (closed_) return;
  closed_ = true;
  on_ending();
  transport_.close();
  wake_.cancel();
  deadline_.cancel();
}

void session::loop_done() {
  if (--loops_running_ > 0) return;
  close();
  if (state() != session_state::failed) become(session_state::closed);
  counters_.finished.fetch_add(1, std::memory_order_relaxed);
}

void session::report_exception(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    fail(std::string("exception: ") + ex.what());
  }
}

}  // namespace airfleet::sim
