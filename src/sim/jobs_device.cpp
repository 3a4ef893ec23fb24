#include "sim/jobs_device.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>

namespace airfleet::sim {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr auto as_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::string_view update_accepted_suffix = "/update/accepted";
constexpr std::string_view update_rejected_suffix = "/update/rejected";

std::uint64_t steady_ns(std::chrono::steady_clock::time_point t) {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Sets `slot` to `value` when it is 0 or (keep_smallest) larger / (else) smaller.
template <typename T>
void keep_extreme(std::atomic<T>& slot, T value, bool keep_smallest) {
  T seen = slot.load(std::memory_order_relaxed);
  while ((seen == 0 || (keep_smallest ? value < seen : value > seen)) &&
         !slot.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

std::uint64_t micros_since(std::chrono::steady_clock::time_point t, std::chrono::steady_clock::time_point now) {
  return now > t ? static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(now - t).count())
                 : 0;
}

std::string_view as_text(const mqtt::bytes& payload) {
  return {reinterpret_cast<const char*>(payload.data()), payload.size()};
}

// The payload's "execution" object, when it is a JSON object that has one.
const json::object* execution_of(const json::value& v) {
  const auto* body = v.if_object();
  if (!body) return nullptr;
  const auto* execution = body->if_contains("execution");
  return execution ? execution->if_object() : nullptr;
}

std::optional<std::string> string_member(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v || !v->is_string()) return std::nullopt;
  return std::string(v->get_string());
}

const char* packet_name(mqtt::packet_type type) {
  static const char* names[] = {"reserved", "CONNECT",  "CONNACK",    "PUBLISH", "PUBACK",      "PUBREC",
                                "PUBREL",   "PUBCOMP",  "SUBSCRIBE",  "SUBACK",  "UNSUBSCRIBE", "UNSUBACK",
                                "PINGREQ",  "PINGRESP", "DISCONNECT", "AUTH"};
  return names[static_cast<std::size_t>(type) & 0x0F];
}

}  // namespace

jobs_device::jobs_device(asio::any_io_executor strand, tls_client* tls, jobs_device_config config, jobs_tally& tally)
    : strand_(std::move(strand)),
      config_(std::move(config)),
      tally_(tally),
      prefix_("$aws/things/" + config_.thing + "/jobs/"),
      notify_next_topic_(prefix_ + "notify-next"),
      start_next_topic_(prefix_ + "start-next"),
      start_next_accepted_topic_(start_next_topic_ + "/accepted"),
      start_next_rejected_topic_(start_next_topic_ + "/rejected"),
      transport_(strand_, tls),
      wake_(strand_),
      deadline_(strand_),
      keep_alive_(config_.keep_alive) {}

void jobs_device::start(const asio::ip::tcp::endpoint& broker, std::optional<asio::ip::address> source) {
  asio::post(strand_, [this, broker, source] {
    if (state() != jobs_device_state::idle) return;
    loops_running_ = 1;
    asio::co_spawn(strand_, run(broker, source), [this](std::exception_ptr e) {
      report_exception(e);
      loop_done();
    });
  });
}

void jobs_device::disconnect() {
  asio::post(strand_, [this] {
    switch (state()) {
      case jobs_device_state::awaiting_connack:
      case jobs_device_state::subscribing:
      case jobs_device_state::ready:
        queue(mqtt::disconnect_packet{});
        disconnect_queued_ = true;
        become(jobs_device_state::closing);
        notify_writer();
        break;
      case jobs_device_state::idle:
      case jobs_device_state::connecting: close(); break;
      case jobs_device_state::closing:
      case jobs_device_state::closed:
      case jobs_device_state::failed: break;
    }
  });
}

asio::awaitable<void> jobs_device::run(asio::ip::tcp::endpoint broker, std::optional<asio::ip::address> source) {
  if (closed_) co_return;
  become(jobs_device_state::connecting);
  deadline_.expires_after(config_.connect_timeout);
  deadline_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    switch (state()) {
      case jobs_device_state::connecting: fail("no TCP/TLS connection within the connect timeout"); break;
      case jobs_device_state::awaiting_connack: fail("no CONNACK within the connect timeout"); break;
      case jobs_device_state::subscribing: fail("no SUBACK within the connect timeout"); break;
      default: break;
    }
  });

  auto ec = co_await transport_.connect(broker, source, config_.index);
  if (closed_) co_return;
  if (ec) {
    fail("connect: " + ec.message());
    co_return;
  }
  mqtt::connect_packet connect;
  connect.protocol_level = config_.protocol_level;
  connect.clean_start = true;
  connect.keep_alive = config_.keep_alive;
  connect.client_id = config_.thing;
  queue(connect);
  become(jobs_device_state::awaiting_connack);

  ++loops_running_;
  asio::co_spawn(strand_, write_loop(), [this](std::exception_ptr e) {
    report_exception(e);
    loop_done();
  });
  co_await read_loop();
}

