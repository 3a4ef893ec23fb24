// What one subscriber has seen of one publisher's sequence numbers.
//
// A bit per sequence number says whether it arrived; a second arrival is a
// duplicate, an arrival below the highest number seen so far is out of
// order (MQTT keeps one publisher's messages on one topic in order, so for
// a correct broker that count stays 0). Loss is what the caller knows and
// the tracker does not: how many were sent, minus unique().
//
// The bit set grows with the highest number seen, one bit per message: a
// ten-second run at 100k msg/s is 125 KB. Sequence numbers come off the
// wire, so the caller checks them against what the publisher has sent
// before recording them; the tracker trusts what it is given.
#pragma once

#include <cstdint>
#include <vector>

namespace airfleet::sim {

class sequence_tracker {
 public:
  enum class outcome { fresh, duplicate };

  outcome record(std::uint64_t sequence);

  std::uint64_t unique() const { return unique_; }
  std::uint64_t duplicates() const { return duplicates_; }
  std::uint64_t out_of_order() const { return out_of_order_; }
  // One past the highest sequence number seen (0 before the first).
  std::uint64_t next() const { return next_; }

 private:
  std::vector<std::uint64_t> seen_;  // bit n set: sequence n arrived
  std::uint64_t next_ = 0;           // one past the highest sequence seen
  std::uint64_t unique_ = 0;
  std::uint64_t duplicates_ = 0;
  std::uint64_t out_of_order_ = 0;
};

}  // namespace airfleet::sim
