#include "agent/backoff.hpp"

#include <algorithm>

namespace airfleet::agent {

backoff::backoff(std::chrono::milliseconds initial, std::chrono::milliseconds maximum, std::uint64_t seed)
    : initial_(std::max(initial, std::chrono::milliseconds(1))), maximum_(std::max(maximum, initial_)), random_(seed) {}

std::chrono::milliseconds backoff::next() {
  auto ceiling = initial_.count();
  for (int i = 0; i < failures_ && ceiling < maximum_.count(); ++i) ceiling *= 2;
  ceiling = std::min(ceiling, maximum_.count());
  ++failures_;
  std::uniform_int_distribution<std::int64_t> pick(ceiling / 2, ceiling);
  return std::chrono::milliseconds(pick(random_));
}

}  // namespace airfleet::agent