asio::awaitable<void> jobs_device::read_loop() {
  // Replies carry the job document; 4 KiB holds several of them.
  std::vector<std::uint8_t> buffer(4096);
  while (!closed_) {
    auto [ec, n] = co_await transport_.read_some(asio::buffer(buffer));
    if (closed_) co_return;
    if (ec) {
      if (state() == jobs_device_state::closing) close();
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
      auto decoded = mqtt::decode(**frame, config_.protocol_level);
      if (!decoded) {
        fail(std::string("undecodable ") + packet_name(static_cast<mqtt::packet_type>((*frame)->type_bits())) +
             " from the broker: " + decoded.error().message);
        co_return;
      }
      handle(*decoded);
      if (closed_) co_return;
    }
    if (!out_.empty()) notify_writer();
  }
}

asio::awaitable<void> jobs_device::write_loop() {
  std::vector<std::uint8_t> writing;
  last_write_ = clock::now();
  while (!closed_) {
    if (out_.empty()) {
      wake_.expires_at(keep_alive_ > 0 ? last_write_ + std::chrono::milliseconds(keep_alive_ * 750)
                                       : clock::time_point::max());
      writer_waiting_ = true;
      co_await wake_.async_wait(as_tuple);
      writer_waiting_ = false;
      if (closed_) break;
      // Keep-alive: ping at three quarters of the interval when nothing else went out.
      if (keep_alive_ > 0 && out_.empty() && state() == jobs_device_state::ready &&
          clock::now() - last_write_ >= std::chrono::milliseconds(keep_alive_ * 750))
        queue(mqtt::pingreq_packet{});
      continue;
    }
    writing.swap(out_);
    auto [ec, written] = co_await transport_.write(asio::buffer(writing));
    writing.clear();
    if (closed_) break;
    if (ec) {
      if (state() == jobs_device_state::closing) close();
      else fail("write: " + ec.message());
      break;
    }
    last_write_ = clock::now();
    if (disconnect_queued_ && out_.empty()) {
      close();
      break;
    }
  }
}

void jobs_device::handle(mqtt::packet& p) {
  if (auto* publish = std::get_if<mqtt::publish_packet>(&p)) return on_publish(*publish);
  if (auto* puback = std::get_if<mqtt::puback_packet>(&p)) return on_puback(*puback);
  if (auto* connack = std::get_if<mqtt::connack_packet>(&p)) return on_connack(*connack);
  if (auto* suback = std::get_if<mqtt::suback_packet>(&p)) return on_suback(*suback);
  if (std::holds_alternative<mqtt::pingresp_packet>(p)) return;
  if (auto* disconnect = std::get_if<mqtt::disconnect_packet>(&p))
    return fail("the broker sent DISCONNECT: " + std::string(mqtt::to_string(disconnect->reason)));
  fail(std::string("unexpected ") + packet_name(mqtt::type_of(p)) + " from the broker");
}

void jobs_device::on_connack(const mqtt::connack_packet& p) {
  if (state() != jobs_device_state::awaiting_connack) return fail("CONNACK when none was expected");
  if (mqtt::is_failure(p.reason)) return fail("CONNACK refused: " + std::string(mqtt::to_string(p.reason)));
  tally_.connected.fetch_add(1, std::memory_order_relaxed);
  if (p.props.server_keep_alive) keep_alive_ = *p.props.server_keep_alive;
  mqtt::subscribe_packet subscribe;
  subscribe.packet_id = 1;
  for (const auto* suffix :
       {"notify-next", "start-next/accepted", "start-next/rejected", "+/update/accepted", "+/update/rejected"})
    subscribe.subscriptions.push_back(mqtt::subscription{prefix_ + suffix, mqtt::qos::at_least_once});
  queue(subscribe);
  become(jobs_device_state::subscribing);
}

void jobs_device::on_suback(const mqtt::suback_packet& p) {
  if (state() != jobs_device_state::subscribing || p.packet_id != 1 || p.reasons.size() != 5)
    return fail("SUBACK that does not answer our SUBSCRIBE");
  for (auto granted : p.reasons) {
    if (mqtt::is_failure(granted)) return fail("SUBSCRIBE refused: " + std::string(mqtt::to_string(granted)));
    if (granted != mqtt::reason_code::granted_qos_1)
      return fail("the broker granted QoS " + std::to_string(static_cast<int>(granted)) + " instead of 1");
  }
  deadline_.cancel();
  become(jobs_device_state::ready);
  tally_.ready.fetch_add(1, std::memory_order_relaxed);
  if (config_.start_next_on_connect) request_start_next();
}

