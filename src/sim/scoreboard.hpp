// What the clients of one run report to the coordinator, and what the
// coordinator tells them back (the measurement window).
//
// Clients run on the I/O threads, the coordinator reads sums on its own
// strand while they run: every field is a relaxed atomic, one per client on
// its own cache line, so counting costs one uncontended add. The sums are
// not a snapshot of one instant, which for rates over seconds does not
// matter; the final counts are read after every client has finished.
//
// Connection-level counters (connection_tally.hpp: connected, ready, failed,
// finished, the first error) exist for every run; the message counters only
// for `bench`.
//
// The end-to-end window. A broker acknowledges a QoS 1 PUBLISH when it has
// taken the message, not when a subscriber has it, and QoS 0 has no
// acknowledgement at all; publishers paced by that alone outrun any broker
// whose delivery is slower than its intake, and the run then measures queue
// overflow (mosquitto drops QoS 1 messages beyond max_queued_messages) and
// socket buffers (seconds of latency) instead of the broker. So each
// publisher also keeps at most `window` messages on their way: sent, but not
// yet received by every subscriber of its topic. Subscribers report
// progress as "the highest sequence number I have from publisher i, plus
// one", summed over subscribers, so a message a QoS 0 broker dropped does not
// hold the window shut once later ones arrive. A publisher finding its
// window full marks itself waiting; the subscriber that brings it down to
// half wakes it (wake_publisher). If nothing arrives for window_stall
// seconds (the broker dropped the whole window), the publisher writes the
// outstanding messages off and counts a stall.
#pragma once

#include "sim/connection_tally.hpp"
#include "sim/latency_histogram.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace airfleet::sim {

struct alignas(64) padded_counter {
  std::atomic<std::uint64_t> value{0};
};

// What one publisher and its subscribers share, on a cache line of its own.
struct alignas(64) publisher_slot {
  std::atomic<std::uint64_t> sent{0};         // messages handed to the connection: sequence numbers 0..sent-1 exist
  std::atomic<std::uint64_t> acked{0};        // QoS 1: PUBACKs received
  std::atomic<std::uint64_t> progress{0};     // sum over subscribers of (highest sequence received + 1)
  std::atomic<std::uint64_t> written_off{0};  // deliveries given up on after a stall (written by the publisher)
  std::atomic<bool> waiting{false};           // the publisher sleeps until its window opens
};

class scoreboard : public connection_tally {
 public:
  // `fanout`: subscribers each message goes to; `window`: messages per
  // publisher on their way end to end, 0 for no such limit.
  scoreboard(std::uint32_t run_id, std::size_t publishers, std::size_t subscribers, std::size_t fanout = 1,
             std::uint64_t window = 0)
      : run_id_(run_id),
        publishers_(publishers),
        subscribers_(subscribers),
        fanout_(fanout),
        window_(window),
        slots_(std::make_unique<publisher_slot[]>(publishers)),
        delivered_(std::make_unique<padded_counter[]>(subscribers)) {}

  std::uint32_t run_id() const { return run_id_; }
  std::size_t publishers() const { return publishers_; }
  std::size_t subscribers() const { return subscribers_; }

  std::size_t fanout() const { return fanout_; }
  std::uint64_t window() const { return window_; }

  publisher_slot& publisher(std::size_t i) { return slots_[i]; }
  std::atomic<std::uint64_t>& sent(std::size_t publisher) { return slots_[publisher].sent; }
  std::atomic<std::uint64_t>& acked(std::size_t publisher) { return slots_[publisher].acked; }
  // PUBLISH packets subscriber j received that belong to this run.
  std::atomic<std::uint64_t>& delivered(std::size_t subscriber) { return delivered_[subscriber].value; }

  std::uint64_t total_sent() const { return sum(&publisher_slot::sent); }
  std::uint64_t total_acked() const { return sum(&publisher_slot::acked); }
  std::uint64_t total_delivered() const {
    std::uint64_t total = 0;
    for (std::size_t j = 0; j < subscribers_; ++j) total += delivered_[j].value.load(std::memory_order_relaxed);
    return total;
  }

  // Deliveries of publisher i's messages still on their way (may dip below
  // zero when late messages arrive after a write-off).
  std::int64_t outstanding(std::size_t i) const {
    const auto& slot = slots_[i];
    return static_cast<std::int64_t>(slot.sent.load() * fanout_) - static_cast<std::int64_t>(slot.progress.load()) -
           static_cast<std::int64_t>(slot.written_off.load());
  }
  bool window_full(std::size_t i) const {
    return window_ > 0 && outstanding(i) >= static_cast<std::int64_t>(window_ * fanout_);
  }
  // A subscriber saw publisher i's highest sequence number go up by `by`.
  void advance(std::size_t i, std::uint64_t by) {
    auto& slot = slots_[i];
    slot.progress.fetch_add(by);
    if (slot.waiting.load(std::memory_order_relaxed) &&
        outstanding(i) <= static_cast<std::int64_t>(window_ * fanout_ / 2) && slot.waiting.exchange(false))
      wake_publisher(i);
  }
  // Set by the coordinator before the run: makes publisher i look at its
  // window again (from any thread).
  std::function<void(std::size_t)> wake_publisher = [](std::size_t) {};
  std::atomic<std::uint64_t> window_stalls{0};

  latency_histogram latency;           // only while measuring
  std::atomic<bool> measuring{false};  // set by the coordinator for the window

  // Anomalies seen by subscribers.
  std::atomic<std::uint64_t> wrong_size{0};       // payload not --payload bytes
  std::atomic<std::uint64_t> foreign{0};          // no stamp of this run (another run on the same topics)
  std::atomic<std::uint64_t> out_of_range{0};     // stamp names a publisher or sequence that cannot exist
  std::atomic<std::uint64_t> publish_refused{0};  // PUBACK with a failure reason code (MQTT 5)

 private:
  std::uint64_t sum(std::atomic<std::uint64_t> publisher_slot::*field) const {
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < publishers_; ++i) total += (slots_[i].*field).load(std::memory_order_relaxed);
    return total;
  }

  std::uint32_t run_id_;
  std::size_t publishers_;
  std::size_t subscribers_;
  std::size_t fanout_;
  std::uint64_t window_;
  std::unique_ptr<publisher_slot[]> slots_;
  std::unique_ptr<padded_counter[]> delivered_;
};

}  // namespace airfleet::sim
