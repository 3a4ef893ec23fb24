// Exponential backoff with jitter, for reconnects and download retries.
//
// The n-th delay (n = 0, 1, ...) is drawn uniformly from [d/2, d] where
// d = min(initial * 2^n, maximum): it doubles on each failure, never exceeds
// the maximum, and the random half keeps a fleet that lost its server at the
// same moment from coming back in lockstep ("equal jitter").
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace airfleet::agent {

class backoff {
 public:
  backoff(std::chrono::milliseconds initial, std::chrono::milliseconds maximum, std::uint64_t seed);

  std::chrono::milliseconds next();
  void reset() { failures_ = 0; }
  int failures() const { return failures_; }

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds maximum_;
  int failures_ = 0;
  std::mt19937_64 random_;
};

}  // namespace airfleet::agent