void jobs_device::on_publish(const mqtt::publish_packet& p) {
  if (p.qos == mqtt::qos::at_least_once) queue(mqtt::puback_packet{p.packet_id});
  else if (p.qos == mqtt::qos::exactly_once) return fail("QoS 2 PUBLISH, which the device never asks for");
  const std::string_view topic = p.topic;
  const std::string_view payload = as_text(p.payload);
  if (topic == notify_next_topic_) return on_notify_next(payload);
  if (topic == start_next_accepted_topic_) return on_start_next_accepted(payload);
  if (topic == start_next_rejected_topic_) return on_rejected("start-next", payload);
  if (topic.starts_with(prefix_)) {
    auto rest = topic.substr(prefix_.size());
    if (rest.size() > update_accepted_suffix.size() && rest.ends_with(update_accepted_suffix))
      return on_update_accepted(rest.substr(0, rest.size() - update_accepted_suffix.size()));
    if (rest.size() > update_rejected_suffix.size() && rest.ends_with(update_rejected_suffix))
      return on_rejected(std::string(rest.substr(0, rest.size() - update_rejected_suffix.size())) + "/update",
                         payload);
  }
  tally_.foreign.fetch_add(1, std::memory_order_relaxed);
}

void jobs_device::on_puback(const mqtt::puback_packet& p) {
  auto it = std::find(inflight_.begin(), inflight_.end(), p.packet_id);
  if (it == inflight_.end())
    return fail("PUBACK for packet id " + std::to_string(p.packet_id) + ", which is not in flight");
  inflight_.erase(it);
  if (mqtt::is_failure(p.reason)) {
    tally_.publish_refused.fetch_add(1, std::memory_order_relaxed);
    tally_.note_rejection(config_.thing + ": PUBACK " + std::string(mqtt::to_string(p.reason)));
  }
}

