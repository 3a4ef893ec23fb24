#include "sim/client.hpp"

#include "sim/payload.hpp"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <limits>

namespace airfleet::sim {

namespace asio = boost::asio;

namespace {

std::uint64_t steady_nanoseconds(std::chrono::steady_clock::time_point t) {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

// Room for the payload and the packet's headers, when messages are larger
// than the codec's default limit.
std::size_t max_packet_size(const client_config& config) {
  std::size_t size = mqtt::codec_limits{}.max_packet_size;
  if (config.publish) size = std::max(size, config.publish->payload_size + 1024);
  if (config.subscribe) size = std::max(size, config.subscribe->payload_size + 1024);
  return size;
}

}  // namespace

client::client(asio::any_io_executor strand, tls_client* tls, client_config config, scoreboard& board)
    : session(std::move(strand), tls, config, board, max_packet_size(config)),
      publish_plan_(std::move(config.publish)),
      subscribe_plan_(std::move(config.subscribe)),
      board_(board) {
  if (publish_plan_) {
    const auto& plan = *publish_plan_;
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
  }
}

void client::start_publishing() {
  asio::post(strand(), [this] {
    if (!publish_plan_ || state() != session_state::ready || publishing_) return;
    publishing_ = true;
    publish_started_ = clock::now();
    notify_writer();
  });
}

void client::wake() {
  asio::post(strand(), [this] { notify_writer(); });
}

void client::stop_publishing() {
  asio::post(strand(), [this] { publishing_ = false; });
}

client::clock::time_point client::wakeup_at() const {
  auto at = session::wakeup_at();
  if (publishing_ && window_blocked_) at = std::min(at, window_checked_ + window_stall);
  if (publishing_ && rate_ > 0) {
    // Message n may go at publish_started_ + n / rate.
    auto due = publish_started_ + std::chrono::duration_cast<clock::duration>(
                                      std::chrono::duration<double>(static_cast<double>(sequence_) / rate_));
    at = std::min(at, due);
  }
  return at;
}

void client::fill_out() {
  if (!publishing_ || state() != session_state::ready) return;
  const auto& plan = *publish_plan_;
  auto& out = this->out();
  auto& p = std::get<mqtt::publish_packet>(publish_);
  auto now = clock::now();
  std::uint64_t allowed = std::numeric_limits<std::uint64_t>::max();
  if (rate_ > 0)
    allowed = static_cast<std::uint64_t>(std::chrono::duration<double>(now - publish_started_).count() * rate_) + 1;
  const bool acknowledged = plan.qos != mqtt::qos::at_most_once;
  const std::size_t index = plan.publisher_index;
  while (out.size() < max_batch_bytes && sequence_ < allowed) {
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
      if (ids().in_flight() >= inflight_limit_) break;
      p.packet_id = ids().allocate();
    }
    write_stamp(p.payload,
                payload_stamp{board_.run_id(), plan.publisher_index, sequence_, steady_nanoseconds(clock::now())});
    mqtt::encode(publish_, protocol_level(), out);
    ++sequence_;
    board_.sent(index).fetch_add(1, std::memory_order_release);
  }
}

// With the window full, announces that the publisher waits for it, then
// looks once more: a subscriber that moved progress before seeing the
// announcement would not wake us (scoreboard::advance). False when the window
// opened meanwhile.
bool client::may_sleep() {
  if (!window_blocked_) return true;
  auto& slot = board_.publisher(publish_plan_->publisher_index);
  slot.waiting.store(true);
  if (board_.window_full(publish_plan_->publisher_index)) return true;
  slot.waiting.store(false);
  window_blocked_ = false;
  return false;
}

void client::on_wake() {
  if (window_blocked_) check_window_stall();
}

void client::check_window_stall() {
  const std::size_t index = publish_plan_->publisher_index;
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

std::vector<mqtt::subscription> client::subscriptions() const {
  if (!subscribe_plan_) return {};
  return {mqtt::subscription{subscribe_plan_->filter, subscribe_plan_->qos}};
}

// A broker may grant less than asked; a QoS 1 run on a QoS 0 subscription
// would measure something else, so say so instead.
std::string client::grant_problem(std::size_t, mqtt::reason_code granted) const {
  if (static_cast<std::uint8_t>(granted) >= static_cast<std::uint8_t>(subscribe_plan_->qos)) return {};
  return "the broker granted QoS " + std::to_string(static_cast<int>(granted)) + " for " + subscribe_plan_->filter;
}

void client::on_connack_accepted(const mqtt::connack_packet& p) {
  if (p.props.receive_maximum) inflight_limit_ = std::min(inflight_limit_, *p.props.receive_maximum);
}

void client::on_publish(const mqtt::publish_packet& p) {
  if (p.qos == mqtt::qos::at_least_once) {
    std::get<mqtt::puback_packet>(puback_).packet_id = p.packet_id;
    queue(puback_);
  } else if (p.qos == mqtt::qos::exactly_once) {
    return fail("QoS 2 PUBLISH, which the sim never asks for");
  }
  if (!subscribe_plan_) return;
  auto stamp = read_stamp(p.payload);
  if (!stamp || stamp->run != board_.run_id()) {
    board_.foreign.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (p.payload.size() != subscribe_plan_->payload_size) {
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
  board_.delivered(subscribe_plan_->subscriber_index).fetch_add(1, std::memory_order_relaxed);
  if (board_.measuring.load(std::memory_order_relaxed)) {
    const std::uint64_t now = steady_nanoseconds(clock::now());
    board_.latency.add(now > stamp->sent_ns ? (now - stamp->sent_ns) / 1000 : 0);
  }
}

void client::on_puback(const mqtt::puback_packet& p) {
  if (!publish_plan_ || !ids().release(p.packet_id))
    return fail("PUBACK for packet id " + std::to_string(p.packet_id) + ", which is not in flight");
  board_.acked(publish_plan_->publisher_index).fetch_add(1, std::memory_order_relaxed);
  if (mqtt::is_failure(p.reason)) board_.publish_refused.fetch_add(1, std::memory_order_relaxed);
  if (publishing_) writer_has_work();
}

}  // namespace airfleet::sim
