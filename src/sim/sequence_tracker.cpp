#include "sim/sequence_tracker.hpp"

namespace airfleet::sim {

sequence_tracker::outcome sequence_tracker::record(std::uint64_t sequence) {
  const std::size_t word = static_cast<std::size_t>(sequence / 64);
  const std::uint64_t bit = std::uint64_t{1} << (sequence % 64);
  if (word >= seen_.size()) seen_.resize(word + 1 + seen_.size() / 2, 0);
  if (seen_[word] & bit) {
    ++duplicates_;
    return outcome::duplicate;
  }
  seen_[word] |= bit;
  ++unique_;
  if (sequence < next_) ++out_of_order_;
  else next_ = sequence + 1;
  return outcome::fresh;
}

}  // namespace airfleet::sim