void jobs_device::on_notify_next(std::string_view payload) {
  boost::system::error_code ec;
  auto body = json::parse(payload, ec);
  if (ec || !body.is_object()) {
    tally_.unreadable.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const auto* execution = execution_of(body);
  if (!execution) {
    tally_.notify_next_empty.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  auto job_id = string_member(*execution, "jobId");
  if (!job_id) {
    tally_.unreadable.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  tally_.notify_next_execution.fetch_add(1, std::memory_order_relaxed);
  if (finished_jobs_.contains(*job_id)) {
    tally_.notify_next_stale.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const auto now = clock::now();
  if (!seen_execution_) {
    seen_execution_ = true;
    const std::uint64_t ns = steady_ns(now);
    std::uint64_t none = 0;
    if (tally_.first_notify_ns.compare_exchange_strong(none, ns, std::memory_order_relaxed))
      tally_.first_notify_wall_ms.store(wall_ms(), std::memory_order_relaxed);
    keep_extreme(tally_.last_first_notify_ns, ns, false);
  }
  if (start_next_outstanding_ || !working_on_.empty()) {
    // Busy: the announcement is about the job under way (it started) or
    // about another; for another, ask start-next once idle.
    if (*job_id != working_on_ && !recheck_) {
      recheck_ = true;
      recheck_job_ = std::move(*job_id);
      recheck_since_ = now;
    }
    return;
  }
  notified_at_ = now;
  request_start_next();
}

void jobs_device::on_start_next_accepted(std::string_view payload) {
  start_next_outstanding_ = false;
  boost::system::error_code ec;
  auto body = json::parse(payload, ec);
  if (ec || !body.is_object()) {
    tally_.unreadable.fetch_add(1, std::memory_order_relaxed);
    return become_idle();
  }
  if (config_.client_tokens && !body.as_object().contains("clientToken"))
    tally_.unreadable.fetch_add(1, std::memory_order_relaxed);
  const auto* execution = execution_of(body);
  if (!execution) {
    tally_.start_next_nothing.fetch_add(1, std::memory_order_relaxed);
    return become_idle();
  }
  auto job_id = string_member(*execution, "jobId");
  const auto* version = execution->if_contains("versionNumber");
  if (!job_id || job_id->empty() || !version || !version->is_int64()) {
    tally_.unreadable.fetch_add(1, std::memory_order_relaxed);
    return become_idle();
  }
  tally_.start_next_accepted.fetch_add(1, std::memory_order_relaxed);
  if (recheck_ && recheck_job_ == *job_id) {
    // Announced while the start-next was on its way (one asked on connect):
    // this answer is that announcement's.
    recheck_ = false;
    if (!notified_at_) notified_at_ = recheck_since_;
  }
  if (notified_at_) tally_.notify_to_started.add(micros_since(*notified_at_, clock::now()));
  working_on_ = *job_id;
  std::string update = R"({"status":"SUCCEEDED","expectedVersion":)" + std::to_string(version->get_int64()) +
                       R"(,"statusDetails":{"step":"done"})";
  if (config_.client_tokens) update += R"(,"clientToken":")" + config_.thing + "-" + std::to_string(++requests_) + '"';
  update += '}';
  tally_.update_sent.fetch_add(1, std::memory_order_relaxed);
  request(prefix_ + working_on_ + "/update", std::move(update));
}

void jobs_device::on_update_accepted(std::string_view job_id) {
  const auto now = clock::now();
  ++succeeded_;
  tally_.update_accepted.fetch_add(1, std::memory_order_relaxed);
  const std::uint64_t ns = steady_ns(now);
  keep_extreme(tally_.first_accepted_ns, ns, true);
  keep_extreme(tally_.last_accepted_ns, ns, false);
  keep_extreme(tally_.last_accepted_wall_ms, wall_ms(), false);
  if (notified_at_) tally_.notify_to_succeeded.add(micros_since(*notified_at_, now));
  finished_jobs_.emplace(job_id);
  if (job_id == working_on_) working_on_.clear();
  become_idle();
}

void jobs_device::on_rejected(std::string_view what, std::string_view payload) {
  if (what == "start-next") {
    tally_.start_next_rejected.fetch_add(1, std::memory_order_relaxed);
    start_next_outstanding_ = false;
  } else {
    tally_.update_rejected.fetch_add(1, std::memory_order_relaxed);
    working_on_.clear();
  }
  tally_.note_rejection(config_.thing + " " + std::string(what) + ": " + std::string(payload.substr(0, 300)));
  become_idle();
}

// Between jobs: forget the finished one's notification time, and ask for the
// next if another job was announced while busy.
void jobs_device::become_idle() {
  if (start_next_outstanding_ || !working_on_.empty()) return;
  notified_at_.reset();
  if (!recheck_) return;
  recheck_ = false;
  if (finished_jobs_.contains(recheck_job_)) return;  // the announcement was about what just finished
  notified_at_ = recheck_since_;
  request_start_next();
}

void jobs_device::request_start_next() {
  start_next_outstanding_ = true;
  tally_.start_next_sent.fetch_add(1, std::memory_order_relaxed);
  std::string body = "{}";
  if (config_.client_tokens) body = R"({"clientToken":")" + config_.thing + "-" + std::to_string(++requests_) + "\"}";
  request(start_next_topic_, std::move(body));
}

void jobs_device::request(const std::string& topic, std::string payload) {
  mqtt::publish_packet p;
  p.qos = mqtt::qos::at_least_once;
  p.topic = topic;
  p.payload.assign(payload.begin(), payload.end());
  do {
    p.packet_id = next_packet_id_;
    next_packet_id_ = next_packet_id_ == 65535 ? 1 : static_cast<std::uint16_t>(next_packet_id_ + 1);
  } while (std::find(inflight_.begin(), inflight_.end(), p.packet_id) != inflight_.end());
  inflight_.push_back(p.packet_id);
  queue(p);
  notify_writer();
}

void jobs_device::queue(const mqtt::packet& p) {
  if (disconnect_queued_) return;  // nothing may follow DISCONNECT
  mqtt::encode(p, config_.protocol_level, out_);
}

void jobs_device::notify_writer() {
  if (writer_waiting_) wake_.cancel();
}

void jobs_device::become(jobs_device_state next) { state_.store(next, std::memory_order_relaxed); }

void jobs_device::fail(const std::string& why) {
  if (closed_) return;
  tally_.note_error(config_.thing + ": " + why);
  tally_.failed.fetch_add(1, std::memory_order_relaxed);
  become(jobs_device_state::failed);
  close();
}

void jobs_device::close() {
  if (closed_) return;
  closed_ = true;
  transport_.close();
  wake_.cancel();
  deadline_.cancel();
}

void jobs_device::loop_done() {
  if (--loops_running_ > 0) return;
  close();
  if (state() != jobs_device_state::failed) become(jobs_device_state::closed);
  tally_.finished.fetch_add(1, std::memory_order_relaxed);
}

void jobs_device::report_exception(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    fail(std::string("exception: ") + ex.what());
  }
}

}  // namespace airfleet::sim
