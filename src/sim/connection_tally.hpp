// What every simulated connection of a run reports, whatever it then does:
// the counters session.hpp moves on as a connection comes up and ends, and the
// first error any of them met. scoreboard (bench, connections) and jobs_tally
// (jobs) extend it with what their clients count besides.
//
// Connections run on the I/O threads and the coordinator reads the sums while
// they run: relaxed atomics, and a mutex for the error text.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

namespace airfleet::sim {

struct connection_tally {
  std::atomic<std::uint64_t> connected{0};  // CONNACK accepted
  std::atomic<std::uint64_t> ready{0};      // connected and, when it subscribes, SUBACK received
  std::atomic<std::uint64_t> failed{0};     // ended by an error before it was asked to disconnect
  std::atomic<std::uint64_t> finished{0};   // both of its coroutines are done

  void note_error(const std::string& message) {
    std::lock_guard lock(error_mutex_);
    ++errors_;
    if (first_error_.empty()) first_error_ = message;
  }
  std::string first_error() const {
    std::lock_guard lock(error_mutex_);
    return first_error_;
  }
  std::uint64_t errors() const {
    std::lock_guard lock(error_mutex_);
    return errors_;
  }

 private:
  mutable std::mutex error_mutex_;  // guards first_error_ and errors_
  std::string first_error_;
  std::uint64_t errors_ = 0;
};

}  // namespace airfleet::sim
